//! `redis-stretch drill --zone NAME`: break a zone of a local cluster under a continuous write
//! load, bring it back, and report what clients saw: time until every slot took writes again
//! (RTO), the window of failed writes, acknowledged writes lost, cluster checks, and an SVG
//! timeline.
//!
//! `--mode` picks who recovers the cluster: `engine` (ours), `native` (Redis alone: no engine,
//! no fencing), `seed-manual` (the recipe's procedure at machine speed: `CLUSTER FAILOVER
//! TAKEOVER` on one replica of the surviving zone the moment a survivor reports
//! `cluster_state:fail`). The last two are the baselines of `scripts/bench.sh`.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use clap::{Args, ValueEnum};
use redis_stretch_admin::{AdminClient, ClusterState, FailoverMode, NodeAddr, Secret};
use redis_stretch_drill::{cluster_check, svg, verify, DrillConfig, DrillReport, Workload};
use redis_stretch_engine::{observe, Pool, Snapshot, Waiting};
use redis_stretch_local::{
    engine_status, find_redis_server, kill_zone, live_engine, restore_zone, FaultSignal, StateDir,
};
use redis_stretch_topology::SLOT_COUNT;
use tokio::sync::oneshot;

use super::local::state_dir;
use crate::error::CliError;
use crate::{FaultSignalArg, Output};

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum DrillMode {
    Engine,
    Native,
    SeedManual,
}

#[derive(Args, Clone)]
pub struct DrillArgs {
    /// The zone to take down.
    #[arg(long)]
    pub zone: String,
    #[arg(long, value_enum, default_value = "kill")]
    pub signal: FaultSignalArg,
    #[arg(long, value_enum, default_value = "engine")]
    pub mode: DrillMode,
    /// Restore the zone on new addresses (pods back with new IPs).
    #[arg(long)]
    pub new_addresses: bool,
    /// Stop once every slot is writable again: no restore, no failback, no final cluster check
    /// (the zone stays down). For RTO benchmarks.
    #[arg(long)]
    pub rto_only: bool,
    /// Where to write the SVG timeline (default: drill-<zone>-<signal>.svg in the state dir).
    #[arg(long)]
    pub svg: Option<PathBuf>,
    #[arg(long, value_enum, default_value = "table")]
    pub output: Output,
    #[arg(long, env = "REDIS_STRETCH_STATE_DIR")]
    pub state_dir: Option<PathBuf>,
}

pub struct DrillResult {
    pub report: DrillReport,
    pub svg: PathBuf,
}

async fn snapshot(dir: &StateDir, password: Option<&Secret>) -> Result<Snapshot, CliError> {
    let (state, instances, _) = redis_stretch_local::instances(dir)?;
    let pool = Pool::new(password.cloned(), Duration::from_millis(300));
    Ok(observe(&instances, &state.zones, &pool).await)
}

