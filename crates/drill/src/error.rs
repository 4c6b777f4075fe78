use std::time::Duration;

/// Errors of the drill workload. Write failures *during* a drill are not errors: they are the
/// measurement and end up in [`crate::WriteOutcome`]. These are the failures that stop a drill from
/// being measured at all.
#[derive(Debug, thiserror::Error)]
pub enum DrillError {
    #[error("invalid drill configuration: {0}")]
    Config(String),
    #[error("cannot build a cluster client for seeds {seeds}: {source}")]
    Client {
        seeds: String,
        #[source]
        source: redis::RedisError,
    },
    #[error("cannot connect to the cluster through seeds {seeds} within {timeout:?}: {why}")]
    Connect {
        seeds: String,
        timeout: Duration,
        why: String,
    },
    #[error("cannot read the slot layout (`CLUSTER SLOTS`): {0}")]
    Topology(String),
    #[error("readback of {keys} acknowledged keys failed: {why}")]
    Readback { keys: usize, why: String },
    #[error("a drill task ended abnormally: {0}")]
    Task(String),
}

impl DrillError {
    /// A bounded label for metrics and logs.
    pub fn category(&self) -> &'static str {
        match self {
            Self::Config(_) => "config",
            Self::Client { .. } => "client",
            Self::Connect { .. } => "connect",
            Self::Topology(_) => "topology",
            Self::Readback { .. } => "readback",
            Self::Task(_) => "task",
        }
    }
}
