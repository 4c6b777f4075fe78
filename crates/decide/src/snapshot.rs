//! A typed picture of the cluster at one moment: what each instance says about itself, and,
//! for instances that do not answer, what their peers last said about them.

use std::collections::BTreeMap;

use redis_stretch_model::{ClusterState, NodeAddr, Role, ServerFlavour, SlotRange, SLOT_COUNT};
use redis_stretch_topology::{survivability, Copy, ShardLayout, ZoneVerdict};
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodeState {
    /// Instance name when the platform knows this node.
    pub name: Option<String>,
    pub zone: String,
    pub addr: Option<NodeAddr>,
    /// Cluster node id; `None` for an instance that never answered and no peer knows.
    pub id: Option<String>,
    pub reachable: bool,
    /// Consecutive passes in which it did not answer, as the engine's tracker counts them (0 in
    /// a snapshot no tracker has seen): one lost probe is not a dead node.
    #[serde(default)]
    pub failed_probes: u32,
    /// Why the node did not answer, or what it answered instead of a report.
    pub error: Option<String>,
    /// It answered the engine, with an error (a wrong password, `LOADING`, a reply the engine
    /// cannot read): alive, so its zone is not dark, though the engine learns nothing from it
    /// and cannot act on it. `reachable` is false: everything else is its peers' view.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub refuses: bool,
    /// Current role: its own word when reachable, else its peers'.
    pub role: Option<Role>,
    pub master_id: Option<String>,
    pub slots: Vec<SlotRange>,
    pub config_epoch: u64,
    /// Replica only: `master_link_status:up` in its own INFO.
    pub link_up: Option<bool>,
    /// Replica only, link down: for how long (`master_link_down_since_seconds`).
    #[serde(default)]
    pub link_down_s: Option<u64>,
    /// Replica only: in a full sync (`master_sync_in_progress:1`): its data is being replaced
    /// and is no copy of its master's.
    #[serde(default)]
    pub syncing: bool,
    /// `cluster-replica-no-failover`: Redis's own election skips it. Every instance starts with
    /// it set (redis.conf); the engine clears it on a replica once that replica is current.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub no_failover: Option<bool>,
    /// The platform's word: this instance runs an older revision than the spec asks for, and
    /// why ([`redis_stretch_model::Instance::restart_for`]). The rollout restarts it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub restart_for: Option<String>,
    /// The platform's word: the spec has fewer shards and this instance goes
    /// ([`redis_stretch_model::Instance::leaving`]). The scale rules empty and retire it.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub leaving: bool,
    /// Slots it migrates or imports (its own `CLUSTER NODES` line): a migration under way,
    /// or one an engine or a person left half done.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub open_slots: Vec<OpenSlot>,
    pub repl_offset: Option<u64>,
    /// Its own `cluster_state`.
    pub cluster_state: Option<ClusterState>,
    /// Slots this node knows an owner for (`cluster_slots_assigned`, its own view).
    #[serde(default)]
    pub slots_assigned: Option<u32>,
    /// `min-replicas-to-write`: the fence. Set on replicas too, so that a promotion the
    /// engine did not order (Redis's own election on a cut-off side) starts fenced.
    pub fence: Option<u32>,
    /// `min-replicas-max-lag`: how recent a replica's acknowledgement must be to count.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fence_max_lag_s: Option<u32>,
    /// Its `cluster-node-timeout` now (the engine lowers it on survivors while taking over).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node_timeout_ms: Option<u64>,
    /// Master only: the lag (s since its last acknowledgement) of each connected replica, as
    /// the master sees them (`INFO replication`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub replica_lags_s: Vec<u64>,
    /// What the server says it is (`INFO server`), when it answers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub server: Option<ServerFlavour>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    /// Valkey's `availability-zone`: the zone the instance tells clients it runs in.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub availability_zone: Option<String>,
    /// The spec's live settings as the server has them now (`CONFIG GET`, by name; memory
    /// sizes in bytes): the config rule sets what differs from the spec.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub live_config: BTreeMap<String, String>,
    pub current_epoch: Option<u64>,
    /// Its own wall clock when it reported (`TIME`, Unix ms): the clock its `pong-recv` and
    /// `ping-sent` are on. Silences are read against it, not against the engine's clock, which
    /// may be stepped or run ahead of another host's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub clock_ms: Option<u64>,
    /// Its passwords as far as the engine's own go (see [`crate::AuthSeen`]): what a password
    /// rotation still has to do on it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auth: Option<crate::AuthSeen>,
    /// How many reachable peers flag it `fail` / `fail?`.
    pub flagged_fail_by: usize,
    pub flagged_pfail_by: usize,
    /// Reachable nodes only: the peers it knows, and at which address.
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub sees: Vec<Seen>,
}

