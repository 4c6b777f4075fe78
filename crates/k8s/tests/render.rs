//! Rendering: the seed's affinity field for field (golden), the zone-aware rules on every pod,
//! and what a production Redis needs around them.

// Test-only file: helpers outside #[test] fns may fail loudly too.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::PathBuf;

use k8s_openapi::api::apps::v1::StatefulSet;
use redis_stretch_k8s::cluster::parse;
use redis_stretch_k8s::{render, Rendered};
use serde_json::{json, Value};

fn repo(path: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .join(path)
}

fn rendered(example: &str) -> Rendered {
    let text = std::fs::read_to_string(repo(example)).unwrap();
    render(&parse(&text).unwrap()).unwrap()
}

fn sts<'a>(r: &'a Rendered, name: &str) -> &'a StatefulSet {
    r.stateful_sets
        .iter()
        .find(|s| s.metadata.name.as_deref() == Some(name))
        .unwrap_or_else(|| panic!("no StatefulSet {name}"))
}

fn pod_affinity(s: &StatefulSet) -> Value {
    let spec = s.spec.as_ref().unwrap().template.spec.as_ref().unwrap();
    serde_json::to_value(spec.affinity.as_ref().unwrap()).unwrap()
}

fn pod_labels(s: &StatefulSet) -> Value {
    let meta = s.spec.as_ref().unwrap().template.metadata.as_ref().unwrap();
    serde_json::to_value(meta.labels.as_ref().unwrap()).unwrap()
}

/// The seed document: beside the repository when present, else the committed copy.
fn seed_document() -> String {
    let shared = repo("../shared/seed/cross-dc-redis-ha.md");
    std::fs::read_to_string(shared).unwrap_or_else(|_| {
        std::fs::read_to_string(repo("crates/k8s/tests/fixtures/seed-affinity.md")).unwrap()
    })
}

/// The YAML block that follows `**<heading>**`, parsed, as the seed writes it.
fn seed_block(doc: &str, heading: &str) -> Value {
    let start = doc.find(&format!("**{heading}**")).unwrap();
    let rest = &doc[start..];
    let open = rest.find("```yaml\n").unwrap() + "```yaml\n".len();
    let close = rest[open..].find("```").unwrap();
    let yaml: Value = serde_yaml::from_str(&rest[open..open + close]).unwrap();
    yaml["affinity"].clone()
}

fn hostname_term(instance: &str) -> Value {
    json!({
        "labelSelector": {"matchLabels": {
            "app.kubernetes.io/instance": instance,
            "app.kubernetes.io/name": "redis-stretch"
        }},
        "topologyKey": "kubernetes.io/hostname"
    })
}

