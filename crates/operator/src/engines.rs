//! One engine per `RedisStretchCluster`, each in its own task, running only on the leader.
//!
//! The reconciler is event-driven (a spec change, a pod change), but a data center going dark
//! sends Kubernetes nothing for 50 s (node-monitor-grace-period in v1.37): the engine must look for
//! itself, every 100 ms, straight at Redis. So each cluster gets a long-lived task that forms the
//! cluster once (bootstrap) and then runs observe → decide → act passes, and the reconciler only
//! reads what it reports (status, role labels) and keeps it running with the current spec.
//!
//! The engine never waits on the API server: in a DC loss the API server (its etcd quorum) may
//! be gone too. Events go through a channel to a publisher task; reconcile triggers are sent
//! without waiting.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use kube::runtime::events::{Event as KubeEvent, EventType, Recorder};
use kube::runtime::reflector::ObjectRef;
use kube::Resource;
use redis_stretch_admin::{Secret, Tls};
use redis_stretch_api::{RedisStretchCluster, ValidatedCluster};
use redis_stretch_engine::formation::Formation;
use redis_stretch_engine::{
    Engine, EngineConfig, EngineEvent, EngineStatus, Memory, Pass, Reporter, Snapshot, Waiting,
    ZoneStates,
};
use tokio::sync::{mpsc, watch};

use crate::metrics::{ActionLabels, ClusterLabels, Metrics, ZoneLabels};
use crate::platform::KubePlatform;

/// What the engine of one cluster last saw and did; the reconciler turns it into status.
#[derive(Clone, Debug, Default)]
pub struct EngineReport {
    /// The cluster has been formed (some node serves slots): from now on only the engine
    /// changes it, never a bootstrap.
    pub formed: bool,
    /// What the engine is doing, in words, while it is not running passes yet (waiting for
    /// pods, bootstrapping, a failed bootstrap).
    pub forming: Option<String>,
    pub snapshot: Option<Snapshot>,
    pub zones: ZoneStates,
    pub status: Option<EngineStatus>,
    /// The engine's memory, for the status (a new leader's engine starts from it).
    pub memory: Option<Memory>,
}

/// Identifies a cluster: namespace and name.
pub type Key = (String, String);

struct Running {
    /// The spec and password the task runs with: a change restarts it.
    fingerprint: String,
    /// The passwords it runs with (current, previous), for the rotation step of the next
    /// reconcile: what the instances may still require when the Secret changes.
    passwords: (Option<Secret>, Option<Secret>),
    /// The TLS Secret's content digest it runs with: a change makes the next engine reload.
    tls_files: Option<u64>,
    stop: watch::Sender<bool>,
    handle: tokio::task::JoinHandle<()>,
    report: Arc<RwLock<EngineReport>>,
    held_zone: Arc<RwLock<Option<String>>>,
    memory: Arc<RwLock<Option<Memory>>>,
}

/// How long stopping waits for an engine task to finish its pass: a pass is bounded (probe
/// timeouts, action waits of 1 s); a stuck one is aborted.
const STOP_WAIT: Duration = Duration::from_secs(5);

async fn stop_task(r: Running) {
    let _ = r.stop.send(true);
    let mut handle = r.handle;
    if tokio::time::timeout(STOP_WAIT, &mut handle).await.is_err() {
        handle.abort();
    }
}

/// What every engine task shares.
#[derive(Clone)]
pub struct EngineDeps {
    pub pods: kube::runtime::reflector::Store<k8s_openapi::api::core::v1::Pod>,
    pub nodes: kube::runtime::reflector::Store<k8s_openapi::api::core::v1::Node>,
    pub recorder: Option<Recorder>,
    pub metrics: Arc<Metrics>,
    /// Asks the controller to reconcile a cluster (status and labels follow the engine).
    pub trigger: mpsc::UnboundedSender<ObjectRef<RedisStretchCluster>>,
    /// The Lease: engines act only while it is ours.
    pub leadership: crate::lease::Leadership,
    /// The clusters' StatefulSets: which pods a rollout must restart.
    pub stateful_sets: kube::runtime::reflector::Store<k8s_openapi::api::apps::v1::StatefulSet>,
    /// Deletes pods for a rollout's restarts (`None` in unit tests: restarts fail).
    pub client: Option<kube::Client>,
}

