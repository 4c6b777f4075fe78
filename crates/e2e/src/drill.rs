//! The seed cluster on the real control plane, one DC offline under the drill's writers, the
//! operator recovering: what the drill measured, what the API showed meanwhile, and the Events
//! on the cluster. The scenarios (tests/drill_*.rs) assert on it.

use std::time::{Duration, Instant};

use k8s_openapi::api::events::v1::Event;
use kube::api::ListParams;
use kube::Api;
use redis_stretch_drill::{run_drill, DrillReport, Recovery, Scenario, ZoneFault};
use serde_json::Value;

use crate::error::{Error, Result};
use crate::faults::KubeFaults;
use crate::timeline::Timeline;
use crate::Env;

pub const NS: &str = "redis";

pub struct DrillOutcome {
    pub report: DrillReport,
    /// (seconds since the drill started, what changed in the API).
    pub timeline: Vec<(f64, String)>,
    /// Reasons of the Events on the RedisStretchCluster, in order.
    pub reasons: Vec<String>,
    /// Seconds from going dark until the API showed every node of the zone NotReady (when held).
    pub not_ready_after: Option<f64>,
    /// The pods' readiness in the API once the zone is back and failback done: (pod, ready).
    pub pods_after: Vec<(String, bool)>,
}

/// examples/k8s/seed.yaml as JSON.
pub fn seed_manifest() -> Result<Value> {
    let path = crate::repo_root().join("examples/k8s/seed.yaml");
    let text =
        std::fs::read_to_string(&path).map_err(Error::io(format!("reading {}", path.display())))?;
    serde_saphyr::from_str(&text).map_err(|e| Error::Invalid(format!("{}: {e}", path.display())))
}

/// Run the seed cluster and take `zone` offline (frozen pods, silent nodes) under the drill's
/// writers; with `hold`, keep it dark until the node lifecycle controller marks its nodes
/// NotReady. `Ok(None)`: the control plane is not built.
pub async fn seed_drill(name: &str, zone: &str, hold: bool) -> Result<Option<DrillOutcome>> {
    let Some(mut env) = Env::start(name, NS).await? else {
        return Ok(None);
    };
    env.start_kubelet().await?;
    env.start_operator()?;
    env.seed_ready().await?;

    let faults = KubeFaults::from_env(&env, NS, "seed", hold).await?;
    let timeline = Timeline::start(env.client.clone(), NS, "seed", Instant::now());
    let scenario = Scenario {
        zone: zone.to_owned(),
        fault: ZoneFault::Stop,
        recovery: Recovery::Engine,
        new_addresses: false,
        rto_only: false,
        svg: env.cp.dir().join(format!("drill-{zone}.svg")),
    };
    let result = run_drill(&faults, &scenario)
        .await
        .map_err(|e| Error::Invalid(format!("drill {zone}: {e}")))?;
    env.wait_condition(NS, "seed", "Ready", "True", Duration::from_secs(60))
        .await?;
    // The kubelet puts back the readiness the node lifecycle controller took from its pods.
    let pods = env
        .ready_pods(NS, "seed", 6, Duration::from_secs(30))
        .await
        .unwrap_or_default();
    let pods_after = pods
        .iter()
        .map(|p| {
            (
                p.metadata.name.clone().unwrap_or_default(),
                crate::api::pod_ready(p),
            )
        })
        .collect();

    let events = Api::<Event>::namespaced(env.client.clone(), NS)
        .list(&ListParams::default())
        .await
        .map_err(Error::kube("listing events"))?
        .items;
    let reasons = events
        .iter()
        .filter(|e| {
            e.regarding.as_ref().is_some_and(|r| {
                r.kind.as_deref() == Some("RedisStretchCluster")
                    && r.name.as_deref() == Some("seed")
            })
        })
        .filter_map(|e| e.reason.clone())
        .collect();
    let not_ready_after = faults.not_ready_after.lock().ok().and_then(|n| *n);
    Ok(Some(DrillOutcome {
        report: result.report,
        timeline: timeline.lines(),
        reasons,
        not_ready_after,
        pods_after,
    }))
}

impl DrillOutcome {
    /// What every DC drill must show, whichever DC: every slot took writes again, no
    /// acknowledged write lost, and clean cluster checks at the end. `Err` says which failed.
    pub fn safe(&self) -> std::result::Result<(), String> {
        let r = &self.report;
        if r.rto_ms.is_none() {
            return Err("not every slot took writes again".into());
        }
        if r.acked_writes_lost != 0 {
            return Err(format!("{} acknowledged writes lost", r.acked_writes_lost));
        }
        if !r.cluster_check.iter().all(|(_, clean, _)| *clean) {
            return Err(format!("cluster checks: {:?}", r.cluster_check));
        }
        Ok(())
    }

    /// Everything a human reads after a drill.
    pub fn print(&self, zone: &str) {
        eprintln!("{}", self.report);
        if let Some(s) = self.not_ready_after {
            eprintln!("{zone} nodes NotReady in the API {s:.1}s after going dark");
        }
        eprintln!("API timeline (s since the drill started):");
        for (t, line) in &self.timeline {
            eprintln!("  {t:>7.2}  {line}");
        }
        eprintln!("Events on the cluster: {:?}", self.reasons);
        eprintln!("pods after: {:?}", self.pods_after);
    }
}
