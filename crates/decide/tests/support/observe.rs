//! The engine's view of the model, built the way crates/engine/src/observe.rs builds it from
//! real answers: an instance that answers describes itself (`CLUSTER NODES` myself line,
//! `CLUSTER INFO`, `INFO replication`, `CONFIG GET`); one that does not is described by the
//! freshest peer that answers (highest currentEpoch), from its `CLUSTER NODES` line.

use redis_stretch_decide::{NodeState, Seen, Snapshot};
use redis_stretch_model::{ClusterState, NodeAddr, Role, ServerFlavour};

use super::cluster::{Cluster, Flag, Link, ZONES};

impl Cluster {
    pub fn addr(&self, i: usize) -> NodeAddr {
        NodeAddr::new(
            format!("127.0.{}.1", self.nodes[i].zone + 1),
            self.nodes[i].port,
        )
    }

    pub fn observe(&self) -> Snapshot {
        let n = self.nodes.len();
        let mut reporters: Vec<usize> = (0..n).filter(|i| self.reachable(*i)).collect();
        reporters.sort_by_key(|r| std::cmp::Reverse(self.nodes[*r].current_epoch));
        let mut nodes: Vec<NodeState> = (0..n)
            .map(|i| {
                if self.reachable(i) {
                    self.own_view(i)
                } else {
                    self.peers_view(i, &reporters)
                }
            })
            .collect();
        for (i, state) in nodes.iter_mut().enumerate() {
            let flags = reporters
                .iter()
                .filter(|r| **r != i)
                .filter_map(|r| self.nodes[*r].peers[i].as_ref().map(|p| p.flag));
            for f in flags {
                match f {
                    Flag::Fail => state.flagged_fail_by += 1,
                    Flag::PFail => state.flagged_pfail_by += 1,
                    Flag::Ok => {}
                }
            }
        }
        Snapshot {
            zones: ZONES.iter().map(|z| (*z).to_owned()).collect(),
            nodes,
        }
    }

    fn own_view(&self, i: usize) -> NodeState {
        let x = &self.nodes[i];
        let now = self.now_ms;
        let (link_up, link_down_s) = match (x.role, x.link) {
            (Role::Master, _) => (None, None),
            (Role::Replica, Link::Up) => (Some(true), None),
            (Role::Replica, Link::Down { since_ms } | Link::Syncing { since_ms, .. }) => {
                (Some(false), since_ms.map(|s| (now - s) / 1000))
            }
        };
        let replica_lags_s = if x.role == Role::Master {
            self.listed_replicas(i)
                .iter()
                .map(|r| now.saturating_sub(self.nodes[*r].last_ack_ms) / 1000)
                .collect()
        } else {
            Vec::new()
        };
        let assigned = x
            .owner
            .iter()
            .zip(&self.shards)
            .filter(|(o, _)| o.is_some());
        NodeState {
            name: Some(x.name.clone()),
            zone: ZONES[x.zone].to_owned(),
            addr: Some(self.addr(i)),
            id: Some(x.id.clone()),
            reachable: true,
            failed_probes: 0,
            error: None,
            refuses: false,
            role: Some(x.role),
            master_id: x.master.map(|m| self.nodes[m].id.clone()),
            slots: self.slots_in_view(i, i),
            config_epoch: self.advertised_epoch(i),
            link_up,
            link_down_s,
            // A resync from the backlog replaces nothing; a full one replaces the whole copy.
            syncing: matches!(x.link, Link::Syncing { .. }) && !x.synced && x.role == Role::Replica,
            no_failover: Some(x.no_failover),
            restart_for: x.outdated.then(|| "a new revision".to_owned()),
            leaving: false,
            open_slots: Vec::new(),
            repl_offset: Some(x.offset),
            cluster_state: Some(if x.cluster_ok {
                ClusterState::Ok
            } else {
                ClusterState::Fail
            }),
            slots_assigned: u32::try_from(assigned.map(|(_, r)| r.len()).sum::<usize>()).ok(),
            fence: Some(x.fence),
            fence_max_lag_s: Some(x.fence_max_lag_s),
            node_timeout_ms: Some(x.node_timeout_ms),
            replica_lags_s,
            server: Some(x.flavour),
            version: Some("7.2.4".into()),
            availability_zone: if x.flavour == ServerFlavour::Valkey {
                x.availability_zone.clone()
            } else {
                None
            },
            live_config: x.live_config.clone(),
            current_epoch: Some(x.current_epoch),
            clock_ms: Some(now),
            auth: None,
            flagged_fail_by: 0,
            flagged_pfail_by: 0,
            sees: x
                .peers
                .iter()
                .enumerate()
                .filter_map(|(p, line)| {
                    let line = line.as_ref()?;
                    Some(Seen {
                        id: self.nodes[p].id.clone(),
                        addr: Some(self.addr(p)),
                        handshake: false,
                        fail: line.flag != Flag::Ok,
                        role: Some(line.role),
                        master_id: line.master.map(|m| self.nodes[m].id.clone()),
                        config_epoch: line.epoch,
                        pong_recv_ms: line.pong_recv_ms,
                        ping_sent_ms: line.ping_sent_ms,
                    })
                })
                .collect(),
        }
    }

    fn peers_view(&self, i: usize, reporters: &[usize]) -> NodeState {
        let x = &self.nodes[i];
        let mut s = NodeState::silent(Some(x.name.clone()), ZONES[x.zone], Some(self.addr(i)));
        s.error = Some("timed out".into());
        s.restart_for = x.outdated.then(|| "a new revision".to_owned());
        let line = reporters
            .iter()
            .filter(|r| **r != i)
            .find_map(|r| self.nodes[*r].peers[i].as_ref().map(|l| (*r, l)));
        if let Some((r, line)) = line {
            s.id = Some(x.id.clone());
            s.role = Some(line.role);
            s.master_id = line.master.map(|m| self.nodes[m].id.clone());
            s.slots = self.slots_in_view(r, i);
            s.config_epoch = line.epoch;
        }
        s
    }
}