pub struct Engines {
    deps: EngineDeps,
    running: Mutex<HashMap<Key, Running>>,
    /// Set when the term ends: a reconcile still under way must not start a new engine.
    closed: std::sync::atomic::AtomicBool,
    starts: std::sync::atomic::AtomicU64,
}

/// How the reconciler asks for an engine.
pub struct EngineSpec<'a> {
    pub cr: &'a RedisStretchCluster,
    pub cluster: &'a ValidatedCluster,
    pub password: Option<Secret>,
    /// During a password rotation, the password `password` replaces (`reconcile/rotation.rs`).
    pub previous_password: Option<Secret>,
    /// The CA to trust when the cluster runs TLS.
    pub tls: Option<Tls>,
    /// A digest of the TLS Secret's certificate and key: when it changes under a running
    /// engine, the next one has every instance re-read its files.
    pub tls_files: Option<u64>,
    pub zone_label: String,
    pub held_zone: Option<String>,
    /// The engine memory the custom resource's status holds (a previous leader's).
    pub memory: Option<Memory>,
}

impl Engines {
    pub fn new(deps: EngineDeps) -> Self {
        Self {
            deps,
            running: Mutex::new(HashMap::new()),
            closed: std::sync::atomic::AtomicBool::new(false),
            starts: std::sync::atomic::AtomicU64::new(0),
        }
    }

