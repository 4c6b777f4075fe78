//! A pod's volumes as directories, its environment, and the rewrites that let a container's
//! command run as a host process.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use k8s_openapi::api::authentication::v1::TokenRequest;
use k8s_openapi::api::core::v1::{
    ConfigMap, Container, EnvVar, KeyToPath, Pod, Secret, ServiceAccount,
};
use kube::api::PostParams;
use kube::Api;

use super::Shared;
use crate::error::{Error, Result};

/// Materialise every volume of `pod` under `dir/volumes/<name>`: ConfigMap and Secret keys as
/// files (`items` honoured), projected volumes (ConfigMap, Secret, downward API and a
/// service-account token from the TokenRequest API, bound to the pod, as a kubelet mounts
/// `kube-api-access-*`), emptyDir as an empty directory kept across container restarts.
/// Returns volume name -> directory. Fails (the caller retries, as a kubelet keeps a pod in
/// ContainerCreating) while a ConfigMap or Secret is missing.
pub(crate) async fn materialise(
    shared: &Shared,
    pod: &Pod,
    dir: &Path,
) -> Result<BTreeMap<String, PathBuf>> {
    let ns = pod.metadata.namespace.clone().unwrap_or_default();
    let mut out = BTreeMap::new();
    let volumes = pod
        .spec
        .as_ref()
        .and_then(|s| s.volumes.clone())
        .unwrap_or_default();
    for v in volumes {
        let vdir = dir.join("volumes").join(&v.name);
        std::fs::create_dir_all(&vdir)
            .map_err(Error::io(format!("creating {}", vdir.display())))?;
        let mut files: Vec<(String, Vec<u8>)> = Vec::new();
        if let Some(cm) = &v.config_map {
            files =
                config_map_files(shared, &ns, &cm.name, cm.items.as_deref(), cm.optional).await?;
        } else if let Some(sec) = &v.secret {
            let name = sec.secret_name.clone().unwrap_or_default();
            files = secret_files(shared, &ns, &name, sec.items.as_deref(), sec.optional).await?;
        } else if let Some(projected) = &v.projected {
            for src in projected.sources.iter().flatten() {
                if let Some(cm) = &src.config_map {
                    files.extend(
                        config_map_files(shared, &ns, &cm.name, cm.items.as_deref(), cm.optional)
                            .await?,
                    );
                }
                if let Some(sec) = &src.secret {
                    files.extend(
                        secret_files(shared, &ns, &sec.name, sec.items.as_deref(), sec.optional)
                            .await?,
                    );
                }
                if let Some(d) = &src.downward_api {
                    for item in d.items.iter().flatten() {
                        if let Some(f) = &item.field_ref {
                            let value = pod_field(shared, pod, &f.field_path, "")?;
                            files.push((item.path.clone(), value.into_bytes()));
                        }
                    }
                }
                if let Some(t) = &src.service_account_token {
                    files.push((
                        t.path.clone(),
                        token(shared, pod, t.audience.clone(), t.expiration_seconds).await?,
                    ));
                }
            }
        } else if v.empty_dir.is_none() {
            return Err(Error::Invalid(format!(
                "volume {} of pod {ns}/{}: only configMap, secret, projected and emptyDir volumes are supported by the test kubelet",
                v.name,
                pod.metadata.name.as_deref().unwrap_or("?")
            )));
        }
        for (name, bytes) in files {
            let path = vdir.join(&name);
            if let Some(parent) = path.parent() {
                std::fs::create_dir_all(parent)
                    .map_err(Error::io(format!("creating {}", parent.display())))?;
            }
            std::fs::write(&path, bytes)
                .map_err(Error::io(format!("writing {}", path.display())))?;
        }
        out.insert(v.name, vdir);
    }
    Ok(out)
}

/// `items` picks keys and renames them; without it every key is a file.
fn pick(all: BTreeMap<String, Vec<u8>>, items: Option<&[KeyToPath]>) -> Vec<(String, Vec<u8>)> {
    match items {
        Some(items) => items
            .iter()
            .filter_map(|i| all.get(&i.key).map(|b| (i.path.clone(), b.clone())))
            .collect(),
        None => all.into_iter().collect(),
    }
}