#[test]
fn seed_affinity_is_the_recipe_plus_one_pod_per_node() {
    let doc = seed_document();
    let r = rendered("examples/k8s/seed.yaml");
    for (heading, set) in [
        ("redis-leader", "seed-leader"),
        ("redis-follower", "seed-follower"),
    ] {
        let expected = seed_block(&doc, heading);
        let mut actual = pod_affinity(sts(&r, set));
        let required = actual["podAntiAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]
            .as_array_mut()
            .unwrap();
        assert_eq!(
            required.len(),
            2,
            "{set}: the seed's term and the hostname term"
        );
        let extra = required.remove(1);
        assert_eq!(
            extra,
            hostname_term("seed"),
            "{set}: the added hostname term"
        );
        assert_eq!(
            actual, expected,
            "{set}: the seed's stanzas, field for field"
        );
        assert_eq!(pod_labels(sts(&r, set))["app"], json!(heading));
    }
}

#[test]
fn seed_sizes_and_names() {
    let r = rendered("examples/k8s/seed.yaml");
    let names: Vec<_> = r
        .stateful_sets
        .iter()
        .map(|s| s.metadata.name.clone().unwrap())
        .collect();
    assert_eq!(names, ["seed-leader", "seed-follower"]);
    for s in &r.stateful_sets {
        assert_eq!(s.spec.as_ref().unwrap().replicas, Some(3));
        assert_eq!(s.metadata.namespace.as_deref(), Some("redis"));
    }
}

/// What the platform reads to tell leaving pods (ordinal at or above the count) is what the
/// StatefulSets are rendered with, in both placement modes and at another shard count; the
/// apply raises replicas at once but never lowers them (the engine retires pods one at a time).
#[test]
fn replicas_needed_are_the_rendered_sizes_and_the_apply_never_shrinks() {
    use redis_stretch_k8s::render::{held_replicas, replicas_needed};
    for example in ["examples/k8s/seed.yaml", "examples/k8s/zone-aware.yaml"] {
        let text = std::fs::read_to_string(repo(example)).unwrap();
        let mut cr = parse(&text).unwrap();
        for (shards, preferred) in [(3, (2, 1)), (6, (4, 2)), (5, (3, 2))] {
            cr.spec.shards = shards;
            cr.spec.zones[0].preferred_masters = preferred.0;
            cr.spec.zones[1].preferred_masters = preferred.1;
            let r = render(&cr).unwrap();
            let needed = replicas_needed(&r.cluster).unwrap();
            let sizes: std::collections::BTreeMap<String, i32> = r
                .stateful_sets
                .iter()
                .map(|s| {
                    (
                        s.metadata.name.clone().unwrap(),
                        s.spec.as_ref().unwrap().replicas.unwrap(),
                    )
                })
                .collect();
            assert_eq!(needed, sizes, "{example} at {shards} shards");
            let total: i32 = sizes.values().sum();
            assert_eq!(total, 2 * i32::try_from(shards).unwrap(), "{example}");
        }
    }
    assert_eq!(held_replicas(6, None), 6, "a new StatefulSet: the spec's");
    assert_eq!(held_replicas(6, Some(3)), 6, "scale out: at once");
    assert_eq!(
        held_replicas(3, Some(6)),
        6,
        "scale in: kept for the engine"
    );
    assert_eq!(
        held_replicas(3, Some(5)),
        5,
        "one pod retired: as the engine left it"
    );
    assert_eq!(held_replicas(3, Some(3)), 3);
}

/// Only the engine replaces pods (issue 17): with the default `RollingUpdate`, both seed
/// StatefulSets roll at once from their highest ordinal and take down the master and the replica
/// of a shard together.
#[test]
fn every_stateful_set_is_updated_on_delete_only() {
    for example in ["examples/k8s/seed.yaml", "examples/k8s/zone-aware.yaml"] {
        let r = rendered(example);
        for s in &r.stateful_sets {
            let v = serde_json::to_value(s).unwrap();
            assert_eq!(
                v.pointer("/spec/updateStrategy"),
                Some(&json!({"type": "OnDelete"})),
                "{example}: {:?}",
                s.metadata.name
            );
        }
    }
}

#[test]
fn zone_aware_pins_every_pod_to_its_zone_and_one_per_node() {
    let r = rendered("examples/k8s/zone-aware.yaml");
    let names: Vec<_> = r
        .stateful_sets
        .iter()
        .map(|s| s.metadata.name.clone().unwrap())
        .collect();
    assert_eq!(names, ["orders-dc-a", "orders-dc-b"]);
    for (s, zone) in r.stateful_sets.iter().zip(["dc-a", "dc-b"]) {
        let a = pod_affinity(s);
        assert_eq!(
            a["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"],
            json!({"nodeSelectorTerms": [{"matchExpressions": [
                {"key": "topology.kubernetes.io/zone", "operator": "In", "values": [zone]}
            ]}]})
        );
        assert_eq!(
            a["podAntiAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"],
            json!([hostname_term("orders")])
        );
        // Roles are dynamic: nothing in a pod's identity says master or replica.
        let labels = pod_labels(s);
        assert!(labels.get("redis-stretch.io/role").is_none());
        assert!(labels.get("app").is_none());
        assert_eq!(labels["redis-stretch.io/zone"], json!(zone));
        // 2 masters + 1 replica in dc-a, 1 master + 2 replicas in dc-b.
        assert_eq!(s.spec.as_ref().unwrap().replicas, Some(3));
    }
}

#[test]
fn production_pieces() {
    let r = rendered("examples/k8s/zone-aware.yaml");
    let conf = &r.config_map.data.as_ref().unwrap()["redis.conf"];
    for line in [
        "cluster-enabled yes",
        "cluster-node-timeout 2000",
        "cluster-require-full-coverage no",
        "cluster-replica-validity-factor 0",
        "cluster-replica-no-failover yes",
        "cluster-allow-replica-migration no",
        "repl-diskless-sync yes",
        "repl-diskless-sync-delay 0",
        "repl-backlog-size 64mb",
        "maxmemory 512mb",
        "maxmemory-policy noeviction",
        "appendonly yes",
        "include /run/redis/auth.conf",
    ] {
        assert!(
            conf.lines().any(|l| l == line),
            "redis.conf lacks `{line}`:\n{conf}"
        );
    }
    assert!(
        !conf
            .lines()
            .any(|l| l.starts_with("requirepass") || l.starts_with("masterauth")),
        "the password never goes in the ConfigMap"
    );

    let headless = r.headless_service.spec.as_ref().unwrap();
    assert_eq!(headless.cluster_ip.as_deref(), Some("None"));
    assert_eq!(headless.publish_not_ready_addresses, Some(true));

    let pdb = serde_json::to_value(&r.disruption_budget).unwrap();
    assert_eq!(pdb["spec"]["maxUnavailable"], json!(1));
    assert_eq!(
        pdb["spec"]["selector"],
        json!({"matchLabels": {"app.kubernetes.io/instance": "orders", "app.kubernetes.io/name": "redis-stretch"}}),
        "one budget over every Redis pod of the cluster"
    );

    let s = serde_json::to_value(sts(&r, "orders-dc-a")).unwrap();
    let container = &s["spec"]["template"]["spec"]["containers"][0];
    let env = |name: &str| {
        container["env"]
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["name"] == name)
            .unwrap_or_else(|| panic!("no env {name}"))
            .clone()
    };
    assert_eq!(
        env("REDIS_PASSWORD")["valueFrom"]["secretKeyRef"],
        json!({"name": "orders-redis-auth", "key": "password"})
    );
    assert_eq!(
        env("POD_IP")["valueFrom"]["fieldRef"]["fieldPath"],
        "status.podIP"
    );
    let start = container["command"][2].as_str().unwrap();
    assert!(
        start.contains("--cluster-announce-ip \"$POD_IP\""),
        "every pod announces its own IP: {start}"
    );
    assert!(container["readinessProbe"]["exec"].is_object());
    assert!(container["livenessProbe"]["tcpSocket"].is_object());
    assert_eq!(
        container["resources"]["requests"],
        json!({"cpu": "500m", "memory": "1Gi"})
    );
    let claims = &s["spec"]["volumeClaimTemplates"];
    assert_eq!(
        claims[0]["spec"]["resources"]["requests"]["storage"],
        json!("8Gi")
    );

    // Persistence off: no claims, AOF off.
    let seed = rendered("examples/k8s/seed.yaml");
    assert!(seed.stateful_sets[0]
        .spec
        .as_ref()
        .unwrap()
        .volume_claim_templates
        .is_none());
    let conf = &seed.config_map.data.as_ref().unwrap()["redis.conf"];
    assert!(conf.contains("appendonly no"));
    assert!(conf.contains("maxmemory 256mb"));
}

