//! Forming a new cluster, on either platform: once every planned instance answers and none
//! holds any cluster state, bootstrap it. Never on a cluster that exists: a single node serving
//! slots means the engine, not a bootstrap, is in charge.
//!
//! Local mode forms its cluster right after starting the processes (`local up`); the operator's
//! engines form theirs once every pod of the plan is scheduled and answering.

use std::collections::BTreeMap;
use std::time::Duration;

use redis_stretch_api::ValidatedCluster;
use redis_stretch_model::Instance;
use redis_stretch_topology::{hosts_needed, plan};

use crate::{bootstrap, observe, BootstrapReport, Platform, Pool};

#[derive(Clone, Debug)]
pub enum Formation {
    /// Some node serves slots: the cluster exists.
    Formed,
    /// Not every planned instance is there and answering yet.
    Waiting(String),
    Bootstrapped {
        summary: String,
        report: BootstrapReport,
    },
    Failed(String),
}

/// Budget for one bootstrap to reach failover-ready.
pub const BOOTSTRAP_TIMEOUT: Duration = Duration::from_secs(60);

/// Form `cluster` on `instances` if it does not exist yet; the pool's password and TLS are
/// those of the cluster.
pub async fn form(
    cluster: &ValidatedCluster,
    instances: &[Instance],
    pool: &Pool,
    platform: &dyn Platform,
) -> Formation {
    form_within(cluster, instances, pool, platform, BOOTSTRAP_TIMEOUT).await
}

pub async fn form_within(
    cluster: &ValidatedCluster,
    instances: &[Instance],
    pool: &Pool,
    platform: &dyn Platform,
    timeout: Duration,
) -> Formation {
    let zones: Vec<String> = cluster.zone_names().iter().map(|z| z.to_string()).collect();
    let snap = observe(instances, &zones, pool).await;
    if snap.nodes.iter().any(|n| n.owns_slots()) {
        return Formation::Formed;
    }
    let mut hosts: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (zone, need) in hosts_needed(cluster) {
        let have: Vec<String> = instances
            .iter()
            .filter(|i| i.zone == zone)
            .map(|i| i.name.clone())
            .collect();
        if have.len() < need {
            return Formation::Waiting(format!(
                "{zone} has {} of its {need} instances with an address; the cluster is formed once all are up",
                have.len()
            ));
        }
        hosts.insert(zone, have);
    }
    if let Some(n) = snap.nodes.iter().find(|n| !n.reachable) {
        return Formation::Waiting(format!(
            "{} does not answer yet: {}",
            n.name.as_deref().unwrap_or("an instance"),
            n.error.as_deref().unwrap_or("no reply")
        ));
    }
    if !platform.may_act() {
        return Formation::Waiting(
            "not the authority: another engine forms the cluster".to_owned(),
        );
    }
    // No slots anywhere, so no data anywhere: a bootstrap interrupted after its MEETs can be
    // undone safely (Redis refuses `CLUSTER RESET` on a master that holds keys anyway).
    for n in snap.nodes.iter().filter(|n| !n.sees.is_empty()) {
        let Some(addr) = &n.addr else { continue };
        let reset = async { pool.get(addr).await?.reset_hard().await };
        if let Err(e) = reset.await {
            return Formation::Failed(format!("resetting a half-formed node: {e}"));
        }
    }
    let the_plan = match plan(cluster, &hosts) {
        Ok(p) => p,
        Err(e) => return Formation::Failed(e.to_string()),
    };
    match bootstrap(&the_plan, instances, pool.password(), pool.tls(), timeout).await {
        Ok(report) => Formation::Bootstrapped {
            summary: format!(
                "cluster formed on {} instances: meshed after {:.2} s, failover-ready after {:.2} s",
                the_plan.instances().count(),
                report.meshed_after.as_secs_f64(),
                report.ready_after.as_secs_f64()
            ),
            report,
        },
        Err(e) => Formation::Failed(e.to_string()),
    }
}
