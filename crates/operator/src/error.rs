//! The operator's errors: one enum, each variant with what a human needs to act on it (which
//! object, which step), and a bounded [`Error::category`] for metric labels.

use redis_stretch_api::Problems;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The spec failed validation: nothing is applied; the problems go to a condition and an
    /// Event.
    #[error("{0}")]
    Invalid(Problems),
    /// Rendering failed for a reason validation cannot see (a quantity, a name too long).
    #[error("{0}")]
    Render(#[from] redis_stretch_k8s::Error),
    #[error("{verb} {kind} `{name}`: {source}")]
    Kube {
        verb: &'static str,
        kind: &'static str,
        name: String,
        #[source]
        source: kube::Error,
    },
    #[error("Secret `{name}` has no key `{key}`: add the {what} under that key")]
    SecretKey {
        name: String,
        key: String,
        what: &'static str,
    },
    #[error("Secret `{name}` (spec.tls.secretName) does not exist: create it (cert-manager's Certificate does) with `ca.crt`, `tls.crt` and `tls.key`")]
    TlsSecretMissing { name: String },
    #[error("Secret `{name}` (spec.auth.secretName) does not exist: create it with the password under key `password`, or remove spec.auth.secretName to have one generated")]
    SecretMissing { name: String },
    #[error("cannot generate a password: {0}")]
    Random(String),
    #[error("the RedisStretchCluster has no {0}")]
    MissingMeta(&'static str),
    #[error("finalizer: {0}")]
    Finalizer(String),
}

impl Error {
    pub fn kube(verb: &'static str, kind: &'static str, name: &str, source: kube::Error) -> Self {
        Self::Kube {
            verb,
            kind,
            name: name.to_owned(),
            source,
        }
    }

    /// A bounded label for metrics; never the message itself.
    pub fn category(&self) -> &'static str {
        match self {
            Error::Invalid(_) => "invalid_spec",
            Error::Render(e) => e.category(),
            Error::Kube { .. } => "kube_api",
            Error::SecretKey { .. }
            | Error::SecretMissing { .. }
            | Error::TlsSecretMissing { .. } => "secret",
            Error::Random(_) => "random",
            Error::MissingMeta(_) => "invalid_object",
            Error::Finalizer(_) => "finalizer",
        }
    }

    /// Errors that retrying will not fix: the user must change something.
    pub fn needs_user(&self) -> bool {
        matches!(
            self,
            Error::Invalid(_)
                | Error::Render(_)
                | Error::SecretKey { .. }
                | Error::SecretMissing { .. }
                | Error::TlsSecretMissing { .. }
                | Error::MissingMeta(_)
        )
    }

    /// `404 Not Found` from the API server.
    pub fn is_not_found(e: &kube::Error) -> bool {
        matches!(e, kube::Error::Api(s) if s.code == 404)
    }
}
