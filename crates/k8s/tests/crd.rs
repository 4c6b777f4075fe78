//! The committed `deploy/crd.yaml` is what the code generates, and its CEL rules do what they
//! say (evaluated client-side with kube's `cel` feature until a real API server runs them).

// Test-only file: helpers outside #[test] fns may fail loudly too.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::PathBuf;

use kube::core::cel::Validator;
use kube::CustomResourceExt;
use redis_stretch_k8s::{crd_yaml, RedisStretchCluster};
use serde_json::{json, Value};

fn committed_path() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../deploy/crd.yaml")
}

#[test]
fn committed_crd_matches_generated() {
    let generated = crd_yaml().unwrap();
    let path = committed_path();
    if std::env::var_os("REDIS_STRETCH_BLESS").is_some() {
        std::fs::write(&path, &generated).unwrap();
        return;
    }
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        committed == generated,
        "deploy/crd.yaml is out of date with the spec types. Regenerate it with\n  \
         cargo run -p redis-stretch -- crd > deploy/crd.yaml\nor\n  \
         REDIS_STRETCH_BLESS=1 cargo test -p redis-stretch-k8s --test crd"
    );
}

#[test]
fn crd_identity_and_columns() {
    let crd = RedisStretchCluster::crd();
    assert_eq!(
        crd.metadata.name.as_deref(),
        Some("redisstretchclusters.redis-stretch.io")
    );
    assert_eq!(crd.spec.group, "redis-stretch.io");
    assert_eq!(crd.spec.scope, "Namespaced");
    assert_eq!(crd.spec.names.kind, "RedisStretchCluster");
    assert_eq!(crd.spec.names.short_names, Some(vec!["rsc".to_owned()]));
    let version = &crd.spec.versions[0];
    assert_eq!(version.name, "v1alpha1");
    let columns: Vec<&str> = version
        .additional_printer_columns
        .iter()
        .flatten()
        .map(|c| c.name.as_str())
        .collect();
    assert_eq!(
        columns,
        ["Shards", "Ready", "Reason", "DCs", "Server", "Verdict", "Age"]
    );
    assert!(version
        .subresources
        .as_ref()
        .and_then(|s| s.status.as_ref())
        .is_some());
}

fn schema() -> Value {
    let crd = RedisStretchCluster::crd();
    let schema = crd.spec.versions[0]
        .schema
        .as_ref()
        .and_then(|s| s.open_api_v3_schema.as_ref())
        .unwrap();
    serde_json::to_value(schema).unwrap()
}

fn object(spec: Value) -> Value {
    json!({
        "apiVersion": "redis-stretch.io/v1alpha1",
        "kind": "RedisStretchCluster",
        "metadata": {"name": "seed", "namespace": "redis"},
        "spec": spec,
    })
}

fn seed_spec() -> Value {
    json!({
        "shards": 3,
        "zones": [
            {"name": "dc-a", "preferredMasters": 2},
            {"name": "dc-b", "preferredMasters": 1}
        ],
        "placement": {"mode": "SeedCompatible", "zoneLabel": "topology.kubernetes.io/zone"}
    })
}

/// Messages of every failed rule; empty when the object passes.
fn cel_errors(new: &Value, old: Option<&Value>) -> Vec<String> {
    match Validator::new().validate(&schema(), new, old) {
        Ok(()) => vec![],
        Err(errors) => errors.iter().map(|e| e.to_string()).collect(),
    }
}

#[test]
fn cel_accepts_the_seed() {
    let obj = object(seed_spec());
    assert_eq!(cel_errors(&obj, None), Vec::<String>::new());
    assert_eq!(cel_errors(&obj, Some(&obj)), Vec::<String>::new());
}

#[test]
fn cel_rejects_wrong_zone_count_and_sum() {
    let mut spec = seed_spec();
    spec["zones"] = json!([{"name": "dc-a", "preferredMasters": 3}]);
    let errs = cel_errors(&object(spec), None).join("\n");
    assert!(errs.contains("exactly two zones are required"), "{errs}");

    let mut spec = seed_spec();
    spec["zones"][1]["preferredMasters"] = json!(2);
    let errs = cel_errors(&object(spec), None).join("\n");
    assert!(errs.contains("must add up to spec.shards"), "{errs}");

    let mut spec = seed_spec();
    spec["zones"][1]["name"] = json!("dc-a");
    let errs = cel_errors(&object(spec), None).join("\n");
    assert!(errs.contains("both zones are named `dc-a`"), "{errs}");
}

#[test]
fn cel_rejects_zero_shards() {
    let mut spec = seed_spec();
    spec["shards"] = json!(0);
    spec["zones"][0]["preferredMasters"] = json!(0);
    spec["zones"][1]["preferredMasters"] = json!(0);
    let errs = cel_errors(&object(spec), None).join("\n");
    assert!(errs.contains("must be at least 1"), "{errs}");
}

