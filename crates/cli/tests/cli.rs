#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! The `redis-stretch` binary end to end: exit codes, outputs, and a real local cluster.

use std::process::Command;

use redis_stretch_local::testing::unique_state_dir;
use support::{root, run, text, Down, BIN};

mod support;

#[test]
fn bad_manifest_exits_2_lists_every_problem_and_starts_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("bad.yaml");
    std::fs::write(
        &file,
        "apiVersion: redis-stretch.io/v1alpha1\nkind: RedisStretchCluster\nmetadata: {name: bad}\n\
         spec:\n  shards: 0\n  replicaz: 1\n  zones: [{name: dc-a, preferredMasters: 2}]\n",
    )
    .unwrap();
    let state = dir.path().join("state");
    let o = run(&[
        "local",
        "up",
        "-f",
        &file.display().to_string(),
        "--detach",
        "--state-dir",
        &state.display().to_string(),
    ]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    let t = text(&o);
    for needle in [
        "spec.replicaz: unknown field",
        "spec.shards",
        "exactly two zones",
        "preferredMasters",
    ] {
        assert!(t.contains(needle), "missing `{needle}` in {t}");
    }
    assert!(!state.exists(), "nothing may be started or written");
}

#[test]
fn missing_redis_server_says_how_to_install_it() {
    let state = unique_state_dir("nobin");
    let o = Command::new(BIN)
        .args(["local", "up", "-f"])
        .arg(root().join("examples/seed-two-dc.yaml"))
        .args(["--detach", "--state-dir"])
        .arg(state.path())
        .env("REDIS_SERVER", "/nonexistent/redis-server")
        .env_remove("REDIS_STRETCH_SERVER")
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(
        text(&o).contains("apt-get install redis-server"),
        "{}",
        text(&o)
    );
    assert!(!state.exists());
}

