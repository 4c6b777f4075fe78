use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum LocalError {
    #[error("`redis-server` not found on PATH; install it with `sudo apt-get install redis-server` (Debian/Ubuntu) or `brew install redis` (macOS)")]
    RedisServerMissing,
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("state file {path} is unreadable: {why}; remove the directory if nothing of ours runs there")]
    BadState { path: PathBuf, why: String },
    #[error(
        "no local cluster in {0}; start one with `redis-stretch local up -f FILE --state-dir {0}`"
    )]
    NoCluster(PathBuf),
    #[error("{0}")]
    Refused(String),
    /// Another process runs the engine over this cluster (it holds `engine.lock`).
    #[error("{holder} already acts on the cluster in {dir} (it holds {dir}/engine.lock); one engine per cluster, so this one does not start")]
    EngineBusy { dir: PathBuf, holder: crate::Holder },
    /// A detached engine exited at start.
    #[error(
        "the detached engine (pid {pid}) exited at start\n--- last lines of {log} ---\n{tail}"
    )]
    EngineStart {
        pid: u32,
        log: PathBuf,
        tail: String,
    },
    #[error("{0}")]
    Usage(String),
    /// `local apply` of a change a running local cluster cannot take.
    #[error("local mode cannot apply this change to a running cluster:\n{}", .0.join("\n"))]
    CannotApply(Vec<String>),
    /// A password rotation that could not finish (both passwords still work).
    #[error("password rotation: {0}")]
    Rotation(String),
    #[error("no free port pair (port and port+10000) on {host} from {from}")]
    NoFreePort { host: String, from: u16 },
    #[error("instance {name} ({addr}) did not start: {why}\n--- last lines of {log} ---\n{tail}")]
    StartFailed {
        name: String,
        addr: String,
        why: String,
        log: PathBuf,
        tail: String,
    },
    #[error("cannot signal pid {pid}: {source}")]
    Signal {
        pid: u32,
        #[source]
        source: nix::Error,
    },
    #[error(transparent)]
    Plan(#[from] redis_stretch_topology::PlanError),
    #[error("bootstrap failed: {0}")]
    Bootstrap(String),
    #[error(transparent)]
    Admin(#[from] redis_stretch_admin::AdminError),
    /// The network lab (`--netns`, `cut`, `heal`, `blip --signal cut`) cannot run here.
    #[error("the network lab needs {0}")]
    LabUnavailable(String),
    #[error("`{command}` failed: {why}")]
    Command { command: String, why: String },
}

impl LocalError {
    pub fn io(path: impl Into<PathBuf>) -> impl FnOnce(std::io::Error) -> LocalError {
        let path = path.into();
        move |source| LocalError::Io { path, source }
    }

    /// Exit code by the CLI's convention: 2 bad input or usage, 3 refused as unsafe, 1 the rest.
    pub fn exit_code(&self) -> u8 {
        match self {
            LocalError::Refused(_) | LocalError::EngineBusy { .. } => 3,
            LocalError::NoCluster(_)
            | LocalError::Plan(_)
            | LocalError::Usage(_)
            | LocalError::CannotApply(_)
            | LocalError::LabUnavailable(_) => 2,
            _ => 1,
        }
    }
}
