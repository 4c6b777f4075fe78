//! The rollout's step on local mode: stop one instance (by its recorded PID, checked) and start
//! it again on the same address, data dir and `nodes.conf`, with the server and redis.conf the
//! manifest asks for now. What an instance runs is recorded in the state file
//! ([`LocalInstance::server`]), so the platform can tell the engine which ones are outdated.

use std::time::Duration;

use redis_stretch_api::ValidatedCluster;

use crate::cluster::{respawn, wait_listening};
use crate::process;
use crate::state::{LocalInstance, StateDir};
use crate::{find_server, LocalError};

/// A stopping Redis waits `shutdown-timeout` (3 s) for its replicas; a replica stops at once.
const STOP_GRACE: Duration = Duration::from_secs(5);

/// Why `inst` must be restarted for `cluster` at the cluster's `revision`, if it must.
pub fn restart_for(
    cluster: &ValidatedCluster,
    revision: u64,
    inst: &LocalInstance,
) -> Option<String> {
    let want = cluster.spec().redis.server;
    match inst.server {
        Some(runs) if runs != want => Some(format!(
            "server {} → {}",
            runs.display_name(),
            want.display_name()
        )),
        _ if inst.revision < revision => Some(format!(
            "revision {} → {revision} (local roll)",
            inst.revision
        )),
        _ => None,
    }
}

/// `local roll` without another server: every instance is to be restarted once more.
pub fn bump_revision(dir: &StateDir) -> Result<u64, LocalError> {
    let mut state = dir.load()?;
    state.revision += 1;
    dir.save(&state)?;
    Ok(state.revision)
}

/// Restart instance `name` of the local cluster in `dir` at the manifest's revision; returns
/// what was done once it answers again.
pub async fn restart_instance(dir: &StateDir, name: &str) -> Result<String, LocalError> {
    let mut state = dir.load()?;
    let cluster = dir.load_manifest()?;
    let password = dir.password(false)?;
    let idx = state
        .instances
        .iter()
        .position(|i| i.name == name)
        .ok_or_else(|| LocalError::Usage(format!("no instance `{name}` in this cluster")))?;
    let old = state.instances[idx].clone();
    let server = find_server(cluster.spec().redis.server)?;
    let stopping = old.clone();
    tokio::task::spawn_blocking(move || process::stop_all(&[stopping], STOP_GRACE))
        .await
        .map_err(|e| LocalError::Usage(format!("stopping {name}: {e}")))??;
    let mut inst = old.clone();
    respawn(
        &cluster,
        &mut inst,
        password.as_ref(),
        &server,
        state.revision,
    )?;
    state.instances[idx] = inst.clone();
    // Saved at once: `local down` must find the new PID whatever happens next.
    dir.save(&state)?;
    let mut only = state.clone();
    only.instances = vec![inst.clone()];
    wait_listening(&only, password.as_ref()).await?;
    Ok(format!(
        "{name} restarted as {} (pid {} → {})",
        cluster.spec().redis.server.display_name(),
        old.pid.map_or_else(|| "-".to_owned(), |p| p.to_string()),
        inst.pid.unwrap_or_default()
    ))
}
