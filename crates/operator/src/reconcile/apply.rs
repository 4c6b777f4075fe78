//! Apply: every rendered object by server-side apply (our field manager owns exactly the fields
//! we render; fields others set — an HPA, a human's annotation — stay theirs), each owned by
//! the cluster so that deleting it deletes them, then remove what we applied before but no
//! longer render.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt::Debug;
use std::hash::{Hash, Hasher};
use std::sync::{Mutex, PoisonError};

use k8s_openapi::api::apps::v1::StatefulSet;
use k8s_openapi::api::core::v1::{ConfigMap, Service};
use k8s_openapi::api::networking::v1::NetworkPolicy;
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference};
use k8s_openapi::NamespaceResourceScope;
use kube::api::{DeleteParams, Patch, PatchParams};
use kube::{Api, Client, Resource, ResourceExt};
use redis_stretch_k8s::{Object, Rendered};
use serde::de::DeserializeOwned;
use serde::Serialize;

use super::validate::Validated;
use crate::context::MANAGER;
use crate::error::{Error, KubeError};
use crate::owned::Owned;

/// What apply did, for the Events that report it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Applied {
    pub objects: usize,
    /// Of those, how many were sent (the others were unchanged since we applied them).
    pub patched: usize,
    /// `Kind/name` of every orphan deleted.
    pub deleted: Vec<String>,
}

pub async fn apply(
    client: &Client,
    valid: &Validated,
    rendered: &Rendered,
    memory: &AppliedMemory,
    owned: &Owned,
) -> Result<Applied, Error> {
    if !owned.ready().await {
        return Err(Error::CachesNotReady {
            cluster: valid.key.clone(),
        });
    }
    apply_all(
        client,
        &valid.namespace,
        rendered,
        &valid.owner,
        memory,
        owned,
    )
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
    memory: &AppliedMemory,
    owned: &Owned,
) -> Result<Applied, KubeError> {
    let cluster = rendered.cluster.name();
    // What the server holds of this cluster's objects now, kind by kind, from the watch
    // caches: the orphans come from it, and so does the answer to "has anything changed since
    // we applied it?".
    let mut live = Live::default();
    owned.of_cluster(namespace, cluster, &owner.uid, |o| {
        let name = o.meta.name.clone().unwrap_or_default();
        if o.replicas.is_some() {
            live.stateful_sets.insert(
                name.clone(),
                LiveSize {
                    replicas: o.replicas,
                    resource_version: o.meta.resource_version.clone(),
                },
            );
        }
        live.owned.insert((o.kind, name), fingerprint(o.meta));
    });

    let objects = rendered.objects();
    let mut patched = 0;
    for object in &objects {
        let done = match object {
            Object::ConfigMap(o) => one(client, namespace, o.clone(), owner, &live, memory).await?,
            Object::Service(o) => one(client, namespace, o.clone(), owner, &live, memory).await?,
            Object::StatefulSet(o) => {
                stateful_set(client, namespace, o.clone(), owner, &live, memory).await?
            }
            Object::PodDisruptionBudget(o) => {
                one(client, namespace, o.clone(), owner, &live, memory).await?
            }
            Object::NetworkPolicy(o) => {
                one(client, namespace, o.clone(), owner, &live, memory).await?
            }
        };
        patched += usize::from(done);
    }
    let keep: BTreeSet<(&str, String)> = objects.iter().filter_map(kind_and_name).collect();
    let mut deleted = Vec::new();
    for (kind, name) in live.owned.keys() {
        if keep.contains(&(*kind, name.clone())) {
            continue;
        }
        if delete(client, namespace, kind, name).await? {
            memory.forget(namespace, kind, name);
            deleted.push(format!("{kind}/{name}"));
        }
    }
    Ok(Applied {
        objects: objects.len(),
        patched,
        deleted,
    })
}

