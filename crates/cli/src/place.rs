//! Where a command runs: a local cluster started with `local up --netns` lives in its own
//! network namespace, and a command that talks to it re-executes itself inside
//! (`ip netns exec NS <this program> <same args>`, see `redis_stretch_local::netns`).

use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};

use redis_stretch_local::netns::{self, NETNS_ENV};
use redis_stretch_local::{find_server, StateDir};

use crate::error::CliError;
use crate::manifest::read_manifest;

/// Where a command must run, decided before it starts.
pub enum Place {
    /// Anywhere: it only signals processes by PID, or runs nft through `ip netns exec`.
    Anywhere,
    /// Inside the namespace of the cluster in this state dir, when its state records one.
    ClusterOf(StateDir),
    /// `local up --netns`: a new namespace for the cluster in `manifest`, unless the state dir
    /// already holds a cluster (then as `ClusterOf`).
    NewFor { dir: StateDir, manifest: PathBuf },
}

/// Run where `place` says: returns to go on here, or replaces this process with
/// `ip netns exec NS <this program> <same args>` (which comes back through here, inside, and
/// goes on).
pub fn enter(place: Place) -> Result<(), CliError> {
    let (dir, manifest) = match place {
        Place::Anywhere => return Ok(()),
        Place::ClusterOf(dir) => (dir, None),
        Place::NewFor { dir, manifest } => (dir, Some(manifest)),
    };
    if !dir.exists() {
        let Some(manifest) = manifest else {
            return Ok(());
        };
        if netns::inside().is_some() {
            // Re-executed for `--netns` into the namespace just created: start here.
            return Ok(());
        }
        return create_and_enter(&dir, &manifest);
    }
    // An unreadable state: the command itself says so.
    let Ok(state) = dir.load() else {
        return Ok(());
    };
    match state.netns {
        None if manifest.is_some() => Err(CliError::Usage(format!(
            "{} already holds cluster `{}`, which does not run in a network namespace; \
             --netns applies to a new cluster (bring this one down first)",
            dir.path().display(),
            state.cluster
        ))),
        None => Ok(()),
        Some(ns) if netns::is_current(&ns) => Ok(()),
        Some(ns) => reexec(&ns),
    }
}

/// `local up --netns` on a new state dir: everything checked first (manifest, redis-server,
/// root, ip, nft), then the namespace created and this command re-run inside it.
fn create_and_enter(dir: &StateDir, manifest: &Path) -> Result<(), CliError> {
    let (cluster, _) = read_manifest(manifest)?;
    // The server that will run: `--server`/REDIS_STRETCH_SERVER over the manifest's. (A
    // `--server` flag reaches here as an argument, re-checked inside by `local up` itself.)
    let server = redis_stretch_api::server_from_env()
        .ok()
        .flatten()
        .unwrap_or(cluster.spec().redis.server);
    find_server(server)?;
    netns::check_prerequisites()?;
    let ns = netns::name_for(cluster.name(), dir.path());
    netns::create(&ns)?;
    match reexec(&ns) {
        Ok(()) => Ok(()),
        Err(e) => {
            let _ = netns::delete(&ns);
            Err(e)
        }
    }
}

/// Replace this process with itself inside `ns`. Returns only on failure.
fn reexec(ns: &str) -> Result<(), CliError> {
    if std::env::var(NETNS_ENV).ok().as_deref() == Some(ns) {
        return Err(CliError::Runtime(format!(
            "{NETNS_ENV}={ns} is set but this process is not in that namespace; unset it"
        )));
    }
    let mut cmd = netns::reexec_command(ns)?;
    let err = cmd.exec();
    Err(CliError::Runtime(format!(
        "cannot enter network namespace {ns} (ip netns exec): {err}"
    )))
}

/// After a failed `local up --netns`: the namespace created for it goes too when no cluster
/// was recorded (the library cleans up after a failed start; this covers the rest).
pub fn cleanup_failed_up(dir: &StateDir) {
    if dir.exists() {
        return;
    }
    if let Some(ns) = netns::inside() {
        let _ = netns::delete(&ns);
    }
}
