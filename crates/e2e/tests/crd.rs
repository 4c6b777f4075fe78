//! The CRD on a real API server: it installs, the seed's resource is accepted, and every CEL
//! rule rejects what it should, server-side, with our message (the same messages
//! crates/k8s/tests/crd.rs checks with kube's client-side CEL).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use kube::api::{Patch, PatchParams, PostParams};
use redis_stretch_api::rule_examples;
use redis_stretch_e2e::api::{cluster_object, clusters, create_namespace, install_crd, MANAGER};
use redis_stretch_e2e::{init_tracing, ControlPlane};
use serde_json::{json, Value};

fn seed_spec() -> Value {
    json!({
        "shards": 3,
        "zones": [
            {"name": "dc-a", "preferredMasters": 2},
            {"name": "dc-b", "preferredMasters": 1}
        ],
        "placement": {"mode": "SeedCompatible", "zoneLabel": "topology.kubernetes.io/zone"}
    })
}

/// The API server's answer to creating `spec` as `name`: Ok, or (HTTP code, message).
async fn create(
    api: &kube::Api<kube::api::DynamicObject>,
    name: &str,
    spec: Value,
) -> Result<(), (u16, String)> {
    let obj = cluster_object(name, "redis", spec).unwrap();
    match api.create(&PostParams::default(), &obj).await {
        Ok(_) => Ok(()),
        Err(kube::Error::Api(s)) => Err((s.code, s.message)),
        Err(e) => panic!("creating {name}: {e}"),
    }
}