async fn config_map_files(
    shared: &Shared,
    ns: &str,
    name: &str,
    items: Option<&[KeyToPath]>,
    optional: Option<bool>,
) -> Result<Vec<(String, Vec<u8>)>> {
    let cm = match Api::<ConfigMap>::namespaced(shared.client.clone(), ns)
        .get(name)
        .await
    {
        Ok(cm) => cm,
        Err(kube::Error::Api(s)) if s.code == 404 && optional == Some(true) => {
            return Ok(Vec::new())
        }
        Err(e) => return Err(Error::kube(format!("ConfigMap {ns}/{name}"))(e)),
    };
    let mut all: BTreeMap<String, Vec<u8>> = cm
        .data
        .unwrap_or_default()
        .into_iter()
        .map(|(k, v)| (k, v.into_bytes()))
        .collect();
    all.extend(
        cm.binary_data
            .unwrap_or_default()
            .into_iter()
            .map(|(k, v)| (k, v.0)),
    );
    Ok(pick(all, items))
}

async fn secret_files(
    shared: &Shared,
    ns: &str,
    name: &str,
    items: Option<&[KeyToPath]>,
    optional: Option<bool>,
) -> Result<Vec<(String, Vec<u8>)>> {
    let s = match Api::<Secret>::namespaced(shared.client.clone(), ns)
        .get(name)
        .await
    {
        Ok(s) => s,
        Err(kube::Error::Api(e)) if e.code == 404 && optional == Some(true) => {
            return Ok(Vec::new())
        }
        Err(e) => return Err(Error::kube(format!("Secret {ns}/{name}"))(e)),
    };
    let all = s
        .data
        .unwrap_or_default()
        .into_iter()
        .map(|(k, v)| (k, v.0))
        .collect();
    Ok(pick(all, items))
}

/// A token of the pod's service account, bound to the pod (TokenRequest API).
async fn token(
    shared: &Shared,
    pod: &Pod,
    audience: Option<String>,
    expiration: Option<i64>,
) -> Result<Vec<u8>> {
    let ns = pod.metadata.namespace.clone().unwrap_or_default();
    let sa = pod
        .spec
        .as_ref()
        .and_then(|s| s.service_account_name.clone())
        .unwrap_or_else(|| "default".to_owned());
    let req: TokenRequest = serde_json::from_value(serde_json::json!({
        "spec": {
            "audiences": audience.into_iter().collect::<Vec<_>>(),
            "expirationSeconds": expiration.unwrap_or(3607),
            "boundObjectRef": {
                "apiVersion": "v1", "kind": "Pod",
                "name": pod.metadata.name, "uid": pod.metadata.uid,
            },
        }
    }))
    .map_err(|e| Error::Invalid(format!("token request: {e}")))?;
    let answer = Api::<ServiceAccount>::namespaced(shared.client.clone(), &ns)
        .create_token_request(&sa, &PostParams::default(), &req)
        .await
        .map_err(Error::kube(format!(
            "a token for service account {ns}/{sa}"
        )))?;
    Ok(answer
        .status
        .map(|s| s.token)
        .unwrap_or_default()
        .into_bytes())
}

/// A downward-API field of the pod.
fn pod_field(shared: &Shared, pod: &Pod, path: &str, pod_ip: &str) -> Result<String> {
    let spec = pod.spec.as_ref();
    Ok(match path {
        "metadata.name" => pod.metadata.name.clone().unwrap_or_default(),
        "metadata.namespace" => pod.metadata.namespace.clone().unwrap_or_default(),
        "metadata.uid" => pod.metadata.uid.clone().unwrap_or_default(),
        "spec.nodeName" => spec.and_then(|s| s.node_name.clone()).unwrap_or_default(),
        "spec.serviceAccountName" => spec
            .and_then(|s| s.service_account_name.clone())
            .unwrap_or_default(),
        "status.podIP" => pod_ip.to_owned(),
        "status.hostIP" => shared.node_ip(spec.and_then(|s| s.node_name.as_deref()).unwrap_or("")),
        other => {
            return Err(Error::Invalid(format!(
                "downward API field {other} is not supported by the test kubelet"
            )))
        }
    })
}

