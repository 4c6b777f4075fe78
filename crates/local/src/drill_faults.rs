//! Drills on local mode: [`redis_stretch_drill::Faults`] over a state dir — zones go down by
//! SIGKILL or SIGSTOP and come back from their data (`kill_zone`, `restore_zone`), and the
//! engine is the local controller.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use redis_stretch_admin::Secret;
use redis_stretch_api::{with_server, RedisStretchClusterSpec, ServerFlavour};
use redis_stretch_drill::scenario::{
    BlipKind as DrillBlip, EngineProcess, EngineProcessOptions, EngineStop, Layout, NetFaults,
    Rollouts, Scales,
};
use redis_stretch_drill::{Faults, ZoneFault};
use redis_stretch_engine::{EngineEvent, EngineStatus, CRASH_AFTER_ENV};

use crate::platform::EVENTS_FILE;
use crate::state::write_atomic;
use crate::{
    controller, engine_status, instances, kill_zone, lab, live_engine, restore_zone,
    server_binary_for, EngineLock, FaultSignal, LocalError, StateDir, ENGINE_PATIENCE,
};

/// The local cluster in a state dir, as a drill's platform.
#[derive(Clone, Debug)]
pub struct LocalFaults {
    pub dir: StateDir,
    /// The redis-stretch program, to start an engine in a process of its own (`PROGRAM local
    /// engine --state-dir DIR`); without it, `spawn_engine` is refused.
    pub program: Option<PathBuf>,
}

impl LocalFaults {
    /// The drill's platform over `dir`, with no program for engine processes.
    pub fn new(dir: StateDir) -> Self {
        Self { dir, program: None }
    }
}

/// The file libfaketime reads the engine process's clock offset from.
const CLOCK_FILE: &str = "engine-clock.faketime";
/// libfaketime's multi-threaded build (the engine runs a multi-threaded runtime), where
/// Debian's `faketime` package and `make install` put it.
const LIBFAKETIME: [&str; 4] = [
    "/usr/lib/x86_64-linux-gnu/faketime/libfaketimeMT.so.1",
    "/usr/lib/aarch64-linux-gnu/faketime/libfaketimeMT.so.1",
    "/usr/lib/faketime/libfaketimeMT.so.1",
    "/usr/local/lib/faketime/libfaketimeMT.so.1",
];
/// How long a stopped engine process gets to finish its pass.
const ENGINE_STOP_GRACE: Duration = Duration::from_secs(5);

/// An engine in a process of its own, our child.
#[derive(Debug)]
pub struct LocalEngineProcess {
    child: Child,
}

impl EngineProcess for LocalEngineProcess {
    fn pid(&self) -> u32 {
        self.child.id()
    }

    fn exited(&mut self) -> Option<Option<i32>> {
        match self.child.try_wait() {
            Ok(Some(status)) => Some(status.code()),
            Ok(None) => None,
            // Not waitable any more: it is gone.
            Err(_) => Some(None),
        }
    }

    fn stop(mut self) {
        if self.exited().is_some() {
            return;
        }
        if let Ok(pid) = i32::try_from(self.child.id()) {
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(pid),
                nix::sys::signal::Signal::SIGTERM,
            );
        }
        let deadline = Instant::now() + ENGINE_STOP_GRACE;
        while Instant::now() < deadline {
            if self.exited().is_some() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn libfaketime() -> Result<&'static str, LocalError> {
    LIBFAKETIME
        .into_iter()
        .find(|p| Path::new(p).exists())
        .ok_or_else(|| {
            LocalError::Usage(format!(
                "a steppable engine clock needs libfaketime (Debian: apt-get install faketime; scripts/deps.sh); looked for {}",
                LIBFAKETIME.join(", ")
            ))
        })
}

impl Faults for LocalFaults {
    type Error = LocalError;

    fn layout(&self) -> Result<Layout, LocalError> {
        let (state, instances, _) = instances(&self.dir)?;
        Ok(Layout {
            zones: state.zones,
            instances,
        })
    }

    fn spec(&self) -> Result<RedisStretchClusterSpec, LocalError> {
        Ok(self.dir.load_manifest()?.spec().clone())
    }

    fn password(&self) -> Result<Option<Secret>, LocalError> {
        self.dir.password(false)
    }

    fn take_down(&self, zone: &str, fault: ZoneFault) -> Result<Vec<String>, LocalError> {
        let sig = match fault {
            ZoneFault::Kill => FaultSignal::Kill,
            ZoneFault::Stop => FaultSignal::Stop,
        };
        kill_zone(&self.dir, zone, sig)
    }

