//! The cluster spec shared by local mode and the Kubernetes operator, and its validation.

mod memory;
pub mod redis_config;
pub mod spec;
pub mod status;
mod validate;

pub use memory::parse_memory;
pub use redis_stretch_model::ServerFlavour;
pub use spec::*;
pub use status::*;
pub use validate::{
    load_manifest, parse_unvalidated, to_manifest, validate, Problem, Problems, ValidatedCluster,
};
