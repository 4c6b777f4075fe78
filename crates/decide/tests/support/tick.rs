//! What Redis does on its own, one cluster-cron tick (100 ms) at a time (Redis 7,
//! `cluster_legacy.c` and `replication.c`; docs/REDIS-FACTS.md):
//! - instances that hear each other exchange headers: roles, epochs, slot claims (the higher
//!   configEpoch wins a slot; a master that lost all its slots to one sender becomes its
//!   replica, and its replicas follow); an unanswered ping turns into `fail?` after
//!   node-timeout, and `fail` once a majority of slot-owning masters report it;
//! - two masters with the same configEpoch: the one with the smaller id bumps;
//! - replication: links that break reset at once (a crash) or after `repl-timeout` (a silent
//!   cut); a link that comes back syncs first;
//! - a replica whose master is `fail` holds an election after its delay and wins with a
//!   majority of the slot-owning masters' votes (`cluster-replica-validity-factor 0`);
//! - `cluster_state` from the slot-owning masters an instance can reach, with the rejoin
//!   delay for masters that were among a minority;
//! - every master that accepts writes takes one (a client writes continuously).

use redis_stretch_model::Role;

use super::cluster::{Cluster, Flag, Link, FULL_SYNC_MS, PSYNC_MS, REPL_TIMEOUT_MS, TICK_MS};
use super::cluster::{RECONNECT_MS, WRITABLE_DELAY_MS};

/// An election after `fail`: 500 ms + random(0..500 ms) (the model takes the longest) +
/// 1 s per replica of the same master with a larger offset.
const ELECTION_DELAY_MS: u64 = 1000;

impl Cluster {
    pub fn tick(&mut self) {
        self.now_ms += TICK_MS;
        let n = self.nodes.len();
        self.reconnect();
        for a in 0..n {
            for b in 0..n {
                if a != b && self.nodes[a].alive {
                    self.hear(a, b);
                }
            }
        }
        self.mark_failures();
        self.replicate();
        self.elections();
        self.update_states();
        for m in 0..n {
            if self.accepts_writes(m) {
                self.nodes[m].offset += 1;
            }
        }
    }

    /// A path that comes back after a silence gives its link back `RECONNECT_MS` later.
    fn reconnect(&mut self) {
        let n = self.nodes.len();
        for a in 0..n {
            for b in 0..n {
                let i = a * n + b;
                let both_up = self.nodes[a].alive && self.nodes[b].alive;
                match (self.path_open(a, b), self.silent[i]) {
                    (false, _) => self.silent[i] = both_up,
                    (true, true) => {
                        self.silent[i] = false;
                        self.back_ms[i] = self.now_ms + RECONNECT_MS;
                    }
                    (true, false) => {}
                }
            }
        }
    }

    /// `a` processes what it hears (or does not hear) from `b`.
    fn hear(&mut self, a: usize, b: usize) {
        let now = self.now_ms;
        if !self.can_talk(a, b) {
            let nt = self.nodes[a].node_timeout_ms;
            if let Some(p) = self.nodes[a].peers[b].as_mut() {
                if p.ping_sent_ms == 0 {
                    p.ping_sent_ms = now;
                }
                if p.flag == Flag::Ok && now - p.ping_sent_ms > nt {
                    p.flag = Flag::PFail;
                }
            }
            return;
        }
        let (role, master, epoch) = (
            self.nodes[b].role,
            self.nodes[b].master,
            self.advertised_epoch(b),
        );
        let current = self.nodes[b].current_epoch;
        let x = &mut self.nodes[a];
        // A node missing from the table (forgotten) is ignored: only MEET adds one.
        let Some(line) = x.peers[b].as_mut() else {
            return;
        };
        line.pong_recv_ms = now;
        line.ping_sent_ms = 0;
        if line.flag == Flag::PFail {
            line.flag = Flag::Ok;
        }
        x.current_epoch = x.current_epoch.max(current);
        // Redis clears a failure flag on the pong, before it looks at the sender's new role
        // and slot claims (`clusterProcessPacket`).
        self.clear_failure(a, b);
        let x = &mut self.nodes[a];
        let Some(line) = x.peers[b].as_mut() else {
            return;
        };
        let demoted = line.role == Role::Master && role == Role::Replica;
        line.role = role;
        line.master = master;
        // Only ever raised: a replica advertises its master's epoch, and that sticks.
        line.epoch = line.epoch.max(epoch);
        if demoted {
            // "Master turned into a slave": its slots become unassigned in this table.
            for o in x.owner.iter_mut().filter(|o| **o == Some(b)) {
                *o = None;
            }
        }
        self.claims(a, b);
        self.collision(a, b);
    }