#[test]
fn yaml_stream_has_every_kind() {
    let yaml = rendered("examples/k8s/seed.yaml").to_yaml().unwrap();
    let kinds: Vec<String> = serde_yaml::Deserializer::from_str(&yaml)
        .map(|doc| {
            let v = <Value as serde::Deserialize>::deserialize(doc).unwrap();
            format!(
                "{}/{}",
                v["kind"].as_str().unwrap(),
                v["metadata"]["name"].as_str().unwrap()
            )
        })
        .collect();
    assert_eq!(
        kinds,
        [
            "ConfigMap/seed-config",
            "Service/seed-headless",
            "Service/seed",
            "StatefulSet/seed-leader",
            "StatefulSet/seed-follower",
            "PodDisruptionBudget/seed"
        ]
    );
}

#[test]
fn invalid_spec_names_the_field() {
    let text = std::fs::read_to_string(repo("examples/k8s/seed.yaml"))
        .unwrap()
        .replace("preferredMasters: 1", "preferredMasters: 2");
    let err = render(&parse(&text).unwrap()).unwrap_err().to_string();
    assert!(err.contains("spec.zones[].preferredMasters"), "{err}");

    let text = std::fs::read_to_string(repo("examples/k8s/seed.yaml"))
        .unwrap()
        .replace("cpu: 500m", "cpu: lots");
    let err = render(&parse(&text).unwrap()).unwrap_err().to_string();
    assert!(err.contains("spec.kubernetes.resources.cpu"), "{err}");
}

