//! One test's whole world: a control plane, the test kubelet with the seed's six nodes, and an
//! operator, with the checks the scenarios share. Fields drop in order: the operator first,
//! then the kubelet (its pods), then the control plane.

use std::collections::BTreeMap;
use std::time::Duration;

use k8s_openapi::api::core::v1::{Node, Pod, Secret as KubeSecret};
use kube::api::{DynamicObject, ListParams, Patch, PatchParams};
use kube::{Api, Client, ResourceExt};
use redis_stretch_admin::{AdminClient, ClusterNodes, NodeAddr, Secret};
use serde_json::Value;

use crate::api::{
    cluster_pods, clusters, condition, create_namespace, install_crd, pod_ready, MANAGER,
};
use crate::error::{Error, Result};
use crate::kubelet::seed_nodes;
use crate::wait::{until, Step};
use crate::{ControlPlane, Kubelet, Operator};

pub const ZONE_LABEL: &str = "topology.kubernetes.io/zone";

pub struct Env {
    pub operator: Option<Operator>,
    pub kubelet: Option<Kubelet>,
    pub client: Client,
    pub cp: ControlPlane,
}

impl Env {
    /// A control plane with the CRD and the namespaces `namespace` and `redis-stretch` (the
    /// operator's Lease). `Ok(None)`: the control plane is not built, the test skips.
    pub async fn start(name: &str, namespace: &str) -> Result<Option<Self>> {
        Self::start_with(name, namespace, true).await
    }

    /// As `start`, installing the CRD only when `crd` (a Helm install brings its own).
    pub async fn start_with(name: &str, namespace: &str, crd: bool) -> Result<Option<Self>> {
        Self::start_opts(name, namespace, crd, false).await
    }

    /// As `start`, on a control plane whose StatefulSets never get pods.
    pub async fn start_without_pods(name: &str, namespace: &str) -> Result<Option<Self>> {
        Self::start_opts(name, namespace, true, true).await
    }

    async fn start_opts(
        name: &str,
        namespace: &str,
        crd: bool,
        no_pods: bool,
    ) -> Result<Option<Self>> {
        let Some(cp) = ControlPlane::start_opts(name, no_pods)? else {
            return Ok(None);
        };
        let client = cp.client().await?;
        if crd {
            install_crd(&client).await?;
        }
        create_namespace(&client, namespace).await?;
        create_namespace(&client, "redis-stretch").await?;
        Ok(Some(Self {
            operator: None,
            kubelet: None,
            client,
            cp,
        }))
    }

    /// Register the seed's six nodes and start running their pods.
    pub async fn start_kubelet(&mut self) -> Result<()> {
        self.start_kubelet_with(seed_nodes(ZONE_LABEL)).await
    }

    /// Register `nodes` and start running their pods.
    pub async fn start_kubelet_with(&mut self, nodes: Vec<crate::kubelet::NodeSpec>) -> Result<()> {
        let k = Kubelet::start(self.client.clone(), nodes, self.cp.dir()).await?;
        self.kubelet = Some(k);
        Ok(())
    }

    /// `redis-stretch operator` outside the cluster, with admin rights as its own user (so
    /// that the audit log counts its requests), leader preferred in dc-b (the zone with the
    /// minority of masters).
    pub fn start_operator(&mut self) -> Result<()> {
        self.operator = Some(self.operator_replica("op-1")?);
        Ok(())
    }

    /// One more replica of that operator, named `identity` (it campaigns for the same Lease).
    pub fn operator_replica(&self, identity: &str) -> Result<Operator> {
        self.operator_replica_with_env(identity, &[])
    }

    /// As `operator_replica`, with more environment variables (a crash point, say).
    pub fn operator_replica_with_env(
        &self,
        identity: &str,
        env: &[(&str, &str)],
    ) -> Result<Operator> {
        Operator::start_with_env(
            &self.cp.operator_kubeconfig(),
            self.cp.dir(),
            identity,
            &[
                "--lease-namespace",
                "redis-stretch",
                "--preferred-zone",
                "dc-b",
            ],
            env,
        )
    }

    pub fn kubelet(&self) -> Result<&Kubelet> {
        self.kubelet
            .as_ref()
            .ok_or_else(|| Error::Invalid("the kubelet is not started".into()))
    }

