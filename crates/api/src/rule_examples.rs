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
        // Below the limit by a byte's worth of units (`maxmemory` is 256MB).
        "resources": {"memory": "257Mi"},
        "pod": {
            "labels": {"team": "cache", "example.com/tier": "a.b-c_d", "empty": ""},
            "annotations": {"example.com/owner": "platform team"},
            "nodeSelector": {"node-pool": "redis", "topology.kubernetes.io/zone": "dc-a"},
            "priorityClassName": "redis.critical-1",
            "tolerations": [
                {"key": "dedicated", "operator": "Equal", "value": "redis", "effect": "NoSchedule"},
                {"operator": "Exists"},
                {"key": "maintenance", "operator": "Exists", "effect": ""},
            ],
            "topologySpreadConstraints": [{
                "maxSkew": 1, "topologyKey": "kubernetes.io/hostname",
                "whenUnsatisfiable": "ScheduleAnyway",
            }],
            "imagePullSecrets": [{"name": "mirror"}],
            "imagePullPolicy": "IfNotPresent",
            "affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {
                "nodeSelectorTerms": [
                    {"matchExpressions": [{"key": "node-pool", "operator": "In", "values": ["redis"]}]},
                    {"matchFields": [{"key": "metadata.name", "operator": "NotIn", "values": ["n1"]}]},
                ],
            }}},
            "onePodPerNode": false,
        },
    });
    m["spec"]["placement"]["zoneLabel"] = json!("example.com/data-center_1");
    m
}

/// The examples whose rule the schema states as a maxLength, maxItems or maxProperties.
const MAX_LENGTH_RULES: &[&str] = &[
    "zone-name-length",
    "maxmemory-length",
    "tls-secret-length",
    "pod-label-value-length",
    "pod-labels-many",
    "tolerations-many",
];

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
    for (rule, pod) in pod_template_examples() {
        add(rule, &|m| m["spec"]["kubernetes"] = json!({ "pod": pod }));
    }
    v
}

/// `spec.kubernetes.pod`, each breaking one rule. The typed fields (tolerations, spread,
/// pull secrets, affinity) only with the `kube` feature: local mode keeps them unread.
fn pod_template_examples() -> Vec<(&'static str, Value)> {
    let zone = crate::spec::DEFAULT_ZONE_LABEL;
    #[allow(unused_mut)] // Without `kube`, nothing is added.
    let mut v = vec![
        ("pod-label-key", json!({"labels": {"-team": "a"}})),
        (
            "pod-label-ours",
            json!({"labels": {"redis-stretch.io/zone": "dc-a"}}),
        ),
        // The seed recipe's workload label, ours in SeedCompatible mode (the seed's).
        ("pod-label-app", json!({"labels": {"app": "redis"}})),
        ("pod-label-value", json!({"labels": {"team": "a b"}})),
        (
            "pod-label-value-length",
            json!({"labels": {"team": "a".repeat(64)}}),
        ),
        (
            "pod-labels-many",
            json!({ "labels": (0..65).map(|i| (format!("l{i}"), json!("a"))).collect::<serde_json::Map<_, _>>() }),
        ),
        ("pod-annotation-key", json!({"annotations": {"a b": "x"}})),
        (
            "node-selector-key",
            json!({"nodeSelector": {"/pool": "redis"}}),
        ),
        (
            "node-selector-zone",
            json!({"nodeSelector": {zone: "dc-a"}}),
        ),
        (
            "node-selector-value",
            json!({"nodeSelector": {"pool": "-redis"}}),
        ),
        ("priority-class", json!({"priorityClassName": "High"})),
    ];
    #[cfg(feature = "kube")]
    {
        let spread = |change: Value| {
            let mut c = json!({"maxSkew": 1, "topologyKey": "kubernetes.io/hostname", "whenUnsatisfiable": "DoNotSchedule"});
            if let (Value::Object(c), Value::Object(change)) = (&mut c, change) {
                c.extend(change);
            }
            json!({ "topologySpreadConstraints": [c] })
        };
        let required = |terms: Value| json!({"affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": terms}}}});
        v.extend([
            (
                "toleration-operator",
                json!({"tolerations": [{"key": "dedicated", "operator": "In"}]}),
            ),
            (
                "toleration-exists-value",
                json!({"tolerations": [{"key": "dedicated", "operator": "Exists", "value": "redis"}]}),
            ),
            (
                "toleration-empty-key",
                json!({"tolerations": [{"value": "redis", "effect": "NoSchedule"}]}),
            ),
            (
                "toleration-effect",
                json!({"tolerations": [{"operator": "Exists", "effect": "NoScheduling"}]}),
            ),
            ("spread-skew", spread(json!({"maxSkew": 0}))),
            ("spread-key", spread(json!({"topologyKey": ""}))),
            (
                "spread-policy",
                spread(json!({"whenUnsatisfiable": "Sometimes"})),
            ),
            ("pull-secret-name", json!({"imagePullSecrets": [{"name": ""}]})),
            (
                "tolerations-many",
                json!({ "tolerations": vec![json!({"operator": "Exists"}); 33] }),
            ),
            ("node-terms-empty", required(json!([]))),
            ("node-term-empty", required(json!([{}]))),
            (
                "node-term-zone",
                required(json!([{"matchExpressions": [{"key": zone, "operator": "In", "values": ["dc-a"]}]}])),
            ),
        ]);
    }
    v
}

/// Kubernetes only: a `maxmemory` not below the pods' memory limit (`1gb` is the default
/// limit's `1Gi`), which the render refuses (`ValidatedCluster::with_memory_limit`) and the
/// schema's rule with the same message.
pub fn maxmemory_at_limit() -> RuleExample {
    let mut manifest = seed("maxmemory-limit");
    manifest["spec"]["redis"] = json!({"maxmemory": "1gb"});
    RuleExample {
        rule: "maxmemory-limit",
        manifest,
        cel: true,
    }
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
