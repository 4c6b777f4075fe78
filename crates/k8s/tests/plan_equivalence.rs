//! The incremental scheduler of `plan` predicts exactly what the old one did: on random nodes
//! (zones, labels, taints, cordons, allocatable resources, repeated names) and random pods or
//! whole specs, the same bindings, scores, ties and unschedulable reasons, and the same report.
//! The old implementation is kept verbatim in `plan_reference/`.

// Test-only file: helpers outside #[test] fns may fail loudly too.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod plan_reference;

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{
    Affinity, NodeAffinity, NodeSelector, NodeSelectorRequirement, NodeSelectorTerm,
    PodAffinityTerm, PodAntiAffinity, PreferredSchedulingTerm, Toleration,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, LabelSelectorRequirement};
use proptest::prelude::*;
use proptest::sample::select;
use redis_stretch_k8s::cluster::parse;
use redis_stretch_k8s::plan::{parse_nodes, plan_rendered, Node, PendingPod, Scheduler, Taint};
use redis_stretch_k8s::render;
use serde_json::{json, Value};

const ZONE: &str = "topology.kubernetes.io/zone";
const HOSTNAME: &str = "kubernetes.io/hostname";
/// Topology keys and node label keys the generated rules and nodes draw from: the seed's pools,
/// both zone labels the specs use, a number for Gt/Lt, and one no node has.
const KEYS: [&str; 7] = [HOSTNAME, ZONE, "zone", "az1", "az2", "tier", "absent"];

fn label_value(key: &'static str) -> BoxedStrategy<String> {
    match key {
        ZONE | "zone" => select(vec!["dc-a", "dc-b", "dc-c", ""])
            .prop_map(str::to_owned)
            .boxed(),
        "az1" | "az2" => select(vec!["node01", "node02", "node03"])
            .prop_map(str::to_owned)
            .boxed(),
        "tier" => select(vec!["1", "5", "10", "x"])
            .prop_map(str::to_owned)
            .boxed(),
        _ => select(vec!["a", "b"]).prop_map(str::to_owned).boxed(),
    }
}

fn taint() -> impl Strategy<Value = Taint> {
    (
        select(vec![
            "dedicated",
            "batch",
            "node.kubernetes.io/unschedulable",
            "node.kubernetes.io/not-ready",
        ]),
        select(vec![None, Some(""), Some("gpu")]),
        select(vec!["NoSchedule", "NoExecute", "PreferNoSchedule"]),
    )
        .prop_map(|(key, value, effect)| Taint {
            key: key.to_owned(),
            value: value.map(str::to_owned),
            effect: effect.to_owned(),
        })
}

/// One node; `labelled` keeps the zone labels to the two zones of a spec.
fn node(i: usize, zones_only: bool) -> impl Strategy<Value = Node> {
    let zone = if zones_only {
        select(vec![Some("dc-a"), Some("dc-b"), Some("dc-b"), None])
            .prop_map(|z| z.map(str::to_owned))
            .boxed()
    } else {
        proptest::option::weighted(0.8, label_value(ZONE)).boxed()
    };
    (
        (
            proptest::bool::weighted(0.1),
            proptest::bool::weighted(0.9),
            zone,
            proptest::option::weighted(0.3, label_value("az1")),
            proptest::option::weighted(0.3, label_value("az2")),
            proptest::option::weighted(0.5, label_value("tier")),
        ),
        proptest::bool::weighted(0.15),
        proptest::collection::vec(taint(), 0..3),
        select(vec![0u128, 250, 500, 1000, 4000]),
        select(vec![0u128, 512 << 20, 1 << 30, 4 << 30, 16 << 30]),
        select(vec![0u128, 1, 2, 3, 110]),
    )
        .prop_map(
            move |(
                (repeat, hostname, zone, az1, az2, tier),
                unschedulable,
                taints,
                cpu,
                mem,
                pods,
            )| {
                // A repeated name (a hand-written list can have one) shares the first's load.
                let name = if repeat && i > 0 {
                    format!("n{:03}", i - 1)
                } else {
                    format!("n{i:03}")
                };
                let mut labels = BTreeMap::new();
                if hostname {
                    labels.insert(HOSTNAME.to_owned(), name.clone());
                }
                for (key, value) in [
                    (ZONE, zone.clone()),
                    ("zone", zone),
                    ("az1", az1),
                    ("az2", az2),
                    ("tier", tier),
                ] {
                    if let Some(v) = value {
                        labels.insert(key.to_owned(), v);
                    }
                }
                Node {
                    name,
                    labels,
                    unschedulable,
                    taints,
                    cpu_millis: cpu,
                    memory_bytes: mem,
                    pods,
                    ready: Some(true),
                }
            },
        )
}

