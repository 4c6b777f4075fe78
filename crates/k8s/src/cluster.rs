//! The validate step: custom resource in, [`ValidatedCluster`] out, so that rendering and
//! planning read only a cluster that passed every check local mode applies too.

use redis_stretch_api::{
    validate, Manifest, ObjectMeta, RedisStretchCluster, ValidatedCluster, API_VERSION, KIND,
};

use crate::error::Error;

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
    validate(manifest).map_err(|problems| Error::Invalid { name, problems })
}

/// Parse a custom resource from YAML or JSON (`render -f cr.yaml`).
pub fn parse(text: &str) -> Result<RedisStretchCluster, Error> {
    serde_yaml::from_str(text).map_err(Error::Parse)
}
