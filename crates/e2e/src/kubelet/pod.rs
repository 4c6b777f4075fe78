//! One pod: its processes, probes and status, from binding to deletion.

use std::path::PathBuf;
use std::process::Stdio;
use std::sync::Arc;
use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::{Container, Pod, Probe};
use kube::api::{DeleteParams, Patch, PatchParams, Preconditions};
use kube::{Api, ResourceExt};
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use serde_json::{json, Value};
use tokio::process::{Child, Command};
use tokio::sync::watch;

use super::node::now_time;
use super::volumes::{self, Rewrite};
use super::Shared;
use crate::error::{Error, Result};

/// A kubelet's CrashLoopBackOff: 10 s, doubling, at most 5 minutes.
const BACKOFF_START: Duration = Duration::from_secs(10);
const BACKOFF_MAX: Duration = Duration::from_secs(300);

struct Running {
    spec: Container,
    rewrite: Rewrite,
    env: Vec<(String, String)>,
    log: PathBuf,
    child: Option<Child>,
    started_at: Value,
    restarts: i32,
    /// Exit code and time of the last termination, for `lastState`.
    last_exit: Option<(i32, Value)>,
    next_restart: Option<Instant>,
    backoff: Duration,
    ready: bool,
    probe_failures: i32,
    probe_successes: i32,
    next_probe: Instant,
}

struct Worker {
    shared: Arc<Shared>,
    node: String,
    ns: String,
    name: String,
    uid: String,
    ip: String,
    dir: PathBuf,
    start_time: Value,
    ready_since: Value,
    containers: Vec<Running>,
    /// The pod's `restartPolicy`: `Always` (the default), `OnFailure` or `Never`. A pod whose
    /// containers have all exited for good is `Succeeded` or `Failed` (a `helm test` pod).
    restart_policy: String,
    /// The status we last patched, to patch only changes.
    reported: Value,
    last_patch: Option<Instant>,
}

/// Run a pod until it is deleted (then finish the deletion) or gone from the API.
pub(crate) async fn run(
    shared: Arc<Shared>,
    node: String,
    mut pod_rx: watch::Receiver<Option<Pod>>,
) {
    let Some(pod) = pod_rx.borrow().clone() else {
        return;
    };
    let (ns, name, uid) = (
        pod.namespace().unwrap_or_default(),
        pod.name_any(),
        pod.uid().unwrap_or_default(),
    );
    let dir = shared.root.join(format!("{ns}_{name}_{uid}"));
    let ports: Vec<u16> = pod
        .spec
        .iter()
        .flat_map(|s| s.containers.iter())
        .flat_map(|c| c.ports.iter().flatten())
        .filter_map(|p| u16::try_from(p.container_port).ok())
        .collect();
    let Some(ip) = shared.allocate_ip(&ports) else {
        tracing::error!("pod {ns}/{name}: no free pod IP");
        return;
    };
    let mut w = Worker {
        shared: Arc::clone(&shared),
        node,
        ns,
        name,
        uid,
        ip,
        dir,
        start_time: now_time(),
        ready_since: now_time(),
        containers: Vec::new(),
        restart_policy: pod
            .spec
            .as_ref()
            .and_then(|s| s.restart_policy.clone())
            .unwrap_or_else(|| "Always".to_owned()),
        reported: Value::Null,
        last_patch: None,
    };
    let outcome = w.live(&mut pod_rx).await;
    if let Err(e) = outcome {
        tracing::warn!("pod {}/{}: {e}", w.ns, w.name);
    }
    w.shared.record_pids(&w.uid, &w.node, &w.name, Vec::new());
    w.shared.release_ip(&w.ip);
    let _ = std::fs::remove_dir_all(&w.dir);
}

fn deleting(pod: &Pod) -> bool {
    pod.metadata.deletion_timestamp.is_some()
}

