//! What the engine can do, each with the node it is sent to and the reason it gives in events
//! and status.

use std::fmt;

use redis_stretch_model::NodeAddr;
use serde::{Deserialize, Serialize};

use crate::{NodeState, PasswordRef};

/// One command for one node. It carries the node's id as well as its address, so that what
/// the engine remembers of an outcome (an epoch bumped, a failover asked) is keyed by the id
/// Redis uses, without a reverse lookup from address to id.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Action {
    pub node: NodeAddr,
    pub node_id: String,
    pub why: String,
    #[serde(flatten)]
    pub kind: ActionKind,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "action", rename_all = "kebab-case")]
pub enum ActionKind {
    /// `CONFIG SET min-replicas-to-write N` and `min-replicas-max-lag L`: the node, as a master,
    /// refuses writes unless N replicas acknowledged within L s.
    Fence { min_replicas: u32, max_lag_s: u32 },
    /// `CONFIG SET min-replicas-to-write 0`.
    Unfence,
    /// `CLUSTER FAILOVER TAKEOVER` on a replica: no vote, bumps the epoch, claims the slots.
    Takeover { shard: String },
    /// `CLUSTER FAILOVER FORCE`: no handshake with the (dead) master, majority vote.
    ForceFailover { shard: String },
    /// `CLUSTER FAILOVER`: coordinated with the live master, no write lost.
    GracefulFailover { shard: String },
    /// `CLUSTER BUMPEPOCH`: so what this side serves wins over anything a cut-off side
    /// elected, when the partition heals (higher configEpoch wins per slot).
    BumpEpoch,
    /// `CLUSTER MEET` sent to the node, about `peer`'s current address.
    Meet { peer: NodeAddr },
    /// `CLUSTER REPLICATE master_id` on the node.
    Replicate { master_id: String },
    /// `CLUSTER FORGET id` on the node.
    Forget { id: String },
    /// `CONFIG SET availability-zone zone` (Valkey 8): the zone clients read from `HELLO` and
    /// `CLUSTER SHARDS` to prefer replicas in their own data center.
    SetZone { zone: String },
    /// `CONFIG SET cluster-node-timeout ms`: lowered on survivors while taking over (Redis
    /// keeps a master that was in the minority refusing queries for max(node-timeout, 500 ms)
    /// after it rejoins a majority), put back when both zones answer.
    SetNodeTimeout { ms: u64 },
    /// `CONFIG SET cluster-replica-no-failover no|yes`: whether Redis's own election may pick
    /// this replica. Cleared once its copy is current, set while it is not (a full sync, never
    /// linked since a restart): Redis would elect an empty replica otherwise.
    SetElectable { electable: bool },
    /// `CONFIG SET name value`: a setting of the spec that the server applies live, put
    /// back where an instance differs (a spec edit, a restarted instance, a person's
    /// `CONFIG SET`).
    SetConfig { name: String, value: String },
    /// Restart the instance through its platform (local: stop the process, start it again
    /// with the current server and redis.conf; Kubernetes: delete the pod, which the
    /// StatefulSet recreates at its current revision): the rollout's step, only ever on a
    /// replica whose master is up and in sync.
    Restart { instance: String, reason: String },
    /// `ACL SETUSER default >password`: the instance accepts `password` beside what it
    /// accepted (a rotation's first step). Never `CONFIG SET requirepass`, which resets the
    /// user's other passwords. The password is named, never carried: act takes it from the
    /// engine's pool.
    AddPassword { password: PasswordRef },
    /// `ACL SETUSER default <password`: the instance no longer accepts `password` (the
    /// rotation's last step; connections already authenticated with it stay so).
    DropPassword { password: PasswordRef },
    /// `CONFIG SET masterauth password`: what the instance, as a replica, authenticates to its
    /// master with at its next handshake (a live link is not re-authenticated).
    SetMasterAuth { password: PasswordRef },
    /// `CONFIG SET tls-cert-file`, `tls-key-file` and `tls-ca-cert-file` to their own values:
    /// Redis 7.0.1+ and Valkey re-read the files (a renewed certificate) for new connections.
    ReloadTls,
    /// Move `slots` from the node (their owner) to the master `to_id` at `to`, one slot at a
    /// time, each finished (`SETSLOT NODE` on the target, the source, then `others`) before
    /// the next; `method` by the servers' versions. A slot left open by an earlier attempt is
    /// taken up where it stands.
    MoveSlots {
        to: NodeAddr,
        to_id: String,
        slots: Vec<redis_stretch_model::SlotRange>,
        #[serde(default)]
        others: Vec<NodeAddr>,
        /// The receiving master's current replica in the other zone: each batch of keys is
        /// on it before the next batch moves and before the slot changes hands.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        to_replica: Option<NodeAddr>,
        method: redis_stretch_model::MigrationMethod,
    },
    /// Close `slot`, left importing or migrating on the node: keys it holds of a slot it does
    /// not own go to `owner` (whose copy of a key, where both have one, is kept), then
    /// `SETSLOT slot STABLE` (or `NODE owner` where the node still claims it).
    CloseSlot {
        slot: u16,
        owner: NodeAddr,
        owner_id: String,
    },
    /// Look in `slots` for keys the node holds of slots it neither owns nor imports (a move
    /// cut short by a crash or a failover); each such slot is set importing from its owner,
    /// which `CloseSlot` then empties into the owner.
    Sweep {
        slots: Vec<redis_stretch_model::SlotRange>,
    },
    /// The instance leaves the cluster: `CLUSTER RESET HARD` on it (it serves nothing and
    /// gossips no more), `CLUSTER FORGET` of its id on `forget_on`, then the platform retires
    /// it (stops the process; on Kubernetes the StatefulSet shrinks).
    Retire {
        instance: String,
        #[serde(default)]
        forget_on: Vec<NodeAddr>,
    },
}

