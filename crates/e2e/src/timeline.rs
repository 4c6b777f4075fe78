//! What the API showed during a drill: every change of a cluster's conditions and of the
//! nodes' readiness and taints, with the time since the start, polled every 200 ms.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::Node;
use kube::api::ListParams;
use kube::{Api, Client};
use serde_json::Value;

use crate::api::clusters;

/// Polls until dropped.
pub struct Timeline {
    seen: Arc<Mutex<Vec<(f64, String)>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Timeline {
    pub fn start(client: Client, ns: &str, cluster: &str, start: Instant) -> Self {
        let (ns, cluster) = (ns.to_owned(), cluster.to_owned());
        let seen = Arc::new(Mutex::new(Vec::new()));
        let out = Arc::clone(&seen);
        let task = tokio::spawn(async move {
            let mut last: Vec<String> = Vec::new();
            loop {
                let mut now: Vec<String> = Vec::new();
                if let Ok(obj) = clusters(&client, &ns).get(&cluster).await {
                    for c in obj
                        .data
                        .pointer("/status/conditions")
                        .and_then(Value::as_array)
                        .into_iter()
                        .flatten()
                    {
                        now.push(format!(
                            "condition {}={} ({})",
                            c["type"].as_str().unwrap_or_default(),
                            c["status"].as_str().unwrap_or_default(),
                            c["reason"].as_str().unwrap_or_default()
                        ));
                    }
                }
                let nodes: Api<Node> = Api::all(client.clone());
                if let Ok(list) = nodes.list(&ListParams::default()).await {
                    for n in list.items {
                        let ready = n
                            .status
                            .and_then(|s| s.conditions)
                            .unwrap_or_default()
                            .into_iter()
                            .find(|c| c.type_ == "Ready")
                            .map(|c| c.status)
                            .unwrap_or_default();
                        let taints: Vec<String> = n
                            .spec
                            .and_then(|s| s.taints)
                            .unwrap_or_default()
                            .into_iter()
                            .map(|t| format!("{}:{}", t.key, t.effect))
                            .collect();
                        now.push(format!(
                            "node {} Ready={ready} taints={taints:?}",
                            n.metadata.name.unwrap_or_default()
                        ));
                    }
                }
                let t = start.elapsed().as_secs_f64();
                if let Ok(mut s) = out.lock() {
                    for line in &now {
                        if !last.contains(line) {
                            s.push((t, line.clone()));
                        }
                    }
                }
                last = now;
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        });
        Self { seen, task }
    }

    /// (seconds since start, what changed), in order.
    pub fn lines(&self) -> Vec<(f64, String)> {
        self.seen.lock().map(|s| s.clone()).unwrap_or_default()
    }
}

impl Drop for Timeline {
    fn drop(&mut self) {
        self.task.abort();
    }
}
