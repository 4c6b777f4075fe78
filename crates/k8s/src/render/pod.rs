//! The Redis pod template and its StatefulSet; placement-specific parts (labels, affinity,
//! size) come from the caller.

use std::collections::BTreeMap;

use k8s_openapi::api::apps::v1::{
    StatefulSet, StatefulSetPersistentVolumeClaimRetentionPolicy, StatefulSetSpec,
    StatefulSetUpdateStrategy,
};
use k8s_openapi::api::core::v1::{
    Affinity, ConfigMapVolumeSource, Container, ContainerPort, EmptyDirVolumeSource, EnvVar,
    EnvVarSource, ExecAction, Lifecycle, LifecycleHandler, ObjectFieldSelector,
    PersistentVolumeClaim, PersistentVolumeClaimSpec, PodSpec, PodTemplateSpec, Probe,
    ResourceRequirements, SecretKeySelector, TCPSocketAction, Volume, VolumeMount,
    VolumeResourceRequirements,
};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use redis_stretch_api::{ClaimRetention, ServerFlavour, ValidatedCluster};

use super::config::{AUTH_INCLUDE, CONFIG_DIR, CONFIG_FILE, DATA_DIR};
use super::prestop::{pre_stop_script, HANDOVER_TIMEOUT_SECONDS, TERMINATION_GRACE_SECONDS};
use super::{metrics, security, template, tls};
use crate::names::{Names, BUS_PORT, PASSWORD_KEY, REDIS_PORT};

/// Without persistence a restarted container is empty, but the `emptyDir` keeps its
/// `nodes.conf`: a master would come back owning its slots and serve an empty shard, and its
/// replica would resync the empty data set — the only copy gone. So a master that had slots
/// drops its `nodes.conf` (kept aside for a post-mortem) and rejoins as a new, empty node:
/// Redis elects its replica, and the engine pairs the new node and forgets the old id.
/// `nodes.conf` lines: id, address, flags, master, ping, pong, epoch, link, then slots.
pub(crate) const EMPTY_RESTART: &str = r#"
if [ -f /data/nodes.conf ] && awk '$3 ~ /myself/ && $3 ~ /master/ && NF > 8 { owns = 1 } END { exit !owns }' /data/nodes.conf; then
  echo "redis-stretch: persistence is off and this master restarted empty: moving nodes.conf aside so it rejoins as a new node instead of serving empty slots" >&2
  mv /data/nodes.conf /data/nodes.conf.empty-restart
fi
"#;

/// The StatefulSets' update strategy: pods are replaced only when deleted, by the engine.
pub const ON_DELETE: &str = "OnDelete";

/// What differs between the StatefulSets of one cluster.
pub struct PodGroup {
    pub stateful_set: String,
    pub replicas: i32,
    /// Pod labels beyond the cluster's common ones; also the StatefulSet's selector with the
    /// cluster's selector labels.
    pub labels: BTreeMap<String, String>,
    pub affinity: Affinity,
}

