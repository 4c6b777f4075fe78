//! A data center offline, through Kubernetes: the seed cluster on the real control plane, the
//! drill's writers over every slot, dc-a (two of three masters) frozen and its nodes silent
//! until the real node lifecycle controller marks them NotReady, then back. The operator must
//! take over (no human), report `ZoneLost`, publish an Event per action, lose no acknowledged
//! write, and fail back without failed writes.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use k8s_openapi::api::events::v1::Event;
use kube::api::ListParams;
use kube::Api;
use redis_stretch_drill::{run_drill, Recovery, Scenario, ZoneFault};
use redis_stretch_e2e::api::clusters;
use redis_stretch_e2e::faults::KubeFaults;
use redis_stretch_e2e::{init_tracing, Env};
use serde_json::Value;

const NS: &str = "redis";

fn seed_manifest() -> Value {
    let path = redis_stretch_e2e::repo_root().join("examples/k8s/seed.yaml");
    serde_yaml::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// Every change of the cluster's conditions and of the dc's node readiness, with the time
/// since `start`, polled every 200 ms until the returned guard drops.
struct Timeline {
    seen: Arc<Mutex<Vec<(f64, String)>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Timeline {
    fn start(client: kube::Client, start: Instant) -> Self {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let out = Arc::clone(&seen);
        let task = tokio::spawn(async move {
            let mut last: Vec<String> = Vec::new();
            loop {
                let mut now: Vec<String> = Vec::new();
                if let Ok(obj) = clusters(&client, NS).get("seed").await {
                    for c in obj
                        .data
                        .pointer("/status/conditions")
                        .and_then(Value::as_array)
                        .into_iter()
                        .flatten()
                    {
                        now.push(format!(
                            "condition {}={} ({})",
                            c["type"].as_str().unwrap_or_default(),
                            c["status"].as_str().unwrap_or_default(),
                            c["reason"].as_str().unwrap_or_default()
                        ));
                    }
                }
                let nodes: Api<k8s_openapi::api::core::v1::Node> = Api::all(client.clone());
                if let Ok(list) = nodes.list(&ListParams::default()).await {
                    for n in list.items {
                        let ready = n
                            .status
                            .and_then(|s| s.conditions)
                            .unwrap_or_default()
                            .into_iter()
                            .find(|c| c.type_ == "Ready")
                            .map(|c| c.status)
                            .unwrap_or_default();
                        let taints: Vec<String> = n
                            .spec
                            .and_then(|s| s.taints)
                            .unwrap_or_default()
                            .into_iter()
                            .map(|t| format!("{}:{}", t.key, t.effect))
                            .collect();
                        now.push(format!(
                            "node {} Ready={ready} taints={taints:?}",
                            n.metadata.name.unwrap_or_default()
                        ));
                    }
                }
                let t = start.elapsed().as_secs_f64();
                if let Ok(mut s) = out.lock() {
                    for line in &now {
                        if !last.contains(line) {
                            s.push((t, line.clone()));
                        }
                    }
                }
                last = now;
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        });
        Self { seen, task }
    }

    fn lines(&self) -> Vec<(f64, String)> {
        self.seen.lock().map(|s| s.clone()).unwrap_or_default()
    }
}

impl Drop for Timeline {
    fn drop(&mut self) {
        self.task.abort();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn dc_a_offline_the_operator_takes_over_then_fails_back() {
    init_tracing();
    let Some(mut env) = Env::start("drill-dc-a", NS).await.unwrap() else {
        return;
    };
    env.start_kubelet().await.unwrap();
    env.start_operator().unwrap();
    env.apply(&seed_manifest()).await.unwrap();
    env.ready_pods(NS, "seed", 6, Duration::from_secs(300))
        .await
        .unwrap();
    env.wait_condition(NS, "seed", "Ready", "True", Duration::from_secs(180))
        .await
        .unwrap();

    let faults = KubeFaults::from_env(&env, NS, "seed", true).await.unwrap();
    let start = Instant::now();
    let timeline = Timeline::start(env.client.clone(), start);
    let scenario = Scenario {
        zone: "dc-a".into(),
        fault: ZoneFault::Stop,
        recovery: Recovery::Engine,
        new_addresses: false,
        rto_only: false,
        svg: env.cp.dir().join("drill-dc-a.svg"),
    };
    let result = run_drill(&faults, &scenario).await.unwrap();
    // Ready again after failback.
    env.wait_condition(NS, "seed", "Ready", "True", Duration::from_secs(60))
        .await
        .unwrap();
    let report = result.report;
    eprintln!("{report}");
    // The drill marks "dc-a restored" before bring_back, which holds dc-a dark until the API
    // shows its nodes NotReady: the restore window starts with that hold.
    eprintln!(
        "dc-a nodes NotReady in the API {:?}s after going dark",
        faults.not_ready_after.lock().unwrap()
    );
    eprintln!("timeline (s since the drill started):");
    for (t, line) in timeline.lines() {
        eprintln!("  {t:>7.2}  {line}");
    }

    let events: Vec<Event> = Api::<Event>::namespaced(env.client.clone(), NS)
        .list(&ListParams::default())
        .await
        .unwrap()
        .items;
    let reasons: Vec<String> = events
        .iter()
        .filter(|e| {
            e.regarding.as_ref().is_some_and(|r| {
                r.kind.as_deref() == Some("RedisStretchCluster")
                    && r.name.as_deref() == Some("seed")
            })
        })
        .filter_map(|e| e.reason.clone())
        .collect();
    eprintln!("events on seed: {reasons:?}");

    assert!(report.rto_ms.is_some(), "not every slot took writes again");
    assert_eq!(report.acked_writes_lost, 0, "acknowledged writes lost");
    assert!(
        report.cluster_check.iter().all(|(_, clean, _)| *clean),
        "cluster checks: {:?}",
        report.cluster_check
    );
    let lines = timeline.lines();
    assert!(
        lines
            .iter()
            .any(|(_, l)| l.starts_with("condition ZoneLost=True")),
        "ZoneLost never reported: {lines:?}"
    );
    assert!(
        reasons.iter().any(|r| r == "Takeover"),
        "no Takeover event: {reasons:?}"
    );
    let restored = report
        .faults
        .iter()
        .find(|f| f.phase.contains("restored"))
        .expect("a restore window");
    for w in &restored.writers {
        assert_eq!(w.failed, 0, "failed writes during failback: {:?}", w.writer);
    }
}