async fn wait_for(
    dir: &StateDir,
    password: Option<&Secret>,
    limit: Duration,
    what: &str,
    ok: impl Fn(&Snapshot) -> bool,
) -> Result<(), CliError> {
    let start = Instant::now();
    loop {
        if ok(&snapshot(dir, password).await?) {
            return Ok(());
        }
        if start.elapsed() > limit {
            let engine = engine_status(dir)
                .and_then(|s| s.waiting_for.map(|w| w.to_string()))
                .unwrap_or_else(|| "no engine status".into());
            return Err(CliError::Runtime(format!(
                "drill: not {what} after {}s; engine waiting for: {engine}; see `redis-stretch status --state-dir {}`",
                limit.as_secs(),
                dir.path().display()
            )));
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn settled(s: &Snapshot) -> bool {
    s.nodes
        .iter()
        .all(|n| n.reachable && n.slots_assigned == Some(u32::from(SLOT_COUNT)))
        && s.slots_covered() == usize::from(SLOT_COUNT)
        && s.nodes
            .iter()
            .filter(|n| n.role == Some(redis_stretch_topology::Role::Replica))
            .all(|n| n.link_up == Some(true))
}

fn engine_idle(dir: &StateDir) -> bool {
    engine_status(dir).is_some_and(|s| s.waiting_for == Some(Waiting::AsPreferred))
}

/// The recipe's procedure, at machine speed: watch a survivor; once it reports
/// `cluster_state:fail`, send TAKEOVER to one replica there.
async fn seed_manual(
    survivors: Vec<(NodeAddr, bool)>,
    password: Option<Secret>,
    stop: oneshot::Receiver<()>,
) -> Option<Duration> {
    let start = Instant::now();
    let watch = survivors.first()?.0.clone();
    let replica = survivors
        .iter()
        .find(|(_, is_replica)| *is_replica)?
        .0
        .clone();
    tokio::pin!(stop);
    loop {
        let client =
            AdminClient::connect(&watch, password.as_ref(), Duration::from_millis(200)).await;
        if let Ok(c) = client {
            if let Ok(info) = c.cluster_info().await {
                if info.state == ClusterState::Fail {
                    let r = AdminClient::connect(
                        &replica,
                        password.as_ref(),
                        Duration::from_millis(500),
                    )
                    .await;
                    if let Ok(r) = r {
                        let _ = r.failover(FailoverMode::Takeover).await;
                    }
                    return Some(start.elapsed());
                }
            }
        }
        tokio::select! {
            _ = &mut stop => return None,
            _ = tokio::time::sleep(Duration::from_millis(10)) => {}
        }
    }
}

pub async fn run_drill(args: &DrillArgs) -> Result<DrillResult, CliError> {
    let dir = state_dir(args.state_dir.clone());
    let state = dir.load()?;
    let cluster = dir.load_manifest()?;
    let password = dir.password(false)?;
    let Some(survivor) = cluster.spec().other_zone(&args.zone).map(str::to_owned) else {
        return Err(CliError::Usage(format!(
            "--zone {}: not a zone of this cluster",
            args.zone
        )));
    };
    let live = live_engine(&dir);
    if args.mode != DrillMode::Engine && live.is_some() {
        return Err(CliError::Refused(
            "a live engine runs on this cluster; baselines need Redis alone: start the cluster with `local up --no-engine`".into(),
        ));
    }
    wait_for(
        &dir,
        password.as_ref(),
        Duration::from_secs(30),
        "settled",
        settled,
    )
    .await?;

    // Our engine, in this process, unless one already runs detached.
    let mut engine_stop = None;
    if args.mode == DrillMode::Engine {
        if live.is_none() {
            let (tx, rx) = oneshot::channel::<()>();
            let d = dir.clone();
            tokio::spawn(async move {
                let _ = super::engine::run(&d, async {
                    let _ = rx.await;
                })
                .await;
            });
            engine_stop = Some(tx);
        }
        // Start from the steady state the engine keeps (fenced, as preferred).
        let start = Instant::now();
        while !engine_idle(&dir) && start.elapsed() < Duration::from_secs(20) {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    let seeds: Vec<NodeAddr> = state.instances.iter().map(|i| i.addr()).collect();
    let cfg = DrillConfig::new(seeds, password.clone());
    let workload = Workload::start(cfg.clone())
        .await
        .map_err(|e| CliError::Runtime(e.to_string()))?;
    tokio::time::sleep(Duration::from_secs(1)).await;

    let sig = match args.signal {
        FaultSignalArg::Kill => FaultSignal::Kill,
        FaultSignalArg::Stop => FaultSignal::Stop,
    };
    let mut seed_task = None;
    if args.mode == DrillMode::SeedManual {
        let snap = snapshot(&dir, password.as_ref()).await?;
        let survivors: Vec<(NodeAddr, bool)> = snap
            .nodes
            .iter()
            .filter(|n| n.zone == survivor)
            .filter_map(|n| {
                Some((
                    n.addr.clone()?,
                    n.role == Some(redis_stretch_topology::Role::Replica),
                ))
            })
            .collect();
        let (tx, rx) = oneshot::channel::<()>();
        let pw = password.clone();
        seed_task = Some((tokio::spawn(seed_manual(survivors, pw, rx)), tx));
    }
    let killed_at = Instant::now();
    workload.mark_fault(&format!(
        "{} {}",
        args.zone,
        if sig == FaultSignal::Kill {
            "killed"
        } else {
            "frozen"
        }
    ));
    kill_zone(&dir, &args.zone, sig)?;
    let recovered = workload
        .wait_all_writable(killed_at, Duration::from_secs(60))
        .await;
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
    if args.rto_only {
        return finish(args, &dir, workload, &cfg, engine_stop, sig, false).await;
    }

    workload.mark_fault(&format!("{} restored", args.zone));
    restore_zone(&dir, &args.zone, args.new_addresses, &find_redis_server()?).await?;
    let limit = Duration::from_secs(60);
    match args.mode {
        DrillMode::Engine => {
            wait_for(&dir, password.as_ref(), limit, "failed back", |s| {
                settled(s)
                    && cluster.spec().zones.iter().all(|z| {
                        s.masters().iter().filter(|m| m.zone == z.name).count()
                            == z.preferred_masters as usize
                    })
            })
            .await?;
            workload.mark("failback done");
        }
        DrillMode::Native | DrillMode::SeedManual => {
            wait_for(&dir, password.as_ref(), limit, "settled", settled).await?;
            workload.mark("zone back (no failback without the engine)");
        }
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    finish(args, &dir, workload, &cfg, engine_stop, sig, true).await
}

/// Stop the writers, read back, check the cluster (unless a zone is still down: redis-cli
/// would wait on it), and draw the timeline.
async fn finish(
    args: &DrillArgs,
    dir: &StateDir,
    workload: Workload,
    cfg: &DrillConfig,
    engine_stop: Option<oneshot::Sender<()>>,
    sig: FaultSignal,
    check: bool,
) -> Result<DrillResult, CliError> {
    let password = dir.password(false)?;
    let recorded = workload
        .stop()
        .await
        .map_err(|e| CliError::Runtime(e.to_string()))?;
    if let Some(tx) = engine_stop {
        let _ = tx.send(());
    }
    let mut report = verify(&recorded, cfg)
        .await
        .map_err(|e| CliError::Runtime(e.to_string()))?;
    let now = redis_stretch_local::instances(dir)?.0;
    let zones = if check { now.zones.clone() } else { Vec::new() };
    for zone in &zones {
        if let Some(i) = now.instances.iter().find(|i| &i.zone == zone) {
            let (clean, summary) = cluster_check(&i.addr(), password.as_ref()).await;
            report
                .cluster_check
                .push((format!("end, from {zone} ({})", i.addr()), clean, summary));
        }
    }
    let signal = if sig == FaultSignal::Kill {
        "kill"
    } else {
        "stop"
    };
    let svg_path = args
        .svg
        .clone()
        .unwrap_or_else(|| dir.file(&format!("drill-{}-{signal}.svg", args.zone)));
    std::fs::write(&svg_path, svg::render(&report))
        .map_err(|e| CliError::Runtime(format!("{}: {e}", svg_path.display())))?;
    Ok(DrillResult {
        report,
        svg: svg_path,
    })
}

pub async fn run(args: DrillArgs) -> Result<(), CliError> {
    let r = run_drill(&args).await?;
    match args.output {
        Output::Json => println!(
            "{}",
            serde_json::to_string_pretty(&r.report)
                .map_err(|e| CliError::Runtime(e.to_string()))?
        ),
        Output::Table => {
            print!("{}", r.report);
            println!("timeline: {}", r.svg.display());
        }
    }
    if r.report.acked_writes_lost > 0 {
        return Err(CliError::Runtime(format!(
            "{} acknowledged writes lost",
            r.report.acked_writes_lost
        )));
    }
    Ok(())
}