/// This cluster's objects on the server (our labels and our owner), as the caches show them:
/// `Kind, name` → the fingerprint of their current version.
#[derive(Default)]
struct Live {
    owned: BTreeMap<(&'static str, String), Option<String>>,
    /// The StatefulSets' replicas and resourceVersion as listed.
    stateful_sets: BTreeMap<String, LiveSize>,
}

/// A StatefulSet's size on the server, and the version it was read at.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
struct LiveSize {
    replicas: Option<i32>,
    resource_version: Option<String>,
}

impl LiveSize {
    fn of(s: &StatefulSet) -> Self {
        Self {
            // The API server defaults an unset `replicas` to 1.
            replicas: s.spec.as_ref().map(|sp| sp.replicas.unwrap_or(1)),
            resource_version: s.metadata.resource_version.clone(),
        }
    }
}

/// What changes when anyone changes an object: the generation where the kind has one (a
/// StatefulSet's status updates leave it alone), else the resourceVersion.
fn fingerprint(meta: &ObjectMeta) -> Option<String> {
    meta.generation
        .map(|g| format!("generation {g}"))
        .or_else(|| {
            meta.resource_version
                .clone()
                .map(|v| format!("version {v}"))
        })
}

/// What this operator last applied, per object: a hash of the object sent and the fingerprint
/// of the version the server stored. An object whose render is unchanged and whose server
/// version is still the one we wrote is not sent again: an idle reconcile costs reads only.
/// Anyone else's change to it (a new generation or version) makes the next reconcile apply it
/// again, and a new leader starts with an empty memory, so it applies everything once.
#[derive(Default)]
pub struct AppliedMemory(Mutex<HashMap<String, (u64, String)>>);

impl AppliedMemory {
    fn key(namespace: &str, kind: &str, name: &str) -> String {
        format!("{namespace}/{kind}/{name}")
    }
    fn unchanged(&self, key: &str, hash: u64, live: Option<&String>) -> bool {
        let memory = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        matches!((memory.get(key), live), (Some((h, f)), Some(l)) if *h == hash && f == l)
    }
    fn remember(&self, key: String, hash: u64, stored: Option<String>) {
        let mut memory = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        match stored {
            Some(f) => memory.insert(key, (hash, f)),
            None => memory.remove(&key),
        };
    }
    fn forget(&self, namespace: &str, kind: &str, name: &str) {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(&Self::key(namespace, kind, name));
    }
}

/// `None` for an object without a name: it cannot match one on the server.
fn kind_and_name(o: &Object) -> Option<(&'static str, String)> {
    let (kind, meta) = match o {
        Object::ConfigMap(x) => (kind_of::<ConfigMap>(), &x.metadata),
        Object::Service(x) => (kind_of::<Service>(), &x.metadata),
        Object::StatefulSet(x) => (kind_of::<StatefulSet>(), &x.metadata),
        Object::PodDisruptionBudget(x) => (kind_of::<PodDisruptionBudget>(), &x.metadata),
        Object::NetworkPolicy(x) => (kind_of::<NetworkPolicy>(), &x.metadata),
    };
    meta.name.clone().map(|name| (kind, name))
}

fn kind_of<K: k8s_openapi::Resource>() -> &'static str {
    K::KIND
}

/// Apply one object unless it is unchanged since we last did; `true` when it was sent.
async fn one<K>(
    client: &Client,
    namespace: &str,
    obj: K,
    owner: &OwnerReference,
    live: &Live,
    memory: &AppliedMemory,
) -> Result<bool, KubeError>
where
    K: Resource<Scope = NamespaceResourceScope, DynamicType = ()>
        + k8s_openapi::Resource
        + Clone
        + Serialize
        + DeserializeOwned
        + Debug,
{
    one_with(client, namespace, obj, owner, live, memory, None).await
}

/// As [`one`], with the server's `resourceVersion` the object must still be at (`precondition`:
/// a server-side apply that names one is refused with a conflict otherwise).
async fn one_with<K>(
    client: &Client,
    namespace: &str,
    mut obj: K,
    owner: &OwnerReference,
    live: &Live,
    memory: &AppliedMemory,
    precondition: Option<String>,
) -> Result<bool, KubeError>
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
    let kind = kind_of::<K>();
    let key = AppliedMemory::key(namespace, kind, &name);
    let hash = hash_of(&obj);
    let on_server = live
        .owned
        .get(&(kind, name.clone()))
        .and_then(Option::as_ref);
    if memory.unchanged(&key, hash, on_server) {
        return Ok(false);
    }
    // After the hash: the version changes with every status update, the object we send not.
    obj.meta_mut().resource_version = precondition;
    let api: Api<K> = Api::namespaced(client.clone(), namespace);
    let stored = api
        .patch(
            &name,
            &PatchParams::apply(MANAGER).force(),
            &Patch::Apply(&obj),
        )
        .await
        .map_err(|e| KubeError::new("apply", kind, &name, e))?;
    memory.remember(key, hash, fingerprint(stored.meta()));
    Ok(true)
}

/// How often a StatefulSet whose replicas are held is applied again after the server said it
/// changed under us (the engine retired a pod meanwhile).
const HELD_TRIES: usize = 3;