/// How a container's view of the world maps to this host's: mount paths to volume
/// directories, and "this pod's own address" to the pod IP (pods share the host's network
/// namespace here).
#[derive(Clone, Debug)]
pub(crate) struct Rewrite {
    /// (mount path, host directory), longest mount path first.
    mounts: Vec<(String, String)>,
    pod_ip: String,
}

impl Rewrite {
    pub fn new(container: &Container, volumes: &BTreeMap<String, PathBuf>, pod_ip: &str) -> Self {
        let mut mounts: Vec<(String, String)> = container
            .volume_mounts
            .iter()
            .flatten()
            .filter_map(|m| {
                let dir = volumes.get(&m.name)?;
                let dir = match &m.sub_path {
                    Some(sub) if !sub.is_empty() => dir.join(sub),
                    _ => dir.clone(),
                };
                Some((
                    m.mount_path.trim_end_matches('/').to_owned(),
                    dir.display().to_string(),
                ))
            })
            .collect();
        mounts.sort_by_key(|(p, _)| std::cmp::Reverse(p.len()));
        Self {
            mounts,
            pod_ip: pod_ip.to_owned(),
        }
    }

    /// Paths under a mount point, wherever they stand as a path: at the start of the text or
    /// after whitespace, a quote, `=`, `(`, `>` or `:`, and followed by `/`, the end, or a
    /// character that cannot continue a path component.
    pub fn paths(&self, text: &str) -> String {
        replace_paths(text, &self.mounts)
    }

    /// A probe or hook command: paths, and the pod's loopback address (a probe in a container
    /// reaching 127.0.0.1 reaches its own pod).
    pub fn command(&self, text: &str) -> String {
        self.paths(text).replace("127.0.0.1", &self.pod_ip)
    }

    /// A config file from a volume: paths, and `bind *` (every address of the pod's own network
    /// namespace) becomes the pod IP, so that pods on one host do not take each other's ports.
    pub fn config_file(&self, text: &str) -> String {
        self.paths(text)
            .lines()
            .map(|l| {
                let t = l.trim_start();
                if t.starts_with("bind ") && t.split_whitespace().nth(1) == Some("*") {
                    format!("bind {}", self.pod_ip)
                } else {
                    l.to_owned()
                }
            })
            .collect::<Vec<_>>()
            .join("\n")
            + "\n"
    }
}

#[cfg(test)]
fn replace_path(text: &str, mount: &str, host: &str) -> String {
    replace_paths(text, &[(mount.to_owned(), host.to_owned())])
}

/// Every mount path in `text` replaced by its host directory, in one pass over the text, so
/// that a host directory written in for one mount is never rewritten for another (the pods'
/// directories live under the host's `/tmp`, which a pod may mount too). `mounts` longest
/// first: the most specific mount wins.
fn replace_paths(text: &str, mounts: &[(String, String)]) -> String {
    let is_before = |c: char| c.is_whitespace() || "\"'=(>:".contains(c);
    let is_after = |c: char| !(c.is_alphanumeric() || c == '-' || c == '_' || c == '.');
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    let mut prev: Option<char> = None;
    while let Some(c) = rest.chars().next() {
        if prev.is_none_or(is_before) {
            let hit = mounts.iter().find(|(mount, _)| {
                rest.starts_with(mount.as_str())
                    && rest[mount.len()..]
                        .chars()
                        .next()
                        .is_none_or(|c| c == '/' || is_after(c))
            });
            if let Some((mount, host)) = hit {
                out.push_str(host);
                prev = mount.chars().last();
                rest = &rest[mount.len()..];
                continue;
            }
        }
        out.push(c);
        prev = Some(c);
        rest = &rest[c.len_utf8()..];
    }
    out
}

