//! The rollout drill: restart every instance under the drill's writers, the engine's way
//! (one at a time, replicas first, each master after a graceful failover, the layout restored
//! at the end) or the way a StatefulSet `RollingUpdate` does it today (every StatefulSet at
//! once, each from its highest ordinal, the next pod as soon as the last answers), and report
//! what clients saw: acknowledged writes lost, the longest time any shard refused writes,
//! how often a shard had no copy up at all, and the rollout's total time.

use std::future::Future;
use std::time::{Duration, Instant};

use redis_stretch_api::ServerFlavour;
use redis_stretch_engine::Snapshot;
use serde::Serialize;

use super::settle::{settled, snapshot, wait_for};
use super::{as_preferred, begin, finish, Faults, Scenario, ScenarioError, SETTLE_BEFORE};
use crate::DrillReport;

/// Restarting instances: what the rollout drill needs from a platform beyond [`Faults`].
pub trait Rollouts: Faults {
    /// Ask for a rollout the engine runs: every instance outdated (with `server`, that server
    /// instead of the running one). Returns what changed, in words.
    fn start_rollout(&self, server: Option<ServerFlavour>) -> Result<String, Self::Error>;
    /// Instances the platform reports outdated now.
    fn outdated(&self) -> Result<usize, Self::Error>;
    /// Restart instance `name` now, as a StatefulSet controller would: stop it and start it
    /// again, done once it answers (not once it has synced).
    fn restart_now(&self, name: &str) -> impl Future<Output = Result<String, Self::Error>>;
}

/// Who restarts the instances.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum RolloutBy {
    /// The engine's rollout (`OnDelete` StatefulSets on Kubernetes).
    Engine,
    /// Today's StatefulSet `RollingUpdate`: each StatefulSet (here: each zone) restarts its
    /// instances from the highest ordinal down, all StatefulSets at once.
    RollingUpdate,
}

/// What a rollout drill measured beyond the drill's report.
#[derive(Clone, Debug, Serialize)]
pub struct RolloutFigures {
    pub by: RolloutBy,
    /// From the rollout's start until every instance is restarted, the cluster settled and
    /// (for the engine) the layout as preferred.
    pub total_ms: f64,
    /// The longest time one shard refused writes without a break (the drill's probe, every
    /// 20 ms, in 100 ms buckets: a bucket with a failed probe counts whole).
    pub longest_shard_outage_ms: f64,
    /// Samples (every 100 ms) in which some shard had neither its master nor a replica up.
    pub samples_shard_fully_down: u64,
    pub samples: u64,
}

/// A rollout of a small cluster takes seconds; generous for slow machines.
const ROLLOUT_LIMIT: Duration = Duration::from_secs(240);

