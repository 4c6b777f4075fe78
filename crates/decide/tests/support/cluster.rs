//! The model's Redis Cluster: each instance's own state (role, slot table, epochs, config,
//! replication) and its table of peers, plus the network between instances and the engine.
//! It carries what decide's `Snapshot` is made of and what Redis needs to produce it; how it
//! changes over time is `tick.rs`, what the engine's commands do is `commands.rs`.

use redis_stretch_model::{split_slots, Role, ServerFlavour, SlotRange};

pub const ZONES: [&str; 2] = ["dc-a", "dc-b"];
/// Redis's cluster cron runs every 100 ms: the model's unit of time.
pub const TICK_MS: u64 = 100;
/// Unix ms when every scenario starts.
pub const START_MS: u64 = 1_700_000_000_000;
/// `repl-timeout` (Redis default): in a silent cut a replica's link stays `up` this long.
pub const REPL_TIMEOUT_MS: u64 = 60_000;
/// A partial resync (PSYNC from the backlog): link down this long.
pub const PSYNC_MS: u64 = 200;
/// A full sync (`repl-diskless-sync-delay 0`, a small data set over the inter-DC link).
pub const FULL_SYNC_MS: u64 = 2000;
/// A restarted master stays `cluster_state:fail` this long (Redis's CLUSTER_WRITABLE_DELAY).
pub const WRITABLE_DELAY_MS: u64 = 2000;
/// A manual failover's master pauses its clients at most this long (CLUSTER_MF_TIMEOUT).
pub const MF_TIMEOUT_MS: u64 = 5000;
/// A link that went silent (a cut, an isolated zone) comes back this long after the path
/// does: TCP's retransmission backoff and Redis's reconnects (a reset one comes back at once).
pub const RECONNECT_MS: u64 = 1000;
/// What a restarted instance reads from its config file: the engine's `CONFIG SET`s are gone.
pub const CONFIG_FILE_MAX_LAG_S: u32 = 2;

/// One instance's failure flag for a peer.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Flag {
    Ok,
    /// `fail?`: a ping unanswered for node-timeout.
    PFail,
    /// `fail`: a majority of slot-owning masters agreed.
    Fail,
}

/// A line of an instance's peer table (`CLUSTER NODES`).
#[derive(Clone, Debug)]
pub struct Peer {
    pub role: Role,
    pub master: Option<usize>,
    /// The peer's configEpoch as last heard (a replica advertises its master's).
    pub epoch: u64,
    pub pong_recv_ms: u64,
    /// A ping still unanswered (0: none).
    pub ping_sent_ms: u64,
    pub flag: Flag,
    pub fail_at_ms: u64,
}

/// A replica's replication link, as `INFO replication` reports it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Link {
    Up,
    /// `since_ms`: when it went down; `None`: never up with this master since the instance
    /// became its replica or restarted (Redis reports `master_link_down_since_seconds:-1`).
    Down {
        since_ms: Option<u64>,
    },
    /// A sync under way (`master_link_status:down` until it is done).
    Syncing {
        done_ms: u64,
        since_ms: Option<u64>,
    },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Dark {
    /// The zone's network is gone: its instances run on, hearing only each other, and every
    /// connection across goes silent (no reset).
    Isolated,
    /// Every process of the zone is dead: connections to them are reset at once.
    Crashed,
}

