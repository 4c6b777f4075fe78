//! Zone health, judged the hard way: from the data path. A dark data center is silence and
//! timeouts, not refused connections, so a zone is *dark* only when every instance in it has
//! failed every probe for a confirmation window, and *suspect* while that window runs.
//!
//! The window is short on purpose. Survivors that find themselves without a majority of masters
//! (`cluster_state:fail`, after node-timeout) then pay Redis's rejoin delay (≈ node-timeout)
//! before serving again; a takeover that lands before node-timeout avoids both
//! (docs/REDIS-FACTS.md, the rejoin delay).
//!
//! Per-instance answers change every pass and stay in process; what a zone did over time
//! (lost when, back when) goes into the engine's [`Memory`], which outlives the process.

use std::collections::BTreeMap;
use std::time::Duration;

use redis_stretch_api::Detection;
use serde::{Deserialize, Serialize};

use crate::{HoldDownConfig, Memory, Snapshot};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", tag = "state")]
pub enum ZoneState {
    /// At least one instance answered recently.
    Healthy,
    /// Every instance silent, for less than the confirmation window.
    Suspect { silent_ms: u64 },
    /// Every instance silent for at least the confirmation window.
    Dark { silent_ms: u64 },
}

impl ZoneState {
    pub fn is_dark(self) -> bool {
        matches!(self, ZoneState::Dark { .. })
    }
    /// `healthy`, `suspect` or `dark`, without the durations.
    pub fn name(self) -> &'static str {
        match self {
            ZoneState::Healthy => "healthy",
            ZoneState::Suspect { .. } => "suspect",
            ZoneState::Dark { .. } => "dark",
        }
    }
}

/// One zone as the engine reports it: its state now, and what its history means for failback.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ZoneReport {
    pub zone: String,
    #[serde(flatten)]
    pub state: ZoneState,
    /// Times the zone was lost within the flap window.
    #[serde(default)]
    pub flaps: u32,
    /// Unix ms until which no master moves back into this zone (it came back recently).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hold_down_until_ms: Option<u64>,
}

/// Every zone's report, in spec order.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct ZoneStates(pub Vec<ZoneReport>);

impl ZoneStates {
    /// Zones with a plain state and no history (tests, and callers without an engine).
    pub fn of(states: impl IntoIterator<Item = (String, ZoneState)>) -> Self {
        Self(
            states
                .into_iter()
                .map(|(zone, state)| ZoneReport {
                    zone,
                    state,
                    flaps: 0,
                    hold_down_until_ms: None,
                })
                .collect(),
        )
    }
    pub fn iter(&self) -> impl Iterator<Item = &ZoneReport> {
        self.0.iter()
    }
    pub fn state(&self, zone: &str) -> Option<ZoneState> {
        self.0.iter().find(|z| z.zone == zone).map(|z| z.state)
    }
    pub fn dark(&self) -> Vec<&str> {
        self.0
            .iter()
            .filter(|z| z.state.is_dark())
            .map(|z| z.zone.as_str())
            .collect()
    }
    pub fn all_healthy(&self) -> bool {
        self.0.iter().all(|z| z.state == ZoneState::Healthy)
    }
}

/// Confirmation window for a given cluster-node-timeout. `Safe`: node-timeout itself, so a
/// blip Redis rides out never becomes a failover. `Fast`: about a third of it, within
/// 300 ms..1.5 s, so the engine acts before the survivors declare `fail` — and a blip longer
/// than that is a takeover.
pub fn confirm_window(node_timeout: Duration, detection: Detection) -> Duration {
    match detection {
        Detection::Safe => node_timeout.max(Duration::from_millis(500)),
        Detection::Fast => {
            (node_timeout * 7 / 20).clamp(Duration::from_millis(300), Duration::from_millis(1500))
        }
    }
}

/// Minimum failed probes per instance before its zone can be dark: one slow reply is not an
/// outage.
const MIN_FAILED_PROBES: u32 = 2;

#[derive(Clone, Debug)]
struct NodeTrack {
    last_ok_ms: u64,
    failed_probes: u32,
}

/// Remembers, per instance, when it last answered, and records zone losses and returns in the
/// engine's [`Memory`]. A restarted engine starts its per-instance view afresh (an instance
/// counts as silent since the engine started) and merely confirms again.
#[derive(Clone, Debug)]
pub struct ZoneTracker {
    confirm_ms: u64,
    started_ms: u64,
    hold: HoldDownConfig,
    nodes: BTreeMap<String, NodeTrack>,
    /// Since when every zone has answered without a break (`None`: not now).
    healthy_since_ms: Option<u64>,
}