/// Apply a StatefulSet with its replicas never below the server's
/// ([`redis_stretch_k8s::render::held_replicas`]): the spec raises them at once, but only the
/// engine lowers them, one retired pod at a time, after the pod was emptied and forgotten by
/// the cluster. Applying the spec's lower count would have the StatefulSet controller delete
/// pods that still serve slots. While the replicas are held the apply carries the
/// `resourceVersion` it read them at as a precondition, so an engine's retire in between is
/// never undone by a stale count (the server refuses with a conflict; read again, try again).
async fn stateful_set(
    client: &Client,
    namespace: &str,
    mut obj: StatefulSet,
    owner: &OwnerReference,
    live: &Live,
    memory: &AppliedMemory,
) -> Result<bool, KubeError> {
    let name = obj.name_any();
    let rendered = obj.spec.as_ref().and_then(|s| s.replicas).unwrap_or(1);
    let mut size = live.stateful_sets.get(&name).cloned();
    let api: Api<StatefulSet> = Api::namespaced(client.clone(), namespace);
    for attempt in 1..=HELD_TRIES {
        let (replicas, precondition) = held(rendered, size.as_ref());
        if let Some(spec) = obj.spec.as_mut() {
            spec.replicas = Some(replicas);
        }
        match one_with(
            client,
            namespace,
            obj.clone(),
            owner,
            live,
            memory,
            precondition,
        )
        .await
        {
            Err(e) if e.is_conflict() && attempt < HELD_TRIES => {
                let fresh = api
                    .get_opt(&name)
                    .await
                    .map_err(|e| KubeError::new("get", kind_of::<StatefulSet>(), &name, e))?;
                size = fresh.as_ref().map(LiveSize::of);
            }
            other => return other,
        }
    }
    Ok(false)
}

/// The replicas to apply and, when they are held above the spec, the version they were read
/// at (the apply's precondition).
fn held(rendered: i32, size: Option<&LiveSize>) -> (i32, Option<String>) {
    let live = size.and_then(|s| s.replicas);
    let replicas = redis_stretch_k8s::render::held_replicas(rendered, live);
    let precondition = (replicas > rendered)
        .then(|| size.and_then(|s| s.resource_version.clone()))
        .flatten();
    (replicas, precondition)
}

/// A stable hash of what we send (its JSON; the order of fields is the type's).
fn hash_of<K: Serialize>(obj: &K) -> u64 {
    let mut h = std::collections::hash_map::DefaultHasher::new();
    serde_json::to_string(obj).unwrap_or_default().hash(&mut h);
    h.finish()
}

/// Delete an orphan; `false` when it was already gone.
async fn delete(
    client: &Client,
    namespace: &str,
    kind: &'static str,
    name: &str,
) -> Result<bool, KubeError> {
    let result = match kind {
        k if k == kind_of::<StatefulSet>() => {
            Api::<StatefulSet>::namespaced(client.clone(), namespace)
                .delete(name, &DeleteParams::default())
                .await
                .map(|_| ())
        }
        k if k == kind_of::<Service>() => Api::<Service>::namespaced(client.clone(), namespace)
            .delete(name, &DeleteParams::default())
            .await
            .map(|_| ()),
        k if k == kind_of::<ConfigMap>() => Api::<ConfigMap>::namespaced(client.clone(), namespace)
            .delete(name, &DeleteParams::default())
            .await
            .map(|_| ()),
        k if k == kind_of::<NetworkPolicy>() => {
            Api::<NetworkPolicy>::namespaced(client.clone(), namespace)
                .delete(name, &DeleteParams::default())
                .await
                .map(|_| ())
        }
        _ => Api::<PodDisruptionBudget>::namespaced(client.clone(), namespace)
            .delete(name, &DeleteParams::default())
            .await
            .map(|_| ()),
    };
    match result {
        Ok(()) => Ok(true),
        Err(e) if KubeError::is_not_found(&e) => Ok(false),
        Err(e) => Err(KubeError::new("delete", kind, name, e)),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn size(replicas: i32) -> LiveSize {
        LiveSize {
            replicas: Some(replicas),
            resource_version: Some("42".into()),
        }
    }

    /// Up at once, never down, and only a held count carries a precondition.
    #[test]
    fn replicas_are_held_above_the_spec_with_the_version_they_were_read_at() {
        assert_eq!(held(6, None), (6, None), "a StatefulSet not created yet");
        assert_eq!(held(6, Some(&size(3))), (6, None), "scale out");
        assert_eq!(held(3, Some(&size(3))), (3, None), "as the spec");
        assert_eq!(
            held(3, Some(&size(6))),
            (6, Some("42".into())),
            "scale in: kept until the engine retires the pods"
        );
        assert_eq!(held(3, Some(&size(4))), (4, Some("42".into())));
    }
}
