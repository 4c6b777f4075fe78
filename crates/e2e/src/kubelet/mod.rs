//! A test kubelet: what a real kubelet does for the API server, for the seed's six nodes, with
//! pods run as plain processes on loopback addresses instead of containers.
//!
//! - `node`: registers each node (labels, capacity, addresses), posts `Ready` and renews its
//!   Lease in `kube-node-lease` every 10 s like a kubelet, so the real node lifecycle
//!   controller sees heartbeats, and their absence.
//! - `pod`: every pod bound to one of its nodes runs as real processes (the container's command
//!   and args, its env, its ConfigMap/Secret/emptyDir volumes materialised in a directory) on a
//!   loopback address of its own (the pod IP); the readiness probe runs, exited containers
//!   restart as `restartPolicy` says (a pod whose containers all exited for good is
//!   `Succeeded` or `Failed`), and the pod status (IP, phase, conditions, container statuses
//!   with restarts) is patched like a kubelet does.
//!   Deleting a pod runs its preStop hook, SIGTERM, the grace period, SIGKILL, then the final
//!   delete.
//! - `volumes`: materialising volumes and mapping container paths to them.
//!
//! Where a process differs from a container (`volumes::Rewrite`): paths under a volume mount
//! are rewritten to the volume's directory, and since all pods share the host's network
//! namespace, an address that means "this pod" in a container (`127.0.0.1` in a probe or hook,
//! `bind *` in a config file) is rewritten to the pod IP.
//!
//! A data center going offline (`zone_offline`): its pods' processes are frozen (SIGSTOP) and
//! its nodes stop heartbeating and stop acting on their pods — the API server hears nothing
//! from them, as from a dark DC.

mod node;
mod pod;
mod volumes;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::StreamExt;
use k8s_openapi::api::core::v1::{Pod, Taint};
use kube::runtime::reflector::{self, Store};
use kube::runtime::{watcher, WatchStreamExt};
use kube::{Api, Client, ResourceExt};
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::error::{Error, Result};

/// A node this kubelet runs.
#[derive(Clone, Debug)]
pub struct NodeSpec {
    pub name: String,
    pub zone: String,
    /// Labels beyond the zone, hostname, os and arch ones.
    pub labels: BTreeMap<String, String>,
    /// Taints in the Node's spec from registration on (a dedicated node pool), as
    /// `--register-with-taints` gives a real kubelet.
    pub taints: Vec<Taint>,
}

impl NodeSpec {
    /// The same node with `labels` added and `taints` set.
    pub fn dedicated(mut self, labels: &[(&str, &str)], taints: Vec<Taint>) -> Self {
        self.labels.extend(
            labels
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned())),
        );
        self.taints = taints;
        self
    }
}

/// A taint `key=value:effect`.
pub fn taint(key: &str, value: &str, effect: &str) -> Taint {
    Taint {
        key: key.to_owned(),
        value: Some(value.to_owned()),
        effect: effect.to_owned(),
        ..Default::default()
    }
}

/// The seed's six nodes (../shared/seed/cross-dc-redis-ha.md): `az1`/`az2` labels as in the
/// recipe, and the data centers of the issue: dc-a holds 01, 02, 03 and dc-b 04, 05, 06 — so
/// the recipe's leaders (01, 02, 06) are two in dc-a and one in dc-b.
pub fn seed_nodes(zone_label: &str) -> Vec<NodeSpec> {
    let seed = [
        ("k8s-node-01", "dc-a", "az1", "node01"),
        ("k8s-node-02", "dc-a", "az1", "node02"),
        ("k8s-node-03", "dc-a", "az2", "node03"),
        ("k8s-node-04", "dc-b", "az2", "node01"),
        ("k8s-node-05", "dc-b", "az2", "node02"),
        ("k8s-node-06", "dc-b", "az1", "node03"),
    ];
    seed.iter()
        .map(|(name, zone, key, value)| NodeSpec {
            name: (*name).to_owned(),
            zone: (*zone).to_owned(),
            labels: BTreeMap::from([
                ((*key).to_owned(), (*value).to_owned()),
                (zone_label.to_owned(), (*zone).to_owned()),
            ]),
            taints: Vec::new(),
        })
        .collect()
}