    /// Engine tasks started so far (restarts included).
    pub fn starts(&self) -> u64 {
        self.starts.load(std::sync::atomic::Ordering::SeqCst)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<Key, Running>> {
        self.running
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Start the engine of a cluster, or restart it when its spec or password changed (the old
    /// task has finished before the new one starts: never two engines on one cluster); returns
    /// its latest report.
    pub async fn ensure(&self, want: EngineSpec<'_>) -> EngineReport {
        let key: Key = (
            want.cluster.namespace().unwrap_or("default").to_owned(),
            want.cluster.name().to_owned(),
        );
        let fingerprint = format!(
            "{:?}|{}|{}|{}|{:?}",
            want.cluster.spec(),
            password_digest(want.password.as_ref()),
            password_digest(want.previous_password.as_ref()),
            hash_of(want.tls.as_ref().map(Tls::ca_pem)),
            want.tls_files,
        );
        let old = {
            let mut running = self.lock();
            if let Some(r) = running.get(&key) {
                *r.held_zone
                    .write()
                    .unwrap_or_else(std::sync::PoisonError::into_inner) = want.held_zone.clone();
                if r.fingerprint == fingerprint {
                    return read(&r.report);
                }
            }
            running.remove(&key)
        };
        // Renewed certificate files under a running engine: the next one reloads them.
        let reload_tls = old
            .as_ref()
            .is_some_and(|o| o.tls_files.is_some() && o.tls_files != want.tls_files);
        // The freshest memory: the engine this one replaces, else the status.
        let mut memory = want.memory;
        if let Some(old) = old {
            let m = old
                .memory
                .read()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .clone();
            stop_task(old).await;
            memory = m.or(memory);
        }
        let memory = Arc::new(RwLock::new(memory));
        if self.closed.load(std::sync::atomic::Ordering::SeqCst) {
            return EngineReport::default();
        }
        let report = Arc::new(RwLock::new(EngineReport::default()));
        let held_zone = Arc::new(RwLock::new(want.held_zone));
        let (stop, stop_rx) = watch::channel(false);
        // What the spec needs of each StatefulSet: pods beyond it are leaving. A spec that
        // does not render fails the reconcile's build step too, with the reason; meanwhile no
        // pod is taken for leaving.
        let replicas_needed = redis_stretch_k8s::render::replicas_needed(want.cluster)
            .unwrap_or_else(|e| {
                tracing::warn!(namespace = %key.0, cluster = %key.1, "no StatefulSet sizes: {e}");
                Default::default()
            });
        let platform = KubePlatform {
            replicas_needed,
            pods: self.deps.pods.clone(),
            nodes: self.deps.nodes.clone(),
            namespace: key.0.clone(),
            name: key.1.clone(),
            zone_label: want.zone_label,
            held_zone: Arc::clone(&held_zone),
            leadership: self.deps.leadership.clone(),
            memory: Arc::clone(&memory),
            stateful_sets: self.deps.stateful_sets.clone(),
            client: self.deps.client.clone(),
            tls_domain: want.tls.as_ref().map(|_| {
                format!(
                    "{}.{}.svc",
                    redis_stretch_k8s::names::Names::new(want.cluster).headless_service(),
                    key.0
                )
            }),
        };
        let mut reference = want.cr.object_ref(&());
        // Events about the object, not one version of it: the recorder folds repeats by this.
        reference.resource_version = None;
        let passwords = (want.password.clone(), want.previous_password.clone());
        let task = ClusterTask {
            cluster: want.cluster.clone(),
            password: want.password,
            previous_password: want.previous_password,
            reload_tls,
            tls: want.tls,
            platform,
            object: ObjectRef::from_obj(want.cr),
            reference,
            deps: self.deps.clone(),
            report: Arc::clone(&report),
            stop: stop_rx,
        };
        let handle = tokio::spawn(task.run());
        self.starts
            .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        tracing::info!(namespace = %key.0, cluster = %key.1, "engine started");
        let out = read(&report);
        self.lock().insert(
            key,
            Running {
                fingerprint,
                passwords,
                tls_files: want.tls_files,
                stop,
                handle,
                report,
                held_zone,
                memory,
            },
        );
        out
    }

    pub fn report(&self, namespace: &str, name: &str) -> Option<EngineReport> {
        self.lock()
            .get(&(namespace.to_owned(), name.to_owned()))
            .map(|r| read(&r.report))
    }

    /// Stop one cluster's engine and wait for it.
    pub async fn stop(&self, namespace: &str, name: &str) {
        let r = self.lock().remove(&(namespace.to_owned(), name.to_owned()));
        if let Some(r) = r {
            stop_task(r).await;
            tracing::info!(%namespace, cluster = %name, "engine stopped");
        }
    }

    /// Leadership lost, or shutdown: no engine may act any more, and none may start. Returns
    /// once every task has finished (or was aborted).
    pub async fn stop_all(&self) {
        self.closed.store(true, std::sync::atomic::Ordering::SeqCst);
        let all: Vec<Running> = self.lock().drain().map(|(_, r)| r).collect();
        futures_util::future::join_all(all.into_iter().map(stop_task)).await;
    }

    /// The passwords (current, previous) the running engine of a cluster uses.
    pub fn passwords(
        &self,
        namespace: &str,
        name: &str,
    ) -> Option<(Option<Secret>, Option<Secret>)> {
        self.lock()
            .get(&(namespace.to_owned(), name.to_owned()))
            .map(|r| r.passwords.clone())
    }

    pub fn is_running(&self, namespace: &str, name: &str) -> bool {
        self.lock()
            .contains_key(&(namespace.to_owned(), name.to_owned()))
    }
}

fn read(report: &RwLock<EngineReport>) -> EngineReport {
    report
        .read()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .clone()
}

/// A change of password must restart the engine, but the fingerprint must not hold the
/// password itself: a non-cryptographic digest is enough to tell two passwords apart here.
fn password_digest(p: Option<&Secret>) -> u64 {
    hash_of(p.map(Secret::expose))
}

fn hash_of(v: Option<impl std::hash::Hash>) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    v.hash(&mut h);
    h.finish()
}

struct ClusterTask {
    cluster: ValidatedCluster,
    password: Option<Secret>,
    previous_password: Option<Secret>,
    reload_tls: bool,
    tls: Option<Tls>,
    platform: KubePlatform,
    object: ObjectRef<RedisStretchCluster>,
    reference: k8s_openapi::api::core::v1::ObjectReference,
    deps: EngineDeps,
    report: Arc<RwLock<EngineReport>>,
    stop: watch::Receiver<bool>,
}

impl ClusterTask {
    /// The engine's own loop (forming the cluster first), reporting into `report`, metrics
    /// and Kubernetes Events.
    async fn run(self) {
        let spec = self.cluster.spec().clone();
        let cfg = EngineConfig::for_spec(&spec);
        let mut engine = Engine::new(&spec, self.password.clone(), cfg)
            .with_previous_password(self.previous_password.clone())
            .with_tls(self.tls.clone())
            .forming(self.cluster.clone());
        if self.reload_tls {
            engine = engine.reloading_tls();
        }
        let (events_tx, events_rx) = mpsc::unbounded_channel();
        let publisher = tokio::spawn(publish(
            self.deps.recorder.clone(),
            self.reference.clone(),
            events_rx,
        ));
        let namespace = self.cluster.namespace().unwrap_or("default").to_owned();
        let name = self.cluster.name().to_owned();
        let zones: Vec<String> = spec.zones.iter().map(|z| z.name.clone()).collect();
        let metrics = Arc::clone(&self.deps.metrics);
        let reporter = TaskReporter {
            beat: self.deps.metrics.health.engine_started(&namespace, &name),
            namespace: namespace.clone(),
            name: name.clone(),
            object: self.object.clone(),
            deps: self.deps.clone(),
            report: Arc::clone(&self.report),
            memory: Arc::clone(&self.platform.memory),
            events: events_tx,
            last_digest: Mutex::new(String::new()),
        };
        let mut stop = self.stop.clone();
        let stopped = async move {
            while !*stop.borrow() {
                if stop.changed().await.is_err() {
                    return;
                }
            }
        };
        // The series go with the engine, however the task ends (an abort drops this future).
        let _forget = ForgetCluster {
            metrics,
            namespace,
            name,
            zones,
        };
        engine.run(&self.platform, &reporter, stopped).await;
        publisher.abort();
    }
}

/// Drops a cluster's metric series when its engine task ends.
struct ForgetCluster {
    metrics: Arc<Metrics>,
    namespace: String,
    name: String,
    zones: Vec<String>,
}

impl Drop for ForgetCluster {
    fn drop(&mut self) {
        self.metrics
            .forget_cluster(&self.namespace, &self.name, &self.zones);
    }
}

/// The operator's side of the engine's reports: the status the reconciler publishes, metrics,
/// Events through a channel (never waiting on the API server), and a reconcile when anything
/// the status shows has changed.
struct TaskReporter {
    /// `/healthz`: one beat per loop iteration (every iteration reports a status or a
    /// formation step).
    beat: crate::health::EngineBeat,
    namespace: String,
    name: String,
    object: ObjectRef<RedisStretchCluster>,
    deps: EngineDeps,
    report: Arc<RwLock<EngineReport>>,
    memory: Arc<RwLock<Option<Memory>>>,
    events: mpsc::UnboundedSender<EngineEvent>,
    last_digest: Mutex<String>,
}

impl TaskReporter {
    fn labels(&self) -> ClusterLabels {
        ClusterLabels {
            namespace: self.namespace.clone(),
            cluster: self.name.clone(),
        }
    }

    /// The loop went round: `/healthz` and the heartbeat metric.
    fn beat(&self) {
        self.beat.beat();
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX));
        self.deps
            .metrics
            .engine_heartbeat
            .get_or_create(&self.labels())
            .set(now);
    }

