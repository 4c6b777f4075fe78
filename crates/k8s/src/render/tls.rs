//! TLS for clients, replication and the cluster bus, from a `kubernetes.io/tls` Secret
//! (`tls.crt`, `tls.key`, `ca.crt`: cert-manager's layout).

use k8s_openapi::api::core::v1::{SecretVolumeSource, Volume, VolumeMount};
use redis_stretch_api::TlsSpec;

use crate::names::REDIS_PORT;

/// Beside the ConfigMap's `/etc/redis`, not inside it: a mount point inside a read-only
/// ConfigMap volume would have to be created in it, which container runtimes refuse.
pub const TLS_DIR: &str = "/etc/redis-tls";
pub const TLS_VOLUME: &str = "tls";
pub const CA_FILE: &str = "/etc/redis-tls/ca.crt";

/// The redis.conf lines when TLS is on; none when it is off.
pub fn conf_lines(tls: &TlsSpec) -> Vec<String> {
    if !tls.enabled {
        return vec![format!("port {REDIS_PORT}")];
    }
    vec![
        "# TLS only: the client port speaks TLS and no plain-text port is open".to_owned(),
        format!("tls-port {REDIS_PORT}"),
        "port 0".to_owned(),
        "# replication and the cluster bus (still client port + 10000) use TLS too".to_owned(),
        "tls-replication yes".to_owned(),
        "tls-cluster yes".to_owned(),
        format!("tls-cert-file {TLS_DIR}/tls.crt"),
        format!("tls-key-file {TLS_DIR}/tls.key"),
        format!("tls-ca-cert-file {CA_FILE}"),
        "# optional, not yes: probes, the preStop hook, the metrics sidecar and most clients present no client certificate; a certificate that is presented is still verified, and the password guards access".to_owned(),
        "tls-auth-clients optional".to_owned(),
    ]
}

/// `redis-cli` flags for a call to this pod's Redis. redis-cli (hiredis) checks the chain
/// against the CA but not the host name, so `-h 127.0.0.1` works with a certificate that names
/// the pod's DNS names only.
pub fn cli_flags(tls: &TlsSpec) -> String {
    if tls.enabled {
        format!("--tls --cacert {CA_FILE} ")
    } else {
        String::new()
    }
}

pub fn volume(secret_name: &str) -> Volume {
    Volume {
        name: TLS_VOLUME.to_owned(),
        secret: Some(SecretVolumeSource {
            secret_name: Some(secret_name.to_owned()),
            // Owner root, group the pod's fsGroup (redis): readable by Redis, by no one else.
            default_mode: Some(0o440),
            ..Default::default()
        }),
        ..Default::default()
    }
}

pub fn mount() -> VolumeMount {
    VolumeMount {
        name: TLS_VOLUME.to_owned(),
        mount_path: TLS_DIR.to_owned(),
        read_only: Some(true),
        ..Default::default()
    }
}
