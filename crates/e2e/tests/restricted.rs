//! Pod Security `restricted` on a real control plane (issue 19): the namespace is labelled
//! `pod-security.kubernetes.io/enforce: restricted`, which the API server's built-in
//! PodSecurity admission enforces at pod creation. A pod without a security context is
//! refused there (so the admission is really on); the seed cluster's pods, created by the
//! StatefulSet controller, are admitted and the cluster forms; and the pod template with
//! everything on (the exporter sidecar, TLS, persistence) is admitted too (a server-side dry
//! run: the test kubelet runs commands, and the exporter image has none to run).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::Duration;

use k8s_openapi::api::core::v1::{Namespace, Pod};
use kube::api::{Patch, PatchParams, PostParams};
use kube::Api;
use redis_stretch_e2e::env::seed_layout;
use redis_stretch_e2e::{init_tracing, Env};
use serde_json::json;

const NS: &str = "redis";

/// examples/k8s/zone-aware.yaml with the exporter sidecar, TLS and persistence on.
fn everything_on() -> redis_stretch_k8s::RedisStretchCluster {
    let path = redis_stretch_e2e::repo_root().join("examples/k8s/zone-aware.yaml");
    let cr = redis_stretch_k8s::cluster::parse(&std::fs::read_to_string(path).unwrap()).unwrap();
    let mut v = serde_json::to_value(cr).unwrap();
    v["spec"]["kubernetes"]["metrics"] = json!({"enabled": true});
    v["spec"]["tls"] = json!({"enabled": true, "secretName": "orders-tls"});
    v["spec"]["redis"]["persistence"]["enabled"] = json!(true);
    serde_json::from_value(v).unwrap()
}

/// A pod of each rendered StatefulSet, as its controller would create it (the claim template
/// becomes a `persistentVolumeClaim` volume).
fn pods_of(cr: &redis_stretch_k8s::RedisStretchCluster) -> Vec<Pod> {
    let rendered = redis_stretch_k8s::render(cr).unwrap();
    rendered
        .stateful_sets
        .iter()
        .map(|s| {
            let spec = s.spec.as_ref().unwrap();
            let name = format!("{}-0", s.metadata.name.as_deref().unwrap());
            let mut pod = serde_json::to_value(&spec.template).unwrap();
            pod["metadata"]["name"] = json!(name);
            for claim in spec.volume_claim_templates.iter().flatten() {
                let claim = claim.metadata.name.clone().unwrap();
                pod["spec"]["volumes"].as_array_mut().unwrap().push(json!({
                    "name": claim,
                    "persistentVolumeClaim": {"claimName": format!("{claim}-{name}")},
                }));
            }
            serde_json::from_value(pod).unwrap()
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn seed_forms_in_a_namespace_enforcing_restricted() {
    init_tracing();
    let Some(mut env) = Env::start("restricted", NS).await.unwrap() else {
        return;
    };
    Api::<Namespace>::all(env.client.clone())
        .patch(
            NS,
            &PatchParams::default(),
            &Patch::Merge(json!({"metadata": {"labels": {
                "pod-security.kubernetes.io/enforce": "restricted",
                "pod-security.kubernetes.io/enforce-version": "latest",
            }}})),
        )
        .await
        .unwrap();
    env.start_kubelet().await.unwrap();
    env.start_operator().unwrap();
    // Every pod is created by the StatefulSet controller and admitted, or none would be Ready.
    let pods = env.seed_ready().await.unwrap();
    for p in &pods {
        let sc = p.spec.as_ref().unwrap().security_context.as_ref().unwrap();
        assert_eq!(
            sc.seccomp_profile.as_ref().map(|s| s.type_.as_str()),
            Some("RuntimeDefault")
        );
    }

    // Redis itself: 2 masters in dc-a, 1 in dc-b, each replica in the other DC.
    assert_eq!(
        env.masters_by_zone(NS, "seed", &pods).await.unwrap(),
        seed_layout()
    );

    let api = Api::<Pod>::namespaced(env.client.clone(), NS);
    let dry_run = PostParams {
        dry_run: true,
        ..Default::default()
    };
    // The admission is really on: a pod without a security context is refused, by it.
    let bare: Pod = serde_json::from_value(json!({
        "metadata": {"name": "bare"},
        "spec": {"containers": [{"name": "redis", "image": "redis:7.4"}]},
    }))
    .unwrap();
    match api.create(&dry_run, &bare).await {
        Err(kube::Error::Api(s)) => {
            assert_eq!(s.code, 403, "{s:?}");
            assert!(s.message.contains("violates PodSecurity"), "{}", s.message);
        }
        other => panic!("a bare pod was not refused: {other:?}"),
    }
    // Every container of the fullest pod template: the exporter, TLS, persistence.
    for pod in pods_of(&everything_on()) {
        let name = pod.metadata.name.clone().unwrap();
        let containers: Vec<String> = pod
            .spec
            .as_ref()
            .unwrap()
            .containers
            .iter()
            .map(|c| c.name.clone())
            .collect();
        assert_eq!(containers, ["redis", "metrics"]);
        let admitted = tokio::time::timeout(Duration::from_secs(30), api.create(&dry_run, &pod))
            .await
            .unwrap();
        if let Err(e) = admitted {
            panic!("{name} refused in a restricted namespace: {e}");
        }
        eprintln!("restricted: {name} (redis + metrics, TLS, persistence) admitted");
    }
}
