//! What each of decide's actions does to the model, the way the engine sends it
//! (crates/engine/src/act.rs) and Redis 7 carries it out. An action on an instance the engine
//! cannot reach, or one Redis refuses, is an error, and the engine stops after that step.

use redis_stretch_decide::{Action, ActionKind};
use redis_stretch_model::{Role, ServerFlavour};

use super::cluster::{Cluster, Flag, Link, MF_TIMEOUT_MS};

impl Cluster {
    pub fn apply(&mut self, action: &Action) -> Result<String, String> {
        let i = self
            .by_id(&action.node_id)
            .ok_or_else(|| format!("no instance with id {}", action.node_id))?;
        if self.nodes[i].port != action.node.port {
            return Err(format!("{} is not at {}", self.nodes[i].name, action.node));
        }
        if !self.reachable(i) {
            return Err(format!("{}: timed out", self.nodes[i].name));
        }
        match &action.kind {
            ActionKind::Fence {
                min_replicas,
                max_lag_s,
            } => {
                let n = &mut self.nodes[i];
                n.fence_max_lag_s = *max_lag_s;
                n.fence = *min_replicas;
                Ok("fenced".into())
            }
            ActionKind::SetElectable { electable } => {
                self.nodes[i].no_failover = !electable;
                Ok(if *electable {
                    "electable"
                } else {
                    "not electable"
                }
                .into())
            }
            ActionKind::Unfence => {
                self.nodes[i].fence = 0;
                Ok("unfenced".into())
            }
            ActionKind::Takeover { .. } => {
                // No vote, no handshake: a new configEpoch of its own, then its master's slots.
                let m = self.master_of(i)?;
                self.bump_epoch(i);
                let epoch = self.nodes[i].config_epoch;
                self.promote(i, m, epoch);
                Ok("master".into())
            }
            ActionKind::ForceFailover { .. } => {
                // An election at once, voters granting it although they do not see the master
                // failed; without a majority the replica simply stays one.
                let m = self.master_of(i)?;
                Ok(if self.election(i, m, true) {
                    "master".into()
                } else {
                    "failover requested; still a replica".into()
                })
            }
            ActionKind::GracefulFailover { .. } => self.graceful(i),
            ActionKind::BumpEpoch => Ok(if self.bump_epoch(i) {
                "BUMPED".into()
            } else {
                "STILL".into()
            }),
            // Addresses never change in the model: every instance already knows every other
            // where it is.
            ActionKind::Meet { peer } => Ok(format!("met {peer}")),
            ActionKind::Replicate { master_id } => self.replicate_command(i, master_id),
            ActionKind::Forget { id } => {
                let f = self
                    .by_id(id)
                    .ok_or_else(|| "ERR Unknown node".to_owned())?;
                if f == i || self.nodes[i].master == Some(f) {
                    return Err("ERR Can't forget my master or myself".into());
                }
                self.nodes[i].peers[f] = None;
                Ok("forgotten".into())
            }
            ActionKind::SetZone { zone } => {
                if self.nodes[i].flavour != ServerFlavour::Valkey {
                    return Err("ERR Unknown option 'availability-zone'".into());
                }
                self.nodes[i].availability_zone = Some(zone.clone());
                Ok("zone set".into())
            }
            ActionKind::SetNodeTimeout { ms } => {
                self.nodes[i].node_timeout_ms = *ms;
                Ok("node-timeout set".into())
            }
            // Live settings: kept where the model tracks them.
            ActionKind::SetConfig { name, value } => {
                if let Some(v) = self.nodes[i].live_config.get_mut(name) {
                    v.clone_from(value);
                }
                Ok(format!("{name} set"))
            }
            // The model has no passwords and no TLS: its observe reports no credentials, so the
            // rotation rule never asks for these here (its table tests are in decide.rs, the
            // servers' side in crates/cli/tests/rotation.rs); accepted as Redis would.
            ActionKind::AddPassword { .. } | ActionKind::DropPassword { .. } => Ok("OK".into()),
            ActionKind::SetMasterAuth { .. } | ActionKind::ReloadTls => Ok("OK".into()),
            // The platform stops the process and starts it at the new revision: its data and
            // nodes.conf kept, every link to be synced again.
            ActionKind::Restart { .. } => {
                self.crash(i);
                self.restart(i);
                self.nodes[i].outdated = false;
                Ok("restarted".into())
            }
            // The model's shard count is the spec's: the scale rules never ask for these here
            // (their table tests are in decide.rs, the servers' side in crates/cli/tests/scale.rs).
            ActionKind::MoveSlots { .. }
            | ActionKind::CloseSlot { .. }
            | ActionKind::Sweep { .. }
            | ActionKind::Retire { .. } => Err("not modelled: the model never scales".into()),
        }
    }

