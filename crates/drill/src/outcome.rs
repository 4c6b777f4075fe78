//! What happened to one write, and the classes of errors we tell apart.

use redis::{ErrorKind, RedisError, ServerErrorKind};
use serde::Serialize;

/// Why a write (or a probe) failed, from the client's side.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ErrorClass {
    /// `CLUSTERDOWN`: the node considers the cluster (or the slot) down.
    ClusterDown,
    /// `MOVED`/`ASK` still returned when the retry window ran out: the client's slot map did not
    /// converge (or a slot migration kept redirecting).
    MovedAsk,
    /// `NOREPLICAS`: the master is fenced by `min-replicas-to-write`.
    NoReplicas,
    /// No reply within the try's timeout: the node is frozen, dark or overloaded.
    Timeout,
    /// Connection refused, reset or closed: the node is dead or restarting.
    Io,
    /// `TRYAGAIN`, `MASTERDOWN`, `LOADING`, `READONLY`, `UNBLOCKED`: transient states around a
    /// failover.
    Transient,
    /// Anything else (auth, wrong type, a bug): never retried.
    Other,
}

impl ErrorClass {
    /// Whether the retry policy keeps trying. Everything a failover or a fence can cause is
    /// transient; `Other` (e.g. `NOAUTH`, `WRONGTYPE`) will not heal by waiting.
    pub fn is_transient(self) -> bool {
        !matches!(self, Self::Other)
    }

    /// Whether the client's slot map may point at a node that will never answer again. redis-rs
    /// 1.8 rebuilds its slot map on `MOVED`, `READONLY` and lost connections, but never on a
    /// timeout (see [`crate::connection`]), so these classes trigger our own refresh.
    pub fn suggests_stale_topology(self) -> bool {
        matches!(self, Self::Timeout | Self::Io | Self::ClusterDown)
    }

    pub fn label(self) -> &'static str {
        match self {
            Self::ClusterDown => "clusterdown",
            Self::MovedAsk => "moved/ask",
            Self::NoReplicas => "noreplicas",
            Self::Timeout => "timeout",
            Self::Io => "io",
            Self::Transient => "transient",
            Self::Other => "other",
        }
    }

    pub fn classify(err: &RedisError) -> Self {
        if err.is_timeout() {
            return Self::Timeout;
        }
        // NOREPLICAS is not a kind redis-rs knows: it arrives as an "extension" error.
        if err.code() == Some("NOREPLICAS") {
            return Self::NoReplicas;
        }
        // A `WAIT` blocked on a master that a graceful failover turns into a replica is released
        // with `UNBLOCKED ... (master -> replica?)`: the write is on the new master, and the retry
        // (same value, after MOVED) is how a client gets its acknowledgement.
        if err.code() == Some("UNBLOCKED") {
            return Self::Transient;
        }
        match err.kind() {
            ErrorKind::Server(kind) => match kind {
                ServerErrorKind::ClusterDown => Self::ClusterDown,
                ServerErrorKind::Moved | ServerErrorKind::Ask => Self::MovedAsk,
                ServerErrorKind::TryAgain
                | ServerErrorKind::MasterDown
                | ServerErrorKind::BusyLoading
                | ServerErrorKind::ReadOnly => Self::Transient,
                _ => Self::Other,
            },
            ErrorKind::Io | ErrorKind::ClusterConnectionNotFound => Self::Io,
            _ if err.is_connection_dropped() || err.is_connection_refusal() => Self::Io,
            _ => Self::Other,
        }
    }
}

/// The final result of one logical write.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "outcome", rename_all = "kebab-case")]
pub enum WriteOutcome {
    /// Plain writer: `SET` returned OK. WAIT writer: `SET` OK and `WAIT 1` counted ≥ 1 replica.
    Acked,
    /// WAIT writer only: `SET` OK but `WAIT 1 <ms>` reached no replica in time. The write
    /// may live on the master only; it is *not* acknowledged and not retried (a retry cannot
    /// bring the replica back).
    NotAcknowledged,
    /// Still erroring when the retry window ran out; `class` is the last try's error.
    Failed { class: ErrorClass },
}

impl WriteOutcome {
    pub fn is_failed(&self) -> bool {
        matches!(self, Self::Failed { .. })
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
    use super::*;

    fn server(msg: &str) -> RedisError {
        let v = redis::parse_redis_value(format!("-{msg}\r\n").as_bytes()).unwrap();
        v.extract_error().unwrap_err()
    }

    #[test]
    fn server_errors_map_to_classes() {
        assert_eq!(
            ErrorClass::classify(&server("CLUSTERDOWN The cluster is down")),
            ErrorClass::ClusterDown
        );
        assert_eq!(
            ErrorClass::classify(&server("MOVED 3999 127.0.0.1:6381")),
            ErrorClass::MovedAsk
        );
        assert_eq!(
            ErrorClass::classify(&server("ASK 3999 127.0.0.1:6381")),
            ErrorClass::MovedAsk
        );
        assert_eq!(
            ErrorClass::classify(&server("NOREPLICAS Not enough good replicas to write.")),
            ErrorClass::NoReplicas
        );
        assert_eq!(
            ErrorClass::classify(&server(
                "READONLY You can't write against a read only replica."
            )),
            ErrorClass::Transient
        );
        assert_eq!(
            ErrorClass::classify(&server(
                "UNBLOCKED force unblock from blocking operation, instance state changed (master -> replica?)"
            )),
            ErrorClass::Transient
        );
        assert_eq!(
            ErrorClass::classify(&server("WRONGTYPE Operation against a key")),
            ErrorClass::Other
        );
    }

    #[test]
    fn io_errors_map_to_classes() {
        let timeout = RedisError::from(std::io::Error::from(std::io::ErrorKind::TimedOut));
        assert_eq!(ErrorClass::classify(&timeout), ErrorClass::Timeout);
        let refused = RedisError::from(std::io::Error::from(std::io::ErrorKind::ConnectionRefused));
        assert_eq!(ErrorClass::classify(&refused), ErrorClass::Io);
    }
}
