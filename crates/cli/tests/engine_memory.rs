#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! The engine's memory outlives the engine: a detached engine SIGKILLed while a zone's
//! failback hold-down runs is restarted by `local up`, and `status` shows the same hold-down
//! end and flap count as before the kill (the new engine does not start blind).

use std::time::{Duration, Instant};

use redis_stretch_local::testing::unique_state_dir;
use serde_json::Value;
use support::{run, text, Down};

mod support;

/// A long node-timeout makes the hold-down (2 × node-timeout) outlast the restart by far.
const MANIFEST: &str = "apiVersion: redis-stretch.io/v1alpha1
kind: RedisStretchCluster
metadata:
  name: memory
spec:
  shards: 3
  zones:
    - name: dc-a
      preferredMasters: 2
    - name: dc-b
      preferredMasters: 1
  redis:
    clusterNodeTimeoutMs: 8000
";

/// `status --output json`'s engine part.
fn engine(dir: &str) -> Value {
    let o = run(&["status", "--output", "json", "--state-dir", dir]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let doc: Value = serde_json::from_slice(&o.stdout).unwrap();
    doc["engine"].clone()
}

fn zone<'a>(engine: &'a Value, name: &str) -> &'a Value {
    engine["zones"]
        .as_array()
        .and_then(|z| z.iter().find(|z| z["zone"] == name))
        .unwrap_or(&Value::Null)
}

fn wait_for(dir: &str, what: &str, limit: Duration, ok: impl Fn(&Value) -> bool) -> Value {
    let start = Instant::now();
    loop {
        let e = engine(dir);
        if ok(&e) {
            return e;
        }
        assert!(start.elapsed() < limit, "not {what} after {limit:?}: {e:#}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn a_restarted_engine_keeps_hold_down_and_flap_count() {
    let state = unique_state_dir("memory");
    let dir = state.path().display().to_string();
    let _down = Down(state.path().to_path_buf());
    std::fs::create_dir_all(state.path().parent().unwrap()).unwrap();
    let manifest = state.path().with_extension("yaml");
    std::fs::write(&manifest, MANIFEST).unwrap();
    let manifest = manifest.display().to_string();

    let o = run(&[
        "local",
        "up",
        "-f",
        &manifest,
        "--detach",
        "--state-dir",
        &dir,
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    wait_for(&dir, "live", Duration::from_secs(20), |e| e["live"] == true);

    // dc-a goes dark and is taken over; it comes back and its failback hold-down starts.
    let o = run(&[
        "local",
        "kill-zone",
        "dc-a",
        "--signal",
        "stop",
        "--state-dir",
        &dir,
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    wait_for(&dir, "dc-a dark", Duration::from_secs(20), |e| {
        zone(e, "dc-a")["state"] == "dark"
    });
    let o = run(&["local", "restore-zone", "dc-a", "--state-dir", &dir]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let before = wait_for(&dir, "in hold-down", Duration::from_secs(20), |e| {
        zone(e, "dc-a")["state"] == "healthy" && zone(e, "dc-a")["hold_down_until_ms"].is_u64()
    });
    let until = zone(&before, "dc-a")["hold_down_until_ms"].clone();
    assert_eq!(zone(&before, "dc-a")["flaps"], 1, "{before:#}");

    // SIGKILL: nothing of the engine's survives but what it saved.
    let pid = before["pid"].as_u64().unwrap();
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(i32::try_from(pid).unwrap()),
        nix::sys::signal::Signal::SIGKILL,
    )
    .unwrap();
    wait_for(&dir, "dead", Duration::from_secs(10), |e| {
        e["live"] == false
    });

    // `local up` on a running cluster adopts it and restarts the killed engine.
    let o = run(&[
        "local",
        "up",
        "-f",
        &manifest,
        "--detach",
        "--state-dir",
        &dir,
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let after = wait_for(&dir, "a new engine", Duration::from_secs(20), |e| {
        e["live"] == true && e["pid"].as_u64() != Some(pid)
    });
    assert_eq!(
        zone(&after, "dc-a")["hold_down_until_ms"],
        until,
        "the same hold-down end: {after:#}"
    );
    assert_eq!(zone(&after, "dc-a")["flaps"], 1, "{after:#}");
    // Once its first passes have re-checked the fences, it waits out the same hold-down.
    let holding = wait_for(&dir, "holding failback", Duration::from_secs(10), |e| {
        e["waiting_for"]["for"] == "hold-down"
    });
    assert_eq!(holding["waiting_for"]["until_ms"], until, "{holding:#}");
}
