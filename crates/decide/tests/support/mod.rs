//! A model of Redis Cluster, and the engine's loop over it, for decide's model check
//! (`tests/model.rs`): faithful where decide's rules depend on Redis (epochs, elections,
//! replication links, fences, `cluster_state`), simplified where they do not (addresses never
//! change, gossip reaches every instance that hears the sender within one 100 ms tick).

pub mod cluster;
mod commands;
pub mod engine;
mod observe;
mod properties;
pub mod scenario;
mod tick;