pub fn stateful_set(
    cluster: &ValidatedCluster,
    names: &Names<'_>,
    namespace: Option<&str>,
    group: PodGroup,
) -> StatefulSet {
    let spec = cluster.spec();
    let mut selector = names.selector_labels();
    selector.extend(group.labels.clone());
    let mut pod_labels = names.common_labels();
    pod_labels.extend(group.labels);
    let persistence = &spec.redis.persistence;
    let mut volumes = vec![
        Volume {
            name: "config".to_owned(),
            config_map: Some(ConfigMapVolumeSource {
                name: names.config_map(),
                ..Default::default()
            }),
            ..Default::default()
        },
        // In memory: holds the password while the pod runs and never touches a disk.
        Volume {
            name: "run".to_owned(),
            empty_dir: Some(EmptyDirVolumeSource {
                medium: Some("Memory".to_owned()),
                size_limit: Some(Quantity("1Mi".to_owned())),
            }),
            ..Default::default()
        },
        security::tmp_volume(),
    ];
    if let Some(secret) = tls_secret(cluster) {
        volumes.push(tls::volume(secret));
    }
    let claims = if persistence.enabled {
        Some(vec![PersistentVolumeClaim {
            metadata: ObjectMeta {
                name: Some("data".to_owned()),
                labels: Some(names.common_labels()),
                ..Default::default()
            },
            spec: Some(PersistentVolumeClaimSpec {
                access_modes: Some(vec!["ReadWriteOnce".to_owned()]),
                storage_class_name: persistence.storage_class_name.clone(),
                resources: Some(VolumeResourceRequirements {
                    requests: Some(BTreeMap::from([(
                        "storage".to_owned(),
                        Quantity(persistence.size.clone()),
                    )])),
                    ..Default::default()
                }),
                ..Default::default()
            }),
            ..Default::default()
        }])
    } else {
        // nodes.conf survives a container restart, though not a new pod; the engine re-adds a
        // node that comes back empty.
        volumes.push(Volume {
            name: "data".to_owned(),
            empty_dir: Some(EmptyDirVolumeSource::default()),
            ..Default::default()
        });
        None
    };
    // Deleting a cluster keeps or drops its volumes per spec; scaling down never drops one,
    // since an instance's data must outlive a StatefulSet resized during a migration.
    let retention = persistence.enabled.then(|| {
        let when_deleted = match persistence.when_deleted {
            ClaimRetention::Retain => "Retain",
            ClaimRetention::Delete => "Delete",
        };
        StatefulSetPersistentVolumeClaimRetentionPolicy {
            when_deleted: Some(when_deleted.to_owned()),
            when_scaled: Some("Retain".to_owned()),
        }
    });
    let mut containers = vec![redis_container(cluster, names)];
    containers.extend(metrics::container(spec, names));
    let mut pod_template = PodTemplateSpec {
        metadata: Some(ObjectMeta {
            labels: Some(pod_labels),
            annotations: metrics::annotations(spec),
            ..Default::default()
        }),
        spec: Some(PodSpec {
            affinity: Some(group.affinity),
            containers,
            volumes: Some(volumes),
            security_context: Some(security::pod()),
            // No Service env vars: Redis needs none, and they grow with the namespace.
            enable_service_links: Some(false),
            // Redis never calls the API server: no token in its pods to steal.
            automount_service_account_token: Some(false),
            termination_grace_period_seconds: Some(TERMINATION_GRACE_SECONDS),
            ..Default::default()
        }),
    };
    // The user's additions (node selector, tolerations, affinity, ...), ours still holding.
    template::apply(&mut pod_template, &spec.kubernetes.pod);
    StatefulSet {
        metadata: ObjectMeta {
            name: Some(group.stateful_set),
            namespace: namespace.map(str::to_owned),
            labels: Some(names.common_labels()),
            ..Default::default()
        },
        spec: Some(StatefulSetSpec {
            replicas: Some(group.replicas),
            service_name: Some(names.headless_service()),
            // One pod at a time, in ordinal order: what `plan` predicts, and a rolling restart
            // never takes two instances at once.
            pod_management_policy: Some("OrderedReady".to_owned()),
            // The engine restarts outdated pods, one at a time across both StatefulSets
            // (replicas first, masters after a graceful failover). `RollingUpdate` would roll
            // each StatefulSet on its own, from its highest ordinal: in SeedCompatible mode
            // `leader-i` and `follower-i` (master and replica of shard i) go down together,
            // and a PDB does not limit a StatefulSet rollout.
            update_strategy: Some(StatefulSetUpdateStrategy {
                type_: Some(ON_DELETE.to_owned()),
                rolling_update: None,
            }),
            selector: LabelSelector {
                match_labels: Some(selector),
                ..Default::default()
            },
            template: pod_template,
            volume_claim_templates: claims,
            persistent_volume_claim_retention_policy: retention,
            ..Default::default()
        }),
        ..Default::default()
    }
}

