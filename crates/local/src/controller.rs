//! The local controller: the engine loop over a local cluster, in the foreground of a
//! command (`local up`, `local engine`, a drill) or as a detached process recorded in the
//! state dir.

use std::future::Future;
use std::path::Path;

use redis_stretch_engine::{Engine, EngineConfig};

use crate::platform::{live_engine, FileReporter, LocalPlatform, ENGINE_FILE};
use crate::process::spawn_detached;
use crate::{LocalError, StateDir};

/// Run the engine over the cluster in `dir` until `stop` resolves.
pub async fn run_engine(dir: &StateDir, stop: impl Future<Output = ()>) -> Result<(), LocalError> {
    let cluster = dir.load_manifest()?;
    let password = dir.password(false)?;
    let cfg = EngineConfig::for_spec(cluster.spec());
    let mut engine = Engine::new(cluster.spec(), password, cfg);
    let platform = LocalPlatform { dir: dir.clone() };
    let reporter = FileReporter { dir: dir.clone() };
    engine.run(&platform, &reporter, stop).await;
    // A stopped engine leaves no heartbeat behind that could pass for a live one.
    let _ = std::fs::remove_file(dir.file(ENGINE_FILE));
    Ok(())
}

/// Start a detached engine for `dir` unless a live one is in charge: `program args…` must run
/// [`run_engine`] over `dir` (the CLI passes itself and `local engine --state-dir DIR`); its
/// output goes to `engine.log` in the state dir. Returns its pid, and whether it was started
/// now (`false`: one already runs).
pub fn ensure_detached_engine(
    dir: &StateDir,
    program: &Path,
    args: &[&str],
) -> Result<(u32, bool), LocalError> {
    if let Some(pid) = live_engine(dir) {
        return Ok((pid, false));
    }
    let pid = spawn_detached(program, args, &dir.file("engine.log"))?;
    let mut state = dir.load()?;
    state.engine_pid = Some(pid);
    dir.save(&state)?;
    Ok((pid, true))
}