/// A slot a node migrates to (`[slot->-peer]`) or imports from (`[slot-<-peer]`) another.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct OpenSlot {
    pub slot: u16,
    pub importing: bool,
    /// The other node's id.
    pub peer: String,
}

/// One line of a node's peer table.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Seen {
    pub id: String,
    pub addr: Option<NodeAddr>,
    pub handshake: bool,
    pub fail: bool,
    /// Its role, master and configEpoch in this peer's table: what this peer checks when the
    /// node asks for its vote (Redis denies a vote to a node it still believes is a master, and
    /// to a request whose configEpoch is older than the slots' it knows).
    #[serde(default)]
    pub role: Option<Role>,
    #[serde(default)]
    pub master_id: Option<String>,
    #[serde(default)]
    pub config_epoch: u64,
    /// When this peer last had a PONG from it (Unix ms, `pong-recv`; 0: never): Redis's own
    /// evidence of when a lost node went silent, which outlives a restarted engine.
    #[serde(default)]
    pub pong_recv_ms: u64,
    /// When this peer sent it a PING still unanswered (Unix ms; 0: none pending). With
    /// `pong_recv_ms`, how a cut between the zones shows while every node answers the engine.
    #[serde(default)]
    pub ping_sent_ms: u64,
}

impl NodeState {
    /// A node nobody has heard from: only where it should be.
    pub fn silent(name: Option<String>, zone: &str, addr: Option<NodeAddr>) -> Self {
        Self {
            name,
            zone: zone.to_owned(),
            addr,
            id: None,
            reachable: false,
            failed_probes: 0,
            error: None,
            refuses: false,
            role: None,
            master_id: None,
            slots: Vec::new(),
            config_epoch: 0,
            link_up: None,
            link_down_s: None,
            syncing: false,
            no_failover: None,
            restart_for: None,
            leaving: false,
            open_slots: Vec::new(),
            repl_offset: None,
            cluster_state: None,
            slots_assigned: None,
            fence: None,
            fence_max_lag_s: None,
            node_timeout_ms: None,
            replica_lags_s: Vec::new(),
            server: None,
            version: None,
            availability_zone: None,
            live_config: BTreeMap::new(),
            current_epoch: None,
            clock_ms: None,
            auth: None,
            flagged_fail_by: 0,
            flagged_pfail_by: 0,
            sees: Vec::new(),
        }
    }

