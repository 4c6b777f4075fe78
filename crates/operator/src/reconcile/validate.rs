//! Validate: the raw resource in, [`Validated`] out — the same spec checks local mode applies,
//! plus what later steps need from the object itself (namespace, owner, generation). Nothing
//! after this step re-checks the basics or reads the spec from the raw resource.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference;
use kube::{Resource, ResourceExt};
use redis_stretch_api::{Problems, RedisStretchCluster, ValidatedCluster};

use crate::context::UPDATE_STRATEGY_ANNOTATION;
use crate::error::{cluster_key, Error};

/// What every step after validation reads.
pub struct Validated {
    pub cluster: ValidatedCluster,
    pub namespace: String,
    /// The controller reference every object the cluster owns carries, so that deleting the
    /// cluster deletes them.
    pub owner: OwnerReference,
    pub generation: Option<i64>,
    /// `namespace/name`, naming the cluster in errors.
    pub key: String,
    /// The StatefulSets' `RollingUpdate` instead of `OnDelete`, asked by the
    /// [`crate::context::UPDATE_STRATEGY_ANNOTATION`]: for measuring what the StatefulSet controller's own
    /// rollout does (issue 17's baseline), never for production.
    pub rolling_update: bool,
}

pub enum Validation {
    Valid(Box<Validated>),
    /// Problems in the spec: a condition and an Event for the user, not an error to retry.
    Invalid(Problems),
}

pub fn validate(cr: &RedisStretchCluster, namespace: &str) -> Result<Validation, Error> {
    let key = cluster_key(namespace, &cr.name_any());
    let cluster = match redis_stretch_k8s::cluster::validated(cr) {
        Ok(c) => c,
        Err(redis_stretch_k8s::Error::Invalid { problems, .. }) => {
            return Ok(Validation::Invalid(problems))
        }
        Err(source) => {
            return Err(Error::Validate {
                cluster: key,
                source,
            })
        }
    };
    let owner = cr
        .controller_owner_ref(&())
        .ok_or(Error::MissingMeta("metadata.uid"))?;
    Ok(Validation::Valid(Box::new(Validated {
        cluster,
        namespace: namespace.to_owned(),
        owner,
        generation: cr.meta().generation,
        key,
        rolling_update: cr
            .annotations()
            .get(UPDATE_STRATEGY_ANNOTATION)
            .is_some_and(|v| v == "RollingUpdate"),
    })))
}
