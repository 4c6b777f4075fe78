//! `plan` on the seed's six nodes: where each pod lands, how shards pair across zones, the
//! verdict, and what goes wrong when a node is cordoned or too small.

// Test-only file: helpers outside #[test] fns may fail loudly too.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::PathBuf;

use redis_stretch_k8s::cluster::parse;
use redis_stretch_k8s::{predict, PlanReport};
use serde_json::Value;

fn repo(path: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .join(path)
}

fn read(path: &str) -> String {
    std::fs::read_to_string(repo(path)).unwrap()
}

/// The seed nodes with `edit` applied to node `name`.
fn nodes_with(name: &str, edit: impl Fn(&mut Value)) -> String {
    let mut list: Value = serde_json::from_str(&read("examples/k8s/seed-nodes.json")).unwrap();
    for node in list["items"].as_array_mut().unwrap() {
        if node["metadata"]["name"] == name {
            edit(node);
        }
    }
    list.to_string()
}

fn run(example: &str, nodes: &str) -> PlanReport {
    let report = predict(&parse(&read(example)).unwrap(), nodes).unwrap();
    println!("{report}");
    report
}

fn node_of<'a>(r: &'a PlanReport, pod: &str) -> Option<&'a str> {
    r.pods
        .iter()
        .find(|p| p.name == pod)
        .and_then(|p| p.node.as_deref())
}

fn nodes_of(r: &PlanReport, set: &str) -> Vec<String> {
    let mut v: Vec<String> = r
        .pods
        .iter()
        .filter(|p| p.stateful_set == set)
        .filter_map(|p| p.node.clone())
        .collect();
    v.sort();
    v
}

#[test]
fn seed_lands_as_the_recipe_says() {
    let r = run(
        "examples/k8s/seed.yaml",
        &read("examples/k8s/seed-nodes.json"),
    );
    assert_eq!(
        nodes_of(&r, "seed-leader"),
        ["k8s-node-01", "k8s-node-02", "k8s-node-06"]
    );
    assert_eq!(
        nodes_of(&r, "seed-follower"),
        ["k8s-node-03", "k8s-node-04", "k8s-node-05"]
    );
    assert_eq!(
        r.verdict,
        "loss of dc-b: automatic; loss of dc-a: needs takeover"
    );
    // Default topology spreading outweighs the 90-vs-80 preference for leader-1 (dc-a already
    // has leader-0), so the ordinals pair 01↔04, 06↔03, 02↔05: still across zones.
    assert_eq!(node_of(&r, "seed-leader-1"), Some("k8s-node-06"));
    assert_eq!(node_of(&r, "seed-follower-1"), Some("k8s-node-03"));
    for s in &r.shards {
        assert_ne!(
            s.master_zone, s.replica_zones[0],
            "shard {} pairs across zones",
            s.index
        );
    }
    assert!(
        r.pods.iter().all(|p| p.tie.is_empty()),
        "no random choice in the seed layout"
    );
    assert!(r.problems.is_empty(), "{:?}", r.problems);
    let leader = r.pods.iter().find(|p| p.name == "seed-leader-0").unwrap();
    assert_eq!(leader.labels["app"], "redis-leader");
    assert_eq!(leader.zone.as_deref(), Some("dc-a"));
}

#[test]
fn json_output_has_name_labels_node_zone() {
    let r = run(
        "examples/k8s/seed.yaml",
        &read("examples/k8s/seed-nodes.json"),
    );
    let v = serde_json::to_value(&r).unwrap();
    let pod = &v["pods"][0];
    assert_eq!(pod["name"], "seed-leader-0");
    assert_eq!(pod["node"], "k8s-node-01");
    assert_eq!(pod["zone"], "dc-a");
    assert_eq!(pod["labels"]["app"], "redis-leader");
    assert_eq!(
        v["verdict"],
        "loss of dc-b: automatic; loss of dc-a: needs takeover"
    );
}

fn assert_node_06_fails(r: &PlanReport, why: &str) {
    let all = r.problems.join("\n");
    assert!(all.contains("seed-follower-2 cannot be scheduled"), "{all}");
    assert!(all.contains(&format!("k8s-node-06: {why}")), "{all}");
    assert!(
        all.contains("zone dc-b has 2 eligible node(s) for Redis pods but the layout needs 3"),
        "{all}"
    );
    // The leaders' pool loses its third node: leader-2 leaves the az1 pool for dc-b's 04/05 at
    // random, and follower-1 ends beside leader-1 in dc-a.
    let leader2 = r.pods.iter().find(|p| p.name == "seed-leader-2").unwrap();
    assert_eq!(leader2.tie, ["k8s-node-04", "k8s-node-05"]);
    assert!(
        all.contains(
            "shard 1: master seed-leader-1 is in dc-a and no replica is in the other zone"
        ),
        "{all}"
    );
    assert!(
        all.contains(
            "shard 2: master seed-leader-2 is in dc-b and no replica is in the other zone"
        ),
        "{all}"
    );
    assert_eq!(
        r.verdict,
        "loss of dc-a: data loss; loss of dc-b: data loss"
    );
}

