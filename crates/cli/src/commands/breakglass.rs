//! Break-glass and maintenance: `takeover`, `failback`, `evacuate`, `resume`. They run the
//! engine's own decide/act with an explicit intent, against a local cluster or straight
//! against Redis addresses (the control plane may be gone in a real DC loss), print what they
//! did and why, and refuse (exit code 3) when it would be unsafe.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use clap::Args;
use redis_stretch_admin::{NodeAddr, Secret};
use redis_stretch_api::{FailbackPolicy, FailoverPolicy, RedisStretchClusterSpec, ZoneSpec};
use redis_stretch_engine::decide::Intent;
use redis_stretch_engine::{
    discover, Engine, EngineConfig, Instance, Pass, Platform, Pool, Snapshot,
};
use redis_stretch_local::{live_engine, LocalPlatform, StateDir};
use redis_stretch_topology::SLOT_COUNT;

use super::local::state_dir;
use super::status::{parse_zone_map, password_from, print_snapshot, OBSERVE_TIMEOUT};
use crate::error::CliError;

/// Which cluster: a local one (state dir), or any reachable node plus a zone map.
#[derive(Args, Clone)]
pub struct TargetArgs {
    #[arg(long, env = "REDIS_STRETCH_STATE_DIR")]
    state_dir: Option<PathBuf>,
    /// Any reachable node of the cluster: host:port (instead of a local state dir).
    #[arg(long)]
    node: Option<String>,
    /// With --node: `ZONE=host:port,host:port`, once per zone.
    #[arg(long = "zone-map", value_name = "ZONE=ADDRS")]
    zone_map: Vec<String>,
    /// With --node: file holding the password (else $REDISCLI_AUTH).
    #[arg(long)]
    password_file: Option<PathBuf>,
    #[command(flatten)]
    pub kube: KubeArgs,
    /// Override the safety checks. Loudly.
    #[arg(long)]
    force: bool,
}

/// A cluster on Kubernetes, found through the API (kubeconfig); Redis is then reached at the
/// pod IPs, so run where the pod network is routable.
#[derive(Args, Clone)]
pub struct KubeArgs {
    /// The RedisStretchCluster's name (instead of --state-dir or --node).
    #[arg(long)]
    pub cluster: Option<String>,
    /// With --cluster: its namespace.
    #[arg(short = 'n', long = "namespace", default_value = "default")]
    pub namespace: String,
    /// With --cluster: the operator's namespace, where its Lease shows whether a leader is live.
    #[arg(long, default_value = "redis-stretch")]
    pub operator_namespace: String,
    #[arg(long, default_value = "redis-stretch-operator")]
    pub lease_name: String,
}

impl KubeArgs {
    pub fn target(&self) -> Option<redis_stretch_operator::outside::Where<'_>> {
        self.cluster
            .as_deref()
            .map(|cluster| redis_stretch_operator::outside::Where {
                cluster,
                namespace: &self.namespace,
                lease_namespace: &self.operator_namespace,
                lease_name: &self.lease_name,
            })
    }
}

/// Read a cluster through the Kubernetes API; pods not yet usable are listed on stderr.
pub async fn load_kube(
    w: &redis_stretch_operator::outside::Where<'_>,
) -> Result<redis_stretch_operator::outside::KubeTarget, CliError> {
    let t = redis_stretch_operator::outside::load(w)
        .await
        .map_err(|e| CliError::Runtime(e.to_string()))?;
    for u in &t.unplaced {
        eprintln!("note: pod {} is not an instance yet: {}", u.pod, u.why);
    }
    Ok(t)
}

struct Target {
    spec: RedisStretchClusterSpec,
    password: Option<Secret>,
    tls: Option<redis_stretch_admin::Tls>,
    dir: Option<StateDir>,
    platform: Box<dyn Platform>,
    /// Another authority that is live now (a local engine, an operator leader), in words.
    live: Option<String>,
}

struct Fixed(Vec<Instance>);

impl Platform for Fixed {
    fn instances(&self) -> Result<Vec<Instance>, String> {
        Ok(self.0.clone())
    }
    fn held_zone(&self) -> Option<String> {
        None
    }
}

