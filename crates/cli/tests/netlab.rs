#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! The network lab on the real kernel with real redis-servers: `local up --netns`, a cut
//! between the zones that Redis itself notices (peers flagged `fail?`/`fail`), `local heal`,
//! `local down` — and the host's network untouched throughout. Needs root, `ip` and `nft`
//! (CI runs as root after scripts/deps.sh); without them it says why and skips,
//! unless `REDIS_STRETCH_NETLAB=1` (scripts/test.sh) makes that a failure.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use redis_stretch_local::netns;
use redis_stretch_local::testing::{unique_state_dir, SEED_MANIFEST};
use support::{netlab_runs, run, text};

mod support;

/// Brings the cluster down and removes its namespace when the test ends, passed or failed
/// (`ip netns delete` as the last resort).
struct Lab {
    dir: PathBuf,
    ns: String,
}

impl Drop for Lab {
    fn drop(&mut self) {
        let o = run(&[
            "local",
            "down",
            "--state-dir",
            &self.dir.display().to_string(),
        ]);
        if !o.status.success() {
            eprintln!("cleanup: local down: {}", text(&o));
        }
        if netns::exists(&self.ns) {
            eprintln!("cleanup: namespace {} left by down; deleting it", self.ns);
            let _ = Command::new("ip")
                .args(["netns", "delete", &self.ns])
                .status();
        }
    }
}

