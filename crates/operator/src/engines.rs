//! One engine per `RedisStretchCluster`, each in its own task, running only on the leader.
//!
//! The reconciler is event-driven (a spec change, a pod change), but a data center going dark
//! sends Kubernetes nothing for 40 s (node-monitor-grace-period): the engine must look for
//! itself, every 100 ms, straight at Redis. So each cluster gets a long-lived task that forms the
//! cluster once (bootstrap) and then runs observe → decide → act passes, and the reconciler only
//! reads what it reports (status, role labels) and keeps it running with the current spec.
//!
//! The engine never waits on the API server: in a DC loss the API server (its etcd quorum) may
//! be gone too. Events go through a channel to a publisher task; reconcile triggers are sent
//! without waiting.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use kube::runtime::events::{Event as KubeEvent, EventType, Recorder};
use kube::runtime::reflector::ObjectRef;
use kube::Resource;
use redis_stretch_admin::{Secret, Tls};
use redis_stretch_api::{RedisStretchCluster, ValidatedCluster};
use redis_stretch_engine::decide::Intent;
use redis_stretch_engine::zone::ZoneState;
use redis_stretch_engine::{
    Engine, EngineConfig, EngineStatus, Event, Pass, Platform, Pool, Snapshot,
};
use tokio::sync::{mpsc, watch};

use crate::formation::{form, Formation};
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
    pub zones: Vec<(String, ZoneState)>,
    pub status: Option<EngineStatus>,
}

/// Identifies a cluster: namespace and name.
pub type Key = (String, String);

struct Running {
    /// The spec and password the task runs with: a change restarts it.
    fingerprint: String,
    stop: watch::Sender<bool>,
    handle: tokio::task::JoinHandle<()>,
    report: Arc<RwLock<EngineReport>>,
    held_zone: Arc<RwLock<Option<String>>>,
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
    /// The CA to trust when the cluster runs TLS.
    pub tls: Option<Tls>,
    pub zone_label: String,
    pub held_zone: Option<String>,
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
            "{:?}|{}|{}",
            want.cluster.spec(),
            password_digest(want.password.as_ref()),
            hash_of(want.tls.as_ref().map(Tls::ca_pem)),
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
        if let Some(old) = old {
            stop_task(old).await;
        }
        if self.closed.load(std::sync::atomic::Ordering::SeqCst) {
            return EngineReport::default();
        }
        let report = Arc::new(RwLock::new(EngineReport::default()));
        let held_zone = Arc::new(RwLock::new(want.held_zone));
        let (stop, stop_rx) = watch::channel(false);
        let platform = KubePlatform {
            pods: self.deps.pods.clone(),
            nodes: self.deps.nodes.clone(),
            namespace: key.0.clone(),
            name: key.1.clone(),
            zone_label: want.zone_label,
            held_zone: Arc::clone(&held_zone),
            leadership: self.deps.leadership.clone(),
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
        let task = ClusterTask {
            cluster: want.cluster.clone(),
            password: want.password,
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
                stop,
                handle,
                report,
                held_zone,
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
    tls: Option<Tls>,
    platform: KubePlatform,
    object: ObjectRef<RedisStretchCluster>,
    reference: k8s_openapi::api::core::v1::ObjectReference,
    deps: EngineDeps,
    report: Arc<RwLock<EngineReport>>,
    stop: watch::Receiver<bool>,
}

impl ClusterTask {
    async fn run(mut self) {
        let spec = self.cluster.spec().clone();
        let cfg = EngineConfig::for_spec(&spec);
        let interval = cfg.interval;
        let pool = Pool::new(self.password.clone(), cfg.probe_timeout).with_tls(self.tls.clone());
        let mut engine = Engine::new(&spec, self.password.clone(), cfg).with_tls(self.tls.clone());
        let (events_tx, events_rx) = mpsc::unbounded_channel();
        let publisher = tokio::spawn(publish(
            self.deps.recorder.clone(),
            self.reference.clone(),
            events_rx,
        ));
        let mut last_digest = String::new();
        while !*self.stop.borrow() {
            let started = Instant::now();
            let formed = self.read().formed;
            if formed {
                match engine.pass(&self.platform, Intent::Auto).await {
                    Ok(pass) => self.record(&mut engine, &pass, &events_tx),
                    Err(e) => tracing::warn!(cluster = %self.object, "engine pass skipped: {e}"),
                }
            } else {
                self.form(&pool, &events_tx).await;
            }
            let digest = digest(&self.read());
            if digest != last_digest {
                last_digest = digest;
                let _ = self.deps.trigger.send(self.object.clone());
            }
            let rest = interval.saturating_sub(started.elapsed());
            tokio::select! {
                _ = self.stop.changed() => {}
                _ = tokio::time::sleep(rest) => {}
            }
        }
        publisher.abort();
    }

    fn read(&self) -> EngineReport {
        read(&self.report)
    }

    fn write(&self, f: impl FnOnce(&mut EngineReport)) {
        f(&mut self
            .report
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner));
    }

    async fn form(&self, pool: &Pool, events: &mpsc::UnboundedSender<Event>) {
        let instances = match self.platform.instances() {
            Ok(i) => i,
            Err(e) => {
                self.write(|r| r.forming = Some(e));
                return;
            }
        };
        let outcome = form(
            &self.cluster,
            &instances,
            pool,
            self.password.as_ref(),
            self.tls.as_ref(),
            &self.platform,
        )
        .await;
        let note = |kind: &'static str, summary: String, ok: bool| Event {
            at_ms: redis_stretch_engine::unix_ms(),
            kind,
            summary: summary.clone(),
            why: "a new cluster: every instance answers and none holds data".to_owned(),
            ok,
            detail: summary,
            took_ms: 0,
        };
        match outcome {
            Formation::Formed => self.write(|r| {
                r.formed = true;
                r.forming = None;
            }),
            Formation::Waiting(why) => self.write(|r| r.forming = Some(why)),
            Formation::Bootstrapped(summary) => {
                let _ = events.send(note("bootstrap", summary, true));
                self.write(|r| {
                    r.formed = true;
                    r.forming = None;
                });
            }
            Formation::Failed(why) => {
                let _ = events.send(note("bootstrap", why.clone(), false));
                self.write(|r| r.forming = Some(format!("bootstrap failed, retrying: {why}")));
            }
        }
    }

