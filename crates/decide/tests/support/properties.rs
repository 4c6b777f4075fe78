//! The properties a run checks on the model's own state (never on decide's snapshot):
//! safety on every tick (no two writable masters for a slot, nothing the served side
//! acknowledged discarded), and ownership once settled.
//!
//! Where a known decide bug would trip a check (here and in `scenario.rs`), a non-strict run
//! (the property test) lets it pass so that it keeps looking for others; each such place
//! names the regression test in `tests/model.rs` that runs the bug strictly.

use redis_stretch_decide::{Intent, SideRule, Waiting};
use redis_stretch_model::Role;

use super::cluster::{Link, ZONES};
use super::engine::Pass;
use super::scenario::{End, Run};

impl Run {
    pub(super) fn track_serving(&mut self, pass: &Pass, operator: bool, intent: &Intent) {
        let zone = |name: &str| ZONES.iter().position(|z| *z == name);
        if let (true, Intent::Takeover { survivor }) = (operator, intent) {
            self.forced = zone(survivor);
        }
        let dark = pass.zones.dark();
        let held = matches!(pass.decision.waiting_for, Some(Waiting::Partition { .. }));
        if let (Some(p), true) = (&self.engine.memory.partition, held) {
            self.serving = zone(&p.chosen);
        } else if let [lost] = dark.as_slice() {
            // Served once decide acted for the loss (or found nothing left to do): what the
            // survivors took before that, Redis alone decides (an isolated side holding the
            // majority of masters elects its own replicas).
            let acted = pass.decision.actions().any(|a| a.is_promotion())
                || matches!(pass.decision.waiting_for, Some(Waiting::ZoneReturn { .. }));
            if acted {
                self.serving = zone(lost).map(|z| 1 - z);
            }
        } else if pass.decision.waiting_for == Some(Waiting::AsPreferred) {
            self.serving = None;
            self.forced = None;
            self.forgot_cut &= self.cluster.cut;
        }
        if self.forced.is_some() {
            self.serving = self.forced;
        }
    }

    /// Epoch ordering: what the served side acknowledged must win when the sides meet again.
    /// A master of that side that loses its slots to the replica promoted in its place (a
    /// newer configEpoch from the other side) discards every write it took since.
    pub(super) fn discarded(&mut self) -> Result<(), String> {
        let c = &self.cluster;
        if let Some(z) = self.serving {
            for (i, n) in c.nodes.iter().enumerate() {
                if n.zone == z && c.accepts_writes(i) {
                    self.served_up_to[i] = n.offset;
                }
            }
        }
        let lost = std::mem::take(&mut self.cluster.discarded);
        for d in lost {
            // Known: see `a_served_master_whose_replica_the_other_side_elected_is_bumped`,
            // `the_side_that_served_during_a_loss_keeps_serving_whatever_the_preferred_side`
            // and `a_standing_cut_is_not_declared_healed_when_a_zone_answers_again`.
            let preferred = self
                .engine
                .memory
                .partition
                .as_ref()
                .is_some_and(|p| p.rule == SideRule::PreferredSide);
            if !self.strict
                && (self.cluster.nodes[d.winner].elected_alone || preferred || self.forgot_cut)
            {
                continue;
            }
            if self.served_up_to[d.node] > d.from {
                let c = &self.cluster;
                return Err(self.fail(format!(
                    "{} acknowledged writes while its zone was the one served, and lost them to {} (offsets {}..{} of {}..{} discarded)",
                    c.nodes[d.node].name, c.nodes[d.winner].name, d.from, self.served_up_to[d.node], d.from, d.to
                )));
            }
        }
        Ok(())
    }

    /// Safety: two masters the engine reaches that accept writes for one slot are a split
    /// brain: whatever one of them acknowledges is lost when the cluster settles the slot.
    pub(super) fn split_brain(&self, when: &str) -> Result<(), String> {
        if !self.case.fencing {
            return Ok(());
        }
        let c = &self.cluster;
        let writers: Vec<usize> = (0..c.nodes.len())
            .filter(|i| c.reachable(*i) && c.accepts_writes(*i))
            .collect();
        for (k, range) in c.shards.iter().enumerate() {
            let w: Vec<&str> = writers
                .iter()
                .filter(|i| c.own_shards(**i).contains(&k))
                .map(|i| c.nodes[*i].name.as_str())
                .collect();
            // Before the engine chose a side in a cut, only the fences stand between the two
            // sides; known to fall short: see `a_zone_that_returns_into_a_cut_comes_back_unfenced`.
            let undecided_cut = c.cut && self.engine.memory.partition.is_none();
            if w.len() > 1 && (self.strict || !undecided_cut) {
                return Err(self.fail(format!(
                    "split brain {when} at {:.1}s: {} all accept writes for slots {range}",
                    self.t(),
                    w.join(", ")
                )));
            }
        }
        Ok(())
    }

