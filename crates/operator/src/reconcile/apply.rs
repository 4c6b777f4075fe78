//! Apply: every rendered object by server-side apply (our field manager owns exactly the fields
//! we render; fields others set — an HPA, a human's annotation — stay theirs), each owned by
//! the cluster so that deleting it deletes them, then remove what we applied before but no
//! longer render.

use std::collections::BTreeSet;
use std::fmt::Debug;

use k8s_openapi::api::apps::v1::StatefulSet;
use k8s_openapi::api::core::v1::{ConfigMap, Service};
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference;
use k8s_openapi::NamespaceResourceScope;
use kube::api::{DeleteParams, ListParams, Patch, PatchParams};
use kube::{Api, Client, Resource, ResourceExt};
use redis_stretch_k8s::names::{LABEL_INSTANCE, LABEL_MANAGED_BY, LABEL_NAME};
use redis_stretch_k8s::{Object, Rendered};
use serde::de::DeserializeOwned;
use serde::Serialize;

use super::validate::Validated;
use crate::context::MANAGER;
use crate::error::{Error, KubeError};

/// What apply did, for the Events that report it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Applied {
    pub objects: usize,
    /// `Kind/name` of every orphan deleted.
    pub deleted: Vec<String>,
}

pub async fn apply(
    client: &Client,
    valid: &Validated,
    rendered: &Rendered,
) -> Result<Applied, Error> {
    apply_all(client, &valid.namespace, rendered, &valid.owner)
        .await
        .map_err(|source| Error::Apply {
            cluster: valid.key.clone(),
            source,
        })
}

async fn apply_all(
    client: &Client,
    namespace: &str,
    rendered: &Rendered,
    owner: &OwnerReference,
) -> Result<Applied, KubeError> {
    let objects = rendered.objects();
    for object in &objects {
        match object {
            Object::ConfigMap(o) => one(client, namespace, o.clone(), owner).await?,
            Object::Service(o) => one(client, namespace, o.clone(), owner).await?,
            Object::StatefulSet(o) => one(client, namespace, o.clone(), owner).await?,
            Object::PodDisruptionBudget(o) => one(client, namespace, o.clone(), owner).await?,
        }
    }
    let keep: BTreeSet<(&str, String)> = objects.iter().filter_map(kind_and_name).collect();
    let cluster = rendered.cluster.name();
    let mut deleted = Vec::new();
    deleted.extend(orphans::<StatefulSet>(client, namespace, cluster, &owner.uid, &keep).await?);
    deleted.extend(orphans::<Service>(client, namespace, cluster, &owner.uid, &keep).await?);
    deleted.extend(orphans::<ConfigMap>(client, namespace, cluster, &owner.uid, &keep).await?);
    deleted.extend(
        orphans::<PodDisruptionBudget>(client, namespace, cluster, &owner.uid, &keep).await?,
    );
    Ok(Applied {
        objects: objects.len(),
        deleted,
    })
}

/// `None` for an object without a name: it cannot match one on the server.
fn kind_and_name(o: &Object) -> Option<(&'static str, String)> {
    let (kind, meta) = match o {
        Object::ConfigMap(x) => (kind_of::<ConfigMap>(), &x.metadata),
        Object::Service(x) => (kind_of::<Service>(), &x.metadata),
        Object::StatefulSet(x) => (kind_of::<StatefulSet>(), &x.metadata),
        Object::PodDisruptionBudget(x) => (kind_of::<PodDisruptionBudget>(), &x.metadata),
    };
    meta.name.clone().map(|name| (kind, name))
}

fn kind_of<K: k8s_openapi::Resource>() -> &'static str {
    K::KIND
}

async fn one<K>(
    client: &Client,
    namespace: &str,
    mut obj: K,
    owner: &OwnerReference,
) -> Result<(), KubeError>
where
    K: Resource<Scope = NamespaceResourceScope, DynamicType = ()>
        + k8s_openapi::Resource
        + Clone
        + Serialize
        + DeserializeOwned
        + Debug,
{
    obj.meta_mut().owner_references = Some(vec![owner.clone()]);
    let name = obj.name_any();
    let api: Api<K> = Api::namespaced(client.clone(), namespace);
    api.patch(
        &name,
        &PatchParams::apply(MANAGER).force(),
        &Patch::Apply(&obj),
    )
    .await
    .map_err(|e| KubeError::new("apply", kind_of::<K>(), &name, e))?;
    Ok(())
}

/// Objects of kind `K` that carry this cluster's labels and owner but are not rendered any more.
async fn orphans<K>(
    client: &Client,
    namespace: &str,
    cluster: &str,
    owner_uid: &str,
    keep: &BTreeSet<(&str, String)>,
) -> Result<Vec<String>, KubeError>
where
    K: Resource<Scope = NamespaceResourceScope, DynamicType = ()>
        + k8s_openapi::Resource
        + Clone
        + DeserializeOwned
        + Debug,
{
    let kind = kind_of::<K>();
    let api: Api<K> = Api::namespaced(client.clone(), namespace);
    let selector = format!(
        "{LABEL_NAME}={},{LABEL_INSTANCE}={cluster},{LABEL_MANAGED_BY}={}",
        redis_stretch_k8s::names::APP,
        redis_stretch_k8s::names::APP
    );
    let list = api
        .list(&ListParams::default().labels(&selector))
        .await
        .map_err(|e| KubeError::new("list", kind, cluster, e))?;
    let mut deleted = Vec::new();
    for o in list.items {
        let name = o.name_any();
        let ours = o.owner_references().iter().any(|r| r.uid == owner_uid);
        if !ours || keep.contains(&(kind, name.clone())) {
            continue;
        }
        match api.delete(&name, &DeleteParams::default()).await {
            Ok(_) => deleted.push(format!("{kind}/{name}")),
            Err(e) if KubeError::is_not_found(&e) => {}
            Err(e) => return Err(KubeError::new("delete", kind, &name, e)),
        }
    }
    Ok(deleted)
}
