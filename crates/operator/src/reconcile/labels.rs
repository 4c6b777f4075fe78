//! Role labels: each pod's `redis-stretch.io/role` shows what Redis says it is *now*
//! (`master`, `replica`), so `kubectl get pods -L redis-stretch.io/role` tells where the masters
//! are after a takeover. Never a selector: a pod's identity does not change with its role.

use std::sync::Arc;

use k8s_openapi::api::core::v1::Pod;
use kube::api::{Patch, PatchParams};
use kube::{Api, Client, ResourceExt};
use redis_stretch_engine::Snapshot;
use redis_stretch_k8s::names::LABEL_ROLE;

use super::validate::Validated;
use crate::error::{Error, KubeError};

/// Write the role label of every pod whose label differs from what Redis says now. Nothing to
/// do before the engine's first snapshot.
pub async fn update(
    client: &Client,
    valid: &Validated,
    pods: &[Arc<Pod>],
    snapshot: Option<&Snapshot>,
) -> Result<(), Error> {
    let Some(snapshot) = snapshot else {
        return Ok(());
    };
    apply(client, &valid.namespace, &changes(pods, snapshot))
        .await
        .map_err(|source| Error::Labels {
            cluster: valid.key.clone(),
            source,
        })
}

/// Pods whose label differs from their current role, with the role to write.
fn changes(pods: &[Arc<Pod>], snapshot: &Snapshot) -> Vec<(String, &'static str)> {
    pods.iter()
        .filter_map(|p| {
            let name = p.name_any();
            let node = snapshot
                .nodes
                .iter()
                .find(|n| n.name.as_deref() == Some(&name))?;
            if !node.reachable {
                // Unknown now: keep whatever it said last rather than guess.
                return None;
            }
            let role = if node.owns_slots() {
                "master"
            } else if node.role == Some(redis_stretch_topology::Role::Replica) {
                "replica"
            } else {
                "none"
            };
            (p.labels().get(LABEL_ROLE).map(String::as_str) != Some(role)).then_some((name, role))
        })
        .collect()
}

async fn apply(
    client: &Client,
    namespace: &str,
    changes: &[(String, &'static str)],
) -> Result<(), KubeError> {
    let api: Api<Pod> = Api::namespaced(client.clone(), namespace);
    for (pod, role) in changes {
        let patch = serde_json::json!({"metadata": {"labels": {LABEL_ROLE: role}}});
        match api
            .patch(pod, &PatchParams::default(), &Patch::Merge(&patch))
            .await
        {
            Ok(_) => {}
            // The pod went away meanwhile: its replacement gets labelled on the next pass.
            Err(e) if KubeError::is_not_found(&e) => {}
            Err(e) => return Err(KubeError::new("label", "Pod", pod, e)),
        }
    }
    Ok(())
}