impl Worker {
    async fn live(&mut self, pod_rx: &mut watch::Receiver<Option<Pod>>) -> Result<()> {
        // Set up: volumes and env, retried while a ConfigMap or Secret is missing, as a kubelet
        // leaves a pod in ContainerCreating.
        let pod = loop {
            let Some(pod) = pod_rx.borrow().clone() else {
                return Ok(());
            };
            if deleting(&pod) {
                return self.finish_deletion(&pod).await;
            }
            if !self.shared.is_offline(&self.node) {
                match self.prepare(&pod).await {
                    Ok(()) => break pod,
                    Err(e) => tracing::info!("pod {}/{} not started yet: {e}", self.ns, self.name),
                }
            }
            if pod_rx.has_changed().is_err() {
                return Ok(());
            }
            tokio::time::sleep(Duration::from_secs(1)).await;
        };
        for i in 0..self.containers.len() {
            self.spawn(i)?;
        }
        self.record_pids();
        let _ = pod;
        loop {
            let pod = pod_rx.borrow().clone();
            let Some(pod) = pod else {
                // Gone from the API (force-deleted): stop at once.
                self.kill_all().await;
                return Ok(());
            };
            if self.shared.is_offline(&self.node) {
                if pod_rx.has_changed().is_err() {
                    self.kill_all().await;
                    return Ok(());
                }
                tokio::time::sleep(Duration::from_millis(200)).await;
                continue;
            }
            if deleting(&pod) {
                return self.finish_deletion(&pod).await;
            }
            self.supervise().await;
            if self.shared.is_offline(&self.node) {
                continue;
            }
            if let Err(e) = self.report(&pod).await {
                tracing::warn!("pod {}/{} status: {e}", self.ns, self.name);
            }
            tokio::select! {
                changed = pod_rx.changed() => {
                    if changed.is_err() {
                        // The kubelet stopped: its pods stop with it.
                        self.kill_all().await;
                        return Ok(());
                    }
                }
                _ = tokio::time::sleep(Duration::from_millis(250)) => {}
            }
        }
    }

    async fn prepare(&mut self, pod: &Pod) -> Result<()> {
        std::fs::create_dir_all(&self.dir)
            .map_err(Error::io(format!("creating {}", self.dir.display())))?;
        let vols = volumes::materialise(&self.shared, pod, &self.dir).await?;
        let mut containers = Vec::new();
        for c in pod.spec.iter().flat_map(|s| s.containers.iter()) {
            let rewrite = Rewrite::new(c, &vols, &self.ip);
            volumes::rewrite_config_files(pod, c, &vols, &rewrite)?;
            let env = volumes::environment(&self.shared, pod, c, &self.ip).await?;
            containers.push(Running {
                spec: c.clone(),
                rewrite,
                env,
                log: self.dir.join(format!("{}.log", c.name)),
                child: None,
                started_at: Value::Null,
                restarts: 0,
                last_exit: None,
                next_restart: None,
                backoff: BACKOFF_START,
                ready: false,
                probe_failures: 0,
                probe_successes: 0,
                next_probe: Instant::now(),
            });
        }
        self.containers = containers;
        Ok(())
    }

