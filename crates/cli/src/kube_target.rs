//! Break-glass from outside: what `redis-stretch status|takeover|failback|evacuate --cluster NAME
//! -n NS` needs from the API server — the spec, the password, the pods and their zones, and
//! whether an operator leader is live — read once, with a kubeconfig. Redis itself is then
//! reached directly at the pod IPs, so the command works from wherever the pod network is
//! routable (a debug pod, a node, a VPN).

use std::sync::Arc;

use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::{Node, Pod, Secret as KubeSecret};
use k8s_openapi::jiff::Timestamp;
use kube::api::{ListParams, Patch, PatchParams};
use kube::runtime::reflector;
use kube::runtime::watcher::Event;
use kube::{Api, Client};
use redis_stretch_admin::{Secret, Tls};
use redis_stretch_api::{RedisStretchCluster, RedisStretchClusterSpec, RedisStretchClusterStatus};
use redis_stretch_engine::Instance;
use redis_stretch_k8s::names::{LABEL_COMPONENT, LABEL_INSTANCE, LABEL_NAME, PASSWORD_KEY};

use redis_stretch_operator::context::HOLD_ANNOTATION;
use redis_stretch_operator::platform::{placement, with_server_names, Unplaced};

#[derive(Debug, thiserror::Error)]
pub enum KubeTargetError {
    #[error("cannot reach the Kubernetes API (kubeconfig): {0}")]
    Client(#[source] kube::Error),
    #[error("{what}: {source}")]
    Api {
        what: String,
        #[source]
        source: kube::Error,
    },
    #[error("RedisStretchCluster `{name}` not found in namespace `{namespace}`")]
    NotFound { name: String, namespace: String },
    #[error("Secret `{0}` has no usable key")]
    Password(String),
}

/// Everything a break-glass command needs, as the API server says it now.
pub struct KubeTarget {
    pub spec: RedisStretchClusterSpec,
    pub status: Option<RedisStretchClusterStatus>,
    pub password: Option<Secret>,
    /// With TLS on: the CA to trust; instances then carry their pods' DNS names, which must
    /// resolve where the command runs (inside the cluster network).
    pub tls: Option<Tls>,
    pub instances: Vec<Instance>,
    pub unplaced: Vec<Unplaced>,
    pub held_zone: Option<String>,
}

pub struct Where<'a> {
    pub cluster: &'a str,
    pub namespace: &'a str,
    pub lease_namespace: &'a str,
    pub lease_name: &'a str,
}

fn api_err(what: String) -> impl FnOnce(kube::Error) -> KubeTargetError {
    move |source| KubeTargetError::Api { what, source }
}

pub async fn load(w: &Where<'_>) -> Result<KubeTarget, KubeTargetError> {
    let client = Client::try_default()
        .await
        .map_err(KubeTargetError::Client)?;
    let crs: Api<RedisStretchCluster> = Api::namespaced(client.clone(), w.namespace);
    let cr = crs
        .get_opt(w.cluster)
        .await
        .map_err(api_err(format!("get RedisStretchCluster {}", w.cluster)))?
        .ok_or_else(|| KubeTargetError::NotFound {
            name: w.cluster.to_owned(),
            namespace: w.namespace.to_owned(),
        })?;
    let cluster = redis_stretch_k8s::cluster::validated(&cr).ok();
    let password = match (&cluster, cr.spec.auth.enabled) {
        (Some(c), true) => {
            let name = redis_stretch_k8s::names::Names::new(c).auth_secret();
            let secrets: Api<KubeSecret> = Api::namespaced(client.clone(), w.namespace);
            let s = secrets
                .get(&name)
                .await
                .map_err(api_err(format!("get Secret {name}")))?;
            let bytes = s
                .data
                .and_then(|d| d.get(PASSWORD_KEY).map(|b| b.0.clone()))
                .ok_or_else(|| KubeTargetError::Password(name.clone()))?;
            let text =
                String::from_utf8(bytes).map_err(|_| KubeTargetError::Password(name.clone()))?;
            Some(Secret::new(text.trim_end_matches('\n')))
        }
        _ => None,
    };
    let pods: Api<Pod> = Api::namespaced(client.clone(), w.namespace);
    let selector = format!(
        "{LABEL_NAME}={},{LABEL_COMPONENT}=redis,{LABEL_INSTANCE}={}",
        redis_stretch_k8s::names::APP,
        w.cluster
    );
    let pod_list = pods
        .list(&ListParams::default().labels(&selector))
        .await
        .map_err(api_err(format!("list pods of {}", w.cluster)))?;
    // Only the nodes these pods run on: `get nodes`, not a cluster-wide list.
    let nodes_api: Api<Node> = Api::all(client.clone());
    let (nodes, mut writer) = reflector::store::<Node>();
    let mut node_names: Vec<String> = pod_list
        .items
        .iter()
        .filter_map(|p| p.spec.as_ref().and_then(|s| s.node_name.clone()))
        .collect();
    node_names.sort();
    node_names.dedup();
    for n in node_names {
        if let Some(node) = nodes_api
            .get_opt(&n)
            .await
            .map_err(api_err(format!("get node {n}")))?
        {
            writer.apply_watcher_event(&Event::Apply(node));
        }
    }
    let pods: Vec<Arc<Pod>> = pod_list.items.into_iter().map(Arc::new).collect();
    let mut placed = placement(&pods, &nodes, &cr.spec.placement.zone_label);
    let tls = match (&cluster, &cr.spec.tls.secret_name) {
        (Some(c), Some(name)) if cr.spec.tls.enabled => {
            let secrets: Api<KubeSecret> = Api::namespaced(client.clone(), w.namespace);
            let s = secrets
                .get(name)
                .await
                .map_err(api_err(format!("get Secret {name}")))?;
            let ca = s
                .data
                .and_then(|d| d.get("ca.crt").map(|b| b.0.clone()))
                .ok_or_else(|| KubeTargetError::Password(format!("{name} (no ca.crt)")))?;
            let domain = format!(
                "{}.{}.svc",
                redis_stretch_k8s::names::Names::new(c).headless_service(),
                w.namespace
            );
            with_server_names(&mut placed.instances, &domain);
            Some(Tls::new(ca))
        }
        _ => None,
    };
    Ok(KubeTarget {
        held_zone: cr
            .metadata
            .annotations
            .as_ref()
            .and_then(|a| a.get(HOLD_ANNOTATION).cloned()),
        spec: cr.spec,
        status: cr.status,
        password,
        tls,
        instances: placed.instances,
        unplaced: placed.unplaced,
    })
}

