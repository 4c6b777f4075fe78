#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! Issue 17's acceptance line: a password rotation under writes, then a DC taken down, and the
//! engine — which knows only the new password by then — still takes over. Real servers, local
//! mode, through the binary (`local rotate-password` standing in for the detached engine).
//! The engine that knows only a new password the servers do not have yet waits `Refused`
//! with a hint: `crates/local/tests/failover.rs`.

mod support;

use std::path::Path;
use std::time::{Duration, Instant};

use redis_stretch_admin::{AdminClient, Secret};
use redis_stretch_drill::{verify, DrillConfig, Workload};
use redis_stretch_engine::{observe, Pool};
use redis_stretch_local::testing::{TestCluster, SEED_MANIFEST};
use redis_stretch_local::{
    ensure_detached_engine, is_running, kill_zone, FaultSignal, ProcessStatus,
    PREVIOUS_PASSWORD_FILE,
};
use redis_stretch_topology::SLOT_COUNT;
use support::{run, text, BIN};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_password_rotation_under_writes_then_a_dc_loss_the_engine_takes_over() {
    let c = TestCluster::start("rotation", SEED_MANIFEST).await.unwrap();
    let dir = c.dir.path().display().to_string();
    ensure_detached_engine(
        &c.dir,
        Path::new(BIN),
        &["local", "engine", "--state-dir", &dir],
    )
    .await
    .unwrap();
    let old = c.password.clone().unwrap();
    let new = Secret::new("the-new-password-17");
    let seeds: Vec<_> = c.state.instances.iter().map(|i| i.addr()).collect();
    let cfg = DrillConfig {
        rate_per_writer: 200,
        // Generous per-try bounds: a loaded 2-core CI box must not turn into "failed writes".
        attempt_timeout: Duration::from_millis(500),
        probe_timeout: Duration::from_millis(500),
        wait_timeout_ms: 500,
        duration_limit: Duration::from_secs(60),
        ..DrillConfig::new(seeds, Some(old.clone()))
    };
    let load = Workload::start(cfg.clone()).await.unwrap();
    tokio::time::sleep(Duration::from_millis(500)).await;

    load.mark("rotate-password");
    let file = c.dir.file("new-password.txt");
    std::fs::write(&file, format!("{}\n", new.expose())).unwrap();
    let args = [
        "local".to_owned(),
        "rotate-password".to_owned(),
        "--password-file".to_owned(),
        file.display().to_string(),
        "--state-dir".to_owned(),
        dir.clone(),
    ];
    let o = tokio::task::spawn_blocking(move || {
        let a: Vec<&str> = args.iter().map(String::as_str).collect();
        run(&a)
    })
    .await
    .unwrap();
    let said = text(&o);
    println!("{said}");
    assert!(o.status.success(), "{said}");
    assert!(
        !said.contains(new.expose()),
        "the password is never printed"
    );
    assert!(
        !said.contains(old.expose()),
        "the password is never printed"
    );
    tokio::time::sleep(Duration::from_millis(500)).await;
    let rec = load.stop().await.unwrap();

    // Clients that keep their connections stay authenticated; the readback, a new client,
    // needs the new password.
    let report = verify(
        &rec,
        &DrillConfig {
            password: Some(new.clone()),
            ..cfg.clone()
        },
    )
    .await
    .unwrap();
    println!("{report}");
    assert_eq!(report.acked_writes_lost, 0);
    for w in &report.writers {
        assert!(w.writes > 50, "{:?} wrote only {}", w.writer, w.writes);
        // A write counts as failed after 1 s of retries: none was refused that long.
        assert_eq!(w.failed, 0, "{w:?}");
        assert_eq!(w.readback_checked, w.acked, "{w:?}");
    }

    // Every instance: the old password refused, the new one accepted and sent as masterauth,
    // and the same process as before (nothing restarted).
    let now = c.dir.load().unwrap();
    for (before, after) in c.state.instances.iter().zip(&now.instances) {
        assert_eq!(before.pid, after.pid, "{} was restarted", before.name);
        assert_eq!(is_running(after), ProcessStatus::Running);
        let refused = AdminClient::connect(&after.addr(), Some(&old), Duration::from_secs(1))
            .await
            .unwrap_err();
        assert!(refused.is_auth_failure(), "{}: {refused}", after.name);
        let admin = AdminClient::connect(&after.addr(), Some(&new), Duration::from_secs(1))
            .await
            .unwrap();
        let masterauth = admin.config_get("masterauth").await.unwrap();
        assert!(
            masterauth.as_deref() == Some(new.expose()),
            "{}",
            after.name
        );
        let conf = std::fs::read_to_string(after.data_dir.join("redis.conf")).unwrap();
        assert!(conf.contains(new.expose()) && !conf.contains(old.expose()));
    }
    assert!(!c.dir.file(PREVIOUS_PASSWORD_FILE).exists());
    assert_eq!(c.dir.password(false).unwrap(), Some(new.clone()));
    assert!(said.contains("engine started"), "{said}");

    // dc-a (two masters of three) goes dark: the detached engine, started again by the
    // command with the new password only, takes over.
    kill_zone(&c.dir, "dc-a", FaultSignal::Kill).unwrap();
    let pool = Pool::new(Some(new.clone()), Duration::from_millis(300));
    let start = Instant::now();
    loop {
        let s = observe(&c.instances(), &c.state.zones, &pool).await;
        let masters = s.masters();
        let from_b: usize = masters
            .iter()
            .filter(|m| m.zone == "dc-b" && m.reachable)
            .flat_map(|m| m.slots.iter().map(|r| usize::from(r.end - r.start) + 1))
            .sum();
        if from_b == usize::from(SLOT_COUNT) {
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "dc-b serves {from_b} slots; engine.log:\n{}",
            std::fs::read_to_string(c.dir.file("engine.log")).unwrap_or_default()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// A rotation interrupted right after the state dir got the new password (the command killed
/// before it told any instance): `local rotate-password` again finishes it with the password
/// already chosen, and refuses (exit 3) to start another one meanwhile.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_interrupted_rotation_is_finished_by_running_the_command_again() {
    let c = TestCluster::start("rotation-resume", SEED_MANIFEST)
        .await
        .unwrap();
    let dir = c.dir.path().display().to_string();
    let old = c.password.clone().unwrap();
    let new = Secret::new("chosen-before-the-crash");
    std::fs::write(c.dir.file(PREVIOUS_PASSWORD_FILE), old.expose()).unwrap();
    std::fs::write(c.dir.file("password"), new.expose()).unwrap();

    let other = c.dir.file("other.txt");
    std::fs::write(&other, "yet-another").unwrap();
    let other = other.display().to_string();
    let d = dir.clone();
    let o = tokio::task::spawn_blocking(move || {
        run(&[
            "local",
            "rotate-password",
            "--password-file",
            &other,
            "--state-dir",
            &d,
        ])
    })
    .await
    .unwrap();
    assert_eq!(o.status.code(), Some(3), "{}", text(&o));
    assert!(text(&o).contains("under way"), "{}", text(&o));

    let d = dir.clone();
    let o =
        tokio::task::spawn_blocking(move || run(&["local", "rotate-password", "--state-dir", &d]))
            .await
            .unwrap();
    assert!(o.status.success(), "{}", text(&o));
    assert!(text(&o).contains("finished a rotation"), "{}", text(&o));
    for inst in &c.dir.load().unwrap().instances {
        let refused = AdminClient::connect(&inst.addr(), Some(&old), Duration::from_secs(1))
            .await
            .unwrap_err();
        assert!(refused.is_auth_failure(), "{}: {refused}", inst.name);
        AdminClient::connect(&inst.addr(), Some(&new), Duration::from_secs(1))
            .await
            .unwrap()
            .ping()
            .await
            .unwrap();
    }
    assert!(!c.dir.file(PREVIOUS_PASSWORD_FILE).exists());
}