    fn spawn(&mut self, i: usize) -> Result<()> {
        let dir = self.dir.clone();
        let c = &mut self.containers[i];
        let argv: Vec<String> = c
            .spec
            .command
            .iter()
            .flatten()
            .chain(c.spec.args.iter().flatten())
            .map(|a| c.rewrite.paths(a))
            .collect();
        let Some((program, args)) = argv.split_first() else {
            return Err(Error::Invalid(format!(
                "container {}: no command; the test kubelet runs commands, not images",
                c.spec.name
            )));
        };
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&c.log)
            .map_err(Error::io(format!("opening {}", c.log.display())))?;
        let err = log.try_clone().map_err(Error::io("cloning a log handle"))?;
        let workdir = c
            .spec
            .working_dir
            .as_deref()
            .map(|w| c.rewrite.paths(w))
            .map(PathBuf::from)
            .unwrap_or(dir);
        let child = Command::new(program)
            .args(args)
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("HOME", &workdir)
            .envs(c.env.iter().map(|(k, v)| (k, v)))
            .current_dir(&workdir)
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(err)
            .process_group(0)
            .kill_on_drop(true)
            .spawn()
            .map_err(Error::io(format!(
                "starting container {}: {program}",
                c.spec.name
            )))?;
        c.child = Some(child);
        c.started_at = now_time();
        c.ready = false;
        c.probe_failures = 0;
        c.probe_successes = 0;
        // The first probe soon after the start (initialDelaySeconds, default 0).
        let delay = c
            .spec
            .readiness_probe
            .as_ref()
            .and_then(|p| p.initial_delay_seconds)
            .unwrap_or(0);
        c.next_probe =
            Instant::now() + Duration::from_millis(300) + Duration::from_secs(delay.max(0) as u64);
        Ok(())
    }

    fn record_pids(&self) {
        let pids = self
            .containers
            .iter()
            .filter_map(|c| c.child.as_ref().and_then(Child::id))
            .collect();
        self.shared
            .record_pids(&self.uid, &self.node, &self.name, pids);
    }

    /// Restart exited containers as the restart policy says (with back-off) and run due
    /// probes.
    async fn supervise(&mut self) {
        let now = Instant::now();
        let mut changed = false;
        let policy = self.restart_policy.clone();
        for i in 0..self.containers.len() {
            let c = &mut self.containers[i];
            if let Some(child) = c.child.as_mut() {
                if let Ok(Some(status)) = child.try_wait() {
                    let code = status.code().unwrap_or(128 + status_signal(&status));
                    tracing::info!(
                        "pod {}/{} container {} exited ({code})",
                        self.ns,
                        self.name,
                        c.spec.name
                    );
                    c.child = None;
                    c.ready = false;
                    c.last_exit = Some((code, now_time()));
                    let restart = match policy.as_str() {
                        "Never" => false,
                        "OnFailure" => code != 0,
                        _ => true,
                    };
                    if restart {
                        c.next_restart = Some(now + c.backoff);
                        c.backoff = (c.backoff * 2).min(BACKOFF_MAX);
                    }
                    changed = true;
                }
            }
            if c.child.is_none() && c.next_restart.is_some_and(|t| now >= t) {
                c.next_restart = None;
                c.restarts += 1;
                if let Err(e) = self.spawn(i) {
                    tracing::warn!("pod {}/{}: {e}", self.ns, self.name);
                }
                changed = true;
            }
        }
        if changed {
            self.record_pids();
        }
        for i in 0..self.containers.len() {
            let due = {
                let c = &self.containers[i];
                c.child.is_some() && Instant::now() >= c.next_probe
            };
            if !due {
                continue;
            }
            let (probe, rewrite, env) = {
                let c = &self.containers[i];
                (
                    c.spec.readiness_probe.clone(),
                    c.rewrite.clone(),
                    c.env.clone(),
                )
            };
            let ok = match &probe {
                Some(p) => run_probe(p, &rewrite, &env, &self.ip).await,
                None => true,
            };
            if self.shared.is_offline(&self.node) {
                // Frozen mid-probe: what it saw says nothing about the pod.
                return;
            }
            let c = &mut self.containers[i];
            let period = probe
                .as_ref()
                .and_then(|p| p.period_seconds)
                .unwrap_or(10)
                .max(1) as u64;
            c.next_probe = Instant::now() + Duration::from_secs(period);
            if ok {
                c.probe_failures = 0;
                c.probe_successes += 1;
                let need = probe
                    .as_ref()
                    .and_then(|p| p.success_threshold)
                    .unwrap_or(1);
                if c.probe_successes >= need {
                    c.ready = true;
                }
            } else {
                c.probe_successes = 0;
                c.probe_failures += 1;
                let need = probe
                    .as_ref()
                    .and_then(|p| p.failure_threshold)
                    .unwrap_or(3);
                if c.probe_failures >= need || !c.ready {
                    c.ready = false;
                }
            }
        }
    }

    fn status(&mut self) -> Value {
        // Exited and not to be restarted: what a kubelet reports as `terminated`.
        let finished =
            |c: &Running| c.child.is_none() && c.next_restart.is_none() && c.last_exit.is_some();
        let phase = if !self.containers.is_empty() && self.containers.iter().all(finished) {
            if self
                .containers
                .iter()
                .all(|c| c.last_exit.as_ref().is_some_and(|(code, _)| *code == 0))
            {
                "Succeeded"
            } else {
                "Failed"
            }
        } else {
            "Running"
        };
        let all_ready = !self.containers.is_empty() && self.containers.iter().all(|c| c.ready);
        let ready = if all_ready { "True" } else { "False" };
        let statuses: Vec<Value> = self
            .containers
            .iter()
            .map(|c| {
                let state = match (&c.child, &c.last_exit) {
                    (Some(child), _) => json!({"running": {"startedAt": c.started_at}, "_pid": child.id()}),
                    (None, Some((code, at))) if finished(c) => json!({"terminated": {
                        "exitCode": code,
                        "reason": if *code == 0 { "Completed" } else { "Error" },
                        "startedAt": c.started_at,
                        "finishedAt": at,
                    }}),
                    (None, _) => json!({"waiting": {"reason": "CrashLoopBackOff", "message": "back-off restarting the container"}}),
                };
                let pid = state.get("_pid").cloned().unwrap_or(Value::Null);
                let mut state = state;
                if let Some(o) = state.as_object_mut() {
                    o.remove("_pid");
                }
                let last = match &c.last_exit {
                    Some((code, at)) if !finished(c) => json!({"terminated": {"exitCode": code, "reason": "Error", "finishedAt": at}}),
                    _ => json!({}),
                };
                json!({
                    "name": c.spec.name,
                    "image": c.spec.image.clone().unwrap_or_default(),
                    "imageID": "",
                    "containerID": format!("redis-stretch-e2e://{}", pid),
                    "ready": c.ready,
                    "started": c.child.is_some(),
                    "restartCount": c.restarts,
                    "state": state,
                    "lastState": last,
                })
            })
            .collect();
        let cond = |t: &str, s: &str, at: &Value| json!({"type": t, "status": s, "lastTransitionTime": at});
        json!({
            "status": {
                "phase": phase,
                "hostIP": self.shared.node_ip(&self.node),
                "hostIPs": [{"ip": self.shared.node_ip(&self.node)}],
                "podIP": self.ip,
                "podIPs": [{"ip": self.ip}],
                "startTime": self.start_time,
                "conditions": [
                    cond("PodReadyToStartContainers", "True", &self.start_time),
                    cond("Initialized", "True", &self.start_time),
                    cond("ContainersReady", ready, &self.ready_since),
                    cond("Ready", ready, &self.ready_since),
                ],
                "containerStatuses": statuses,
            }
        })
    }

    /// Patch the pod status when it changed (readiness, restarts, state), or when the API
    /// says otherwise — the node lifecycle controller marks the pods of a NotReady node not
    /// ready, and a kubelet that comes back puts its own view back (its status manager
    /// reconciles with the API server the same way).
    async fn report(&mut self, api_pod: &Pod) -> Result<()> {
        let mut status = self.status();
        let fingerprint = |s: &Value| {
            let mut s = s.clone();
            if let Some(conds) = s
                .pointer_mut("/status/conditions")
                .and_then(Value::as_array_mut)
            {
                for c in conds {
                    if let Some(o) = c.as_object_mut() {
                        o.remove("lastTransitionTime");
                    }
                }
            }
            s
        };
        let api_differs = differs(&status, api_pod)
            && self
                .last_patch
                .is_none_or(|t| t.elapsed() >= Duration::from_secs(1));
        if fingerprint(&status) == fingerprint(&self.reported) && !api_differs {
            return Ok(());
        }
        let ready_now = status.pointer("/status/conditions/3/status")
            != self.reported.pointer("/status/conditions/3/status");
        if ready_now && !self.reported.is_null() {
            self.ready_since = now_time();
            status = self.status();
        }
        Api::<Pod>::namespaced(self.shared.client.clone(), &self.ns)
            .patch_status(
                &self.name,
                &PatchParams::default(),
                &Patch::Strategic(status.clone()),
            )
            .await
            .map_err(Error::kube(format!(
                "patching the status of pod {}/{}",
                self.ns, self.name
            )))?;
        self.reported = status;
        self.last_patch = Some(Instant::now());
        Ok(())
    }

    /// A deleted pod: preStop hooks, SIGTERM, the grace period, SIGKILL, then the final delete
    /// (grace 0, this pod's UID) that removes it from the API. Waits while the node is offline:
    /// a dark node's pods stay Terminating, as on a real cluster.
    async fn finish_deletion(&mut self, pod: &Pod) -> Result<()> {
        while self.shared.is_offline(&self.node) {
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        let grace = pod
            .metadata
            .deletion_grace_period_seconds
            .unwrap_or(30)
            .max(0) as u64;
        let deadline = Instant::now() + Duration::from_secs(grace);
        for c in &self.containers {
            if c.child.is_none() {
                continue;
            }
            let hook = c
                .spec
                .lifecycle
                .as_ref()
                .and_then(|l| l.pre_stop.as_ref())
                .and_then(|h| h.exec.as_ref())
                .and_then(|e| e.command.clone());
            if let Some(cmd) = hook {
                let left = deadline.saturating_duration_since(Instant::now());
                let ok = exec(&cmd, &c.rewrite, &c.env, left).await;
                tracing::info!(
                    "pod {}/{} container {}: preStop {}",
                    self.ns,
                    self.name,
                    c.spec.name,
                    if ok { "done" } else { "failed" }
                );
            }
        }
        for c in &mut self.containers {
            if let Some(pid) = c.child.as_ref().and_then(Child::id) {
                let _ = kill(Pid::from_raw(pid as i32), Signal::SIGTERM);
            }
        }
        for c in &mut self.containers {
            if let Some(child) = c.child.as_mut() {
                let left = deadline
                    .saturating_duration_since(Instant::now())
                    .max(Duration::from_millis(100));
                if tokio::time::timeout(left, child.wait()).await.is_err() {
                    let _ = child.kill().await;
                }
            }
            c.child = None;
        }
        self.record_pids();
        let dp = DeleteParams {
            grace_period_seconds: Some(0),
            preconditions: Some(Preconditions {
                uid: Some(self.uid.clone()),
                resource_version: None,
            }),
            ..Default::default()
        };
        match Api::<Pod>::namespaced(self.shared.client.clone(), &self.ns)
            .delete(&self.name, &dp)
            .await
        {
            Ok(_) => Ok(()),
            Err(kube::Error::Api(s)) if s.code == 404 || s.code == 409 => Ok(()),
            Err(e) => Err(Error::kube(format!(
                "deleting pod {}/{}",
                self.ns, self.name
            ))(e)),
        }
    }

    async fn kill_all(&mut self) {
        for c in &mut self.containers {
            if let Some(child) = c.child.as_mut() {
                if let Some(pid) = child.id() {
                    let _ = kill(Pid::from_raw(pid as i32), Signal::SIGCONT);
                }
                let _ = child.kill().await;
            }
            c.child = None;
        }
        self.record_pids();
    }
}