    /// Server-side apply a RedisStretchCluster manifest (JSON of the YAML).
    pub async fn apply(&self, manifest: &Value) -> Result<()> {
        let ns = manifest
            .pointer("/metadata/namespace")
            .and_then(Value::as_str)
            .unwrap_or("default");
        let name = manifest
            .pointer("/metadata/name")
            .and_then(Value::as_str)
            .ok_or_else(|| Error::Invalid("manifest without a name".into()))?;
        clusters(&self.client, ns)
            .patch(
                name,
                &PatchParams::apply(MANAGER).force(),
                &Patch::Apply(manifest),
            )
            .await
            .map_err(Error::kube(format!("applying {ns}/{name}")))?;
        Ok(())
    }

    /// Apply examples/k8s/seed.yaml (namespace `redis`, cluster `seed`) and wait until its six
    /// pods are Ready and the cluster's condition `Ready` is True; returns the pods.
    pub async fn seed_ready(&self) -> Result<Vec<Pod>> {
        self.apply(&crate::drill::seed_manifest()?).await?;
        let pods = self
            .ready_pods(crate::drill::NS, "seed", 6, Duration::from_secs(300))
            .await?;
        self.wait_condition(
            crate::drill::NS,
            "seed",
            "Ready",
            "True",
            Duration::from_secs(180),
        )
        .await?;
        Ok(pods)
    }

    /// Wait until the cluster's `n` pods are Running and Ready; returns them.
    pub async fn ready_pods(
        &self,
        ns: &str,
        cluster: &str,
        n: usize,
        limit: Duration,
    ) -> Result<Vec<Pod>> {
        let client = &self.client;
        until(
            &format!("{n} ready pods of {ns}/{cluster}"),
            limit,
            Duration::from_millis(250),
            || async move {
                let pods = cluster_pods(client, ns, cluster).await?;
                let ready: Vec<Pod> = pods.iter().filter(|p| pod_ready(p)).cloned().collect();
                Ok(if ready.len() == n && pods.len() == n {
                    Step::Done(ready)
                } else {
                    Step::Pending(describe(&pods))
                })
            },
        )
        .await
    }

    pub async fn cluster(&self, ns: &str, name: &str) -> Result<DynamicObject> {
        clusters(&self.client, ns)
            .get(name)
            .await
            .map_err(Error::kube(format!("reading {ns}/{name}")))
    }

    /// Wait until condition `type_` of the cluster has `status`; returns (reason, message).
    pub async fn wait_condition(
        &self,
        ns: &str,
        cluster: &str,
        type_: &str,
        status: &str,
        limit: Duration,
    ) -> Result<(String, String)> {
        until(
            &format!("{ns}/{cluster} condition {type_}={status}"),
            limit,
            Duration::from_millis(250),
            || async move {
                let obj = self.cluster(ns, cluster).await?;
                Ok(match condition(&obj, type_) {
                    Some((s, reason, message)) if s == status => Step::Done((reason, message)),
                    other => Step::Pending(format!(
                        "{type_}: {other:?}; all: {}",
                        obj.data
                            .pointer("/status/conditions")
                            .cloned()
                            .unwrap_or_default()
                    )),
                })
            },
        )
        .await
    }

    /// node -> zone, from the Nodes' labels.
    pub async fn node_zones(&self) -> Result<BTreeMap<String, String>> {
        Ok(Api::<Node>::all(self.client.clone())
            .list(&ListParams::default())
            .await
            .map_err(Error::kube("listing nodes"))?
            .items
            .into_iter()
            .map(|n| {
                let zone = n.labels().get(ZONE_LABEL).cloned().unwrap_or_default();
                (n.name_any(), zone)
            })
            .collect())
    }

    /// The password from the cluster's auth Secret (`<name>-auth`).
    pub async fn password(&self, ns: &str, cluster: &str) -> Result<Secret> {
        let name = format!("{cluster}-auth");
        let s = Api::<KubeSecret>::namespaced(self.client.clone(), ns)
            .get(&name)
            .await
            .map_err(Error::kube(format!("reading Secret {ns}/{name}")))?;
        let bytes = s
            .data
            .and_then(|d| d.get("password").map(|b| b.0.clone()))
            .ok_or_else(|| Error::Invalid(format!("Secret {ns}/{name} has no password")))?;
        Ok(Secret::new(String::from_utf8_lossy(&bytes).into_owned()))
    }

