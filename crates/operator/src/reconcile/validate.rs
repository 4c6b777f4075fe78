//! Validate: the raw resource in, a [`ValidatedCluster`] out — the same checks local mode
//! applies, so nothing after this step re-checks the basics.

use redis_stretch_api::{RedisStretchCluster, ValidatedCluster};

use crate::error::Error;

pub fn validate(cr: &RedisStretchCluster) -> Result<ValidatedCluster, Error> {
    let cluster = match redis_stretch_k8s::cluster::validated(cr) {
        Ok(c) => c,
        Err(redis_stretch_k8s::Error::Invalid { problems, .. }) => {
            return Err(Error::Invalid(problems))
        }
        Err(e) => return Err(Error::Render(e)),
    };
    // `render` can write a TLS-only Redis, but the engine's admin connections are plain TCP:
    // applying it would leave a cluster that never forms and that no engine protects. Refuse
    // it here, where the user sees why, rather than half-run it.
    if cluster.spec().tls.enabled {
        return Err(Error::Unsupported {
            field: "spec.tls.enabled",
            why: "the operator's engine cannot manage a TLS-only cluster yet (its admin connections are plain TCP); set it to false".to_owned(),
        });
    }
    Ok(cluster)
}
