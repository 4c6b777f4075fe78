//! The drill's fault injection (`redis_stretch_drill::Faults`) on Kubernetes: the cluster as
//! the API shows it (pods, their nodes' zones, the spec, the password), a data center taken
//! offline through the test kubelet (pods frozen, node heartbeats stopped) and brought back,
//! and the operator as the engine in charge. The drill scenario then measures exactly what it
//! measures in local mode — RTO, failed writes, acknowledged writes lost, cluster checks — with
//! the operator doing the recovery.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::Node;
use kube::api::ListParams;
use kube::{Api, Client, ResourceExt};
use redis_stretch_admin::{NodeAddr, Secret};
use redis_stretch_api::RedisStretchClusterSpec;
use redis_stretch_drill::scenario::{EngineStop, Faults, Layout, ZoneFault};
use redis_stretch_engine::{EngineStatus, Instance};

use crate::env::ZONE_LABEL;
use crate::error::{Error, Result};
use crate::{Env, Kubelet};

pub struct KubeFaults<'a> {
    kubelet: &'a Kubelet,
    client: Client,
    layout: Layout,
    spec: RedisStretchClusterSpec,
    password: Option<Secret>,
    operator_pid: u32,
    /// Before thawing a zone, wait until the API shows its nodes NotReady (the node lifecycle
    /// controller's verdict): the drill then spans what Kubernetes does to a dark DC.
    hold_until_not_ready: bool,
    /// What bring_back saw: (seconds from take_down until every node of the zone was
    /// NotReady/Unknown in the API).
    pub not_ready_after: Mutex<Option<f64>>,
    taken_down_at: Mutex<Option<Instant>>,
}

impl<'a> KubeFaults<'a> {
    /// The cluster `ns/cluster` of `env` as it runs now: its pods (with IPs), their zones, the
    /// spec and password from the API, the operator as the engine. `hold_until_not_ready`:
    /// keep a zone dark until the API shows its nodes NotReady before bringing it back.
    pub async fn from_env(
        env: &'a Env,
        ns: &str,
        cluster: &str,
        hold_until_not_ready: bool,
    ) -> Result<Self> {
        let kubelet = env.kubelet()?;
        let pods = crate::api::cluster_pods(&env.client, ns, cluster).await?;
        let zones = env.node_zones().await?;
        let obj = env.cluster(ns, cluster).await?;
        let spec: RedisStretchClusterSpec = serde_json::from_value(obj.data["spec"].clone())
            .map_err(|e| Error::Invalid(format!("the spec of {ns}/{cluster}: {e}")))?;
        let password = Some(env.password(ns, cluster).await?);
        let operator_pid = env
            .operator
            .as_ref()
            .map(crate::Operator::pid)
            .ok_or_else(|| Error::Invalid("no operator runs".into()))?;
        let client = env.client.clone();
        let mut instances = Vec::new();
        for p in &pods {
            let ip = p
                .status
                .as_ref()
                .and_then(|s| s.pod_ip.clone())
                .ok_or_else(|| Error::Invalid(format!("pod {} has no IP", p.name_any())))?;
            let node = p
                .spec
                .as_ref()
                .and_then(|s| s.node_name.clone())
                .unwrap_or_default();
            instances.push(Instance {
                name: p.name_any(),
                zone: zones.get(&node).cloned().unwrap_or_default(),
                addr: NodeAddr::new(ip, 6379),
                server_name: None,
                restart_for: None,
                leaving: false,
            });
        }
        let zone_names = spec.zones.iter().map(|z| z.name.clone()).collect();
        Ok(Self {
            kubelet,
            client,
            layout: Layout {
                zones: zone_names,
                instances,
            },
            spec,
            password,
            operator_pid,
            hold_until_not_ready,
            not_ready_after: Mutex::new(None),
            taken_down_at: Mutex::new(None),
        })
    }

    async fn zone_not_ready(&self, zone: &str) -> Result<bool> {
        let nodes = Api::<Node>::all(self.client.clone())
            .list(&ListParams::default().labels(&format!("{ZONE_LABEL}={zone}")))
            .await
            .map_err(Error::kube("listing nodes"))?;
        Ok(!nodes.items.is_empty()
            && nodes.items.iter().all(|n| {
                n.status
                    .as_ref()
                    .and_then(|s| s.conditions.as_ref())
                    .is_some_and(|cs| cs.iter().any(|c| c.type_ == "Ready" && c.status != "True"))
            }))
    }
}

impl Faults for KubeFaults<'_> {
    type Error = Error;

    fn layout(&self) -> Result<Layout> {
        Ok(self.layout.clone())
    }

    fn spec(&self) -> Result<RedisStretchClusterSpec> {
        Ok(self.spec.clone())
    }

    fn password(&self) -> Result<Option<Secret>> {
        Ok(self.password.clone())
    }

    fn take_down(&self, zone: &str, fault: ZoneFault) -> Result<Vec<String>> {
        if fault != ZoneFault::Stop {
            return Err(Error::Invalid(
                "on Kubernetes a DC goes offline frozen (stop); a crash is a pod restart".into(),
            ));
        }
        if let Ok(mut t) = self.taken_down_at.lock() {
            *t = Some(Instant::now());
        }
        let n = self.kubelet.zone_offline(zone);
        Ok(vec![format!(
            "{zone}: {n} pods frozen, node heartbeats stopped"
        )])
    }

    fn take_down_instance(&self, name: &str, fault: ZoneFault) -> Result<Vec<String>> {
        if fault != ZoneFault::Stop {
            return Err(Error::Invalid(
                "on Kubernetes an instance goes down frozen (stop); a crash is a pod restart"
                    .into(),
            ));
        }
        let n = self.kubelet.freeze_pod(name);
        Ok(vec![format!(
            "{name}: {n} processes frozen, its node still heartbeating"
        )])
    }

    async fn bring_back(&self, zone: &str, new_addresses: bool) -> Result<Vec<String>> {
        if new_addresses {
            return Err(Error::Invalid(
                "bringing a DC back on new addresses is not supported by the test kubelet yet"
                    .into(),
            ));
        }
        let mut said = Vec::new();
        if self.hold_until_not_ready {
            let start = self
                .taken_down_at
                .lock()
                .ok()
                .and_then(|t| *t)
                .unwrap_or_else(Instant::now);
            // node-monitor-grace-period is 50 s by default; allow for the monitor period and a
            // busy machine.
            while start.elapsed() < Duration::from_secs(120) {
                if self.zone_not_ready(zone).await.unwrap_or(false) {
                    let secs = start.elapsed().as_secs_f64();
                    if let Ok(mut n) = self.not_ready_after.lock() {
                        *n = Some(secs);
                    }
                    said.push(format!(
                        "{zone}: nodes NotReady in the API {secs:.1}s after going dark"
                    ));
                    break;
                }
                tokio::time::sleep(Duration::from_millis(250)).await;
            }
        }
        let n = self.kubelet.zone_online(zone);
        said.push(format!("{zone}: {n} pods thawed, heartbeats resumed"));
        Ok(said)
    }

    fn engine_live(&self) -> Option<u32> {
        Some(self.operator_pid)
    }

    fn engine_status(&self) -> Option<EngineStatus> {
        // The operator publishes conditions, not the local engine's status file; the drill
        // waits its fixed settling time instead.
        None
    }

    fn start_engine(&self) -> EngineStop {
        // Never called: `engine_live` names the operator.
        EngineStop::channel().0
    }
}
