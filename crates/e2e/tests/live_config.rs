//! Live config on a real control plane (issue 17's acceptance): `maxmemory` changed in the
//! custom resource reaches every instance (`CONFIG GET maxmemory`) within one reconcile, with
//! no restart (same pod uids, same Redis run_id), and the ConfigMap keeps it for restarts; a
//! change of the persistence size is refused by the API server with our message.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::{ConfigMap, Pod};
use kube::api::{Patch, PatchParams};
use kube::{Api, ResourceExt};
use redis_stretch_admin::{AdminClient, NodeAddr, Secret};
use redis_stretch_e2e::api::{clusters, MANAGER};
use redis_stretch_e2e::{init_tracing, Env};
use serde_json::{json, Value};

const NS: &str = "redis";

fn ips(pods: &[Pod]) -> BTreeMap<String, String> {
    pods.iter()
        .map(|p| {
            let ip = p
                .status
                .as_ref()
                .and_then(|s| s.pod_ip.clone())
                .unwrap_or_default();
            (p.name_any(), ip)
        })
        .collect()
}

async fn maxmemory(ip: &str, password: &Secret) -> Option<String> {
    let a = AdminClient::connect(
        &NodeAddr::new(ip, 6379),
        Some(password),
        Duration::from_secs(1),
    )
    .await
    .ok()?;
    a.config_get("maxmemory").await.ok().flatten()
}

/// `run_id` (`INFO server`): a new one means the process restarted.
fn run_id(ip: &str, password: &Secret) -> String {
    let out = std::process::Command::new("redis-cli")
        .args(["-h", ip, "-p", "6379", "INFO", "server"])
        .env("REDISCLI_AUTH", password.expose())
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    text.lines()
        .find_map(|l| l.strip_prefix("run_id:"))
        .map(|s| s.trim().to_owned())
        .unwrap_or_else(|| panic!("no run_id at {ip}: {text}"))
}

fn uids(pods: &[Pod]) -> BTreeMap<String, String> {
    pods.iter()
        .map(|p| (p.name_any(), p.uid().unwrap_or_default()))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn maxmemory_changed_in_the_resource_is_live_on_every_instance_and_persistence_size_is_refused(
) {
    init_tracing();
    let Some(mut env) = Env::start("live-config", NS).await.unwrap() else {
        return;
    };
    env.start_kubelet().await.unwrap();
    env.start_operator().unwrap();
    let pods = env.seed_ready().await.unwrap();
    let password = env.password(NS, "seed").await.unwrap();
    let ip_of = ips(&pods);
    let before_uids = uids(&pods);
    let before_runs: BTreeMap<String, String> = ip_of
        .iter()
        .map(|(pod, ip)| (pod.clone(), run_id(ip, &password)))
        .collect();
    for ip in ip_of.values() {
        // examples/k8s/seed.yaml: 256mb.
        assert_eq!(maxmemory(ip, &password).await.as_deref(), Some("268435456"));
    }

    let mut manifest = redis_stretch_e2e::drill::seed_manifest().unwrap();
    manifest["spec"]["redis"]["maxmemory"] = json!("128mb");
    let changed = Instant::now();
    env.apply(&manifest).await.unwrap();
    loop {
        let mut now = Vec::new();
        for ip in ip_of.values() {
            now.push(maxmemory(ip, &password).await);
        }
        if now.iter().all(|v| v.as_deref() == Some("134217728")) {
            break;
        }
        assert!(
            changed.elapsed() < Duration::from_secs(60),
            "maxmemory not live everywhere: {now:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    eprintln!(
        "live-config: maxmemory 128mb on all 6 instances {:.2}s after the resource changed",
        changed.elapsed().as_secs_f64()
    );
    let after = redis_stretch_e2e::api::cluster_pods(&env.client, NS, "seed")
        .await
        .unwrap();
    assert_eq!(uids(&after), before_uids, "a pod was recreated");
    for (pod, ip) in &ip_of {
        assert_eq!(&run_id(ip, &password), &before_runs[pod], "{pod} restarted");
    }
    // Kept for restarts: the ConfigMap the pods read at start has the new value.
    let cm = Api::<ConfigMap>::namespaced(env.client.clone(), NS);
    let start = Instant::now();
    loop {
        let conf = cm
            .get("seed-config")
            .await
            .unwrap()
            .data
            .and_then(|d| d.get("redis.conf").cloned())
            .unwrap_or_default();
        if conf.contains("\nmaxmemory 128mb\n") {
            break;
        }
        assert!(start.elapsed() < Duration::from_secs(30), "{conf}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    // Every object applied as rendered, and said so; the live setting held everywhere, too.
    env.wait_condition(NS, "seed", "Applied", "True", Duration::from_secs(30))
        .await
        .unwrap();
    let (reason, message) = env
        .wait_condition(NS, "seed", "ConfigApplied", "True", Duration::from_secs(30))
        .await
        .unwrap();
    assert_eq!(reason, "Live");
    assert!(
        message.contains("every answering instance (6)") && message.contains("maxmemory"),
        "{message}"
    );

    // Persistence size: refused by the API server, with what to do instead.
    let mut bigger: Value = manifest.clone();
    bigger["spec"]["redis"]["persistence"]["size"] = json!("20Gi");
    let result = clusters(&env.client, NS)
        .patch(
            "seed",
            &PatchParams::apply(MANAGER).force(),
            &Patch::Apply(&bigger),
        )
        .await;
    match result {
        Err(kube::Error::Api(s)) => {
            assert_eq!(s.code, 422, "{}", s.message);
            assert!(
                s.message.contains(
                    "spec.redis.persistence.size cannot be changed on an existing cluster"
                ) && s.message.contains("resize each PersistentVolumeClaim"),
                "{}",
                s.message
            );
            eprintln!("live-config: persistence size refused: {}", s.message);
        }
        other => panic!("a persistence size change was not refused: {other:?}"),
    }
}
