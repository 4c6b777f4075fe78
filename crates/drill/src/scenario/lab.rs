//! The lab drill: one fault of the network lab (a cut, a blip, a flapping link, the engine
//! restarted during an outage, a zone killed) under one writer per side and shard, and what
//! each side saw (`crate::sides`). `Recovery::Native` runs the same fault on plain Redis: no
//! engine, every fence open — the baseline every rule is measured against, in the same run.

use std::net::IpAddr;
use std::time::{Duration, Instant};

use redis_stretch_admin::{AdminClient, NodeAddr, Secret};
use redis_stretch_engine::Waiting;
use serde::Serialize;

use super::settle::{engine_idle, settled, snapshot, wait_for};
use super::{
    settled_check, BlipKind, EngineProcess, EngineProcessOptions, EngineStop, NetFaults, Recovery,
    ScenarioError, ZoneFault,
};
use crate::sides::{figures, read_back, LabFigures, LabShard, Side, SideLoad};

mod double;

/// Where the engine sits during a cut.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum EnginePlace {
    /// Reaches both zones.
    ThirdSite,
    /// Inside this zone: it loses the other one with the cut.
    Inside(String),
}

#[derive(Clone, Debug, Serialize)]
#[serde(tag = "fault", rename_all = "kebab-case")]
pub enum LabFault {
    /// The zones cut from each other for `secs`.
    Partition { secs: f64, engine: EnginePlace },
    /// `zone` away for `secs`: frozen, or cut off on the network.
    Blip {
        zone: String,
        secs: f64,
        #[serde(skip)]
        kind: BlipKind,
    },
    /// Cut and heal every `period_secs`, for `secs`.
    Flap { period_secs: f64, secs: f64 },
    /// The engine stopped, `zone` killed, a new engine started `after_secs` later; the zone
    /// comes back `secs` after the kill.
    EngineRestart {
        zone: String,
        after_secs: f64,
        secs: f64,
    },
    /// One instance killed for `secs`, then restarted.
    Instance { name: String, secs: f64 },
    /// `zone` killed for `secs` and restored; the moment the engine starts failing back into
    /// it, the other zone is killed for `secs` and restored.
    LostDuringFailback { zone: String, secs: f64 },
    /// Every instance killed, then all restarted on new addresses after `secs`.
    AllRestarted { secs: f64 },
    /// `zone` killed or frozen for `secs`, then brought back.
    Zone {
        zone: String,
        secs: f64,
        #[serde(skip)]
        fault: ZoneFault,
    },
    /// The other zone's replica of a `zone` master that holds `keys` values of `value_bytes`
    /// restarted empty; the moment its full sync is under way, `zone` frozen for `secs`.
    LostDuringSync {
        zone: String,
        secs: f64,
        keys: u64,
        value_bytes: usize,
    },
    /// `zone` frozen; once the engine's first takeover has landed (plain Redis: after as long
    /// as the engine takes), it comes back behind a cut between the zones for `secs`.
    CutDuringTakeover { zone: String, secs: f64 },
    /// The zones cut for `secs`; the engine, in a process of its own, exits right after its
    /// first takeover, and a new one starts `after_secs` later while the cut stands.
    EngineCrashInPartition { secs: f64, after_secs: f64 },
    /// Every instance's password changed to one the engine does not have, and every client
    /// connection closed; `zone` killed a moment later; `after_secs` after the kill the
    /// engine restarted with the servers' password; `zone` back `secs` after the kill.
    WrongPassword {
        zone: String,
        secs: f64,
        after_secs: f64,
    },
    /// The engine host's wall clock stepped `step_secs` forward and back, then `zone` killed
    /// for `secs` with the clock stepped forward and back again during the loss.
    ClockStep {
        zone: String,
        secs: f64,
        step_secs: f64,
    },
}