fn nodes(max: usize, zones_only: bool) -> impl Strategy<Value = Vec<Node>> {
    (1..=max).prop_flat_map(move |n| (0..n).map(|i| node(i, zones_only)).collect::<Vec<_>>())
}

fn node_requirement() -> impl Strategy<Value = NodeSelectorRequirement> {
    select(KEYS.to_vec()).prop_flat_map(|key| {
        (
            select(vec![
                "In",
                "NotIn",
                "Exists",
                "DoesNotExist",
                "Gt",
                "Lt",
                "Bogus",
            ]),
            proptest::collection::vec(label_value(key), 0..3),
        )
            .prop_map(move |(op, values)| NodeSelectorRequirement {
                key: key.to_owned(),
                operator: op.to_owned(),
                values: Some(values),
            })
    })
}

fn node_term() -> impl Strategy<Value = NodeSelectorTerm> {
    (
        proptest::collection::vec(node_requirement(), 0..3),
        proptest::option::weighted(0.15, select(vec!["n000", "n001", "n002"])),
    )
        .prop_map(|(exprs, name)| NodeSelectorTerm {
            match_expressions: Some(exprs),
            match_fields: name.map(|n| {
                vec![NodeSelectorRequirement {
                    key: "metadata.name".to_owned(),
                    operator: "In".to_owned(),
                    values: Some(vec![n.to_owned()]),
                }]
            }),
        })
}

fn pod_selector() -> impl Strategy<Value = Option<LabelSelector>> {
    prop_oneof![
        1 => Just(None),
        1 => Just(Some(LabelSelector::default())),
        4 => select(vec!["redis-leader", "redis-follower", "other"]).prop_map(|app| Some(LabelSelector {
            match_labels: Some(BTreeMap::from([("app".to_owned(), app.to_owned())])),
            ..Default::default()
        })),
        2 => (select(vec!["In", "NotIn", "Exists", "DoesNotExist"]), select(vec!["app", "cluster"])).prop_map(|(op, key)| Some(LabelSelector {
            match_expressions: Some(vec![LabelSelectorRequirement {
                key: key.to_owned(),
                operator: op.to_owned(),
                values: Some(vec!["redis-leader".to_owned(), "c".to_owned()]),
            }]),
            ..Default::default()
        })),
    ]
}

fn anti_term() -> impl Strategy<Value = PodAffinityTerm> {
    (select(KEYS.to_vec()), pod_selector()).prop_map(|(key, selector)| PodAffinityTerm {
        label_selector: selector,
        topology_key: key.to_owned(),
        ..Default::default()
    })
}

fn affinity() -> impl Strategy<Value = Option<Affinity>> {
    proptest::option::weighted(
        0.85,
        (
            proptest::option::weighted(0.4, proptest::collection::vec(node_term(), 0..3)),
            proptest::collection::vec((-10i32..=100, node_term()), 0..4),
            proptest::collection::vec(anti_term(), 0..3),
        )
            .prop_map(|(required, preferred, anti)| Affinity {
                node_affinity: Some(NodeAffinity {
                    required_during_scheduling_ignored_during_execution: required.map(|terms| {
                        NodeSelector {
                            node_selector_terms: terms,
                        }
                    }),
                    preferred_during_scheduling_ignored_during_execution: Some(
                        preferred
                            .into_iter()
                            .map(|(weight, preference)| PreferredSchedulingTerm {
                                weight,
                                preference,
                            })
                            .collect(),
                    ),
                }),
                pod_anti_affinity: Some(PodAntiAffinity {
                    required_during_scheduling_ignored_during_execution: Some(anti),
                    ..Default::default()
                }),
                ..Default::default()
            }),
    )
}