    fn write(&self, f: impl FnOnce(&mut EngineReport)) {
        {
            let mut r = self
                .report
                .write()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            f(&mut r);
            r.memory = self
                .memory
                .read()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .clone();
        }
        let digest = digest(&read(&self.report));
        let mut last = self
            .last_digest
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if *last != digest {
            *last = digest;
            let _ = self.deps.trigger.send(self.object.clone());
        }
    }
}

impl Reporter for TaskReporter {
    fn events(&self, events: &[EngineEvent]) {
        for e in events {
            self.deps
                .metrics
                .engine_actions
                .get_or_create(&ActionLabels {
                    namespace: self.namespace.clone(),
                    cluster: self.name.clone(),
                    action: e.kind.clone(),
                    ok: e.ok.to_string(),
                })
                .inc();
            let _ = self.events.send(e.clone());
        }
    }

    fn status(&self, status: &EngineStatus, pass: &Pass) {
        let m = &self.deps.metrics;
        for z in pass.zones.iter() {
            m.zone_dark
                .get_or_create(&ZoneLabels {
                    namespace: self.namespace.clone(),
                    cluster: self.name.clone(),
                    zone: z.zone.clone(),
                })
                .set(i64::from(z.state.is_dark()));
        }
        m.slots_served
            .get_or_create(&ClusterLabels {
                namespace: self.namespace.clone(),
                cluster: self.name.clone(),
            })
            .set(i64::try_from(pass.snapshot.slots_covered()).unwrap_or(i64::MAX));
        let snap = &pass.snapshot;
        let fenced: Vec<_> = snap
            .masters()
            .into_iter()
            .filter(|m| m.reachable && m.fence.is_some_and(|f| f > 0))
            .collect();
        let blocked = fenced
            .iter()
            .filter(|m| {
                let live = m.id.as_deref().map_or(0, |id| {
                    snap.replicas_of(id)
                        .filter(|r| r.reachable && r.link_up == Some(true))
                        .count()
                });
                u32::try_from(live).unwrap_or(u32::MAX) < m.fence.unwrap_or(0)
            })
            .count();
        let labels = ClusterLabels {
            namespace: self.namespace.clone(),
            cluster: self.name.clone(),
        };
        m.fenced_masters
            .get_or_create(&labels)
            .set(i64::try_from(fenced.len()).unwrap_or(i64::MAX));
        m.write_blocked_masters
            .get_or_create(&labels)
            .set(i64::try_from(blocked).unwrap_or(i64::MAX));
        m.partition
            .get_or_create(&labels)
            .set(i64::from(status.partition.is_some()));
        m.engine_waiting_for_human
            .get_or_create(&labels)
            .set(i64::from(matches!(
                status.waiting_for,
                Some(Waiting::Human { .. })
            )));
        m.rollout_in_progress
            .get_or_create(&labels)
            .set(i64::from(status.rollout.is_some()));
        match status.rollout.as_ref().and_then(|r| r.restarting.as_ref()) {
            Some(r) => {
                m.rollout_restart_started
                    .get_or_create(&labels)
                    .set(i64::try_from(r.since_ms / 1000).unwrap_or(i64::MAX));
            }
            None => {
                m.rollout_restart_started.remove(&labels);
            }
        }
        self.beat();
        self.write(|r| {
            r.formed = true;
            r.forming = None;
            r.snapshot = Some(pass.snapshot.clone());
            r.zones = pass.zones.clone();
            r.status = Some(status.clone());
        });
    }

