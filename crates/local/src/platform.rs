//! The engine's view of local mode: instances from the state file (re-read every pass, since
//! `restore-zone --new-addresses` moves them), events, status and the engine's memory as files
//! in the state dir.

use std::fs;
use std::io::Write;
use std::time::SystemTime;

use redis_stretch_api::RedisStretchClusterSpec;

use redis_stretch_engine::{
    unix_ms, BoxFuture, EngineEvent, EngineStatus, Instance, Memory, Pass, Platform, Reporter,
};

use crate::state::{write_atomic, StateDir};

pub const EVENTS_FILE: &str = "events.jsonl";
pub const ENGINE_FILE: &str = "engine.json";
/// What the engine remembers across restarts (hold-downs, flap counts, pending failovers).
pub const MEMORY_FILE: &str = "memory.json";
/// The cluster's manifest as last given (`local up`, `local apply`).
pub const MANIFEST_FILE: &str = "manifest.yaml";

/// A heartbeat older than this means no live engine.
const STALE_MS: u64 = 3000;

pub struct LocalPlatform {
    pub dir: StateDir,
}

impl Platform for LocalPlatform {
    fn instances(&self) -> Result<Vec<Instance>, String> {
        let state = self.dir.load().map_err(|e| e.to_string())?;
        // The manifest says what every instance should run; one that runs something else is
        // outdated (a manifest that cannot be read outdates nothing).
        let cluster = self.dir.load_manifest().ok();
        // And how many shards it asks for: instances beyond that are leaving.
        let leaving = cluster
            .as_ref()
            .map(|c| crate::leaving(c, &state))
            .unwrap_or_default();
        Ok(state
            .instances
            .iter()
            .map(|i| Instance {
                restart_for: cluster
                    .as_ref()
                    .and_then(|c| crate::restart_for(c, state.revision, i)),
                leaving: leaving.contains(&i.name),
                ..i.as_instance()
            })
            .collect())
    }

    fn retire<'a>(&'a self, name: &'a str) -> BoxFuture<'a, Result<String, String>> {
        Box::pin(async move {
            crate::retire_instance(&self.dir, name)
                .await
                .map_err(|e| e.to_string())
        })
    }

    fn restart<'a>(&'a self, name: &'a str) -> BoxFuture<'a, Result<String, String>> {
        Box::pin(async move {
            crate::restart_instance(&self.dir, name)
                .await
                .map_err(|e| e.to_string())
        })
    }

    fn held_zone(&self) -> Option<String> {
        self.dir.load().ok().and_then(|s| s.held_zone)
    }

    fn load_memory(&self) -> Result<Option<Memory>, String> {
        let path = self.dir.file(MEMORY_FILE);
        match fs::read_to_string(&path) {
            Ok(text) => serde_json::from_str(&text)
                .map(Some)
                .map_err(|e| format!("{}: {e}", path.display())),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(format!("{}: {e}", path.display())),
        }
    }

    fn save_memory(&self, memory: &Memory) -> Result<(), String> {
        let text = serde_json::to_vec_pretty(memory).map_err(|e| e.to_string())?;
        write_atomic(&self.dir.file(MEMORY_FILE), &text, 0o644).map_err(|e| e.to_string())
    }

    // `local apply` replaces the manifest atomically (a rename: a new mtime), so one stat a
    // pass tells the engine, detached or in the foreground, that the spec changed.
    fn spec_version(&self) -> Option<SystemTime> {
        fs::metadata(self.dir.file(MANIFEST_FILE))
            .and_then(|m| m.modified())
            .ok()
    }

    fn spec(&self) -> Result<Option<RedisStretchClusterSpec>, String> {
        let cluster = self.dir.load_manifest().map_err(|e| e.to_string())?;
        Ok(Some(cluster.spec().clone()))
    }
}

/// Events appended to `events.jsonl`, status written to `engine.json`.
pub struct FileReporter {
    pub dir: StateDir,
}

impl Reporter for FileReporter {
    fn events(&self, events: &[EngineEvent]) {
        let path = self.dir.file(EVENTS_FILE);
        let Ok(mut f) = fs::OpenOptions::new().create(true).append(true).open(&path) else {
            tracing::warn!("cannot append to {}", path.display());
            return;
        };
        for e in events {
            if let Ok(line) = serde_json::to_string(e) {
                let _ = writeln!(f, "{line}");
            }
        }
    }

    fn status(&self, status: &EngineStatus, _: &Pass) {
        if let Ok(text) = serde_json::to_vec_pretty(status) {
            if let Err(e) = write_atomic(&self.dir.file(ENGINE_FILE), &text, 0o644) {
                tracing::warn!("cannot write engine status: {e}");
            }
        }
    }
}

/// The engine's last status, if it wrote one (a file that does not parse counts as none).
pub fn engine_status(dir: &StateDir) -> Option<EngineStatus> {
    let text = fs::read_to_string(dir.file(ENGINE_FILE)).ok()?;
    match serde_json::from_str(&text) {
        Ok(s) => Some(s),
        Err(e) => {
            tracing::warn!("{}: {e}", dir.file(ENGINE_FILE).display());
            None
        }
    }
}

/// A live engine: a fresh heartbeat from a process that still exists.
pub fn live_engine(dir: &StateDir) -> Option<u32> {
    let status = engine_status(dir)?;
    let pid = status.pid;
    let fresh = unix_ms().saturating_sub(status.heartbeat_ms) < STALE_MS;
    // An engine inside this very process is not another authority.
    let other = pid != std::process::id();
    (fresh && other && engine_process_alive(pid)).then_some(pid)
}

/// Is `pid` the detached engine of the state dir `dir` (`local engine --state-dir DIR`)? What
/// may be stopped by a recorded PID: once that engine has exited its PID can be reused, also by
/// another `redis-stretch` command (a drill of another cluster), which a check for the program's
/// name alone would take for it and stop.
pub fn detached_engine_of(pid: u32, dir: &std::path::Path) -> bool {
    if !engine_process_alive(pid) {
        return false;
    }
    let cmd = fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
    let args: Vec<&str> = std::str::from_utf8(&cmd)
        .unwrap_or_default()
        .split('\0')
        .collect();
    let Some(its_dir) = args
        .iter()
        .position(|a| *a == "--state-dir")
        .and_then(|i| args.get(i + 1))
    else {
        return false;
    };
    // Relative to the engine's working directory, as it resolved it.
    let its_dir = match fs::read_link(format!("/proc/{pid}/cwd")) {
        Ok(cwd) => cwd.join(its_dir),
        Err(_) => std::path::PathBuf::from(its_dir),
    };
    let same = match (fs::canonicalize(&its_dir), fs::canonicalize(dir)) {
        (Ok(a), Ok(b)) => a == b,
        _ => its_dir == dir,
    };
    args.contains(&"engine") && same
}

/// Is `pid` a redis-stretch engine process?
pub fn engine_process_alive(pid: u32) -> bool {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let zombie = stat
        .rsplit_once(')')
        .and_then(|(_, r)| r.split_whitespace().next())
        .is_none_or(|s| s == "Z" || s == "X");
    let cmd = fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
    !zombie && String::from_utf8_lossy(&cmd).contains("redis-stretch")
}

/// The last `n` events, oldest first.
pub fn recent_events(dir: &StateDir, n: usize) -> Vec<EngineEvent> {
    let text = fs::read_to_string(dir.file(EVENTS_FILE)).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..]
        .iter()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect()
}