#[test]
fn committed_seed_copy_matches_the_seed() {
    let Ok(shared) = std::fs::read_to_string(repo("../shared/seed/cross-dc-redis-ha.md")) else {
        return; // nothing to compare against outside the workplace
    };
    let copy = std::fs::read_to_string(repo("crates/k8s/tests/fixtures/seed-affinity.md")).unwrap();
    for heading in ["redis-leader", "redis-follower"] {
        assert_eq!(
            seed_block(&copy, heading),
            seed_block(&shared, heading),
            "{heading}"
        );
    }
}

/// The zone-aware example with TLS, the metrics sidecar and volume deletion switched on.
fn everything_on() -> Rendered {
    let text = std::fs::read_to_string(repo("examples/k8s/zone-aware.yaml"))
        .unwrap()
        .replace(
            "  auth:\n",
            "  tls:\n    enabled: true\n    secretName: orders-tls\n  auth:\n",
        )
        .replace(
            "    image: redis:7.4\n",
            "    image: redis:7.4\n    metrics:\n      enabled: true\n",
        )
        .replace(
            "      size: 8Gi\n",
            "      size: 8Gi\n      whenDeleted: Delete\n",
        );
    render(&parse(&text).unwrap()).unwrap()
}

fn pod_spec(r: &Rendered, set: &str) -> Value {
    serde_json::to_value(sts(r, set)).unwrap()["spec"]["template"]["spec"].clone()
}

fn conf_of(r: &Rendered) -> String {
    r.config_map.data.as_ref().unwrap()["redis.conf"].clone()
}

