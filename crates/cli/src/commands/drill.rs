//! `redis-stretch drill --zone NAME`: the drill scenario (`redis_stretch_drill::scenario`) on a
//! local cluster — break a zone under a continuous write load, bring it back, and report what
//! clients saw: time until every slot took writes again (RTO), the window of failed writes,
//! acknowledged writes lost, cluster checks, and an SVG timeline.
//!
//! `--mode` picks who recovers the cluster: `engine` (ours), `native` (Redis alone: no engine,
//! no fencing), `seed-manual` (the recipe's procedure at machine speed: `CLUSTER FAILOVER
//! TAKEOVER` on one replica of the surviving zone the moment a survivor reports
//! `cluster_state:fail`). The last two are the baselines of `scripts/bench.sh`.

use std::path::PathBuf;

use clap::{Args, ValueEnum};
use redis_stretch_drill::{DrillResult, Recovery, Scenario, ZoneFault};
use redis_stretch_local::{LocalFaults, StateDir};

use crate::args::{FaultSignalArg, Output};
use crate::error::CliError;
use crate::target::state_dir;

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum DrillMode {
    Engine,
    Native,
    SeedManual,
}

impl From<DrillMode> for Recovery {
    fn from(m: DrillMode) -> Self {
        match m {
            DrillMode::Engine => Recovery::Engine,
            DrillMode::Native => Recovery::Native,
            DrillMode::SeedManual => Recovery::SeedManual,
        }
    }
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

/// Run the drill on the local cluster in `dir`.
async fn drill_local(dir: &StateDir, args: &DrillArgs) -> Result<DrillResult, CliError> {
    let fault = ZoneFault::from(args.signal);
    let scenario = Scenario {
        zone: args.zone.clone(),
        fault,
        recovery: args.mode.into(),
        new_addresses: args.new_addresses,
        rto_only: args.rto_only,
        svg: args
            .svg
            .clone()
            .unwrap_or_else(|| dir.file(&format!("drill-{}-{}.svg", args.zone, fault.as_str()))),
    };
    let faults = LocalFaults { dir: dir.clone() };
    redis_stretch_drill::run_drill(&faults, &scenario)
        .await
        .map_err(|e| CliError::drill(e, dir))
}

pub async fn run(args: DrillArgs) -> Result<(), CliError> {
    let dir = state_dir(args.state_dir.clone());
    let r = drill_local(&dir, &args).await?;
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