/// What the operator's Lease says about a live leader.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Liveness {
    /// A holder that renewed while we watched (or, for `status`, recently by this machine's clock).
    Live(String),
    /// No holder, or a holder that did not renew for a whole lease duration.
    Gone(String),
    /// The Lease could not be read: nothing can be concluded.
    Unknown(String),
}

/// Is an operator leader live? With `watch`, read the Lease until it changes or a whole
/// duration passes: a renewal seen happening needs no clock agreement between this machine and
/// the leader (a 4 s Lease judged by a skewed laptop clock would be worthless). Without,
/// one read judged by this machine's clock: fine for `status`, not for a safety check.
pub async fn liveness(w: &Where<'_>, watch: bool) -> Liveness {
    let client = match Client::try_default().await {
        Ok(c) => c,
        Err(e) => return Liveness::Unknown(format!("no Kubernetes API: {e}")),
    };
    let leases: Api<Lease> = Api::namespaced(client, w.lease_namespace);
    let what = format!("Lease {}/{}", w.lease_namespace, w.lease_name);
    let read = || async {
        match leases.get_opt(w.lease_name).await {
            Ok(Some(l)) => Ok(l),
            Ok(None) => Err(format!(
                "{what} not found: is the operator in another namespace (--operator-namespace)?"
            )),
            Err(e) => Err(format!("cannot read {what}: {e}")),
        }
    };
    let first = match read().await {
        Ok(l) => l,
        Err(why) => return Liveness::Unknown(why),
    };
    // A Lease without a spec says nothing about a holder: not knowing is not knowing there
    // is none.
    let Some(spec) = first.spec.clone() else {
        return Liveness::Unknown(format!("{what} has no spec"));
    };
    let Some(holder) = spec.holder_identity.filter(|h| !h.is_empty()) else {
        return Liveness::Gone(format!("{what} has no holder"));
    };
    let duration_ms = i64::from(spec.lease_duration_seconds.unwrap_or(15)) * 1000;
    if !watch {
        let age_ms = spec.renew_time.map_or(i64::MAX, |t| {
            Timestamp::now().as_millisecond() - t.0.as_millisecond()
        });
        return if age_ms < duration_ms {
            Liveness::Live(format!(
                "{holder} (renewed {age_ms} ms ago by this machine's clock)"
            ))
        } else {
            Liveness::Gone(format!("{holder} has not renewed {what} for {age_ms} ms"))
        };
    }
    let version = first.metadata.resource_version.clone();
    let until = tokio::time::Instant::now()
        + std::time::Duration::from_millis(u64::try_from(duration_ms).unwrap_or(15_000) + 500);
    while tokio::time::Instant::now() < until {
        tokio::time::sleep(std::time::Duration::from_millis(250)).await;
        match read().await {
            Ok(l) if l.metadata.resource_version != version => {
                return Liveness::Live(format!("{holder} (renewed {what} while we watched)"));
            }
            Ok(_) => {}
            Err(why) => return Liveness::Unknown(why),
        }
    }
    Liveness::Gone(format!(
        "{holder} did not renew {what} for a whole lease duration"
    ))
}

/// Set or clear the hold annotation (`evacuate` / `resume`): the operator's engine reads it.
pub async fn set_hold(w: &Where<'_>, zone: Option<&str>) -> Result<(), KubeTargetError> {
    let client = Client::try_default()
        .await
        .map_err(KubeTargetError::Client)?;
    let crs: Api<RedisStretchCluster> = Api::namespaced(client, w.namespace);
    let patch = serde_json::json!({"metadata": {"annotations": {HOLD_ANNOTATION: zone}}});
    crs.patch(w.cluster, &PatchParams::default(), &Patch::Merge(&patch))
        .await
        .map_err(api_err(format!(
            "annotate RedisStretchCluster {}",
            w.cluster
        )))?;
    Ok(())
}
