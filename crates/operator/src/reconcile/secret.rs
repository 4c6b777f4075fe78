//! Dereference: the Secrets the spec names. The password: a Secret the user names must exist;
//! without a name the operator generates one (`<name>-auth`, owned by the cluster) the first
//! time and never rewrites it. The password only ever lives in that Secret, the pods'
//! in-memory auth file and this process's memory: never in a log line, an Event or the
//! status. With TLS on, the CA the engine trusts. Both are read through the Secret cache
//! (`owned::SecretReads`): a `get` only when the watched version changed.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::Secret as KubeSecret;
use kube::api::{ObjectMeta, PostParams};
use kube::Api;
use redis_stretch_admin::{Secret, Tls};
use redis_stretch_k8s::names::{Names, PASSWORD_KEY};

use super::validate::Validated;
use crate::context::Context;
use crate::error::{Error, KubeError, SecretError};

/// The cluster's password, creating the generated Secret when needed. `None` when auth is off.
pub async fn password(ctx: &Context, valid: &Validated) -> Result<Password, Error> {
    password_of(ctx, valid)
        .await
        .map_err(|source| Error::Password {
            cluster: valid.key.clone(),
            source,
        })
}

/// The password, and the `resourceVersion` of the Secret it was read from: the pods carry the
/// latter in their template, so that a changed password rolls them (after the engine's
/// rotation, which comes first) and their exporter and preStop hook take the new one from
/// their environment. The version says nothing about the password itself.
#[derive(Debug, Default)]
pub struct Password {
    pub secret: Option<Secret>,
    pub version: Option<String>,
}

async fn password_of(ctx: &Context, valid: &Validated) -> Result<Password, SecretError> {
    let spec = valid.cluster.spec();
    if !spec.auth.enabled {
        return Ok(Password::default());
    }
    let name = Names::new(&valid.cluster).auth_secret();
    let ns = valid.namespace.as_str();
    let api: Api<KubeSecret> = Api::namespaced(ctx.client.clone(), ns);
    let existing = ctx.secrets.get(&ctx.client, ns, &name).await?;
    let secret = match existing {
        Some(s) => s,
        None if spec.auth.secret_name.is_some() => return Err(SecretError::Missing { name }),
        None => {
            let generated = generated(valid, &name)?;
            let created = match api.create(&PostParams::default(), &generated).await {
                Ok(s) => s,
                // Created meanwhile (another reconcile, a human): use theirs, never overwrite.
                Err(kube::Error::Api(s)) if s.code == 409 => api
                    .get(&name)
                    .await
                    .map_err(|e| KubeError::new("get", "Secret", &name, e))?,
                Err(e) => return Err(KubeError::new("create", "Secret", &name, e).into()),
            };
            ctx.secrets.remember(ns, &name, Some(&created));
            created
        }
    };
    Ok(Password {
        secret: Some(read_password(&secret, &name)?),
        version: secret.metadata.resource_version.clone(),
    })
}

fn read_password(secret: &KubeSecret, name: &str) -> Result<Secret, SecretError> {
    let missing = || SecretError::Key {
        name: name.to_owned(),
        key: PASSWORD_KEY.to_owned(),
        what: "password",
    };
    let bytes = secret
        .data
        .as_ref()
        .and_then(|d| d.get(PASSWORD_KEY))
        .map(|b| b.0.clone())
        .or_else(|| {
            secret
                .string_data
                .as_ref()
                .and_then(|d| d.get(PASSWORD_KEY))
                .map(|s| s.clone().into_bytes())
        })
        .ok_or_else(missing)?;
    let text = String::from_utf8(bytes).map_err(|_| missing())?;
    let text = text.trim_end_matches('\n').to_owned();
    if text.is_empty() {
        return Err(missing());
    }
    Ok(Secret::new(text))
}

/// With TLS on: the CA the engine trusts, from the cluster's TLS Secret (`ca.crt`, as
/// cert-manager writes it), and a digest of the whole Secret's data: when cert-manager renews
/// it, the engine has the instances re-read their files. The instances' own certificate and
/// key stay in the pods.
pub async fn tls(ctx: &Context, valid: &Validated) -> Result<Option<(Tls, u64)>, Error> {
    tls_of(ctx, valid).await.map_err(|source| Error::Tls {
        cluster: valid.key.clone(),
        source,
    })
}

