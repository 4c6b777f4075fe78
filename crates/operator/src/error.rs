//! The operator's errors. [`Error`] has one variant per reconcile step, naming the cluster
//! (`namespace/name`) and the step, around the cause a human acts on ([`KubeError`],
//! [`SecretError`], the renderer's); [`Error::category`] is a bounded metric label.

use crate::reason::Reason;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("the RedisStretchCluster has no {0}")]
    MissingMeta(&'static str),
    /// Validation failed for a reason that is not a problem list (those are a condition and an
    /// Event, not an error).
    #[error("validate `{cluster}`: {source}")]
    Validate {
        cluster: String,
        #[source]
        source: redis_stretch_k8s::Error,
    },
    #[error("password of `{cluster}`: {source}")]
    Password {
        cluster: String,
        #[source]
        source: SecretError,
    },
    #[error("TLS CA of `{cluster}`: {source}")]
    Tls {
        cluster: String,
        #[source]
        source: SecretError,
    },
    /// Rendering failed for a reason validation cannot see (a quantity, a name too long).
    #[error("render `{cluster}`: {source}")]
    Build {
        cluster: String,
        #[source]
        source: redis_stretch_k8s::Error,
    },
    #[error("apply `{cluster}`: {source}")]
    Apply {
        cluster: String,
        #[source]
        source: KubeError,
    },
    /// The watch caches of owned objects did not fill in time (a new term, a slow API server):
    /// applying from an empty cache could undo a scale-in's held replicas, so nothing is.
    #[error("apply `{cluster}`: the caches of owned objects have not synced yet; retrying")]
    CachesNotReady { cluster: String },
    #[error("role labels of `{cluster}`: {source}")]
    Labels {
        cluster: String,
        #[source]
        source: KubeError,
    },
    #[error("status of `{cluster}`: {source}")]
    Status {
        cluster: String,
        #[source]
        source: KubeError,
    },
    #[error("cleanup of `{cluster}`: {source}")]
    Cleanup {
        cluster: String,
        #[source]
        source: KubeError,
    },
    #[error("finalizer: {0}")]
    Finalizer(String),
}

/// One API call that failed: what was done to which object.
#[derive(Debug, thiserror::Error)]
#[error("{verb} {kind} `{name}`: {source}")]
pub struct KubeError {
    pub verb: &'static str,
    pub kind: &'static str,
    pub name: String,
    /// Boxed: unboxed it would make every step's `Result` large (clippy's `result_large_err`).
    #[source]
    pub source: Box<kube::Error>,
}

/// Reading (or generating) a Secret the cluster needs.
#[derive(Debug, thiserror::Error)]
pub enum SecretError {
    #[error(transparent)]
    Kube(#[from] KubeError),
    #[error("Secret `{name}` has no key `{key}`: add the {what} under that key")]
    Key {
        name: String,
        key: String,
        what: &'static str,
    },
    #[error("Secret `{name}` (spec.tls.secretName) does not exist: create it (cert-manager's Certificate does) with `ca.crt`, `tls.crt` and `tls.key`")]
    TlsMissing { name: String },
    #[error("Secret `{name}` (spec.auth.secretName) does not exist: create it with the password under key `password`, or remove spec.auth.secretName to have one generated")]
    Missing { name: String },
    #[error("cannot generate a password: {0}")]
    Random(String),
    #[error("the password Secret changed again before the rotation to the previous change was done (`{name}` still holds the password before that): the engine finishes that rotation first, then takes the new password; see the cluster's status and Events")]
    Rotating { name: String },
}

impl KubeError {
    pub fn new(verb: &'static str, kind: &'static str, name: &str, source: kube::Error) -> Self {
        Self {
            verb,
            kind,
            name: name.to_owned(),
            source: Box::new(source),
        }
    }

    /// `404 Not Found` from the API server.
    pub fn is_not_found(e: &kube::Error) -> bool {
        matches!(e, kube::Error::Api(s) if s.code == 404)
    }

    /// `409 Conflict`: the object changed since the version the request named.
    pub fn is_conflict(&self) -> bool {
        matches!(&*self.source, kube::Error::Api(s) if s.code == 409)
    }
}

impl SecretError {
    fn category(&self) -> &'static str {
        match self {
            SecretError::Kube(_) => "kube_api",
            SecretError::Random(_) => "random",
            SecretError::Key { .. }
            | SecretError::Rotating { .. }
            | SecretError::TlsMissing { .. }
            | SecretError::Missing { .. } => "secret",
        }
    }

    fn needs_user(&self) -> bool {
        !matches!(self, SecretError::Kube(_) | SecretError::Random(_))
    }
}

