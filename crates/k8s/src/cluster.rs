//! The validate step: custom resource in, [`ValidatedCluster`] out, so that rendering and
//! planning read only a cluster that passed every check local mode applies too.

use redis_stretch_api::{
    validate, Manifest, ObjectMeta, RedisStretchCluster, ValidatedCluster, API_VERSION, KIND,
};

use crate::error::Error;
use crate::quantity;

pub fn validated(cr: &RedisStretchCluster) -> Result<ValidatedCluster, Error> {
    let name = cr.metadata.name.clone().ok_or(Error::MissingName)?;
    let manifest = Manifest {
        api_version: API_VERSION.to_owned(),
        kind: KIND.to_owned(),
        metadata: ObjectMeta {
            name: name.clone(),
            namespace: cr.metadata.namespace.clone(),
        },
        spec: cr.spec.clone(),
    };
    let cluster = validate(manifest).map_err(|problems| Error::Invalid {
        name: name.clone(),
        problems,
    })?;
    // Kubernetes pods have a memory limit, which `maxmemory` is derived from or checked
    // against. An unreadable limit is named by the render's quantity check instead.
    let limit = &cluster.spec().kubernetes.resources.memory;
    match quantity::bytes(limit) {
        Ok(bytes) => {
            let limit = limit.clone();
            cluster
                .with_memory_limit(&limit, u64::try_from(bytes).unwrap_or(u64::MAX))
                .map_err(|problems| Error::Invalid { name, problems })
        }
        Err(_) => Ok(cluster),
    }
}

/// Parse a custom resource from YAML or JSON (`render -f cr.yaml`).
pub fn parse(text: &str) -> Result<RedisStretchCluster, Error> {
    serde_saphyr::from_str(text).map_err(|e| Error::Parse(Box::new(e)))
}
