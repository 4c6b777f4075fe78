//! A failed reconcile shows on the resource (issue 19, item 1): `examples/k8s/zone-aware.yaml`
//! names a password Secret the user must create first. Applied without it, the cluster shows
//! `Ready=False` with reason `SecretMissing` in `kubectl get` (the printer columns, read as the
//! API server's Table, as kubectl does) and in the status, with a Warning Event saying what to
//! create; once the Secret exists the reason moves on and the objects are applied.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::Duration;

use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::api::events::v1::Event;
use kube::api::{ListParams, PostParams};
use kube::Api;
use redis_stretch_e2e::{init_tracing, Env};
use serde_json::{json, Value};

const NS: &str = "redis";

fn manifest() -> Value {
    let path = redis_stretch_e2e::repo_root().join("examples/k8s/zone-aware.yaml");
    let mut m: Value = serde_saphyr::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    m["spec"]["redis"]["persistence"] = json!({"enabled": false});
    assert_eq!(m["spec"]["auth"]["secretName"], "orders-redis-auth");
    m
}

/// `kubectl get redisstretchclusters`'s view: the API server's Table of the resource, as
/// column name → cell.
async fn table_row(env: &Env, name: &str) -> Vec<(String, Value)> {
    let request = http::Request::get(format!(
        "/apis/redis-stretch.io/v1alpha1/namespaces/{NS}/redisstretchclusters/{name}"
    ))
    .header(
        "Accept",
        "application/json;as=Table;v=v1;g=meta.k8s.io,application/json",
    )
    .body(Vec::new())
    .unwrap();
    let text = env.client.request_text(request).await.unwrap();
    let table: Value = serde_json::from_str(&text).unwrap();
    let columns: Vec<String> = table["columnDefinitions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap().to_owned())
        .collect();
    let cells = table["rows"][0]["cells"].as_array().unwrap().clone();
    columns.into_iter().zip(cells).collect()
}

fn cell<'a>(row: &'a [(String, Value)], column: &str) -> &'a Value {
    &row.iter()
        .find(|(c, _)| c == column)
        .unwrap_or_else(|| panic!("no column {column} in {row:?}"))
        .1
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_missing_secret_shows_as_ready_false_in_kubectl_get_and_a_warning_event() {
    init_tracing();
    let Some(mut env) = Env::start("reconcile-errors", NS).await.unwrap() else {
        return;
    };
    env.start_operator().unwrap();
    env.apply(&manifest()).await.unwrap();

    let (reason, message) = env
        .wait_condition(NS, "orders", "Ready", "False", Duration::from_secs(60))
        .await
        .unwrap();
    assert_eq!(reason, "SecretMissing", "{message}");
    assert!(
        message.contains("Secret `orders-redis-auth` (spec.auth.secretName) does not exist"),
        "{message}"
    );
    let row = table_row(&env, "orders").await;
    eprintln!("kubectl get: {row:?}");
    assert_eq!(cell(&row, "Reason"), "SecretMissing", "{row:?}");
    let cluster = env.cluster(NS, "orders").await.unwrap();
    let generation = cluster.metadata.generation.unwrap();
    let ready = cluster.data["status"]["conditions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["type"] == "Ready")
        .unwrap()
        .clone();
    assert_eq!(ready["observedGeneration"], generation, "{ready}");

    // `kubectl describe` lists the Warning Event (events.k8s.io, about the resource).
    let events: Api<Event> = Api::namespaced(env.client.clone(), NS);
    let warnings: Vec<Event> = events
        .list(&ListParams::default())
        .await
        .unwrap()
        .items
        .into_iter()
        .filter(|e| {
            e.regarding.as_ref().and_then(|r| r.name.as_deref()) == Some("orders")
                && e.reason.as_deref() == Some("SecretMissing")
        })
        .collect();
    assert_eq!(
        warnings.len(),
        1,
        "one Event, however often it retries: {warnings:?}"
    );
    assert_eq!(warnings[0].type_.as_deref(), Some("Warning"));
    assert!(
        warnings[0]
            .note
            .as_deref()
            .is_some_and(|n| n.contains("create it with the password under key `password`")),
        "{warnings:?}"
    );

    // The user creates the Secret: the next reconcile (the operator watches Secrets) goes on.
    let secret: Secret = serde_json::from_value(json!({
        "metadata": {"name": "orders-redis-auth", "namespace": NS},
        "stringData": {"password": "an-e2e-password"}
    }))
    .unwrap();
    Api::<Secret>::namespaced(env.client.clone(), NS)
        .create(&PostParams::default(), &secret)
        .await
        .unwrap();
    let moved_on = redis_stretch_e2e::wait::until(
        "Ready's reason moves on from SecretMissing",
        Duration::from_secs(60),
        Duration::from_millis(250),
        || async {
            let row = table_row(&env, "orders").await;
            Ok(if cell(&row, "Reason") == "SecretMissing" {
                redis_stretch_e2e::wait::Step::Pending(format!("{row:?}"))
            } else {
                redis_stretch_e2e::wait::Step::Done(row)
            })
        },
    )
    .await
    .unwrap();
    eprintln!("kubectl get, with the Secret: {moved_on:?}");
    let applied = env
        .wait_condition(NS, "orders", "Applied", "True", Duration::from_secs(60))
        .await;
    assert!(applied.is_ok(), "{applied:?}");
}