fn toleration() -> impl Strategy<Value = Toleration> {
    (
        select(vec![
            None,
            Some(""),
            Some("dedicated"),
            Some("batch"),
            Some("node.kubernetes.io/unschedulable"),
        ]),
        select(vec![None, Some("Exists"), Some("Equal")]),
        select(vec![None, Some(""), Some("gpu")]),
        select(vec![
            None,
            Some(""),
            Some("NoSchedule"),
            Some("PreferNoSchedule"),
            Some("NoExecute"),
        ]),
    )
        .prop_map(|(key, operator, value, effect)| Toleration {
            key: key.map(str::to_owned),
            operator: operator.map(str::to_owned),
            value: value.map(str::to_owned),
            effect: effect.map(str::to_owned),
            ..Default::default()
        })
}

/// What the pods of one StatefulSet share.
#[derive(Clone, Debug)]
struct PodTemplate {
    labels: BTreeMap<String, String>,
    affinity: Option<Affinity>,
    tolerations: Vec<Toleration>,
}

fn template() -> impl Strategy<Value = PodTemplate> {
    (
        select(vec!["redis-leader", "redis-follower", "other"]),
        proptest::bool::ANY,
        affinity(),
        proptest::collection::vec(toleration(), 0..3),
    )
        .prop_map(|(app, in_cluster, affinity, tolerations)| {
            let mut labels = BTreeMap::from([("app".to_owned(), app.to_owned())]);
            if in_cluster {
                labels.insert("cluster".to_owned(), "c".to_owned());
            }
            PodTemplate {
                labels,
                affinity,
                tolerations,
            }
        })
}

/// A sequence of pods, each of one of a few templates and owners, in scheduling order.
fn pods() -> impl Strategy<Value = Vec<PendingPod>> {
    (
        proptest::collection::vec(template(), 1..4),
        proptest::collection::vec(
            (
                0usize..4,
                0usize..3,
                select(vec![0u128, 100, 500, 2000]),
                select(vec![0u128, 256 << 20, 1 << 30, 8 << 30]),
            ),
            1..25,
        ),
    )
        .prop_map(|(templates, picks)| {
            picks
                .into_iter()
                .enumerate()
                .map(|(i, (t, owner, cpu, mem))| {
                    let t = &templates[t % templates.len()];
                    PendingPod {
                        name: format!("p{i}"),
                        owner: format!("sts-{owner}"),
                        labels: t.labels.clone(),
                        affinity: t.affinity.clone(),
                        node_selector: Default::default(),
                        tolerations: t.tolerations.clone(),
                        cpu_millis: cpu,
                        memory_bytes: mem,
                    }
                })
                .collect()
        })
}

/// A RedisStretchCluster within validation's bounds.
fn spec() -> impl Strategy<Value = String> {
    (
        1u32..=6,
        1u32..=2,
        select(vec!["SeedCompatible", "ZoneAware"]),
        select(vec![ZONE, "zone"]),
        select(vec!["100m", "500m", "2"]),
        select(vec!["256Mi", "1Gi", "4Gi"]),
    )
        .prop_flat_map(|(shards, replicas, mode, label, cpu, mem)| {
            (0..=shards).prop_map(move |a| {
                format!(
                    "apiVersion: redis-stretch.io/v1alpha1
kind: RedisStretchCluster
metadata:
  name: prop
  namespace: redis
spec:
  shards: {shards}
  replicasPerShard: {replicas}
  zones:
    - name: dc-a
      preferredMasters: {a}
    - name: dc-b
      preferredMasters: {b}
  placement:
    mode: {mode}
    zoneLabel: {label}
  kubernetes:
    resources:
      cpu: {cpu}
      memory: {mem}
",
                    b = shards - a
                )
            })
        })
}

