//! Forming a new cluster on Kubernetes: once every planned pod answers and none holds any
//! cluster state, bootstrap it (the same bootstrap as local mode). Never on a cluster that
//! exists: a single node serving slots means the engine, not a bootstrap, is in charge.

use std::collections::BTreeMap;
use std::time::Duration;

use redis_stretch_admin::{Secret, Tls};
use redis_stretch_api::ValidatedCluster;
use redis_stretch_engine::{bootstrap, observe, Instance, Platform, Pool};
use redis_stretch_topology::{hosts_needed, plan};

pub enum Formation {
    /// Some node serves slots: the cluster exists.
    Formed,
    /// Not every planned instance is there and answering yet.
    Waiting(String),
    Bootstrapped(String),
    Failed(String),
}

const BOOTSTRAP_TIMEOUT: Duration = Duration::from_secs(60);

pub async fn form(
    cluster: &ValidatedCluster,
    instances: &[Instance],
    pool: &Pool,
    password: Option<&Secret>,
    tls: Option<&Tls>,
    platform: &dyn Platform,
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
                "{zone} has {} of its {need} pods with an address; the cluster is formed once all are up",
                have.len()
            ));
        }
        hosts.insert(zone, have);
    }
    if let Some(n) = snap.nodes.iter().find(|n| n.name.is_some() && !n.reachable) {
        return Formation::Waiting(format!(
            "pod {} does not answer yet: {}",
            n.name.as_deref().unwrap_or_default(),
            n.error.as_deref().unwrap_or("no reply")
        ));
    }
    if !platform.may_act() {
        return Formation::Waiting("not the leader: another replica forms the cluster".to_owned());
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
    let planned: Vec<Instance> = instances.to_vec();
    match bootstrap(&the_plan, &planned, password, tls, BOOTSTRAP_TIMEOUT).await {
        Ok(r) => Formation::Bootstrapped(format!(
            "cluster formed on {} pods: meshed after {:.2} s, failover-ready after {:.2} s",
            the_plan.instances().count(),
            r.meshed_after.as_secs_f64(),
            r.ready_after.as_secs_f64()
        )),
        Err(e) => Formation::Failed(e.to_string()),
    }
}