async fn resolve(args: &TargetArgs) -> Result<Target, CliError> {
    if let Some(w) = args.kube.target() {
        if args.node.is_some() {
            return Err(CliError::Usage("give --cluster or --node, not both".into()));
        }
        let t = load_kube(&w).await?;
        use redis_stretch_operator::outside::{liveness, Liveness};
        let live = match liveness(&w, true).await {
            Liveness::Live(who) => Some(format!("the operator leader {who}")),
            Liveness::Gone(_) => None,
            // Not knowing is not the same as knowing there is none.
            Liveness::Unknown(why) => Some(format!("possibly an operator leader ({why})")),
        };
        return Ok(Target {
            spec: t.spec,
            password: t.password,
            tls: t.tls,
            dir: None,
            platform: Box::new(Fixed(t.instances)),
            live,
        });
    }
    match &args.node {
        None => {
            let dir = state_dir(args.state_dir.clone());
            let cluster = dir.load_manifest()?;
            Ok(Target {
                spec: cluster.spec().clone(),
                password: dir.password(false)?,
                tls: None,
                platform: Box::new(LocalPlatform { dir: dir.clone() }),
                live: live_engine(&dir).map(|pid| format!("the engine (pid {pid})")),
                dir: Some(dir),
            })
        }
        Some(node) => {
            let seed: NodeAddr = node
                .parse()
                .map_err(|e| CliError::Usage(format!("--node: {e}")))?;
            let (zones, zone_of) = parse_zone_map(&args.zone_map)?;
            let password = password_from(args.password_file.as_ref())?;
            let instances = discover(&seed, password.as_ref(), OBSERVE_TIMEOUT, |a| {
                zone_of.get(a).cloned()
            })
            .await?;
            let pool = Pool::new(password.clone(), OBSERVE_TIMEOUT);
            let snap = redis_stretch_engine::observe(&instances, &zones, &pool).await;
            Ok(Target {
                spec: spec_from_live(&snap, &zones),
                password,
                tls: None,
                dir: None,
                platform: Box::new(Fixed(instances)),
                // Nothing to ask: with bare addresses the human is the authority.
                live: None,
            })
        }
    }
}

/// Without a manifest: today's layout is taken as the preferred one.
fn spec_from_live(snap: &Snapshot, zones: &[String]) -> RedisStretchClusterSpec {
    let masters = snap.masters();
    RedisStretchClusterSpec {
        shards: u32::try_from(masters.len()).unwrap_or(0),
        replicas_per_shard: 1,
        zones: zones
            .iter()
            .map(|z| ZoneSpec {
                name: z.clone(),
                preferred_masters: u32::try_from(masters.iter().filter(|m| &m.zone == z).count())
                    .unwrap_or(0),
            })
            .collect(),
        redis: Default::default(),
        auth: Default::default(),
        failover: Default::default(),
        placement: Default::default(),
        kubernetes: Default::default(),
        tls: Default::default(),
    }
}

fn engine_for(t: &Target) -> Engine {
    Engine::new(&t.spec, t.password.clone(), EngineConfig::for_spec(&t.spec))
        .with_tls(t.tls.clone())
}

fn print_pass(pass: &Pass) {
    for r in &pass.results {
        let mark = if r.ok { "done" } else { "FAILED" };
        println!("{mark}: {} ({} ms) -> {}", r.action, r.took_ms, r.detail);
    }
    for note in &pass.decision.notes {
        println!("note: {note}");
    }
}

fn warn_forced(what: &str) {
    eprintln!("WARNING: --force: {what}. You are now the authority; make sure nothing else acts on this cluster.");
}

/// Refuse while a live engine is in charge of this decision.
fn check_engine(t: &Target, force: bool, automatic: bool, what: &str) -> Result<(), CliError> {
    let Some(live) = &t.live else {
        return Ok(());
    };
    if !automatic {
        return Ok(());
    }
    if force {
        warn_forced(&format!("acting although {live} is live"));
        return Ok(());
    }
    Err(CliError::Refused(format!(
        "{live} is live and in charge, and does {what} itself (policy Automatic); two authorities could act at once. Use --force only if it is wedged."
    )))
}

