//! Break-glass and maintenance: `takeover`, `failback`, `evacuate`, `resume`. They run the
//! engine's own decide/act with an explicit intent, against a local cluster or straight
//! against Redis addresses (the control plane may be gone in a real DC loss), print what they
//! did and why, and refuse (exit code 3) when it would be unsafe.
//!
//! On a local cluster such a command is an engine too, so it holds the cluster's engine lock
//! while it acts: it stands in for the detached engine (stops it, acts alone from its memory,
//! starts it again) and is refused while an engine runs in the foreground of another command.
//! Two engines at once would both take over a DC that goes dark meanwhile, and overwrite each
//! other's memory.

use std::time::{Duration, Instant};

use clap::Args;
use redis_stretch_admin::Secret;
use std::path::PathBuf;

use redis_stretch_api::{
    migration_allowed, with_server, FailbackPolicy, FailoverPolicy, RedisStretchClusterSpec,
    ServerFlavour, ZoneSpec,
};
use redis_stretch_engine::decide::Intent;
use redis_stretch_engine::{Engine, EngineConfig, Instance, Pass, Platform, Pool, Snapshot};
use redis_stretch_local::{stand_in, EngineLock, Holder, LocalError, LocalPlatform, StateDir};
use redis_stretch_topology::SLOT_COUNT;

use crate::detached;
use crate::error::CliError;
use crate::kube_target::{liveness, set_hold, Liveness, Where};
use crate::print::print_snapshot;
use crate::signal::shutdown_signal;
use crate::target::{Target, TargetArgs};

/// Which cluster, and whether to override the safety checks.
#[derive(Args, Clone)]
pub struct BreakGlassArgs {
    #[command(flatten)]
    pub(crate) target: TargetArgs,
    /// Override the safety checks. Loudly.
    #[arg(long)]
    force: bool,
}

/// A cluster resolved for a break-glass command.
struct Cluster<'a> {
    spec: RedisStretchClusterSpec,
    password: Option<Secret>,
    tls: Option<redis_stretch_admin::Tls>,
    /// Where a hold is recorded: the state dir, or the custom resource.
    hold: Hold<'a>,
    platform: Box<dyn Platform>,
    /// Another authority that is live now (a local engine, an operator leader), in words.
    live: Option<String>,
    authority: Authority,
}

/// Who may act on the cluster while this command runs.
enum Authority {
    /// Kubernetes or bare addresses: nothing to lock (`live` says whether a leader is live).
    Unlocked,
    /// This command holds the local engine lock (held, never read): nothing else acts while
    /// it runs.
    Locked { _held: EngineLock },
    /// A local engine holds the lock: the detached one (its pid), which this command may stand
    /// in for, or one in the foreground of another command.
    Engine {
        dir: StateDir,
        holder: Holder,
        detached: Option<u32>,
    },
}

/// How long a break-glass command waits for a free engine lock (a probe holds it for
/// microseconds) before it counts it as held.
const LOCK_PATIENCE: Duration = Duration::from_millis(200);