#[test]
fn cel_guards_immutable_fields_on_update_and_lets_shards_change() {
    let old = object(seed_spec());

    // Shards change (the engine scales), with the preferred masters adding up to them.
    let mut spec = seed_spec();
    spec["shards"] = json!(6);
    spec["zones"][0]["preferredMasters"] = json!(4);
    spec["zones"][1]["preferredMasters"] = json!(2);
    assert_eq!(cel_errors(&object(spec), Some(&old)), Vec::<String>::new());
    let mut spec = seed_spec();
    spec["shards"] = json!(4);
    let errs = cel_errors(&object(spec), Some(&old)).join("\n");
    assert!(errs.contains("must add up to spec.shards"), "{errs}");

    let mut spec = seed_spec();
    spec["zones"][1]["name"] = json!("dc-c");
    let errs = cel_errors(&object(spec), Some(&old)).join("\n");
    assert!(errs.contains("zone names cannot be changed"), "{errs}");

    let mut spec = seed_spec();
    spec["placement"]["mode"] = json!("ZoneAware");
    let errs = cel_errors(&object(spec), Some(&old)).join("\n");
    assert!(errs.contains("spec.placement cannot be changed"), "{errs}");

    // What ends up in the StatefulSets' volumeClaimTemplates, which Kubernetes refuses to change.
    let with_persistence = |p: Value| {
        let mut spec = seed_spec();
        spec["redis"] = json!({ "persistence": p });
        object(spec)
    };
    let old_p = with_persistence(json!({"enabled": true, "size": "8Gi"}));
    let errs = cel_errors(
        &with_persistence(json!({"enabled": true, "size": "20Gi"})),
        Some(&old_p),
    )
    .join("\n");
    assert!(
        errs.contains("spec.redis.persistence.size cannot be changed on an existing cluster")
            && errs.contains("resize each PersistentVolumeClaim"),
        "{errs}"
    );
    let errs = cel_errors(
        &with_persistence(json!({"enabled": false, "size": "8Gi"})),
        Some(&old_p),
    )
    .join("\n");
    assert!(
        errs.contains("spec.redis.persistence.enabled cannot be changed"),
        "{errs}"
    );
    let errs = cel_errors(
        &with_persistence(json!({"enabled": true, "size": "8Gi", "storageClassName": "fast"})),
        Some(&old_p),
    )
    .join("\n");
    assert!(
        errs.contains("spec.redis.persistence.storageClassName cannot be changed"),
        "{errs}"
    );
    // Live settings and the retention policy may change.
    let mut spec = seed_spec();
    spec["redis"] = json!({
        "maxmemory": "512mb",
        "persistence": {"enabled": true, "size": "8Gi", "whenDeleted": "Delete"}
    });
    assert_eq!(
        cel_errors(&object(spec), Some(&old_p)),
        Vec::<String>::new()
    );

    // Moving masters between zones is allowed: failback targets change with it.
    let mut spec = seed_spec();
    spec["zones"][0]["preferredMasters"] = json!(1);
    spec["zones"][1]["preferredMasters"] = json!(2);
    assert_eq!(cel_errors(&object(spec), Some(&old)), Vec::<String>::new());
}

#[test]
fn cel_refuses_a_server_change_the_data_does_not_allow() {
    let with = |server: &str, image: Option<&str>| {
        let mut spec = seed_spec();
        spec["redis"] = json!({"server": server, "persistence": {"enabled": false, "size": "8Gi"}});
        if let Some(image) = image {
            spec["kubernetes"] = json!({ "image": image });
        } else {
            spec["kubernetes"] = json!({});
        }
        object(spec)
    };
    let to_valkey = "cannot change from Redis to Valkey";
    // The default image is Redis 7.4 (RDB 12): Valkey cannot load it.
    let errs = cel_errors(&with("Valkey", None), Some(&with("Redis", None))).join("\n");
    assert!(
        errs.contains(to_valkey) && errs.contains("RDB format 12"),
        "{errs}"
    );
    for image in ["redis:7.4.2", "redis:8.2", "docker.io/library/redis:7.4"] {
        let errs = cel_errors(
            &with("Valkey", Some("valkey/valkey:8.1")),
            Some(&with("Redis", Some(image))),
        )
        .join("\n");
        assert!(errs.contains(to_valkey), "{image}: {errs}");
    }
    // Redis 7.2 and older load in Valkey; an image the rule cannot read is the engine's call.
    for image in ["redis:7.2", "redis:7.0.15", "registry.example/redis:stable"] {
        assert_eq!(
            cel_errors(
                &with("Valkey", Some("valkey/valkey:8.1")),
                Some(&with("Redis", Some(image)))
            ),
            Vec::<String>::new(),
            "{image}"
        );
    }
    // Nothing moves back from Valkey.
    let errs = cel_errors(
        &with("Redis", Some("redis:7.2")),
        Some(&with("Valkey", Some("valkey/valkey:8.1"))),
    )
    .join("\n");
    assert!(errs.contains("from Valkey back to Redis"), "{errs}");
    // Staying put is always fine.
    assert_eq!(
        cel_errors(&with("Redis", None), Some(&with("Redis", None))),
        Vec::<String>::new()
    );
}

#[test]
fn cel_limits_the_name_length() {
    let mut obj = object(seed_spec());
    obj["metadata"]["name"] = json!("a".repeat(41));
    let errs = cel_errors(&obj, None).join("\n");
    assert!(errs.contains("may not be more than 40 bytes"), "{errs}");
}

