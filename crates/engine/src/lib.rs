//! The engine: observe a cluster into a typed [`Snapshot`], and the actions that build and
//! repair it. Platform-neutral: it sees instances (address + zone), never pods or processes.

mod action;
mod bootstrap;
pub mod decide;
mod instance;
mod observe;
mod pool;
mod snapshot;
pub mod zone;

pub use action::Action;
pub use bootstrap::{bootstrap, wait_failover_ready, BootstrapError, BootstrapReport};
pub use instance::Instance;
pub use observe::{discover, observe};
pub use pool::Pool;
pub use snapshot::{NodeState, Seen, Snapshot, UNKNOWN_ZONE};