#[test]
fn cordoned_node_06() {
    let nodes = nodes_with("k8s-node-06", |n| {
        n["spec"]["unschedulable"] = Value::Bool(true)
    });
    let r = run("examples/k8s/seed.yaml", &nodes);
    assert_node_06_fails(&r, "cordoned");
}

#[test]
fn node_06_too_small() {
    let nodes = nodes_with("k8s-node-06", |n| {
        n["status"]["allocatable"]["cpu"] = Value::from("250m");
    });
    let r = run("examples/k8s/seed.yaml", &nodes);
    assert_node_06_fails(
        &r,
        "insufficient cpu: the pod requests 500m, the node has 250m allocatable",
    );
}

#[test]
fn tainted_node_is_skipped_unless_tolerated() {
    let nodes = nodes_with("k8s-node-06", |n| {
        n["spec"]["taints"] =
            serde_json::json!([{"key": "dedicated", "value": "gpu", "effect": "NoSchedule"}]);
    });
    let r = run("examples/k8s/seed.yaml", &nodes);
    assert!(r
        .problems
        .join("\n")
        .contains("k8s-node-06: untolerated taint dedicated=gpu:NoSchedule"));
}

/// `spec.kubernetes.pod.nodeSelector`: a node without the label is filtered out, as the
/// scheduler's NodeAffinity filter does, and the report says which label it lacks.
#[test]
fn a_node_outside_the_node_selector_is_skipped() {
    let mut list: Value = serde_json::from_str(&read("examples/k8s/seed-nodes.json")).unwrap();
    for node in list["items"].as_array_mut().unwrap() {
        if node["metadata"]["name"] != "k8s-node-06" {
            node["metadata"]["labels"]["node-pool"] = Value::from("redis");
        }
    }
    let mut cr = parse(&read("examples/k8s/seed.yaml")).unwrap();
    cr.spec
        .kubernetes
        .pod
        .node_selector
        .insert("node-pool".into(), "redis".into());
    let r = predict(&cr, &list.to_string()).unwrap();
    println!("{r}");
    assert_node_06_fails(&r, "does not match the nodeSelector (node-pool=redis)");
}

#[test]
fn zone_aware_keeps_zones_and_reports_random_choices() {
    let r = run(
        "examples/k8s/zone-aware.yaml",
        &read("examples/k8s/seed-nodes.json"),
    );
    for p in &r.pods {
        let zone = if p.stateful_set == "orders-dc-a" {
            "dc-a"
        } else {
            "dc-b"
        };
        assert_eq!(p.zone.as_deref(), Some(zone), "{}", p.name);
    }
    // Three interchangeable nodes per zone: the first pod of each zone is a three-way tie.
    assert_eq!(r.pods[0].tie, ["k8s-node-01", "k8s-node-02", "k8s-node-03"]);
    let mut used: Vec<_> = r.pods.iter().filter_map(|p| p.node.clone()).collect();
    used.sort();
    used.dedup();
    assert_eq!(used.len(), 6, "one pod per node");
    assert_eq!(
        r.verdict,
        "loss of dc-b: automatic; loss of dc-a: needs takeover"
    );
    assert!(r.problems.is_empty(), "{:?}", r.problems);
    assert!(r
        .notes
        .iter()
        .any(|n| n.starts_with("orders-dc-a-0: the scheduler picks at random")));
}

#[test]
fn zone_aware_with_a_short_zone() {
    let nodes = nodes_with("k8s-node-05", |n| {
        n["spec"]["unschedulable"] = Value::Bool(true)
    });
    let r = run("examples/k8s/zone-aware.yaml", &nodes);
    let all = r.problems.join("\n");
    assert!(all.contains("orders-dc-b-2 cannot be scheduled"), "{all}");
    assert!(
        all.contains("zone dc-b has 2 eligible node(s) for Redis pods but the layout needs 3"),
        "{all}"
    );
    assert!(all.contains("k8s-node-05: cordoned"), "{all}");
}
