#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! Pods and nodes as the engine's instances: zone from the node's label, leaders before
//! followers, and a clear reason for every pod that cannot be an instance yet.

use k8s_openapi::api::core::v1::{Node, Pod};
use kube::runtime::reflector;
use kube::runtime::watcher::Event;
use redis_stretch_operator::platform::{cluster_pods, node_health, placement};
use serde_json::json;

fn pod(name: &str, app: &str, node: Option<&str>, ip: Option<&str>) -> Pod {
    serde_json::from_value(json!({
        "metadata": {"name": name, "namespace": "redis", "labels": {
            "app.kubernetes.io/name": "redis-stretch", "app.kubernetes.io/instance": "seed", "app.kubernetes.io/component": "redis", "app": app}},
        "spec": {"containers": [], "nodeName": node},
        "status": {"podIP": ip, "phase": "Running"}
    }))
    .unwrap()
}

fn node(name: &str, zone: Option<&str>, ready: bool) -> Node {
    let labels = zone.map_or(json!({}), |z| json!({"topology.kubernetes.io/zone": z}));
    serde_json::from_value(json!({
        "metadata": {"name": name, "labels": labels},
        "status": {"conditions": [{"type": "Ready", "status": if ready {"True"} else {"False"}}]}
    }))
    .unwrap()
}

#[test]
fn pods_become_instances_in_their_nodes_zones() {
    let (pods, mut pw) = reflector::store::<Pod>();
    let (nodes, mut nw) = reflector::store::<Node>();
    for n in [
        node("k8s-node-01", Some("dc-a"), true),
        node("k8s-node-04", Some("dc-b"), false),
        node("k8s-node-09", None, true),
    ] {
        nw.apply_watcher_event(&Event::Apply(n));
    }
    for p in [
        pod(
            "seed-follower-0",
            "redis-follower",
            Some("k8s-node-04"),
            Some("10.0.2.2"),
        ),
        pod(
            "seed-leader-0",
            "redis-leader",
            Some("k8s-node-01"),
            Some("10.0.1.1"),
        ),
        pod("seed-leader-1", "redis-leader", None, None),
        pod(
            "seed-leader-2",
            "redis-leader",
            Some("k8s-node-09"),
            Some("10.0.9.9"),
        ),
    ] {
        pw.apply_watcher_event(&Event::Apply(p));
    }
    let mine = cluster_pods(&pods, "redis", "seed");
    let names: Vec<String> = mine
        .iter()
        .map(|p| p.metadata.name.clone().unwrap())
        .collect();
    assert_eq!(
        names,
        [
            "seed-leader-0",
            "seed-leader-1",
            "seed-leader-2",
            "seed-follower-0"
        ],
        "leaders first, so a new seed cluster starts with its leaders as masters"
    );
    let p = placement(&mine, &nodes, "topology.kubernetes.io/zone");
    let inst: Vec<(String, String, String)> = p
        .instances
        .iter()
        .map(|i| (i.name.clone(), i.zone.clone(), i.addr.to_string()))
        .collect();
    assert_eq!(
        inst,
        [
            (
                "seed-leader-0".into(),
                "dc-a".into(),
                "10.0.1.1:6379".into()
            ),
            (
                "seed-follower-0".into(),
                "dc-b".into(),
                "10.0.2.2:6379".into()
            ),
        ]
    );
    assert_eq!(p.unplaced.len(), 2);
    assert!(p.unplaced[0].why.contains("no pod IP"), "{:?}", p.unplaced);
    assert!(
        p.unplaced[1].why.contains("k8s-node-09"),
        "{:?}",
        p.unplaced
    );
    assert_eq!(
        p.nodes.get("seed-leader-0").map(String::as_str),
        Some("k8s-node-01")
    );

    let health = node_health(&nodes, "topology.kubernetes.io/zone");
    assert_eq!((health["dc-a"].ready, health["dc-a"].total), (1, 1));
    assert_eq!((health["dc-b"].ready, health["dc-b"].total), (0, 1));
}

fn set(
    strategy: &str,
    update_revision: &str,
    image: &str,
) -> k8s_openapi::api::apps::v1::StatefulSet {
    serde_json::from_value(json!({
        "metadata": {"name": "seed-leader", "namespace": "redis"},
        "spec": {
            "selector": {},
            "updateStrategy": {"type": strategy},
            "template": {"spec": {"containers": [{"name": "redis", "image": image}]}}
        },
        "status": {"replicas": 3, "updateRevision": update_revision, "currentRevision": "seed-leader-aaa"}
    }))
    .unwrap()
}

fn pod_at(revision: &str, image: &str) -> Pod {
    serde_json::from_value(json!({
        "metadata": {"name": "seed-leader-2", "namespace": "redis",
            "labels": {"controller-revision-hash": revision},
            "ownerReferences": [{"apiVersion": "apps/v1", "kind": "StatefulSet", "name": "seed-leader", "uid": "u", "controller": true}]},
        "spec": {"containers": [{"name": "redis", "image": image}]}
    }))
    .unwrap()
}

/// A pod created before the template changed is outdated, and says what changed; a pod at the
/// update revision is not; under RollingUpdate (the measuring knob) the StatefulSet controller
/// replaces pods itself, so the engine is told nothing.
#[test]
fn a_pod_behind_its_stateful_sets_update_revision_must_restart() {
    use redis_stretch_operator::platform::restart_for;
    let new = set("OnDelete", "seed-leader-bbb", "redis:7.4");
    let why = restart_for(&pod_at("seed-leader-aaa", "redis:7.2"), &new).unwrap();
    assert_eq!(
        why,
        "pod template changed: revision seed-leader-aaa → seed-leader-bbb (redis image redis:7.2 → redis:7.4)"
    );
    assert_eq!(
        restart_for(&pod_at("seed-leader-bbb", "redis:7.4"), &new),
        None
    );
    // Another change of the template (a setting, a probe): only the revision shows it.
    let why = restart_for(&pod_at("seed-leader-aaa", "redis:7.4"), &new).unwrap();
    assert_eq!(
        why,
        "pod template changed: revision seed-leader-aaa → seed-leader-bbb"
    );
    let rolling = set("RollingUpdate", "seed-leader-bbb", "redis:7.4");
    assert_eq!(
        restart_for(&pod_at("seed-leader-aaa", "redis:7.2"), &rolling),
        None
    );
}
