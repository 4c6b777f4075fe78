use std::time::Duration;

use crate::NodeAddr;

/// Why a reply could not be read.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("line {line}: {message}")]
pub struct ParseError {
    pub line: usize,
    pub message: String,
}

impl ParseError {
    pub fn new(line: usize, message: impl Into<String>) -> Self {
        Self {
            line,
            message: message.into(),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum AdminError {
    #[error("{node}: cannot connect: {source}")]
    Connect {
        node: NodeAddr,
        #[source]
        source: redis::RedisError,
    },
    #[error("{node}: `{command}` timed out after {timeout:?}")]
    Timeout {
        node: NodeAddr,
        command: String,
        timeout: Duration,
    },
    #[error("{node}: `{command}` failed: {source}")]
    Command {
        node: NodeAddr,
        command: String,
        #[source]
        source: redis::RedisError,
    },
    #[error("{node}: could not read the reply to `{command}`: {source}")]
    Parse {
        node: NodeAddr,
        command: String,
        #[source]
        source: ParseError,
    },
}

impl AdminError {
    /// A bounded label for metrics and exit-code decisions.
    pub fn category(&self) -> &'static str {
        match self {
            AdminError::Connect { .. } => "connect",
            AdminError::Timeout { .. } => "timeout",
            AdminError::Command { .. } => "command",
            AdminError::Parse { .. } => "parse",
        }
    }

    pub fn node(&self) -> &NodeAddr {
        match self {
            AdminError::Connect { node, .. }
            | AdminError::Timeout { node, .. }
            | AdminError::Command { node, .. }
            | AdminError::Parse { node, .. } => node,
        }
    }

    /// True when the node did not answer at all (down, frozen, or unreachable). A node that
    /// answers with an error (`WRONGPASS`, `NOAUTH`, `LOADING`, a reply we cannot read) is
    /// alive: taking it for silence would make a password change look like a dark zone.
    pub fn is_unreachable(&self) -> bool {
        match self {
            AdminError::Timeout { .. } => true,
            AdminError::Connect { source, .. } | AdminError::Command { source, .. } => {
                no_answer(source)
            }
            AdminError::Parse { .. } => false,
        }
    }
}

impl AdminError {
    /// The node refused the password (`WRONGPASS`, `NOAUTH`, or the client's own
    /// authentication error): another password may work.
    pub fn is_auth_failure(&self) -> bool {
        match self {
            AdminError::Connect { source, .. } | AdminError::Command { source, .. } => {
                source.kind() == redis::ErrorKind::AuthenticationFailed
                    || matches!(source.code(), Some("WRONGPASS" | "NOAUTH"))
            }
            AdminError::Timeout { .. } | AdminError::Parse { .. } => false,
        }
    }
}

/// The error is the transport's (refused, reset, timed out, closed): nothing came back.
fn no_answer(e: &redis::RedisError) -> bool {
    e.is_io_error() || e.is_connection_dropped() || e.is_timeout() || e.is_connection_refusal()
}
