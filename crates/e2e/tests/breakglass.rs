//! The break-glass commands against a cluster on the real API server: `status --cluster`
//! reads spec, password and pods through the API and Redis at the pod IPs; `takeover
//! --cluster` refuses (exit 3) while the operator's Lease is fresh.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::process::Command;

use redis_stretch_e2e::drill::NS;
use redis_stretch_e2e::operator::redis_stretch_bin;
use redis_stretch_e2e::{init_tracing, Env};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn status_reads_the_cluster_and_takeover_defers_to_the_operator() {
    init_tracing();
    let Some(mut env) = Env::start("breakglass", NS).await.unwrap() else {
        return;
    };
    env.start_kubelet().await.unwrap();
    env.start_operator().unwrap();
    env.seed_ready().await.unwrap();

    let cli = |args: &[&str]| {
        let out = Command::new(redis_stretch_bin().unwrap())
            .args(args)
            .args(["--cluster", "seed", "-n", NS])
            .env("KUBECONFIG", env.cp.kubeconfig())
            .output()
            .unwrap();
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };

    let (code, out, err) = cli(&["status"]);
    eprintln!("status:\n{out}{err}");
    assert_eq!(code, Some(0), "{err}");
    for want in [
        "dc-a (3 instances, 2 masters)",
        "dc-b (3 instances, 1 masters)",
        "16384 of 16384 slots served",
        "operator: live, leader op-1",
    ] {
        assert!(out.contains(want), "status does not mention {want}:\n{out}");
    }

    // Each action's reason once (the engine's summary used to carry it too).
    let fences: Vec<&str> = out.lines().filter(|l| l.contains(" fence — ")).collect();
    assert!(!fences.is_empty(), "no fence action in the status:\n{out}");
    for line in fences {
        let whys =
            line.matches("must stop taking writes").count() + line.matches("starts fenced").count();
        assert_eq!(whys, 1, "the reason is not printed once: {line}");
    }

    let (code, out, err) = cli(&["takeover", "--zone", "dc-b"]);
    eprintln!("takeover:\n{out}{err}");
    assert_eq!(
        code,
        Some(3),
        "takeover did not refuse while the operator leads:\n{out}{err}"
    );
}
