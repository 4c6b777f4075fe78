//! CLI errors and exit codes: 0 done, 1 runtime failure, 2 bad input or usage, 3 refused as
//! unsafe.

use redis_stretch_api::Problems;
use redis_stretch_drill::ScenarioError;
use redis_stretch_local::{LocalError, StateDir};

#[derive(Debug, thiserror::Error)]
pub enum CliError {
    #[error("{0}")]
    Usage(String),
    #[error("{file}: {problems}")]
    Manifest { file: String, problems: Problems },
    /// Refused as unsafe (exit code 3).
    #[error("refused: {0}")]
    Refused(String),
    #[error(transparent)]
    Local(#[from] LocalError),
    #[error(transparent)]
    Admin(#[from] redis_stretch_admin::AdminError),
    #[error("{0}")]
    Runtime(String),
}

impl CliError {
    pub fn exit_code(&self) -> u8 {
        match self {
            CliError::Usage(_) | CliError::Manifest { .. } => 2,
            CliError::Refused(_) => 3,
            CliError::Local(e) => e.exit_code(),
            CliError::Admin(_) | CliError::Runtime(_) => 1,
        }
    }
}

impl CliError {
    /// A drill on the local cluster in `dir` that could not run or finish.
    pub fn drill(e: ScenarioError<LocalError>, dir: &StateDir) -> Self {
        match e {
            ScenarioError::Platform(e) => CliError::Local(e),
            ScenarioError::UnknownZone(_) => CliError::Usage(e.to_string()),
            ScenarioError::LiveEngine => CliError::Refused(e.to_string()),
            ScenarioError::NotReached { .. } => CliError::Runtime(format!(
                "{e}; see `redis-stretch status --state-dir {}`",
                dir.path().display()
            )),
            ScenarioError::Drill(_)
            | ScenarioError::Svg { .. }
            | ScenarioError::OpenFences { .. }
            | ScenarioError::Lab(_) => CliError::Runtime(e.to_string()),
        }
    }
}
