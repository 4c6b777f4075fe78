//! The engine: observe a cluster into a typed [`Snapshot`], decide (the pure core in
//! `redis-stretch-decide`), act through the admin layer, and the one loop that runs those
//! passes for every platform ([`Engine`]: local mode, the operator and the break-glass
//! commands). Platform-neutral: it sees instances (address + zone), never pods or processes.

mod act;
mod bootstrap;
mod credentials;
pub mod formation;
mod migrate;
mod observe;
mod pool;
mod runner;

pub use act::{act, ActionResult, CRASH_AFTER_ENV};
pub use bootstrap::{bootstrap, wait_failover_ready, BootstrapError, BootstrapReport};
pub use observe::{discover, observe};
pub use pool::Pool;
pub use runner::{
    unix_ms, BoxFuture, Engine, EngineConfig, Pass, Platform, Reporter, RunError, SteadyClock,
};

/// The pure core, re-exported so that platforms need one dependency.
pub use redis_stretch_decide as decide;
pub use redis_stretch_decide::{
    zone, Action, ActionKind, EngineEvent, EngineStatus, Memory, NodeState, Partition, Seen,
    SideRule, Snapshot, Waiting, ZoneReport, ZoneState, ZoneStates, UNKNOWN_ZONE,
};
pub use redis_stretch_model::Instance;
