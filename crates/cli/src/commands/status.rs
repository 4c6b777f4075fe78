//! `redis-stretch status`: the cluster grouped by zone, with the survivability verdict.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use clap::Args;
use redis_stretch_admin::{NodeAddr, Secret};
use redis_stretch_engine::{
    discover, observe, EngineStatus, NodeState, Pool, Snapshot, ZoneState, ZoneStates,
};
use redis_stretch_topology::{format_ranges, summary_line, ZoneVerdict};
use serde::Serialize;

use super::local::{observe_local, state_dir};
use crate::error::CliError;
use crate::table::Table;
use crate::Output;

pub const OBSERVE_TIMEOUT: Duration = Duration::from_millis(500);

#[derive(Args)]
pub struct StatusArgs {
    /// Local cluster to show (default: the default state dir), unless --node is given.
    #[arg(long, env = "REDIS_STRETCH_STATE_DIR")]
    state_dir: Option<PathBuf>,
    /// Any reachable node of a cluster we did not start: host:port.
    #[arg(long)]
    node: Option<String>,
    /// With --node: zone membership, `ZONE=host:port,host:port`; repeat for each zone.
    #[arg(long = "zone-map", value_name = "ZONE=ADDRS")]
    zones: Vec<String>,
    /// With --node: file holding the password (else $REDISCLI_AUTH, else none).
    #[arg(long)]
    password_file: Option<PathBuf>,
    #[command(flatten)]
    kube: super::breakglass::KubeArgs,
    #[arg(long, value_enum, default_value = "table")]
    output: Output,
}

pub async fn run(args: StatusArgs) -> Result<(), CliError> {
    if let Some(w) = args.kube.target() {
        return run_kube(&w, args.output).await;
    }
    let mut engine_dir = None;
    let (snap, header) = match &args.node {
        None => {
            let dir = state_dir(args.state_dir.clone());
            let header = format!("local cluster in {}", dir.path().display());
            let snap = observe_local(&dir).await?;
            engine_dir = Some(dir);
            (snap, header)
        }
        Some(node) => {
            let seed: NodeAddr = node
                .parse()
                .map_err(|e| CliError::Usage(format!("--node: {e}")))?;
            let (zone_names, zone_of) = parse_zone_map(&args.zones)?;
            let password = password_from(args.password_file.as_ref())?;
            let instances = discover(&seed, password.as_ref(), OBSERVE_TIMEOUT, |a| {
                zone_of.get(a).cloned()
            })
            .await?;
            let pool = Pool::new(password, OBSERVE_TIMEOUT);
            let snap = observe(&instances, &zone_names, &pool).await;
            (snap, format!("cluster of {seed}"))
        }
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
                println!("    ok   {}", e.summary);
            } else {
                println!("    FAIL {} -> {}", e.summary, e.detail);
            }
        }
    }
}

pub fn password_from(file: Option<&PathBuf>) -> Result<Option<Secret>, CliError> {
    if let Some(f) = file {
        let p = std::fs::read_to_string(f)
            .map_err(|e| CliError::Usage(format!("--password-file {}: {e}", f.display())))?;
        return Ok(Some(Secret::new(p.trim().to_owned())));
    }
    Ok(std::env::var("REDISCLI_AUTH").ok().map(Secret::new))
}

type ZoneMap = (Vec<String>, BTreeMap<NodeAddr, String>);

pub fn parse_zone_map(specs: &[String]) -> Result<ZoneMap, CliError> {
    let mut names = Vec::new();
    let mut map = BTreeMap::new();
    for s in specs {
        let (zone, addrs) = s.split_once('=').ok_or_else(|| {
            CliError::Usage(format!("--zone-map `{s}`: write ZONE=host:port,host:port"))
        })?;
        names.push(zone.to_owned());
        for a in addrs.split(',').filter(|a| !a.is_empty()) {
            let addr: NodeAddr = a
                .parse()
                .map_err(|e| CliError::Usage(format!("--zone-map {zone}: {e}")))?;
            map.insert(addr, zone.to_owned());
        }
    }
    if names.len() != 2 {
        return Err(CliError::Usage(format!(
            "--node needs the two zones: --zone-map dc-a=host:port,... --zone-map dc-b=host:port,... (got {})",
            names.len()
        )));
    }
    Ok((names, map))
}

