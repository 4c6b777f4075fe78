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
use std::time::Duration;

use clap::{Args, ValueEnum};
use redis_stretch_drill::scenario::lab::{run_lab, EnginePlace, LabFault, LabResult, LabScenario};
use redis_stretch_drill::scenario::BlipKind;
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

/// The lab's faults (`--fault`): each reported per side (a writer in each zone and one at a
/// third site) and per shard.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum LabFaultArg {
    /// `--zone` killed (SIGKILL) for `--for`, then restarted.
    Kill,
    /// `--zone` frozen (SIGSTOP) for `--for`, then thawed.
    Stop,
    /// The two zones cut from each other for `--for` (needs `local up --netns`).
    Partition,
    /// `--zone` away for `--for` (`--blip-signal stop|cut`).
    Blip,
    /// Cut and heal every `--period` for `--for`.
    Flap,
    /// The engine stopped, `--zone` killed, a new engine `--restart-after` later.
    EngineRestart,
    /// One instance (`--instance NAME`) killed for `--for`, then restarted.
    Instance,
    /// `--zone` killed for `--for`; once failback into it starts, the other zone killed too.
    LostDuringFailback,
    /// Every instance killed, all restarted on new addresses after `--for`.
    AllRestarted,
    /// The other zone's replica of a `--zone` master restarted empty while that master holds
    /// `--sync-keys` values of `--sync-value-bytes`; `--zone` frozen for `--for` the moment the
    /// replica's full sync is under way.
    LostDuringSync,
    /// `--zone` frozen; at the engine's first takeover it comes back behind a cut between the
    /// zones, healed after `--for`.
    CutDuringTakeover,
    /// A cut for `--for`; the engine (a process of its own) exits right after its first
    /// takeover and a new one starts `--restart-after` later. Try it with
    /// `failover.preferredSide` set to the minority zone.
    EngineCrashInPartition,
    /// Every instance's password changed behind the engine's back, `--zone` killed for
    /// `--for`; the engine restarted with the servers' password `--restart-after` the kill.
    WrongPassword,
    /// The engine's wall clock (libfaketime, the engine process only) stepped `--clock-step`
    /// forward and back, then `--zone` killed for `--for` with the clock stepped again.
    ClockStep,
}

/// Who restarts the instances in `drill --rollout`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum RolloutArg {
    /// The engine's rollout: one instance at a time, replicas first, masters after a graceful
    /// failover, the layout restored at the end.
    Engine,
    /// Today's StatefulSet `RollingUpdate`, emulated: each zone's instances from the highest
    /// ordinal down, both zones at once, the next as soon as the last answers.
    RollingUpdate,
}