impl Error {
    /// A bounded label for metrics: the kind of cause, never the message itself.
    pub fn category(&self) -> &'static str {
        match self {
            Error::MissingMeta(_) => "invalid_object",
            Error::Validate { source, .. } | Error::Build { source, .. } => source.category(),
            Error::Password { source, .. } | Error::Tls { source, .. } => source.category(),
            Error::Apply { .. }
            | Error::Labels { .. }
            | Error::Status { .. }
            | Error::Cleanup { .. } => "kube_api",
            Error::CachesNotReady { .. } => "cache",
            Error::Finalizer(_) => "finalizer",
        }
    }

    /// The reason `Ready=False` and the Warning Event give for this error, or `None` for the
    /// errors that show elsewhere: a refused apply has its own `Applied` condition, and a
    /// status that cannot be written cannot carry its own failure either.
    pub fn reason(&self) -> Option<Reason> {
        match self {
            Error::Apply { .. }
            | Error::CachesNotReady { .. }
            | Error::Status { .. }
            | Error::Cleanup { .. } => None,
            Error::MissingMeta(_) | Error::Finalizer(_) => Some(Reason::ReconcileFailed),
            Error::Validate { .. } | Error::Build { .. } => Some(Reason::RenderFailed),
            Error::Labels { .. } => Some(Reason::KubeApiError),
            Error::Password { source, .. } => Some(match source {
                SecretError::Missing { .. } | SecretError::Key { .. } => Reason::SecretMissing,
                SecretError::Rotating { .. } => Reason::PasswordRotating,
                SecretError::TlsMissing { .. } => Reason::TlsSecretMissing,
                SecretError::Kube(_) | SecretError::Random(_) => Reason::SecretUnavailable,
            }),
            Error::Tls { source, .. } => Some(match source {
                SecretError::Kube(_) | SecretError::Random(_) => Reason::SecretUnavailable,
                _ => Reason::TlsSecretMissing,
            }),
        }
    }

    /// Errors that retrying will not fix: the user must change something.
    pub fn needs_user(&self) -> bool {
        match self {
            Error::MissingMeta(_) | Error::Validate { .. } | Error::Build { .. } => true,
            Error::Password { source, .. } | Error::Tls { source, .. } => source.needs_user(),
            Error::Apply { .. }
            | Error::CachesNotReady { .. }
            | Error::Labels { .. }
            | Error::Status { .. }
            | Error::Cleanup { .. }
            | Error::Finalizer(_) => false,
        }
    }
}

/// How errors name a cluster: `namespace/name`.
pub fn cluster_key(namespace: &str, name: &str) -> String {
    format!("{namespace}/{name}")
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
    use super::*;

    /// The metric's label values are the cause's kind, whatever step it failed in.
    #[test]
    fn categories_are_the_causes_kind() {
        let password = |source| Error::Password {
            cluster: cluster_key("ns", "seed"),
            source,
        };
        let missing = password(SecretError::Missing {
            name: "mine".into(),
        });
        assert_eq!(missing.category(), "secret");
        assert!(missing.needs_user());
        assert!(missing
            .to_string()
            .starts_with("password of `ns/seed`: Secret `mine`"));
        let random = password(SecretError::Random("no entropy".into()));
        assert_eq!(random.category(), "random");
        assert!(!random.needs_user());
        assert_eq!(
            Error::MissingMeta("metadata.uid").category(),
            "invalid_object"
        );
    }

    /// What `Ready=False` says: the cause a human acts on, not the step it failed in.
    #[test]
    fn a_failed_step_names_its_cause_on_the_resource() {
        let password = |source| Error::Password {
            cluster: cluster_key("ns", "seed"),
            source,
        };
        let missing = password(SecretError::Missing {
            name: "mine".into(),
        });
        assert_eq!(missing.reason(), Some(Reason::SecretMissing));
        let key = password(SecretError::Key {
            name: "mine".into(),
            key: "password".into(),
            what: "password",
        });
        assert_eq!(key.reason(), Some(Reason::SecretMissing));
        let tls = Error::Tls {
            cluster: cluster_key("ns", "seed"),
            source: SecretError::TlsMissing { name: "tls".into() },
        };
        assert_eq!(tls.reason(), Some(Reason::TlsSecretMissing));
        let random = password(SecretError::Random("no entropy".into()));
        assert_eq!(random.reason(), Some(Reason::SecretUnavailable));
        // A refused apply has its own condition (`Applied`); a status that cannot be written
        // cannot say so in the status.
        let kube = || {
            KubeError::new(
                "patch",
                "StatefulSet",
                "seed",
                kube::Error::LinesCodecMaxLineLengthExceeded,
            )
        };
        let apply = Error::Apply {
            cluster: cluster_key("ns", "seed"),
            source: kube(),
        };
        assert_eq!(apply.reason(), None);
        let status = Error::Status {
            cluster: cluster_key("ns", "seed"),
            source: kube(),
        };
        assert_eq!(status.reason(), None);
    }
}
