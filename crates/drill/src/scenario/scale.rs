//! The scale drill: the cluster filled with a dataset that takes seconds to move, the drill's
//! writers running, then the shard count changed step by step (3 → 6 → 3, say) and each step
//! timed until the cluster holds that many shards, settled and as preferred; optionally a zone
//! killed halfway through the first step's migration and brought back after a while. Reported:
//! each step's time and how slots moved, the longest time one shard refused writes, writes that
//! failed, and what was lost (plain and `WAIT`-acknowledged).

use std::future::Future;
use std::time::{Duration, Instant};

use redis::IntoConnectionInfo;
use redis_stretch_admin::{NodeAddr, Secret};
use redis_stretch_engine::{Snapshot, Waiting};
use serde::Serialize;

use super::settle::{settled, snapshot, wait_for};
use super::{as_preferred, begin, finish, Faults, Scenario, ScenarioError, SETTLE_BEFORE};
use crate::scenario::ZoneFault;

/// Changing the shard count: what the scale drill needs from a platform beyond [`Faults`].
pub trait Scales: Faults {
    /// Set the spec's shard count to `shards` (the zones' preferred masters in proportion) and
    /// start the instances it needs; the engine does the rest. Returns what changed, in words.
    fn scale_to(&self, shards: u32) -> impl Future<Output = Result<String, Self::Error>>;
    /// How many engine events there are so far (a mark for [`Scales::move_methods_since`]).
    fn events_seen(&self) -> usize;
    /// How the slot moves after mark `since` went (`SETSLOT and MIGRATE`, `atomic, CLUSTER
    /// MIGRATESLOTS`), each once.
    fn move_methods_since(&self, since: usize) -> Vec<String>;
}

/// A zone killed halfway through the first step's migration, back after `down_for`.
#[derive(Clone, Debug)]
pub struct LoseZone {
    pub zone: String,
    pub down_for: Duration,
}

/// One step of the drill.
#[derive(Clone, Debug, Serialize)]
pub struct ScaleStep {
    pub to: u32,
    /// From the spec change until the cluster holds `to` shards, settled and as preferred.
    pub total_ms: f64,
    /// How slots moved (`atomic`, `classic`), from the engine's events.
    pub methods: Vec<String>,
    /// Slots the step's migration planned.
    pub slots_planned: usize,
}

#[derive(Clone, Debug, Serialize)]
pub struct ScaleFigures {
    pub preloaded_keys: u64,
    /// The preloaded keys found on the masters at the end (`SCAN MATCH pre:*`).
    pub preloaded_keys_found: u64,
    pub preload_ms: f64,
    pub steps: Vec<ScaleStep>,
    /// The longest time one shard refused writes (100 ms buckets of the 20 ms probe).
    pub longest_shard_outage_ms: f64,
    /// Writes that failed after the drill's retries, both writers.
    pub failed_writes: u64,
    /// The zone lost mid-migration, and how many slots were left to move then.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub zone_lost: Option<(String, usize)>,
}

/// A step of a large dataset takes minutes on a slow machine; generous.
const STEP_LIMIT: Duration = Duration::from_secs(1800);