/// The seed's six nodes and six more for a cluster scaled to six shards (twelve Redis pods, one
/// per node): in each data center three more, with `az1`/`az2` values the recipe's
/// anti-affinity has not used yet (`node04`..`node06`), so that the new leaders and followers
/// fit beside the old ones.
pub fn scale_nodes(zone_label: &str) -> Vec<NodeSpec> {
    let more = [
        ("k8s-node-07", "dc-a", "az1", "node04"),
        ("k8s-node-08", "dc-b", "az1", "node05"),
        ("k8s-node-09", "dc-b", "az1", "node06"),
        ("k8s-node-10", "dc-a", "az2", "node04"),
        ("k8s-node-11", "dc-a", "az2", "node05"),
        ("k8s-node-12", "dc-b", "az2", "node06"),
    ];
    let mut nodes = seed_nodes(zone_label);
    nodes.extend(more.iter().map(|(name, zone, key, value)| NodeSpec {
        name: (*name).to_owned(),
        zone: (*zone).to_owned(),
        labels: BTreeMap::from([
            ((*key).to_owned(), (*value).to_owned()),
            (zone_label.to_owned(), (*zone).to_owned()),
        ]),
        taints: Vec::new(),
    }));
    nodes
}

/// A running pod's processes: (node, pod name, pids).
type PodProcesses = (String, String, Vec<u32>);

/// What the node heartbeats, the pod workers and the guard share.
pub(crate) struct Shared {
    pub client: Client,
    pub nodes: Vec<NodeSpec>,
    /// Nodes whose data center is offline: no heartbeats, no pod actions.
    offline: Mutex<HashSet<String>>,
    /// Running processes by pod uid, to freeze a zone or a pod and to kill on drop.
    pids: Mutex<HashMap<String, PodProcesses>>,
    /// Pod IPs in use: 127.0.<subnet>.<n>.
    ips: Mutex<HashSet<u8>>,
    pub subnet: u8,
    pub root: PathBuf,
}

impl Shared {
    pub fn is_offline(&self, node: &str) -> bool {
        self.offline
            .lock()
            .map(|o| o.contains(node))
            .unwrap_or(false)
    }

    pub fn node(&self, name: &str) -> Option<&NodeSpec> {
        self.nodes.iter().find(|n| n.name == name)
    }

    /// The address of node number `i` (1-based): what its pods report as `hostIP`.
    pub fn node_ip(&self, name: &str) -> String {
        let i = self.nodes.iter().position(|n| n.name == name).unwrap_or(0) + 1;
        format!("127.0.{}.{}", self.subnet, 200 + i)
    }

    pub fn record_pids(&self, uid: &str, node: &str, pod: &str, pids: Vec<u32>) {
        if let Ok(mut m) = self.pids.lock() {
            if pids.is_empty() {
                m.remove(uid);
            } else {
                m.insert(uid.to_owned(), (node.to_owned(), pod.to_owned(), pids));
            }
        }
    }

    /// A free pod IP: one no other pod of ours has, and that nothing on this host listens on.
    pub fn allocate_ip(&self, ports: &[u16]) -> Option<String> {
        let mut used = self.ips.lock().ok()?;
        for n in 1..=199u8 {
            if used.contains(&n) {
                continue;
            }
            let ip = format!("127.0.{}.{n}", self.subnet);
            if ports
                .iter()
                .all(|p| std::net::TcpListener::bind((ip.as_str(), *p)).is_ok())
            {
                used.insert(n);
                return Some(ip);
            }
        }
        None
    }

    pub fn release_ip(&self, ip: &str) {
        if let Some(n) = ip.rsplit('.').next().and_then(|n| n.parse::<u8>().ok()) {
            if let Ok(mut used) = self.ips.lock() {
                used.remove(&n);
            }
        }
    }

