//! `redis-stretch status`: the cluster grouped by zone, with the survivability verdict.

use clap::Args;
use redis_stretch_engine::{
    observe, EngineStatus, NodeState, Pool, Snapshot, ZoneState, ZoneStates,
};
use redis_stretch_topology::{summary_line, ZoneVerdict};
use serde::Serialize;

use crate::args::Output;
use crate::error::CliError;
use crate::kube_target::{liveness, KubeTarget, Liveness, Where};
use crate::print::print_snapshot;
use crate::target::{observe_local, Target, TargetArgs, OBSERVE_TIMEOUT};

#[derive(Args)]
pub struct StatusArgs {
    #[command(flatten)]
    pub(crate) target: TargetArgs,
    #[arg(long, value_enum, default_value = "table")]
    output: Output,
}

pub async fn run(args: StatusArgs) -> Result<(), CliError> {
    let mut engine_dir = None;
    let (snap, header) = match args.target.resolve().await? {
        Target::Kube(w, t) => return run_kube(&w, &t, args.output).await,
        Target::Local(dir) => {
            let header = format!("local cluster in {}", dir.path().display());
            let snap = observe_local(&dir).await?;
            engine_dir = Some(dir);
            (snap, header)
        }
        Target::Node(n) => (n.observe().await, format!("cluster of {}", n.seed)),
    };
    match args.output {
        Output::Json => {
            #[derive(Serialize)]
            struct Doc<'a> {
                #[serde(flatten)]
                cluster: StatusJson<'a>,
                #[serde(skip_serializing_if = "Option::is_none")]
                engine: Option<EngineJson>,
            }
            let doc = Doc {
                cluster: StatusJson::from(&snap),
                engine: engine_dir.as_ref().map(engine_json),
            };
            let text =
                serde_json::to_string_pretty(&doc).map_err(|e| CliError::Runtime(e.to_string()))?;
            println!("{text}");
        }
        Output::Table => {
            print_snapshot(&snap, Some(&header));
            if let Some(dir) = &engine_dir {
                print_engine(dir);
            }
        }
    }
    Ok(())
}

/// The engine's status as JSON, with whether it is live.
#[derive(Serialize)]
struct EngineJson {
    live: bool,
    #[serde(flatten)]
    status: Option<EngineStatus>,
}

fn engine_json(dir: &redis_stretch_local::StateDir) -> EngineJson {
    EngineJson {
        live: redis_stretch_local::live_engine(dir).is_some(),
        status: redis_stretch_local::engine_status(dir),
    }
}

/// `dc-a healthy, dc-b dark (1.2 s), …`, with each zone's failback hold-down and flaps.
fn zone_line(zones: &ZoneStates) -> String {
    zones
        .iter()
        .map(|z| {
            let mut s = format!("{} {}", z.zone, z.state.name());
            if let ZoneState::Dark { silent_ms } | ZoneState::Suspect { silent_ms } = z.state {
                s.push_str(&format!(" ({:.1} s)", silent_ms as f64 / 1000.0));
            }
            if z.flaps > 1 {
                s.push_str(&format!(", lost {} times in the flap window", z.flaps));
            }
            if let Some(until) = z.hold_down_until_ms {
                let left = until.saturating_sub(redis_stretch_engine::unix_ms());
                s.push_str(&format!(
                    ", failback hold-down {:.1} s",
                    left as f64 / 1000.0
                ));
            }
            s
        })
        .collect::<Vec<_>>()
        .join("; ")
}

/// What the engine sees, waits for and did last, with reasons.
fn print_engine(dir: &redis_stretch_local::StateDir) {
    let live = redis_stretch_local::live_engine(dir);
    let status = redis_stretch_local::engine_status(dir);
    println!();
    match (live, &status) {
        (Some(pid), Some(s)) => {
            println!("engine: live (pid {pid})");
            println!("  zones: {}", zone_line(&s.zones));
            if let Some(p) = &s.partition {
                println!(
                    "  partition: {} and {} do not hear each other; {} serves every slot ({}), {} is fenced",
                    p.chosen, p.fenced, p.chosen, p.rule, p.fenced
                );
            }
            if let Some(w) = &s.waiting_for {
                println!("  waiting for: {w}");
            }
            for n in &s.notes {
                println!("  note: {n}");
            }
        }
        (None, Some(_)) => println!("engine: not running (last status is stale); start it with `redis-stretch local up -f FILE --detach`"),
        (None, None) | (Some(_), None) => println!("engine: not running"),
    }
    let events = redis_stretch_local::recent_events(dir, 8);
    if !events.is_empty() {
        println!("  last actions:");
        for e in events {
            if e.ok {
                println!("    ok   {}: {}", e.summary, e.why);
            } else {
                println!("    FAIL {}: {} -> {}", e.summary, e.why, e.detail);
            }
        }
    }
}