fn redis_container(cluster: &ValidatedCluster, names: &Names<'_>) -> Container {
    let spec = cluster.spec();
    let auth = spec.auth.enabled;
    let field_env = |name: &str, path: &str| EnvVar {
        name: name.to_owned(),
        value_from: Some(EnvVarSource {
            field_ref: Some(ObjectFieldSelector {
                field_path: path.to_owned(),
                ..Default::default()
            }),
            ..Default::default()
        }),
        ..Default::default()
    };
    let mut env = vec![
        field_env("POD_NAME", "metadata.name"),
        field_env("POD_NAMESPACE", "metadata.namespace"),
        field_env("POD_IP", "status.podIP"),
    ];
    if auth {
        env.push(password_env(names));
    }
    let tls_on = tls_secret(cluster).is_some();
    if tls_on {
        // For the preStop hook, which takes its TLS settings from the environment.
        env.push(EnvVar {
            name: "REDIS_TLS_CA_FILE".to_owned(),
            value: Some(tls::CA_FILE.to_owned()),
            ..Default::default()
        });
    }
    env.push(EnvVar {
        name: "HANDOVER_TIMEOUT_SECONDS".to_owned(),
        value: Some(HANDOVER_TIMEOUT_SECONDS.to_string()),
        ..Default::default()
    });
    // Binaries and image come from the server flavour; the engine tells Valkey instances
    // their zone (`availability-zone`) at run time, since a seed-compatible pod learns its
    // zone only from its node.
    let flavour: ServerFlavour = spec.redis.server;
    let (server, cli) = (flavour.server_binary(), flavour.cli_binary());
    let mut start = vec!["set -eu".to_owned()];
    if !spec.redis.persistence.enabled {
        start.push(EMPTY_RESTART.trim().to_owned());
    }
    if auth {
        // The password goes to a 0600 file in memory, never to argv or the ConfigMap.
        start.push("umask 077".to_owned());
        start.push(format!(
            "printf 'requirepass \"%s\"\\nmasterauth \"%s\"\\n' \"$REDIS_PASSWORD\" \"$REDIS_PASSWORD\" > {AUTH_INCLUDE}"
        ));
    }
    // The pod IP, announced: a node learns its own address only when a peer MEETs it, so
    // without this a node that only sent MEETs (or a pod with several interfaces, e.g. under a
    // service mesh) can gossip a wrong or empty address; and after a restart on a new IP the
    // node announces the new one at once. The stable per-pod DNS name too, for CLUSTER
    // SHARDS/NODES and clients that prefer hostnames.
    start.push(format!(
        "exec {server} {CONFIG_DIR}/{CONFIG_FILE} --cluster-announce-ip \"$POD_IP\" --cluster-announce-hostname \"$POD_NAME.{}.$POD_NAMESPACE.svc\"",
        names.headless_service()
    ));
    // REDISCLI_AUTH keeps the password off redis-cli's command line.
    let flags = tls::cli_flags(&spec.tls);
    let ping = if auth {
        // A refused password is an answer too: after a rotation the container's environment
        // still holds the old password until it restarts, and that must not take every pod
        // out of its Services (docs/OPERATIONS.md, "Rotating the password").
        format!("REDISCLI_AUTH=\"$REDIS_PASSWORD\" {cli} {flags}-h 127.0.0.1 -p {REDIS_PORT} ping | grep -qE '^(PONG|NOAUTH|WRONGPASS)'")
    } else {
        format!("{cli} {flags}-h 127.0.0.1 -p {REDIS_PORT} ping | grep -q PONG")
    };
    let mut mounts = vec![
        VolumeMount {
            name: "data".to_owned(),
            mount_path: DATA_DIR.to_owned(),
            ..Default::default()
        },
        VolumeMount {
            name: "config".to_owned(),
            mount_path: CONFIG_DIR.to_owned(),
            read_only: Some(true),
            ..Default::default()
        },
        VolumeMount {
            name: "run".to_owned(),
            mount_path: "/run/redis".to_owned(),
            ..Default::default()
        },
        security::tmp_mount(),
    ];
    if tls_on {
        mounts.push(tls::mount());
    }
    let res = &spec.kubernetes.resources;
    Container {
        name: "redis".to_owned(),
        image: Some(
            spec.kubernetes
                .image
                .clone()
                .unwrap_or_else(|| flavour.default_image().to_owned()),
        ),
        command: Some(vec!["sh".to_owned(), "-c".to_owned(), start.join("\n")]),
        env: Some(env),
        ports: Some(vec![
            ContainerPort {
                name: Some("redis".to_owned()),
                container_port: REDIS_PORT,
                ..Default::default()
            },
            ContainerPort {
                name: Some("cluster-bus".to_owned()),
                container_port: BUS_PORT,
                ..Default::default()
            },
        ]),
        resources: Some(ResourceRequirements {
            requests: Some(BTreeMap::from([
                ("cpu".to_owned(), Quantity(res.cpu.clone())),
                ("memory".to_owned(), Quantity(res.memory.clone())),
            ])),
            limits: Some(BTreeMap::from([(
                "memory".to_owned(),
                Quantity(res.memory.clone()),
            )])),
            ..Default::default()
        }),
        // Ready when Redis answers; not when the cluster is ok, or a fresh cluster could never
        // become ready to be joined.
        readiness_probe: Some(Probe {
            exec: Some(ExecAction {
                command: Some(vec!["sh".to_owned(), "-c".to_owned(), ping]),
            }),
            period_seconds: Some(5),
            timeout_seconds: Some(2),
            failure_threshold: Some(3),
            ..Default::default()
        }),
        // TCP only: a Redis loading a large dataset answers PING with -LOADING, and restarting
        // it then would only start the load over.
        liveness_probe: Some(Probe {
            tcp_socket: Some(TCPSocketAction {
                port: IntOrString::Int(REDIS_PORT),
                ..Default::default()
            }),
            initial_delay_seconds: Some(10),
            period_seconds: Some(10),
            timeout_seconds: Some(5),
            failure_threshold: Some(6),
            ..Default::default()
        }),
        // A master hands its slots to a replica before SIGTERM (see `prestop`).
        lifecycle: Some(Lifecycle {
            pre_stop: Some(LifecycleHandler {
                exec: Some(ExecAction {
                    command: Some(vec![
                        "sh".to_owned(),
                        "-c".to_owned(),
                        pre_stop_script(flavour),
                    ]),
                }),
                ..Default::default()
            }),
            ..Default::default()
        }),
        volume_mounts: Some(mounts),
        security_context: Some(security::container()),
        ..Default::default()
    }
}

