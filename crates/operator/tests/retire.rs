#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! The scale-in on Kubernetes: pods at or above the ordinal the spec needs of their
//! StatefulSet are `leaving`, and retiring one lowers its StatefulSet to its ordinal — only
//! from the count read (a JSON patch `test`), only for the highest ordinal, never for a pod the
//! spec needs.

mod support;

use std::collections::BTreeMap;
use std::time::Duration;

use http::{Method, StatusCode};
use k8s_openapi::api::apps::v1::StatefulSet;
use k8s_openapi::api::core::v1::Pod;
use kube::runtime::reflector::{self, store::Writer};
use kube::runtime::watcher::Event;
use redis_stretch_engine::Platform;
use redis_stretch_operator::lease::Leadership;
use redis_stretch_operator::platform::{KubePlatform, RETIRE_MANAGER};
use serde_json::json;
use support::{harness, Expect, Harness, APPS};

fn pod(set: &str, ordinal: i32, ip: Option<&str>) -> Pod {
    let app = if set.ends_with("leader") {
        "redis-leader"
    } else {
        "redis-follower"
    };
    serde_json::from_value(json!({
        "metadata": {"name": format!("{set}-{ordinal}"), "namespace": "redis", "uid": format!("{set}-{ordinal}-uid"),
            "labels": {"app.kubernetes.io/name": "redis-stretch", "app.kubernetes.io/instance": "seed",
                "app.kubernetes.io/component": "redis", "app": app, "redis-stretch.io/zone": "dc-a"},
            "ownerReferences": [{"apiVersion": "apps/v1", "kind": "StatefulSet", "name": set, "uid": "u", "controller": true}]},
        "spec": {"containers": []},
        "status": {"podIP": ip, "phase": "Running"}
    }))
    .unwrap()
}

fn set(name: &str, replicas: i32) -> StatefulSet {
    serde_json::from_value(json!({
        "metadata": {"name": name, "namespace": "redis"},
        "spec": {"replicas": replicas, "selector": {}, "template": {}}
    }))
    .unwrap()
}

fn platform(h: &Harness, sets: reflector::Store<StatefulSet>) -> KubePlatform {
    KubePlatform {
        pods: h.ctx.pods.clone(),
        nodes: h.ctx.nodes.clone(),
        namespace: "redis".into(),
        name: "seed".into(),
        zone_label: "topology.kubernetes.io/zone".into(),
        held_zone: Default::default(),
        leadership: Leadership::always(),
        tls_domain: None,
        memory: Default::default(),
        stateful_sets: sets,
        client: Some(h.ctx.client.clone()),
        replicas_needed: BTreeMap::from([("seed-leader".into(), 3), ("seed-follower".into(), 3)]),
    }
}

/// Six pods of each StatefulSet, the spec back at three shards.
fn six_of_each(h: &mut Harness, sets: &mut Writer<StatefulSet>) {
    for s in ["seed-leader", "seed-follower"] {
        sets.apply_watcher_event(&Event::Apply(set(s, 6)));
        for i in 0..6 {
            let ip = format!("127.0.9.{}", i + 1);
            h.pods
                .apply_watcher_event(&Event::Apply(pod(s, i, Some(ip.as_str()))));
        }
    }
}

#[tokio::test]
async fn pods_beyond_what_the_spec_needs_of_their_stateful_set_are_leaving() {
    let mut h = harness();
    let (store, mut sets) = reflector::store();
    six_of_each(&mut h, &mut sets);
    let p = platform(&h, store);
    let leaving: Vec<String> = p
        .placement()
        .instances
        .iter()
        .filter(|i| i.leaving)
        .map(|i| i.name.clone())
        .collect();
    assert_eq!(
        leaving,
        [
            "seed-leader-3",
            "seed-leader-4",
            "seed-leader-5",
            "seed-follower-3",
            "seed-follower-4",
            "seed-follower-5"
        ]
    );
    // Once retired (its StatefulSet lowered past it), a pod is no instance any more while the
    // StatefulSet controller deletes it: the engine does not retire it again.
    sets.apply_watcher_event(&Event::Apply(set("seed-leader", 5)));
    let names: Vec<String> = p
        .placement()
        .instances
        .iter()
        .map(|i| i.name.clone())
        .collect();
    assert!(!names.contains(&"seed-leader-5".to_owned()), "{names:?}");
    assert!(names.contains(&"seed-leader-4".to_owned()), "{names:?}");
    assert_eq!(names.len(), 11);
}

