//! Zone health, judged the hard way: from the data path. A dark data center is silence and
//! timeouts, not refused connections, so a zone is *dark* only when every instance in it has
//! failed every probe for a confirmation window, and *suspect* while that window runs.
//!
//! The window is short on purpose. Survivors that find themselves without a majority of masters
//! (`cluster_state:fail`, after node-timeout) then pay Redis's rejoin delay (≈ node-timeout)
//! before serving again; a takeover that lands before node-timeout avoids both
//! (`../shared/design/dc-failure.md`).

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use serde::Serialize;

use crate::Snapshot;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
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
}

/// Confirmation window for a given cluster-node-timeout: about a third of it, so the engine
/// acts before the survivors declare `fail`, within 300 ms..1.5 s.
pub fn confirm_window(node_timeout: Duration) -> Duration {
    (node_timeout * 7 / 20).clamp(Duration::from_millis(300), Duration::from_millis(1500))
}

/// Minimum failed probes per instance before its zone can be dark: one slow reply is not an
/// outage.
const MIN_FAILED_PROBES: u32 = 2;

#[derive(Clone, Debug)]
struct NodeTrack {
    last_ok: Instant,
    failed_probes: u32,
}

/// Remembers, per instance, when it last answered. Lives in the engine process; a restarted
/// engine starts afresh and merely confirms again (slower, never unsafe).
#[derive(Clone, Debug)]
pub struct ZoneTracker {
    confirm: Duration,
    started: Instant,
    nodes: BTreeMap<String, NodeTrack>,
    /// When each zone last turned from dark/suspect back to healthy (failback hold-down).
    returned_at: BTreeMap<String, Instant>,
    was_dark: BTreeMap<String, bool>,
    /// How many times each zone went dark, and when (flap protection).
    losses: BTreeMap<String, Vec<Instant>>,
}

impl ZoneTracker {
    pub fn new(confirm: Duration, now: Instant) -> Self {
        Self {
            confirm,
            started: now,
            nodes: BTreeMap::new(),
            returned_at: BTreeMap::new(),
            was_dark: BTreeMap::new(),
            losses: BTreeMap::new(),
        }
    }

    /// Feed one snapshot taken at `now`; returns every zone's state, in snapshot zone order.
    pub fn update(&mut self, snap: &Snapshot, now: Instant) -> Vec<(String, ZoneState)> {
        for n in &snap.nodes {
            let Some(name) = &n.name else { continue };
            let t = self.nodes.entry(name.clone()).or_insert(NodeTrack {
                // An instance never seen answering counts as silent since the engine started.
                last_ok: self.started,
                failed_probes: 0,
            });
            if n.reachable {
                t.last_ok = now;
                t.failed_probes = 0;
            } else {
                t.failed_probes += 1;
            }
        }
        let mut out = Vec::new();
        for zone in &snap.zones {
            let members: Vec<&NodeTrack> = snap
                .nodes
                .iter()
                .filter(|n| &n.zone == zone)
                .filter_map(|n| n.name.as_ref().and_then(|name| self.nodes.get(name)))
                .collect();
            let state = zone_state(&members, now, self.confirm);
            let was_dark = self.was_dark.get(zone).copied().unwrap_or(false);
            match state {
                ZoneState::Dark { .. } => {
                    if !was_dark {
                        self.losses.entry(zone.clone()).or_default().push(now);
                    }
                    self.was_dark.insert(zone.clone(), true);
                }
                ZoneState::Healthy => {
                    if was_dark {
                        self.returned_at.insert(zone.clone(), now);
                    }
                    self.was_dark.insert(zone.clone(), false);
                }
                // Neither lost nor back yet.
                ZoneState::Suspect { .. } => {}
            }
            out.push((zone.clone(), state));
        }
        out
    }

    /// Instances silent for the whole confirmation window (and at least two probes): lost, as
    /// far as the engine can tell, whatever their zone's state.
    pub fn silent_nodes(&self, now: Instant) -> Vec<String> {
        self.nodes
            .iter()
            .filter(|(_, t)| {
                t.failed_probes >= MIN_FAILED_PROBES
                    && now.saturating_duration_since(t.last_ok) >= self.confirm
            })
            .map(|(name, _)| name.clone())
            .collect()
    }

    /// Time since `zone` came back from dark, if it did.
    pub fn since_return(&self, zone: &str, now: Instant) -> Option<Duration> {
        self.returned_at
            .get(zone)
            .map(|t| now.saturating_duration_since(*t))
    }

    /// Losses of `zone` within `window` before `now`.
    pub fn recent_losses(&self, zone: &str, now: Instant, window: Duration) -> usize {
        self.losses.get(zone).map_or(0, |v| {
            v.iter()
                .filter(|t| now.saturating_duration_since(**t) <= window)
                .count()
        })
    }
}

fn zone_state(members: &[&NodeTrack], now: Instant, confirm: Duration) -> ZoneState {
    if members.is_empty() {
        return ZoneState::Healthy;
    }
    if members.iter().any(|t| t.failed_probes == 0) {
        return ZoneState::Healthy;
    }
    // Silent since the most recent answer from any member.
    let last = members.iter().map(|t| t.last_ok).max().unwrap_or(now);
    let silent = now.saturating_duration_since(last);
    let silent_ms = u64::try_from(silent.as_millis()).unwrap_or(u64::MAX);
    let enough_probes = members.iter().all(|t| t.failed_probes >= MIN_FAILED_PROBES);
    if silent >= confirm && enough_probes {
        ZoneState::Dark { silent_ms }
    } else {
        ZoneState::Suspect { silent_ms }
    }
}
