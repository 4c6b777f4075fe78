//! One invalid manifest per validation rule, for the tests that check that local mode
//! (`validate`) and the CRD's schema (kube's CEL client, a real API server) refuse it with the
//! same message. Not part of the API.

use serde_json::{json, Value};

use crate::{validate, Manifest, Problem};

/// A rule's name (also the example's `metadata.name`, unless the name is the point) and a
/// manifest that breaks that rule only.
pub struct RuleExample {
    pub rule: &'static str,
    pub manifest: Value,
    /// The schema says it with a CEL rule; otherwise with a maxLength, which kube's CEL client
    /// does not check (the API server does).
    pub cel: bool,
}

/// The seed's manifest, valid everywhere.
pub fn seed(name: &str) -> Value {
    json!({
        "apiVersion": "redis-stretch.io/v1alpha1",
        "kind": "RedisStretchCluster",
        "metadata": {"name": name, "namespace": "redis"},
        "spec": {
            "shards": 3,
            "zones": [
                {"name": "dc-a", "preferredMasters": 2},
                {"name": "dc-b", "preferredMasters": 1}
            ],
            "placement": {"mode": "SeedCompatible", "zoneLabel": "topology.kubernetes.io/zone"}
        }
    })
}

/// A valid manifest that sets every field a rule checks, near the rules' limits.
pub fn full(name: &str) -> Value {
    let mut m = seed(name);
    m["spec"]["replicasPerShard"] = json!(5);
    m["spec"]["zones"][1]["name"] = json!("d".repeat(63));
    m["spec"]["failover"] = json!({"preferredSide": "dc-a"});
    m["spec"]["redis"] = json!({
        "clusterNodeTimeoutMs": 500,
        "maxmemory": "256MB",
        "maxmemoryPolicy": "volatile-ttl",
        "replBacklogSize": "16kb",
    });
    m["spec"]["auth"] = json!({"secretName": "redis-auth"});
    m["spec"]["tls"] = json!({"enabled": true, "secretName": "seed-tls"});
    m["spec"]["kubernetes"] = json!({
        "image": "redis:7.2",
        "metrics": {"enabled": true, "port": 9121},
    });
    m["spec"]["placement"]["zoneLabel"] = json!("example.com/data-center_1");
    m
}

/// The examples whose rule the schema states as a maxLength.
const MAX_LENGTH_RULES: &[&str] = &["zone-name-length", "maxmemory-length", "tls-secret-length"];

