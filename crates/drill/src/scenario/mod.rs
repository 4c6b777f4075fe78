//! The drill scenario: break a zone under a continuous write load, bring it back, and report
//! what clients saw — time until every slot took writes again (RTO), the window of failed
//! writes, acknowledged writes lost, cluster checks, and an SVG timeline.
//!
//! [`Recovery`] picks who recovers the cluster: `Engine` (ours), `Native` (Redis alone: no
//! engine, no fencing), `SeedManual` (the recipe's procedure at machine speed: `CLUSTER
//! FAILOVER TAKEOVER` on one replica of the surviving zone the moment a survivor reports
//! `cluster_state:fail`). The last two are the baselines of `scripts/bench.sh`.
//!
//! The platform is reached only through [`Faults`]: the scenario takes zones down and brings
//! them back, and starts or watches the engine, without knowing how.

mod error;
mod faults;
pub mod lab;
mod rollout;
mod scale;
mod seed_manual;
mod settle;

use std::path::PathBuf;
use std::time::{Duration, Instant};

use redis_stretch_admin::{NodeAddr, Secret};
use redis_stretch_api::RedisStretchClusterSpec;
use redis_stretch_topology::Role;

use crate::{cluster_check, svg, verify, DrillConfig, DrillReport, Workload};
pub use error::ScenarioError;
pub use faults::{
    BlipKind, EngineProcess, EngineProcessOptions, EngineStop, Faults, Layout, NetFaults, ZoneFault,
};
pub use rollout::{run_rollout, RolloutBy, RolloutFigures, Rollouts};
pub use scale::{run_scale, LoseZone, ScaleFigures, ScaleStep, Scales};
use settle::{engine_idle, settled, snapshot, wait_for};

/// Who recovers the cluster.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Recovery {
    /// Our engine: the one running, or one started in this process for the drill.
    Engine,
    /// Redis alone.
    Native,
    /// Redis alone plus the recipe's TAKEOVER, sent the moment a survivor reports `fail`.
    SeedManual,
}

/// One drill.
#[derive(Clone, Debug)]
pub struct Scenario {
    /// The zone to take down.
    pub zone: String,
    pub fault: ZoneFault,
    pub recovery: Recovery,
    /// Bring the zone back on new addresses (pods back with new IPs).
    pub new_addresses: bool,
    /// Stop once every slot is writable again: no restore, no failback, no final cluster
    /// check (the zone stays down).
    pub rto_only: bool,
    /// Where the SVG timeline goes.
    pub svg: PathBuf,
}

/// What a drill measured, and where its timeline is.
pub struct DrillResult {
    pub report: DrillReport,
    pub svg: PathBuf,
}

/// How long to wait for the cluster to settle before the drill, and to recover after it.
pub(super) const SETTLE_BEFORE: Duration = Duration::from_secs(30);
const RECOVER_LIMIT: Duration = Duration::from_secs(60);
/// How long a started engine gets to reach its steady state before the fault.
const ENGINE_IDLE_LIMIT: Duration = Duration::from_secs(20);