impl std::fmt::Display for LabFault {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            LabFault::Partition { secs, engine } => match engine {
                EnginePlace::ThirdSite => write!(f, "cut {secs} s, engine at a third site"),
                EnginePlace::Inside(z) => write!(f, "cut {secs} s, engine in {z}"),
            },
            LabFault::Blip { zone, secs, kind } => match kind {
                BlipKind::Stop => write!(f, "{zone} frozen {secs} s"),
                BlipKind::Cut => write!(f, "{zone} cut off {secs} s"),
            },
            LabFault::Flap { period_secs, secs } => {
                write!(f, "cut and healed every {period_secs} s for {secs} s")
            }
            LabFault::EngineRestart {
                zone, after_secs, ..
            } => write!(
                f,
                "engine down, {zone} killed, engine back after {after_secs} s"
            ),
            LabFault::Instance { name, secs } => write!(f, "{name} killed {secs} s"),
            LabFault::LostDuringFailback { zone, secs } => {
                write!(
                    f,
                    "{zone} killed {secs} s, the other zone lost during failback"
                )
            }
            LabFault::AllRestarted { secs } => {
                write!(f, "all killed, back on new addresses after {secs} s")
            }
            LabFault::Zone { zone, secs, fault } => {
                write!(f, "{zone} {} {secs} s", fault.as_str())
            }
            LabFault::LostDuringSync {
                zone,
                secs,
                keys,
                value_bytes,
            } => write!(
                f,
                "{zone} frozen {secs} s while the other zone's replica of one of its masters ({keys} keys of {value_bytes} B) is in its first full sync"
            ),
            LabFault::CutDuringTakeover { zone, secs } => write!(
                f,
                "{zone} frozen, back behind a cut for {secs} s at the engine's first takeover"
            ),
            LabFault::EngineCrashInPartition { secs, after_secs } => write!(
                f,
                "cut {secs} s, the engine killed after its first takeover and back {after_secs} s later"
            ),
            LabFault::WrongPassword {
                zone,
                secs,
                after_secs,
            } => write!(
                f,
                "password changed behind the engine's back, {zone} killed {secs} s, the engine given the password after {after_secs} s"
            ),
            LabFault::ClockStep {
                zone,
                secs,
                step_secs,
            } => write!(
                f,
                "the engine's clock stepped {step_secs} s and back, then {zone} killed {secs} s with the clock stepped again"
            ),
        }
    }
}

#[derive(Clone, Debug)]
pub struct LabScenario {
    pub fault: LabFault,
    pub recovery: Recovery,
    /// Where the SVG timeline goes (`None`: no file).
    pub svg: Option<std::path::PathBuf>,
}

#[derive(Clone, Debug, Serialize)]
pub struct LabResult {
    pub fault: LabFault,
    pub recovery: String,
    /// The fault, in ms of the load's clock: [start, end).
    pub fault_ms: (u64, u64),
    /// From the end of the fault until the cluster settled (and, with the engine, failed back).
    pub settled_after_ms: Option<u64>,
    pub figures: LabFigures,
    pub cluster_check: Vec<(String, bool, String)>,
    /// What the engine did, as it reported (kind: summary).
    pub engine_actions: Vec<String>,
    /// Every engine's actions from the fault's start, counted by kind (`no engine` for plain
    /// Redis).
    pub engine_did: String,
    /// What the drill did and saw during a double fault, in seconds from the fault's start.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub steps: Vec<String>,
    /// `lost-during-sync`: bulk keys found on their shard's master after the run, and written.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bulk_keys: Option<(u64, u64)>,
    /// What the engine waited for when the drill stopped waiting (a failback hold-down, say).
    pub engine_waiting_for: Option<String>,
    /// The sides, in report order.
    pub sides: Vec<String>,
    /// The SVG timeline, when one was written.
    pub svg: Option<std::path::PathBuf>,
}

const BASELINE: Duration = Duration::from_secs(2);
const SETTLE_BEFORE: Duration = Duration::from_secs(30);
const SETTLE_AFTER: Duration = Duration::from_secs(60);
const ENGINE_IDLE_LIMIT: Duration = Duration::from_secs(20);
/// A failback hold-down with more than this left ends the wait for failback.
const HELD_DOWN_MS: u64 = 20_000;

fn secs(s: f64) -> Duration {
    Duration::from_secs_f64(s.max(0.0))
}

/// The lab's engine: in this process, or in one of its own (to crash it, or step its clock).
enum LabEngine<P> {
    InProcess(EngineStop),
    Process(P),
}

impl<P: EngineProcess> LabEngine<P> {
    fn stop(self) {
        match self {
            LabEngine::InProcess(e) => e.stop(),
            LabEngine::Process(p) => p.stop(),
        }
    }
}

/// Plain Redis on one instance: its fence open, and electable by Redis's own election as
/// Redis's default has it (redis.conf starts every instance unelectable for the engine).
async fn plain_redis(a: &NodeAddr, password: Option<&Secret>) -> Result<(), String> {
    let c = AdminClient::connect(a, password, Duration::from_secs(1))
        .await
        .map_err(|e| e.to_string())?;
    c.config_set("min-replicas-to-write", "0")
        .await
        .map_err(|e| e.to_string())?;
    c.config_set("cluster-replica-no-failover", "no")
        .await
        .map_err(|e| e.to_string())
}