impl Action {
    /// `kind` for `target`, or nothing when the node cannot be named (no address or no id
    /// known): a command is never sent to an address made up for the occasion.
    pub fn on(target: &NodeState, kind: ActionKind, why: impl Into<String>) -> Option<Self> {
        Some(Self {
            node: target.addr.clone()?,
            node_id: target.id.clone()?,
            why: why.into(),
            kind,
        })
    }

    /// Short name for events and metrics labels.
    pub fn kind(&self) -> &'static str {
        self.kind.name()
    }

    /// Promotions: a replica becomes master of a shard whose master is lost.
    pub fn is_promotion(&self) -> bool {
        matches!(
            self.kind,
            ActionKind::Takeover { .. } | ActionKind::ForceFailover { .. }
        )
    }
}

impl ActionKind {
    /// The password an action sends (act resolves it from the engine's pool).
    pub fn password(&self) -> Option<PasswordRef> {
        match self {
            ActionKind::AddPassword { password }
            | ActionKind::DropPassword { password }
            | ActionKind::SetMasterAuth { password } => Some(*password),
            _ => None,
        }
    }

    pub fn name(&self) -> &'static str {
        match self {
            ActionKind::Fence { .. } => "fence",
            ActionKind::Unfence => "unfence",
            ActionKind::Takeover { .. } => "takeover",
            ActionKind::ForceFailover { .. } => "force-failover",
            ActionKind::GracefulFailover { .. } => "graceful-failover",
            ActionKind::BumpEpoch => "bump-epoch",
            ActionKind::Meet { .. } => "meet",
            ActionKind::Replicate { .. } => "replicate",
            ActionKind::Forget { .. } => "forget",
            ActionKind::SetZone { .. } => "set-zone",
            ActionKind::SetNodeTimeout { .. } => "set-node-timeout",
            ActionKind::SetElectable { .. } => "set-electable",
            ActionKind::SetConfig { .. } => "set-config",
            ActionKind::Restart { .. } => "restart",
            ActionKind::AddPassword { .. } => "add-password",
            ActionKind::DropPassword { .. } => "drop-password",
            ActionKind::SetMasterAuth { .. } => "set-masterauth",
            ActionKind::ReloadTls => "reload-tls",
            ActionKind::MoveSlots { .. } => "move-slots",
            ActionKind::Retire { .. } => "retire",
            ActionKind::CloseSlot { .. } => "close-slot",
            ActionKind::Sweep { .. } => "sweep",
        }
    }
}