#[derive(Args, Clone)]
pub struct DrillArgs {
    /// Change the shard count step by step under the writers (`6,3`: out to 6, back to 3) and
    /// report each step's time and what clients saw (docs/RELIABILITY.md, "Scaling").
    #[arg(long, value_delimiter = ',', value_name = "SHARDS,...")]
    pub scale: Vec<u32>,
    /// With `--scale`: keys written before the writers start, spread over every slot (a
    /// dataset that takes seconds to move).
    #[arg(long, default_value_t = 0)]
    pub preload: u64,
    /// With `--scale`: kill this zone halfway through the first step's migration (SIGKILL),
    /// and restore it after `--down-for`.
    #[arg(long)]
    pub lose_zone: Option<String>,
    #[arg(long, value_name = "DURATION", default_value = "5s", value_parser = super::lab::parse_duration)]
    pub down_for: Duration,
    /// Restart every instance under the writers instead of taking a zone down, and report
    /// what clients saw (docs/RELIABILITY.md).
    #[arg(long, value_enum)]
    pub rollout: Option<RolloutArg>,
    /// With `--rollout engine`: switch to this server in place (Redis 7.2 and older → Valkey).
    #[arg(long, value_enum)]
    pub server: Option<crate::args::ServerArg>,
    /// The zone to take down (every fault but `partition` and `flap`).
    #[arg(long)]
    pub zone: Option<String>,
    /// Run a lab fault instead of the classic drill: writers on each side, figures per side
    /// and shard (docs/LAB.md).
    #[arg(long, value_enum)]
    pub fault: Option<LabFaultArg>,
    /// How long the fault lasts.
    #[arg(long = "for", value_name = "DURATION", default_value = "20s", value_parser = super::lab::parse_duration)]
    pub duration: Duration,
    /// During a partition: `third-site` (the engine reaches both zones) or a zone's name (the
    /// engine sits in it).
    #[arg(long, default_value = "third-site")]
    pub engine_at: String,
    #[arg(long, value_enum, default_value = "stop")]
    pub blip_signal: BlipSignal,
    #[arg(long, value_name = "DURATION", default_value = "3s", value_parser = super::lab::parse_duration)]
    pub period: Duration,
    #[arg(long, value_name = "DURATION", default_value = "5s", value_parser = super::lab::parse_duration)]
    pub restart_after: Duration,
    /// `lost-during-sync`: how many values the master holds (its replica's full sync copies
    /// them all). The master's `maxmemory` must hold them: about keys × (value + 100 B); the
    /// defaults fit the seed's 256mb.
    #[arg(long, default_value_t = 150_000)]
    pub sync_keys: u64,
    /// `lost-during-sync`: each value's size, in bytes.
    #[arg(long, default_value_t = 1000)]
    pub sync_value_bytes: usize,
    /// `clock-step`: how far the engine's wall clock jumps forward (and back).
    #[arg(long, value_name = "DURATION", default_value = "30s", value_parser = super::lab::parse_duration)]
    pub clock_step: Duration,
    /// The instance `--fault instance` kills (`local status` lists them: dc-b-1, ...).
    #[arg(long)]
    pub instance: Option<String>,
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

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum BlipSignal {
    Stop,
    Cut,
}

fn zone_arg(args: &DrillArgs) -> Result<String, CliError> {
    args.zone
        .clone()
        .ok_or_else(|| CliError::Usage("this drill needs --zone NAME".into()))
}

fn lab_fault(args: &DrillArgs, fault: LabFaultArg) -> Result<LabFault, CliError> {
    let secs = args.duration.as_secs_f64();
    Ok(match fault {
        LabFaultArg::Kill | LabFaultArg::Stop => LabFault::Zone {
            zone: zone_arg(args)?,
            secs,
            fault: if fault == LabFaultArg::Kill {
                ZoneFault::Kill
            } else {
                ZoneFault::Stop
            },
        },
        LabFaultArg::Partition => LabFault::Partition {
            secs,
            engine: match args.engine_at.as_str() {
                "third-site" => EnginePlace::ThirdSite,
                z => EnginePlace::Inside(z.to_owned()),
            },
        },
        LabFaultArg::Blip => LabFault::Blip {
            zone: zone_arg(args)?,
            secs,
            kind: match args.blip_signal {
                BlipSignal::Stop => BlipKind::Stop,
                BlipSignal::Cut => BlipKind::Cut,
            },
        },
        LabFaultArg::Flap => LabFault::Flap {
            period_secs: args.period.as_secs_f64(),
            secs,
        },
        LabFaultArg::Instance => LabFault::Instance {
            name: args
                .instance
                .clone()
                .ok_or_else(|| CliError::Usage("--fault instance needs --instance NAME".into()))?,
            secs,
        },
        LabFaultArg::LostDuringFailback => LabFault::LostDuringFailback {
            zone: zone_arg(args)?,
            secs,
        },
        LabFaultArg::AllRestarted => LabFault::AllRestarted { secs },
        LabFaultArg::LostDuringSync => LabFault::LostDuringSync {
            zone: zone_arg(args)?,
            secs,
            keys: args.sync_keys,
            value_bytes: args.sync_value_bytes,
        },
        LabFaultArg::CutDuringTakeover => LabFault::CutDuringTakeover {
            zone: zone_arg(args)?,
            secs,
        },
        LabFaultArg::EngineCrashInPartition => LabFault::EngineCrashInPartition {
            secs,
            after_secs: args.restart_after.as_secs_f64(),
        },
        LabFaultArg::WrongPassword => LabFault::WrongPassword {
            zone: zone_arg(args)?,
            secs,
            after_secs: args.restart_after.as_secs_f64(),
        },
        LabFaultArg::ClockStep => LabFault::ClockStep {
            zone: zone_arg(args)?,
            secs,
            step_secs: args.clock_step.as_secs_f64(),
        },
        LabFaultArg::EngineRestart => LabFault::EngineRestart {
            zone: zone_arg(args)?,
            after_secs: args.restart_after.as_secs_f64(),
            secs,
        },
    })
}

async fn lab_local(
    dir: &StateDir,
    args: &DrillArgs,
    fault: LabFaultArg,
) -> Result<LabResult, CliError> {
    let recovery: Recovery = args.mode.into();
    if recovery == Recovery::SeedManual {
        return Err(CliError::Usage(
            "--fault runs with --mode engine or native".into(),
        ));
    }
    let svg = args.svg.clone().unwrap_or_else(|| {
        dir.file(&format!(
            "drill-{}-{}.svg",
            format!("{fault:?}").to_lowercase(),
            if recovery == Recovery::Engine {
                "engine"
            } else {
                "native"
            }
        ))
    });
    let scenario = LabScenario {
        fault: lab_fault(args, fault)?,
        recovery,
        svg: Some(svg),
    };
    // Engines in a process of their own (a crash point, a stepped clock) run this program.
    let faults = LocalFaults {
        dir: dir.clone(),
        program: std::env::current_exe().ok(),
    };
    run_lab(&faults, &scenario)
        .await
        .map_err(|e| CliError::drill(e, dir))
}

/// Run the drill on the local cluster in `dir`.
async fn drill_local(dir: &StateDir, args: &DrillArgs) -> Result<DrillResult, CliError> {
    let fault = ZoneFault::from(args.signal);
    let zone = zone_arg(args)?;
    let scenario = Scenario {
        zone: zone.clone(),
        fault,
        recovery: args.mode.into(),
        new_addresses: args.new_addresses,
        rto_only: args.rto_only,
        svg: args
            .svg
            .clone()
            .unwrap_or_else(|| dir.file(&format!("drill-{zone}-{}.svg", fault.as_str()))),
    };
    let faults = LocalFaults::new(dir.clone());
    redis_stretch_drill::run_drill(&faults, &scenario)
        .await
        .map_err(|e| CliError::drill(e, dir))
}

pub async fn run(args: DrillArgs) -> Result<(), CliError> {
    let dir = state_dir(args.state_dir.clone());
    if let Some(by) = args.rollout {
        return rollout_local(&dir, &args, by).await;
    }
    if !args.scale.is_empty() {
        return scale_local(&dir, &args).await;
    }
    if let Some(fault) = args.fault {
        let r = lab_local(&dir, &args, fault).await?;
        match args.output {
            Output::Json => println!(
                "{}",
                serde_json::to_string_pretty(&r).map_err(|e| CliError::Runtime(e.to_string()))?
            ),
            Output::Table => print!("{r}"),
        }
        if r.figures.wait_lost() > 0 {
            return Err(CliError::Runtime(format!(
                "{} WAIT-acknowledged writes lost",
                r.figures.wait_lost()
            )));
        }
        return Ok(());
    }
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

/// `drill --scale 6,3`: the shard count changed step by step under the writers.
async fn scale_local(dir: &StateDir, args: &DrillArgs) -> Result<(), CliError> {
    use redis_stretch_drill::scenario::{run_scale, LoseZone};
    let faults = LocalFaults::new(dir.clone());
    let s = Scenario {
        zone: String::new(),
        fault: ZoneFault::Kill,
        recovery: Recovery::Engine,
        new_addresses: false,
        rto_only: false,
        svg: args
            .svg
            .clone()
            .unwrap_or_else(|| dir.file("drill-scale.svg")),
    };
    let lose = args.lose_zone.clone().map(|zone| LoseZone {
        zone,
        down_for: args.down_for,
    });
    let (r, figures) = run_scale(&faults, &s, &args.scale, args.preload, lose)
        .await
        .map_err(|e| CliError::Runtime(e.to_string()))?;
    match args.output {
        Output::Json => println!(
            "{}",
            serde_json::json!({ "report": r.report, "scale": figures })
        ),
        Output::Table => {
            print!("{}", r.report);
            println!(
                "preloaded {} keys in {:.1} s; {} found at the end",
                figures.preloaded_keys,
                figures.preload_ms / 1000.0,
                figures.preloaded_keys_found
            );
            for st in &figures.steps {
                println!(
                    "to {} shards: {:.1} s, {} slots planned, moved by {}",
                    st.to,
                    st.total_ms / 1000.0,
                    st.slots_planned,
                    st.methods.join(" + ")
                );
            }
            if let Some((zone, left)) = &figures.zone_lost {
                println!("{zone} killed with {left} slots left to move");
            }
            println!(
                "longest time one shard refused writes {:.0} ms; {} writes failed",
                figures.longest_shard_outage_ms, figures.failed_writes
            );
            println!("timeline: {}", r.svg.display());
        }
    }
    if r.report.acked_writes_lost > 0 {
        return Err(CliError::Runtime(format!(
            "{} acknowledged writes lost",
            r.report.acked_writes_lost
        )));
    }
    if figures.preloaded_keys_found != figures.preloaded_keys {
        return Err(CliError::Runtime(format!(
            "{} of the {} preloaded keys found at the end",
            figures.preloaded_keys_found, figures.preloaded_keys
        )));
    }
    Ok(())
}

/// `drill --rollout`: every instance restarted under the writers, by the engine or as a
/// StatefulSet `RollingUpdate` would.
async fn rollout_local(dir: &StateDir, args: &DrillArgs, by: RolloutArg) -> Result<(), CliError> {
    use redis_stretch_drill::scenario::{run_rollout, RolloutBy};
    let faults = LocalFaults::new(dir.clone());
    let by = match by {
        RolloutArg::Engine => RolloutBy::Engine,
        RolloutArg::RollingUpdate => RolloutBy::RollingUpdate,
    };
    let name = match by {
        RolloutBy::Engine => "engine",
        RolloutBy::RollingUpdate => "rolling-update",
    };
    let s = Scenario {
        zone: String::new(),
        fault: ZoneFault::Stop,
        recovery: Recovery::Engine,
        new_addresses: false,
        rto_only: false,
        svg: args
            .svg
            .clone()
            .unwrap_or_else(|| dir.file(&format!("drill-rollout-{name}.svg"))),
    };
    let (r, figures) = run_rollout(&faults, &s, by, args.server.map(Into::into))
        .await
        .map_err(|e| CliError::Runtime(e.to_string()))?;
    match args.output {
        Output::Json => println!(
            "{}",
            serde_json::json!({ "report": r.report, "rollout": figures })
        ),
        Output::Table => {
            print!("{}", r.report);
            println!(
                "rollout by {name}: {:.1} s in all; longest time one shard refused writes {:.0} ms; a shard with no copy up in {} of {} samples",
                figures.total_ms / 1000.0,
                figures.longest_shard_outage_ms,
                figures.samples_shard_fully_down,
                figures.samples
            );
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