    fn forming(&self, state: &Formation) {
        self.beat();
        self.write(|r| match state {
            Formation::Formed | Formation::Bootstrapped { .. } => {
                r.formed = true;
                r.forming = None;
            }
            Formation::Waiting(why) => r.forming = Some(why.clone()),
            Formation::Failed(why) => {
                r.forming = Some(format!("bootstrap failed, retrying: {why}"));
            }
        });
    }
}

/// What the status shows, reduced to what should trigger a status update when it changes
/// (not the heartbeat, not how long a zone has been silent).
fn digest(r: &EngineReport) -> String {
    let zones: Vec<String> = r
        .zones
        .iter()
        .map(|z| format!("{}={}", z.zone, z.state.name()))
        .collect();
    let nodes: Vec<String> = r
        .snapshot
        .iter()
        .flat_map(|s| &s.nodes)
        .map(|n| {
            // A rotation finished (or begun) on an instance: the reconcile drops or keeps the
            // previous password. A live setting changed on it: `ConfigApplied` says so.
            format!(
                "{:?}:{}:{:?}:{:?}:{}:{:?}:{:?}",
                n.name,
                n.reachable,
                n.role,
                n.link_up,
                n.slots.len(),
                n.auth
                    .as_ref()
                    .map(redis_stretch_engine::decide::AuthSeen::settled),
                n.live_config
            )
        })
        .collect();
    let (waiting, actions) = r.status.as_ref().map_or((None, 0), |s| {
        (
            s.waiting_for.as_ref().map(without_countdown),
            s.last_actions.len(),
        )
    });
    // The memory changes rarely (a loss, a return, a failover asked): each change is saved.
    format!(
        "{}|{:?}|{zones:?}|{nodes:?}|{waiting:?}|{actions}|{:?}",
        r.formed, r.forming, r.memory
    )
}

