//! When the cluster counts as settled, and waiting for it.

use std::time::{Duration, Instant};

use redis_stretch_admin::Secret;
use redis_stretch_engine::{observe, Pool, Snapshot, Waiting};
use redis_stretch_topology::{Role, SLOT_COUNT};

use super::{Faults, ScenarioError};

/// The cluster as it answers now.
pub(super) async fn snapshot<F: Faults>(
    faults: &F,
    password: Option<&Secret>,
) -> Result<Snapshot, ScenarioError<F::Error>> {
    let layout = faults.layout().map_err(ScenarioError::Platform)?;
    let pool = Pool::new(password.cloned(), Duration::from_millis(300));
    Ok(observe(&layout.instances, &layout.zones, &pool).await)
}

/// Poll every 100 ms until `ok`, or fail after `limit` with what the engine waits for.
pub(super) async fn wait_for<F: Faults>(
    faults: &F,
    password: Option<&Secret>,
    limit: Duration,
    what: &'static str,
    ok: impl Fn(&Snapshot) -> bool,
) -> Result<(), ScenarioError<F::Error>> {
    let start = Instant::now();
    loop {
        if ok(&snapshot(faults, password).await?) {
            return Ok(());
        }
        if start.elapsed() > limit {
            let engine = faults
                .engine_status()
                .and_then(|s| s.waiting_for.map(|w| w.to_string()))
                .unwrap_or_else(|| "no engine status".into());
            return Err(ScenarioError::NotReached {
                what,
                secs: limit.as_secs(),
                engine,
            });
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Every node answers and serves the full slot map, every slot has a master, every replica's
/// link is up.
pub(super) fn settled(s: &Snapshot) -> bool {
    s.nodes
        .iter()
        .all(|n| n.reachable && n.slots_assigned == Some(u32::from(SLOT_COUNT)))
        && s.slots_covered() == usize::from(SLOT_COUNT)
        && s.slots_claimed_twice() == 0
        && s.nodes
            .iter()
            .filter(|n| n.role == Some(Role::Replica))
            .all(|n| n.link_up == Some(true))
}

/// The engine reports its steady state: every zone answers and masters sit as preferred.
pub(super) fn engine_idle<F: Faults>(faults: &F) -> bool {
    faults
        .engine_status()
        .is_some_and(|s| s.waiting_for == Some(Waiting::AsPreferred))
}
