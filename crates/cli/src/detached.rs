//! The detached engine of a local cluster: this program's `local engine --state-dir DIR` in
//! its own process group, started by `local up --detach` and again by a break-glass command
//! that stood in for it.

use redis_stretch_local::{ensure_detached_engine, Detached, StateDir};

use crate::error::CliError;

/// Start a detached engine over `dir` unless something holds its engine lock.
pub async fn ensure(dir: &StateDir) -> Result<Detached, CliError> {
    let exe = std::env::current_exe()
        .map_err(|e| CliError::Runtime(format!("cannot find this program's path: {e}")))?;
    let path = dir.path().display().to_string();
    Ok(ensure_detached_engine(dir, &exe, &["local", "engine", "--state-dir", &path]).await?)
}

/// What `ensure` did, in words.
pub fn describe(d: &Detached) -> String {
    match d {
        Detached::Started(pid) => format!("engine started (pid {pid})"),
        Detached::Running(holder) => format!("engine already running: {holder}"),
    }
}
