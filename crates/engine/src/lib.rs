//! The engine: observe a cluster into a typed [`Snapshot`], and the actions that build and
//! repair it. Platform-neutral: it sees instances (address + zone), never pods or processes.

mod bootstrap;
mod instance;
mod observe;
mod snapshot;

pub use bootstrap::{bootstrap, wait_failover_ready, BootstrapError, BootstrapReport};
pub use instance::Instance;
pub use observe::{discover, observe};
pub use snapshot::{NodeState, Snapshot, UNKNOWN_ZONE};
