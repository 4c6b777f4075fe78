//! The Kubernetes operator: a kube-rs controller that turns each `RedisStretchCluster` into
//! manifests (the `redis-stretch-k8s` renderer), applies them, runs the failure engine on the
//! cluster's pods, and reports status.
//!
//! - `operator`: caches, metrics, leader election; the controller and engines run on the leader
//! - `controller`: what is watched; `reconcile`: the per-cluster pipeline, one module per step;
//!   `reason`: the reasons of the Events it publishes
//! - `engines`: one engine task per cluster (the engine forms the cluster, then runs)
//! - `platform`: pods and nodes as the engine's instances and zones
//! - `owned`: the owned objects and named Secrets a reconcile reads, from watch caches
//! - `lease`: leader election; `metrics`: Prometheus and health endpoints; `health`: the
//!   loops' heartbeats behind `/healthz`

pub mod context;
mod controller;
pub mod engines;
pub mod error;
pub mod health;
pub mod lease;
pub mod metrics;
pub mod operator;
pub mod owned;
pub mod platform;
pub mod reason;
pub mod reconcile;

pub use context::Context;
pub use error::Error;
pub use operator::{run, OperatorConfig, OperatorError};