#[test]
fn tls_serves_tls_only_with_the_secret_mounted() {
    let r = everything_on();
    let conf = conf_of(&r);
    for line in [
        "tls-port 6379",
        "port 0",
        "tls-cluster yes",
        "tls-replication yes",
        "tls-cert-file /etc/redis-tls/tls.crt",
        "tls-key-file /etc/redis-tls/tls.key",
        "tls-ca-cert-file /etc/redis-tls/ca.crt",
        "tls-auth-clients optional",
    ] {
        assert!(
            conf.lines().any(|l| l == line),
            "redis.conf lacks `{line}`:\n{conf}"
        );
    }
    assert!(!conf.lines().any(|l| l == "port 6379"), "{conf}");

    let pod = pod_spec(&r, "orders-dc-a");
    let volume = pod["volumes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["name"] == "tls")
        .unwrap();
    assert_eq!(volume["secret"]["secretName"], json!("orders-tls"));
    let redis = &pod["containers"][0];
    assert!(redis["volumeMounts"]
        .as_array()
        .unwrap()
        .contains(&json!({"name": "tls", "mountPath": "/etc/redis-tls", "readOnly": true})));
    let probe = redis["readinessProbe"]["exec"]["command"][2]
        .as_str()
        .unwrap();
    assert!(
        probe.contains("redis-cli --tls --cacert /etc/redis-tls/ca.crt -h 127.0.0.1"),
        "{probe}"
    );
    // The preStop hook takes its TLS settings from the container's environment.
    assert!(redis["env"]
        .as_array()
        .unwrap()
        .contains(&json!({"name": "REDIS_TLS_CA_FILE", "value": "/etc/redis-tls/ca.crt"})));

    // Off by default: plain port, nothing mounted, plain probes.
    let plain = rendered("examples/k8s/zone-aware.yaml");
    let conf = conf_of(&plain);
    assert!(conf.lines().any(|l| l == "port 6379"), "{conf}");
    assert!(!conf.contains("tls-"), "{conf}");
    let pod = pod_spec(&plain, "orders-dc-a");
    assert!(!pod["volumes"]
        .as_array()
        .unwrap()
        .iter()
        .any(|v| v["name"] == "tls"));
    let probe = pod["containers"][0]["readinessProbe"]["exec"]["command"][2]
        .as_str()
        .unwrap();
    assert!(!probe.contains("--tls"), "{probe}");
}

#[test]
fn metrics_sidecar_only_when_enabled() {
    let plain = rendered("examples/k8s/zone-aware.yaml");
    for set in &plain.stateful_sets {
        let template = &serde_json::to_value(set).unwrap()["spec"]["template"];
        assert_eq!(template["spec"]["containers"].as_array().unwrap().len(), 1);
        assert!(template["metadata"]["annotations"].is_null());
    }
    let ports = serde_json::to_value(&plain.headless_service).unwrap()["spec"]["ports"].clone();
    assert_eq!(ports.as_array().unwrap().len(), 2);

    let r = everything_on();
    let template = &serde_json::to_value(sts(&r, "orders-dc-b")).unwrap()["spec"]["template"];
    let sidecar = &template["spec"]["containers"][1];
    assert_eq!(sidecar["name"], json!("metrics"));
    assert_eq!(sidecar["image"], json!("oliver006/redis_exporter:v1.62.0"));
    assert_eq!(
        sidecar["ports"],
        json!([{"name": "metrics", "containerPort": 9121}])
    );
    assert!(sidecar["resources"]["requests"].is_object());
    let env = sidecar["env"].as_array().unwrap();
    let var = |name: &str| env.iter().find(|e| e["name"] == name).cloned();
    // TLS is on in this manifest: TLS on loopback, without checking host names.
    assert_eq!(
        var("REDIS_ADDR").unwrap()["value"],
        json!("rediss://127.0.0.1:6379")
    );
    assert_eq!(
        var("REDIS_EXPORTER_SKIP_TLS_VERIFICATION").unwrap()["value"],
        json!("true")
    );
    let password = var("REDIS_PASSWORD").unwrap();
    assert!(password.get("value").is_none(), "never a literal password");
    assert_eq!(
        password["valueFrom"]["secretKeyRef"],
        json!({"name": "orders-redis-auth", "key": "password"})
    );
    assert!(var("REDIS_EXPORTER_IS_CLUSTER").is_none());
    assert_eq!(
        template["metadata"]["annotations"]["prometheus.io/scrape"],
        json!("true")
    );
    assert_eq!(
        template["metadata"]["annotations"]["prometheus.io/port"],
        json!("9121")
    );
    let ports = serde_json::to_value(&r.headless_service).unwrap()["spec"]["ports"].clone();
    assert!(ports.as_array().unwrap().contains(
        &json!({"name": "metrics", "port": 9121, "targetPort": "metrics", "protocol": "TCP"})
    ));

    // Without TLS the exporter speaks plain Redis.
    let text = std::fs::read_to_string(repo("examples/k8s/zone-aware.yaml"))
        .unwrap()
        .replace(
            "    image: redis:7.4\n",
            "    image: redis:7.4\n    metrics:\n      enabled: true\n      port: 9200\n",
        );
    let r = render(&parse(&text).unwrap()).unwrap();
    let sidecar = &pod_spec(&r, "orders-dc-a")["containers"][1];
    assert!(sidecar["env"]
        .as_array()
        .unwrap()
        .contains(&json!({"name": "REDIS_ADDR", "value": "redis://127.0.0.1:6379"})));
    assert!(sidecar["env"]
        .as_array()
        .unwrap()
        .contains(&json!({"name": "REDIS_EXPORTER_WEB_LISTEN_ADDRESS", "value": ":9200"})));
}

#[test]
fn claim_retention_follows_persistence() {
    let policy = |r: &Rendered| {
        r.stateful_sets
            .iter()
            .map(|s| {
                serde_json::to_value(s).unwrap()["spec"]["persistentVolumeClaimRetentionPolicy"]
                    .clone()
            })
            .collect::<Vec<_>>()
    };
    let retain = json!({"whenDeleted": "Retain", "whenScaled": "Retain"});
    assert_eq!(
        policy(&rendered("examples/k8s/zone-aware.yaml")),
        [retain.clone(), retain],
        "Retain by default"
    );
    let delete = json!({"whenDeleted": "Delete", "whenScaled": "Retain"});
    assert_eq!(policy(&everything_on()), [delete.clone(), delete]);
    // Persistence off: no claims, so no policy.
    assert_eq!(
        policy(&rendered("examples/k8s/seed.yaml")),
        [Value::Null, Value::Null]
    );
}

/// Persistence off: a master restarted empty must not keep its slots (its `nodes.conf`
/// survives in the emptyDir); with persistence on its data comes back with it.
#[test]
fn empty_restart_rule_only_without_persistence() {
    let start = |r: &Rendered| {
        let s = serde_json::to_value(&r.stateful_sets[0]).unwrap();
        s["spec"]["template"]["spec"]["containers"][0]["command"][2]
            .as_str()
            .unwrap()
            .to_owned()
    };
    assert!(start(&rendered("examples/k8s/seed.yaml")).contains("nodes.conf.empty-restart"));
    assert!(!start(&rendered("examples/k8s/zone-aware.yaml")).contains("empty-restart"));
}

#[test]
fn pre_stop_hands_over_before_sigterm() {
    use redis_stretch_k8s::render::{
        HANDOVER_TIMEOUT_SECONDS, PRE_STOP_SCRIPT, TERMINATION_GRACE_SECONDS,
    };
    for r in [
        rendered("examples/k8s/zone-aware.yaml"),
        rendered("examples/k8s/seed.yaml"),
    ] {
        for set in &r.stateful_sets {
            let pod = &serde_json::to_value(set).unwrap()["spec"]["template"]["spec"];
            let redis = &pod["containers"][0];
            assert_eq!(
                redis["lifecycle"]["preStop"]["exec"]["command"],
                json!(["sh", "-c", PRE_STOP_SCRIPT])
            );
            assert!(redis["env"].as_array().unwrap().contains(&json!({
                "name": "HANDOVER_TIMEOUT_SECONDS",
                "value": HANDOVER_TIMEOUT_SECONDS.to_string()
            })));
            // The hook's bound, a call in flight and Redis's shutdown fit in the grace period.
            let grace = pod["terminationGracePeriodSeconds"].as_i64().unwrap();
            assert_eq!(grace, TERMINATION_GRACE_SECONDS);
            assert!(grace >= HANDOVER_TIMEOUT_SECONDS + 2 + 3 + 5, "{grace}");
        }
    }
    // The password reaches redis-cli through REDISCLI_AUTH only.
    assert!(!PRE_STOP_SCRIPT.contains(" -a "));
    assert!(!PRE_STOP_SCRIPT.contains("--pass"));
}

/// `redis.server: Valkey` renders Valkey's image and binaries everywhere a pod names one, and
/// nothing else changes shape: the same StatefulSets, services and configuration.
#[test]
fn valkey_renders_its_image_and_binaries_and_the_same_objects() {
    let valkey = rendered("examples/k8s/valkey.yaml");
    let redis = rendered("examples/k8s/zone-aware.yaml");
    assert_eq!(valkey.stateful_sets.len(), redis.stateful_sets.len());
    for s in &valkey.stateful_sets {
        let pod = s.spec.as_ref().unwrap().template.spec.as_ref().unwrap();
        let c = &pod.containers[0];
        assert_eq!(c.image.as_deref(), Some("valkey/valkey:8.1"));
        let text = serde_json::to_string(c).unwrap();
        assert!(text.contains("exec valkey-server "), "{text}");
        assert!(text.contains("valkey-cli"), "{text}");
        // Every shell line that runs something (comments may still say "redis-cli").
        let scripts = [
            c.command.clone().unwrap_or_default(),
            c.readiness_probe
                .clone()
                .unwrap()
                .exec
                .unwrap()
                .command
                .unwrap(),
            c.lifecycle
                .clone()
                .unwrap()
                .pre_stop
                .unwrap()
                .exec
                .unwrap()
                .command
                .unwrap(),
        ];
        for line in scripts.iter().flatten().flat_map(|s| s.lines()) {
            let code = line.trim_start();
            assert!(
                code.starts_with('#')
                    || !(code.contains("redis-server") || code.contains("redis-cli")),
                "a Redis binary in a Valkey pod: {line}"
            );
        }
    }
    let data = |r: &Rendered| r.config_map.data.clone().unwrap();
    assert_eq!(
        data(&valkey),
        data(&redis),
        "one configuration for both servers"
    );
}
