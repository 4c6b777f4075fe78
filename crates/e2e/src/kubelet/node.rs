//! Node registration and heartbeats, as a kubelet does them: the Node object with its labels,
//! capacity and addresses; a Lease in `kube-node-lease` renewed every 10 s (the kubelet's
//! `nodeLeaseRenewInterval`; duration 40 s); the `Ready` condition posted at registration and
//! again whenever the API says otherwise (after the node lifecycle controller set it
//! `Unknown`) or a minute passed.

use std::sync::Arc;
use std::time::{Duration, Instant};

use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::Node;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, Time};
use k8s_openapi::jiff::Timestamp;
use kube::api::{Patch, PatchParams, PostParams};
use kube::{Api, ResourceExt};
use serde_json::{json, Value};

use super::{NodeSpec, Shared};
use crate::error::{Error, Result};

const MANAGER: &str = "redis-stretch-e2e-kubelet";
const LEASE_RENEW: Duration = Duration::from_secs(10);
const LEASE_DURATION_SECONDS: i32 = 40;
const STATUS_REPORT: Duration = Duration::from_secs(60);

pub(crate) fn now_time() -> Value {
    serde_json::to_value(Time(Timestamp::now())).unwrap_or(Value::Null)
}

fn ready_status(shared: &Shared, name: &str) -> Value {
    let now = now_time();
    let cond = |type_: &str, status: &str, reason: &str, message: &str| {
        json!({
            "type": type_, "status": status, "reason": reason, "message": message,
            "lastHeartbeatTime": now, "lastTransitionTime": now,
        })
    };
    json!({
        "status": {
            "capacity": {"cpu": "4", "memory": "16318412Ki", "pods": "110", "ephemeral-storage": "100Gi"},
            "allocatable": {"cpu": "3920m", "memory": "15928164Ki", "pods": "110", "ephemeral-storage": "94580335255"},
            "conditions": [
                cond("MemoryPressure", "False", "KubeletHasSufficientMemory", "kubelet has sufficient memory available"),
                cond("DiskPressure", "False", "KubeletHasNoDiskPressure", "kubelet has no disk pressure"),
                cond("PIDPressure", "False", "KubeletHasSufficientPID", "kubelet has sufficient PID available"),
                cond("Ready", "True", "KubeletReady", "redis-stretch e2e test kubelet is posting ready status"),
            ],
            "addresses": [
                {"type": "InternalIP", "address": shared.node_ip(name)},
                {"type": "Hostname", "address": name},
            ],
            "daemonEndpoints": {"kubeletEndpoint": {"Port": 10250}},
            "nodeInfo": {
                "machineID": "", "systemUUID": "", "bootID": "", "kernelVersion": "",
                "osImage": "redis-stretch e2e", "containerRuntimeVersion": "redis-stretch-e2e://0.1",
                "kubeletVersion": "v1.37.2", "kubeProxyVersion": "",
                "operatingSystem": "linux", "architecture": "amd64",
            },
        }
    })
}

/// Create the Node with its taints (or adopt an existing one: relabelled, and its taints set
/// when this node has some) and post its status.
pub(crate) async fn register(shared: &Shared, spec: &NodeSpec) -> Result<()> {
    let api: Api<Node> = Api::all(shared.client.clone());
    let mut labels = spec.labels.clone();
    labels.insert("kubernetes.io/hostname".into(), spec.name.clone());
    labels.insert("kubernetes.io/os".into(), "linux".into());
    labels.insert("kubernetes.io/arch".into(), "amd64".into());
    let node: Node = serde_json::from_value(json!({
        "apiVersion": "v1", "kind": "Node",
        "metadata": {"name": spec.name, "labels": labels},
        "spec": {"taints": spec.taints},
    }))
    .map_err(|e| Error::Invalid(format!("node {}: {e}", spec.name)))?;
    match api.create(&PostParams::default(), &node).await {
        Ok(_) => {}
        Err(kube::Error::Api(s)) if s.code == 409 => {
            api.patch(
                &spec.name,
                &PatchParams::default(),
                &Patch::Merge(adopted(&labels, spec)),
            )
            .await
            .map_err(Error::kube(format!("relabelling node {}", spec.name)))?;
        }
        Err(e) => return Err(Error::kube(format!("registering node {}", spec.name))(e)),
    }
    post_ready(shared, &spec.name).await?;
    renew_lease(shared, &spec.name).await
}

