//! Build: the manifests of the validated cluster, by the `redis-stretch-k8s` renderer (pure:
//! no API call, nothing read but the validated value).

use k8s_openapi::api::apps::v1::StatefulSetUpdateStrategy;
use redis_stretch_k8s::{NetworkAccess, Rendered};

use super::validate::Validated;
use crate::error::Error;

/// On the Redis pods' template: the `resourceVersion` of the password Secret they read their
/// password from (environment: the exporter, the preStop hook, the readiness probe). A new
/// password makes them outdated; the engine rotates the servers' passwords first (the
/// credentials rule comes before the rollout) and then restarts the pods one at a time.
pub const PASSWORD_VERSION_ANNOTATION: &str = "redis-stretch.io/password-version";

pub fn render(
    valid: &Validated,
    password_version: Option<&str>,
    network: Option<&NetworkAccess>,
) -> Result<Rendered, Error> {
    let mut rendered =
        redis_stretch_k8s::render::render_validated(valid.cluster.clone()).map_err(|source| {
            Error::Build {
                cluster: valid.key.clone(),
                source,
            }
        })?;
    if let Some(access) = network {
        rendered = rendered.with_network_policy(access);
    }
    if let Some(version) = password_version {
        for s in &mut rendered.stateful_sets {
            if let Some(spec) = s.spec.as_mut() {
                spec.template
                    .metadata
                    .get_or_insert_with(Default::default)
                    .annotations
                    .get_or_insert_with(Default::default)
                    .insert(PASSWORD_VERSION_ANNOTATION.to_owned(), version.to_owned());
            }
        }
    }
    if valid.rolling_update {
        // The measuring knob (`UPDATE_STRATEGY_ANNOTATION`): the StatefulSet controller rolls.
        for s in &mut rendered.stateful_sets {
            if let Some(spec) = s.spec.as_mut() {
                spec.update_strategy = Some(StatefulSetUpdateStrategy {
                    type_: Some("RollingUpdate".to_owned()),
                    rolling_update: None,
                });
            }
        }
    }
    Ok(rendered)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::panic)]
    use super::*;
    use crate::reconcile::validate::{validate, Validation};
    use redis_stretch_api::RedisStretchCluster;

    fn seed() -> Validated {
        let yaml = std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../examples/k8s/seed.yaml"
        ))
        .unwrap();
        let mut cr: RedisStretchCluster = serde_saphyr::from_str(&yaml).unwrap();
        cr.metadata.uid = Some("a-uid".into());
        match validate(&cr, "redis").unwrap() {
            Validation::Valid(v) => *v,
            Validation::Invalid(p) => panic!("{p:?}"),
        }
    }

    /// A new password (a new Secret version) changes every Redis pod template, so the engine
    /// rolls the pods once it has rotated the servers' passwords; the same version changes
    /// nothing.
    #[test]
    fn the_password_secrets_version_is_on_every_redis_pod_template() {
        let v = seed();
        let at = |version: &str| {
            render(&v, Some(version), None)
                .unwrap()
                .stateful_sets
                .iter()
                .map(|s| {
                    s.spec
                        .as_ref()
                        .unwrap()
                        .template
                        .metadata
                        .as_ref()
                        .unwrap()
                        .annotations
                        .as_ref()
                        .unwrap()[PASSWORD_VERSION_ANNOTATION]
                        .clone()
                })
                .collect::<Vec<_>>()
        };
        let one = at("41");
        assert!(!one.is_empty() && one.iter().all(|a| a == "41"), "{one:?}");
        assert!(at("42").iter().all(|a| a == "42"));
        let none = render(&v, None, None).unwrap();
        assert!(none.stateful_sets.iter().all(|s| s
            .spec
            .as_ref()
            .unwrap()
            .template
            .metadata
            .as_ref()
            .and_then(|m| m.annotations.as_ref())
            .is_none_or(|a| !a.contains_key(PASSWORD_VERSION_ANNOTATION))));
    }
}
