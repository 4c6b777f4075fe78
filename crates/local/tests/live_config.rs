#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! Live config on real servers: `local apply` of a new `maxmemory` reaches every instance
//! through the running engine's `CONFIG SET`, without a restart (same pid, same run_id), and
//! is kept in every redis.conf; a change local mode cannot take is refused before anything is
//! written.

use std::time::{Duration, Instant};

use redis_stretch_admin::AdminClient;
use redis_stretch_api::load_manifest;
use redis_stretch_local::testing::{test_manifest, TestCluster, SEED_MANIFEST};
use redis_stretch_local::{apply, run_engine, EngineLock, LocalError, ENGINE_PATIENCE};

async fn config_of(c: &TestCluster, name: &str) -> Vec<Option<String>> {
    let mut out = Vec::new();
    for inst in &c.state.instances {
        let a = AdminClient::connect(&inst.addr(), c.password.as_ref(), Duration::from_secs(1))
            .await
            .unwrap();
        out.push(a.config_get(name).await.unwrap());
    }
    out
}

/// `run_id` of every instance (`INFO server`): a new one means the process restarted.
fn run_ids(c: &TestCluster) -> Vec<String> {
    c.state
        .instances
        .iter()
        .map(|inst| {
            let mut cmd = std::process::Command::new("redis-cli");
            cmd.args([
                "-h",
                &inst.host,
                "-p",
                &inst.port.to_string(),
                "INFO",
                "server",
            ]);
            if let Some(p) = &c.password {
                cmd.env("REDISCLI_AUTH", p.expose());
            }
            let out = String::from_utf8_lossy(&cmd.output().unwrap().stdout).into_owned();
            out.lines()
                .find_map(|l| l.strip_prefix("run_id:"))
                .map(|s| s.trim().to_owned())
                .unwrap_or_else(|| panic!("no run_id from {}: {out}", inst.name))
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn local_apply_sets_a_new_maxmemory_on_every_instance_without_a_restart() {
    let c = TestCluster::start("live-config", SEED_MANIFEST)
        .await
        .unwrap();
    // The engine in the foreground, as `local up` runs it.
    let lock = EngineLock::acquire(&c.dir, "test engine", ENGINE_PATIENCE)
        .await
        .unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let engine = tokio::spawn(run_engine(lock, async {
        let _ = stopped.await;
    }));
    assert!(config_of(&c, "maxmemory")
        .await
        .iter()
        .all(|v| v.as_deref() == Some("0")));
    let pids: Vec<Option<u32>> = c.state.instances.iter().map(|i| i.pid).collect();
    let before = run_ids(&c);

    let yaml = test_manifest(&format!("{SEED_MANIFEST}  redis:\n    maxmemory: 64mb\n")).unwrap();
    let cluster = load_manifest(&yaml).unwrap();
    let report = apply(&c.dir, &cluster, &yaml).unwrap();
    assert_eq!(report.live, vec!["maxmemory: 0 → 64mb".to_owned()]);
    assert_eq!(report.rewritten.len(), c.state.instances.len());

    let start = Instant::now();
    loop {
        let now = config_of(&c, "maxmemory").await;
        if now.iter().all(|v| v.as_deref() == Some("67108864")) {
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "maxmemory not applied everywhere: {now:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    println!(
        "maxmemory applied on every instance {:?} after `local apply`",
        start.elapsed()
    );
    assert_eq!(run_ids(&c), before, "an instance restarted");
    let state = c.dir.load().unwrap();
    assert_eq!(
        state.instances.iter().map(|i| i.pid).collect::<Vec<_>>(),
        pids
    );
    for inst in &state.instances {
        let conf = std::fs::read_to_string(inst.data_dir.join("redis.conf")).unwrap();
        assert!(conf.contains("\nmaxmemory 64mb\n"), "{}: {conf}", inst.name);
    }

    // Refused, exit 2, nothing written: the manifest stays the applied one.
    let more = test_manifest(
        &SEED_MANIFEST
            .replace("shards: 3", "shards: 4")
            .replace("preferredMasters: 2", "preferredMasters: 3"),
    )
    .unwrap();
    let err = apply(&c.dir, &load_manifest(&more).unwrap(), &more).unwrap_err();
    assert!(matches!(err, LocalError::CannotApply(_)), "{err}");
    assert_eq!(err.exit_code(), 2);
    assert!(err.to_string().contains("spec.shards: 3 → 4"), "{err}");
    assert_eq!(
        std::fs::read_to_string(c.dir.file("manifest.yaml")).unwrap(),
        yaml
    );

    let _ = stop.send(());
    engine.await.unwrap().unwrap();
}