/// Run one drill on the cluster behind `faults`.
pub async fn run_drill<F: Faults>(
    faults: &F,
    s: &Scenario,
) -> Result<DrillResult, ScenarioError<F::Error>> {
    let layout = faults.layout().map_err(ScenarioError::Platform)?;
    let spec = faults.spec().map_err(ScenarioError::Platform)?;
    let password = faults.password().map_err(ScenarioError::Platform)?;
    let Some(survivor) = spec.other_zone(&s.zone).map(str::to_owned) else {
        return Err(ScenarioError::UnknownZone(s.zone.clone()));
    };
    let live = faults.engine_live();
    if s.recovery != Recovery::Engine && live.is_some() {
        return Err(ScenarioError::LiveEngine);
    }
    wait_for(faults, password.as_ref(), SETTLE_BEFORE, "settled", settled).await?;

    let (engine_stop, cfg, workload) = begin(
        faults,
        &layout,
        password.as_ref(),
        s.recovery == Recovery::Engine,
    )
    .await?;

    let mut seed_task = None;
    if s.recovery == Recovery::SeedManual {
        let survivors = survivors(&snapshot(faults, password.as_ref()).await?, &survivor);
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let task = seed_manual::seed_manual(survivors, password.clone(), rx);
        seed_task = Some((tokio::spawn(task), tx));
    }
    let killed_at = Instant::now();
    workload.mark_fault(&format!(
        "{} {}",
        s.zone,
        match s.fault {
            ZoneFault::Kill => "killed",
            ZoneFault::Stop => "frozen",
        }
    ));
    faults
        .take_down(&s.zone, s.fault)
        .map_err(ScenarioError::Platform)?;
    let recovered = workload.wait_all_writable(killed_at, RECOVER_LIMIT).await;
    if let Some((task, tx)) = seed_task.take() {
        let _ = tx.send(());
        if let Ok(Some(after)) = task.await {
            workload.mark(&format!(
                "seed TAKEOVER sent (+{:.2}s)",
                after.as_secs_f64()
            ));
        }
    }
    if recovered.is_some() {
        workload.mark("all slots writable");
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    if s.rto_only {
        return finish(
            faults,
            s,
            workload,
            &cfg,
            engine_stop,
            password.as_ref(),
            false,
        )
        .await;
    }

    workload.mark_fault(&format!("{} restored", s.zone));
    faults
        .bring_back(&s.zone, s.new_addresses)
        .await
        .map_err(ScenarioError::Platform)?;
    match s.recovery {
        Recovery::Engine => {
            wait_for(
                faults,
                password.as_ref(),
                RECOVER_LIMIT,
                "failed back",
                |snap| settled(snap) && as_preferred(snap, &spec),
            )
            .await?;
            workload.mark("failback done");
        }
        Recovery::Native | Recovery::SeedManual => {
            wait_for(faults, password.as_ref(), RECOVER_LIMIT, "settled", settled).await?;
            workload.mark("zone back (no failback without the engine)");
        }
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    finish(
        faults,
        s,
        workload,
        &cfg,
        engine_stop,
        password.as_ref(),
        true,
    )
    .await
}

/// Where every drill begins, the cluster settled: with `engine`, our engine running (started
/// in this process unless one already runs detached) and in the steady state it keeps
/// (fenced, as preferred); then the writers, for a second.
pub(super) async fn begin<F: Faults>(
    faults: &F,
    layout: &Layout,
    password: Option<&Secret>,
    engine: bool,
) -> Result<(Option<EngineStop>, DrillConfig, Workload), ScenarioError<F::Error>> {
    let mut engine_stop = None;
    if engine {
        if faults.engine_live().is_none() {
            engine_stop = Some(faults.start_engine());
        }
        let start = Instant::now();
        while !engine_idle(faults) && start.elapsed() < ENGINE_IDLE_LIMIT {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    let seeds: Vec<NodeAddr> = layout.instances.iter().map(|i| i.addr.clone()).collect();
    let cfg = DrillConfig::new(seeds, password.cloned());
    let workload = Workload::start(cfg.clone()).await?;
    tokio::time::sleep(Duration::from_secs(1)).await;
    Ok((engine_stop, cfg, workload))
}

/// The surviving zone's instances, each with whether it is a replica now.
fn survivors(snap: &redis_stretch_engine::Snapshot, survivor: &str) -> Vec<(NodeAddr, bool)> {
    snap.nodes
        .iter()
        .filter(|n| n.zone == survivor)
        .filter_map(|n| Some((n.addr.clone()?, n.role == Some(Role::Replica))))
        .collect()
}

/// Every zone holds its preferred number of masters.
pub(super) fn as_preferred(
    snap: &redis_stretch_engine::Snapshot,
    spec: &RedisStretchClusterSpec,
) -> bool {
    spec.zones.iter().all(|z| {
        snap.masters().iter().filter(|m| m.zone == z.name).count() == z.preferred_masters as usize
    })
}

/// How long a check may wait for gossip to settle: a failover spreads in about a second, and a
/// check run the moment failback completes may catch one node's view a beat behind.
const CHECK_SETTLE: Duration = Duration::from_secs(5);

/// The cluster check, repeated until clean or for [`CHECK_SETTLE`]: a cluster that has not
/// converged by then is not clean; one that converged says after how long.
pub(super) async fn settled_check(addr: &NodeAddr, password: Option<&Secret>) -> (bool, String) {
    let start = Instant::now();
    loop {
        let (clean, summary) = cluster_check(addr, password).await;
        if clean {
            let waited = start.elapsed();
            return if waited >= Duration::from_millis(200) {
                (
                    true,
                    format!("{summary} (after {:.1} s of gossip)", waited.as_secs_f64()),
                )
            } else {
                (true, summary)
            };
        }
        if start.elapsed() >= CHECK_SETTLE {
            return (false, summary);
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// Stop the writers, read back, check the cluster (unless a zone is still down: redis-cli
/// would wait on it), and draw the timeline.
async fn finish<F: Faults>(
    faults: &F,
    s: &Scenario,
    workload: Workload,
    cfg: &DrillConfig,
    engine_stop: Option<EngineStop>,
    password: Option<&Secret>,
    check: bool,
) -> Result<DrillResult, ScenarioError<F::Error>> {
    let recorded = workload.stop().await?;
    if let Some(stop) = engine_stop {
        stop.stop();
    }
    let mut report = verify(&recorded, cfg).await?;
    let now = faults.layout().map_err(ScenarioError::Platform)?;
    let zones = if check { now.zones.clone() } else { Vec::new() };
    for zone in &zones {
        if let Some(i) = now.instances.iter().find(|i| &i.zone == zone) {
            let (clean, summary) = settled_check(&i.addr, password).await;
            report
                .cluster_check
                .push((format!("end, from {zone} ({})", i.addr), clean, summary));
        }
    }
    std::fs::write(&s.svg, svg::render(&report)).map_err(|source| ScenarioError::Svg {
        path: s.svg.clone(),
        source,
    })?;
    Ok(DrillResult {
        report,
        svg: s.svg.clone(),
    })
}