#[derive(Clone, Debug)]
pub struct Node {
    pub name: String,
    pub zone: usize,
    pub port: u16,
    pub id: String,
    pub flavour: ServerFlavour,
    pub alive: bool,
    /// The platform reports it at an older revision (the rollout restarts it).
    pub outdated: bool,
    pub started_ms: u64,
    // Run-time config (`CONFIG SET`), lost on restart.
    pub fence: u32,
    /// `cluster-replica-no-failover`: redis.conf sets it, bootstrap and the engine clear it.
    pub no_failover: bool,
    pub fence_max_lag_s: u32,
    pub node_timeout_ms: u64,
    pub availability_zone: Option<String>,
    /// The spec's live settings (`CONFIG GET`); empty: the model does not track them.
    pub live_config: std::collections::BTreeMap<String, String>,
    // `nodes.conf`: survives a restart.
    pub role: Role,
    pub master: Option<usize>,
    /// Per shard, who serves its slots in this instance's table.
    pub owner: Vec<Option<usize>>,
    pub config_epoch: u64,
    pub current_epoch: u64,
    pub last_vote_epoch: u64,
    /// Per instance (`None` for itself).
    pub peers: Vec<Option<Peer>>,
    // Run time.
    pub cluster_ok: bool,
    /// Last time it saw fewer than a majority of slot-owning masters (the rejoin delay).
    pub minority_ms: u64,
    pub paused_until_ms: u64,
    pub election_at_ms: Option<u64>,
    /// Masters whose replica it voted for, and when (one vote per 2 × node-timeout).
    pub voted_for: Vec<(usize, u64)>,
    // Replication.
    /// Writes it holds: a master's own count; a replica's copy of its master's.
    pub offset: u64,
    /// A promoted master: its offset when promoted (what its old master may psync from),
    /// and the master it replaced.
    pub promoted_at: Option<u64>,
    pub promoted_from: Option<usize>,
    /// It was promoted before it ever synced with the master it replaced.
    pub promoted_unsynced: bool,
    /// Its last promotion was Redis's own election, not a command: when.
    pub elected_alone: Option<u64>,
    pub link: Link,
    /// Its copy of the shard is the master's, up to the link's last moment: it completed a
    /// sync since it became a replica (a demoted master that resyncs holds discarded writes).
    pub synced: bool,
    /// `CLUSTER REPLICATE` moved this replica to another shard's master and it has not
    /// completed a sync with it yet (Redis 7 then reports the old master's disconnection as
    /// the link's down time, not `-1`).
    pub repointed: bool,
    /// A fault: its replication link keeps failing (a resync loop, a broken backlog).
    pub link_broken: bool,
    /// The master whose replica list still holds its connection (kept through a silent cut
    /// until repl-timeout, even after this node was promoted on the other side), and its
    /// last `REPLCONF ACK` there.
    pub acked_to: Option<usize>,
    pub last_ack_ms: u64,
    /// Last time it heard its master on the bus (when the master went silent to it).
    pub master_heard_ms: u64,
}

/// Where a shard's master and replicas start.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ShardLayout {
    pub master_zone: usize,
    pub replica_zones: Vec<usize>,
}

/// A master that lost its slots to the replica promoted in its place, and had taken writes
/// since that promotion: the full resync discards offsets `from..to` of its own.
#[derive(Clone, Copy, Debug)]
pub struct Discard {
    pub node: usize,
    pub winner: usize,
    pub from: u64,
    pub to: u64,
}

#[derive(Clone, Debug)]
pub struct Cluster {
    pub now_ms: u64,
    pub nodes: Vec<Node>,
    /// Slot ranges, one per shard of the starting layout (slots move by whole shards).
    pub shards: Vec<SlotRange>,
    pub dark: [Option<Dark>; 2],
    /// The zones do not hear each other (the engine, at a third site, hears both).
    pub cut: bool,
    pub spec_node_timeout_ms: u64,
    /// Per ordered pair (`a * n + b`): the path was silent (not reset) since it last worked,
    /// and when the link works again once the path is back.
    pub silent: Vec<bool>,
    pub back_ms: Vec<u64>,
    /// Writes discarded so far, oldest first (the test drains them).
    pub discarded: Vec<Discard>,
}

/// A node id as Redis writes it: 40 hex characters.
pub fn node_id(name: &str) -> String {
    format!(
        "{:0>40}",
        name.bytes().map(|b| format!("{b:02x}")).collect::<String>()
    )
}

