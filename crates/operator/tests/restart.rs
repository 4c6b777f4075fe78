#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! The rollout's restart on Kubernetes: the pod the engine saw is deleted, with its uid as a
//! precondition, so that a pod the StatefulSet already recreated is never deleted by mistake.

mod support;

use http::{Method, StatusCode};
use k8s_openapi::api::core::v1::Pod;
use kube::runtime::reflector;
use kube::runtime::watcher::Event;
use redis_stretch_engine::Platform;
use redis_stretch_operator::lease::Leadership;
use redis_stretch_operator::platform::KubePlatform;
use serde_json::json;
use support::{harness, Expect, CORE};

fn pod(uid: &str) -> Pod {
    serde_json::from_value(json!({
        "metadata": {"name": "seed-follower-1", "namespace": "redis", "uid": uid},
        "spec": {"containers": []}
    }))
    .unwrap()
}

#[tokio::test]
async fn a_restart_deletes_the_pod_the_engine_saw_and_never_a_newer_one() {
    let mut h = harness();
    h.pods.apply_watcher_event(&Event::Apply(pod("uid-1")));
    let platform = KubePlatform {
        pods: h.ctx.pods.clone(),
        nodes: h.ctx.nodes.clone(),
        namespace: "redis".into(),
        name: "seed".into(),
        zone_label: "topology.kubernetes.io/zone".into(),
        held_zone: Default::default(),
        leadership: Leadership::always(),
        tls_domain: None,
        memory: Default::default(),
        stateful_sets: reflector::store().0,
        client: Some(h.ctx.client.clone()),
        replicas_needed: Default::default(),
    };
    let uid_is = |uid: &'static str| {
        move |b: &serde_json::Value| assert_eq!(b["preconditions"]["uid"], uid, "{b}")
    };
    let conflict = json!({"kind": "Status", "apiVersion": "v1", "status": "Failure",
        "reason": "Conflict", "code": 409,
        "message": "Precondition failed: UID in precondition: uid-1, UID in object meta: uid-2"});
    let unavailable = json!({"kind": "Status", "apiVersion": "v1", "status": "Failure",
        "reason": "ServiceUnavailable", "code": 503, "message": "etcd is unhappy"});
    let path = format!("{CORE}/pods/seed-follower-1");
    let script = h.server.run(vec![
        // A passing API error is retried within the bound.
        Expect::new(Method::DELETE, &path)
            .check(uid_is("uid-1"))
            .reply(StatusCode::SERVICE_UNAVAILABLE, unavailable),
        Expect::new(Method::DELETE, &path)
            .check(uid_is("uid-1"))
            .reply(StatusCode::OK, serde_json::to_value(pod("uid-1")).unwrap()),
        // The cache still shows uid-1, but the StatefulSet has recreated the pod meanwhile.
        Expect::new(Method::DELETE, &path)
            .check(uid_is("uid-1"))
            .reply(StatusCode::CONFLICT, conflict),
    ]);
    let done = platform.restart("seed-follower-1").await.unwrap();
    assert!(done.contains("deleted"), "{done}");
    let refused = platform.restart("seed-follower-1").await.unwrap_err();
    assert!(refused.contains("recreated meanwhile"), "{refused}");
    // A pod the cache does not show is not guessed at.
    let unknown = platform.restart("seed-follower-9").await.unwrap_err();
    assert!(unknown.contains("not in the cache"), "{unknown}");
    script.await.unwrap();
}