#[test]
fn commands_on_a_missing_cluster_are_usage_errors() {
    let state = unique_state_dir("missing");
    let s = state.path().display().to_string();
    let o = run(&["local", "status", "--state-dir", &s]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(text(&o).contains("local up -f FILE"), "{}", text(&o));
    let o = run(&[
        "status",
        "--node",
        "127.0.0.1:7000",
        "--zone",
        "a=127.0.0.1:7000",
    ]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    // Down on nothing is not an error: it is how scripts clean up.
    assert_eq!(
        run(&["local", "down", "--state-dir", &s]).status.code(),
        Some(0)
    );
}

#[test]
fn crd_output_matches_the_committed_file() {
    let o = run(&["crd"]);
    assert_eq!(o.status.code(), Some(0));
    let committed = std::fs::read_to_string(root().join("deploy/crd.yaml")).unwrap();
    assert!(
        String::from_utf8_lossy(&o.stdout) == committed,
        "deploy/crd.yaml drifted: regenerate with `cargo run -p redis-stretch -- crd > deploy/crd.yaml`"
    );
}

#[test]
fn local_cluster_up_status_down() {
    let state = unique_state_dir("cli");
    let s = state.path().display().to_string();
    let _down = Down(state.path().to_path_buf());
    let seed = root()
        .join("examples/seed-two-dc.yaml")
        .display()
        .to_string();

    let o = run(&["local", "up", "-f", &seed, "--detach", "--state-dir", &s]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert!(text(&o).contains("failover-ready"), "{}", text(&o));

    let o = run(&["local", "status", "--output", "json", "--state-dir", &s]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let doc: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let instances = doc["instances"].as_array().unwrap();
    assert_eq!(instances.len(), 6);
    for i in instances {
        for field in ["zone", "host", "port", "role", "state", "pid"] {
            assert!(!i[field].is_null(), "{field} missing in {i}");
        }
        assert_eq!(i["state"], "up");
    }
    let masters = |zone: &str| {
        instances
            .iter()
            .filter(|i| i["zone"] == zone && i["role"] == "master")
            .count()
    };
    assert_eq!((masters("dc-a"), masters("dc-b")), (2, 1));
    assert!(
        !String::from_utf8_lossy(&o.stdout).contains(
            std::fs::read_to_string(state.path().join("password"))
                .unwrap()
                .trim()
        ),
        "the password must never be printed"
    );

    let o = run(&["status", "--state-dir", &s]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let t = text(&o);
    assert!(
        t.contains("verdict: loss of dc-b: automatic; loss of dc-a: needs takeover"),
        "{t}"
    );
    assert!(
        t.find("\ndc-a").unwrap() < t.find("\ndc-b").unwrap(),
        "grouped by zone: {t}"
    );

    // `local apply`: a new maxmemory reaches every instance through the detached engine.
    let text_of = |p: &std::path::Path| std::fs::read_to_string(p).unwrap();
    let edited = state.path().with_extension("edited.yaml");
    let _edited = Remove(edited.clone());
    std::fs::write(
        &edited,
        text_of(&root().join("examples/seed-two-dc.yaml"))
            .replace("maxmemory: 256mb", "maxmemory: 64mb"),
    )
    .unwrap();
    let e = edited.display().to_string();
    let o = run(&["local", "apply", "-f", &e, "--state-dir", &s]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert!(
        text(&o).contains("live: maxmemory: 256mb → 64mb"),
        "{}",
        text(&o)
    );
    let password = text_of(&state.path().join("password"));
    let start = std::time::Instant::now();
    for i in instances {
        let port = i["port"].as_u64().unwrap().to_string();
        loop {
            let o = Command::new("redis-cli")
                .args(["-h", i["host"].as_str().unwrap(), "-p", &port])
                .args(["CONFIG", "GET", "maxmemory"])
                .env("REDISCLI_AUTH", password.trim())
                .output()
                .unwrap();
            if String::from_utf8_lossy(&o.stdout).contains("67108864") {
                break;
            }
            assert!(
                start.elapsed() < std::time::Duration::from_secs(20),
                "maxmemory not set at {}:{port}: {}",
                i["host"],
                text(&o)
            );
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
    }
    // What a running local cluster cannot take: exit 2, said per field, nothing written.
    std::fs::write(
        &edited,
        text_of(&root().join("examples/seed-two-dc.yaml"))
            .replace("shards: 3", "shards: 4")
            .replace("preferredMasters: 2", "preferredMasters: 3"),
    )
    .unwrap();
    let o = run(&["local", "apply", "-f", &e, "--state-dir", &s]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(text(&o).contains("spec.shards: 3 → 4"), "{}", text(&o));
    assert!(text_of(&state.path().join("manifest.yaml")).contains("maxmemory: 64mb"));
    // An invalid manifest: the messages of `validate`.
    std::fs::write(&edited, "apiVersion: redis-stretch.io/v1alpha1\nkind: RedisStretchCluster\nmetadata: {name: seed}\nspec:\n  shards: 0\n  zones: [{name: dc-a, preferredMasters: 2}]\n").unwrap();
    let o = run(&["local", "apply", "-f", &e, "--state-dir", &s]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(text(&o).contains("exactly two zones"), "{}", text(&o));

    let pids: Vec<u64> = instances
        .iter()
        .map(|i| i["pid"].as_u64().unwrap())
        .collect();
    let o = run(&["local", "down", "--state-dir", &s]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert_eq!(text(&o).matches("stopped dc-").count(), 6, "{}", text(&o));
    assert!(
        text(&o).contains("stopped engine"),
        "the detached engine is stopped too: {}",
        text(&o)
    );
    for pid in pids {
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
        let cmd = std::fs::read_to_string(format!("/proc/{pid}/cmdline")).unwrap_or_default();
        assert!(
            stat.is_empty()
                || stat.contains(") Z")
                || !(cmd.contains("redis-server") || cmd.contains("valkey-server")),
            "pid {pid} still runs"
        );
    }
    assert!(!state.exists());
}

#[test]
fn a_foreign_directory_is_never_used_or_deleted() {
    let dir = tempfile::tempdir().unwrap();
    let precious = dir.path().join("precious.txt");
    std::fs::write(&precious, "keep me").unwrap();
    let seed = root()
        .join("examples/seed-two-dc.yaml")
        .display()
        .to_string();
    let d = dir.path().display().to_string();
    let o = run(&["local", "up", "-f", &seed, "--detach", "--state-dir", &d]);
    assert_eq!(o.status.code(), Some(3), "{}", text(&o));
    assert!(
        text(&o).contains("not a redis-stretch state dir"),
        "{}",
        text(&o)
    );
    assert!(precious.exists());
    let o = run(&["local", "down", "--state-dir", &d]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert!(precious.exists());
}

/// Removes a file when the test ends.
struct Remove(std::path::PathBuf);
impl Drop for Remove {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// `redis-stretch crd | head -1`: the reader gone, the command ends quietly (141, as a tool
/// stopped by SIGPIPE reports in a shell) or, if it had written everything first, with 0 —
/// never killed by the signal itself (which would also kill a drill writing to a socket a
/// killed server just closed), never with a panic.
#[test]
fn a_closed_stdout_ends_the_command_quietly() {
    for _ in 0..5 {
        let mut child = Command::new(BIN)
            .arg("crd")
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        drop(child.stdout.take());
        let out = child.wait_with_output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            matches!(out.status.code(), Some(141 | 0)),
            "{:?}: {stderr}",
            out.status
        );
        assert!(!stderr.contains("panicked"), "{stderr}");
    }
}