    /// `a` hears `b`'s slot claims (`clusterUpdateSlotsConfigWith`), and `b` hears, through
    /// an UPDATE message, of every newer owner `a` knows for slots `b` still claims.
    fn claims(&mut self, a: usize, b: usize) {
        if self.nodes[b].role != Role::Master {
            return;
        }
        let sender_epoch = self.nodes[b].config_epoch;
        let claimed = self.own_shards(b);
        let mut updates = Vec::new();
        let before = self.current_master_shards(a);
        for k in &claimed {
            let cur = self.nodes[a].owner[*k];
            if cur == Some(b) {
                continue;
            }
            let cur_epoch = cur.map(|c| self.epoch_in_view(a, c));
            match cur_epoch {
                Some(e) if e >= sender_epoch => {
                    if let Some(c) = cur {
                        if e > sender_epoch && c != b {
                            updates.push((*k, c, e));
                        }
                    }
                }
                _ => self.nodes[a].owner[*k] = Some(b),
            }
        }
        self.follow_if_emptied(a, b, &before, claimed.len());
        for (k, c, e) in updates {
            self.update_message(b, k, c, e);
        }
    }

    /// The shards `a`'s master (itself when master) serves in `a`'s table.
    fn current_master_shards(&self, a: usize) -> (Option<usize>, Vec<usize>) {
        let x = &self.nodes[a];
        let cur = match x.role {
            Role::Master => Some(a),
            Role::Replica => x.master,
        };
        let shards = cur.map_or_else(Vec::new, |c| {
            (0..self.shards.len())
                .filter(|k| x.owner[*k] == Some(c))
                .collect()
        });
        (cur, shards)
    }

    /// After a slot update: when `a`'s master (or `a` itself) lost every slot, all of them to
    /// `sender`, and `sender` claims nothing else, `a` becomes `sender`'s replica (Redis does
    /// this even with `cluster-allow-replica-migration no`).
    fn follow_if_emptied(
        &mut self,
        a: usize,
        sender: usize,
        before: &(Option<usize>, Vec<usize>),
        sender_claims: usize,
    ) {
        let (Some(cur), had) = before else { return };
        if had.is_empty() || *cur == sender {
            return;
        }
        let x = &self.nodes[a];
        if had.iter().any(|k| x.owner[*k] == Some(*cur)) {
            return;
        }
        let moved = had.iter().filter(|k| x.owner[**k] == Some(sender)).count();
        if moved == had.len() && moved == sender_claims {
            self.set_master(a, sender);
        }
    }

    /// `b` gets an UPDATE: `c` serves shard `k` at configEpoch `e`.
    fn update_message(&mut self, b: usize, k: usize, c: usize, e: u64) {
        if c == b {
            return;
        }
        let known = self.epoch_in_view(b, c);
        if known >= e && self.nodes[b].owner[k] == Some(c) {
            return;
        }
        let before = self.current_master_shards(b);
        if let Some(line) = self.nodes[b].peers[c].as_mut() {
            line.epoch = line.epoch.max(e);
            line.role = Role::Master;
            line.master = None;
        }
        let cur_epoch = self.nodes[b].owner[k].map(|o| self.epoch_in_view(b, o));
        if cur_epoch.is_none_or(|ce| ce < e) {
            self.nodes[b].owner[k] = Some(c);
        }
        let claims = (0..self.shards.len())
            .filter(|j| self.nodes[b].owner[*j] == Some(c))
            .count();
        self.follow_if_emptied(b, c, &before, claims);
    }

