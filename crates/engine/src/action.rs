//! What the engine can do, each with the reason it gives in events and status.

use std::fmt;

use redis_stretch_admin::NodeAddr;
use serde::Serialize;

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "action", rename_all = "kebab-case")]
pub enum Action {
    /// `CONFIG SET min-replicas-to-write N` and `min-replicas-max-lag L`: the node, as a master,
    /// refuses writes unless N replicas acknowledged within L s.
    Fence {
        node: NodeAddr,
        min_replicas: u32,
        max_lag_s: u32,
        why: String,
    },
    /// `CONFIG SET min-replicas-to-write 0`.
    Unfence { node: NodeAddr, why: String },
    /// `CLUSTER FAILOVER TAKEOVER` on a replica: no vote, bumps the epoch, claims the slots.
    Takeover {
        node: NodeAddr,
        shard: String,
        why: String,
    },
    /// `CLUSTER FAILOVER FORCE`: no handshake with the (dead) master, majority vote.
    ForceFailover {
        node: NodeAddr,
        shard: String,
        why: String,
    },
    /// `CLUSTER FAILOVER`: coordinated with the live master, no write lost.
    GracefulFailover {
        node: NodeAddr,
        shard: String,
        why: String,
    },
    /// `CLUSTER BUMPEPOCH`: so what this side serves wins over anything a cut-off side
    /// elected, when the partition heals (higher configEpoch wins per slot).
    BumpEpoch { node: NodeAddr, why: String },
    /// `CLUSTER MEET` sent to `node`, about `peer`'s current address.
    Meet {
        node: NodeAddr,
        peer: NodeAddr,
        why: String,
    },
    /// `CLUSTER REPLICATE master_id` on `node`.
    Replicate {
        node: NodeAddr,
        master_id: String,
        why: String,
    },
    /// `CLUSTER FORGET id` on `node`.
    Forget {
        node: NodeAddr,
        id: String,
        why: String,
    },
}

impl Action {
    pub fn why(&self) -> &str {
        match self {
            Action::Fence { why, .. }
            | Action::Unfence { why, .. }
            | Action::Takeover { why, .. }
            | Action::ForceFailover { why, .. }
            | Action::GracefulFailover { why, .. }
            | Action::BumpEpoch { why, .. }
            | Action::Meet { why, .. }
            | Action::Replicate { why, .. }
            | Action::Forget { why, .. } => why,
        }
    }

    pub fn node(&self) -> &NodeAddr {
        match self {
            Action::Fence { node, .. }
            | Action::Unfence { node, .. }
            | Action::Takeover { node, .. }
            | Action::ForceFailover { node, .. }
            | Action::GracefulFailover { node, .. }
            | Action::BumpEpoch { node, .. }
            | Action::Meet { node, .. }
            | Action::Replicate { node, .. }
            | Action::Forget { node, .. } => node,
        }
    }

    /// Short name for events and metrics labels.
    pub fn kind(&self) -> &'static str {
        match self {
            Action::Fence { .. } => "fence",
            Action::Unfence { .. } => "unfence",
            Action::Takeover { .. } => "takeover",
            Action::ForceFailover { .. } => "force-failover",
            Action::GracefulFailover { .. } => "graceful-failover",
            Action::BumpEpoch { .. } => "bump-epoch",
            Action::Meet { .. } => "meet",
            Action::Replicate { .. } => "replicate",
            Action::Forget { .. } => "forget",
        }
    }
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Action::Fence {
                node,
                min_replicas,
                max_lag_s,
                ..
            } => write!(
                f,
                "fence {node} (min-replicas-to-write {min_replicas}, max-lag {max_lag_s}s)"
            ),
            Action::Unfence { node, .. } => write!(f, "unfence {node}"),
            Action::Takeover { node, shard, .. } => write!(f, "takeover on {node} ({shard})"),
            Action::ForceFailover { node, shard, .. } => {
                write!(f, "failover force on {node} ({shard})")
            }
            Action::GracefulFailover { node, shard, .. } => {
                write!(f, "graceful failover on {node} ({shard})")
            }
            Action::BumpEpoch { node, .. } => write!(f, "bump epoch of {node}"),
            Action::Meet { node, peer, .. } => write!(f, "meet {peer} from {node}"),
            Action::Replicate {
                node, master_id, ..
            } => write!(f, "make {node} a replica of {}", short(master_id)),
            Action::Forget { node, id, .. } => write!(f, "forget {} on {node}", short(id)),
        }?;
        write!(f, ": {}", self.why())
    }
}

pub(crate) fn short(id: &str) -> &str {
    id.get(..8).unwrap_or(id)
}