/// A countdown (hold-down left, seconds silent) changes every pass; the status need not.
fn without_countdown(w: &Waiting) -> Waiting {
    let mut w = w.clone();
    match &mut w {
        Waiting::HoldDown { left_ms, .. } => *left_ms = 0,
        Waiting::FailoverPending { retry_in_ms, .. } => *retry_in_ms = 0,
        Waiting::Confirming { silent_ms, .. } => *silent_ms = 0,
        _ => {}
    }
    w
}

/// Publish engine events as Kubernetes Events on the cluster's object, off the engine's path.
async fn publish(
    recorder: Option<Recorder>,
    reference: k8s_openapi::api::core::v1::ObjectReference,
    mut rx: mpsc::UnboundedReceiver<EngineEvent>,
) {
    while let Some(e) = rx.recv().await {
        tracing::info!(
            action = %e.kind,
            ok = e.ok,
            "{}: {} ({})",
            e.summary,
            e.why,
            e.detail
        );
        let Some(recorder) = &recorder else { continue };
        let event = KubeEvent {
            type_: if e.ok {
                EventType::Normal
            } else {
                EventType::Warning
            },
            reason: crate::reason::engine_action(&e.kind, e.ok),
            note: Some(truncate(
                &format!("{} — {} ({})", e.summary, e.why, e.detail),
                1000,
            )),
            // The recorder folds events with the same reason and action into one series (keeping
            // the first note), so the action names the target: two takeovers of different
            // shards stay two events.
            action: truncate(&e.summary, 120),
            secondary: None,
        };
        match tokio::time::timeout(Duration::from_secs(5), recorder.publish(&event, &reference))
            .await
        {
            Ok(Ok(())) => {}
            Ok(Err(err)) => tracing::warn!("cannot publish event: {err}"),
            Err(_) => tracing::warn!("publishing an event timed out (API server unreachable?)"),
        }
    }
}

/// At most `max` bytes (Kubernetes limits Event fields in bytes), on a char boundary.
pub(crate) fn truncate(s: &str, max: usize) -> String {
    if s.len() <= max {
        return s.to_owned();
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &s[..end])
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
    use super::*;

    #[test]
    fn truncation_keeps_char_boundaries() {
        assert_eq!(truncate("abc", 5), "abc");
        assert_eq!(truncate("ééé", 3), "é…");
    }
}