    fn record(&self, engine: &mut Engine, pass: &Pass, events: &mpsc::UnboundedSender<Event>) {
        let (ns, name) = (
            self.cluster.namespace().unwrap_or("default").to_owned(),
            self.cluster.name().to_owned(),
        );
        let m = &self.deps.metrics;
        for e in engine.events(&pass.outcomes) {
            m.engine_actions
                .get_or_create(&ActionLabels {
                    namespace: ns.clone(),
                    cluster: name.clone(),
                    action: e.kind.to_owned(),
                    ok: e.ok.to_string(),
                })
                .inc();
            let _ = events.send(e);
        }
        for (zone, state) in &pass.zones {
            m.zone_dark
                .get_or_create(&ZoneLabels {
                    namespace: ns.clone(),
                    cluster: name.clone(),
                    zone: zone.clone(),
                })
                .set(i64::from(state.is_dark()));
        }
        m.slots_served
            .get_or_create(&ClusterLabels {
                namespace: ns,
                cluster: name,
            })
            .set(i64::try_from(pass.snapshot.slots_covered()).unwrap_or(i64::MAX));
        let status = engine.status(pass);
        self.write(|r| {
            r.snapshot = Some(pass.snapshot.clone());
            r.zones = pass.zones.clone();
            r.status = Some(status);
        });
    }
}

/// What the status shows, reduced to what should trigger a status update when it changes
/// (not the heartbeat, not how long a zone has been silent).
fn digest(r: &EngineReport) -> String {
    let zones: Vec<String> = r
        .zones
        .iter()
        .map(|(z, s)| {
            let kind = match s {
                ZoneState::Healthy => "healthy",
                ZoneState::Suspect { .. } => "suspect",
                ZoneState::Dark { .. } => "dark",
            };
            format!("{z}={kind}")
        })
        .collect();
    let nodes: Vec<String> = r
        .snapshot
        .iter()
        .flat_map(|s| &s.nodes)
        .map(|n| {
            format!(
                "{:?}:{}:{:?}:{:?}:{}",
                n.name,
                n.reachable,
                n.role,
                n.link_up,
                n.slots.len()
            )
        })
        .collect();
    let (waiting, actions) = r
        .status
        .as_ref()
        .map_or((None, 0), |s| (s.waiting_for.clone(), s.last_actions.len()));
    format!(
        "{}|{:?}|{zones:?}|{nodes:?}|{waiting:?}|{actions}",
        r.formed, r.forming
    )
}

/// Publish engine events as Kubernetes Events on the cluster's object, off the engine's path.
async fn publish(
    recorder: Option<Recorder>,
    reference: k8s_openapi::api::core::v1::ObjectReference,
    mut rx: mpsc::UnboundedReceiver<Event>,
) {
    while let Some(e) = rx.recv().await {
        tracing::info!(
            action = e.kind,
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
            reason: reason(e.kind, e.ok),
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

/// `takeover` → `Takeover`, `graceful-failover` → `GracefulFailover`; failures get `Failed`.
fn reason(kind: &str, ok: bool) -> String {
    let camel: String = kind
        .split('-')
        .map(|w| {
            let mut c = w.chars();
            c.next()
                .map(|f| f.to_uppercase().chain(c).collect::<String>())
                .unwrap_or_default()
        })
        .collect();
    if ok {
        camel
    } else {
        format!("{camel}Failed")
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
    fn event_reasons_are_camel_case() {
        assert_eq!(reason("takeover", true), "Takeover");
        assert_eq!(reason("graceful-failover", true), "GracefulFailover");
        assert_eq!(reason("fence", false), "FenceFailed");
    }

    #[test]
    fn truncation_keeps_char_boundaries() {
        assert_eq!(truncate("abc", 5), "abc");
        assert_eq!(truncate("ééé", 3), "é…");
    }
}