pub async fn run_scale<F: Scales>(
    faults: &F,
    s: &Scenario,
    steps: &[u32],
    preload: u64,
    lose: Option<LoseZone>,
) -> Result<(super::DrillResult, ScaleFigures), ScenarioError<F::Error>> {
    let layout = faults.layout().map_err(ScenarioError::Platform)?;
    let password = faults.password().map_err(ScenarioError::Platform)?;
    wait_for(faults, password.as_ref(), SETTLE_BEFORE, "settled", settled).await?;
    let t = Instant::now();
    let preloaded = fill(
        &snapshot(faults, password.as_ref()).await?,
        password.as_ref(),
        preload,
    )
    .await
    .map_err(|e| ScenarioError::NotReached {
        what: "the dataset loaded",
        secs: t.elapsed().as_secs(),
        engine: e,
    })?;
    let preload_ms = t.elapsed().as_secs_f64() * 1000.0;
    let (engine_stop, cfg, workload) = begin(faults, &layout, password.as_ref(), true).await?;

    let mut figures = ScaleFigures {
        preloaded_keys: preloaded,
        preloaded_keys_found: 0,
        preload_ms,
        steps: Vec::new(),
        longest_shard_outage_ms: 0.0,
        failed_writes: 0,
        zone_lost: None,
    };
    let mut lose = lose;
    for &to in steps {
        let events_before = faults.events_seen();
        let what = faults.scale_to(to).await.map_err(ScenarioError::Platform)?;
        workload.mark_fault(&format!("scale to {to}: {what}"));
        let started = Instant::now();
        let mut planned = 0usize;
        loop {
            let snap = snapshot(faults, password.as_ref()).await?;
            let status = faults.engine_status();
            if let Some(m) = status.as_ref().and_then(|s| s.migration.as_ref()) {
                planned = planned.max(m.total());
            }
            let left = status.as_ref().and_then(|s| match &s.waiting_for {
                Some(Waiting::Scaling { slots_left, .. }) => Some(*slots_left),
                _ => None,
            });
            if let (Some(l), Some(left)) = (lose.as_ref(), left) {
                if planned > 0 && left > 0 && left <= planned / 2 {
                    let l = l.clone();
                    lose = None;
                    figures.zone_lost = Some((l.zone.clone(), left));
                    let killed_at = Instant::now();
                    workload.mark_fault(&format!("{} killed ({left} slots left)", l.zone));
                    faults
                        .take_down(&l.zone, ZoneFault::Kill)
                        .map_err(ScenarioError::Platform)?;
                    if workload
                        .wait_all_writable(killed_at, Duration::from_secs(60))
                        .await
                        .is_some()
                    {
                        workload.mark("all slots writable");
                    }
                    tokio::time::sleep(l.down_for).await;
                    workload.mark_fault(&format!("{} restored", l.zone));
                    faults
                        .bring_back(&l.zone, false)
                        .await
                        .map_err(ScenarioError::Platform)?;
                    continue;
                }
            }
            let spec = faults.spec().map_err(ScenarioError::Platform)?;
            let done = snap.masters().len() == to as usize
                && settled(&snap)
                && as_preferred(&snap, &spec)
                && status.as_ref().is_some_and(|s| {
                    s.migration.is_none() && s.waiting_for == Some(Waiting::AsPreferred)
                })
                && !snap.nodes.iter().any(|n| n.leaving);
            if done {
                break;
            }
            if started.elapsed() > STEP_LIMIT {
                return Err(ScenarioError::NotReached {
                    what: "the shard count the spec asks for",
                    secs: STEP_LIMIT.as_secs(),
                    engine: status
                        .and_then(|s| s.waiting_for.map(|w| w.to_string()))
                        .unwrap_or_else(|| "no engine status".into()),
                });
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        workload.mark(&format!("{to} shards"));
        figures.steps.push(ScaleStep {
            to,
            total_ms: started.elapsed().as_secs_f64() * 1000.0,
            methods: faults.move_methods_since(events_before),
            slots_planned: planned,
        });
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    let result = finish(
        faults,
        s,
        workload,
        &cfg,
        engine_stop,
        password.as_ref(),
        true,
    )
    .await?;
    figures.preloaded_keys_found = count(
        &snapshot(faults, password.as_ref()).await?,
        password.as_ref(),
    )
    .await
    .map_err(|e| ScenarioError::NotReached {
        what: "the preloaded keys counted",
        secs: 0,
        engine: e,
    })?;
    figures.longest_shard_outage_ms = super::rollout::longest_outage(&result.report);
    figures.failed_writes = result.report.writers.iter().map(|w| w.failed).sum();
    Ok((result, figures))
}

/// `keys` keys `pre:{tag}:N` spread over every slot, written to each slot's master in
/// pipelines of 1,000 (no redirections: the slot map is read first). Returns the keys written.
async fn fill(snap: &Snapshot, password: Option<&Secret>, keys: u64) -> Result<u64, String> {
    if keys == 0 {
        return Ok(0);
    }
    let mut owner: Vec<Option<NodeAddr>> = vec![None; usize::from(crate::slots::SLOTS)];
    for m in snap.masters() {
        for r in &m.slots {
            for s in r.start..=r.end {
                owner[usize::from(s)] = m.addr.clone();
            }
        }
    }
    let mut by_node: std::collections::BTreeMap<NodeAddr, Vec<u64>> = Default::default();
    for i in 0..keys {
        let slot = usize::try_from(i % u64::from(crate::slots::SLOTS)).unwrap_or(0);
        if let Some(a) = &owner[slot] {
            by_node.entry(a.clone()).or_default().push(i);
        }
    }
    let tasks: Vec<_> = by_node
        .into_iter()
        .map(|(addr, ids)| {
            let password = password.cloned();
            tokio::spawn(async move {
                let mut conn = connect(&addr, password.as_ref()).await?;
                let mut n = 0u64;
                for chunk in ids.chunks(1000) {
                    let mut pipe = redis::pipe();
                    for i in chunk {
                        let slot = u16::try_from(i % u64::from(crate::slots::SLOTS)).unwrap_or(0);
                        let tag = crate::slots::tag_for_slot(slot);
                        pipe.cmd("SET")
                            .arg(format!("pre:{{{tag}}}:{i}"))
                            .arg(format!("value-{i}"))
                            .ignore();
                    }
                    pipe.query_async::<()>(&mut conn)
                        .await
                        .map_err(|e| format!("{addr}: {e}"))?;
                    n += chunk.len() as u64;
                }
                Ok::<u64, String>(n)
            })
        })
        .collect();
    let mut total = 0;
    for t in tasks {
        total += t.await.map_err(|e| e.to_string())??;
    }
    Ok(total)
}

/// Keys `pre:*` on every slot-owning master (`SCAN`), after the drill.
async fn count(snap: &Snapshot, password: Option<&Secret>) -> Result<u64, String> {
    let mut total = 0u64;
    for m in snap.masters() {
        let Some(addr) = m.addr.clone() else { continue };
        let mut conn = connect(&addr, password).await?;
        let mut cursor: u64 = 0;
        loop {
            let (next, keys): (u64, Vec<String>) = redis::cmd("SCAN")
                .arg(cursor)
                .arg("MATCH")
                .arg("pre:*")
                .arg("COUNT")
                .arg(10_000)
                .query_async(&mut conn)
                .await
                .map_err(|e| format!("{addr}: {e}"))?;
            total += keys.len() as u64;
            if next == 0 {
                break;
            }
            cursor = next;
        }
    }
    Ok(total)
}

/// A plain connection to one node (no cluster redirections).
async fn connect(
    addr: &NodeAddr,
    password: Option<&Secret>,
) -> Result<redis::aio::MultiplexedConnection, String> {
    let mut info = redis::RedisConnectionInfo::default();
    if let Some(p) = password {
        info = info.set_password(p.expose());
    }
    let client = redis::Client::open(
        redis::ConnectionAddr::Tcp(addr.host.clone(), addr.port)
            .into_connection_info()
            .map_err(|e| e.to_string())?
            .set_redis_settings(info),
    )
    .map_err(|e| e.to_string())?;
    client
        .get_multiplexed_async_connection()
        .await
        .map_err(|e| format!("{addr}: {e}"))
}