async fn tls_of(ctx: &Context, valid: &Validated) -> Result<Option<(Tls, u64)>, SecretError> {
    let spec = &valid.cluster.spec().tls;
    let (true, Some(name)) = (spec.enabled, spec.secret_name.as_deref()) else {
        return Ok(None);
    };
    let secret = ctx
        .secrets
        .get(&ctx.client, &valid.namespace, name)
        .await?
        .ok_or_else(|| SecretError::TlsMissing {
            name: name.to_owned(),
        })?;
    let ca = secret
        .data
        .as_ref()
        .and_then(|d| d.get(CA_KEY))
        .map(|b| b.0.clone())
        .filter(|b| !b.is_empty())
        .ok_or_else(|| SecretError::Key {
            name: name.to_owned(),
            key: CA_KEY.to_owned(),
            what: "CA certificate (PEM) that signed the instances' certificates",
        })?;
    Ok(Some((Tls::new(ca), digest(&secret))))
}

/// Every key and value of the Secret's data, hashed (not cryptographically: it only tells
/// one version of the files from another, and never leaves this process).
fn digest(secret: &KubeSecret) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    if let Some(d) = &secret.data {
        for (k, v) in d {
            k.hash(&mut h);
            v.0.hash(&mut h);
        }
    }
    h.finish()
}

/// Key of the CA certificate in a `kubernetes.io/tls` Secret written by cert-manager.
const CA_KEY: &str = "ca.crt";

fn generated(valid: &Validated, name: &str) -> Result<KubeSecret, SecretError> {
    Ok(password_secret(valid, name, random_password()?))
}

/// A password Secret the operator owns (the generated one, the previous password kept during a
/// rotation): owned by the cluster, labelled as ours.
pub(super) fn password_secret(valid: &Validated, name: &str, password: String) -> KubeSecret {
    KubeSecret {
        metadata: ObjectMeta {
            name: Some(name.to_owned()),
            namespace: Some(valid.namespace.clone()),
            owner_references: Some(vec![valid.owner.clone()]),
            labels: Some(BTreeMap::from([(
                redis_stretch_k8s::names::LABEL_MANAGED_BY.to_owned(),
                redis_stretch_k8s::names::APP.to_owned(),
            )])),
            ..Default::default()
        },
        type_: Some("Opaque".to_owned()),
        string_data: Some(BTreeMap::from([(PASSWORD_KEY.to_owned(), password)])),
        ..Default::default()
    }
}

/// 32 characters from a 62-symbol alphabet (≈190 bits), safe in redis.conf quotes and shells.
fn random_password() -> Result<String, SecretError> {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    let mut out = String::with_capacity(32);
    while out.len() < 32 {
        let mut b = [0u8; 64];
        getrandom::fill(&mut b).map_err(|e| SecretError::Random(e.to_string()))?;
        // Rejection sampling: 248 = 4 × 62, so every symbol is equally likely.
        out.extend(
            b.iter()
                .filter(|x| **x < 248)
                .map(|x| char::from(ALPHABET[usize::from(*x % 62)])),
        );
    }
    out.truncate(32);
    Ok(out)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
    use super::*;
    use k8s_openapi::ByteString;

    #[test]
    fn passwords_are_long_and_plain() {
        let a = random_password().unwrap();
        let b = random_password().unwrap();
        assert_eq!(a.len(), 32);
        assert_ne!(a, b);
        assert!(a.chars().all(|c| c.is_ascii_alphanumeric()));
    }

    #[test]
    fn a_secret_without_the_key_names_it() {
        let s = KubeSecret::default();
        let e = read_password(&s, "x-auth").unwrap_err().to_string();
        assert!(e.contains("`x-auth` has no key `password`"), "{e}");
        let s = KubeSecret {
            data: Some(BTreeMap::from([(
                "password".to_owned(),
                ByteString(b"hunter2\n".to_vec()),
            )])),
            ..Default::default()
        };
        assert_eq!(read_password(&s, "x").unwrap().expose(), "hunter2");
    }
}