    pub fn is_master(&self) -> bool {
        self.role == Some(Role::Master)
    }
    /// A replica whose copy is its master's, as of now: it answers, its link is up and no full
    /// sync is replacing its data.
    pub fn is_current_replica(&self) -> bool {
        self.reachable
            && self.role == Some(Role::Replica)
            && self.link_up == Some(true)
            && !self.syncing
    }
    /// A replica whose data is known not to be its master's: in a full sync, or never linked
    /// since it started or became a replica (Redis reports no `master_link_down_since_seconds`
    /// then: `repl_down_since` is 0). Redis's own election must not pick it (with
    /// `cluster-replica-validity-factor 0` nothing else stops it), nor may the engine.
    pub fn is_stale_replica(&self) -> bool {
        self.reachable
            && self.role == Some(Role::Replica)
            && (self.syncing || (self.link_up == Some(false) && self.link_down_s.is_none()))
    }
    pub fn owns_slots(&self) -> bool {
        self.is_master() && !self.slots.is_empty()
    }
    /// `up` when it answers, `down` otherwise.
    pub fn state_str(&self) -> &'static str {
        if self.reachable {
            "up"
        } else if self.refuses {
            "refuses"
        } else {
            "down"
        }
    }

    /// Whether this slot-owning master accepts writes now, and if not why; `None` for a node
    /// that owns no slots. Redis refuses writes with `NOREPLICAS` while fewer than
    /// `min-replicas-to-write` replicas acknowledged within `min-replicas-max-lag` seconds, and
    /// refuses every query while its own `cluster_state` is `fail`.
    pub fn write_state(&self) -> Option<WriteState> {
        if !self.owns_slots() {
            return None;
        }
        if !self.reachable {
            return Some(WriteState::Unreachable);
        }
        if self.cluster_state == Some(ClusterState::Fail) {
            return Some(WriteState::ClusterFail);
        }
        let needs = self.fence.unwrap_or(0);
        if needs > 0 {
            let max_lag = u64::from(self.fence_max_lag_s.unwrap_or(10));
            let good = self
                .replica_lags_s
                .iter()
                .filter(|l| **l <= max_lag)
                .count();
            let good = u32::try_from(good).unwrap_or(u32::MAX);
            if good < needs {
                return Some(WriteState::Fenced {
                    good,
                    needs,
                    max_lag_s: max_lag,
                });
            }
        }
        Some(WriteState::Accepts)
    }
}

/// Whether a master takes writes (see [`NodeState::write_state`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "writes", rename_all = "kebab-case")]
pub enum WriteState {
    Accepts,
    /// Its fence is shut: `good` replicas acknowledged within `max_lag_s`, it needs `needs`.
    Fenced {
        good: u32,
        needs: u32,
        max_lag_s: u64,
    },
    /// Its own `cluster_state` is `fail`: it refuses every query.
    ClusterFail,
    Unreachable,
}

impl std::fmt::Display for WriteState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            WriteState::Accepts => write!(f, "yes"),
            WriteState::Fenced {
                good,
                needs,
                max_lag_s,
            } => write!(
                f,
                "no: fenced, {good} of {needs} replicas within {max_lag_s}s"
            ),
            WriteState::ClusterFail => write!(f, "no: cluster_state fail"),
            WriteState::Unreachable => write!(f, "-"),
        }
    }
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Snapshot {
    /// Zone names in spec order.
    pub zones: Vec<String>,
    pub nodes: Vec<NodeState>,
}

impl Snapshot {
    pub fn node_by_id(&self, id: &str) -> Option<&NodeState> {
        self.nodes.iter().find(|n| n.id.as_deref() == Some(id))
    }

    /// Slot-owning masters, in the order of their first slot.
    pub fn masters(&self) -> Vec<&NodeState> {
        let mut m: Vec<&NodeState> = self.nodes.iter().filter(|n| n.owns_slots()).collect();
        m.sort_by_key(|n| n.slots.first().map(|r| r.start));
        m
    }