fn ms(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

impl ZoneTracker {
    pub fn new(confirm: Duration, hold: HoldDownConfig, now_ms: u64) -> Self {
        Self {
            confirm_ms: ms(confirm),
            started_ms: now_ms,
            hold,
            nodes: BTreeMap::new(),
            healthy_since_ms: None,
        }
    }

    /// New windows from an edited spec (node-timeout, detection); what it saw is kept, so a
    /// loss being confirmed goes on being confirmed.
    pub fn set_windows(&mut self, confirm: Duration, hold: HoldDownConfig) {
        self.confirm_ms = ms(confirm);
        self.hold = hold;
    }

    /// Feed one snapshot taken at `now_ms`; records losses and returns in `memory` and returns
    /// every zone's report, in snapshot zone order.
    pub fn update(&mut self, snap: &mut Snapshot, now_ms: u64, memory: &mut Memory) -> ZoneStates {
        for n in &mut snap.nodes {
            let Some(name) = &n.name else { continue };
            let t = self.nodes.entry(name.clone()).or_insert(NodeTrack {
                // An instance never seen answering counts as silent since the engine started.
                last_ok_ms: self.started_ms,
                failed_probes: 0,
            });
            // An answer, even an error, is no silence.
            if n.reachable || n.refuses {
                t.last_ok_ms = now_ms;
                t.failed_probes = 0;
            } else {
                t.failed_probes += 1;
            }
            n.failed_probes = t.failed_probes;
        }
        let mut out = Vec::new();
        for zone in &snap.zones {
            let members: Vec<&NodeTrack> = snap
                .nodes
                .iter()
                .filter(|n| &n.zone == zone)
                .filter_map(|n| n.name.as_ref().and_then(|name| self.nodes.get(name)))
                .collect();
            let state = zone_state(&members, now_ms, self.confirm_ms);
            memory.observe_zone(zone, state, now_ms, &self.hold);
            let hold = memory.hold_down_of(zone, now_ms, &self.hold);
            out.push(ZoneReport {
                zone: zone.clone(),
                state,
                flaps: memory.flaps(zone, now_ms, &self.hold),
                hold_down_until_ms: hold.map(|h| h.until_ms),
            });
        }
        let states = ZoneStates(out);
        if states.all_healthy() {
            self.healthy_since_ms.get_or_insert(now_ms);
        } else {
            self.healthy_since_ms = None;
        }
        states
    }

    /// How long every zone has answered without a break, as of `now_ms` (0 while one does not).
    /// Evidence the instances give about each other (a cut between the zones) only counts from
    /// then: right after a zone comes back, its links across are still silent for a second or
    /// so (TCP's retransmission backoff, Redis's reconnects), which is not a cut.
    pub fn healthy_for_ms(&self, now_ms: u64) -> u64 {
        self.healthy_since_ms
            .map_or(0, |since| now_ms.saturating_sub(since))
    }

    /// Instances silent for the whole confirmation window (and at least two probes): lost, as
    /// far as the engine can tell, whatever their zone's state.
    pub fn silent_nodes(&self, now_ms: u64) -> Vec<String> {
        self.nodes
            .iter()
            .filter(|(_, t)| {
                t.failed_probes >= MIN_FAILED_PROBES
                    && now_ms.saturating_sub(t.last_ok_ms) >= self.confirm_ms
            })
            .map(|(name, _)| name.clone())
            .collect()
    }
}

fn zone_state(members: &[&NodeTrack], now_ms: u64, confirm_ms: u64) -> ZoneState {
    if members.is_empty() || members.iter().any(|t| t.failed_probes == 0) {
        return ZoneState::Healthy;
    }
    // Silent since the most recent answer from any member.
    let last = members.iter().map(|t| t.last_ok_ms).max().unwrap_or(now_ms);
    let silent_ms = now_ms.saturating_sub(last);
    let enough_probes = members.iter().all(|t| t.failed_probes >= MIN_FAILED_PROBES);
    if silent_ms >= confirm_ms && enough_probes {
        ZoneState::Dark { silent_ms }
    } else {
        ZoneState::Suspect { silent_ms }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn safe_detection_waits_node_timeout_and_fast_a_third_of_it() {
        let nt = Duration::from_millis(2000);
        assert_eq!(confirm_window(nt, Detection::Safe), nt);
        assert_eq!(
            confirm_window(nt, Detection::Fast),
            Duration::from_millis(700)
        );
        assert_eq!(
            confirm_window(Duration::from_millis(100), Detection::Safe),
            Duration::from_millis(500)
        );
    }
}
