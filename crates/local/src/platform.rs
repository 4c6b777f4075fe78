//! The engine's view of local mode: instances from the state file (re-read every pass, since
//! `restore-zone --new-addresses` moves them), events, status and the engine's memory as files
//! in the state dir.

use std::fs;
use std::io::Write;

use redis_stretch_engine::{
    unix_ms, EngineEvent, EngineStatus, Instance, Memory, Pass, Platform, Reporter,
};

use crate::state::{write_atomic, LocalInstance, StateDir};

pub const EVENTS_FILE: &str = "events.jsonl";
pub const ENGINE_FILE: &str = "engine.json";
/// What the engine remembers across restarts (hold-downs, flap counts, pending failovers).
pub const MEMORY_FILE: &str = "memory.json";

/// A heartbeat older than this means no live engine.
const STALE_MS: u64 = 3000;

pub struct LocalPlatform {
    pub dir: StateDir,
}

impl Platform for LocalPlatform {
    fn instances(&self) -> Result<Vec<Instance>, String> {
        let state = self.dir.load().map_err(|e| e.to_string())?;
        Ok(state
            .instances
            .iter()
            .map(LocalInstance::as_instance)
            .collect())
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