impl Cluster {
    /// A formed, healthy, fully meshed cluster in `layout`: every replica in sync, every
    /// instance with a distinct configEpoch (as `redis-cli --cluster create` leaves them).
    pub fn new(layout: &[ShardLayout], flavour: ServerFlavour, node_timeout_ms: u64) -> Self {
        let count = u32::try_from(layout.len()).unwrap_or(0);
        let shards = split_slots(count);
        let mut nodes = Vec::new();
        let mut masters = Vec::new();
        for (k, s) in layout.iter().enumerate() {
            masters.push(nodes.len());
            nodes.push((format!("m{}", k + 1), s.master_zone, None));
            for (j, z) in s.replica_zones.iter().enumerate() {
                let suffix = if j == 0 {
                    String::new()
                } else {
                    format!("{j}")
                };
                nodes.push((format!("r{}{suffix}", k + 1), *z, Some(k)));
            }
        }
        let total = nodes.len();
        let epoch_of = |i: usize| -> u64 {
            // Masters 1..=N, replicas after them: distinct, as a formed cluster has them.
            match masters.iter().position(|m| *m == i) {
                Some(k) => k as u64 + 1,
                None => (layout.len() + i) as u64 + 1,
            }
        };
        let owner: Vec<Option<usize>> = masters.iter().map(|m| Some(*m)).collect();
        let mut out: Vec<Node> = nodes
            .iter()
            .enumerate()
            .map(|(i, (name, zone, shard))| Node {
                name: name.clone(),
                zone: *zone,
                port: 7000 + u16::try_from(i).unwrap_or(0),
                id: node_id(name),
                flavour,
                alive: true,
                outdated: false,
                started_ms: START_MS - 60_000,
                fence: 0,
                no_failover: false,
                fence_max_lag_s: CONFIG_FILE_MAX_LAG_S,
                node_timeout_ms,
                availability_zone: (flavour == ServerFlavour::Valkey)
                    .then(|| ZONES[*zone].to_owned()),
                live_config: std::collections::BTreeMap::new(),
                role: if shard.is_some() {
                    Role::Replica
                } else {
                    Role::Master
                },
                master: shard.map(|k| masters[k]),
                owner: owner.clone(),
                config_epoch: epoch_of(i),
                current_epoch: total as u64,
                last_vote_epoch: 0,
                peers: Vec::new(),
                cluster_ok: true,
                minority_ms: 0,
                paused_until_ms: 0,
                election_at_ms: None,
                voted_for: Vec::new(),
                offset: 0,
                promoted_at: None,
                promoted_from: None,
                promoted_unsynced: false,
                elected_alone: None,
                link: Link::Up,
                synced: true,
                repointed: false,
                link_broken: false,
                acked_to: shard.map(|k| masters[k]),
                last_ack_ms: START_MS,
                master_heard_ms: START_MS,
            })
            .collect();
        let lines: Vec<Peer> = (0..out.len())
            .map(|i| Peer {
                role: out[i].role,
                master: out[i].master,
                epoch: out[i]
                    .master
                    .map_or(out[i].config_epoch, |m| out[m].config_epoch),
                pong_recv_ms: START_MS,
                ping_sent_ms: 0,
                flag: Flag::Ok,
                fail_at_ms: 0,
            })
            .collect();
        for (i, n) in out.iter_mut().enumerate() {
            n.peers = lines
                .iter()
                .enumerate()
                .map(|(p, l)| (p != i).then(|| l.clone()))
                .collect();
        }
        Self {
            now_ms: START_MS,
            nodes: out,
            shards,
            dark: [None, None],
            cut: false,
            spec_node_timeout_ms: node_timeout_ms,
            silent: vec![false; total * total],
            back_ms: vec![0; total * total],
            discarded: Vec::new(),
        }
    }

    pub fn by_id(&self, id: &str) -> Option<usize> {
        self.nodes.iter().position(|n| n.id == id)
    }

    /// The engine reaches it: it runs, and its zone's network is up.
    pub fn reachable(&self, i: usize) -> bool {
        let n = &self.nodes[i];
        n.alive && self.dark[n.zone].is_none()
    }

    /// The engine reaches the zone (it is not dark).
    pub fn reachable_zone(&self, zone: usize) -> bool {
        self.dark[zone].is_none()
    }

    /// `a` and `b` hear each other on the cluster bus (and for replication): the path is
    /// open and the link is back.
    pub fn can_talk(&self, a: usize, b: usize) -> bool {
        self.path_open(a, b) && self.now_ms >= self.back_ms[a * self.nodes.len() + b]
    }

    /// Both run and the network between them works.
    pub fn path_open(&self, a: usize, b: usize) -> bool {
        let (x, y) = (&self.nodes[a], &self.nodes[b]);
        if !x.alive || !y.alive {
            return false;
        }
        if x.zone == y.zone {
            return true;
        }
        !self.cut && self.dark[x.zone].is_none() && self.dark[y.zone].is_none()
    }

    /// The configEpoch `i` advertises (`nodeEpoch`): a replica's is its master's, as it knows it.
    pub fn advertised_epoch(&self, i: usize) -> u64 {
        let n = &self.nodes[i];
        match (n.role, n.master) {
            (Role::Replica, Some(m)) => n.peers[m].as_ref().map_or(0, |p| p.epoch),
            _ => n.config_epoch,
        }
    }

    /// The configEpoch `of` has in `at`'s table.
    pub fn epoch_in_view(&self, at: usize, of: usize) -> u64 {
        if at == of {
            self.nodes[at].config_epoch
        } else {
            self.nodes[at].peers[of].as_ref().map_or(0, |p| p.epoch)
        }
    }

    /// Shards `i` serves, by its own table.
    pub fn own_shards(&self, i: usize) -> Vec<usize> {
        let n = &self.nodes[i];
        if n.role != Role::Master {
            return Vec::new();
        }
        (0..self.shards.len())
            .filter(|k| n.owner[*k] == Some(i))
            .collect()
    }

