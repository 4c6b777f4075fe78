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
    let yaml: Value = serde_saphyr::from_str(&rest[open..open + close]).unwrap();
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
    let kinds: Vec<String> = serde_saphyr::from_multiple::<Value>(&yaml)
        .unwrap()
        .into_iter()
        .map(|v| {
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

/// An example custom resource, edited as JSON (no YAML crate in the test's way).
fn cr_with(example: &str, edit: impl FnOnce(&mut Value)) -> redis_stretch_k8s::RedisStretchCluster {
    let text = std::fs::read_to_string(repo(example)).unwrap();
    let mut v = serde_json::to_value(parse(&text).unwrap()).unwrap();
    edit(&mut v);
    serde_json::from_value(v).unwrap()
}

fn render_with(example: &str, edit: impl FnOnce(&mut Value)) -> Rendered {
    render(&cr_with(example, edit)).unwrap()
}

fn render_error(example: &str, edit: impl FnOnce(&mut Value)) -> String {
    match render(&cr_with(example, edit)) {
        Ok(_) => panic!("rendered, expected a refusal"),
        Err(e) => e.to_string(),
    }
}

/// Pod Security `restricted`, checked on every container of every StatefulSet (the exporter
/// and TLS on, persistence on and off), and every path Redis writes on a writable volume.
#[test]
fn every_container_is_restricted_and_redis_writes_only_to_volumes() {
    let seed = rendered("examples/k8s/seed.yaml");
    for r in [everything_on(), seed] {
        let conf = conf_of(&r);
        for s in &r.stateful_sets {
            let name = s.metadata.name.clone().unwrap();
            let pod = pod_spec(&r, &name);
            let sc = &pod["securityContext"];
            assert_eq!(sc["runAsNonRoot"], json!(true), "{name}");
            assert_eq!(sc["runAsUser"], json!(999), "{name}");
            assert_eq!(sc["runAsGroup"], json!(999), "{name}");
            assert_eq!(sc["fsGroup"], json!(999), "{name}");
            assert_eq!(
                sc["seccompProfile"]["type"],
                json!("RuntimeDefault"),
                "{name}"
            );
            assert!(pod.get("hostNetwork").is_none() && pod.get("hostPID").is_none());
            let mut containers = pod["containers"].as_array().unwrap().clone();
            containers.extend(
                pod["initContainers"]
                    .as_array()
                    .cloned()
                    .unwrap_or_default(),
            );
            for c in &containers {
                let who = format!("{name}/{}", c["name"]);
                let csc = &c["securityContext"];
                assert_eq!(csc["allowPrivilegeEscalation"], json!(false), "{who}");
                assert_eq!(csc["capabilities"]["drop"], json!(["ALL"]), "{who}");
                assert_eq!(csc["readOnlyRootFilesystem"], json!(true), "{who}");
                assert!(csc["capabilities"].get("add").is_none(), "{who}");
                assert!(
                    c["ports"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .all(|p| p.get("hostPort").is_none()),
                    "{who}"
                );
            }
            // Only the volume types `restricted` allows.
            for v in pod["volumes"].as_array().unwrap() {
                let kinds: Vec<&String> = v
                    .as_object()
                    .unwrap()
                    .keys()
                    .filter(|k| *k != "name")
                    .collect();
                assert!(
                    kinds.iter().all(|k| [
                        "configMap",
                        "secret",
                        "emptyDir",
                        "persistentVolumeClaim",
                        "projected",
                        "downwardAPI"
                    ]
                    .contains(&k.as_str())),
                    "{name}: volume {v}"
                );
            }
            // Redis's writes: dir (nodes.conf, AOF, a temporary RDB), the password include,
            // /tmp; no log file, no pidfile.
            let redis = &pod["containers"][0];
            let writable: Vec<&str> = redis["volumeMounts"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|m| m["readOnly"] != json!(true))
                .map(|m| m["mountPath"].as_str().unwrap())
                .collect();
            let on_volume = |path: &str| {
                writable
                    .iter()
                    .any(|m| path.starts_with(&format!("{m}/")) || path == *m)
            };
            for path in ["/data", "/data/nodes.conf", "/run/redis/auth.conf", "/tmp"] {
                assert!(
                    on_volume(path),
                    "{name}: {path} is not on a writable volume: {writable:?}"
                );
            }
            assert!(
                conf.contains("\ndir /data\n")
                    && conf.contains("cluster-config-file /data/nodes.conf")
            );
            assert!(
                !conf.contains("\nlogfile ")
                    && !conf.contains("\npidfile ")
                    && !conf.contains("daemonize yes")
            );
        }
    }
}

/// The pod template of the spec, merged: ours still holds (labels, zone, one per node), the
/// user's additions are all there.
#[test]
fn pod_template_adds_to_our_rules() {
    let r = render_with("examples/k8s/zone-aware.yaml", |v| {
        v["spec"]["kubernetes"]["metrics"] = json!({"enabled": true});
        v["spec"]["kubernetes"]["pod"] = json!({
            "labels": {"team": "payments"},
            "annotations": {"example.com/owner": "payments", "prometheus.io/port": "1"},
            "nodeSelector": {"node-pool": "redis"},
            "tolerations": [{"key": "dedicated", "operator": "Equal", "value": "redis", "effect": "NoSchedule"}],
            "affinity": {
                "nodeAffinity": {
                    "requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [
                        {"matchExpressions": [{"key": "disk", "operator": "In", "values": ["ssd"]}]},
                        {"matchExpressions": [{"key": "disk", "operator": "In", "values": ["nvme"]}]}
                    ]},
                    "preferredDuringSchedulingIgnoredDuringExecution": [
                        {"weight": 10, "preference": {"matchExpressions": [{"key": "gen", "operator": "In", "values": ["new"]}]}}
                    ]
                },
                "podAffinity": {"preferredDuringSchedulingIgnoredDuringExecution": [
                    {"weight": 5, "podAffinityTerm": {"labelSelector": {"matchLabels": {"app": "api"}}, "topologyKey": "kubernetes.io/hostname"}}
                ]},
                "podAntiAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [
                    {"labelSelector": {"matchLabels": {"app": "kafka"}}, "topologyKey": "kubernetes.io/hostname"}
                ]}
            },
            "topologySpreadConstraints": [
                {"maxSkew": 1, "topologyKey": "kubernetes.io/hostname", "whenUnsatisfiable": "ScheduleAnyway",
                 "labelSelector": {"matchLabels": {"app.kubernetes.io/instance": "orders"}}}
            ],
            "priorityClassName": "redis-critical",
            "imagePullSecrets": [{"name": "mirror"}],
            "imagePullPolicy": "IfNotPresent"
        });
    });
    for (s, zone) in r.stateful_sets.iter().zip(["dc-a", "dc-b"]) {
        let name = s.metadata.name.clone().unwrap();
        let pod = pod_spec(&r, &name);
        let zone_req =
            json!({"key": "topology.kubernetes.io/zone", "operator": "In", "values": [zone]});
        let a = &pod["affinity"];
        // Each of the user's required terms ANDed with our zone term: never out of the zone.
        assert_eq!(
            a["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]
                ["nodeSelectorTerms"],
            json!([
                {"matchExpressions": [zone_req, {"key": "disk", "operator": "In", "values": ["ssd"]}]},
                {"matchExpressions": [zone_req, {"key": "disk", "operator": "In", "values": ["nvme"]}]}
            ]),
            "{name}"
        );
        assert_eq!(
            a["nodeAffinity"]["preferredDuringSchedulingIgnoredDuringExecution"][0]["weight"],
            json!(10)
        );
        assert_eq!(
            a["podAffinity"]["preferredDuringSchedulingIgnoredDuringExecution"][0]["weight"],
            json!(5)
        );
        assert_eq!(
            a["podAntiAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"],
            json!([hostname_term("orders"), {"labelSelector": {"matchLabels": {"app": "kafka"}}, "topologyKey": "kubernetes.io/hostname"}]),
            "{name}: one pod per node stays"
        );
        assert_eq!(pod["nodeSelector"], json!({"node-pool": "redis"}));
        assert_eq!(pod["tolerations"][0]["key"], json!("dedicated"));
        assert_eq!(pod["topologySpreadConstraints"][0]["maxSkew"], json!(1));
        assert_eq!(pod["priorityClassName"], json!("redis-critical"));
        assert_eq!(pod["imagePullSecrets"], json!([{"name": "mirror"}]));
        for c in pod["containers"].as_array().unwrap() {
            assert_eq!(c["imagePullPolicy"], json!("IfNotPresent"), "{}", c["name"]);
        }
        assert_eq!(pod["containers"].as_array().unwrap().len(), 2);
        // Ours still there; the StatefulSet's selector unchanged.
        let labels = pod_labels(s);
        assert_eq!(labels["team"], json!("payments"));
        assert_eq!(labels["app.kubernetes.io/instance"], json!("orders"));
        assert_eq!(labels["redis-stretch.io/zone"], json!(zone));
        let selector = serde_json::to_value(&s.spec.as_ref().unwrap().selector).unwrap();
        assert!(selector["matchLabels"].get("team").is_none());
        let meta =
            serde_json::to_value(s.spec.as_ref().unwrap().template.metadata.as_ref().unwrap())
                .unwrap();
        assert_eq!(meta["annotations"]["example.com/owner"], json!("payments"));
        assert_eq!(
            meta["annotations"]["prometheus.io/port"],
            json!("9121"),
            "ours win"
        );
    }
    // Without a template: nothing of it in the pods.
    let plain = rendered("examples/k8s/zone-aware.yaml");
    let pod = pod_spec(&plain, "orders-dc-a");
    for field in [
        "nodeSelector",
        "tolerations",
        "topologySpreadConstraints",
        "priorityClassName",
        "imagePullSecrets",
    ] {
        assert!(pod.get(field).is_none(), "{field}");
    }
    assert!(pod["containers"][0].get("imagePullPolicy").is_none());
}

