//! The cluster spec shared by local mode and the Kubernetes operator, and its validation.

mod memory;
pub mod pod_template;
pub mod redis_config;
#[doc(hidden)]
pub mod rule_examples;
#[cfg(feature = "kube")]
mod schema_rules;
mod server_choice;
pub mod spec;
pub mod status;
mod validate;

pub use memory::parse_memory;
pub use server_choice::{
    migration_allowed, preferred_for, server_from_env, with_server, with_shards,
};
pub use spec::*;
pub use status::*;
pub use validate::{
    load_manifest, parse_unvalidated, to_manifest, validate, Problem, Problems, ValidatedCluster,
};