/// Plain Redis: every fence open and every instance electable. An instance that cannot be
/// reached or refuses is an error: the baseline would otherwise measure fences it says are
/// open.
async fn open_fences<E: std::error::Error + 'static>(
    instances: &[NodeAddr],
    password: Option<&Secret>,
) -> Result<(), ScenarioError<E>> {
    for a in instances {
        let opened = plain_redis(a, password).await;
        opened.map_err(|error| ScenarioError::OpenFences {
            instance: a.to_string(),
            error,
        })?;
    }
    Ok(())
}

pub async fn run_lab<F: NetFaults>(
    faults: &F,
    s: &LabScenario,
) -> Result<LabResult, ScenarioError<F::Error>> {
    let layout = faults.layout().map_err(ScenarioError::Platform)?;
    let spec = faults.spec().map_err(ScenarioError::Platform)?;
    let mut password = faults.password().map_err(ScenarioError::Platform)?;
    let [a, b] = layout.zones.as_slice() else {
        return Err(ScenarioError::UnknownZone(layout.zones.join(",")));
    };
    let (a, b) = (a.clone(), b.clone());
    if faults.engine_live().is_some() {
        // The lab starts, stops and places its own engine.
        return Err(ScenarioError::LiveEngine);
    }
    let native = s.recovery == Recovery::Native;
    let addrs: Vec<NodeAddr> = layout.instances.iter().map(|i| i.addr.clone()).collect();
    if native {
        open_fences(&addrs, password.as_ref()).await?;
    }
    wait_for(faults, password.as_ref(), SETTLE_BEFORE, "settled", settled).await?;
    let mut engine = None;
    if s.recovery == Recovery::Engine {
        // An engine that must crash, or whose clock is stepped, runs in a process of its own.
        let process = match &s.fault {
            LabFault::EngineCrashInPartition { .. } => Some(EngineProcessOptions {
                crash_after: Some("takeover:1".into()),
                ..EngineProcessOptions::default()
            }),
            LabFault::ClockStep { .. } => Some(EngineProcessOptions {
                steppable_clock: true,
                ..EngineProcessOptions::default()
            }),
            _ => None,
        };
        engine = Some(match process {
            Some(opts) => LabEngine::Process(
                faults
                    .spawn_engine(&opts)
                    .map_err(ScenarioError::Platform)?,
            ),
            None => LabEngine::InProcess(faults.start_engine()),
        });
        // The drill measures a fault on the preferred layout: the engine first fails back
        // whatever an earlier run left elsewhere, or the drill says so instead of measuring
        // another layout.
        let start = Instant::now();
        while !engine_idle(faults) {
            if start.elapsed() >= ENGINE_IDLE_LIMIT {
                if let Some(e) = engine.take() {
                    e.stop();
                }
                return Err(ScenarioError::NotReached {
                    what: "masters as preferred before the fault",
                    secs: ENGINE_IDLE_LIMIT.as_secs(),
                    engine: faults
                        .engine_status()
                        .and_then(|s| s.waiting_for.map(|w| w.to_string()))
                        .unwrap_or_else(|| "no engine status".into()),
                });
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    let snap = snapshot(faults, password.as_ref()).await?;
    let shards: Vec<LabShard> = snap
        .masters()
        .iter()
        .enumerate()
        .filter_map(|(i, m)| {
            Some(LabShard {
                name: format!("shard {}", i + 1),
                slot: m.slots.first()?.start,
                first_master: m.addr.clone()?,
            })
        })
        .collect();
    let source = |z: Option<&str>| faults.client_source(z).map_err(ScenarioError::Platform);
    let sides = vec![
        Side {
            name: a.clone(),
            source: source(Some(&a))?,
        },
        Side {
            name: b.clone(),
            source: source(Some(&b))?,
        },
        Side {
            name: "third site".into(),
            source: source(None)?,
        },
    ];
    let third: IpAddr = source(None)?;
    let mut before = Vec::new();
    // A full sync that takes seconds needs data: loaded before the writers start.
    let bulk = match &s.fault {
        LabFault::LostDuringSync {
            zone,
            keys,
            value_bytes,
            ..
        } => {
            let mut target = double::sync_target(&snap, zone).ok_or_else(|| {
                ScenarioError::Lab(format!(
                    "no master in {zone} with a replica in the other zone"
                ))
            })?;
            let took =
                double::load_bulk(&mut target, *keys, *value_bytes, password.as_ref(), third)
                    .await
                    .map_err(ScenarioError::Lab)?;
            before.push(format!(
                "before: {keys} keys of {value_bytes} B written to {} ({}) and confirmed by {} in {:.1} s",
                target.master_name, target.master, target.replica_name, took.as_secs_f64()
            ));
            let sync = double::time_full_sync(faults, &target, password.as_ref(), third).await?;
            before.push(format!(
                "before: a full sync of them takes {:.1} s here ({} killed, its data removed, restarted, until its link is up)",
                sync.as_secs_f64(),
                target.replica_name
            ));
            // Back to the steady state before the writers start.
            wait_for(faults, password.as_ref(), SETTLE_BEFORE, "settled", settled).await?;
            let idle = Instant::now();
            while engine.is_some() && !engine_idle(faults) && idle.elapsed() < ENGINE_IDLE_LIMIT {
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            Some(target)
        }
        _ => None,
    };
    let run = format!(
        "{:x}",
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis())
    );
    let load = SideLoad::start(&run, &sides, &shards, &addrs, password.clone());
    tokio::time::sleep(BASELINE).await;

    let start = load.now_ms();
    let platform = ScenarioError::Platform;
    let mut ctx = double::Ctx {
        faults,
        load: &load,
        start,
        start_unix: redis_stretch_engine::unix_ms(),
        steps: before,
        native,
        password: password.clone(),
        engine,
        third,
        zones: (a.clone(), b.clone()),
        addrs: addrs.clone(),
        unreported: false,
    };
    match &s.fault {
        LabFault::Partition { secs: d, engine: e } => {
            let with = match e {
                EnginePlace::ThirdSite => None,
                EnginePlace::Inside(z) => Some(z.as_str()),
            };
            faults.cut(&a, &b, with).map_err(platform)?;
            tokio::time::sleep(secs(*d)).await;
            faults.heal().map_err(platform)?;
        }
        LabFault::Blip {
            zone,
            secs: d,
            kind,
        } => faults.blip(zone, secs(*d), *kind).await.map_err(platform)?,
        LabFault::Flap {
            period_secs,
            secs: d,
        } => {
            let began = Instant::now();
            while began.elapsed() < secs(*d) {
                faults.cut(&a, &b, None).map_err(platform)?;
                tokio::time::sleep(secs(*period_secs)).await;
                faults.heal().map_err(platform)?;
                tokio::time::sleep(secs(*period_secs)).await;
            }
        }
        LabFault::EngineRestart {
            zone,
            after_secs,
            secs: d,
        } => {
            if let Some(e) = ctx.engine.take() {
                e.stop();
            }
            tokio::time::sleep(Duration::from_millis(300)).await;
            faults.take_down(zone, ZoneFault::Kill).map_err(platform)?;
            let killed = Instant::now();
            if s.recovery == Recovery::Engine {
                tokio::time::sleep(secs(*after_secs)).await;
                ctx.engine = Some(LabEngine::InProcess(faults.start_engine()));
            }
            tokio::time::sleep(secs(*d).saturating_sub(killed.elapsed())).await;
            ctx.bring_back(zone).await?;
        }
        LabFault::Instance { name, secs: d } => {
            faults
                .take_down_instance(name, ZoneFault::Kill)
                .map_err(platform)?;
            tokio::time::sleep(secs(*d)).await;
            let zone = layout
                .instances
                .iter()
                .find(|i| &i.name == name)
                .map(|i| i.zone.clone())
                .unwrap_or_default();
            ctx.bring_back(&zone).await?;
        }
        LabFault::LostDuringFailback { zone, secs: d } => {
            let other = if zone == &a { &b } else { &a };
            faults.take_down(zone, ZoneFault::Kill).map_err(platform)?;
            tokio::time::sleep(secs(*d)).await;
            let back = redis_stretch_engine::unix_ms();
            ctx.bring_back(zone).await?;
            // Wait for the engine's first graceful failover into the returned zone.
            let began = Instant::now();
            while began.elapsed() < Duration::from_secs(60) {
                let failing_back = faults.engine_status().is_some_and(|st| {
                    st.last_actions
                        .iter()
                        .any(|e| e.kind == "graceful-failover" && e.at_ms >= back)
                });
                if failing_back {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            faults.take_down(other, ZoneFault::Kill).map_err(platform)?;
            tokio::time::sleep(secs(*d)).await;
            ctx.bring_back(other).await?;
        }
        LabFault::AllRestarted { secs: d } => {
            for z in [&a, &b] {
                faults.take_down(z, ZoneFault::Kill).map_err(platform)?;
            }
            tokio::time::sleep(secs(*d)).await;
            for z in [&a, &b] {
                faults.bring_back(z, true).await.map_err(platform)?;
                if native {
                    ctx.plain_redis_in(z).await;
                }
            }
        }
        LabFault::Zone {
            zone,
            secs: d,
            fault,
        } => {
            faults.take_down(zone, *fault).map_err(platform)?;
            tokio::time::sleep(secs(*d)).await;
            ctx.bring_back(zone).await?;
        }
        LabFault::LostDuringSync { zone, secs: d, .. } => {
            if let Some(target) = &bulk {
                ctx.lost_during_sync(zone, target, secs(*d)).await?;
            }
        }
        LabFault::CutDuringTakeover { zone, secs: d } => {
            ctx.cut_during_takeover(zone, secs(*d)).await?;
        }
        LabFault::EngineCrashInPartition {
            secs: d,
            after_secs,
        } => {
            ctx.engine_crash_in_partition(secs(*d), secs(*after_secs))
                .await?;
        }
        LabFault::WrongPassword {
            zone,
            secs: d,
            after_secs,
        } => {
            ctx.wrong_password(zone, secs(*d), secs(*after_secs))
                .await?;
        }
        LabFault::ClockStep {
            zone,
            secs: d,
            step_secs,
        } => {
            ctx.clock_step(zone, secs(*d), *step_secs).await?;
        }
    }
    let end = load.now_ms();
    // The servers' password may have changed during the fault (and the platform's with it).
    password = faults.password().map_err(ScenarioError::Platform)?;
    let double::Ctx {
        mut steps,
        engine,
        start_unix,
        unreported,
        ..
    } = ctx;

    let settle_start = Instant::now();
    let preferred = |snap: &redis_stretch_engine::Snapshot| {
        spec.zones.iter().all(|z| {
            snap.masters().iter().filter(|m| m.zone == z.name).count()
                == z.preferred_masters as usize
        })
    };
    let engine_on = engine.is_some();
    // With the engine, settled includes the failback — unless the engine holds it down for
    // longer than the drill waits (a flapping zone gets its masters back ever later).
    let held_down = || {
        faults.engine_status().is_some_and(|st| {
            matches!(st.waiting_for, Some(Waiting::HoldDown { left_ms, .. }) if left_ms > HELD_DOWN_MS)
        })
    };
    let settled_ok = wait_for(faults, password.as_ref(), SETTLE_AFTER, "settled", |snap| {
        settled(snap) && (!engine_on || preferred(snap) || held_down())
    })
    .await;
    let engine_waiting_for = faults
        .engine_status()
        .and_then(|st| st.waiting_for)
        .map(|w| w.to_string());
    let settled_after_ms = settled_ok
        .is_ok()
        .then(|| u64::try_from(settle_start.elapsed().as_millis()).unwrap_or(u64::MAX));
    tokio::time::sleep(BASELINE).await;
    let writes = load.stop().await;
    let engine_actions = faults
        .engine_status()
        .map(|st| {
            st.last_actions
                .iter()
                .filter(|e| e.at_ms > 0)
                .map(|e| format!("{}: {}", e.kind, e.summary))
                .collect()
        })
        .unwrap_or_default();
    if let Some(e) = engine {
        e.stop();
    }
    let engine_did = if s.recovery == Recovery::Engine {
        let did = double::engine_did(&faults.engine_events(), start_unix);
        if unreported {
            format!(
                "{did}; and the killed engine's last pass (its takeovers), which it never reported"
            )
        } else {
            did
        }
    } else {
        "no engine".into()
    };

    let now = faults.layout().map_err(ScenarioError::Platform)?;
    let mut all = addrs.clone();
    all.extend(now.instances.iter().map(|i| i.addr.clone()));
    let reader: IpAddr = source(None)?;
    let found = read_back(&writes, &all, password.as_ref(), reader).await;
    let bulk_keys = match &bulk {
        Some(target) => {
            let kept = double::bulk_kept(target, &all, password.as_ref(), reader).await;
            steps.push(match kept {
                Some(n) => format!(
                    "after: {n} of {} bulk keys on their shard's master",
                    target.keys
                ),
                None => "after: the bulk keys' shard has no master that answers".into(),
            });
            Some((kept.unwrap_or(0), target.keys))
        }
        None => None,
    };
    let zone_of = |x: &NodeAddr| {
        layout
            .instances
            .iter()
            .chain(now.instances.iter())
            .find(|i| &i.addr == x)
            .map(|i| i.zone.clone())
    };
    let figures = figures(&sides, &shards, &writes, &found, (start, end), zone_of);
    let mut cluster_check = Vec::new();
    for zone in &now.zones {
        if let Some(i) = now.instances.iter().find(|i| &i.zone == zone) {
            let (clean, summary) = settled_check(&i.addr, password.as_ref()).await;
            cluster_check.push((format!("from {zone} ({})", i.addr), clean, summary));
        }
    }
    if let Some(path) = &s.svg {
        let title = format!(
            "{} — {}",
            s.fault,
            match s.recovery {
                Recovery::Engine => "engine",
                _ => "plain Redis",
            }
        );
        let svg = crate::sides::svg::render(&title, &figures, BASELINE.as_millis() as u64);
        std::fs::write(path, svg).map_err(|source| ScenarioError::Svg {
            path: path.clone(),
            source,
        })?;
    }
    Ok(LabResult {
        svg: s.svg.clone(),
        fault: s.fault.clone(),
        recovery: match s.recovery {
            Recovery::Engine => "engine".into(),
            Recovery::Native => "plain Redis".into(),
            Recovery::SeedManual => "seed manual".into(),
        },
        fault_ms: (start, end),
        settled_after_ms,
        figures,
        cluster_check,
        engine_actions,
        engine_did,
        steps,
        bulk_keys,
        engine_waiting_for,
        sides: sides.iter().map(|s| s.name.clone()).collect(),
    })
}

impl std::fmt::Display for LabResult {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let (a, b) = self.fault_ms;
        writeln!(
            f,
            "lab drill ({}): fault from +{:.1}s to +{:.1}s ({:.1} s)",
            self.recovery,
            a as f64 / 1000.0,
            b as f64 / 1000.0,
            (b - a) as f64 / 1000.0
        )?;
        writeln!(
            f,
            "  {:<11} {:<8} {:>8} {:>6} {:>9} {:>5} {:>10} {:>9}",
            "SIDE", "SHARD", "ATTEMPTS", "ACKED", "ACCEPTED", "LOST", "WAIT-ACKED", "WAIT-LOST"
        )?;
        for s in &self.figures.sides {
            writeln!(
                f,
                "  {:<11} {:<8} {:>8} {:>6} {:>8.0}% {:>5} {:>10} {:>9}",
                s.side,
                s.shard,
                s.attempts,
                s.acked,
                s.accepted * 100.0,
                s.lost,
                s.wait_acked,
                s.wait_lost
            )?;
        }
        for s in self.figures.sides.iter().filter(|s| !s.gaps.is_empty()) {
            let gaps: Vec<String> = s
                .gaps
                .iter()
                .map(|g| {
                    format!(
                        "{:.1}-{:.1} s ({})",
                        g.from_ms as f64 / 1000.0,
                        g.to_ms as f64 / 1000.0,
                        if g.error.is_empty() { "slow" } else { &g.error }
                    )
                })
                .collect();
            writeln!(
                f,
                "  {} {}: no write accepted {}",
                s.side,
                s.shard,
                gaps.join(", ")
            )?;
        }
        for s in &self.figures.shards {
            writeln!(
                f,
                "  {}: dual-write window {:.1} s, master changes {}",
                s.shard,
                s.dual_write_ms as f64 / 1000.0,
                s.master_changes
            )?;
        }
        match self.settled_after_ms {
            Some(ms) => writeln!(f, "  settled {:.1} s after the fault", ms as f64 / 1000.0)?,
            None => writeln!(
                f,
                "  NOT settled within {} s of the fault",
                SETTLE_AFTER.as_secs()
            )?,
        }
        for (from, clean, summary) in &self.cluster_check {
            writeln!(
                f,
                "  cluster check {from}: {} — {summary}",
                if *clean { "clean" } else { "NOT CLEAN" }
            )?;
        }
        for st in &self.steps {
            writeln!(f, "  {st}")?;
        }
        writeln!(f, "  engine did: {}", self.engine_did)?;
        if let Some(w) = &self.engine_waiting_for {
            writeln!(f, "  engine waiting for: {w}")?;
        }
        for a in &self.engine_actions {
            writeln!(f, "  engine: {a}")?;
        }
        if let Some(p) = &self.svg {
            writeln!(f, "timeline: {}", p.display())?;
        }
        Ok(())
    }
}
