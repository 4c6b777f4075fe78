#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use redis_stretch_api::{load_manifest, ClaimRetention, FailoverPolicy};

const SEED: &str = include_str!("../../../examples/seed-two-dc.yaml");

fn problems(text: &str) -> Vec<String> {
    match load_manifest(text) {
        Ok(_) => vec![],
        Err(p) => p.0.iter().map(|p| p.to_string()).collect(),
    }
}

#[test]
fn seed_example_is_valid() {
    let c = load_manifest(SEED).expect("seed example validates");
    assert_eq!(c.name(), "seed");
    assert_eq!(c.spec().shards, 3);
    assert_eq!(c.zone_names(), vec!["dc-a", "dc-b"]);
    assert_eq!(c.spec().failover.policy, FailoverPolicy::Automatic);
    assert!(c.spec().auth.enabled);
}

#[test]
fn defaults_fill_a_minimal_manifest() {
    let c = load_manifest(
        "apiVersion: redis-stretch.io/v1alpha1\nkind: RedisStretchCluster\nmetadata: {name: m}\n\
         spec:\n  shards: 1\n  zones: [{name: a, preferredMasters: 1}, {name: b, preferredMasters: 0}]\n",
    )
    .unwrap();
    let s = c.spec();
    assert_eq!(s.replicas_per_shard, 1);
    assert_eq!(s.redis.cluster_node_timeout_ms, 2000);
    assert!(s.failover.fencing);
    assert!(s.auth.enabled);
}

#[test]
fn every_problem_is_reported_at_once() {
    let bad = SEED
        .replace("shards: 3", "shards: 0")
        .replace(
            "  replicasPerShard: 1",
            "  replicasPerShard: 1\n  replica: 2",
        )
        .replace("    - name: dc-b\n      preferredMasters: 1\n", "");
    let p = problems(&bad);
    let all = p.join("\n");
    assert!(all.contains("spec.replica: unknown field"), "{all}");
    assert!(all.contains("did you mean `replicasPerShard`"), "{all}");
    assert!(all.contains("spec.shards: must be at least 1"), "{all}");
    assert!(
        all.contains("spec.zones: exactly two zones are required, found one"),
        "{all}"
    );
    assert!(all.contains("preferredMasters"), "{all}");
    assert_eq!(p.len(), 4, "{all}");
}

#[test]
fn preferred_masters_must_add_up() {
    let p = problems(&SEED.replace("preferredMasters: 1", "preferredMasters: 2"));
    assert_eq!(p.len(), 1, "{p:?}");
    assert!(
        p[0].contains("must add up to spec.shards")
            && p[0].contains("they add up to 4 (dc-a=2, dc-b=2) for 3 shards"),
        "{p:?}"
    );
}

#[test]
fn type_errors_name_the_field() {
    let p = problems(&SEED.replace("policy: Automatic", "policy: Sometimes"));
    assert_eq!(p.len(), 1, "{p:?}");
    assert!(p[0].starts_with("spec.failover.policy"), "{p:?}");
}

#[test]
fn names_and_sizes_are_checked() {
    let p = problems(
        &SEED
            .replace("name: seed", "name: Seed_1")
            .replace("name: dc-b", "name: dc-a")
            .replace("maxmemory: 256mb", "maxmemory: lots")
            .replace("clusterNodeTimeoutMs: 2000", "clusterNodeTimeoutMs: 10"),
    );
    let all = p.join("\n");
    for field in [
        "metadata.name",
        "spec.zones[1].name",
        "spec.redis.maxmemory",
        "spec.redis.clusterNodeTimeoutMs",
    ] {
        assert!(all.contains(field), "missing {field} in {all}");
    }
}

#[test]
fn wrong_kind_and_version_are_reported() {
    let p = problems(
        &SEED
            .replace("redis-stretch.io/v1alpha1", "v1")
            .replace("kind: RedisStretchCluster", "kind: Redis"),
    );
    assert_eq!(p.len(), 2, "{p:?}");
}