fn rejected(result: Result<(), (u16, String)>, message: &str) {
    match result {
        Ok(()) => panic!("accepted; expected a rejection with {message:?}"),
        Err((code, text)) => {
            assert_eq!(code, 422, "{text}");
            assert!(text.contains(message), "expected {message:?} in: {text}");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn crd_installs_and_cel_rejects_invalid_resources_server_side() {
    init_tracing();
    let Some(cp) = ControlPlane::start("crd").unwrap() else {
        return;
    };
    let client = cp.client().await.unwrap();
    install_crd(&client).await.unwrap();
    create_namespace(&client, "redis").await.unwrap();
    let api = clusters(&client, "redis");

    // Valid resources: the seed, and the examples users start from.
    create(&api, "seed", seed_spec()).await.unwrap();
    let mut tls = seed_spec();
    tls["tls"] = json!({"enabled": true, "secretName": "seed-tls"});
    create(&api, "with-tls", tls).await.unwrap();
    create(&api, "full", rule_examples::full("full")["spec"].clone())
        .await
        .unwrap();
    // Explicit nulls, as docs/CONFIGURATION.md writes the absent optional fields: the rules of
    // those fields do not run on them.
    let mut nulls = seed_spec();
    nulls["auth"] = json!({"secretName": null});
    nulls["tls"] = json!({"secretName": null});
    nulls["redis"] = json!({"maxmemory": null});
    nulls["failover"] = json!({"preferredSide": null});
    create(&api, "with-nulls", nulls).await.unwrap();
    for file in ["seed.yaml", "zone-aware.yaml", "valkey.yaml"] {
        let path = redis_stretch_e2e::repo_root()
            .join("examples/k8s")
            .join(file);
        let doc: Value = serde_saphyr::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        let name = format!("example-{}", file.trim_end_matches(".yaml"));
        create(&api, &name, doc["spec"].clone())
            .await
            .unwrap_or_else(|e| panic!("examples/k8s/{file} rejected: {e:?}"));
    }

    // Invalid ones: one per rule of local mode's `validate`, each refused with its message.
    let mut failures = Vec::new();
    for example in rule_examples::all() {
        let local = rule_examples::local_problems(&example.manifest).unwrap();
        assert_eq!(local.len(), 1, "{}: {local:?}", example.rule);
        let name = example.manifest["metadata"]["name"].as_str().unwrap();
        match create(&api, name, example.manifest["spec"].clone()).await {
            Err((422, text)) if text.contains(&local[0].problem) => {}
            other => failures.push(format!(
                "{}: the API server answered {other:?}; local mode says {}",
                example.rule, local[0]
            )),
        }
    }
    // Quantities: the render's check (Kubernetes only), whose message contains the schema's.
    for example in rule_examples::quantities() {
        let cr: redis_stretch_k8s::RedisStretchCluster =
            serde_json::from_value(example.manifest.clone()).unwrap();
        let render = redis_stretch_k8s::render(&cr).err().unwrap().to_string();
        let name = example.manifest["metadata"]["name"].as_str().unwrap();
        match create(&api, name, example.manifest["spec"].clone()).await {
            Err((422, text))
                if text
                    .rsplit_once(": ")
                    .is_some_and(|(_, said)| render.contains(said)) => {}
            other => failures.push(format!(
                "{}: the API server answered {other:?}; the render says {render}",
                example.rule
            )),
        }
    }
    // `maxmemory` not below the memory limit: the render's check too, in the same words.
    let example = rule_examples::maxmemory_at_limit();
    let cr: redis_stretch_k8s::RedisStretchCluster =
        serde_json::from_value(example.manifest.clone()).unwrap();
    let problem = match redis_stretch_k8s::render(&cr) {
        Err(redis_stretch_k8s::Error::Invalid { problems, .. }) => problems.0[0].problem.clone(),
        other => panic!("the render says {other:?}"),
    };
    let name = example.manifest["metadata"]["name"].as_str().unwrap();
    match create(&api, name, example.manifest["spec"].clone()).await {
        Err((422, text)) if text.contains(&problem) => {}
        other => failures.push(format!(
            "{}: the API server answered {other:?}; the render says {problem}",
            example.rule
        )),
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));

    // Updates: the immutable fields stay; masters may move between zones, shards may change.
    let update = |spec: Value| {
        let api = api.clone();
        async move {
            let patch = json!({
                "apiVersion": "redis-stretch.io/v1alpha1", "kind": "RedisStretchCluster",
                "metadata": {"name": "seed", "namespace": "redis"},
                "spec": spec,
            });
            match api
                .patch(
                    "seed",
                    &PatchParams::apply(MANAGER).force(),
                    &Patch::Apply(patch),
                )
                .await
            {
                Ok(_) => Ok(()),
                Err(kube::Error::Api(s)) => Err((s.code, s.message)),
                Err(e) => panic!("updating seed: {e}"),
            }
        }
    };
    // Shards change (the engine scales) with the preferred masters, never without them.
    let mut spec = seed_spec();
    spec["shards"] = json!(4);
    rejected(update(spec).await, "must add up to spec.shards");
    let mut spec = seed_spec();
    spec["shards"] = json!(4);
    spec["zones"][0]["preferredMasters"] = json!(3);
    update(spec).await.unwrap();

    let mut spec = seed_spec();
    spec["zones"][1]["name"] = json!("dc-c");
    rejected(update(spec).await, "zone names cannot be changed");

    let mut spec = seed_spec();
    spec["placement"]["mode"] = json!("ZoneAware");
    rejected(update(spec).await, "spec.placement cannot be changed");

    // What ends up in the StatefulSets' volumeClaimTemplates (the server defaults
    // persistence: off, 8Gi, no StorageClass).
    let mut spec = seed_spec();
    spec["redis"] = json!({"persistence": {"enabled": true}});
    rejected(
        update(spec).await,
        "spec.redis.persistence.enabled cannot be changed",
    );
    let mut spec = seed_spec();
    spec["redis"] = json!({"persistence": {"size": "20Gi"}});
    rejected(
        update(spec).await,
        "spec.redis.persistence.size cannot be changed",
    );
    let mut spec = seed_spec();
    spec["redis"] = json!({"persistence": {"storageClassName": "fast"}});
    rejected(
        update(spec).await,
        "spec.redis.persistence.storageClassName cannot be changed",
    );
    // Servers: the default image is Redis 7.4, whose data Valkey cannot load.
    let mut spec = seed_spec();
    spec["redis"] = json!({"server": "Valkey"});
    rejected(
        update(spec).await,
        "spec.redis.server cannot change from Redis to Valkey",
    );
    let mut spec = seed_spec();
    spec["redis"] = json!({"server": "Valkey"});
    create(&api, "on-valkey", spec.clone()).await.unwrap();
    spec["redis"] = json!({"server": "Redis"});
    let patch = json!({
        "apiVersion": "redis-stretch.io/v1alpha1", "kind": "RedisStretchCluster",
        "metadata": {"name": "on-valkey", "namespace": "redis"},
        "spec": spec,
    });
    let back = match api
        .patch(
            "on-valkey",
            &PatchParams::apply(MANAGER).force(),
            &Patch::Apply(patch),
        )
        .await
    {
        Ok(_) => Ok(()),
        Err(kube::Error::Api(s)) => Err((s.code, s.message)),
        Err(e) => panic!("updating on-valkey: {e}"),
    };
    rejected(back, "from Valkey back to Redis");
    // Live settings may change.
    let mut spec = seed_spec();
    spec["redis"] = json!({"maxmemory": "512mb", "maxmemoryPolicy": "allkeys-lru"});
    update(spec).await.unwrap();

    let mut spec = seed_spec();
    spec["zones"][0]["preferredMasters"] = json!(1);
    spec["zones"][1]["preferredMasters"] = json!(2);
    update(spec).await.unwrap();
}
