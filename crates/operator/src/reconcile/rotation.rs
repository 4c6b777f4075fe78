//! Dereference, around a password change: the password the Secret's new one replaces. The
//! engine must keep it until every instance accepts only the new one (the rotation itself is
//! the engine's, `rules/credentials.rs` of the decide crate): an engine restarted with the new
//! password alone would be locked out of instances that still require the old one.
//!
//! The old password is what the running engine uses when the Secret changes. It is kept in an
//! operator-owned Secret, `<name>-auth-previous` (owned by the cluster, key `password`), so
//! that a restarted operator or a new Lease holder finds it, and deleted once the engine
//! reports the rotation done. No API call in the steady state: the Secret is read only while
//! the running engine's password differs from the Secret's or it has a previous one, or when
//! the engine sees an instance refuse its password or hold one it does not know (a new leader
//! mid-rotation).

use k8s_openapi::api::core::v1::Secret as KubeSecret;
use kube::api::{DeleteParams, PostParams};
use kube::Api;
use redis_stretch_admin::Secret;
use redis_stretch_k8s::names::PASSWORD_KEY;

use super::validate::Validated;
use crate::context::Context;
use crate::error::{Error, KubeError, SecretError};

/// Name of the Secret that keeps the previous password during a rotation.
pub fn previous_secret_name(valid: &Validated) -> String {
    format!("{}-auth-previous", valid.cluster.name())
}

/// The previous password the engine must also know, if a rotation is under way.
pub async fn previous(
    ctx: &Context,
    valid: &Validated,
    current: Option<&Secret>,
) -> Result<Option<Secret>, Error> {
    previous_of(ctx, valid, current)
        .await
        .map_err(|source| Error::Password {
            cluster: valid.key.clone(),
            source,
        })
}

async fn previous_of(
    ctx: &Context,
    valid: &Validated,
    current: Option<&Secret>,
) -> Result<Option<Secret>, SecretError> {
    let Some(current) = current else {
        return Ok(None);
    };
    let (ns, name) = (valid.namespace.as_str(), valid.cluster.name());
    let running = ctx.engines.passwords(ns, name);
    let report = ctx.engines.report(ns, name);
    let changed = running
        .as_ref()
        .and_then(|(c, _)| c.as_ref())
        .filter(|c| *c != current)
        .cloned();
    let rotating = running.as_ref().is_some_and(|(_, p)| p.is_some());
    // A new leader (or a restarted operator) mid-rotation: its engine, given only the new
    // password, meets instances that refuse it or still hold another.
    let locked_out = report
        .as_ref()
        .and_then(|r| r.snapshot.as_ref())
        .is_some_and(|s| {
            s.nodes.iter().any(|n| {
                (n.refuses
                    && n.error.as_deref().is_some_and(|e| {
                        e.contains("WRONGPASS")
                            || e.contains("NOAUTH")
                            || e.contains("uthentication")
                    }))
                    || n.auth.as_ref().is_some_and(|a| a.others > 0)
            })
        });
    if changed.is_none() && !rotating && !locked_out {
        return Ok(None);
    }
    let secret_name = previous_secret_name(valid);
    let api: Api<KubeSecret> = Api::namespaced(ctx.client.clone(), ns);
    let stored = api
        .get_opt(&secret_name)
        .await
        .map_err(|e| KubeError::new("get", "Secret", &secret_name, e))?
        .and_then(|s| read(&s));
    let done = report
        .as_ref()
        .and_then(|r| r.snapshot.as_ref())
        .is_some_and(redis_stretch_engine::Snapshot::rotation_done);
    // Done counts only for an engine that knows the stored password: one given the new
    // password alone sees the old one as "another" and calls that settled.
    let done = done && rotating;
    match (stored, changed) {
        // The Secret changed again under a rotation that is not done: the instances may hold
        // neither of the two passwords the engine would get. The engine keeps going with the
        // pair it has; the new password is taken once it is done.
        (Some(_), Some(_)) if !done => Err(SecretError::Rotating { name: secret_name }),
        // That rotation is done: the running engine's password is the one to replace now.
        (Some(_), Some(old)) => {
            delete(&api, &secret_name).await?;
            store(&api, valid, &secret_name, &old).await?;
            Ok(Some(old))
        }
        // Done, or left behind by a change that was undone: the engine needs only the new one.
        (Some(p), None) if done || p == *current => {
            delete(&api, &secret_name).await?;
            Ok(None)
        }
        (Some(p), None) => Ok(Some(p)),
        // Stored before the engine restarts with the new password: should this operator stop
        // now, the next one finds it.
        (None, Some(old)) => {
            store(&api, valid, &secret_name, &old).await?;
            Ok(Some(old))
        }
        (None, None) => Ok(None),
    }
}

fn read(s: &KubeSecret) -> Option<Secret> {
    let bytes = s.data.as_ref()?.get(PASSWORD_KEY)?.0.clone();
    let text = String::from_utf8(bytes).ok()?;
    (!text.is_empty()).then(|| Secret::new(text))
}

async fn store(
    api: &Api<KubeSecret>,
    valid: &Validated,
    name: &str,
    password: &Secret,
) -> Result<(), SecretError> {
    let secret = super::secret::password_secret(valid, name, password.expose().to_owned());
    api.create(&PostParams::default(), &secret)
        .await
        .map(|_| ())
        .map_err(|e| KubeError::new("create", "Secret", name, e).into())
}

async fn delete(api: &Api<KubeSecret>, name: &str) -> Result<(), SecretError> {
    match api.delete(name, &DeleteParams::default()).await {
        Ok(_) => Ok(()),
        Err(e) if KubeError::is_not_found(&e) => Ok(()),
        Err(e) => Err(KubeError::new("delete", "Secret", name, e).into()),
    }
}

/// The names of the Secrets a cluster reads: a change of any of them is reconciled at once
/// (the password, the TLS material).
pub fn watched_secrets(cluster: &redis_stretch_api::RedisStretchCluster) -> Vec<String> {
    let mut names = Vec::new();
    let spec = &cluster.spec;
    if spec.auth.enabled {
        names.push(
            spec.auth
                .secret_name
                .clone()
                .unwrap_or_else(|| format!("{}-auth", kube::ResourceExt::name_any(cluster))),
        );
    }
    if spec.tls.enabled {
        names.extend(spec.tls.secret_name.clone());
    }
    names
}