#[tokio::test]
async fn retiring_lowers_the_stateful_set_to_the_pods_ordinal_from_the_count_read() {
    let mut h = harness();
    let (store, mut sets) = reflector::store();
    six_of_each(&mut h, &mut sets);
    let p = platform(&h, store);
    let lowers = |from: i32, to: i32| {
        move |b: &serde_json::Value| {
            assert_eq!(
                *b,
                json!([
                    {"op": "test", "path": "/spec/replicas", "value": from},
                    {"op": "replace", "path": "/spec/replicas", "value": to}
                ]),
                "{b}"
            );
        }
    };
    let path = format!("{APPS}/statefulsets/seed-leader");
    let script = h.server.run(vec![
        Expect::new(Method::PATCH, &path)
            .query("fieldManager=redis-stretch-engine")
            .check(lowers(6, 5))
            .reply(
                StatusCode::OK,
                serde_json::to_value(set("seed-leader", 5)).unwrap(),
            ),
        Expect::new(Method::PATCH, &path).check(lowers(5, 4)).reply(
            StatusCode::OK,
            serde_json::to_value(set("seed-leader", 4)).unwrap(),
        ),
    ]);
    // A pod the spec needs is never retired (no request).
    let refused = p.retire("seed-leader-2").await.unwrap_err();
    assert!(refused.contains("one the spec needs"), "{refused}");
    // A retire returns once the cache follows the API server (here: this test's writer, a
    // moment after the patch), so that the next pass sees the pod retired.
    let (done, ()) = tokio::join!(p.retire("seed-leader-5"), async {
        tokio::time::sleep(Duration::from_millis(100)).await;
        sets.apply_watcher_event(&Event::Apply(set("seed-leader", 5)));
    });
    let done = done.unwrap();
    assert!(done.contains("lowered from 6 to 5"), "{done}");
    // The next pod down goes next.
    let (done, ()) = tokio::join!(p.retire("seed-leader-4"), async {
        tokio::time::sleep(Duration::from_millis(100)).await;
        sets.apply_watcher_event(&Event::Apply(set("seed-leader", 4)));
    });
    let done = done.unwrap();
    assert!(done.contains("lowered from 5 to 4"), "{done}");
    // Asked again (the engine's next pass, before the pod is gone): nothing to do.
    let again = p.retire("seed-leader-4").await.unwrap();
    assert!(again.contains("at 4 replicas already"), "{again}");
    // A pod the cache no longer shows is gone already.
    let gone = p.retire("seed-leader-9").await.unwrap();
    assert!(gone.contains("already gone"), "{gone}");
    script.await.unwrap();
    assert_eq!(RETIRE_MANAGER, "redis-stretch-engine");
}

/// A pod below the StatefulSet's highest ordinal waits for the pods above it (the same step
/// retires them), then says which remain; a pod above that never started does not hold it up.
#[tokio::test(start_paused = true)]
async fn a_pod_below_the_highest_ordinal_is_not_retired_while_those_above_run() {
    let mut h = harness();
    let (store, mut sets) = reflector::store();
    six_of_each(&mut h, &mut sets);
    let p = platform(&h, store);
    let script = h.server.run(vec![Expect::new(
        Method::PATCH,
        &format!("{APPS}/statefulsets/seed-follower"),
    )
    .reply(
        StatusCode::OK,
        serde_json::to_value(set("seed-follower", 4)).unwrap(),
    )]);
    let refused = p.retire("seed-leader-3").await.unwrap_err();
    assert!(
        refused.contains("not StatefulSet seed-leader's highest ordinal")
            && refused.contains("seed-leader-4, seed-leader-5 leave first"),
        "{refused}"
    );
    // seed-follower-5 never got an address: seed-follower-4 may go past it.
    h.pods
        .apply_watcher_event(&Event::Apply(pod("seed-follower", 5, None)));
    let done = p.retire("seed-follower-4").await.unwrap();
    assert!(done.contains("lowered from 6 to 4"), "{done}");
    script.await.unwrap();
}