    fn signal_pod(&self, pod: &str, signal: Signal) -> usize {
        let Ok(m) = self.pids.lock() else { return 0 };
        m.values()
            .filter(|(_, name, _)| name == pod)
            .flat_map(|(_, _, pids)| pids)
            .filter(|pid| kill(Pid::from_raw(**pid as i32), signal).is_ok())
            .count()
    }

    fn signal_node_pods(&self, nodes: &HashSet<String>, signal: Signal) -> usize {
        let Ok(m) = self.pids.lock() else { return 0 };
        let mut n = 0;
        for (node, _, pids) in m.values() {
            if nodes.contains(node) {
                for pid in pids {
                    if kill(Pid::from_raw(*pid as i32), signal).is_ok() {
                        n += 1;
                    }
                }
            }
        }
        n
    }
}

pub struct Kubelet {
    shared: Arc<Shared>,
    tasks: Vec<JoinHandle<()>>,
    _dir: tempfile::TempDir,
}

/// A /24 of loopback for this kubelet's pods, free on port 6379 for its first addresses, so
/// that test runs side by side never share an address (local mode uses 127.0.1-2.x, other
/// integration tests 127.100-199.x.x).
fn pick_subnet() -> Result<u8> {
    for subnet in 10..=99u8 {
        let free = (1..=8u8).all(|n| {
            std::net::TcpListener::bind((format!("127.0.{subnet}.{n}").as_str(), 6379)).is_ok()
        });
        if free {
            // Reserve it against other test binaries starting now: a lock file per subnet.
            let lock = std::env::temp_dir().join(format!("redis-stretch-e2e-subnet-{subnet}.lock"));
            match std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(&lock)
            {
                Ok(_) => return Ok(subnet),
                Err(_) => {
                    // A stale lock from a run that died: reuse it only if its addresses are free
                    // (checked above) and it is older than an hour.
                    let stale = std::fs::metadata(&lock)
                        .and_then(|m| m.modified())
                        .ok()
                        .and_then(|t| t.elapsed().ok())
                        .is_some_and(|age| age > Duration::from_secs(3600));
                    if stale {
                        return Ok(subnet);
                    }
                }
            }
        }
    }
    Err(Error::Invalid("no free 127.0.x.0/24 for pod IPs".into()))
}

impl Kubelet {
    /// Register `nodes` and start running their pods. Pod state lives under `dir`.
    pub async fn start(client: Client, nodes: Vec<NodeSpec>, dir: &Path) -> Result<Self> {
        let subnet = pick_subnet()?;
        let root = tempfile::Builder::new()
            .prefix("kubelet-")
            .tempdir_in(dir)
            .map_err(Error::io(format!(
                "creating a kubelet dir in {}",
                dir.display()
            )))?;
        let shared = Arc::new(Shared {
            client: client.clone(),
            nodes,
            offline: Mutex::new(HashSet::new()),
            pids: Mutex::new(HashMap::new()),
            ips: Mutex::new(HashSet::new()),
            subnet,
            root: root.path().to_owned(),
        });
        let mut tasks = Vec::new();
        for n in &shared.nodes {
            node::register(&shared, n).await?;
            tasks.push(tokio::spawn(node::heartbeat(
                Arc::clone(&shared),
                n.name.clone(),
            )));
        }
        let (store, writer) = reflector::store();
        let stream = reflector::reflector(
            writer,
            watcher(Api::<Pod>::all(client), watcher::Config::default()),
        )
        .default_backoff()
        .applied_objects();
        tasks.push(tokio::spawn(async move {
            futures_util::pin_mut!(stream);
            while let Some(item) = stream.next().await {
                if let Err(e) = item {
                    tracing::warn!("kubelet pod watch: {e}");
                }
            }
        }));
        tasks.push(tokio::spawn(dispatch(Arc::clone(&shared), store)));
        Ok(Self {
            shared,
            tasks,
            _dir: root,
        })
    }

    pub fn subnet(&self) -> u8 {
        self.shared.subnet
    }