/// Every example; each breaks exactly one rule of `validate`.
pub fn all() -> Vec<RuleExample> {
    let mut v = Vec::new();
    let mut add = |rule: &'static str, change: &dyn Fn(&mut Value)| {
        let mut manifest = seed(rule);
        change(&mut manifest);
        let cel = !MAX_LENGTH_RULES.contains(&rule);
        v.push(RuleExample {
            rule,
            manifest,
            cel,
        });
    };
    add("name-length", &|m| {
        m["metadata"]["name"] = json!("a".repeat(41))
    });
    // A valid object name (a DNS subdomain) that is not a DNS label.
    add("name-label", &|m| m["metadata"]["name"] = json!("seed.one"));
    add("shards-zero", &|m| {
        m["spec"]["shards"] = json!(0);
        m["spec"]["zones"][0]["preferredMasters"] = json!(0);
        m["spec"]["zones"][1]["preferredMasters"] = json!(0);
    });
    add("shards-many", &|m| {
        m["spec"]["shards"] = json!(501);
        m["spec"]["zones"][0]["preferredMasters"] = json!(251);
        m["spec"]["zones"][1]["preferredMasters"] = json!(250);
    });
    add("replicas-zero", &|m| {
        m["spec"]["replicasPerShard"] = json!(0)
    });
    add("replicas-many", &|m| {
        m["spec"]["replicasPerShard"] = json!(6)
    });
    add("zone-count", &|m| {
        m["spec"]["zones"] = json!([{"name": "dc-a", "preferredMasters": 3}]);
    });
    add("zone-name-empty", &|m| {
        m["spec"]["zones"][1]["name"] = json!("")
    });
    add("zone-name-length", &|m| {
        m["spec"]["zones"][1]["name"] = json!("d".repeat(64));
    });
    add("zone-name-label", &|m| {
        m["spec"]["zones"][1]["name"] = json!("DC_B")
    });
    add("zone-names-same", &|m| {
        m["spec"]["zones"][1]["name"] = json!("dc-a")
    });
    add("preferred-side", &|m| {
        m["spec"]["failover"] = json!({"preferredSide": "dc-c"});
    });
    add("preferred-sum", &|m| {
        m["spec"]["zones"][1]["preferredMasters"] = json!(2);
    });
    add("node-timeout", &|m| {
        m["spec"]["redis"] = json!({"clusterNodeTimeoutMs": 100});
    });
    add("maxmemory-number", &|m| {
        m["spec"]["redis"] = json!({"maxmemory": "lots"});
    });
    add("maxmemory-length", &|m| {
        m["spec"]["redis"] = json!({"maxmemory": format!("{}mb", "0".repeat(31))});
    });
    add("maxmemory-unit", &|m| {
        m["spec"]["redis"] = json!({"maxmemory": "12xb"});
    });
    add("backlog-unit", &|m| {
        m["spec"]["redis"] = json!({"replBacklogSize": "64MiB"});
    });
    add("backlog-minimum", &|m| {
        m["spec"]["redis"] = json!({"replBacklogSize": "15kb"});
    });
    add("maxmemory-policy", &|m| {
        m["spec"]["redis"] = json!({"maxmemoryPolicy": "lru"});
    });
    add("auth-secret-empty", &|m| {
        m["spec"]["auth"] = json!({"secretName": ""});
    });
    add("auth-secret-label", &|m| {
        m["spec"]["auth"] = json!({"secretName": "redis.auth"});
    });
    add("tls-secret-required", &|m| {
        m["spec"]["tls"] = json!({"enabled": true});
    });
    add("tls-secret-length", &|m| {
        m["spec"]["tls"] = json!({"enabled": true, "secretName": "t".repeat(254)});
    });
    add("metrics-image", &|m| {
        m["spec"]["kubernetes"] = json!({"metrics": {"enabled": true, "image": " "}});
    });
    add("metrics-port", &|m| {
        m["spec"]["kubernetes"] = json!({"metrics": {"enabled": true, "port": 16379}});
    });
    add("zone-label", &|m| {
        m["spec"]["placement"]["zoneLabel"] = json!("topology.kubernetes.io/");
    });
    add("image-empty", &|m| {
        m["spec"]["kubernetes"] = json!({"image": " "});
    });
    v
}

/// Quantities that are not: `validate` passes them, and on Kubernetes the render
/// (`redis_stretch_k8s::render`) refuses them with a message the schema's rule repeats.
pub fn quantities() -> Vec<RuleExample> {
    let mut v = Vec::new();
    for (rule, field, value) in [
        ("cpu-quantity", "resources", json!({"cpu": "lots"})),
        ("memory-quantity", "resources", json!({"memory": "1GB"})),
        ("size-quantity", "persistence", json!({"size": "eight"})),
    ] {
        let mut manifest = seed(rule);
        if field == "persistence" {
            manifest["spec"]["redis"] = json!({ "persistence": value });
        } else {
            manifest["spec"]["kubernetes"] = json!({ "resources": value });
        }
        v.push(RuleExample {
            rule,
            manifest,
            cel: true,
        });
    }
    v
}

/// What local mode says about `manifest`: every problem `validate` finds.
pub fn local_problems(manifest: &Value) -> Result<Vec<Problem>, String> {
    let manifest: Manifest = serde_json::from_value(manifest.clone()).map_err(|e| e.to_string())?;
    Ok(match validate(manifest) {
        Ok(_) => vec![],
        Err(problems) => problems.0,
    })
}
