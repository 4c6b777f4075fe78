//! Pod Security `restricted` for every container of the Redis pods (Redis and the exporter
//! sidecar): what a namespace labelled `pod-security.kubernetes.io/enforce: restricted` admits.
//!
//! Redis writes only to volumes: `dir` and `cluster-config-file` (nodes.conf, AOF, a temporary
//! RDB) under `/data`, the password include under `/run/redis`; it logs to stdout (`logfile ""`)
//! and writes no pidfile (not daemonized). So the root filesystem can be read-only; `/tmp` is a
//! small emptyDir for shells and tools that put temporary files there (a here-document in bash,
//! say), so that the preStop hook never depends on which `sh` an image ships.

use k8s_openapi::api::core::v1::{
    Capabilities, EmptyDirVolumeSource, PodSecurityContext, SeccompProfile, SecurityContext,
    Volume, VolumeMount,
};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;

/// The uid/gid of `redis` in the official image (and of `valkey` in Valkey's): the image's own
/// entrypoint would switch to it from root, which `runAsNonRoot` forbids, so the pod starts as
/// it. `fsGroup` makes the volumes (data, the TLS Secret) group-owned by it.
pub const REDIS_UID: i64 = 999;

pub const TMP_VOLUME: &str = "tmp";
pub const TMP_DIR: &str = "/tmp";

pub fn pod() -> PodSecurityContext {
    PodSecurityContext {
        run_as_user: Some(REDIS_UID),
        run_as_group: Some(REDIS_UID),
        fs_group: Some(REDIS_UID),
        run_as_non_root: Some(true),
        // The container runtime's default syscall filter: `restricted` requires it, and Redis
        // makes no syscall it blocks.
        seccomp_profile: Some(SeccompProfile {
            type_: "RuntimeDefault".to_owned(),
            ..Default::default()
        }),
        ..Default::default()
    }
}

/// Every container's: no privilege escalation, no capability, read-only root filesystem.
pub fn container() -> SecurityContext {
    SecurityContext {
        allow_privilege_escalation: Some(false),
        read_only_root_filesystem: Some(true),
        run_as_non_root: Some(true),
        capabilities: Some(Capabilities {
            drop: Some(vec!["ALL".to_owned()]),
            ..Default::default()
        }),
        ..Default::default()
    }
}

pub fn tmp_volume() -> Volume {
    Volume {
        name: TMP_VOLUME.to_owned(),
        empty_dir: Some(EmptyDirVolumeSource {
            medium: None,
            size_limit: Some(Quantity("32Mi".to_owned())),
        }),
        ..Default::default()
    }
}

pub fn tmp_mount() -> VolumeMount {
    VolumeMount {
        name: TMP_VOLUME.to_owned(),
        mount_path: TMP_DIR.to_owned(),
        ..Default::default()
    }
}
