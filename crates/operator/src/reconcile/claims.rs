//! Cleanup of the volumes: the StatefulSets' claims outlive them (Kubernetes never deletes a
//! PVC with its pod), so they go only when the spec asks (`persistence.whenDeleted: Delete`).

use k8s_openapi::api::core::v1::PersistentVolumeClaim;
use kube::api::{DeleteParams, ListParams};
use kube::{Api, Client, ResourceExt};
use redis_stretch_api::{ClaimRetention, RedisStretchCluster};
use redis_stretch_k8s::names::{APP, LABEL_INSTANCE, LABEL_NAME};

use crate::error::{cluster_key, Error, KubeError};

pub async fn delete_if_asked(
    client: &Client,
    cr: &RedisStretchCluster,
    namespace: &str,
) -> Result<(), Error> {
    let persistence = &cr.spec.redis.persistence;
    if !persistence.enabled || persistence.when_deleted != ClaimRetention::Delete {
        return Ok(());
    }
    let name = cr.name_any();
    let pvcs: Api<PersistentVolumeClaim> = Api::namespaced(client.clone(), namespace);
    let selector = format!("{LABEL_NAME}={APP},{LABEL_INSTANCE}={name}");
    pvcs.delete_collection(
        &DeleteParams::default(),
        &ListParams::default().labels(&selector),
    )
    .await
    .map_err(|e| Error::Cleanup {
        cluster: cluster_key(namespace, &name),
        source: KubeError::new("delete", "PersistentVolumeClaim", &name, e),
    })?;
    Ok(())
}