    fn master_of(&self, i: usize) -> Result<usize, String> {
        let n = &self.nodes[i];
        match (n.role, n.master) {
            (Role::Replica, Some(m)) => Ok(m),
            _ => Err("ERR You should send CLUSTER FAILOVER to a replica".into()),
        }
    }

    /// `clusterBumpConfigEpochWithoutConsensus`: a new epoch unless this node's configEpoch
    /// is already the greatest it knows.
    pub fn bump_epoch(&mut self, i: usize) -> bool {
        let n = &self.nodes[i];
        let max = n
            .peers
            .iter()
            .flatten()
            .map(|p| p.epoch)
            .chain([n.current_epoch, n.config_epoch])
            .max()
            .unwrap_or(0);
        if n.config_epoch != 0 && n.config_epoch == max {
            return false;
        }
        let n = &mut self.nodes[i];
        n.current_epoch += 1;
        n.config_epoch = n.current_epoch;
        true
    }

    /// `CLUSTER FAILOVER`: refused when the master is down; otherwise the master pauses its
    /// clients, the replica catches up on its link and asks for votes (FORCEACK). A replica
    /// whose link is down never catches up: the failover times out, the master paused.
    fn graceful(&mut self, i: usize) -> Result<String, String> {
        let m = self.master_of(i)?;
        let failed = self.nodes[i].peers[m]
            .as_ref()
            .is_none_or(|p| p.flag == Flag::Fail);
        if failed || !self.can_talk(i, m) {
            return Err("ERR Master is down or failed, please use CLUSTER FAILOVER FORCE".into());
        }
        self.nodes[m].paused_until_ms = self.now_ms + MF_TIMEOUT_MS;
        if self.nodes[i].link != Link::Up {
            return Ok("failover requested; still a replica".into());
        }
        self.nodes[i].offset = self.nodes[m].offset;
        Ok(if self.election(i, m, true) {
            "master".into()
        } else {
            "failover requested; still a replica".into()
        })
    }

    /// `CLUSTER REPLICATE id`: refused on a master that serves slots, and towards anything but
    /// a master it knows. Another shard's data needs a full sync.
    fn replicate_command(&mut self, i: usize, master_id: &str) -> Result<String, String> {
        let m = self
            .by_id(master_id)
            .filter(|m| self.nodes[i].peers[*m].is_some())
            .ok_or_else(|| format!("ERR Unknown node {master_id}"))?;
        if m == i {
            return Err("ERR Can't replicate myself".into());
        }
        if self.nodes[i].peers[m]
            .as_ref()
            .is_some_and(|p| p.role != Role::Master)
        {
            return Err("ERR I can only replicate a master, not a replica.".into());
        }
        if !self.own_shards(i).is_empty() {
            return Err(
                "ERR To set a master the node must be empty and without assigned slots.".into(),
            );
        }
        if self.nodes[i].master == Some(m) {
            return Ok("already".into());
        }
        let now = self.now_ms;
        let n = &mut self.nodes[i];
        let was_replica = n.role == Role::Replica;
        n.role = Role::Replica;
        n.master = Some(m);
        n.synced = false;
        n.repointed = was_replica;
        n.election_at_ms = None;
        n.promoted_at = None;
        n.promoted_from = None;
        // Redis 7 records the old master's disconnection as the link's down time; a former
        // master never had one (`-1`).
        n.link = Link::Down {
            since_ms: was_replica.then_some(now),
        };
        Ok("replicating".into())
    }
}