    /// `clusterHandleConfigEpochCollision`: two masters with one configEpoch; the one with the
    /// smaller node id takes a new epoch.
    fn collision(&mut self, a: usize, b: usize) {
        let (x, y) = (&self.nodes[a], &self.nodes[b]);
        if x.role != Role::Master || y.role != Role::Master || x.config_epoch != y.config_epoch {
            return;
        }
        if y.id <= x.id {
            return;
        }
        let x = &mut self.nodes[a];
        x.current_epoch += 1;
        x.config_epoch = x.current_epoch;
    }

    /// `clearNodeFailureIfNeeded`: `fail` goes once the node serves no slots, or after
    /// 2 × node-timeout when nobody replaced it.
    fn clear_failure(&mut self, a: usize, b: usize) {
        let known_master = self.nodes[a].peers[b]
            .as_ref()
            .is_some_and(|p| p.role == Role::Master);
        let serves = known_master && !self.slots_in_view(a, b).is_empty();
        let now = self.now_ms;
        let nt = self.nodes[a].node_timeout_ms;
        if let Some(p) = self.nodes[a].peers[b].as_mut() {
            if p.flag == Flag::Fail && (!serves || now - p.fail_at_ms > 2 * nt) {
                p.flag = Flag::Ok;
            }
        }
    }

    /// `markNodeAsFailingIfNeeded`: `fail?` reports from a majority of the slot-owning masters
    /// (the instance itself included when it is one) make `fail`, broadcast to every instance
    /// that hears the one that marks it.
    fn mark_failures(&mut self) {
        let n = self.nodes.len();
        let now = self.now_ms;
        let mut marks = Vec::new();
        for a in (0..n).filter(|a| self.nodes[*a].alive) {
            let owners = self.owners_in_view(a);
            let quorum = owners.len() / 2 + 1;
            for b in 0..n {
                let Some(p) = &self.nodes[a].peers[b] else {
                    continue;
                };
                if p.flag != Flag::PFail {
                    continue;
                }
                let reports = owners
                    .iter()
                    .filter(|m| **m != b)
                    .filter(|m| {
                        **m == a
                            || (self.can_talk(a, **m)
                                && self.nodes[**m].peers[b]
                                    .as_ref()
                                    .is_some_and(|l| l.flag >= Flag::PFail))
                    })
                    .count();
                if reports >= quorum {
                    marks.push((a, b));
                }
            }
        }
        for (a, b) in marks {
            for c in 0..n {
                if c != b && (c == a || self.can_talk(a, c)) {
                    if let Some(p) = self.nodes[c].peers[b].as_mut() {
                        if p.flag != Flag::Fail {
                            p.flag = Flag::Fail;
                            p.fail_at_ms = now;
                        }
                    }
                }
            }
        }
    }

    /// Masters serving slots in `a`'s table.
    pub fn owners_in_view(&self, a: usize) -> Vec<usize> {
        let mut o: Vec<usize> = self.nodes[a].owner.iter().flatten().copied().collect();
        o.sort_unstable();
        o.dedup();
        o
    }

    fn replicate(&mut self) {
        let now = self.now_ms;
        for r in 0..self.nodes.len() {
            let x = &self.nodes[r];
            let Some(m) = x.master else { continue };
            if !x.alive || x.role != Role::Replica {
                continue;
            }
            let talk = self.can_talk(r, m);
            let connected = talk && !x.link_broken;
            let reset = !self.nodes[m].alive || x.link_broken;
            let master_offset = self.nodes[m].offset;
            let x = &mut self.nodes[r];
            if talk {
                x.master_heard_ms = now;
            }
            x.link = match (x.link, connected) {
                (Link::Up, true) => {
                    x.offset = master_offset;
                    x.last_ack_ms = now;
                    x.acked_to = Some(m);
                    Link::Up
                }
                // A killed master resets the connection; a silent cut is noticed only after
                // repl-timeout (the link reports `up` until then).
                (Link::Up, false) if reset || now - x.last_ack_ms >= REPL_TIMEOUT_MS => {
                    Link::Down {
                        since_ms: Some(now),
                    }
                }
                (Link::Up, false) => Link::Up,
                // A copy of this master's history resumes from the backlog; anything else
                // (a restart, another shard's data) needs a full sync.
                (Link::Down { since_ms }, true) => Link::Syncing {
                    done_ms: now + if x.synced { PSYNC_MS } else { FULL_SYNC_MS },
                    since_ms,
                },
                (Link::Syncing { done_ms, .. }, true) if now >= done_ms => {
                    x.offset = master_offset;
                    x.last_ack_ms = now;
                    x.acked_to = Some(m);
                    x.synced = true;
                    x.repointed = false;
                    Link::Up
                }
                (Link::Syncing { since_ms, .. }, false) => Link::Down { since_ms },
                (link, _) => link,
            };
        }
        // The master's side of each connection: it goes when either end dies (a reset), when
        // the replica closes it where the master hears it (promoted, re-pointed, its link
        // broken), or after repl-timeout without an acknowledgement (a silent cut).
        for r in 0..self.nodes.len() {
            let Some(m) = self.nodes[r].acked_to else {
                continue;
            };
            let x = &self.nodes[r];
            let still = x.role == Role::Replica && x.master == Some(m) && x.link == Link::Up;
            let gone = !x.alive
                || !self.nodes[m].alive
                || (self.can_talk(r, m) && !still)
                || now - x.last_ack_ms >= REPL_TIMEOUT_MS;
            if gone {
                self.nodes[r].acked_to = None;
            }
        }
    }