    /// Take a data center offline: freeze its pods (SIGSTOP) and stop its nodes' heartbeats
    /// and pod actions. Returns how many processes were frozen.
    pub fn zone_offline(&self, zone: &str) -> usize {
        let nodes = self.zone_nodes(zone);
        if let Ok(mut o) = self.shared.offline.lock() {
            o.extend(nodes.iter().cloned());
        }
        self.shared.signal_node_pods(&nodes, Signal::SIGSTOP)
    }

    /// Bring a data center back: thaw its pods, resume heartbeats (at once) and pod actions.
    pub fn zone_online(&self, zone: &str) -> usize {
        let nodes = self.zone_nodes(zone);
        let n = self.shared.signal_node_pods(&nodes, Signal::SIGCONT);
        if let Ok(mut o) = self.shared.offline.lock() {
            for node in &nodes {
                o.remove(node);
            }
        }
        n
    }

    /// Freeze one pod's processes (SIGSTOP), its node still heartbeating: a hung instance.
    /// Returns how many processes were frozen.
    pub fn freeze_pod(&self, pod: &str) -> usize {
        self.shared.signal_pod(pod, Signal::SIGSTOP)
    }

    /// Thaw a pod `freeze_pod` froze.
    pub fn thaw_pod(&self, pod: &str) -> usize {
        self.shared.signal_pod(pod, Signal::SIGCONT)
    }

    fn zone_nodes(&self, zone: &str) -> HashSet<String> {
        self.shared
            .nodes
            .iter()
            .filter(|n| n.zone == zone)
            .map(|n| n.name.clone())
            .collect()
    }
}

impl Drop for Kubelet {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
        // Every process we started, by recorded PID: thawed first, or SIGKILL would wait for a
        // frozen process to be scheduled... (it does not, but SIGCONT keeps ps tidy).
        if let Ok(mut m) = self.shared.pids.lock() {
            for (_, _, pids) in m.values() {
                for pid in pids {
                    let pid = Pid::from_raw(*pid as i32);
                    let _ = kill(pid, Signal::SIGCONT);
                    let _ = kill(pid, Signal::SIGKILL);
                }
            }
            m.clear();
        }
        let lock = std::env::temp_dir().join(format!(
            "redis-stretch-e2e-subnet-{}.lock",
            self.shared.subnet
        ));
        let _ = std::fs::remove_file(lock);
    }
}

/// Hand every pod bound to one of our nodes to its worker, and each worker the pod's latest
/// state (`None` once it is gone from the API).
async fn dispatch(shared: Arc<Shared>, store: Store<Pod>) {
    let _ = store.wait_until_ready().await;
    let mut workers: HashMap<String, (watch::Sender<Option<Pod>>, JoinHandle<()>)> = HashMap::new();
    // Pods whose worker finished (deleted, or terminal): UIDs are never reused.
    let mut done: HashSet<String> = HashSet::new();
    let mut tick = tokio::time::interval(Duration::from_millis(200));
    loop {
        tick.tick().await;
        let mut seen = HashSet::new();
        for pod in store.state() {
            let Some(node) = pod.spec.as_ref().and_then(|s| s.node_name.clone()) else {
                continue;
            };
            if shared.node(&node).is_none() {
                continue;
            }
            let uid = pod.uid().unwrap_or_default();
            seen.insert(uid.clone());
            if let Some((tx, _)) = workers.get(&uid) {
                tx.send_replace(Some((*pod).clone()));
                continue;
            }
            let terminal = pod
                .status
                .as_ref()
                .and_then(|s| s.phase.as_deref())
                .is_some_and(|p| p == "Succeeded" || p == "Failed");
            if terminal || done.contains(&uid) || shared.is_offline(&node) {
                continue;
            }
            let (tx, rx) = watch::channel(Some((*pod).clone()));
            let task = tokio::spawn(pod::run(Arc::clone(&shared), node, rx));
            workers.insert(uid, (tx, task));
        }
        workers.retain(|uid, (tx, task)| {
            if !seen.contains(uid) {
                tx.send_replace(None);
            }
            if task.is_finished() {
                done.insert(uid.clone());
                return false;
            }
            true
        });
    }
}
