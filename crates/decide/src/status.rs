//! What the engine reports after every pass: written by the engine (`engine.json` locally, the
//! custom resource's status on Kubernetes) and read back, typed, by `status`, drills and tests.

use redis_stretch_topology::ZoneVerdict;
use serde::{Deserialize, Serialize};

use crate::{Waiting, ZoneStates};

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
    #[serde(default)]
    pub last_actions: Vec<EngineEvent>,
}
