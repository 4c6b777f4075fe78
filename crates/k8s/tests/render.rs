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
    assert_eq!(
        container["env"][2]["valueFrom"]["secretKeyRef"],
        json!({"name": "orders-redis-auth", "key": "password"})
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