    /// What Redis says, asked at `ip`: `CLUSTER NODES`.
    pub async fn cluster_nodes(&self, ip: &str, password: &Secret) -> Result<ClusterNodes> {
        let admin = AdminClient::connect(
            &NodeAddr::new(ip, 6379),
            Some(password),
            Duration::from_secs(2),
        )
        .await
        .map_err(|e| Error::Invalid(format!("connecting to {ip}:6379: {e}")))?;
        admin
            .cluster_nodes()
            .await
            .map_err(|e| Error::Invalid(format!("CLUSTER NODES at {ip}: {e}")))
    }
}

/// Pod IP -> zone (by its node's label).
pub fn zone_of_ip(pods: &[Pod], zones: &BTreeMap<String, String>) -> BTreeMap<String, String> {
    pods.iter()
        .filter_map(|p| {
            let ip = p.status.as_ref()?.pod_ip.clone()?;
            let node = p.spec.as_ref()?.node_name.clone()?;
            Some((ip, zones.get(&node).cloned().unwrap_or_default()))
        })
        .collect()
}

impl Env {
    /// The cluster `name`'s masters with slots per zone, as CLUSTER NODES at one of its `pods`
    /// shows them, once every master has a replica and all its replicas are in another zone
    /// (`masters_per_zone`).
    pub async fn masters_by_zone(
        &self,
        ns: &str,
        name: &str,
        pods: &[Pod],
    ) -> Result<BTreeMap<String, usize>> {
        let password = self.password(ns, name).await?;
        let zone_of = zone_of_ip(pods, &self.node_zones().await?);
        let ip = zone_of
            .keys()
            .next()
            .ok_or_else(|| Error::Invalid(format!("no pod of {ns}/{name} has an IP")))?;
        let nodes = self.cluster_nodes(ip, &password).await?;
        masters_per_zone(&nodes, &zone_of).map_err(|e| Error::Invalid(format!("{e}: {nodes:?}")))
    }
}

/// The seed's preferred layout: two masters in dc-a, one in dc-b.
pub fn seed_layout() -> BTreeMap<String, usize> {
    BTreeMap::from([("dc-a".to_owned(), 2), ("dc-b".to_owned(), 1)])
}

/// Pod name -> node name.
pub fn placement(pods: &[Pod]) -> BTreeMap<String, String> {
    pods.iter()
        .map(|p| {
            let node = p
                .spec
                .as_ref()
                .and_then(|s| s.node_name.clone())
                .unwrap_or_default();
            (p.name_any(), node)
        })
        .collect()
}

pub fn describe(pods: &[Pod]) -> String {
    let mut s: Vec<String> = pods
        .iter()
        .map(|p| {
            format!(
                "{} node={} phase={} ready={}",
                p.name_any(),
                p.spec
                    .as_ref()
                    .and_then(|s| s.node_name.clone())
                    .unwrap_or_else(|| "-".into()),
                p.status
                    .as_ref()
                    .and_then(|s| s.phase.clone())
                    .unwrap_or_default(),
                pod_ready(p)
            )
        })
        .collect();
    s.sort();
    format!("[{}]", s.join(", "))
}

/// Masters with slots per zone, after checking that every such master has a replica and all
/// its replicas are in another zone; `Err` names the first master that breaks it.
pub fn masters_per_zone(
    nodes: &ClusterNodes,
    zone_of_ip: &BTreeMap<String, String>,
) -> std::result::Result<BTreeMap<String, usize>, String> {
    let zone = |n: &redis_stretch_admin::ClusterNode| {
        n.addr
            .as_ref()
            .and_then(|a| zone_of_ip.get(&a.host))
            .cloned()
            .ok_or_else(|| format!("node {} ({:?}) is not a pod of the cluster", n.id, n.addr))
    };
    let mut per_zone: BTreeMap<String, usize> = BTreeMap::new();
    for m in nodes
        .nodes
        .iter()
        .filter(|n| n.flags.master && n.slot_count() > 0)
    {
        let mz = zone(m)?;
        *per_zone.entry(mz.clone()).or_default() += 1;
        let replicas: Vec<_> = nodes
            .nodes
            .iter()
            .filter(|r| r.master_id.as_deref() == Some(m.id.as_str()))
            .collect();
        if replicas.is_empty() {
            return Err(format!("master {:?} has no replica", m.addr));
        }
        for r in replicas {
            if zone(r)? == mz {
                return Err(format!(
                    "master {:?} and its replica {:?} are both in {mz}",
                    m.addr, r.addr
                ));
            }
        }
    }
    Ok(per_zone)
}