#[test]
fn one_pod_per_node_is_the_default_and_can_be_relaxed() {
    let relax = |v: &mut Value| v["spec"]["kubernetes"]["pod"] = json!({"onePodPerNode": false});
    let r = render_with("examples/k8s/zone-aware.yaml", relax);
    let a = pod_affinity(sts(&r, "orders-dc-a"));
    assert!(a.get("podAntiAffinity").is_none(), "{a}");
    assert!(
        a["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"].is_object(),
        "the zone stays"
    );
    let r = render_with("examples/k8s/seed.yaml", relax);
    let a = pod_affinity(sts(&r, "seed-leader"));
    let required = a["podAntiAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]
        .as_array()
        .unwrap();
    assert_eq!(required.len(), 1, "only the recipe's own term: {a}");
    assert_eq!(required[0]["topologyKey"], json!("az1"));
}

/// Every label we put on a Redis pod is refused in the template, in both modes (so that the
/// list in validation and `names.rs` cannot drift apart), as are the zone label as a node
/// selector and malformed scheduling fields; each message names the field.
#[test]
fn pod_template_cannot_override_ours() {
    for (example, set) in [
        ("examples/k8s/zone-aware.yaml", "orders-dc-a"),
        ("examples/k8s/seed.yaml", "seed-leader"),
    ] {
        let labels = pod_labels(sts(&rendered(example), set));
        for key in labels.as_object().unwrap().keys() {
            let err = render_error(example, |v| {
                v["spec"]["kubernetes"]["pod"] = json!({"labels": {key.clone(): "x"}});
            });
            assert!(
                err.contains(&format!("spec.kubernetes.pod.labels[{key}]")),
                "{key}: {err}"
            );
        }
    }
    let cases = [
        (
            json!({"nodeSelector": {"topology.kubernetes.io/zone": "dc-a"}}),
            "spec.kubernetes.pod.nodeSelector[topology.kubernetes.io/zone]",
        ),
        (
            json!({"labels": {"team": "not ok!"}}),
            "spec.kubernetes.pod.labels[team]",
        ),
        (
            json!({"tolerations": [{"key": "dedicated", "operator": "Matches"}]}),
            "spec.kubernetes.pod.tolerations[0].operator",
        ),
        (
            json!({"tolerations": [{"key": "dedicated", "effect": "NoRun"}]}),
            "spec.kubernetes.pod.tolerations[0].effect",
        ),
        (
            json!({"topologySpreadConstraints": [{"maxSkew": 0, "topologyKey": "kubernetes.io/hostname", "whenUnsatisfiable": "Maybe"}]}),
            "spec.kubernetes.pod.topologySpreadConstraints[0].maxSkew",
        ),
        (
            json!({"priorityClassName": "Not_A_Name"}),
            "spec.kubernetes.pod.priorityClassName",
        ),
        (
            json!({"affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [
                {"matchExpressions": [{"key": "topology.kubernetes.io/zone", "operator": "In", "values": ["dc-b"]}]}
            ]}}}}),
            "nodeSelectorTerms[0]",
        ),
    ];
    for (pod, field) in cases {
        let err = render_error("examples/k8s/zone-aware.yaml", |v| {
            v["spec"]["kubernetes"]["pod"] = pod.clone()
        });
        assert!(err.contains(field), "{pod}: {err}");
    }
}

