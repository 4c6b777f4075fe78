//! A typed picture of the cluster at one moment: what each instance says about itself, and,
//! for instances that do not answer, what their peers last said about them.

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
    /// Why the node did not answer.
    pub error: Option<String>,
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
    pub repl_offset: Option<u64>,
    /// Its own `cluster_state`.
    pub cluster_state: Option<ClusterState>,
    /// Slots this node knows an owner for (`cluster_slots_assigned`, its own view).
    #[serde(default)]
    pub slots_assigned: Option<u32>,
    /// `min-replicas-to-write`: the fence. Set on replicas too, so that a promotion the
    /// engine did not order (Redis's own election on a cut-off side) starts fenced.
    pub fence: Option<u32>,
    /// What the server says it is (`INFO server`), when it answers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub server: Option<ServerFlavour>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    /// Valkey's `availability-zone`: the zone the instance tells clients it runs in.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub availability_zone: Option<String>,
    pub current_epoch: Option<u64>,
    /// How many reachable peers flag it `fail` / `fail?`.
    pub flagged_fail_by: usize,
    pub flagged_pfail_by: usize,
    /// Reachable nodes only: the peers it knows, and at which address.
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub sees: Vec<Seen>,
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
            error: None,
            role: None,
            master_id: None,
            slots: Vec::new(),
            config_epoch: 0,
            link_up: None,
            link_down_s: None,
            repl_offset: None,
            cluster_state: None,
            slots_assigned: None,
            fence: None,
            server: None,
            version: None,
            availability_zone: None,
            current_epoch: None,
            flagged_fail_by: 0,
            flagged_pfail_by: 0,
            sees: Vec::new(),
        }
    }

    pub fn is_master(&self) -> bool {
        self.role == Some(Role::Master)
    }
    pub fn owns_slots(&self) -> bool {
        self.is_master() && !self.slots.is_empty()
    }
    /// `up` when it answers, `down` otherwise.
    pub fn state_str(&self) -> &'static str {
        if self.reachable {
            "up"
        } else {
            "down"
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

    /// How many masters claim each slot: reachable ones, or all.
    fn claims(&self, reachable_only: bool) -> Vec<u8> {
        let mut count = vec![0u8; usize::from(SLOT_COUNT)];
        for m in self
            .masters()
            .into_iter()
            .filter(|m| m.reachable || !reachable_only)
        {
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
        self.claims(true).iter().filter(|c| **c > 0).count()
    }

    /// Slots that more than one master claims (each side of a partition that elected its own).
    pub fn slots_claimed_twice(&self) -> usize {
        self.claims(false).iter().filter(|c| **c > 1).count()
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