#[test]
fn new_fields_default_to_off_and_retain() {
    let c = load_manifest(SEED).unwrap();
    let s = c.spec();
    assert!(!s.tls.enabled);
    assert_eq!(s.tls.secret_name, None);
    assert!(!s.kubernetes.metrics.enabled);
    assert_eq!(
        s.kubernetes.metrics.image,
        "oliver006/redis_exporter:v1.62.0"
    );
    assert_eq!(s.kubernetes.metrics.port, 9121);
    assert_eq!(s.redis.persistence.when_deleted, ClaimRetention::Retain);
}

/// A minimal valid manifest with `extra` added to its spec.
fn with_spec(extra: &str) -> String {
    format!(
        "apiVersion: redis-stretch.io/v1alpha1\nkind: RedisStretchCluster\nmetadata: {{name: m}}\n\
         spec:\n  shards: 1\n  zones: [{{name: a, preferredMasters: 1}}, {{name: b, preferredMasters: 0}}]\n{extra}"
    )
}

#[test]
fn tls_needs_a_secret() {
    let p = problems(&with_spec("  tls:\n    enabled: true\n"));
    assert_eq!(p.len(), 1, "{p:?}");
    assert!(
        p[0].starts_with("spec.tls.secretName: is required"),
        "{p:?}"
    );
    assert!(p[0].contains("kubernetes.io/tls"), "{p:?}");

    let ok = with_spec("  tls:\n    enabled: true\n    secretName: seed-tls\n");
    assert!(load_manifest(&ok).unwrap().spec().tls.enabled);
}

#[test]
fn metrics_port_must_be_free_in_the_pod() {
    let p = problems(&with_spec(
        "  kubernetes:\n    metrics:\n      enabled: true\n      port: 16379\n",
    ));
    assert_eq!(p.len(), 1, "{p:?}");
    assert!(p[0].starts_with("spec.kubernetes.metrics.port"), "{p:?}");
    assert!(p[0].contains("9121"), "{p:?}");
}

#[test]
fn when_deleted_takes_retain_or_delete() {
    let c = load_manifest(&with_spec(
        "  redis:\n    persistence:\n      enabled: true\n      whenDeleted: Delete\n",
    ))
    .unwrap();
    assert_eq!(
        c.spec().redis.persistence.when_deleted,
        ClaimRetention::Delete
    );
    let p = problems(&with_spec(
        "  redis:\n    persistence:\n      whenDeleted: Sometimes\n",
    ));
    assert_eq!(p.len(), 1, "{p:?}");
    assert!(
        p[0].starts_with("spec.redis.persistence.whenDeleted"),
        "{p:?}"
    );
}

#[test]
fn a_backlog_below_redis_minimum_is_refused() {
    // Redis would raise it to 16kb and report that: set live, it would never read back.
    let p = problems(&SEED.replace(
        "maxmemory: 256mb",
        "maxmemory: 256mb\n    replBacklogSize: 1kb",
    ));
    assert_eq!(p.len(), 1, "{p:?}");
    assert!(
        p[0].starts_with("spec.redis.replBacklogSize") && p[0].contains("16kb"),
        "{p:?}"
    );
    assert!(problems(&SEED.replace(
        "maxmemory: 256mb",
        "maxmemory: 256mb\n    replBacklogSize: 16kb",
    ))
    .is_empty());
}

/// The examples the CRD tests apply: each breaks one rule, and local mode says which.
#[test]
fn every_rule_example_breaks_one_rule() {
    for valid in [
        redis_stretch_api::rule_examples::seed("seed"),
        redis_stretch_api::rule_examples::full("full"),
    ] {
        assert_eq!(
            redis_stretch_api::rule_examples::local_problems(&valid).unwrap(),
            vec![]
        );
    }
    for example in redis_stretch_api::rule_examples::all() {
        let p = redis_stretch_api::rule_examples::local_problems(&example.manifest).unwrap();
        assert_eq!(p.len(), 1, "{}: {p:?}", example.rule);
    }
}
