//! The Helm chart on the real API server, and the operator with exactly the chart's
//! permissions: `helm install` (helm v4, built into the control plane binary) puts the CRD,
//! ServiceAccount, RBAC and Deployment in; the operator then runs outside the cluster with the
//! Deployment's own arguments and a token of the chart's ServiceAccount (TokenRequest API), so
//! RBAC is enforced for real, through formation, a dc-a takeover and failback. (The
//! Deployment's pods never run: this control plane has no deployment controller and no
//! images.)
//!
//! The chart's production objects on the same install: the release namespace enforces Pod
//! Security `restricted` (the operator's pod template and the `helm test` pod are admitted),
//! the NetworkPolicy for the Redis pods, the operator's PodDisruptionBudget, a ServiceMonitor
//! and PrometheusRule (on minimal monitoring.coreos.com CRDs made here) whose alerts name only
//! series the running operator exports, JSON logs, `helm test` (its pod checks the operator's
//! /healthz and /metrics), `helm lint`, and values.schema.json refusing a bad value.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::Path;
use std::process::{Command, Output};
use std::time::Duration;

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::authentication::v1::TokenRequest;
use k8s_openapi::api::core::v1::{Namespace, Pod, ServiceAccount};
use k8s_openapi::api::events::v1::Event;
use k8s_openapi::api::networking::v1::NetworkPolicy;
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{ApiResource, DynamicObject, ListParams, Patch, PatchParams, PostParams};
use kube::{Api, Client, ResourceExt};
use redis_stretch_e2e::api::{cluster_pods, wait_crd_served};
use redis_stretch_e2e::drill::NS;
use redis_stretch_e2e::{controlplane, init_tracing, Env, Operator};
use serde_json::json;

const RELEASE_NS: &str = "redis-stretch";

