//! The Kubernetes side of redis-stretch that needs no cluster: the CRD, every manifest a
//! `RedisStretchCluster` becomes, and a prediction of where the scheduler puts each pod.

pub mod cluster;
mod crd;
mod error;
pub mod names;
pub mod plan;
pub mod quantity;
pub mod render;

pub use crd::crd_yaml;
pub use error::Error;

pub use plan::{predict, PlanReport};
pub use redis_stretch_api::{RedisStretchCluster, RedisStretchClusterStatus};
pub use render::{render, NetworkAccess, Object, Rendered};