pub async fn takeover(survivor: &str, args: &TargetArgs) -> Result<(), CliError> {
    let t = resolve(args).await?;
    let Some(lost) = t.spec.other_zone(survivor).map(str::to_owned) else {
        return Err(CliError::Usage(format!(
            "--zone {survivor}: not a zone of this cluster"
        )));
    };
    check_engine(
        &t,
        args.force,
        t.spec.failover.policy == FailoverPolicy::Automatic,
        "takeovers",
    )?;
    let mut engine = engine_for(&t);
    let pool = Pool::new(t.password.clone(), Duration::from_millis(300)).with_tls(t.tls.clone());
    let instances = t.platform.instances().map_err(CliError::Runtime)?;
    let zones: Vec<String> = t.spec.zones.iter().map(|z| z.name.clone()).collect();
    let snap = redis_stretch_engine::observe(&instances, &zones, &pool).await;
    let answering = snap
        .nodes
        .iter()
        .filter(|n| n.zone == lost && n.reachable)
        .count();
    if answering > 0 {
        if !args.force {
            return Err(CliError::Refused(format!(
                "{answering} instance(s) of {lost} still answer: {lost} is not lost, and a takeover now could leave both zones accepting writes. Use --force if {lost} is being torn down anyway."
            )));
        }
        warn_forced(&format!(
            "taking over although {answering} instance(s) of {lost} answer"
        ));
    }
    println!("taking over every shard whose master is in {lost}, in {survivor}");
    let start = Instant::now();
    let pass = engine
        .run_until(
            t.platform.as_ref(),
            Intent::Takeover {
                survivor: survivor.to_owned(),
            },
            Duration::from_secs(30),
            print_pass,
        )
        .await
        .map_err(|e| CliError::Runtime(e.to_string()))?;
    println!();
    print_snapshot(&pass.snapshot, Some("after takeover"));
    if pass.snapshot.slots_covered() == usize::from(SLOT_COUNT) {
        println!(
            "\nevery slot has a master in {survivor} after {:.2}s",
            start.elapsed().as_secs_f64()
        );
        Ok(())
    } else {
        Err(CliError::Runtime(format!(
            "{} of {SLOT_COUNT} slots served after {:.1}s; see the notes above",
            pass.snapshot.slots_covered(),
            start.elapsed().as_secs_f64()
        )))
    }
}

/// Run `intent` until decide says it is settled, printing every action.
async fn converge(t: &Target, intent: Intent, limit: Duration) -> Result<Pass, CliError> {
    engine_for(t)
        .run_until(t.platform.as_ref(), intent, limit, print_pass)
        .await
        .map_err(|e| CliError::Runtime(e.to_string()))
}

pub async fn failback(args: &TargetArgs) -> Result<(), CliError> {
    let t = resolve(args).await?;
    check_engine(
        &t,
        args.force,
        t.spec.failover.failback == FailbackPolicy::Automatic,
        "failback",
    )?;
    let pass = converge(&t, Intent::Failback, Duration::from_secs(120)).await?;
    println!();
    print_snapshot(&pass.snapshot, Some("after failback"));
    Ok(())
}

pub async fn evacuate(zone: &str, args: &TargetArgs) -> Result<(), CliError> {
    let t = resolve(args).await?;
    if t.spec.other_zone(zone).is_none() {
        return Err(CliError::Usage(format!(
            "--zone {zone}: not a zone of this cluster"
        )));
    }
    // Hold first, so a live engine does not fail masters back while we move them out.
    match (&t.dir, args.kube.target()) {
        (Some(dir), _) => {
            let mut state = dir.load()?;
            state.held_zone = Some(zone.to_owned());
            dir.save(&state)?;
            println!("{zone} held: no failback into it until `redis-stretch resume`");
        }
        (None, Some(w)) => {
            redis_stretch_operator::outside::set_hold(&w, Some(zone))
                .await
                .map_err(|e| CliError::Runtime(e.to_string()))?;
            println!("{zone} held (annotation on the RedisStretchCluster): no failback into it until `redis-stretch resume`");
        }
        (None, None) => println!(
            "note: no local state: nothing records the hold; an engine with automatic failback may move masters back"
        ),
    }
    let pass = converge(
        &t,
        Intent::Evacuate {
            zone: zone.to_owned(),
        },
        Duration::from_secs(120),
    )
    .await?;
    println!();
    print_snapshot(&pass.snapshot, Some(&format!("after evacuating {zone}")));
    Ok(())
}

pub async fn resume(args: &TargetArgs) -> Result<(), CliError> {
    if let Some(w) = args.kube.target() {
        redis_stretch_operator::outside::set_hold(&w, None)
            .await
            .map_err(|e| CliError::Runtime(e.to_string()))?;
        println!("hold released: the operator may fail masters back again");
        return Ok(());
    }
    let dir = state_dir(args.state_dir.clone());
    let mut state = dir.load()?;
    match state.held_zone.take() {
        Some(z) => {
            dir.save(&state)?;
            println!("{z} released: the engine may fail masters back into it again");
        }
        None => println!("no zone was held"),
    }
    Ok(())
}