/// Without `redis.maxmemory`, 70% of the memory limit, in redis.conf and in what the engine
/// keeps live (the same validated spec); at or above the limit, refused; `0` stays no limit.
#[test]
fn maxmemory_follows_the_memory_limit() {
    use redis_stretch_api::redis_config::live_settings;
    let unset = |memory: &'static str| {
        move |v: &mut Value| {
            v["spec"]["redis"]
                .as_object_mut()
                .unwrap()
                .remove("maxmemory");
            v["spec"]["kubernetes"]["resources"]["memory"] = json!(memory);
        }
    };
    let r = render_with("examples/k8s/zone-aware.yaml", unset("1Gi"));
    assert!(
        conf_of(&r).contains("\nmaxmemory 716mb\n"),
        "{}",
        conf_of(&r)
    );
    let live = live_settings(r.cluster.spec());
    assert!(
        live.contains(&("maxmemory".to_owned(), "716mb".to_owned())),
        "{live:?}"
    );
    let cluster = redis_stretch_k8s::cluster::validated(&cr_with(
        "examples/k8s/zone-aware.yaml",
        unset("1Gi"),
    ))
    .unwrap();
    assert_eq!(
        cluster.spec().redis.maxmemory.as_deref(),
        Some("716mb"),
        "what the operator's engine runs with"
    );
    let r = render_with("examples/k8s/zone-aware.yaml", unset("4Gi"));
    assert!(conf_of(&r).contains("\nmaxmemory 2867mb\n"));
    // A changed limit changes the pod template: the pods restart with the new limit anyway.
    assert_ne!(
        pod_spec(&r, "orders-dc-a")["containers"][0]["resources"],
        pod_spec(&rendered("examples/k8s/zone-aware.yaml"), "orders-dc-a")["containers"][0]
            ["resources"]
    );

    // Set explicitly: kept when below the limit, refused at or above it.
    let r = rendered("examples/k8s/zone-aware.yaml");
    assert!(conf_of(&r).contains("\nmaxmemory 512mb\n"));
    for too_much in ["1gb", "2gb", "1073741824"] {
        let err = render_error("examples/k8s/zone-aware.yaml", |v| {
            v["spec"]["redis"]["maxmemory"] = json!(too_much)
        });
        assert!(
            err.contains("spec.redis.maxmemory")
                && err.contains("spec.kubernetes.resources.memory")
                && err.contains("716mb"),
            "{err}"
        );
    }
    let r = render_with("examples/k8s/zone-aware.yaml", |v| {
        v["spec"]["redis"]["maxmemory"] = json!("0")
    });
    assert!(conf_of(&r).contains("\nmaxmemory 0\n"));
}

