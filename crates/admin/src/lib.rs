//! The Redis admin layer: typed parsing of what Redis reports (`CLUSTER NODES`, `CLUSTER INFO`,
//! `INFO replication`) and typed commands (`CLUSTER MEET`, `ADDSLOTSRANGE`, `REPLICATE`,
//! `FAILOVER`, `CONFIG SET`, ...) over redis-rs, each with a timeout and an error that says
//! which node and which command failed.

mod client;
mod error;
pub mod parse;
mod secret;
mod slots;
mod tls;

pub use client::{AclUser, AdminClient, FailoverMode, DEFAULT_TIMEOUT};
pub use error::{AdminError, ParseError};
pub use parse::ServerInfo;
pub use parse::{
    ClusterInfo, ClusterNode, ClusterNodes, NodeFlags, OpenSlot, ReplicaInfo, ReplicationInfo,
};
pub use redis_stretch_model::{ClusterState, MigrationMethod, NodeAddr, ServerFlavour};
pub use secret::Secret;
pub use slots::{SetSlot, SlotMigrationJob};
pub use tls::{Dial, Tls};