enum Hold<'a> {
    Local(StateDir),
    Kube(Where<'a>),
    Nowhere,
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

/// The cluster `args` names; `what` (this command, in words) is written into a local
/// cluster's engine lock when this command takes it.
async fn resolve<'a>(args: &'a TargetArgs, what: &str) -> Result<Cluster<'a>, CliError> {
    match args.resolve().await? {
        Target::Kube(w, t) => {
            let live = match liveness(&w, true).await {
                Liveness::Live(who) => Some(format!("the operator leader {who}")),
                Liveness::Gone(_) => None,
                // Not knowing is not the same as knowing there is none.
                Liveness::Unknown(why) => Some(format!("possibly an operator leader ({why})")),
            };
            let t = *t;
            Ok(Cluster {
                spec: t.spec,
                password: t.password,
                tls: t.tls,
                hold: Hold::Kube(w),
                platform: Box::new(Fixed(t.instances)),
                live,
                authority: Authority::Unlocked,
            })
        }
        Target::Local(dir) => {
            let cluster = dir.load_manifest()?;
            let (authority, live) = match EngineLock::acquire(&dir, what, LOCK_PATIENCE).await {
                Ok(lock) => (Authority::Locked { _held: lock }, None),
                Err(LocalError::EngineBusy { holder, .. }) => {
                    let recorded = dir.load()?.engine_pid;
                    let detached = holder.pid.filter(|pid| recorded == Some(*pid));
                    let live = Some(format!("the engine in {holder}"));
                    let authority = Authority::Engine {
                        dir: dir.clone(),
                        holder,
                        detached,
                    };
                    (authority, live)
                }
                Err(e) => return Err(e.into()),
            };
            Ok(Cluster {
                spec: cluster.spec().clone(),
                password: dir.password(false)?,
                tls: None,
                platform: Box::new(LocalPlatform { dir: dir.clone() }),
                live,
                authority,
                hold: Hold::Local(dir),
            })
        }
        Target::Node(n) => {
            let snap = n.observe().await;
            Ok(Cluster {
                spec: spec_from_live(&snap, &n.zones),
                password: n.password,
                tls: None,
                hold: Hold::Nowhere,
                platform: Box::new(Fixed(n.instances)),
                // Nothing to ask: with bare addresses the human is the authority.
                live: None,
                authority: Authority::Unlocked,
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

fn engine_for(t: &Cluster<'_>) -> Engine {
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

/// Refuse while a live engine is in charge of this decision, and always while a local engine
/// runs in the foreground of another command: this command would be a second engine beside it.
fn check_engine(t: &Cluster<'_>, force: bool, automatic: bool, what: &str) -> Result<(), CliError> {
    if let Authority::Engine {
        dir,
        holder,
        detached: None,
    } = &t.authority
    {
        return Err(CliError::Refused(format!(
            "{holder} runs the engine of the cluster in {} (it holds its engine.lock), and this command would act beside it as a second engine. Stop that engine where it runs, then run this again (--force does not change this: one engine per cluster).",
            dir.path().display()
        )));
    }
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

pub async fn takeover(survivor: &str, args: &BreakGlassArgs) -> Result<(), CliError> {
    let what = format!("takeover --zone {survivor}");
    let mut t = resolve(&args.target, &what).await?;
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
    let stood_in = take_charge(&mut t, &what).await?;
    let outcome = interruptible(take_over(&t, survivor, &lost)).await;
    hand_back(t, stood_in, outcome).await
}

async fn take_over(t: &Cluster<'_>, survivor: &str, lost: &str) -> Result<(), CliError> {
    println!("taking over every shard whose master is in {lost}, in {survivor}");
    let start = Instant::now();
    let pass = engine_for(t)
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

/// Make this command the one authority on a local cluster before it acts: stand in for the
/// detached engine that holds the lock. Returns the state dir whose engine it stopped, to
/// start again in [`hand_back`].
async fn take_charge(t: &mut Cluster<'_>, what: &str) -> Result<Option<StateDir>, CliError> {
    let Authority::Engine {
        dir,
        detached: Some(pid),
        ..
    } = &t.authority
    else {
        // Ours already, or not local; a foreground engine was refused by `check_engine`.
        return Ok(None);
    };
    let dir = dir.clone();
    println!("stopping the detached engine (pid {pid}): this command acts in its place, alone, and starts it again when done");
    t.authority = Authority::Locked {
        _held: stand_in(&dir, what).await?,
    };
    t.live = None;
    Ok(Some(dir))
}

/// Ctrl-C or SIGTERM ends the action (as far as it got) but not the command, so that a
/// stopped engine is still started again.
async fn interruptible(
    action: impl std::future::Future<Output = Result<(), CliError>>,
) -> Result<(), CliError> {
    tokio::select! {
        outcome = action => outcome,
        () = shutdown_signal() => Err(CliError::Runtime("interrupted; the cluster is as the actions above left it".into())),
    }
}

/// Release the engine lock and start again the detached engine this command stood in for;
/// returns `outcome`, the command's own result, unless that restart is what failed.
async fn hand_back(
    t: Cluster<'_>,
    stood_in: Option<StateDir>,
    outcome: Result<(), CliError>,
) -> Result<(), CliError> {
    drop(t);
    let Some(dir) = stood_in else {
        return outcome;
    };
    match detached::ensure(&dir).await {
        Ok(d) => {
            println!("{}", detached::describe(&d));
            outcome
        }
        Err(e) => {
            let d = dir.path().display();
            eprintln!("error: the detached engine was not started again: {e}; start it with `redis-stretch local up -f {d}/manifest.yaml --detach --state-dir {d}`");
            outcome.and(Err(e))
        }
    }
}

/// Run `intent` until decide says it is settled, printing every action.
async fn converge(t: &Cluster<'_>, intent: Intent, limit: Duration) -> Result<Pass, CliError> {
    engine_for(t)
        .run_until(t.platform.as_ref(), intent, limit, print_pass)
        .await
        .map_err(|e| CliError::Runtime(e.to_string()))
}

pub async fn failback(args: &BreakGlassArgs) -> Result<(), CliError> {
    let mut t = resolve(&args.target, "failback").await?;
    check_engine(
        &t,
        args.force,
        t.spec.failover.failback == FailbackPolicy::Automatic,
        "failback",
    )?;
    let stood_in = take_charge(&mut t, "failback").await?;
    let outcome = interruptible(async {
        let pass = converge(&t, Intent::Failback, Duration::from_secs(120)).await?;
        println!();
        print_snapshot(&pass.snapshot, Some("after failback"));
        Ok(())
    })
    .await;
    hand_back(t, stood_in, outcome).await
}

pub async fn evacuate(zone: &str, args: &BreakGlassArgs) -> Result<(), CliError> {
    let what = format!("evacuate --zone {zone}");
    let mut t = resolve(&args.target, &what).await?;
    if t.spec.other_zone(zone).is_none() {
        return Err(CliError::Usage(format!(
            "--zone {zone}: not a zone of this cluster"
        )));
    }
    // No engine evacuates by itself: only a foreground engine (a second engine) is refused.
    check_engine(&t, args.force, false, "evacuations")?;
    let stood_in = take_charge(&mut t, &what).await?;
    let outcome = interruptible(evacuate_now(&t, zone)).await;
    hand_back(t, stood_in, outcome).await
}

async fn evacuate_now(t: &Cluster<'_>, zone: &str) -> Result<(), CliError> {
    // Hold first, so an engine (the operator's, or the local one started again after this
    // command) does not fail masters back while we move them out.
    match &t.hold {
        Hold::Local(dir) => {
            let mut state = dir.load()?;
            state.held_zone = Some(zone.to_owned());
            dir.save(&state)?;
            println!("{zone} held: no failback into it until `redis-stretch resume`");
        }
        Hold::Kube(w) => {
            set_hold(w, Some(zone))
                .await
                .map_err(|e| CliError::Runtime(e.to_string()))?;
            println!("{zone} held (annotation on the RedisStretchCluster): no failback into it until `redis-stretch resume`");
        }
        Hold::Nowhere => println!(
            "note: no local state: nothing records the hold; an engine with automatic failback may move masters back"
        ),
    }
    let pass = converge(
        t,
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

pub async fn resume(args: &BreakGlassArgs) -> Result<(), CliError> {
    if let Some(w) = args.target.kube.target() {
        set_hold(&w, None)
            .await
            .map_err(|e| CliError::Runtime(e.to_string()))?;
        println!("hold released: the operator may fail masters back again");
        return Ok(());
    }
    let dir = args.target.state_dir();
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

/// `local roll [--server S]`: restart every instance of a local cluster at the manifest's
/// revision with the engine's rollout (replicas first, each master after a graceful failover,
/// the layout restored at the end), after switching the manifest to server `server` when
/// given. Stands in for the detached engine, as the break-glass commands do; a detached engine
/// would run the same rollout by itself once the manifest changed.
pub async fn roll(
    server: Option<ServerFlavour>,
    no_wait: bool,
    state_dir: Option<PathBuf>,
) -> Result<(), CliError> {
    let args = TargetArgs::local(state_dir);
    let dir = args.state_dir();
    let cluster = dir.load_manifest()?;
    if let Some(to) = server.filter(|s| *s != cluster.spec().redis.server) {
        // Refused here, before the manifest changes, when the data cannot move (the engine
        // would refuse too, and wait).
        let state = dir.load()?;
        let instances: Vec<Instance> = state.instances.iter().map(|i| i.as_instance()).collect();
        let pool = Pool::new(dir.password(false)?, Duration::from_millis(500));
        let snap = redis_stretch_engine::observe(&instances, &state.zones, &pool).await;
        let running = snap
            .nodes
            .iter()
            .find_map(|n| n.server.zip(n.version.clone()));
        let (from, version) =
            running.map_or((cluster.spec().redis.server, None), |(f, v)| (f, Some(v)));
        migration_allowed(from, version.as_deref(), to).map_err(CliError::Refused)?;
        let yaml = std::fs::read_to_string(dir.file("manifest.yaml"))
            .map_err(|e| CliError::Runtime(format!("reading the manifest: {e}")))?;
        dir.save_manifest(&with_server(&yaml, to).map_err(CliError::Usage)?)?;
        println!(
            "manifest: spec.redis.server {} → {}",
            cluster.spec().redis.server.display_name(),
            to.display_name()
        );
    } else {
        let revision = redis_stretch_local::bump_revision(&dir)?;
        println!("revision {revision}: every instance is restarted once");
    }
    if no_wait {
        println!("the cluster's engine rolls it; `redis-stretch status` shows the progress");
        return Ok(());
    }
    let started = Instant::now();
    stand_in_until_settled(&args, "roll", ROLL_LIMIT, |snap| {
        print_snapshot(snap, Some("after the rollout"));
        println!("rollout done in {:.1} s", started.elapsed().as_secs_f64());
    })
    .await
}

/// Stand in for the cluster's engine (the detached one stopped, this command acting in its
/// place) and run the engine's loop until decide is settled and the cluster with it; `done`
/// prints the end. The engine is started again afterwards.
async fn stand_in_until_settled(
    args: &TargetArgs,
    what: &str,
    limit: Duration,
    done: impl FnOnce(&Snapshot),
) -> Result<(), CliError> {
    let mut t = resolve(args, what).await?;
    check_engine(&t, false, false, what)?;
    let stood_in = take_charge(&mut t, what).await?;
    let outcome = interruptible(async {
        let mut engine = engine_for(&t);
        let platform = t.platform.as_ref();
        let mut pass = engine
            .run_until(platform, Intent::Auto, limit, print_pass)
            .await
            .map_err(|e| CliError::Runtime(e.to_string()))?;
        // The last failback is done when its election is: the old master learns it by
        // gossip, its replicas re-link. Shown once that has settled (or after a while).
        let settling = Instant::now();
        while !settled(&pass.snapshot) && settling.elapsed() < Duration::from_secs(15) {
            tokio::time::sleep(Duration::from_millis(200)).await;
            pass = engine
                .pass(platform, Intent::Auto)
                .await
                .map_err(|e| CliError::Runtime(e.to_string()))?;
            print_pass(&pass);
        }
        println!();
        done(&pass.snapshot);
        Ok(())
    })
    .await;
    hand_back(t, stood_in, outcome).await
}

/// `local scale --shards N`: the manifest takes the new count (the zones' preferred masters in
/// proportion, or as given), the instances new shards need start empty, and the engine — the
/// detached one with `--no-wait`, else this command in its place — makes them masters and
/// replicas, moves the slots and retires the instances that go.
pub async fn scale(
    shards: u32,
    preferred: Vec<(String, u32)>,
    no_wait: bool,
    state_dir: Option<PathBuf>,
) -> Result<(), CliError> {
    let args = TargetArgs::local(state_dir);
    let dir = args.state_dir();
    let preferred = (!preferred.is_empty()).then_some(preferred);
    let report = redis_stretch_local::scale(&dir, shards, preferred).await?;
    println!(
        "manifest: spec.shards {} → {} (preferred masters {})",
        report.from,
        report.to,
        report
            .preferred
            .iter()
            .map(|(z, n)| format!("{z}={n}"))
            .collect::<Vec<_>>()
            .join(", ")
    );
    if !report.started.is_empty() {
        println!("started empty: {}", report.started.join(", "));
    }
    if !report.leaving.is_empty() {
        println!(
            "leaving (slots move away, then retired): {}",
            report.leaving.join(", ")
        );
    }
    if no_wait {
        println!("the cluster's engine moves the slots; `redis-stretch status` shows the progress");
        return Ok(());
    }
    let started = Instant::now();
    stand_in_until_settled(&args, "scale", SCALE_LIMIT, |snap| {
        print_snapshot(snap, Some("after scaling"));
        println!(
            "{} shards in {:.1} s",
            snap.masters().len(),
            started.elapsed().as_secs_f64()
        );
    })
    .await
}

/// Moving slots takes as long as the data does; the command can be run again (the engine's
/// memory keeps the migration).
const SCALE_LIMIT: Duration = Duration::from_secs(3600);

/// A rollout restarts every instance and waits for each to sync: generous, and the command
/// can be run again (it resumes from the engine memory).
const ROLL_LIMIT: Duration = Duration::from_secs(1800);

/// Every slot served once, every replica linked, nothing outdated.
fn settled(snap: &Snapshot) -> bool {
    snap.slots_claimed_twice() == 0
        && snap.slots_covered() == usize::from(SLOT_COUNT)
        && snap.nodes.iter().all(|n| {
            n.reachable && n.restart_for.is_none() && (n.is_master() || n.is_current_replica())
        })
}