/// The patch that adopts an existing Node: our labels, and our taints when we have some (an
/// empty list would also drop those the node lifecycle controller manages).
fn adopted(labels: &std::collections::BTreeMap<String, String>, spec: &NodeSpec) -> Value {
    if spec.taints.is_empty() {
        json!({"metadata": {"labels": labels}})
    } else {
        json!({"metadata": {"labels": labels}, "spec": {"taints": spec.taints}})
    }
}

async fn post_ready(shared: &Shared, name: &str) -> Result<()> {
    Api::<Node>::all(shared.client.clone())
        .patch_status(
            name,
            &PatchParams::default(),
            &Patch::Strategic(ready_status(shared, name)),
        )
        .await
        .map_err(Error::kube(format!("posting the status of node {name}")))?;
    Ok(())
}

async fn renew_lease(shared: &Shared, name: &str) -> Result<()> {
    let node = Api::<Node>::all(shared.client.clone())
        .get(name)
        .await
        .map_err(Error::kube(format!("reading node {name}")))?;
    let lease = json!({
        "apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
        "metadata": {
            "name": name, "namespace": "kube-node-lease",
            "ownerReferences": [{"apiVersion": "v1", "kind": "Node", "name": name, "uid": node.uid()}],
        },
        "spec": {
            "holderIdentity": name,
            "leaseDurationSeconds": LEASE_DURATION_SECONDS,
            "renewTime": serde_json::to_value(MicroTime(Timestamp::now())).unwrap_or(Value::Null),
        },
    });
    Api::<Lease>::namespaced(shared.client.clone(), "kube-node-lease")
        .patch(
            name,
            &PatchParams::apply(MANAGER).force(),
            &Patch::Apply(lease),
        )
        .await
        .map_err(Error::kube(format!("renewing the lease of node {name}")))?;
    Ok(())
}

/// Is the node's `Ready` condition, as the API has it, `True`?
async fn api_says_ready(shared: &Shared, name: &str) -> Result<bool> {
    let node = Api::<Node>::all(shared.client.clone())
        .get(name)
        .await
        .map_err(Error::kube(format!("reading node {name}")))?;
    Ok(node
        .status
        .and_then(|s| s.conditions)
        .unwrap_or_default()
        .iter()
        .any(|c| c.type_ == "Ready" && c.status == "True"))
}

/// Renew the Lease and keep `Ready` posted, while the node's data center is online.
pub(crate) async fn heartbeat(shared: Arc<Shared>, name: String) {
    let mut next_lease = Instant::now() + LEASE_RENEW;
    let mut next_status = Instant::now() + LEASE_RENEW;
    let mut last_report = Instant::now();
    let mut was_offline = false;
    loop {
        tokio::time::sleep(Duration::from_millis(250)).await;
        if shared.is_offline(&name) {
            was_offline = true;
            continue;
        }
        let now = Instant::now();
        if was_offline {
            // Back: a kubelet whose host was frozen renews and reports at once.
            was_offline = false;
            next_lease = now;
            next_status = now;
        }
        if now >= next_lease {
            if let Err(e) = renew_lease(&shared, &name).await {
                tracing::warn!("{e}");
            }
            next_lease = now + LEASE_RENEW;
        }
        if now >= next_status {
            next_status = now + LEASE_RENEW;
            let stale = last_report.elapsed() >= STATUS_REPORT;
            match api_says_ready(&shared, &name).await {
                Ok(true) if !stale => {}
                Ok(_) => match post_ready(&shared, &name).await {
                    Ok(()) => last_report = Instant::now(),
                    Err(e) => tracing::warn!("{e}"),
                },
                Err(e) => tracing::warn!("{e}"),
            }
        }
    }
}
