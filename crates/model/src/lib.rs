//! The shared vocabulary of redis-stretch: node addresses, hash slots, roles, instances and a
//! node's cluster state. Pure data with no I/O and no dependency but serde, so that the pure
//! core (`topology`, `decide`) never pulls in a Redis client.

mod addr;
mod instance;
mod migration;
mod role;
mod server;
mod slots;
mod zone;

pub use addr::NodeAddr;
pub use instance::Instance;
pub use migration::{migration_method, MigrationMethod};
pub use role::{ClusterState, Role};
pub use server::ServerFlavour;
pub use slots::{format_ranges, split_slots, SlotRange, SLOT_COUNT};
pub use zone::UNKNOWN_ZONE;