    fn take_down_instance(&self, name: &str, fault: ZoneFault) -> Result<Vec<String>, LocalError> {
        let sig = match fault {
            ZoneFault::Kill => FaultSignal::Kill,
            ZoneFault::Stop => FaultSignal::Stop,
        };
        crate::faults::kill_instance(&self.dir, name, sig)
    }

    async fn bring_back(&self, zone: &str, new_addresses: bool) -> Result<Vec<String>, LocalError> {
        restore_zone(
            &self.dir,
            zone,
            new_addresses,
            &server_binary_for(&self.dir)?,
        )
        .await
    }

    fn engine_live(&self) -> Option<u32> {
        // An engine that holds the lock but has not written its first heartbeat yet (a
        // detached one just started by `local up --detach`) is live all the same: starting
        // the drill's own beside it would only be refused by the lock.
        live_engine(&self.dir).or_else(|| {
            crate::engine_lock::holder(&self.dir)
                .and_then(|h| h.pid)
                .filter(|pid| *pid != std::process::id() && crate::engine_process_alive(*pid))
        })
    }

    fn engine_status(&self) -> Option<EngineStatus> {
        engine_status(&self.dir)
    }

    fn start_engine(&self) -> EngineStop {
        let (stop, rx) = EngineStop::channel();
        let dir = self.dir.clone();
        tokio::spawn(async move {
            let run = async {
                let lock = EngineLock::acquire(&dir, "drill", ENGINE_PATIENCE).await?;
                controller::run_engine(lock, async {
                    let _ = rx.await;
                })
                .await
            };
            // The drill goes on and reports what the cluster did: with another engine in
            // charge, that engine's recovery.
            if let Err(e) = run.await {
                tracing::error!("the drill's engine did not run: {e}");
            }
        });
        stop
    }
}

/// A client at the third site: outside every zone's /24, and not 127.0.0.1 (which
/// `cut --engine-with` places inside a zone with the engine).
const THIRD_SITE_CLIENT: std::net::Ipv4Addr = std::net::Ipv4Addr::new(127, 0, 100, 250);

impl NetFaults for LocalFaults {
    type EngineProcess = LocalEngineProcess;

    fn spawn_engine(&self, opts: &EngineProcessOptions) -> Result<LocalEngineProcess, LocalError> {
        let program = self.program.as_ref().ok_or_else(|| {
            LocalError::Usage("no redis-stretch program to start an engine process with".into())
        })?;
        let log_path = self.dir.file("engine.log");
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log_path)
            .map_err(LocalError::io(&log_path))?;
        let err = log.try_clone().map_err(LocalError::io(&log_path))?;
        let mut cmd = Command::new(program);
        cmd.args(["local", "engine", "--state-dir"])
            .arg(self.dir.path())
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(err)
            .env_remove(CRASH_AFTER_ENV);
        if let Some(point) = &opts.crash_after {
            cmd.env(CRASH_AFTER_ENV, point);
        }
        if opts.steppable_clock {
            let file = self.dir.file(CLOCK_FILE);
            write_atomic(&file, b"+0\n", 0o644)?;
            // Only the wall clock: the monotonic one (tokio's timers, the engine's steady
            // clock) stays real. Re-read within a second of a change; file times untouched.
            cmd.env("LD_PRELOAD", libfaketime()?)
                .env("FAKETIME_TIMESTAMP_FILE", &file)
                .env("FAKETIME_DONT_FAKE_MONOTONIC", "1")
                .env("FAKETIME_CACHE_DURATION", "1")
                .env("NO_FAKE_STAT", "1");
        }
        let child = cmd.spawn().map_err(LocalError::io(program))?;
        Ok(LocalEngineProcess { child })
    }

    fn step_engine_clock(&self, offset_secs: i64) -> Result<(), LocalError> {
        write_atomic(
            &self.dir.file(CLOCK_FILE),
            format!("{offset_secs:+}\n").as_bytes(),
            0o644,
        )
    }

    fn engine_events(&self) -> Vec<EngineEvent> {
        let text = std::fs::read_to_string(self.dir.file(EVENTS_FILE)).unwrap_or_default();
        text.lines()
            .filter_map(|l| serde_json::from_str(l).ok())
            .collect()
    }

