//! The local controller: the engine loop over a local cluster, in the foreground (`local up`,
//! `local engine`) or as a detached process recorded in the state dir.

use redis_stretch_engine::{Engine, EngineConfig};
use redis_stretch_local::{live_engine, spawn_detached, FileReporter, LocalPlatform, StateDir};

use crate::error::CliError;

/// Run the engine over the cluster in `dir` until `stop` resolves.
pub async fn run(
    dir: &StateDir,
    stop: impl std::future::Future<Output = ()>,
) -> Result<(), CliError> {
    let cluster = dir.load_manifest()?;
    let password = dir.password(false)?;
    let cfg = EngineConfig::for_spec(cluster.spec());
    let mut engine = Engine::new(cluster.spec(), password, cfg);
    let platform = LocalPlatform { dir: dir.clone() };
    let reporter = FileReporter { dir: dir.clone() };
    engine.run(&platform, &reporter, stop).await;
    // A stopped engine leaves no heartbeat behind that could pass for a live one.
    let _ = std::fs::remove_file(dir.file(redis_stretch_local::ENGINE_FILE));
    Ok(())
}

/// Start a detached engine for `dir` unless a live one is in charge; returns its pid.
pub fn ensure_detached(dir: &StateDir) -> Result<(u32, bool), CliError> {
    if let Some(pid) = live_engine(dir) {
        return Ok((pid, false));
    }
    let exe = std::env::current_exe()
        .map_err(|e| CliError::Runtime(format!("cannot find this program's path: {e}")))?;
    let path = dir.path().display().to_string();
    let pid = spawn_detached(
        &exe,
        &["local", "engine", "--state-dir", &path],
        &dir.file("engine.log"),
    )?;
    let mut state = dir.load()?;
    state.engine_pid = Some(pid);
    dir.save(&state)?;
    Ok((pid, true))
}

/// SIGINT or SIGTERM.
pub async fn shutdown_signal() {
    use tokio::signal::unix::{signal, SignalKind};
    match signal(SignalKind::terminate()) {
        Ok(mut term) => {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
        }
        Err(_) => {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}
