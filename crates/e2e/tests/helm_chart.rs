//! The Helm chart on the real API server, and the operator with exactly the chart's
//! permissions: `helm install` (helm v4, built into the control plane binary) puts the CRD,
//! ServiceAccount, RBAC and Deployment in; the operator then runs outside the cluster with the
//! Deployment's own arguments and a token of the chart's ServiceAccount (TokenRequest API), so
//! RBAC is enforced for real, through formation, a dc-a takeover and failback. (The
//! Deployment's pods never run: this control plane has no deployment controller and no
//! images.)

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::process::Command;
use std::time::Duration;

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::authentication::v1::TokenRequest;
use k8s_openapi::api::core::v1::ServiceAccount;
use k8s_openapi::api::events::v1::Event;
use kube::api::{ListParams, PostParams};
use kube::{Api, ResourceExt};
use redis_stretch_e2e::api::{cluster_pods, wait_crd_served};
use redis_stretch_e2e::drill::NS;
use redis_stretch_e2e::{controlplane, init_tracing, Env, Operator};
use serde_json::json;

const RELEASE_NS: &str = "redis-stretch";

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_operator_works_with_exactly_the_charts_permissions() {
    init_tracing();
    let Some(mut env) = Env::start_with("helm-chart", NS, false).await.unwrap() else {
        return;
    };
    let dir = env.cp.dir().to_owned();
    let chart = redis_stretch_e2e::repo_root().join("deploy/helm/redis-stretch");
    let out = Command::new(controlplane::binary().unwrap())
        .args(["helm", "install", "redis-stretch"])
        .arg(&chart)
        .args(["--namespace", RELEASE_NS, "--set", "preferredZone=dc-b"])
        .env("KUBECONFIG", env.cp.kubeconfig())
        .env("HELM_CACHE_HOME", dir.join("helm/cache"))
        .env("HELM_CONFIG_HOME", dir.join("helm/config"))
        .env("HELM_DATA_HOME", dir.join("helm/data"))
        .output()
        .unwrap();
    eprintln!(
        "helm install:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "helm install failed");
    wait_crd_served(&env.client).await.unwrap();

    // The chart's ServiceAccount token and the Deployment's arguments.
    let req: TokenRequest =
        serde_json::from_value(json!({"spec": {"audiences": [], "expirationSeconds": 3600}}))
            .unwrap();
    let token = Api::<ServiceAccount>::namespaced(env.client.clone(), RELEASE_NS)
        .create_token_request("redis-stretch", &PostParams::default(), &req)
        .await
        .unwrap()
        .status
        .unwrap()
        .token;
    let kubeconfig = dir.join("chart-sa.kubeconfig");
    env.cp.token_kubeconfig(&token, &kubeconfig).unwrap();
    let deployment = Api::<Deployment>::namespaced(env.client.clone(), RELEASE_NS)
        .get("redis-stretch")
        .await
        .unwrap();
    let args: Vec<String> = deployment.spec.unwrap().template.spec.unwrap().containers[0]
        .args
        .clone()
        .unwrap()
        .into_iter()
        .filter(|a| a != "operator" && !a.starts_with("--metrics-addr"))
        .collect();
    eprintln!("operator args from the chart: {args:?}");
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    env.operator = Some(Operator::start(&kubeconfig, &dir, "chart-op", &args).unwrap());

    env.start_kubelet().await.unwrap();
    env.seed_ready().await.unwrap();

    // A takeover and a failback, with the chart's permissions.
    env.kubelet().unwrap().zone_offline("dc-a");
    env.wait_condition(NS, "seed", "ZoneLost", "True", Duration::from_secs(30))
        .await
        .unwrap();
    env.wait_condition(
        NS,
        "seed",
        "TakeoverInProgress",
        "False",
        Duration::from_secs(30),
    )
    .await
    .unwrap();
    env.kubelet().unwrap().zone_online("dc-a");
    env.wait_condition(NS, "seed", "Ready", "True", Duration::from_secs(60))
        .await
        .unwrap();
    env.wait_condition(
        NS,
        "seed",
        "FailbackPending",
        "False",
        Duration::from_secs(60),
    )
    .await
    .unwrap();

    // What only the chart's permissions allow: Events, role labels on pods.
    let events = Api::<Event>::namespaced(env.client.clone(), NS)
        .list(&ListParams::default())
        .await
        .unwrap()
        .items;
    let reasons: Vec<String> = events
        .iter()
        .filter(|e| {
            e.regarding
                .as_ref()
                .is_some_and(|r| r.kind.as_deref() == Some("RedisStretchCluster"))
        })
        .filter_map(|e| e.reason.clone())
        .collect();
    assert!(
        reasons.iter().any(|r| r == "Takeover"),
        "no Takeover Event: {reasons:?}"
    );
    let pods = cluster_pods(&env.client, NS, "seed").await.unwrap();
    for p in &pods {
        assert!(
            p.labels().contains_key("redis-stretch.io/role"),
            "{} has no role label",
            p.name_any()
        );
    }

    let log = std::fs::read_to_string(env.operator.as_ref().unwrap().log()).unwrap();
    let denied: Vec<&str> = log
        .lines()
        .filter(|l| l.to_lowercase().contains("forbidden"))
        .collect();
    assert!(
        denied.is_empty(),
        "the operator was denied with the chart's RBAC:\n{}",
        denied.join("\n")
    );
}