    /// Slot ranges `of` serves in `at`'s table.
    pub fn slots_in_view(&self, at: usize, of: usize) -> Vec<SlotRange> {
        self.nodes[at]
            .owner
            .iter()
            .zip(&self.shards)
            .filter(|(o, _)| **o == Some(of))
            .map(|(_, r)| *r)
            .collect()
    }

    /// Replicas `m` lists in `INFO replication` (`online`): their connection is open as far as
    /// `m` can tell.
    pub fn listed_replicas(&self, m: usize) -> Vec<usize> {
        (0..self.nodes.len())
            .filter(|r| self.nodes[*r].acked_to == Some(m))
            .collect()
    }

    /// `min-replicas-to-write` met: replicas acknowledged within `min-replicas-max-lag`
    /// (whole seconds, as Redis counts them).
    fn fence_met(&self, m: usize) -> bool {
        let n = &self.nodes[m];
        if n.fence == 0 {
            return true;
        }
        let good = self
            .listed_replicas(m)
            .iter()
            .filter(|r| {
                self.now_ms.saturating_sub(self.nodes[**r].last_ack_ms) / 1000
                    <= u64::from(n.fence_max_lag_s)
            })
            .count();
        good >= n.fence as usize
    }

    /// Whether `m` acknowledges a client's write now: a running master serving slots, whose
    /// `cluster_state` is ok, not paused by a manual failover, whose fence is met.
    pub fn accepts_writes(&self, m: usize) -> bool {
        let n = &self.nodes[m];
        n.alive
            && n.role == Role::Master
            && !self.own_shards(m).is_empty()
            && n.cluster_ok
            && self.now_ms >= n.paused_until_ms
            && self.fence_met(m)
    }

    /// A replica's copy, judged from what the model knows: it synced with its master, and its
    /// link is up or went down no more than `tolerance_ms` before its master went silent to it.
    pub fn copy_is_current(&self, r: usize, tolerance_ms: u64) -> bool {
        let n = &self.nodes[r];
        if !n.synced {
            return false;
        }
        match n.link {
            Link::Up => true,
            Link::Down { since_ms } | Link::Syncing { since_ms, .. } => {
                since_ms.is_some_and(|s| s.saturating_add(tolerance_ms) >= n.master_heard_ms)
            }
        }
    }

    // Faults.

    pub fn crash(&mut self, i: usize) {
        if !self.nodes[i].alive {
            return;
        }
        let now = self.now_ms;
        self.nodes[i].alive = false;
        // Its connections are reset at once: its replicas lose their link now.
        for n in &mut self.nodes {
            if n.master == Some(i) && n.role == Role::Replica {
                n.link = match n.link {
                    Link::Up => Link::Down {
                        since_ms: Some(now),
                    },
                    Link::Syncing { since_ms, .. } => Link::Down { since_ms },
                    down => down,
                };
            }
        }
    }

    /// The process starts again: `nodes.conf` (roles, slot table, epochs) and its data kept,
    /// every `CONFIG SET` gone, every replication link to be synced again.
    pub fn restart(&mut self, i: usize) {
        if self.nodes[i].alive {
            return;
        }
        let now = self.now_ms;
        let nt = self.spec_node_timeout_ms;
        let n = &mut self.nodes[i];
        n.alive = true;
        n.started_ms = now;
        n.cluster_ok = false;
        n.fence = 0;
        n.no_failover = true;
        n.fence_max_lag_s = CONFIG_FILE_MAX_LAG_S;
        n.node_timeout_ms = nt;
        n.availability_zone = None;
        n.paused_until_ms = 0;
        n.election_at_ms = None;
        for p in n.peers.iter_mut().flatten() {
            p.pong_recv_ms = 0;
            p.ping_sent_ms = 0;
            p.flag = Flag::Ok;
        }
        if n.role == Role::Replica {
            n.link = Link::Down { since_ms: None };
            n.synced = false;
        }
    }

    pub fn go_dark(&mut self, zone: usize, how: Dark) {
        // A zone without instances has nothing to go dark (the engine sees it healthy).
        if self.dark[zone].is_some() || !self.nodes.iter().any(|n| n.zone == zone) {
            return;
        }
        if how == Dark::Crashed {
            for i in 0..self.nodes.len() {
                if self.nodes[i].zone == zone {
                    self.crash(i);
                }
            }
        }
        self.dark[zone] = Some(how);
    }

    pub fn come_back(&mut self, zone: usize) {
        if self.dark[zone].take() == Some(Dark::Crashed) {
            for i in 0..self.nodes.len() {
                if self.nodes[i].zone == zone {
                    self.restart(i);
                }
            }
        }
    }

    pub fn break_link(&mut self, r: usize, broken: bool) {
        self.nodes[r].link_broken = broken;
    }
}