/// What an action does, without why: `Display` is this, then `: why`.
pub struct What<'a>(&'a Action);

impl Action {
    pub fn what(&self) -> What<'_> {
        What(self)
    }
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.what(), self.why)
    }
}

impl fmt::Display for What<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let node = &self.0.node;
        match &self.0.kind {
            ActionKind::Fence {
                min_replicas,
                max_lag_s,
            } => write!(
                f,
                "fence {node} (min-replicas-to-write {min_replicas}, max-lag {max_lag_s}s)"
            ),
            ActionKind::Unfence => write!(f, "unfence {node}"),
            ActionKind::Takeover { shard } => write!(f, "takeover on {node} ({shard})"),
            ActionKind::ForceFailover { shard } => write!(f, "failover force on {node} ({shard})"),
            ActionKind::GracefulFailover { shard } => {
                write!(f, "graceful failover on {node} ({shard})")
            }
            ActionKind::BumpEpoch => write!(f, "bump epoch of {node}"),
            ActionKind::Meet { peer } => write!(f, "meet {peer} from {node}"),
            ActionKind::Replicate { master_id } => {
                write!(f, "make {node} a replica of {}", short_id(master_id))
            }
            ActionKind::Forget { id } => write!(f, "forget {} on {node}", short_id(id)),
            ActionKind::SetZone { zone } => write!(f, "set availability-zone of {node} to {zone}"),
            ActionKind::SetNodeTimeout { ms } => {
                write!(f, "set cluster-node-timeout of {node} to {ms} ms")
            }
            ActionKind::SetElectable { electable: true } => {
                write!(f, "let Redis elect {node} (cluster-replica-no-failover no)")
            }
            ActionKind::SetElectable { electable: false } => {
                write!(
                    f,
                    "keep Redis from electing {node} (cluster-replica-no-failover yes)"
                )
            }
            ActionKind::SetConfig { name, value } => {
                write!(f, "set {name} of {node} to {value:?}")
            }
            ActionKind::Restart { instance, reason } => {
                write!(f, "restart {instance} ({node}) for {reason}")
            }
            ActionKind::AddPassword { password } => {
                write!(f, "let {node} accept {password} (ACL SETUSER default)")
            }
            ActionKind::DropPassword { password } => {
                write!(f, "make {node} refuse {password} (ACL SETUSER default)")
            }
            ActionKind::SetMasterAuth { password } => {
                write!(f, "set masterauth of {node} to {password}")
            }
            ActionKind::ReloadTls => write!(f, "reload the TLS certificate files of {node}"),
            ActionKind::MoveSlots {
                to, slots, method, ..
            } => write!(
                f,
                "move slots {} from {node} to {to} ({})",
                redis_stretch_model::format_ranges(slots),
                match method {
                    redis_stretch_model::MigrationMethod::Atomic => "atomic, CLUSTER MIGRATESLOTS",
                    redis_stretch_model::MigrationMethod::RedisImport =>
                        "atomic, CLUSTER MIGRATION IMPORT",
                    redis_stretch_model::MigrationMethod::Classic => "SETSLOT and MIGRATE",
                }
            ),
            ActionKind::CloseSlot { slot, owner, .. } => {
                write!(f, "close slot {slot} on {node} (owner {owner})")
            }
            ActionKind::Sweep { slots } => write!(
                f,
                "look for stray keys of slots {} on {node}",
                redis_stretch_model::format_ranges(slots)
            ),
            ActionKind::Retire { instance, .. } => {
                write!(f, "retire {instance} ({node}) from the cluster")
            }
        }
    }
}

/// The first 8 characters of a node id, as people quote them.
pub fn short_id(id: &str) -> &str {
    id.get(..8).unwrap_or(id)
}
