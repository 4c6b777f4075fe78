//! The local controller: the engine loop over a local cluster, in the foreground of a
//! command (`local up`, `local engine`, a drill) or as a detached process recorded in the
//! state dir. Whoever runs it holds the cluster's [`EngineLock`]: one engine per cluster.

use std::future::Future;
use std::path::Path;
use std::time::{Duration, Instant};

use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
use nix::unistd::Pid;
use redis_stretch_engine::{Engine, EngineConfig};

use crate::cluster::log_tail;
use crate::engine_lock::{holder, EngineLock, Holder, ENGINE_PATIENCE};
use crate::platform::{engine_process_alive, FileReporter, LocalPlatform, ENGINE_FILE};
use crate::process::{spawn_detached, stop_pid};
use crate::{LocalError, StateDir};

/// Where a detached engine writes its output.
const ENGINE_LOG: &str = "engine.log";
/// How long a detached engine gets to take the lock, or to say why not.
const START_LIMIT: Duration = Duration::from_secs(10);
/// How long a detached engine gets to finish its pass and exit when stopped.
const STOP_GRACE: Duration = Duration::from_secs(5);

/// Run the engine over the cluster whose lock is held until `stop` resolves.
pub async fn run_engine(
    lock: EngineLock,
    stop: impl Future<Output = ()>,
) -> Result<(), LocalError> {
    let dir = lock.dir();
    let cluster = dir.load_manifest()?;
    let password = dir.password(false)?;
    let cfg = EngineConfig::for_spec(cluster.spec());
    // A rotation left unfinished (`local rotate-password` interrupted): finish it.
    let previous = dir.previous_password()?;
    let mut engine = Engine::new(cluster.spec(), password, cfg).with_previous_password(previous);
    let platform = LocalPlatform { dir: dir.clone() };
    let reporter = FileReporter { dir: dir.clone() };
    engine.run(&platform, &reporter, stop).await;
    // A stopped engine leaves no heartbeat behind that could pass for a live one; removed
    // while the lock is still ours, so it is never a successor's.
    let _ = std::fs::remove_file(dir.file(ENGINE_FILE));
    drop(lock);
    Ok(())
}

/// A detached engine: started now, or the holder of the lock that kept it from starting.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Detached {
    Started(u32),
    Running(Holder),
}

/// Start a detached engine for `dir` unless something holds its engine lock: `program args…`
/// must take the lock and run [`run_engine`] over `dir` (the CLI passes itself and `local
/// engine --state-dir DIR`); its output goes to `engine.log` in the state dir. The child takes
/// the lock itself, so two of these at once start one engine: the other child exits at once,
/// and this returns the one that holds it.
pub async fn ensure_detached_engine(
    dir: &StateDir,
    program: &Path,
    args: &[&str],
) -> Result<Detached, LocalError> {
    if let Some(h) = holder(dir) {
        return Ok(Detached::Running(h));
    }
    let log = dir.file(ENGINE_LOG);
    let pid = spawn_detached(program, args, &log)?;
    let mut state = dir.load()?;
    let before = state.engine_pid.replace(pid);
    dir.save(&state)?;
    let start = Instant::now();
    loop {
        let h = holder(dir);
        if h.as_ref().is_some_and(|h| h.pid == Some(pid)) {
            return Ok(Detached::Started(pid));
        }
        if exited(pid) {
            // Lost a race for the lock: the winner is the engine, this child never was one.
            let mut state = dir.load()?;
            if state.engine_pid == Some(pid) {
                state.engine_pid = before;
                dir.save(&state)?;
            }
            return match h {
                Some(h) => Ok(Detached::Running(h)),
                None => Err(LocalError::EngineStart {
                    pid,
                    tail: log_tail(&log, 10),
                    log,
                }),
            };
        }
        if start.elapsed() > START_LIMIT {
            // Slow, not failed: it is still running and will take the lock or say why.
            tracing::warn!(
                "the detached engine (pid {pid}) has not taken the lock after {START_LIMIT:?}"
            );
            return Ok(Detached::Started(pid));
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Has our child `pid` exited? Reaps it if so.
fn exited(pid: u32) -> bool {
    let Ok(raw) = i32::try_from(pid) else {
        return true;
    };
    match waitpid(Pid::from_raw(raw), Some(WaitPidFlag::WNOHANG)) {
        Ok(WaitStatus::StillAlive) => false,
        Ok(_) => true,
        // Not our child (any more): read its fate from /proc.
        Err(_) => !engine_process_alive(pid),
    }
}

/// Stop the detached engine of `dir` and take its lock, for a command that acts on the
/// cluster in its place (break-glass): the engine finishes its pass and saves its memory
/// before it exits, and the command carries on from that memory. Only the engine recorded
/// as detached is stopped: an engine in the foreground of another command is that command's
/// to stop, so it is refused as [`LocalError::EngineBusy`].
pub async fn stand_in(dir: &StateDir, what: &str) -> Result<EngineLock, LocalError> {
    let detached = dir.load()?.engine_pid;
    let Some(h) = holder(dir) else {
        return EngineLock::acquire(dir, what, ENGINE_PATIENCE).await;
    };
    match h.pid {
        Some(pid) if detached == Some(pid) => {
            stop_pid(pid, STOP_GRACE)?;
            EngineLock::acquire(dir, what, ENGINE_PATIENCE).await
        }
        _ => Err(LocalError::EngineBusy {
            dir: dir.path().to_path_buf(),
            holder: h,
        }),
    }
}
