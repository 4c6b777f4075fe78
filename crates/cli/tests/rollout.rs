#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! Issue 17 on local mode, real servers under the drill's writers: today's StatefulSet
//! `RollingUpdate` (both StatefulSets at once, highest ordinal first) restarts a master and its
//! replica together and loses acknowledged writes; the engine's rollout restarts every
//! instance with none lost, no shard refusing writes for 2 s, and the masters back where the
//! spec prefers them; and Redis 7 rolls to Valkey in place with every key kept.

use std::io::Write;
use std::process::{Command, Stdio};

use redis_stretch_local::testing::unique_state_dir;
use support::{root, run, text, Down};

mod support;

/// A seed cluster (Redis, 3 shards, persistence off) in a fresh state dir, stopped when the
/// guard drops.
fn up(label: &str) -> (String, Down) {
    let state = unique_state_dir(label);
    let dir = state.path().display().to_string();
    let down = Down(state.path().to_path_buf());
    let seed = root()
        .join("examples/seed-two-dc.yaml")
        .display()
        .to_string();
    let o = run(&[
        "local",
        "up",
        "-f",
        &seed,
        "--detach",
        "--server",
        "redis",
        "--state-dir",
        &dir,
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    (dir, down)
}

fn drill(dir: &str, extra: &[&str]) -> serde_json::Value {
    let mut args = vec!["drill", "--output", "json", "--state-dir", dir];
    args.extend_from_slice(extra);
    let o = run(&args);
    let out = String::from_utf8_lossy(&o.stdout);
    let start = out
        .find('{')
        .unwrap_or_else(|| panic!("no report ({}): {}", o.status, text(&o)));
    serde_json::from_str(&out[start..]).unwrap_or_else(|e| panic!("{e}: {}", text(&o)))
}

fn status(dir: &str) -> serde_json::Value {
    let o = run(&["local", "status", "--output", "json", "--state-dir", dir]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    serde_json::from_slice(&o.stdout).unwrap()
}

fn instances(dir: &str) -> Vec<serde_json::Value> {
    status(dir)["instances"].as_array().unwrap().clone()
}

fn masters_in(dir: &str, zone: &str) -> usize {
    instances(dir)
        .iter()
        .filter(|i| i["zone"] == zone && i["role"] == "master")
        .count()
}

fn password(dir: &str) -> String {
    std::fs::read_to_string(format!("{dir}/password"))
        .unwrap()
        .trim()
        .to_owned()
}

/// (host, port) of every instance, from the state file.
fn addresses(dir: &str) -> Vec<(String, u16)> {
    let state: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(format!("{dir}/state.json")).unwrap())
            .unwrap();
    state["instances"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| {
            (
                i["host"].as_str().unwrap().to_owned(),
                u16::try_from(i["port"].as_u64().unwrap()).unwrap(),
            )
        })
        .collect()
}

fn redis_cli(host: &str, port: u16, pass: &str, args: &[&str]) -> String {
    let o = Command::new("redis-cli")
        .args([
            "-h",
            host,
            "-p",
            &port.to_string(),
            "-a",
            pass,
            "--no-auth-warning",
        ])
        .args(args)
        .output()
        .unwrap();
    String::from_utf8_lossy(&o.stdout).trim().to_owned()
}

/// Keys held by masters, over the whole cluster.
fn keys_on_masters(dir: &str) -> u64 {
    let pass = password(dir);
    addresses(dir)
        .iter()
        .filter(|(h, p)| redis_cli(h, *p, &pass, &["role"]).starts_with("master"))
        .map(|(h, p)| redis_cli(h, *p, &pass, &["dbsize"]).parse::<u64>().unwrap())
        .sum()
}

fn rollout_figures(report: &serde_json::Value) -> (u64, u64, f64) {
    (
        report["report"]["acked_writes_lost"].as_u64().unwrap(),
        report["report"]["plain_writes_lost"].as_u64().unwrap(),
        report["rollout"]["longest_shard_outage_ms"]
            .as_f64()
            .unwrap(),
    )
}

#[test]
fn a_rolling_update_loses_acknowledged_writes_and_the_engines_rollout_loses_none() {
    let (dir, _down) = up("roll-compare");

    // Today: both "StatefulSets" at once, highest ordinal first. dc-a-2 and dc-b-2 restart
    // together; with persistence off a master comes back empty and its replica follows it.
    let before = drill(&dir, &["--rollout", "rolling-update"]);
    let (acked, plain, _) = rollout_figures(&before);
    assert!(
        acked + plain > 0,
        "a RollingUpdate that restarts a master with its replica loses writes: {before}"
    );

    // The engine's rollout of the same cluster.
    let after = drill(&dir, &["--rollout", "engine"]);
    let (acked, plain, outage) = rollout_figures(&after);
    assert_eq!(acked, 0, "WAIT-acknowledged writes lost: {after}");
    assert_eq!(plain, 0, "plain writes lost: {after}");
    assert!(
        outage < 2000.0,
        "a shard refused writes for {outage} ms: {after}"
    );
    let checks = after["report"]["cluster_check"].as_array().unwrap();
    assert!(
        checks.iter().all(|c| c[1] == true),
        "cluster check: {checks:?}"
    );
    assert_eq!(masters_in(&dir, "dc-a"), 2, "{}", status(&dir));
    assert_eq!(masters_in(&dir, "dc-b"), 1, "{}", status(&dir));
    let state: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(format!("{dir}/state.json")).unwrap())
            .unwrap();
    let revision = state["revision"].as_u64().unwrap();
    assert!(
        state["instances"]
            .as_array()
            .unwrap()
            .iter()
            .all(|i| i["revision"].as_u64() == Some(revision)),
        "every instance restarted at revision {revision}: {state}"
    );
}

#[test]
fn redis_7_rolls_to_valkey_in_place_with_every_key_kept() {
    if redis_stretch_local::find_server(redis_stretch_api::ServerFlavour::Valkey).is_err() {
        panic!("valkey-server is needed (scripts/deps.sh installs it)");
    }
    let (dir, _down) = up("roll-valkey");
    // 5,000 keys before the rollout, through the cluster (redis-cli -c follows MOVED).
    let (host, port) = addresses(&dir)[0].clone();
    let mut child = Command::new("redis-cli")
        .args([
            "-c",
            "-h",
            &host,
            "-p",
            &port.to_string(),
            "-a",
            &password(&dir),
        ])
        .arg("--no-auth-warning")
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    {
        let stdin = child.stdin.as_mut().unwrap();
        for i in 0..5000 {
            writeln!(stdin, "SET before:{i} v{i}").unwrap();
        }
    }
    assert!(child.wait().unwrap().success());
    assert_eq!(keys_on_masters(&dir), 5000);

    let report = drill(&dir, &["--rollout", "engine", "--server", "valkey"]);
    let (acked, plain, outage) = rollout_figures(&report);
    assert_eq!((acked, plain), (0, 0), "{report}");
    assert!(outage < 2000.0, "{report}");
    // Every instance runs Valkey now, and every key written before is still there (the
    // drill's own keys on top).
    let all = instances(&dir);
    assert!(
        all.iter().all(|i| i["server"]
            .as_str()
            .is_some_and(|s| s.starts_with("valkey"))),
        "{all:?}"
    );
    let pass = password(&dir);
    let kept = addresses(&dir)
        .iter()
        .filter(|(h, p)| redis_cli(h, *p, &pass, &["role"]).starts_with("master"))
        .map(|(h, p)| {
            let script = "return #redis.call('KEYS', 'before:*')";
            redis_cli(h, *p, &pass, &["EVAL", script, "0"])
                .parse::<u64>()
                .unwrap()
        })
        .sum::<u64>();
    assert_eq!(kept, 5000, "keys written before the rollout");
    assert_eq!(masters_in(&dir, "dc-a"), 2);

    // Back to Redis is refused, with the reason, and nothing restarts.
    let o = run(&["local", "roll", "--server", "redis", "--state-dir", &dir]);
    assert_eq!(o.status.code(), Some(3), "{}", text(&o));
    assert!(
        text(&o).contains("Valkey to Redis in place is refused"),
        "{}",
        text(&o)
    );
}