fn short_id(id: Option<&str>) -> String {
    id.map_or_else(|| "?".to_owned(), |i| i.chars().take(8).collect())
}

fn master_of(snap: &Snapshot, n: &NodeState) -> String {
    match n.master_id.as_deref() {
        None => "-".to_owned(),
        Some(id) => snap
            .node_by_id(id)
            .and_then(|m| m.addr.as_ref())
            .map_or_else(|| short_id(Some(id)), ToString::to_string),
    }
}

/// The status table: one block per zone, then the verdicts.
pub fn print_snapshot(snap: &Snapshot, header: Option<&str>) {
    if let Some(h) = header {
        let ok = snap
            .nodes
            .iter()
            .filter(|n| n.cluster_state == Some(redis_stretch_admin::ClusterState::Ok))
            .count();
        println!(
            "{h}: {} nodes, cluster_state ok on {ok}, {} of 16384 slots served",
            snap.nodes.len(),
            snap.slots_covered()
        );
    }
    let mut zones = snap.zones.clone();
    for n in &snap.nodes {
        if !zones.contains(&n.zone) {
            zones.push(n.zone.clone());
        }
    }
    for zone in &zones {
        let nodes: Vec<&NodeState> = snap.nodes.iter().filter(|n| &n.zone == zone).collect();
        let masters = nodes.iter().filter(|n| n.owns_slots()).count();
        println!("\n{zone} ({} instances, {masters} masters)", nodes.len());
        let mut t = Table::new(&["ID", "ADDRESS", "ROLE", "MASTER", "SLOTS", "LINK", "STATE"]);
        for n in nodes {
            t.row(vec![
                short_id(n.id.as_deref()),
                n.addr
                    .as_ref()
                    .map_or_else(|| "?".to_owned(), ToString::to_string),
                n.role.map_or("?", |r| r.as_str()).to_owned(),
                master_of(snap, n),
                format_ranges(&n.slots),
                match n.link_up {
                    Some(true) => "up".to_owned(),
                    Some(false) => "down".to_owned(),
                    None => "-".to_owned(),
                },
                match (&n.error, n.reachable) {
                    (_, true) => "up".to_owned(),
                    (Some(e), false) if e.contains("timed out") => "down (timeout)".to_owned(),
                    _ => "down".to_owned(),
                },
            ]);
        }
        print!("{}", t.render(2));
    }
    let verdicts = snap.verdicts();
    println!("\nverdict: {}", summary_line(&verdicts));
    for v in &verdicts {
        println!("  loss of {}: {} ({})", v.zone, v.verdict, v.reason);
    }
}

/// `status --output json` (schema in docs/CLI.md).
#[derive(Serialize)]
struct StatusJson<'a> {
    zones: Vec<ZoneJson<'a>>,
    slots_served: usize,
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
            summary: summary_line(&verdicts),
            verdicts,
        }
    }
}

/// `status --cluster NAME -n NS`: Redis as it answers now, and what the operator reports.
async fn run_kube(
    w: &redis_stretch_operator::outside::Where<'_>,
    output: Output,
) -> Result<(), CliError> {
    let t = super::breakglass::load_kube(w).await?;
    let operator = redis_stretch_operator::outside::liveness(w, false).await;
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
                        "live": matches!(operator, redis_stretch_operator::outside::Liveness::Live(_)),
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
                redis_stretch_operator::outside::Liveness::Live(who) => {
                    println!("operator: live, leader {who}")
                }
                redis_stretch_operator::outside::Liveness::Gone(why) => {
                    println!("operator: no live leader ({why})")
                }
                redis_stretch_operator::outside::Liveness::Unknown(why) => {
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
