use serde::{Deserialize, Serialize};

/// What a Redis node is right now (or, in a plan, what it starts as). Roles are dynamic: after
/// a takeover a planned replica is a master, and nothing may assume otherwise.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Master,
    Replica,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Master => "master",
            Role::Replica => "replica",
        }
    }
}

/// A node's own `cluster_state` (`CLUSTER INFO`): `fail` when it sees a slot without a
/// reachable owner, or itself in a minority partition.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ClusterState {
    Ok,
    Fail,
}
