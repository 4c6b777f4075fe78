//! Observe: the cluster's pods, the nodes they run on and the nodes' readiness by zone — from
//! the reflector caches only, never an API call, so that this step works while the API server
//! is in the lost data center.

use std::collections::BTreeMap;
use std::sync::Arc;

use k8s_openapi::api::core::v1::Pod;

use super::validate::Validated;
use crate::context::Context;
use crate::platform::{cluster_pods, node_health, placement, NodeHealth, PodPlacement};

pub struct Observed {
    pub pods: Vec<Arc<Pod>>,
    pub placement: PodPlacement,
    /// Zone → its nodes' readiness.
    pub nodes: BTreeMap<String, NodeHealth>,
}

pub fn observe(ctx: &Context, valid: &Validated) -> Observed {
    let zone_label = &valid.cluster.spec().placement.zone_label;
    let pods = cluster_pods(&ctx.pods, &valid.namespace, valid.cluster.name());
    Observed {
        placement: placement(&pods, &ctx.nodes, zone_label),
        nodes: node_health(&ctx.nodes, zone_label),
        pods,
    }
}