fn host_nft_tables() -> String {
    // Reading only: the host's ruleset must be the same before and after.
    let o = Command::new("nft")
        .args(["list", "tables"])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", text(&o));
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn lab_available() -> Result<(), String> {
    netns::check_prerequisites().map_err(|e| e.to_string())?;
    if Command::new("redis-cli").arg("--version").output().is_err() {
        return Err("redis-cli not found".into());
    }
    Ok(())
}

/// One node's view: for each peer address, (flags, link state).
type View = BTreeMap<String, (String, String)>;

/// CLUSTER NODES of `addr`, asked from inside the namespace (from 127.0.0.1).
fn cluster_nodes(ns: &str, addr: &str, password: Option<&str>) -> Option<View> {
    let (host, port) = addr.split_once(':').unwrap();
    let mut cmd = Command::new("ip");
    cmd.args(["netns", "exec", ns, "redis-cli", "--no-auth-warning"])
        .args(["-h", host, "-p", port, "cluster", "nodes"]);
    if let Some(p) = password {
        cmd.env("REDISCLI_AUTH", p);
    }
    let o = cmd.output().ok()?;
    if !o.status.success() {
        return None;
    }
    let mut view = View::new();
    for line in String::from_utf8_lossy(&o.stdout).lines() {
        let f: Vec<&str> = line.split_whitespace().collect();
        if f.len() < 8 || f[2].contains("myself") {
            continue;
        }
        let peer = f[1].split('@').next().unwrap_or_default().to_owned();
        view.insert(peer, (f[2].to_owned(), f[7].to_owned()));
    }
    Some(view)
}

fn zone_of(addr: &str) -> &str {
    if addr.starts_with("127.0.1.") {
        "dc-a"
    } else if addr.starts_with("127.0.2.") {
        "dc-b"
    } else {
        "?"
    }
}

/// Every node flags each peer of the other zone `fail?`/`fail` (`cut`) or none (`!cut`),
/// while its own zone's peers stay connected and unflagged.
fn partition_seen(
    ns: &str,
    addrs: &[String],
    password: Option<&str>,
    cut: bool,
) -> Result<(), String> {
    for a in addrs {
        let view = cluster_nodes(ns, a, password).ok_or_else(|| format!("{a} does not answer"))?;
        if view.len() + 1 != addrs.len() {
            return Err(format!("{a} knows {} peers", view.len()));
        }
        for (peer, (flags, link)) in &view {
            let failing = flags.split(',').any(|f| f == "fail" || f == "fail?");
            let same = zone_of(peer) == zone_of(a);
            if same && (failing || link != "connected") {
                return Err(format!("{a} sees same-zone {peer} as {flags} {link}"));
            }
            if !same && failing != cut {
                return Err(format!("{a} sees {peer} as {flags} {link}"));
            }
        }
    }
    Ok(())
}

fn wait_for(what: &str, budget: Duration, mut check: impl FnMut() -> Result<(), String>) {
    let deadline = Instant::now() + budget;
    loop {
        match check() {
            Ok(()) => return,
            Err(why) if Instant::now() >= deadline => {
                panic!("{what}: not within {budget:?}: {why}")
            }
            Err(_) => std::thread::sleep(Duration::from_millis(200)),
        }
    }
}

#[test]
fn cut_between_zones_in_a_namespace_is_seen_by_redis_and_heals_without_touching_the_host() {
    if !netlab_runs("netlab cut", lab_available()) {
        return;
    }
    let started = Instant::now();
    let dir = unique_state_dir("netlab");
    let state_dir = dir.path().to_path_buf();
    let sd = state_dir.display().to_string();
    let ns = netns::name_for("seed", &state_dir);
    let _lab = Lab {
        dir: state_dir.clone(),
        ns: ns.clone(),
    };
    let tables_before = host_nft_tables();
    let manifest = std::env::temp_dir().join(format!("netlab-seed-{}.yaml", std::process::id()));
    std::fs::write(&manifest, SEED_MANIFEST).unwrap();

    let o = run(&[
        "local",
        "up",
        "-f",
        &manifest.display().to_string(),
        "--netns",
        "--detach",
        "--no-engine",
        "--state-dir",
        &sd,
    ]);
    let _ = std::fs::remove_file(&manifest);
    assert!(o.status.success(), "{}", text(&o));

    // The namespace exists, is recorded, and every recorded PID is a server inside it.
    assert!(netns::exists(&ns), "namespace {ns} missing");
    let state = redis_stretch_local::StateDir::new(&state_dir)
        .load()
        .unwrap();
    assert_eq!(state.netns.as_deref(), Some(ns.as_str()));
    for i in &state.instances {
        let pid = i.pid.unwrap();
        let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap();
        let cmdline = String::from_utf8_lossy(&cmdline);
        assert!(
            cmdline.contains("redis-server") || cmdline.contains("valkey-server"),
            "pid {pid}: {cmdline}"
        );
        assert!(
            netns::pid_in(pid, &ns),
            "{} (pid {pid}) not in {ns}",
            i.name
        );
    }
    // Nothing listens in the host's namespace: the cluster is only reachable inside.
    assert!(
        std::net::TcpStream::connect_timeout(
            &state.instances[0].addr().to_string().parse().unwrap(),
            Duration::from_millis(300)
        )
        .is_err(),
        "an instance answers in the host namespace"
    );
    let password = std::fs::read_to_string(state_dir.join("password"))
        .ok()
        .map(|p| p.trim().to_owned());
    let pw = password.as_deref();
    let addrs: Vec<String> = state
        .instances
        .iter()
        .map(|i| i.addr().to_string())
        .collect();
    wait_for("a healthy mesh", Duration::from_secs(10), || {
        partition_seen(&ns, &addrs, pw, false)
    });

    // Cut: each side flags the other, same-zone peers stay connected; the host is untouched.
    let o = run(&["local", "cut", "dc-a", "dc-b", "--state-dir", &sd]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(state_dir.join("fault.json").is_file());
    assert_eq!(
        host_nft_tables(),
        tables_before,
        "the host's nft tables changed"
    );
    let o = run(&["local", "status", "--state-dir", &sd]);
    assert!(
        text(&o).contains("network fault in force: cut dc-a | dc-b"),
        "{}",
        text(&o)
    );
    wait_for("both sides flag the other", Duration::from_secs(10), || {
        partition_seen(&ns, &addrs, pw, true)
    });

    // Heal: the flags clear.
    let o = run(&["local", "heal", "--state-dir", &sd]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(!state_dir.join("fault.json").exists());
    wait_for("flags clear after heal", Duration::from_secs(12), || {
        partition_seen(&ns, &addrs, pw, false)
    });

    // Down: processes stopped, namespace and state gone, the host as before.
    let o = run(&["local", "down", "--state-dir", &sd]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(!netns::exists(&ns), "namespace {ns} left behind");
    assert!(!state_dir.exists());
    for i in &state.instances {
        let alive = std::fs::read_to_string(format!("/proc/{}/cmdline", i.pid.unwrap()))
            .is_ok_and(|c| c.contains("redis-server") || c.contains("valkey-server"));
        assert!(!alive, "{} still runs", i.name);
    }
    assert_eq!(host_nft_tables(), tables_before);
    eprintln!(
        "network lab test took {:.1}s",
        started.elapsed().as_secs_f64()
    );
}

#[test]
fn cut_where_no_cluster_runs_is_a_usage_error_and_creates_nothing() {
    let dir = unique_state_dir("netlab-none");
    let o = run(&[
        "local",
        "cut",
        "dc-a",
        "dc-b",
        "--state-dir",
        &dir.path().display().to_string(),
    ]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(!Path::new(dir.path()).exists());
}