    /// Property 2, on the model's own state (not the engine's snapshot). While a person is
    /// to decide, only that nothing serves twice and the side not chosen takes no writes.
    pub(super) fn check_settled(&self, end: End, waiting: &Waiting) -> Result<(), String> {
        let c = &self.cluster;
        // Known: after a person's takeover the engine stays in `ChosenSideDark` and leaves
        // what Redis then does (a replica it elects, still fenced shut) as it is.
        let person = matches!(waiting, Waiting::Human { .. })
            || (!self.strict && matches!(waiting, Waiting::ChosenSideDark { .. }));
        let serving = |k: usize, side: Option<usize>| -> Vec<usize> {
            (0..c.nodes.len())
                .filter(|i| c.reachable(*i) && side.is_none_or(|z| c.nodes[*i].zone == z))
                .filter(|i| c.own_shards(*i).contains(&k))
                .collect()
        };
        let side = match end {
            End::OneDark { lost } => Some(1 - lost),
            End::Cut => self
                .engine
                .memory
                .partition
                .as_ref()
                .and_then(|p| ZONES.iter().position(|z| *z == p.chosen)),
            _ => None,
        };
        if end == End::BothDark {
            return Ok(());
        }
        // A side that serves fewer than a majority of the shards is `cluster_state:fail`
        // (Redis counts the lost side's masters too): its masters cannot take writes, and
        // only a shard with no copy on that side leaves it there.
        let served = (0..c.shards.len())
            .filter(|k| !serving(*k, side).is_empty())
            .count();
        let quorum = served > c.shards.len() / 2;
        for (k, range) in c.shards.iter().enumerate() {
            let masters = serving(k, side);
            if masters.len() > 1 {
                return Err(self.fail(format!("slots {range} served by {masters:?} at once")));
            }
            // Known: see `the_side_that_served_during_a_loss_keeps_serving_whatever_the_preferred_side`.
            let stale = |m: usize| {
                (0..c.nodes.len()).any(|o| {
                    c.reachable(o)
                        && c.own_shards(o).contains(&k)
                        && c.nodes[o].config_epoch > c.nodes[m].config_epoch
                })
            };
            match (end, masters.first()) {
                _ if person => {}
                (End::Cut, Some(m)) if !self.strict && stale(*m) => {}
                (_, Some(m)) if quorum && !c.accepts_writes(*m) => {
                    return Err(self.fail(format!(
                        "{} serves slots {range} but refuses writes",
                        c.nodes[*m].name
                    )))
                }
                (End::Healthy, None) => {
                    return Err(self.fail(format!("no master serves slots {range}")))
                }
                (End::OneDark { lost }, None) => {
                    // Unserved only when no survivor holds a current copy to promote.
                    let copy = (0..c.nodes.len()).find(|r| {
                        c.reachable(*r)
                            && c.nodes[*r].zone != lost
                            && c.nodes[*r].role == Role::Replica
                            && c.nodes[*r]
                                .master
                                .is_some_and(|m| c.own_shards(m).contains(&k))
                            && c.copy_is_current(*r, 0)
                    });
                    if let Some(r) = copy {
                        return Err(self.fail(format!(
                            "slots {range} unserved though {} holds a current copy",
                            c.nodes[r].name
                        )));
                    }
                }
                _ => {}
            }
        }
        if end == End::Cut && self.case.fencing {
            let fenced = (0..c.nodes.len())
                .filter(|i| c.reachable(*i) && Some(c.nodes[*i].zone) != side)
                .find(|i| c.accepts_writes(*i));
            if let Some(m) = fenced {
                return Err(self.fail(format!(
                    "{} accepts writes on the side not chosen",
                    c.nodes[m].name
                )));
            }
        }
        if end == End::Healthy {
            self.check_layout()?;
        }
        Ok(())
    }

    /// Everything back: masters sit as preferred, every instance's table agrees on who serves
    /// what, and (when the layout started valid) every master has a replica across in sync.
    pub(super) fn check_layout(&self) -> Result<(), String> {
        let c = &self.cluster;
        let masters: Vec<usize> = (0..c.nodes.len())
            .filter(|i| !c.own_shards(*i).is_empty())
            .collect();
        let in_a = masters.iter().filter(|m| c.nodes[**m].zone == 0).count() as u32;
        if in_a != self.case.preferred_a {
            return Err(self.fail(format!(
                "{in_a} masters in dc-a, {} preferred",
                self.case.preferred_a
            )));
        }
        for (i, n) in c.nodes.iter().enumerate() {
            for (k, o) in n.owner.iter().enumerate() {
                if o.is_none_or(|o| !c.own_shards(o).contains(&k)) {
                    return Err(self.fail(format!(
                        "{}'s table has shard {k} at {o:?}, which does not serve it (node {i})",
                        n.name
                    )));
                }
            }
        }
        if self.case.valid() {
            for m in masters {
                let across = c.nodes.iter().any(|r| {
                    r.role == Role::Replica
                        && r.master == Some(m)
                        && r.zone != c.nodes[m].zone
                        && r.link == Link::Up
                });
                if !across {
                    return Err(self.fail(format!(
                        "{} has no replica in sync in the other zone",
                        c.nodes[m].name
                    )));
                }
            }
        }
        Ok(())
    }
}