    fn wipe_data(&self, name: &str) -> Result<(), LocalError> {
        let state = self.dir.load()?;
        let inst = state
            .instances
            .iter()
            .find(|i| i.name == name)
            .ok_or_else(|| LocalError::Usage(format!("no instance `{name}` in this cluster")))?;
        // The RDB a replica's last sync left (loaded at start even with persistence off) and
        // the AOF; nodes.conf stays: the same node comes back, empty.
        for f in ["dump.rdb", "appendonly.aof"] {
            let p = inst.data_dir.join(f);
            match std::fs::remove_file(&p) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(LocalError::Io { path: p, source: e }),
            }
        }
        let aof = inst.data_dir.join("appendonlydir");
        match std::fs::remove_dir_all(&aof) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(LocalError::Io {
                path: aof,
                source: e,
            }),
        }
    }

    fn set_password(&self, password: &Secret) -> Result<(), LocalError> {
        write_atomic(
            &self.dir.file("password"),
            password.expose().as_bytes(),
            0o600,
        )
    }

    fn cut(&self, a: &str, b: &str, engine_with: Option<&str>) -> Result<(), LocalError> {
        lab::cut(&self.dir, a, b, engine_with).map(|_| ())
    }

    fn heal(&self) -> Result<(), LocalError> {
        lab::heal(&self.dir).map(|_| ())
    }

    async fn blip(
        &self,
        zone: &str,
        duration: std::time::Duration,
        kind: DrillBlip,
    ) -> Result<(), LocalError> {
        let kind = match kind {
            DrillBlip::Stop => lab::BlipKind::Stop,
            DrillBlip::Cut => lab::BlipKind::Cut,
        };
        lab::blip(&self.dir, zone, duration, kind, std::future::pending())
            .await
            .map(|_| ())
    }

    fn client_source(&self, zone: Option<&str>) -> Result<std::net::IpAddr, LocalError> {
        let Some(zone) = zone else {
            return Ok(THIRD_SITE_CLIENT.into());
        };
        let state = self.dir.load()?;
        let nets = lab::zone_subnets(&state)?;
        let net = nets
            .get(zone)
            .ok_or_else(|| LocalError::Usage(format!("no zone `{zone}` in this cluster")))?;
        // `127.0.1.0/24` → 127.0.1.250: in the zone, never an instance's address.
        let base = net.trim_end_matches("0/24");
        format!("{base}250")
            .parse()
            .map_err(|_| LocalError::Usage(format!("zone {zone}: {net} is not an IPv4 /24")))
    }
}

impl Rollouts for LocalFaults {
    fn start_rollout(&self, server: Option<ServerFlavour>) -> Result<String, LocalError> {
        let running = self.dir.load_manifest()?.spec().redis.server;
        match server.filter(|s| *s != running) {
            Some(to) => {
                let path = self.dir.file("manifest.yaml");
                let yaml = std::fs::read_to_string(&path).map_err(LocalError::io(&path))?;
                let changed = with_server(&yaml, to).map_err(LocalError::Usage)?;
                self.dir.save_manifest(&changed)?;
                Ok(format!(
                    "spec.redis.server {} → {}",
                    running.display_name(),
                    to.display_name()
                ))
            }
            None => Ok(format!(
                "revision {}: every instance restarted once",
                crate::bump_revision(&self.dir)?
            )),
        }
    }

    fn outdated(&self) -> Result<usize, LocalError> {
        let cluster = self.dir.load_manifest()?;
        let state = self.dir.load()?;
        Ok(state
            .instances
            .iter()
            .filter(|i| crate::restart_for(&cluster, state.revision, i).is_some())
            .count())
    }

    async fn restart_now(&self, name: &str) -> Result<String, LocalError> {
        crate::restart_instance(&self.dir, name).await
    }
}

impl Scales for LocalFaults {
    async fn scale_to(&self, shards: u32) -> Result<String, LocalError> {
        let r = crate::scale(&self.dir, shards, None).await?;
        Ok(format!(
            "spec.shards {} → {}{}{}",
            r.from,
            r.to,
            if r.started.is_empty() {
                String::new()
            } else {
                format!("; started {}", r.started.join(", "))
            },
            if r.leaving.is_empty() {
                String::new()
            } else {
                format!("; leaving {}", r.leaving.join(", "))
            }
        ))
    }

    fn events_seen(&self) -> usize {
        std::fs::read_to_string(self.dir.file(EVENTS_FILE))
            .map(|t| t.lines().count())
            .unwrap_or(0)
    }

    fn move_methods_since(&self, since: usize) -> Vec<String> {
        let text = std::fs::read_to_string(self.dir.file(EVENTS_FILE)).unwrap_or_default();
        let mut out: Vec<String> = Vec::new();
        for e in text
            .lines()
            .skip(since)
            .filter_map(|l| serde_json::from_str::<EngineEvent>(l).ok())
            .filter(|e| e.kind == "move-slots")
        {
            // "move slots … from … to … (METHOD)"
            if let Some(m) = e
                .summary
                .rsplit_once('(')
                .and_then(|(_, m)| m.strip_suffix(')'))
            {
                if !out.iter().any(|x| x == m) {
                    out.push(m.to_owned());
                }
            }
        }
        out
    }
}