/// `status --output json` (schema in docs/CLI.md).
#[derive(Serialize)]
struct StatusJson<'a> {
    zones: Vec<ZoneJson<'a>>,
    slots_served: usize,
    /// Slots more than one master claims (both sides of a partition).
    slots_claimed_twice: usize,
    /// How long the zones have not heard each other (every pair across silent with a PING
    /// pending, per Redis's own peer tables), when they have not for a second or more.
    #[serde(skip_serializing_if = "Option::is_none")]
    zones_cut_for_ms: Option<u64>,
    /// Slots whose master accepts writes now (fences and cluster_state included).
    slots_writable: usize,
    verdicts: Vec<ZoneVerdict>,
    summary: String,
}

#[derive(Serialize)]
struct ZoneJson<'a> {
    zone: &'a str,
    nodes: Vec<&'a NodeState>,
}

impl<'a> From<&'a Snapshot> for StatusJson<'a> {
    fn from(snap: &'a Snapshot) -> Self {
        let verdicts = snap.verdicts();
        Self {
            zones: snap
                .zones
                .iter()
                .map(|z| ZoneJson {
                    zone: z,
                    nodes: snap.nodes.iter().filter(|n| &n.zone == z).collect(),
                })
                .collect(),
            slots_served: snap.slots_covered(),
            slots_claimed_twice: snap.slots_claimed_twice(),
            zones_cut_for_ms: redis_stretch_engine::decide::cut_silence_ms(
                snap,
                redis_stretch_engine::unix_ms(),
                1000,
            )
            .filter(|ms| *ms >= 1000),
            slots_writable: snap.slots_writable(),
            summary: summary_line(&verdicts),
            verdicts,
        }
    }
}

/// `status --cluster NAME -n NS`: Redis as it answers now, and what the operator reports.
async fn run_kube(w: &Where<'_>, t: &KubeTarget, output: Output) -> Result<(), CliError> {
    let operator = liveness(w, false).await;
    let zones: Vec<String> = t.spec.zones.iter().map(|z| z.name.clone()).collect();
    let pool = Pool::new(t.password.clone(), OBSERVE_TIMEOUT).with_tls(t.tls.clone());
    let snap = observe(&t.instances, &zones, &pool).await;
    match output {
        Output::Json => {
            let mut doc = serde_json::to_value(StatusJson::from(&snap))
                .map_err(|e| CliError::Runtime(e.to_string()))?;
            if let Some(obj) = doc.as_object_mut() {
                obj.insert(
                    "operator".into(),
                    serde_json::json!({
                        "live": matches!(operator, Liveness::Live(_)),
                        "lease": format!("{operator:?}"),
                        "heldZone": t.held_zone,
                        "status": t.status,
                    }),
                );
            }
            let text =
                serde_json::to_string_pretty(&doc).map_err(|e| CliError::Runtime(e.to_string()))?;
            println!("{text}");
        }
        Output::Table => {
            print_snapshot(
                &snap,
                Some(&format!(
                    "RedisStretchCluster {}/{}",
                    w.namespace, w.cluster
                )),
            );
            println!();
            match &operator {
                Liveness::Live(who) => {
                    println!("operator: live, leader {who}")
                }
                Liveness::Gone(why) => {
                    println!("operator: no live leader ({why})")
                }
                Liveness::Unknown(why) => {
                    println!("operator: unknown ({why})")
                }
            }
            if let Some(z) = &t.held_zone {
                println!(
                    "  hold: {z} is evacuated; `redis-stretch resume --cluster {}` releases it",
                    w.cluster
                );
            }
            for c in t.status.iter().flat_map(|s| &s.conditions) {
                let msg = if c.message.is_empty() {
                    String::new()
                } else {
                    format!(": {}", c.message)
                };
                println!("  {:<19} {:<5} {}{msg}", c.type_, c.status, c.reason);
            }
            let actions: Vec<_> = t
                .status
                .iter()
                .flat_map(|s| &s.last_actions)
                .take(8)
                .collect();
            if !actions.is_empty() {
                println!("  last actions:");
                for a in actions {
                    println!("    {} {} — {}", a.time, a.action, a.reason);
                }
            }
        }
    }
    Ok(())
}
