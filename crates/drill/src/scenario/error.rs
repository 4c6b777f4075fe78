use crate::DrillError;

/// Why a drill scenario could not run or finish. Lost writes are not an error here: they are
/// the report's measurement.
#[derive(Debug, thiserror::Error)]
pub enum ScenarioError<E: std::error::Error + 'static> {
    /// The platform failed (reading the cluster, taking a zone down, bringing it back).
    #[error(transparent)]
    Platform(E),
    #[error("--zone {0}: not a zone of this cluster")]
    UnknownZone(String),
    /// Refused as unsafe or meaningless.
    #[error("a live engine runs on this cluster; baselines need Redis alone: start the cluster with `local up --no-engine`")]
    LiveEngine,
    /// The cluster did not reach a state in time.
    #[error("drill: not {what} after {secs}s; engine waiting for: {engine}")]
    NotReached {
        what: &'static str,
        secs: u64,
        /// What the engine reported waiting for, or `no engine status`.
        engine: String,
    },
    /// Plain Redis's baseline could not open an instance's fence.
    #[error("plain-Redis baseline: could not open the fence of {instance}: {error}")]
    OpenFences { instance: String, error: String },
    /// A lab fault could not be set up (loading data, changing the password, ...).
    #[error("lab: {0}")]
    Lab(String),
    #[error(transparent)]
    Drill(#[from] DrillError),
    #[error("{path}: {source}")]
    Svg {
        path: std::path::PathBuf,
        #[source]
        source: std::io::Error,
    },
}
