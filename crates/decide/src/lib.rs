//! The engine's pure core. `observe` (in the engine crate) turns Redis's answers into a
//! [`Snapshot`]; here the [`ZoneTracker`] turns snapshots over time into zone states, and
//! [`decide`] maps snapshot + zone states + policy + the engine's [`Memory`] to a [`Decision`]:
//! steps of [`Action`]s, each with its reason, or what the engine waits for ([`Waiting`]).
//!
//! No I/O, no clock (time arrives as milliseconds in the input), no Redis client in the
//! dependency tree: every rule is a table test (`tests/decide.rs`).

mod action;
mod auth;
mod memory;
mod rules;
mod snapshot;
mod status;
mod waiting;
pub mod zone;

pub use action::{short_id, Action, ActionKind, What};
pub use auth::{AuthSeen, PasswordRef};
pub use memory::{
    AskedFailover, HoldDown, HoldDownConfig, Memory, Migration, Partition, Restarting, Rollout,
    SideRule, SlotMove, ZoneMemory,
};
pub use rules::{
    config_drift, cut_silence_ms, cut_threshold, decide, Decision, Drift, Input, Intent,
    MigrationChange, PartitionChange, PendingFailover, Policy, FENCE_SHUT,
};
pub use snapshot::{NodeState, OpenSlot, Seen, Snapshot, WriteState};
pub use status::{EngineEvent, EngineStatus};
pub use waiting::Waiting;
pub use zone::{ZoneReport, ZoneState, ZoneStates, ZoneTracker};

pub use redis_stretch_model::UNKNOWN_ZONE;