    /// `r` becomes `m`'s replica (`clusterSetMaster`). A master that accepted writes its new
    /// master never had cannot psync: a full sync discards them, and until it is done its
    /// copy is not one to promote. A replica that follows keeps what it has.
    pub fn set_master(&mut self, r: usize, m: usize) {
        let now = self.now_ms;
        let promoted_at = self.nodes[m].promoted_at;
        if let (Some(p), Some(from)) = (promoted_at, self.nodes[m].promoted_from) {
            let x = &self.nodes[r];
            if from == r && x.role == Role::Master && x.offset > p {
                self.discarded.push(super::cluster::Discard {
                    node: r,
                    winner: m,
                    from: p,
                    to: x.offset,
                });
            }
        }
        let x = &mut self.nodes[r];
        let was_master = x.role == Role::Master;
        x.role = Role::Replica;
        x.master = Some(m);
        x.election_at_ms = None;
        x.paused_until_ms = 0;
        x.promoted_at = None;
        x.promoted_from = None;
        x.repointed = false;
        if was_master {
            let psync = promoted_at.is_some_and(|p| x.offset <= p);
            x.synced = psync;
            x.link = Link::Syncing {
                done_ms: now + if psync { PSYNC_MS } else { FULL_SYNC_MS },
                since_ms: None,
            };
        } else {
            x.link = match x.link {
                Link::Up => Link::Down {
                    since_ms: Some(now),
                },
                Link::Syncing { since_ms, .. } | Link::Down { since_ms } => Link::Down { since_ms },
            };
        }
    }

    fn elections(&mut self) {
        let now = self.now_ms;
        for r in 0..self.nodes.len() {
            let x = &self.nodes[r];
            let Some(m) = x.master else { continue };
            if !x.alive || x.role != Role::Replica {
                continue;
            }
            let failed = x.peers[m].as_ref().is_some_and(|p| p.flag == Flag::Fail);
            // `cluster-replica-no-failover`: no automatic election (manual ones still run).
            if !failed || x.no_failover || self.slots_in_view(r, m).is_empty() {
                self.nodes[r].election_at_ms = None;
                continue;
            }
            let Some(at) = self.nodes[r].election_at_ms else {
                let offset = self.nodes[r].offset;
                let rank = self
                    .nodes
                    .iter()
                    .filter(|o| o.role == Role::Replica && o.master == Some(m))
                    .filter(|o| o.offset > offset)
                    .count() as u64;
                self.nodes[r].election_at_ms = Some(now + ELECTION_DELAY_MS + rank * 1000);
                continue;
            };
            if now < at {
                continue;
            }
            if self.election(r, m, false) {
                self.nodes[r].elected_alone = Some(now);
            } else {
                // The next attempt after twice the election timeout, max(2 × node-timeout, 2 s).
                let timeout = (2 * self.nodes[r].node_timeout_ms).max(2000);
                self.nodes[r].election_at_ms = Some(now + 2 * timeout);
            }
        }
    }