/// The cluster's NetworkPolicy (operator `--network-policy`): the bus from this cluster's pods
/// only, the client port from its pods, the operator's pods and the cluster's namespace (and
/// the listed ones), the exporter's port — the cluster's own setting — from the listed
/// scrapers. Without the option nothing is rendered.
#[test]
fn network_policy_keeps_the_bus_to_the_clusters_own_pods() {
    let plain = rendered("examples/k8s/zone-aware.yaml");
    assert!(plain.network_policy.is_none());
    let access = redis_stretch_k8s::NetworkAccess {
        operator_namespace: "redis-stretch".into(),
        operator_labels: [("app.kubernetes.io/component".into(), "operator".into())].into(),
        client_namespaces: vec!["shop".into()],
        metrics_namespaces: vec!["monitoring".into()],
    };
    let mut cr =
        parse(&std::fs::read_to_string(repo("examples/k8s/zone-aware.yaml")).unwrap()).unwrap();
    cr.spec.kubernetes.metrics.enabled = true;
    cr.spec.kubernetes.metrics.port = 9200;
    let r = render(&cr).unwrap().with_network_policy(&access);
    let objects = serde_json::to_value(r.objects()).unwrap();
    assert_eq!(objects[0]["kind"], "NetworkPolicy", "before the pods");
    let p = serde_json::to_value(r.network_policy.as_ref().unwrap()).unwrap();
    let name = cr.metadata.name.clone().unwrap();
    assert_eq!(p["metadata"]["name"], format!("{name}-redis"));
    let ours = json!({"app.kubernetes.io/name": "redis-stretch",
        "app.kubernetes.io/instance": name, "app.kubernetes.io/component": "redis"});
    assert_eq!(p["spec"]["podSelector"]["matchLabels"], ours);
    assert_eq!(p["spec"]["policyTypes"], json!(["Ingress"]));
    let rules = p["spec"]["ingress"].as_array().unwrap();
    let from = |port: i64| {
        let r = rules
            .iter()
            .find(|r| r["ports"][0]["port"] == port)
            .unwrap_or_else(|| panic!("no rule for {port}: {rules:?}"));
        r["from"].clone()
    };
    assert_eq!(from(16379), json!([{"podSelector": {"matchLabels": ours}}]));
    let ns = |list: &[&str]| json!({"matchExpressions": [{"key": "kubernetes.io/metadata.name", "operator": "In", "values": list}]});
    assert_eq!(
        from(6379),
        json!([
            {"podSelector": {"matchLabels": ours}},
            {"namespaceSelector": ns(&["redis-stretch"]),
             "podSelector": {"matchLabels": {"app.kubernetes.io/component": "operator"}}},
            {"podSelector": {}},
            {"namespaceSelector": ns(&["shop"])},
        ])
    );
    assert_eq!(
        from(9200),
        json!([{"namespaceSelector": ns(&["monitoring"])}])
    );
    assert_eq!(rules.len(), 3);
}