#[test]
fn cel_requires_a_secret_for_tls() {
    let mut spec = seed_spec();
    spec["tls"] = json!({"enabled": true});
    let errs = cel_errors(&object(spec.clone()), None).join("\n");
    assert!(errs.contains("spec.tls.secretName is required"), "{errs}");

    spec["tls"] = json!({"enabled": true, "secretName": ""});
    let errs = cel_errors(&object(spec.clone()), None).join("\n");
    assert!(errs.contains("spec.tls.secretName is required"), "{errs}");

    spec["tls"] = json!({"enabled": true, "secretName": "seed-tls"});
    assert_eq!(
        cel_errors(&object(spec.clone()), None),
        Vec::<String>::new()
    );

    // What the defaults produce when TLS is left off.
    spec["tls"] = json!({"enabled": false});
    assert_eq!(cel_errors(&object(spec), None), Vec::<String>::new());
}

/// Every rule of `validate` that the schema repeats refuses its example here with the message
/// local mode gives (kube's CEL client evaluates only the CEL rules, and applies no defaults).
#[test]
fn cel_gives_local_modes_message_for_every_rule() {
    for valid in [
        redis_stretch_api::rule_examples::seed("seed"),
        redis_stretch_api::rule_examples::full("full"),
    ] {
        assert_eq!(cel_errors(&valid, None), Vec::<String>::new());
    }
    for example in redis_stretch_api::rule_examples::all() {
        let local = redis_stretch_api::rule_examples::local_problems(&example.manifest).unwrap();
        assert_eq!(local.len(), 1, "{}: {local:?}", example.rule);
        if !example.cel {
            continue;
        }
        let errs = cel_errors(&example.manifest, None).join("\n");
        assert!(
            errs.contains(&local[0].problem),
            "{}: CEL says\n{errs}\nlocal mode says\n{}",
            example.rule,
            local[0]
        );
    }
}

/// Quantities are the render's check (Kubernetes only); the schema's `isQuantity` rule says
/// what its message says.
#[test]
fn cel_refuses_what_the_render_refuses_as_a_quantity() {
    for example in redis_stretch_api::rule_examples::quantities() {
        let cr: RedisStretchCluster = serde_json::from_value(example.manifest.clone()).unwrap();
        let render = redis_stretch_k8s::render(&cr).err().unwrap().to_string();
        let errs = cel_errors(&example.manifest, None).join("\n");
        assert_eq!(errs.lines().count(), 1, "{}: {errs}", example.rule);
        let said = errs.split_once(": ").unwrap().1;
        assert!(
            render.contains(said),
            "{}: CEL says {said}, the render says {render}",
            example.rule
        );
    }
}

/// `maxmemory` against the memory limit is the render's check (Kubernetes only); the schema's
/// rule says what the render says.
#[test]
fn cel_refuses_a_maxmemory_the_render_refuses() {
    let example = redis_stretch_api::rule_examples::maxmemory_at_limit();
    let cr: RedisStretchCluster = serde_json::from_value(example.manifest.clone()).unwrap();
    let problem = match redis_stretch_k8s::render(&cr) {
        Err(redis_stretch_k8s::Error::Invalid { problems, .. }) => problems.0[0].problem.clone(),
        other => panic!("the render says {other:?}"),
    };
    let errs = cel_errors(&example.manifest, None);
    assert_eq!(errs.len(), 1, "{errs:?}");
    assert!(
        errs[0].contains(&problem),
        "CEL says {errs:?}, the render {problem}"
    );
    // Just below the limit, in another unit: accepted by both.
    let mut below = example.manifest.clone();
    below["spec"]["redis"]["maxmemory"] = json!("1073741823");
    assert_eq!(cel_errors(&below, None), Vec::<String>::new());
    let cr: RedisStretchCluster = serde_json::from_value(below).unwrap();
    assert!(redis_stretch_k8s::render(&cr).is_ok());
}

/// The Helm chart installs the CRD from its `crds/` folder, which Helm applies verbatim; it
/// must be the generated CRD, byte for byte.
#[test]
fn helm_chart_crd_is_the_committed_crd() {
    let chart = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../deploy/helm/redis-stretch/crds/redis-stretch.io_redisstretchclusters.yaml");
    let generated = crd_yaml().unwrap();
    if std::env::var_os("REDIS_STRETCH_BLESS").is_some() {
        std::fs::write(&chart, &generated).unwrap();
        return;
    }
    let in_chart = std::fs::read_to_string(&chart).unwrap_or_default();
    let committed = std::fs::read_to_string(committed_path()).unwrap_or_default();
    assert!(
        in_chart == committed && in_chart == generated,
        "{} differs from deploy/crd.yaml or from the spec types. Copy it with\n  \
         cp deploy/crd.yaml deploy/helm/redis-stretch/crds/redis-stretch.io_redisstretchclusters.yaml\nor\n  \
         REDIS_STRETCH_BLESS=1 cargo test -p redis-stretch-k8s --test crd",
        chart.display()
    );
}