    /// `r` asks for votes to replace `m` (`clusterSendFailoverAuthIfNeeded` on each voter);
    /// `force`: voters grant it although `m` is not `fail` (a manual failover's FORCEACK).
    pub fn election(&mut self, r: usize, m: usize, force: bool) -> bool {
        let now = self.now_ms;
        self.nodes[r].current_epoch += 1;
        let epoch = self.nodes[r].current_epoch;
        let request_config = self.epoch_in_view(r, m);
        let master_slots: Vec<usize> = (0..self.shards.len())
            .filter(|k| self.nodes[r].owner[*k] == Some(m))
            .collect();
        let quorum = self.owners_in_view(r).len() / 2 + 1;
        let mut votes = 0;
        for v in 0..self.nodes.len() {
            if v == r || !self.can_talk(r, v) || self.own_shards(v).is_empty() {
                continue;
            }
            let voter = &self.nodes[v];
            let sees_replica = voter
                .peers
                .get(r)
                .and_then(Option::as_ref)
                .is_some_and(|p| p.role == Role::Replica && p.master == Some(m));
            let master_failed = v != m
                && voter.peers[m]
                    .as_ref()
                    .is_some_and(|p| p.flag == Flag::Fail);
            let nt2 = 2 * voter.node_timeout_ms;
            let voted_lately = voter
                .voted_for
                .iter()
                .any(|(x, at)| *x == m && now.saturating_sub(*at) < nt2);
            let newer_slots = master_slots.iter().any(|k| {
                voter.owner[*k].is_some_and(|o| self.epoch_in_view(v, o) > request_config)
            });
            let voter = &mut self.nodes[v];
            voter.current_epoch = voter.current_epoch.max(epoch);
            if voter.last_vote_epoch >= epoch
                || !sees_replica
                || !(force || master_failed)
                || voted_lately
                || newer_slots
            {
                continue;
            }
            voter.last_vote_epoch = epoch;
            voter.voted_for.retain(|(x, _)| *x != m);
            voter.voted_for.push((m, now));
            votes += 1;
        }
        if votes < quorum {
            return false;
        }
        self.promote(r, m, epoch);
        true
    }

    /// `clusterFailoverReplaceYourMaster`: `r` serves `m`'s slots (as its table has them) at
    /// configEpoch `epoch`, keeping its data.
    pub fn promote(&mut self, r: usize, m: usize, epoch: u64) {
        let x = &mut self.nodes[r];
        x.role = Role::Master;
        x.master = None;
        x.config_epoch = epoch;
        x.current_epoch = x.current_epoch.max(epoch);
        x.election_at_ms = None;
        x.link = Link::Up;
        x.promoted_at = Some(x.offset);
        x.promoted_from = Some(m);
        x.promoted_unsynced = !x.synced;
        x.elected_alone = None;
        for o in x.owner.iter_mut() {
            if *o == Some(m) {
                *o = Some(r);
            }
        }
    }

    fn update_states(&mut self) {
        let now = self.now_ms;
        for a in 0..self.nodes.len() {
            if !self.nodes[a].alive {
                continue;
            }
            let owners = self.owners_in_view(a);
            let quorum = owners.len() / 2 + 1;
            let reachable = owners
                .iter()
                .filter(|o| {
                    **o == a
                        || self.nodes[a].peers[**o]
                            .as_ref()
                            .is_some_and(|p| p.flag == Flag::Ok)
                })
                .count();
            let ok = !owners.is_empty() && reachable >= quorum;
            let x = &mut self.nodes[a];
            if !ok {
                x.minority_ms = now;
            }
            let master = x.role == Role::Master;
            if master && !x.cluster_ok && now - x.started_ms < WRITABLE_DELAY_MS {
                continue;
            }
            // The rejoin delay: clamp(node-timeout, 500 ms, 5 s) at this moment.
            let rejoin = x.node_timeout_ms.clamp(500, 5000);
            if ok && !x.cluster_ok && master && now - x.minority_ms < rejoin {
                continue;
            }
            x.cluster_ok = ok;
        }
        // A manual failover that did not complete: the master serves again after its timeout.
        for x in &mut self.nodes {
            if x.paused_until_ms > 0 && now >= x.paused_until_ms {
                x.paused_until_ms = 0;
            }
        }
    }
}