/// Rewrite the text files of every ConfigMap volume the container mounts.
pub(crate) fn rewrite_config_files(
    pod: &Pod,
    container: &Container,
    volumes: &BTreeMap<String, PathBuf>,
    rewrite: &Rewrite,
) -> Result<()> {
    let config_maps: Vec<String> = pod
        .spec
        .as_ref()
        .and_then(|s| s.volumes.as_ref())
        .into_iter()
        .flatten()
        .filter(|v| v.config_map.is_some())
        .map(|v| v.name.clone())
        .collect();
    for m in container.volume_mounts.iter().flatten() {
        if !config_maps.contains(&m.name) {
            continue;
        }
        let Some(dir) = volumes.get(&m.name) else {
            continue;
        };
        let entries =
            std::fs::read_dir(dir).map_err(Error::io(format!("reading {}", dir.display())))?;
        for e in entries.flatten() {
            let path = e.path();
            if let Ok(text) = std::fs::read_to_string(&path) {
                std::fs::write(&path, rewrite.config_file(&text))
                    .map_err(Error::io(format!("writing {}", path.display())))?;
            }
        }
    }
    Ok(())
}

/// The container's environment: literal values, the downward API fields the tests' pods use,
/// and Secret/ConfigMap keys.
pub(crate) async fn environment(
    shared: &Shared,
    pod: &Pod,
    container: &Container,
    pod_ip: &str,
) -> Result<Vec<(String, String)>> {
    let ns = pod.metadata.namespace.clone().unwrap_or_default();
    let mut out = Vec::new();
    for EnvVar {
        name,
        value,
        value_from,
    } in container.env.iter().flatten().cloned()
    {
        let v = if let Some(v) = value {
            v
        } else if let Some(from) = value_from {
            if let Some(f) = from.field_ref {
                pod_field(shared, pod, &f.field_path, pod_ip)?
            } else if let Some(s) = from.secret_key_ref {
                let secret = Api::<Secret>::namespaced(shared.client.clone(), &ns)
                    .get(&s.name)
                    .await
                    .map_err(Error::kube(format!(
                        "Secret {ns}/{} for env {name}",
                        s.name
                    )))?;
                let bytes = secret
                    .data
                    .and_then(|d| d.get(&s.key).map(|b| b.0.clone()))
                    .ok_or_else(|| {
                        Error::Invalid(format!("Secret {ns}/{} has no key {}", s.name, s.key))
                    })?;
                String::from_utf8_lossy(&bytes).into_owned()
            } else if let Some(c) = from.config_map_key_ref {
                let cm = Api::<ConfigMap>::namespaced(shared.client.clone(), &ns)
                    .get(&c.name)
                    .await
                    .map_err(Error::kube(format!(
                        "ConfigMap {ns}/{} for env {name}",
                        c.name
                    )))?;
                cm.data
                    .and_then(|d| d.get(&c.key).cloned())
                    .ok_or_else(|| {
                        Error::Invalid(format!("ConfigMap {ns}/{} has no key {}", c.name, c.key))
                    })?
            } else {
                return Err(Error::Invalid(format!("env {name}: unsupported valueFrom")));
            }
        } else {
            String::new()
        };
        out.push((name, v));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::{replace_path, replace_paths};

    #[test]
    fn paths_are_replaced_only_as_paths() {
        assert_eq!(replace_path("dir /data", "/data", "/h/d"), "dir /h/d");
        assert_eq!(
            replace_path("/data/nodes.conf", "/data", "/h/d"),
            "/h/d/nodes.conf"
        );
        assert_eq!(
            replace_path("x=/data\n[ -f /data/a ]", "/data", "/h"),
            "x=/h\n[ -f /h/a ]"
        );
        assert_eq!(
            replace_path("/metadata /database", "/data", "/h"),
            "/metadata /database"
        );
        assert_eq!(
            replace_path("> /run/redis/auth.conf", "/run/redis", "/h/r"),
            "> /h/r/auth.conf"
        );
    }

    /// A host directory under /tmp written in for /data is not rewritten again for a /tmp
    /// mount.
    #[test]
    fn every_mount_is_replaced_in_one_pass() {
        let mounts = [
            ("/data".to_owned(), "/tmp/e2e/volumes/data".to_owned()),
            ("/tmp".to_owned(), "/tmp/e2e/volumes/tmp".to_owned()),
        ];
        assert_eq!(
            replace_paths("dir /data\nmv /data/a /tmp/b", &mounts),
            "dir /tmp/e2e/volumes/data\nmv /tmp/e2e/volumes/data/a /tmp/e2e/volumes/tmp/b"
        );
    }
}
