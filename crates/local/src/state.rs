//! The state directory: what a local cluster runs (pid, zone, address, port, data dir), its
//! manifest and its password. Written atomically after every change so that any command, or
//! a crash and re-run, finds the truth there.
//!
//! Layout: `state.json`, `manifest.yaml`, `password` (0600), `<instance>/` data dirs holding
//! `redis.conf` (0600: it carries the password), `nodes.conf` and `redis.log`.

use std::fs;
use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use redis_stretch_admin::{NodeAddr, Secret};
use redis_stretch_api::{load_manifest, ValidatedCluster};
use redis_stretch_engine::Instance;
use serde::{Deserialize, Serialize};

use crate::LocalError;

/// `$REDIS_STRETCH_STATE_DIR`, else `$XDG_STATE_HOME/redis-stretch/local`, else
/// `~/.local/state/redis-stretch/local`.
pub fn default_state_dir() -> PathBuf {
    if let Some(d) = std::env::var_os("REDIS_STRETCH_STATE_DIR") {
        return PathBuf::from(d);
    }
    let base = std::env::var_os("XDG_STATE_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".local/state")))
        .unwrap_or_else(|| PathBuf::from("."));
    base.join("redis-stretch").join("local")
}

/// Marks a directory as ours, so that nothing else is ever deleted by `down`.
const MARKER: &str = ".redis-stretch-state";

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LocalInstance {
    pub name: String,
    pub zone: String,
    pub host: String,
    pub port: u16,
    /// `None` once stopped by us.
    pub pid: Option<u32>,
    pub data_dir: PathBuf,
    /// The server the process runs, recorded when it was started (`None`: a state dir from
    /// before this was recorded: taken as current). When the manifest names another, the
    /// rollout restarts it ([`crate::LocalPlatform`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub server: Option<redis_stretch_api::ServerFlavour>,
    /// The cluster's [`State::revision`] it was started at: below the cluster's, it is
    /// restarted by the rollout (`local roll`).
    #[serde(default)]
    pub revision: u64,
}

impl LocalInstance {
    pub fn addr(&self) -> NodeAddr {
        NodeAddr::new(self.host.clone(), self.port)
    }
    pub fn as_instance(&self) -> Instance {
        Instance {
            name: self.name.clone(),
            zone: self.zone.clone(),
            addr: self.addr(),
            server_name: None,
            restart_for: None,
            leaving: false,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct State {
    pub cluster: String,
    pub zones: Vec<String>,
    pub instances: Vec<LocalInstance>,
    /// The local controller (engine) process, when one was started detached.
    #[serde(default)]
    pub engine_pid: Option<u32>,
    /// A zone under `evacuate`: the engine fails nothing back into it until `resume`.
    #[serde(default)]
    pub held_zone: Option<String>,
    /// The network namespace every process of the cluster runs in (`local up --netns`), which
    /// every command enters and `down` removes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub netns: Option<String>,
    /// Bumped by `local roll` to restart every instance (as a new image would on Kubernetes).
    #[serde(default)]
    pub revision: u64,
}

#[derive(Clone, Debug)]
pub struct StateDir {
    path: PathBuf,
}

impl StateDir {
    pub fn new(path: impl Into<PathBuf>) -> Self {
        Self { path: path.into() }
    }
    pub fn path(&self) -> &Path {
        &self.path
    }
    fn state_file(&self) -> PathBuf {
        self.path.join("state.json")
    }
    pub fn file(&self, name: &str) -> PathBuf {
        self.path.join(name)
    }
    pub fn instance_dir(&self, name: &str) -> PathBuf {
        self.path.join(name)
    }
    pub fn exists(&self) -> bool {
        self.state_file().is_file()
    }

    /// Create the directory, or reuse one that is empty or already ours. A directory with
    /// other content is refused: `down` and a failed `up` delete the whole state dir.
    pub fn create(&self) -> Result<(), LocalError> {
        let marker = self.path.join(MARKER);
        if let Ok(mut entries) = fs::read_dir(&self.path) {
            if entries.next().is_some() && !marker.exists() {
                return Err(LocalError::Refused(format!(
                    "{} is not empty and is not a redis-stretch state dir; pick a new or empty --state-dir",
                    self.path.display()
                )));
            }
        }
        fs::create_dir_all(&self.path).map_err(LocalError::io(&self.path))?;
        fs::set_permissions(&self.path, fs::Permissions::from_mode(0o700))
            .map_err(LocalError::io(&self.path))?;
        write_atomic(&marker, b"redis-stretch local state\n", 0o644)
    }

    pub fn load(&self) -> Result<State, LocalError> {
        let path = self.state_file();
        if !path.is_file() {
            return Err(LocalError::NoCluster(self.path.clone()));
        }
        let text = fs::read_to_string(&path).map_err(LocalError::io(&path))?;
        serde_json::from_str(&text).map_err(|e| LocalError::BadState {
            path,
            why: e.to_string(),
        })
    }

    pub fn save(&self, state: &State) -> Result<(), LocalError> {
        let text = serde_json::to_string_pretty(state).map_err(|e| LocalError::BadState {
            path: self.state_file(),
            why: e.to_string(),
        })?;
        write_atomic(&self.state_file(), text.as_bytes(), 0o644)
    }

    pub fn save_manifest(&self, yaml: &str) -> Result<(), LocalError> {
        write_atomic(&self.path.join("manifest.yaml"), yaml.as_bytes(), 0o644)
    }

    pub fn load_manifest(&self) -> Result<ValidatedCluster, LocalError> {
        let path = self.path.join("manifest.yaml");
        let text = fs::read_to_string(&path).map_err(LocalError::io(&path))?;
        load_manifest(&text).map_err(|p| LocalError::BadState {
            path,
            why: p.to_string(),
        })
    }

    /// The cluster's password, created on first use (mode 0600, never printed).
    pub fn password(&self, create: bool) -> Result<Option<Secret>, LocalError> {
        let path = self.path.join("password");
        match fs::read_to_string(&path) {
            Ok(p) => Ok(Some(Secret::new(p.trim().to_owned()))),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && create => {
                let mut bytes = [0u8; 24];
                getrandom::fill(&mut bytes).map_err(|e| LocalError::Io {
                    path: path.clone(),
                    source: std::io::Error::other(e.to_string()),
                })?;
                let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
                write_atomic(&path, hex.as_bytes(), 0o600)?;
                Ok(Some(Secret::new(hex)))
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(LocalError::Io { path, source: e }),
        }
    }

    pub fn remove(&self) -> Result<(), LocalError> {
        if !self.path.join(MARKER).exists() {
            return Ok(());
        }
        match fs::remove_dir_all(&self.path) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(LocalError::Io {
                path: self.path.clone(),
                source: e,
            }),
        }
    }
}

/// Write to a temporary file with `mode`, then rename: a reader never sees half a file, and a
/// secret is never readable by others, not even for a moment.
pub fn write_atomic(path: &Path, bytes: &[u8], mode: u32) -> Result<(), LocalError> {
    let tmp = path.with_extension("tmp");
    let _ = fs::remove_file(&tmp);
    let mut f = fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .open(&tmp)
        .map_err(LocalError::io(&tmp))?;
    f.write_all(bytes).map_err(LocalError::io(&tmp))?;
    f.sync_all().map_err(LocalError::io(&tmp))?;
    fs::rename(&tmp, path).map_err(LocalError::io(path))
}