/// `helm ARGS` of the control plane binary, with its own cache and config under `dir`.
fn helm(dir: &Path, kubeconfig: &Path, args: &[&str]) -> Output {
    let out = Command::new(controlplane::binary().unwrap())
        .arg("helm")
        .args(args)
        .env("KUBECONFIG", kubeconfig)
        .env("HELM_CACHE_HOME", dir.join("helm/cache"))
        .env("HELM_CONFIG_HOME", dir.join("helm/config"))
        .env("HELM_DATA_HOME", dir.join("helm/data"))
        .output()
        .unwrap();
    eprintln!(
        "helm {}:\n{}{}",
        args.join(" "),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// The prometheus-operator kinds the chart creates, as schemaless CRDs: enough for the API
/// server to store them, which is what a chart install needs of them.
async fn monitoring_crds(client: &Client) {
    let api: Api<CustomResourceDefinition> = Api::all(client.clone());
    for (kind, plural) in [
        ("ServiceMonitor", "servicemonitors"),
        ("PrometheusRule", "prometheusrules"),
    ] {
        let crd: CustomResourceDefinition = serde_json::from_value(json!({
            "metadata": {"name": format!("{plural}.monitoring.coreos.com")},
            "spec": {
                "group": "monitoring.coreos.com",
                "scope": "Namespaced",
                "names": {"kind": kind, "plural": plural, "singular": kind.to_lowercase()},
                "versions": [{"name": "v1", "served": true, "storage": true,
                    "schema": {"openAPIV3Schema": {"type": "object",
                        "x-kubernetes-preserve-unknown-fields": true}}}]
            }
        }))
        .unwrap();
        api.create(&PostParams::default(), &crd).await.unwrap();
    }
    for plural in ["servicemonitors", "prometheusrules"] {
        let name = format!("{plural}.monitoring.coreos.com");
        let mut established = false;
        for _ in 0..150 {
            let crd = api.get(&name).await.unwrap();
            established = crd
                .status
                .and_then(|s| s.conditions)
                .unwrap_or_default()
                .iter()
                .any(|c| c.type_ == "Established" && c.status == "True");
            if established {
                break;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        assert!(established, "{name} not Established");
    }
}

fn monitoring(kind: &str, plural: &str) -> ApiResource {
    ApiResource {
        group: "monitoring.coreos.com".into(),
        version: "v1".into(),
        api_version: "monitoring.coreos.com/v1".into(),
        kind: kind.into(),
        plural: plural.into(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_operator_works_with_exactly_the_charts_permissions() {
    init_tracing();
    let Some(mut env) = Env::start_with("helm-chart", NS, false).await.unwrap() else {
        return;
    };
    let dir = env.cp.dir().to_owned();
    let admin = env.cp.kubeconfig().to_owned();
    let chart = redis_stretch_e2e::repo_root().join("deploy/helm/redis-stretch");
    let chart = chart.to_str().unwrap();

    let lint = helm(&dir, &admin, &["lint", "--strict", chart]);
    assert!(lint.status.success(), "helm lint failed");
    // Every pod the chart makes must pass Pod Security `restricted` in its namespace.
    Api::<Namespace>::all(env.client.clone())
        .patch(
            RELEASE_NS,
            &PatchParams::default(),
            &Patch::Merge(json!({"metadata": {"labels": {
                "pod-security.kubernetes.io/enforce": "restricted"}}})),
        )
        .await
        .unwrap();
    monitoring_crds(&env.client).await;
    let out = helm(
        &dir,
        &admin,
        &[
            "install",
            "redis-stretch",
            chart,
            "--namespace",
            RELEASE_NS,
            "--set",
            "preferredZone=dc-b",
            "--set",
            "logFormat=json",
            "--set",
            "metrics.serviceMonitor.enabled=true",
            "--set",
            "metrics.prometheusRule.enabled=true",
        ],
    );
    assert!(out.status.success(), "helm install failed");
    wait_crd_served(&env.client).await.unwrap();
    production_objects(&env.client).await;
    // values.schema.json refuses a bad value before any template reaches the API server.
    // (After the first install: helm v4 applies `crds/` before it validates the values.)
    let bad = helm(
        &dir,
        &admin,
        &[
            "install",
            "bad",
            chart,
            "-n",
            RELEASE_NS,
            "--set",
            "replicaCount=abc",
        ],
    );
    assert!(!bad.status.success(), "helm accepted replicaCount=abc");
    assert!(
        String::from_utf8_lossy(&bad.stderr).contains("replicaCount"),
        "the refusal does not name replicaCount"
    );

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
    let template = deployment.spec.unwrap().template;
    // The operator's pod as the Deployment would make it, admitted under `restricted`
    // (a server-side dry run: admission runs, nothing is stored).
    let pod = Pod {
        metadata: kube::api::ObjectMeta {
            name: Some("operator-admission-check".into()),
            ..template.metadata.clone().unwrap_or_default()
        },
        spec: template.spec.clone(),
        status: None,
    };
    Api::<Pod>::namespaced(env.client.clone(), RELEASE_NS)
        .create(
            &PostParams {
                dry_run: true,
                ..PostParams::default()
            },
            &pod,
        )
        .await
        .expect("the operator's pod is refused under Pod Security restricted");
    let container = &template.spec.unwrap().containers[0];
    let args: Vec<String> = container
        .args
        .clone()
        .unwrap()
        .into_iter()
        .filter(|a| a != "operator" && !a.starts_with("--metrics-addr"))
        .collect();
    let log_format = container
        .env
        .iter()
        .flatten()
        .find(|e| e.name == "REDIS_STRETCH_LOG_FORMAT")
        .and_then(|e| e.value.clone())
        .expect("the Deployment sets REDIS_STRETCH_LOG_FORMAT");
    assert_eq!(log_format, "json");
    eprintln!("operator args from the chart: {args:?}");
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    env.operator = Some(
        Operator::start_with_env(
            &kubeconfig,
            &dir,
            "chart-op",
            &args,
            &[("REDIS_STRETCH_LOG_FORMAT", &log_format)],
        )
        .unwrap(),
    );

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

    // The cluster's NetworkPolicy, made by the operator (`--network-policy` from the chart's
    // Deployment) with the chart's RBAC: the bus from this cluster's pods only, the client
    // port also from the operator's pods by the chart's selector labels.
    let policy = Api::<NetworkPolicy>::namespaced(env.client.clone(), NS)
        .get("seed-redis")
        .await
        .expect("the operator made the cluster's NetworkPolicy");
    let policy = serde_json::to_value(policy.spec.unwrap()).unwrap();
    let seed_pods = json!({"matchLabels": {"app.kubernetes.io/name": "redis-stretch",
        "app.kubernetes.io/instance": "seed", "app.kubernetes.io/component": "redis"}});
    assert_eq!(policy["podSelector"], seed_pods);
    let rule = |port: i64| {
        policy["ingress"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["ports"][0]["port"] == port)
            .unwrap_or_else(|| panic!("no rule for {port}: {policy}"))
            .clone()
    };
    assert_eq!(rule(16379)["from"], json!([{"podSelector": seed_pods}]));
    assert_eq!(
        rule(6379)["from"][1]["podSelector"]["matchLabels"]["app.kubernetes.io/component"],
        "operator",
        "{policy}"
    );

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

    // After formation, a takeover and a failback, the alerts name only series the running
    // operator exports: all of them but two that exist only while something is wrong (a
    // restart under way, a failed reconcile); `crates/operator/tests/alert_rules.rs` checks
    // every name against the full registry.
    // The engine's series exist once it has started (it beats while forming too).
    let mut metrics = String::new();
    for _ in 0..120 {
        metrics = env.operator.as_ref().unwrap().metrics().unwrap();
        if metrics.contains("redis_stretch_engine_heartbeat_timestamp_seconds{") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let rule = Api::<DynamicObject>::namespaced_with(
        env.client.clone(),
        RELEASE_NS,
        &monitoring("PrometheusRule", "prometheusrules"),
    )
    .get("redis-stretch")
    .await
    .unwrap();
    let exprs: Vec<String> = rule.data["spec"]["groups"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|g| g["rules"].as_array().unwrap().iter())
        .map(|r| r["expr"].as_str().unwrap().to_owned())
        .collect();
    assert!(exprs.len() >= 5, "{exprs:?}");
    for expr in &exprs {
        for name in expr
            .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .filter(|w| w.starts_with("redis_stretch_"))
        {
            let conditional = [
                "redis_stretch_rollout_restart_started_timestamp_seconds",
                "redis_stretch_reconcile_errors_total",
            ];
            assert!(
                conditional.contains(&name) || metrics.contains(name),
                "the alert {expr:?} names {name}, which the operator does not export"
            );
        }
    }
    assert!(
        metrics.contains("redis_stretch_engine_heartbeat_timestamp_seconds{"),
        "{metrics}"
    );

    // `helm test`: its pod is admitted under `restricted`, runs on a node of the test kubelet
    // (which honours `restartPolicy: Never` and reports the pod `Succeeded` or `Failed`), and
    // its check passes against the running operator. The operator runs outside the cluster
    // here, so the test is pointed at it (in a cluster it goes through the metrics Service);
    // every other value stays as installed.
    let url = format!(
        "tests.url=http://127.0.0.1:{}",
        env.operator.as_ref().unwrap().metrics_port()
    );
    let upgraded = helm(
        &dir,
        &admin,
        &[
            "upgrade",
            "redis-stretch",
            chart,
            "-n",
            RELEASE_NS,
            "--reuse-values",
            "--set",
            &url,
        ],
    );
    assert!(upgraded.status.success(), "helm upgrade failed");
    let tested = helm(
        &dir,
        &admin,
        &["test", "redis-stretch", "-n", RELEASE_NS, "--timeout", "2m"],
    );
    assert!(
        tested.status.success(),
        "helm test failed:\n{}{}",
        String::from_utf8_lossy(&tested.stdout),
        String::from_utf8_lossy(&tested.stderr)
    );
    assert!(
        String::from_utf8_lossy(&tested.stdout).contains("Succeeded"),
        "helm test did not report the test pod Succeeded"
    );

    let log = std::fs::read_to_string(env.operator.as_ref().unwrap().log()).unwrap();
    // logFormat=json: every log line of the operator is one JSON object.
    for line in log.lines().filter(|l| !l.trim().is_empty()) {
        let v: serde_json::Value = serde_json::from_str(line)
            .unwrap_or_else(|e| panic!("not a JSON log line ({e}): {line}"));
        assert!(
            v.get("level").is_some() && v.get("message").is_some(),
            "{line}"
        );
    }
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

/// What the production install adds: the CRD's category, the operator's disruption budget, the
/// ServiceMonitor and PrometheusRule.
async fn production_objects(client: &Client) {
    let crd = Api::<CustomResourceDefinition>::all(client.clone())
        .get("redisstretchclusters.redis-stretch.io")
        .await
        .unwrap();
    assert_eq!(
        crd.spec.names.categories,
        Some(vec!["redis-stretch".to_owned()]),
        "`kubectl get redis-stretch` lists the clusters"
    );
    let pdb = Api::<PodDisruptionBudget>::namespaced(client.clone(), RELEASE_NS)
        .get("redis-stretch")
        .await
        .unwrap();
    assert_eq!(
        pdb.spec.unwrap().min_available,
        Some(k8s_openapi::apimachinery::pkg::util::intstr::IntOrString::Int(1))
    );
    let monitor = Api::<DynamicObject>::namespaced_with(
        client.clone(),
        RELEASE_NS,
        &monitoring("ServiceMonitor", "servicemonitors"),
    )
    .get("redis-stretch")
    .await
    .unwrap();
    assert_eq!(monitor.data["spec"]["endpoints"][0]["port"], "http-metrics");
}
