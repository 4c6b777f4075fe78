//! The `seed-manual` baseline: the recipe's procedure at machine speed.

use std::time::{Duration, Instant};

use redis_stretch_admin::{AdminClient, ClusterState, FailoverMode, NodeAddr, Secret};
use tokio::sync::oneshot;

/// Watch a survivor; once it reports `cluster_state:fail`, send TAKEOVER to one replica there.
/// `survivors`: the surviving zone's instances, each with whether it is a replica. Returns
/// when the TAKEOVER was sent, after the start; `None` when stopped first (or no replica).
pub(super) async fn seed_manual(
    survivors: Vec<(NodeAddr, bool)>,
    password: Option<Secret>,
    stop: oneshot::Receiver<()>,
) -> Option<Duration> {
    let start = Instant::now();
    let watch = survivors.first()?.0.clone();
    let replica = survivors
        .iter()
        .find(|(_, is_replica)| *is_replica)?
        .0
        .clone();
    tokio::pin!(stop);
    loop {
        let client =
            AdminClient::connect(&watch, password.as_ref(), Duration::from_millis(200)).await;
        if let Ok(c) = client {
            if let Ok(info) = c.cluster_info().await {
                if info.state == ClusterState::Fail {
                    let r = AdminClient::connect(
                        &replica,
                        password.as_ref(),
                        Duration::from_millis(500),
                    )
                    .await;
                    if let Ok(r) = r {
                        let _ = r.failover(FailoverMode::Takeover).await;
                    }
                    return Some(start.elapsed());
                }
            }
        }
        tokio::select! {
            _ = &mut stop => return None,
            _ = tokio::time::sleep(Duration::from_millis(10)) => {}
        }
    }
}