/// The TLS Secret when TLS is on. Validation guarantees the name is set when it is enabled.
fn tls_secret(cluster: &ValidatedCluster) -> Option<&str> {
    let tls = &cluster.spec().tls;
    tls.secret_name.as_deref().filter(|_| tls.enabled)
}

/// `REDIS_PASSWORD` from the auth Secret: a reference, never the value.
pub(super) fn password_env(names: &Names<'_>) -> EnvVar {
    EnvVar {
        name: "REDIS_PASSWORD".to_owned(),
        value_from: Some(EnvVarSource {
            secret_key_ref: Some(SecretKeySelector {
                name: names.auth_secret(),
                key: PASSWORD_KEY.to_owned(),
                ..Default::default()
            }),
            ..Default::default()
        }),
        ..Default::default()
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
    use super::EMPTY_RESTART;

    /// Runs the start-script rule for real (`sh`, `awk`) on a `nodes.conf`; true if it moved it.
    fn moved(nodes_conf: &str) -> bool {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("nodes.conf");
        std::fs::write(&path, nodes_conf).unwrap();
        let script = EMPTY_RESTART.replace("/data", &dir.path().display().to_string());
        let out = std::process::Command::new("sh")
            .args(["-c", &script])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        !path.exists() && dir.path().join("nodes.conf.empty-restart").exists()
    }

    const MASTER: &str = "a1 10.0.1.1:6379@16379,p0 myself,master - 0 0 1 connected 0-5460\n\
        b2 10.0.2.1:6379@16379,p1 slave a1 0 1700000000000 1 connected\n\
        vars currentEpoch 6 lastVoteEpoch 0\n";

    #[test]
    fn a_master_with_slots_drops_its_nodes_conf() {
        assert!(moved(MASTER));
    }

    #[test]
    fn replicas_and_empty_masters_keep_theirs() {
        let replica = "b2 10.0.2.1:6379@16379 myself,slave a1 0 0 1 connected\n\
            a1 10.0.1.1:6379@16379 master - 0 1700000000000 1 connected 0-5460\n";
        assert!(!moved(replica));
        let empty = "c3 10.0.1.3:6379@16379 myself,master - 0 0 0 connected\n";
        assert!(!moved(empty));
    }
}