/// `nodes` as `kubectl get nodes -o json` prints them, with fields `plan` does not read.
fn kubectl_json(nodes: &[Node]) -> String {
    let items: Vec<Value> = nodes
        .iter()
        .map(|n| {
            json!({
                "apiVersion": "v1",
                "kind": "Node",
                "metadata": {"name": n.name, "labels": n.labels, "uid": "x"},
                "spec": {"unschedulable": n.unschedulable, "taints": n.taints.iter().map(|t| json!({"key": t.key, "value": t.value, "effect": t.effect})).collect::<Vec<_>>()},
                "status": {
                    "allocatable": {"cpu": format!("{}m", n.cpu_millis), "memory": n.memory_bytes.to_string(), "pods": n.pods.to_string(), "ephemeral-storage": "1Gi"},
                    "capacity": {"cpu": "4"},
                    "conditions": [{"type": "Ready", "status": "True", "reason": "KubeletReady"}],
                    "nodeInfo": {"kubeletVersion": "v1.33.0"},
                },
            })
        })
        .collect();
    json!({"apiVersion": "v1", "kind": "List", "items": items}).to_string()
}

/// The node list reader tries serde_json first now; what it returns, or the error, is what the
/// YAML reader returned.
#[test]
fn node_lists_read_as_before() {
    let seed = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/k8s/seed-nodes.json"),
    )
    .unwrap();
    let cases = [
        seed.clone(),
        // The same as YAML.
        serde_saphyr::to_string(&serde_json::from_str::<Value>(&seed).unwrap()).unwrap(),
        // A label given twice, a field given twice.
        r#"{"items": [{"metadata": {"name": "a", "labels": {"z": "1", "z": "2"}}}]}"#.to_owned(),
        r#"{"items": [{"metadata": {"name": "a", "name": "b"}}]}"#.to_owned(),
        // Numbers where Kubernetes writes strings, escapes, nulls.
        r#"{"items": [{"metadata": {"name": "a\u00e9", "labels": {"k": "v\n"}}, "status": {"allocatable": {"cpu": 2, "pods": "110"}}}]}"#.to_owned(),
        r#"{"items": [{"metadata": {"name": "a"}, "spec": null}]}"#.to_owned(),
        r#"{"items": [{"metadata": {"name": "a"}, "spec": {"taints": [{"key": "k", "effect": "NoSchedule", "value": null}]}}]}"#.to_owned(),
        // Wrong or missing pieces.
        r#"{"items": []}"#.to_owned(),
        r#"{"kind": "List"}"#.to_owned(),
        r#"{"items": [{"metadata": {"name": "a"}, "status": {"allocatable": {"cpu": "lots"}}}]}"#.to_owned(),
        r#"{"items": [{"metadata": {}}]}"#.to_owned(),
        "[1, 2]".to_owned(),
        "".to_owned(),
        "{".to_owned(),
    ];
    for text in cases {
        let new = parse_nodes(&text).map_err(|e| e.to_string());
        let old = plan_reference::nodes::parse_nodes(&text).map_err(|e| e.to_string());
        assert_eq!(new, old, "{text}");
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 600, ..ProptestConfig::default() })]

    #[test]
    fn scheduler_binds_as_before(nodes in nodes(24, false), pods in pods()) {
        let mut new = Scheduler::new(&nodes);
        let mut old = plan_reference::Scheduler::new(&nodes);
        for pod in &pods {
            prop_assert_eq!(new.schedule(pod), old.schedule(pod), "pod {}", pod.name);
        }
        // What `plan` asks of a scheduler for each zone's capacity, here after placements too.
        for pod in &pods {
            for n in 0..=nodes.len() {
                prop_assert_eq!(new.filter_node(pod, n), old.filter_node(pod, n), "pod {} node {}", pod.name, n);
            }
        }
    }

    #[test]
    fn generated_node_lists_read_as_before(nodes in nodes(8, false)) {
        let text = kubectl_json(&nodes);
        let new = parse_nodes(&text).map_err(|e| e.to_string());
        prop_assert_eq!(new, plan_reference::nodes::parse_nodes(&text).map_err(|e| e.to_string()));
    }

    #[test]
    fn report_is_as_before(text in spec(), nodes in nodes(16, true)) {
        let rendered = render(&parse(&text).unwrap()).unwrap();
        let new = plan_rendered(&rendered, &nodes);
        let old = plan_reference::plan_rendered(&rendered, &nodes);
        prop_assert_eq!(format!("{new:?}"), format!("{old:?}"));
    }
}