    pub fn replicas_of<'a>(&'a self, master_id: &str) -> impl Iterator<Item = &'a NodeState> + 'a {
        let id = master_id.to_owned();
        self.nodes.iter().filter(move |n| {
            n.role == Some(Role::Replica) && n.master_id.as_deref() == Some(id.as_str())
        })
    }

    /// Shards as the survivability analysis sees them. A replica counts as a healthy copy only
    /// when it answers and its link to the master is up.
    pub fn layout(&self) -> Vec<ShardLayout> {
        self.masters()
            .into_iter()
            .map(|m| ShardLayout {
                name: match (&m.addr, &m.id) {
                    (Some(a), _) => format!("shard of {a}"),
                    (None, Some(id)) => format!("shard of {id}"),
                    (None, None) => "shard".to_owned(),
                },
                master: Some(Copy {
                    zone: m.zone.clone(),
                    healthy: m.reachable,
                }),
                replicas: m.id.as_deref().map_or_else(Vec::new, |id| {
                    self.replicas_of(id)
                        .map(|r| Copy {
                            zone: r.zone.clone(),
                            healthy: r.reachable && r.link_up == Some(true),
                        })
                        .collect()
                }),
            })
            .collect()
    }

    pub fn verdicts(&self) -> Vec<ZoneVerdict> {
        let zones: Vec<&str> = self.zones.iter().map(String::as_str).collect();
        survivability(&self.layout(), &zones)
    }

    /// How many masters claim each slot: those `which` keeps.
    fn claims(&self, which: impl Fn(&NodeState) -> bool) -> Vec<u8> {
        let mut count = vec![0u8; usize::from(SLOT_COUNT)];
        for m in self.masters().into_iter().filter(|m| which(m)) {
            for r in &m.slots {
                for slot in r.start..=r.end {
                    if let Some(c) = count.get_mut(usize::from(slot)) {
                        *c = c.saturating_add(1);
                    }
                }
            }
        }
        count
    }

    /// Slots that a reachable master claims, each counted once (after a partition both sides
    /// may claim the same slots until the heal settles it by configEpoch).
    pub fn slots_covered(&self) -> usize {
        self.claims(|m| m.reachable)
            .iter()
            .filter(|c| **c > 0)
            .count()
    }

    /// Slots that more than one master claims (each side of a partition that elected its own).
    pub fn slots_claimed_twice(&self) -> usize {
        self.claims(|_| true).iter().filter(|c| **c > 1).count()
    }

    /// Slots whose master (any of them, when two claim it) accepts writes now, each counted
    /// once: what clients can write to, fences and `cluster_state` included.
    pub fn slots_writable(&self) -> usize {
        self.claims(|m| m.write_state() == Some(WriteState::Accepts))
            .iter()
            .filter(|c| **c > 0)
            .count()
    }

    /// A master that claims one of `n`'s slots with a newer configEpoch: `n` has lost them
    /// (the higher configEpoch wins each slot when the sides hear each other again).
    pub fn newer_claimant<'a>(&'a self, n: &NodeState) -> Option<&'a NodeState> {
        self.masters().into_iter().find(|m| {
            m.id != n.id
                && m.config_epoch > n.config_epoch
                && m.slots
                    .iter()
                    .any(|a| n.slots.iter().any(|b| a.start <= b.end && b.start <= a.end))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn master() -> NodeState {
        NodeState {
            id: Some("m".into()),
            reachable: true,
            role: Some(Role::Master),
            slots: vec![SlotRange { start: 0, end: 10 }],
            cluster_state: Some(ClusterState::Ok),
            fence: Some(1),
            fence_max_lag_s: Some(2),
            replica_lags_s: vec![0],
            ..NodeState::silent(Some("m".into()), "dc-a", None)
        }
    }

    #[test]
    fn a_master_takes_writes_while_its_fence_is_satisfied() {
        let mut m = master();
        assert_eq!(m.write_state(), Some(WriteState::Accepts));
        m.replica_lags_s = vec![5];
        assert_eq!(
            m.write_state(),
            Some(WriteState::Fenced {
                good: 0,
                needs: 1,
                max_lag_s: 2
            })
        );
        m.fence = Some(0);
        assert_eq!(m.write_state(), Some(WriteState::Accepts), "unfenced");
        m.cluster_state = Some(ClusterState::Fail);
        assert_eq!(m.write_state(), Some(WriteState::ClusterFail));
        m.slots.clear();
        assert_eq!(m.write_state(), None, "owns no slots");
    }

    #[test]
    fn slots_are_counted_once_however_many_masters_claim_them() {
        let a = master();
        let mut b = master();
        b.id = Some("b".into());
        b.name = Some("b".into());
        b.config_epoch = 2;
        let mut snap = Snapshot {
            zones: vec!["dc-a".into()],
            nodes: vec![a, b],
        };
        assert_eq!(snap.slots_covered(), 11);
        assert_eq!(snap.slots_writable(), 11);
        assert_eq!(snap.slots_claimed_twice(), 11);
        for n in &mut snap.nodes {
            n.replica_lags_s = vec![30];
        }
        assert_eq!(snap.slots_writable(), 0, "both fenced shut");
        assert_eq!(snap.slots_covered(), 11);
    }
}