/// Run one rollout drill; `s.zone`/`s.fault` are unused (the SVG path is `s.svg`).
pub async fn run_rollout<F: Rollouts>(
    faults: &F,
    s: &Scenario,
    by: RolloutBy,
    server: Option<ServerFlavour>,
) -> Result<(super::DrillResult, RolloutFigures), ScenarioError<F::Error>> {
    let layout = faults.layout().map_err(ScenarioError::Platform)?;
    let spec = faults.spec().map_err(ScenarioError::Platform)?;
    let password = faults.password().map_err(ScenarioError::Platform)?;
    wait_for(faults, password.as_ref(), SETTLE_BEFORE, "settled", settled).await?;
    // Today's operator runs the engine too: it is running in both cases.
    let (engine_stop, cfg, workload) = begin(faults, &layout, password.as_ref(), true).await?;

    let started = Instant::now();
    let mut samples = Samples::default();
    match by {
        RolloutBy::Engine => {
            let what = faults
                .start_rollout(server)
                .map_err(ScenarioError::Platform)?;
            workload.mark_fault(&format!("rollout by the engine: {what}"));
            loop {
                let snap = snapshot(faults, password.as_ref()).await?;
                samples.take(&snap);
                let outdated = faults.outdated().map_err(ScenarioError::Platform)?;
                if outdated == 0 && settled(&snap) && as_preferred(&snap, &spec) {
                    break;
                }
                if started.elapsed() > ROLLOUT_LIMIT {
                    return Err(not_done(faults, "the engine's rollout done"));
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
        RolloutBy::RollingUpdate => {
            workload.mark_fault("rollout by StatefulSet RollingUpdate");
            // One "StatefulSet" per zone, highest ordinal first, all at once: the next pod as
            // soon as the last one answers.
            let mut sets: Vec<Vec<String>> = layout
                .zones
                .iter()
                .map(|z| {
                    let mut names: Vec<String> = layout
                        .instances
                        .iter()
                        .filter(|i| &i.zone == z)
                        .map(|i| i.name.clone())
                        .collect();
                    names.sort();
                    names.reverse();
                    names
                })
                .collect();
            let sequence = |set: Vec<String>| async move {
                for name in &set {
                    faults.restart_now(name).await?;
                }
                Ok::<(), F::Error>(())
            };
            let second = if sets.len() > 1 {
                sets.remove(1)
            } else {
                Vec::new()
            };
            let first = sets.into_iter().next().unwrap_or_default();
            let roll = async { tokio::try_join!(sequence(first), sequence(second)).map(|_| ()) };
            tokio::pin!(roll);
            loop {
                tokio::select! {
                    done = &mut roll => {
                        done.map_err(ScenarioError::Platform)?;
                        break;
                    }
                    () = tokio::time::sleep(Duration::from_millis(100)) => {
                        samples.take(&snapshot(faults, password.as_ref()).await?);
                    }
                }
            }
            let limit = ROLLOUT_LIMIT.saturating_sub(started.elapsed());
            wait_for(faults, password.as_ref(), limit, "settled", settled).await?;
        }
    }
    let total_ms = started.elapsed().as_secs_f64() * 1000.0;
    workload.mark("rollout done");
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
    let figures = RolloutFigures {
        by,
        total_ms,
        longest_shard_outage_ms: longest_outage(&result.report),
        samples_shard_fully_down: samples.fully_down,
        samples: samples.taken,
    };
    Ok((result, figures))
}

fn not_done<F: Faults>(faults: &F, what: &'static str) -> ScenarioError<F::Error> {
    ScenarioError::NotReached {
        what,
        secs: ROLLOUT_LIMIT.as_secs(),
        engine: faults
            .engine_status()
            .and_then(|s| s.waiting_for.map(|w| w.to_string()))
            .unwrap_or_else(|| "no engine status".into()),
    }
}

#[derive(Default)]
struct Samples {
    taken: u64,
    fully_down: u64,
}

impl Samples {
    /// A shard fully down: a slot range whose owner (as any answering node last saw it) and
    /// every replica of that owner are unreachable.
    fn take(&mut self, snap: &Snapshot) {
        self.taken += 1;
        let down = snap.masters().into_iter().any(|m| {
            !m.slots.is_empty()
                && !m.reachable
                && m.id
                    .as_deref()
                    .is_none_or(|id| snap.replicas_of(id).all(|r| !r.reachable))
        });
        if down {
            self.fully_down += 1;
        }
    }
}

/// The longest run of 100 ms buckets in which one shard's probe found it not writable, over
/// every shard: a shard that refused writes three times for 100 ms counts 100 ms, not the span
/// from the first refusal to the last.
pub(super) fn longest_outage(report: &DrillReport) -> f64 {
    let shards = report
        .buckets
        .first()
        .map_or(0, |b| b.shards_writable.len());
    let mut longest = 0u64;
    for shard in 0..shards {
        let mut run = 0u64;
        for b in &report.buckets {
            if b.shards_writable.get(shard) == Some(&Some(false)) {
                run += 1;
                longest = longest.max(run);
            } else {
                run = 0;
            }
        }
    }
    let ms = longest.saturating_mul(report.bucket_ms);
    f64::from(u32::try_from(ms).unwrap_or(u32::MAX))
}
