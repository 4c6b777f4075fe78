//! Build: the manifests of the validated cluster, by the `redis-stretch-k8s` renderer (pure:
//! no API call, nothing read but the validated value).

use redis_stretch_k8s::Rendered;

use super::validate::Validated;
use crate::error::Error;

pub fn render(valid: &Validated) -> Result<Rendered, Error> {
    redis_stretch_k8s::render::render_validated(valid.cluster.clone()).map_err(|source| {
        Error::Build {
            cluster: valid.key.clone(),
            source,
        }
    })
}
