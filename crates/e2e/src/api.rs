//! Small helpers over the API server: the CRD, namespaces, custom resources as JSON.

use std::time::Duration;

use k8s_openapi::api::core::v1::{Namespace, Pod};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{ApiResource, DynamicObject, ListParams, Patch, PatchParams, PostParams};
use kube::{Api, Client};
use redis_stretch_k8s::RedisStretchCluster;
use serde_json::{json, Value};

use crate::error::{Error, Result};
use crate::wait::{until, Step};

pub const MANAGER: &str = "redis-stretch-e2e";

/// Install the CRD the binary generates (the same bytes as deploy/crd.yaml, which a unit test
/// keeps in step) and wait until the API server serves it.
pub async fn install_crd(client: &Client) -> Result<()> {
    let yaml = redis_stretch_k8s::crd_yaml()
        .map_err(|e| Error::Invalid(format!("generating the CRD: {e}")))?;
    let crd: CustomResourceDefinition = serde_saphyr::from_str(&yaml)
        .map_err(|e| Error::Invalid(format!("parsing the CRD: {e}")))?;
    let api: Api<CustomResourceDefinition> = Api::all(client.clone());
    let name = crd.metadata.name.clone().unwrap_or_default();
    api.patch(
        &name,
        &PatchParams::apply(MANAGER).force(),
        &Patch::Apply(&crd),
    )
    .await
    .map_err(Error::kube("applying the CRD"))?;
    wait_crd_served(client).await
}

/// Wait until the RedisStretchCluster CRD is Established and its resources are served (after
/// `install_crd`, or after `helm install` put it from the chart's crds/).
pub async fn wait_crd_served(client: &Client) -> Result<()> {
    let api: Api<CustomResourceDefinition> = Api::all(client.clone());
    let name = "redisstretchclusters.redis-stretch.io".to_owned();
    until(
        "the CRD to be Established",
        Duration::from_secs(60),
        Duration::from_millis(200),
        || {
            let api = api.clone();
            let name = name.clone();
            async move {
                let crd = match api.get(&name).await {
                    Ok(crd) => crd,
                    Err(e) => return Ok(Step::Pending(e.to_string())),
                };
                let established = crd
                    .status
                    .and_then(|s| s.conditions)
                    .unwrap_or_default()
                    .iter()
                    .any(|c| c.type_ == "Established" && c.status == "True");
                Ok(if established {
                    Step::Done(())
                } else {
                    Step::Pending("not established".into())
                })
            }
        },
    )
    .await?;
    // Discovery lags Established by a moment: wait until a list works.
    let rsc = clusters(client, "default");
    until(
        "RedisStretchClusters to be served",
        Duration::from_secs(30),
        Duration::from_millis(200),
        || {
            let rsc = rsc.clone();
            async move {
                Ok(match rsc.list(&ListParams::default()).await {
                    Ok(_) => Step::Done(()),
                    Err(e) => Step::Pending(e.to_string()),
                })
            }
        },
    )
    .await
}

pub async fn create_namespace(client: &Client, name: &str) -> Result<()> {
    let ns: Namespace = serde_json::from_value(json!({"metadata": {"name": name}}))
        .map_err(|e| Error::Invalid(e.to_string()))?;
    match Api::<Namespace>::all(client.clone())
        .create(&PostParams::default(), &ns)
        .await
    {
        Ok(_) => Ok(()),
        Err(kube::Error::Api(s)) if s.code == 409 => Ok(()),
        Err(e) => Err(Error::kube(format!("creating namespace {name}"))(e)),
    }
}

/// RedisStretchClusters of `ns`, as JSON objects (so that tests can send what the typed spec
/// could not express: invalid resources).
pub fn clusters(client: &Client, ns: &str) -> Api<DynamicObject> {
    let ar = ApiResource::erase::<RedisStretchCluster>(&());
    Api::namespaced_with(client.clone(), ns, &ar)
}

/// A custom resource from JSON (apiVersion and kind filled in).
pub fn cluster_object(name: &str, ns: &str, spec: Value) -> Result<DynamicObject> {
    serde_json::from_value(json!({
        "apiVersion": "redis-stretch.io/v1alpha1",
        "kind": "RedisStretchCluster",
        "metadata": {"name": name, "namespace": ns},
        "spec": spec,
    }))
    .map_err(|e| Error::Invalid(format!("custom resource {ns}/{name}: {e}")))
}

/// The pods of a cluster (by the operator's selector labels).
pub async fn cluster_pods(client: &Client, ns: &str, cluster: &str) -> Result<Vec<Pod>> {
    let lp = ListParams::default().labels(&format!(
        "{}={},{}={cluster}",
        redis_stretch_k8s::names::LABEL_NAME,
        redis_stretch_k8s::names::APP,
        redis_stretch_k8s::names::LABEL_INSTANCE,
    ));
    Ok(Api::<Pod>::namespaced(client.clone(), ns)
        .list(&lp)
        .await
        .map_err(Error::kube(format!("listing the pods of {ns}/{cluster}")))?
        .items)
}

pub fn pod_ready(p: &Pod) -> bool {
    p.status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .is_some_and(|cs| cs.iter().any(|c| c.type_ == "Ready" && c.status == "True"))
}

/// A condition of a cluster's status: (status, reason, message).
pub fn condition(obj: &DynamicObject, type_: &str) -> Option<(String, String, String)> {
    let conds = obj.data.pointer("/status/conditions")?.as_array()?;
    let c = conds.iter().find(|c| c["type"] == type_)?;
    let s = |k: &str| c[k].as_str().unwrap_or_default().to_owned();
    Some((s("status"), s("reason"), s("message")))
}
