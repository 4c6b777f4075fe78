//! CLI errors and exit codes: 0 done, 1 runtime failure, 2 bad input or usage, 3 refused as
//! unsafe.

use redis_stretch_api::Problems;
use redis_stretch_local::LocalError;

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
