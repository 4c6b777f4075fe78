//! One error type for the crate; every variant names the object or field a human must fix.

use redis_stretch_api::Problems;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("the RedisStretchCluster has no metadata.name")]
    MissingName,
    #[error("RedisStretchCluster `{name}` is invalid: {problems}")]
    Invalid { name: String, problems: Problems },
    #[error("{field}: `{value}` is not a Kubernetes quantity ({why}); write e.g. `500m` or `1Gi`")]
    Quantity {
        field: String,
        value: String,
        why: String,
    },
    #[error("StatefulSet name `{name}` is {len} characters; Kubernetes allows at most {max} (the controller-revision-hash label adds a suffix): shorten metadata.name or the zone name")]
    NameTooLong {
        name: String,
        len: usize,
        max: usize,
    },
    #[error("cannot lay out the shards: {0}")]
    Topology(#[from] redis_stretch_topology::PlanError),
    #[error("nodes file: {0}; expected the output of `kubectl get nodes -o json`")]
    Nodes(String),
    #[error("cannot read the RedisStretchCluster: {0}")]
    // Boxed: serde-saphyr's errors are large, and this one travels inside every caller's.
    Parse(Box<serde_saphyr::Error>),
    #[error("cannot write {what} as YAML: {source}")]
    Yaml {
        what: String,
        source: Box<serde_saphyr::SerializeError>,
    },
    #[error("cannot write {what} as JSON: {source}")]
    Json {
        what: String,
        source: serde_json::Error,
    },
}

impl Error {
    /// A bounded label for metrics; never the message itself.
    pub fn category(&self) -> &'static str {
        match self {
            Error::MissingName
            | Error::Invalid { .. }
            | Error::Quantity { .. }
            | Error::Parse(_) => "invalid_spec",
            Error::NameTooLong { .. } => "name_too_long",
            Error::Topology(_) => "topology",
            Error::Nodes(_) => "nodes_file",
            Error::Yaml { .. } | Error::Json { .. } => "serialize",
        }
    }
}
