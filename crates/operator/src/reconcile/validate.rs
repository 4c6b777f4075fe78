//! Validate: the raw resource in, a [`ValidatedCluster`] out — the same checks local mode
//! applies, so nothing after this step re-checks the basics.

use redis_stretch_api::{RedisStretchCluster, ValidatedCluster};

use crate::error::Error;

pub fn validate(cr: &RedisStretchCluster) -> Result<ValidatedCluster, Error> {
    match redis_stretch_k8s::cluster::validated(cr) {
        Ok(c) => Ok(c),
        Err(redis_stretch_k8s::Error::Invalid { problems, .. }) => Err(Error::Invalid(problems)),
        Err(e) => Err(Error::Render(e)),
    }
}
