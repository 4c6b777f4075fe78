//! Test support: a local cluster that is stopped when the guard drops, even when the test
//! fails. Used by this crate's, the engine's and the CLI's integration tests.

use std::future::Future;
use std::os::fd::AsFd;
use std::sync::atomic::{AtomicU32, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

use redis_stretch_admin::Secret;
use redis_stretch_api::{load_manifest, server_from_env, with_server, ServerFlavour};
use redis_stretch_engine::Instance;

use crate::{down, find_server, up, LocalError, State, StateDir, UpOptions, UpOutcome};

/// The seed's cluster: 3 shards, dc-a prefers 2 masters, dc-b 1.
pub const SEED_MANIFEST: &str = "apiVersion: redis-stretch.io/v1alpha1
kind: RedisStretchCluster
metadata:
  name: seed
spec:
  shards: 3
  zones:
    - name: dc-a
      preferredMasters: 2
    - name: dc-b
      preferredMasters: 1
";

/// A fresh state dir under the system temp dir, unique per process and call. Test runners
/// can stop leftovers of a killed test run with `local down --state-dir` on each of them.
pub fn unique_state_dir(label: &str) -> StateDir {
    static N: AtomicU32 = AtomicU32::new(0);
    let n = N.fetch_add(1, Ordering::SeqCst);
    StateDir::new(
        std::env::temp_dir()
            .join("redis-stretch-tests")
            .join(format!("{label}-{}-{n}", std::process::id())),
    )
}

pub struct TestCluster {
    pub dir: StateDir,
    pub state: State,
    pub password: Option<Secret>,
}

/// The server the real-server tests run: `REDIS_STRETCH_SERVER` (`redis` or `valkey`), Redis
/// when unset. `scripts/test.sh` runs the suite once per server.
pub fn test_server() -> ServerFlavour {
    match server_from_env() {
        Ok(Some(s)) => s,
        Ok(None) => ServerFlavour::Redis,
        Err(e) => {
            eprintln!("{e}; testing Redis");
            ServerFlavour::Redis
        }
    }
}

/// `manifest` set to run [`test_server`].
pub fn test_manifest(manifest: &str) -> Result<String, LocalError> {
    with_server(manifest, test_server()).map_err(LocalError::Refused)
}

impl TestCluster {
    /// Start `manifest`'s cluster on the server under test ([`test_server`]).
    pub async fn start(label: &str, manifest: &str) -> Result<Self, LocalError> {
        Self::start_on(label, manifest, test_server()).await
    }

    /// Start `manifest`'s cluster on `server`, whatever the run tests.
    pub async fn start_on(
        label: &str,
        manifest: &str,
        server: ServerFlavour,
    ) -> Result<Self, LocalError> {
        let manifest = with_server(manifest, server).map_err(LocalError::Refused)?;
        let manifest = manifest.as_str();
        let cluster = load_manifest(manifest).map_err(|p| LocalError::Refused(p.to_string()))?;
        let dir = unique_state_dir(label);
        let opts = UpOptions {
            state_dir: dir.clone(),
            redis_server: find_server(cluster.spec().redis.server)?,
            ready_timeout: Duration::from_secs(30),
            manifest_yaml: manifest.to_owned(),
        };
        let state = match up(&cluster, &opts).await? {
            UpOutcome::Started { state, .. } | UpOutcome::Adopted { state } => state,
        };
        let password = dir.password(false)?;
        Ok(Self {
            dir,
            state,
            password,
        })
    }

    /// Instances as the state dir says now (`restore-zone --new-addresses` moves them).
    pub fn instances(&self) -> Vec<Instance> {
        let state = self.dir.load().unwrap_or_else(|_| self.state.clone());
        state.instances.iter().map(|i| i.as_instance()).collect()
    }
}

impl TestCluster {
    /// The last cluster-level lines (`#`: failovers, votes, state changes) of every instance's
    /// log: what a CI log needs to explain a failure nobody can reproduce at will.
    fn print_log_tails(&self) {
        for inst in &self.state.instances {
            let log = inst.data_dir.join("redis.log");
            let Ok(text) = std::fs::read_to_string(&log) else {
                continue;
            };
            let lines: Vec<&str> = text.lines().filter(|l| l.contains(" # ")).collect();
            eprintln!("--- {} ({}) {}", inst.name, inst.zone, log.display());
            for l in &lines[lines.len().saturating_sub(15)..] {
                eprintln!("    {l}");
            }
        }
    }
}

impl Drop for TestCluster {
    fn drop(&mut self) {
        // A failing test keeps its state dir (every instance's redis.log) for the post-mortem;
        // the processes are stopped either way.
        let keep = std::thread::panicking();
        if let Err(e) = down(&self.dir, keep) {
            eprintln!("test cleanup of {}: {e}", self.dir.path().display());
        } else if keep {
            eprintln!("kept for inspection: {}", self.dir.path().display());
            self.print_log_tails();
        }
    }
}

/// Run `work` to its end on a thread of its own, on a current-thread runtime, inside network
/// namespace `ns` when one is named. A `local up --netns` cluster answers only inside its
/// namespace: the CLI re-executes itself there, but a test's own clients (a writer, readback,
/// a check) live in the test process. setns(2) moves this one thread, and the threads it
/// starts (the runtime's blocking pool), into the namespace; the test's others stay put.
pub fn on_thread<T, F>(
    ns: Option<String>,
    work: impl FnOnce() -> F + Send + 'static,
) -> JoinHandle<Result<T, LocalError>>
where
    F: Future<Output = T>,
    T: Send + 'static,
{
    std::thread::spawn(move || {
        if let Some(ns) = &ns {
            let path = crate::netns::file(ns);
            let f = std::fs::File::open(&path).map_err(LocalError::io(&path))?;
            nix::sched::setns(f.as_fd(), nix::sched::CloneFlags::CLONE_NEWNET)
                .map_err(|e| LocalError::io(&path)(std::io::Error::from(e)))?;
        }
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| LocalError::Command {
                command: "a tokio runtime".into(),
                why: e.to_string(),
            })?;
        Ok(rt.block_on(work()))
    })
}