/// Does the API's pod status disagree with ours on what matters: IP, readiness, restarts?
fn differs(desired: &Value, api: &Pod) -> bool {
    let Some(st) = api.status.as_ref() else {
        return true;
    };
    let ready = |t: &str| {
        st.conditions
            .iter()
            .flatten()
            .find(|c| c.type_ == t)
            .map(|c| c.status.clone())
    };
    let want = |t: &str| {
        desired
            .pointer("/status/conditions")
            .and_then(Value::as_array)
            .and_then(|cs| cs.iter().find(|c| c["type"] == t))
            .and_then(|c| c["status"].as_str())
            .map(str::to_owned)
    };
    if st.pod_ip.as_deref() != desired.pointer("/status/podIP").and_then(Value::as_str)
        || ready("Ready") != want("Ready")
        || ready("ContainersReady") != want("ContainersReady")
    {
        return true;
    }
    let theirs: Vec<(String, bool, i64)> = st
        .container_statuses
        .iter()
        .flatten()
        .map(|c| (c.name.clone(), c.ready, i64::from(c.restart_count)))
        .collect();
    let ours: Vec<(String, bool, i64)> = desired
        .pointer("/status/containerStatuses")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .map(|c| {
            (
                c["name"].as_str().unwrap_or_default().to_owned(),
                c["ready"].as_bool().unwrap_or(false),
                c["restartCount"].as_i64().unwrap_or(0),
            )
        })
        .collect();
    theirs != ours
}

