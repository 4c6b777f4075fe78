//! What the engine reports after every pass: written by the engine (`engine.json` locally, the
//! custom resource's status on Kubernetes) and read back, typed, by `status`, drills and tests.

use redis_stretch_topology::ZoneVerdict;
use serde::{Deserialize, Serialize};

use crate::{Partition, Waiting, ZoneStates};

/// One action the engine carried out, as events and status show it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct EngineEvent {
    /// Unix time, milliseconds.
    pub at_ms: u64,
    /// The action's short name (`takeover`, `fence`, …; `bootstrap` for a formation).
    pub kind: String,
    pub summary: String,
    pub why: String,
    pub ok: bool,
    pub detail: String,
    pub took_ms: u64,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct EngineStatus {
    pub pid: u32,
    /// Unix time of this pass, ms: a stale heartbeat means no live engine.
    pub heartbeat_ms: u64,
    pub zones: ZoneStates,
    pub verdicts: Vec<ZoneVerdict>,
    /// What the engine waits for when it does nothing.
    pub waiting_for: Option<Waiting>,
    #[serde(default)]
    pub notes: Vec<String>,
    /// The cut between the zones the engine chose a side in, while it lasts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub partition: Option<Partition>,
    /// The rollout under way, from the engine's memory (done, restarting).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rollout: Option<crate::Rollout>,
    /// The slot migration under way (a scale out or in), from the engine's memory.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub migration: Option<crate::Migration>,
    #[serde(default)]
    pub last_actions: Vec<EngineEvent>,
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::{ZoneReport, ZoneState};

    /// `engine.json` is written and read back as this type: every field survives.
    #[test]
    fn engine_status_round_trips_through_json() {
        let status = EngineStatus {
            pid: 42,
            heartbeat_ms: 1_700_000_000_000,
            zones: ZoneStates(vec![
                ZoneReport {
                    zone: "dc-a".into(),
                    state: ZoneState::Healthy,
                    flaps: 2,
                    hold_down_until_ms: Some(1_700_000_010_000),
                },
                ZoneReport {
                    zone: "dc-b".into(),
                    state: ZoneState::Dark { silent_ms: 800 },
                    flaps: 0,
                    hold_down_until_ms: None,
                },
            ]),
            verdicts: vec![],
            waiting_for: Some(Waiting::HoldDown {
                zone: "dc-a".into(),
                until_ms: 1_700_000_010_000,
                left_ms: 3_000,
            }),
            notes: vec!["a note".into()],
            partition: Some(Partition {
                chosen: "dc-a".into(),
                fenced: "dc-b".into(),
                rule: crate::SideRule::MajorityOfMasters,
                since_ms: 5,
            }),
            rollout: Some(crate::Rollout {
                started_ms: 3,
                done: vec!["dc-b-0".into()],
                restarting: Some(crate::Restarting {
                    instance: "dc-a-0".into(),
                    since_ms: 4,
                }),
            }),
            migration: Some(crate::Migration {
                started_ms: 6,
                shards: 6,
                in_flight: Vec::new(),
                moves: vec![crate::SlotMove {
                    to: "ab".repeat(20),
                    slots: vec![redis_stretch_model::SlotRange { start: 0, end: 9 }],
                }],
            }),
            last_actions: vec![EngineEvent {
                at_ms: 1,
                kind: "takeover".into(),
                summary: "takeover on 127.0.2.1:7004".into(),
                why: "dc-a lost".into(),
                ok: true,
                detail: "master after 20 ms".into(),
                took_ms: 20,
            }],
        };
        let text = serde_json::to_string_pretty(&status).unwrap();
        assert!(text.contains("\"state\": \"dark\""), "{text}");
        assert_eq!(serde_json::from_str::<EngineStatus>(&text).unwrap(), status);
    }
}
