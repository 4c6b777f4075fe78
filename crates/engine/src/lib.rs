//! The engine: observe a cluster into a typed [`Snapshot`], and the actions that build and
//! repair it. Platform-neutral: it sees instances (address + zone), never pods or processes.

mod act;
mod action;
mod bootstrap;
pub mod decide;
mod engine;
mod instance;
mod observe;
mod pool;
mod snapshot;
pub mod zone;

pub use act::{act, Outcome};
pub use action::Action;
pub use bootstrap::{bootstrap, wait_failover_ready, BootstrapError, BootstrapReport};
pub use engine::{unix_ms, Engine, EngineConfig, EngineStatus, Event, Pass, Platform, Recorder};
pub use instance::Instance;
pub use observe::{discover, observe};
pub use pool::Pool;
pub use snapshot::{NodeState, Seen, Snapshot, UNKNOWN_ZONE};
