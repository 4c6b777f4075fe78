//! The properties a run checks on the model's own state (never on decide's snapshot):
//! safety on every tick (no two writable masters for a slot, nothing the served side
//! acknowledged discarded), and ownership once settled.
//!
//! Where a known decide bug would trip a check (here and in `scenario.rs`), a non-strict run
//! (the property test) lets it pass so that it keeps looking for others; each such place
//! names the regression test in `tests/model.rs` that runs the bug strictly.

use redis_stretch_decide::{Intent, SideRule, Waiting};
use redis_stretch_model::{Role, ServerFlavour};

use super::cluster::{Link, RECONNECT_MS, ZONES};
use super::engine::Pass;
use super::scenario::{End, Run};

impl Run {
    /// Which zone the engine serves from now, for epoch ordering: the side it keeps in a cut,
    /// the survivors of a lost zone once it acted for them, the zone a person took over for.
    pub(super) fn track_serving(&mut self, pass: &Pass, operator: bool, intent: &Intent) {
        let zone = |name: &str| ZONES.iter().position(|z| *z == name);
        let before = self.serving;
        if let (true, Intent::Takeover { survivor }) = (operator, intent) {
            self.forced = zone(survivor);
        }
        let dark = pass.zones.dark();
        // A side serves only with a majority of the masters: below it, Redis refuses writes
        // there after node-timeout whatever decide does, and what it took before is at risk.
        let c = &self.cluster;
        let quorum = |z: usize| {
            let kept = (0..c.nodes.len())
                .filter(|i| c.reachable(*i) && c.nodes[*i].zone == z)
                .filter(|i| !c.own_shards(*i).is_empty())
                .count();
            kept > c.shards.len() / 2
        };
        let held = matches!(pass.decision.waiting_for, Some(Waiting::Partition { .. }));
        if let (Some(p), true) = (&self.engine.memory.partition, held) {
            self.serving = zone(&p.chosen);
        } else if let [lost] = dark.as_slice() {
            // Served once decide acted for the loss (or found nothing left to do): what the
            // survivors took before that, Redis alone decides (an isolated side holding the
            // majority of masters elects its own replicas).
            let acted = pass.decision.actions().any(|a| a.is_promotion())
                || matches!(pass.decision.waiting_for, Some(Waiting::ZoneReturn { .. }));
            let survivor = zone(lost).map(|z| 1 - z);
            if acted && survivor.is_some_and(quorum) {
                self.serving = survivor;
            }
        } else if pass.decision.waiting_for == Some(Waiting::AsPreferred) {
            self.serving = None;
            self.forced = None;
        }
        if self.forced.is_some() {
            self.serving = self.forced;
        }
        if self.serving != before {
            self.serving_since_ms = self.cluster.now_ms;
        }
        // decide's epoch margin (BUMPEPOCH) comes the pass after its promotions, and only while
        // the zone is still lost and the served master's replica across is still a replica.
        if self.bump_due {
            self.bump_due = false;
            let c = &self.cluster;
            let lost = dark.len() == 1 || self.engine.memory.partition.is_some();
            let elected = c.nodes.iter().any(|n| {
                n.elected_alone.is_some()
                    && Some(n.zone) != self.serving
                    && c.reachable_zone(n.zone)
            });
            self.bump_missed |= !lost || elected;
        }
        self.bump_due |= pass.decision.actions().any(|a| a.is_promotion());
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
            // Known: see `a_served_master_is_bumped_even_when_the_zone_returns_at_once`,
            // `the_side_that_served_during_a_loss_keeps_serving_whatever_the_preferred_side`
            // and `a_standing_cut_is_not_declared_healed_when_a_zone_answers_again`.
            // The bump bug bites only when decide's bump could not come: the pass after its
            // takeovers found the zone back, or the replica across already elected.
            let early = self.cluster.nodes[d.winner].elected_alone.is_some() && self.bump_missed;
            let preferred = self
                .engine
                .memory
                .partition
                .as_ref()
                .is_some_and(|p| p.rule == SideRule::PreferredSide);
            if !self.strict && (early || preferred || self.forgot_cut) {
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
    /// One overlap is by design (dc-failure.md): decide takes a dark zone over before that
    /// zone's fences close, so a master of it, still writing behind its silence, may show up
    /// again beside the newer master serving its slots. It must stop within its fence's
    /// max-lag + 2 s of the zone's last dark moment (plus the link's way back), and it must
    /// be the older of the two (the heal discards its writes, not the survivors').
    pub(super) fn split_brain(&self, when: &str) -> Result<(), String> {
        if !self.case.fencing {
            return Ok(());
        }
        let c = &self.cluster;
        let writers: Vec<usize> = (0..c.nodes.len())
            .filter(|i| c.reachable(*i) && c.accepts_writes(*i))
            .collect();
        for (k, range) in c.shards.iter().enumerate() {
            let w: Vec<usize> = writers
                .iter()
                .copied()
                .filter(|i| c.own_shards(*i).contains(&k))
                .collect();
            let Some(newest) = w.iter().copied().max_by_key(|i| c.nodes[*i].config_epoch) else {
                continue;
            };
            let fading = |i: usize| {
                let n = &c.nodes[i];
                let window = u64::from(n.fence_max_lag_s) * 1000 + 2000 + RECONNECT_MS;
                // Its fence closes by itself, or it ran on through the dark and hears the newer
                // master as soon as the links are back; a master restarted meanwhile comes back
                // unfenced and claiming, and is no exception.
                let restarted = n.started_ms + window >= c.now_ms;
                i != newest
                    && (n.fence > 0 || !restarted)
                    && n.config_epoch < c.nodes[newest].config_epoch
                    && self.last_dark_ms[n.zone] + window >= c.now_ms
            };
            // Before the engine chose a side in a cut, only the fences stand between the two
            // sides; known to fall short: see `a_zone_that_returns_into_a_cut_comes_back_unfenced`.
            let undecided_cut = c.cut && self.engine.memory.partition.is_none();
            let live: Vec<usize> = w.iter().copied().filter(|i| !fading(*i)).collect();
            // Known: see `a_master_redis_elected_behind_a_short_isolation_stays_fenced`.
            let elected = live.iter().any(|i| c.nodes[*i].elected_alone.is_some());
            if live.len() > 1 && (self.strict || !(undecided_cut || elected)) {
                let names: Vec<&str> = w.iter().map(|i| c.nodes[*i].name.as_str()).collect();
                return Err(self.fail(format!(
                    "split brain {when} at {:.1}s: {} all accept writes for slots {range}",
                    self.t(),
                    names.join(", ")
                )));
            }
        }
        Ok(())
    }

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
        // The spec's live settings on every instance the engine can reach, once settled.
        if end == End::Healthy {
            if let Some(n) = c.nodes.iter().enumerate().find(|(i, n)| {
                c.reachable(*i)
                    && n.live_config
                        .get(super::scenario::LIVE_SETTING)
                        .map(String::as_str)
                        != Some("1gb")
            }) {
                return Err(self.fail(format!(
                    "settled with {} still at {:?} on {}",
                    super::scenario::LIVE_SETTING,
                    n.1.live_config,
                    n.1.name
                )));
            }
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
        // As preferred means the rollout is over too: every instance restarted.
        if let Some(n) = c.nodes.iter().find(|n| n.outdated) {
            return Err(self.fail(format!("settled with {} still outdated", n.name)));
        }
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
        self.check_config()
    }

    /// Everything back: every instance configured as the spec wants it in a healthy cluster —
    /// the spec's node-timeout (a takeover's 500 ms put back), Valkey told its zone, fences
    /// armed on replicas and on masters whose replica across acknowledges (so that a side cut
    /// off later stops taking writes on its own, and whatever Redis elects there starts
    /// fenced), none with fencing off; and no replica left beside its master while a master in
    /// the other zone has no replica across (pairing done).
    fn check_config(&self) -> Result<(), String> {
        let c = &self.cluster;
        let lacks_across = |m: usize| {
            !c.nodes.iter().any(|r| {
                r.role == Role::Replica && r.master == Some(m) && r.zone != c.nodes[m].zone
            })
        };
        for (i, n) in c.nodes.iter().enumerate() {
            let wrong = if n.node_timeout_ms != c.spec_node_timeout_ms {
                Some(format!("runs node-timeout {} ms", n.node_timeout_ms))
            } else if n.flavour == ServerFlavour::Valkey
                && n.availability_zone.as_deref() != Some(ZONES[n.zone])
            {
                Some(format!(
                    "reports availability-zone {:?}",
                    n.availability_zone
                ))
            } else if !self.case.fencing && n.fence != 0 {
                Some("is fenced with fencing off".to_owned())
            } else if self.case.fencing && n.role == Role::Replica && n.fence == 0 {
                Some("is a replica without the fence".to_owned())
            } else if self.case.fencing
                && n.role == Role::Master
                && n.fence == 0
                && c.listed_replicas(i)
                    .iter()
                    .any(|r| c.nodes[*r].zone != n.zone)
            {
                Some("is an unfenced master whose replica across acknowledges".to_owned())
            } else {
                None
            };
            if let Some(w) = wrong {
                return Err(self.fail(format!("settled, but {} {w}", n.name)));
            }
        }
        let drift = c.nodes.iter().find(|r| {
            let Some(m) = r.master.filter(|_| r.role == Role::Replica) else {
                return false;
            };
            c.nodes[m].zone == r.zone
                && (0..c.nodes.len()).any(|o| {
                    o != m
                        && c.nodes[o].zone != r.zone
                        && !c.own_shards(o).is_empty()
                        && lacks_across(o)
                })
        });
        if let Some(r) = drift {
            return Err(self.fail(format!(
                "settled, but {} sits beside its master while a master in the other zone has no replica across",
                r.name
            )));
        }
        Ok(())
    }
}