fn status_signal(status: &std::process::ExitStatus) -> i32 {
    use std::os::unix::process::ExitStatusExt;
    status.signal().unwrap_or(0)
}

/// Run a readiness probe: exec (rewritten like the container), tcpSocket or httpGet's TCP
/// connect, within its timeout.
async fn run_probe(p: &Probe, rewrite: &Rewrite, env: &[(String, String)], ip: &str) -> bool {
    let timeout = Duration::from_secs(p.timeout_seconds.unwrap_or(1).max(1) as u64);
    if let Some(cmd) = p.exec.as_ref().and_then(|e| e.command.as_ref()) {
        return exec(cmd, rewrite, env, timeout).await;
    }
    let port = p
        .tcp_socket
        .as_ref()
        .map(|t| &t.port)
        .or(p.http_get.as_ref().map(|h| &h.port));
    if let Some(k8s_openapi::apimachinery::pkg::util::intstr::IntOrString::Int(port)) = port {
        let addr = format!("{ip}:{port}");
        return matches!(
            tokio::time::timeout(timeout, tokio::net::TcpStream::connect(addr)).await,
            Ok(Ok(_))
        );
    }
    false
}

/// Run `cmd` (rewritten) with the container's env; true if it exits 0 within `limit`.
async fn exec(
    cmd: &[String],
    rewrite: &Rewrite,
    env: &[(String, String)],
    limit: Duration,
) -> bool {
    let argv: Vec<String> = cmd.iter().map(|a| rewrite.command(a)).collect();
    let Some((program, args)) = argv.split_first() else {
        return false;
    };
    let child = Command::new(program)
        .args(args)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .envs(env.iter().map(|(k, v)| (k, v)))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn();
    let Ok(mut child) = child else { return false };
    matches!(tokio::time::timeout(limit, child.wait()).await, Ok(Ok(s)) if s.success())
}
