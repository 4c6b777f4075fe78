#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! Reconcile against a scripted API server: create, update, status, events, orphans, invalid
//! specs, deletion. Every request the reconciler makes is listed, in order, so a test fails on
//! a missing write as well as on an unexpected one.

mod support;

use std::sync::Arc;

use http::{Method, StatusCode};
use kube::core::PartialObjectMeta;
use kube::runtime::controller::Action;
use kube::runtime::reflector::store::Writer;
use kube::runtime::watcher::Event;
use redis_stretch_api::RedisStretchCluster;
use redis_stretch_operator::owned::OwnedWriters;
use redis_stretch_operator::reconcile::reconcile;
use serde_json::{json, Value};
use support::*;

fn cr(v: Value) -> Arc<RedisStretchCluster> {
    Arc::new(serde_json::from_value(v).unwrap())
}

fn apply(path: String) -> Expect {
    Expect::new(Method::PATCH, &path)
        .query("fieldManager=redis-stretch")
        .query("force=true")
        .check(|b| {
            let owner = &b["metadata"]["ownerReferences"][0];
            assert_eq!(owner["kind"], "RedisStretchCluster", "{b}");
            assert_eq!(owner["controller"], true);
        })
}

/// Every object of the seed cluster, in apply order.
fn applies() -> Vec<Expect> {
    vec![
        apply(format!("{CORE}/configmaps/seed-config")),
        apply(format!("{CORE}/services/seed-headless")),
        apply(format!("{CORE}/services/seed")),
        apply(format!("{APPS}/statefulsets/seed-leader")),
        apply(format!("{APPS}/statefulsets/seed-follower")),
        apply(format!("{POLICY}/poddisruptionbudgets/seed")),
    ]
}

fn existing_secret() -> Expect {
    Expect::new(Method::GET, &format!("{CORE}/secrets/seed-auth")).reply(
        StatusCode::OK,
        json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "seed-auth", "namespace": NS},
               "data": {"password": "aHVudGVyMg=="}}),
    )
}

fn event(reason: &'static str) -> Expect {
    Expect::new(Method::POST, EVENTS)
        .post_or_patch()
        .check(move |b| {
            assert_eq!(b["reason"], reason, "{b}");
            assert_eq!(b["regarding"]["name"], "seed");
        })
}

fn status(check: impl Fn(&Value) + Send + 'static) -> Expect {
    Expect::new(Method::PATCH, &format!("{RSC}/seed/status"))
        .query("fieldManager=redis-stretch")
        .check(move |b| check(&b["status"]))
        .reply(StatusCode::OK, seed_cr())
}

fn condition<'a>(status: &'a Value, type_: &str) -> &'a Value {
    status["conditions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["type"] == type_)
        .unwrap_or_else(|| panic!("no {type_} condition in {status}"))
}

#[tokio::test]
async fn create_generates_the_password_applies_everything_and_reports_forming() {
    let h = harness();
    let mut script = vec![
        Expect::new(Method::GET, &format!("{CORE}/secrets/seed-auth")).not_found(),
        Expect::new(Method::POST, &format!("{CORE}/secrets")).check(|b| {
            let pw = b["stringData"]["password"].as_str().unwrap();
            assert_eq!(pw.len(), 32);
            assert_eq!(b["metadata"]["ownerReferences"][0]["name"], "seed");
        }),
    ];
    script.extend(applies());
    script.push(event("Applied"));
    script.push(status(|s| {
        assert_eq!(s["observedGeneration"], 1);
        assert_eq!(s["ready"], "0/3");
        let ready = condition(s, "Ready");
        assert_eq!(ready["status"], "False");
        assert_eq!(ready["reason"], "Forming");
        assert_eq!(s["zones"][0]["name"], "dc-a");
        assert_eq!(s["zones"][0]["instancesTotal"], 3);
        assert_eq!(s["zones"][1]["preferredMasters"], 1);
        // The password is nowhere in status.
        assert!(!s.to_string().contains("password"));
    }));
    let server = h.server.run(script);
    let action = reconcile(cr(seed_cr()), Arc::clone(&h.ctx)).await.unwrap();
    assert_eq!(action, Action::requeue(std::time::Duration::from_secs(60)));
    let bodies = server.await.unwrap();
    // The generated password went to the Secret and nowhere else.
    let pw = bodies[1]["stringData"]["password"]
        .as_str()
        .unwrap()
        .to_owned();
    for b in &bodies[2..] {
        assert!(!b.to_string().contains(&pw), "password leaked into {b}");
    }
    assert!(h.ctx.engines.is_running(NS, "seed"));
}

/// The engine's first look (no pods yet) asks for a reconcile; the status then says what the
/// cluster waits for, and a condition's transition time stays put while its status does.
#[tokio::test]
async fn status_follows_the_engine() {
    let mut h = harness();
    let mut script = vec![existing_secret()];
    script.extend(applies());
    script.push(event("Applied"));
    script.push(status(|_| {}));
    script.push(existing_secret());
    script.extend(applies());
    script.push(status(|s| {
        let ready = condition(s, "Ready");
        assert_eq!(ready["reason"], "Forming");
        assert!(
            ready["message"]
                .as_str()
                .unwrap()
                .contains("dc-a has 0 of its 3 instances"),
            "{ready}"
        );
        assert_eq!(ready["lastTransitionTime"], "2026-01-01T00:00:00Z");
        assert_eq!(condition(s, "ZoneLost")["status"], "False");
    }));
    let server = h.server.run(script);
    reconcile(cr(seed_cr()), Arc::clone(&h.ctx)).await.unwrap();
    let asked = tokio::time::timeout(std::time::Duration::from_secs(5), h.triggers.recv())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(asked.name, "seed");
    let mut again = seed_cr();
    again["status"] = json!({
        "observedGeneration": 1,
        "conditions": [{"type": "Ready", "status": "False", "reason": "Forming", "message": "",
                        "lastTransitionTime": "2026-01-01T00:00:00Z"}]
    });
    reconcile(cr(again), Arc::clone(&h.ctx)).await.unwrap();
    server.await.unwrap();
}

#[tokio::test]
async fn update_applies_the_new_spec_and_restarts_the_engine_with_it() {
    let h = harness();
    let mut first = vec![existing_secret()];
    first.extend(applies());
    first.push(event("Applied"));
    first.push(status(|_| {}));
    let mut v2 = seed_cr();
    v2["metadata"]["generation"] = json!(2);
    v2["spec"]["redis"] = json!({"maxmemory": "512mb"});
    v2["status"] = json!({"observedGeneration": 1});
    let mut second = vec![existing_secret()];
    second.extend(applies());
    second[1] = apply(format!("{CORE}/configmaps/seed-config")).check(|b| {
        let conf = b["data"]["redis.conf"].as_str().unwrap();
        assert!(conf.contains("maxmemory 512mb"), "{conf}");
    });
    second.push(event("Applied").check(|b| {
        assert!(b["note"].as_str().unwrap().contains("generation 2"), "{b}");
    }));
    second.push(status(|s| assert_eq!(s["observedGeneration"], 2)));
    first.extend(second);
    let server = h.server.run(first);
    reconcile(cr(seed_cr()), Arc::clone(&h.ctx)).await.unwrap();
    reconcile(cr(v2), Arc::clone(&h.ctx)).await.unwrap();
    server.await.unwrap();
    assert!(h.ctx.engines.is_running(NS, "seed"));
    assert_eq!(
        h.ctx.engines.starts(),
        2,
        "the new spec runs in a new engine"
    );
}

#[tokio::test]
async fn an_invalid_spec_is_a_condition_and_an_event_and_nothing_is_applied() {
    let h = harness();
    let mut bad = seed_cr();
    bad["spec"]["zones"][0]["preferredMasters"] = json!(3);
    let script = vec![
        Expect::new(Method::POST, EVENTS).check(|b| {
            assert_eq!(b["reason"], "InvalidSpec");
            assert_eq!(b["type"], "Warning");
            let note = b["note"].as_str().unwrap();
            assert!(note.contains("spec.zones"), "{note}");
            assert!(note.contains("fix:"), "{note}");
        }),
        status(|s| {
            let ready = condition(s, "Ready");
            assert_eq!(ready["status"], "False");
            assert_eq!(ready["reason"], "InvalidSpec");
            assert_eq!(condition(s, "Degraded")["status"], "True");
        }),
    ];
    let server = h.server.run(script);
    let action = reconcile(cr(bad), Arc::clone(&h.ctx)).await.unwrap();
    assert_eq!(action, Action::await_change());
    server.await.unwrap();
    assert!(
        !h.ctx.engines.is_running(NS, "seed"),
        "no engine for a spec that never validated"
    );
}

/// A reconcile that applies everything and deletes the orphan at `path`.
fn pruning(path: String) -> Vec<Expect> {
    let mut script = vec![existing_secret()];
    script.extend(applies());
    script.push(Expect::new(Method::DELETE, &path).reply(
        StatusCode::OK,
        json!({"kind": "Status", "apiVersion": "v1", "status": "Success"}),
    ));
    script.push(event("Pruned"));
    script.push(event("Applied"));
    script.push(status(|_| {}));
    script
}

#[tokio::test]
async fn objects_no_longer_rendered_are_deleted() {
    let h = harness();
    let uid = seed_cr()["metadata"]["uid"].clone();
    let owner = json!([{"apiVersion": "redis-stretch.io/v1alpha1", "kind": "RedisStretchCluster", "name": "seed", "uid": uid}]);
    let mut h = h;
    for (name, labels, owner) in [
        ("seed-leader", ours(), owner.clone()),
        ("seed-dc-a", ours(), owner.clone()),
        // Not ours: no labels, or another cluster's owner.
        ("someone-elses", json!({}), json!([])),
        (
            "seed-old",
            ours(),
            json!([{"apiVersion": "redis-stretch.io/v1alpha1", "kind": "RedisStretchCluster", "name": "seed", "uid": "an-older-seed"}]),
        ),
    ] {
        h.stateful_sets.apply_watcher_event(&Event::Apply(
            serde_json::from_value(json!({"metadata": {"name": name, "namespace": NS,
                "labels": labels, "ownerReferences": owner}}))
            .unwrap(),
        ));
    }
    let server = h
        .server
        .run(pruning(format!("{APPS}/statefulsets/seed-dc-a")));
    reconcile(cr(seed_cr()), Arc::clone(&h.ctx)).await.unwrap();
    server.await.unwrap();
}

/// With `--network-policy` the cluster's NetworkPolicy is applied first, before the pods it
/// guards; without it, one an earlier run applied is an orphan and deleted.
#[tokio::test]
async fn the_network_policy_is_applied_first_and_removed_when_turned_off() {
    let h = harness_with(Some(redis_stretch_k8s::NetworkAccess {
        operator_namespace: "redis-stretch".into(),
        ..Default::default()
    }));
    let mut script = vec![existing_secret()];
    script.push(
        apply(format!("{NETWORKING}/networkpolicies/seed-redis")).check(|b| {
            assert_eq!(b["kind"], "NetworkPolicy");
            assert_eq!(
                b["metadata"]["ownerReferences"][0]["kind"],
                "RedisStretchCluster"
            );
            assert_eq!(b["spec"]["ingress"][0]["ports"][0]["port"], 16379);
        }),
    );
    script.extend(applies());
    script.push(event("Applied"));
    script.push(status(|_| {}));
    let server = h.server.run(script);
    reconcile(cr(seed_cr()), Arc::clone(&h.ctx)).await.unwrap();
    server.await.unwrap();

    let mut h = harness();
    let uid = seed_cr()["metadata"]["uid"].clone();
    h.owned
        .network_policies
        .apply_watcher_event(&Event::Apply(meta(json!({"metadata": {
            "name": "seed-redis", "namespace": NS, "labels": ours(), "resourceVersion": "7",
            "ownerReferences": [{"apiVersion": "redis-stretch.io/v1alpha1",
                "kind": "RedisStretchCluster", "name": "seed", "uid": uid}]}}))));
    let server = h
        .server
        .run(pruning(format!("{NETWORKING}/networkpolicies/seed-redis")));
    reconcile(cr(seed_cr()), Arc::clone(&h.ctx)).await.unwrap();
    server.await.unwrap();
}

#[tokio::test]
async fn the_finalizer_is_added_before_anything_else() {
    let h = harness();
    let mut fresh = seed_cr();
    fresh["metadata"]
        .as_object_mut()
        .unwrap()
        .remove("finalizers");
    let reply = seed_cr();
    let script = vec![Expect::new(Method::PATCH, &format!("{RSC}/seed"))
        .check(|b| assert!(b.to_string().contains("redis-stretch.io/cleanup"), "{b}"))
        .reply(StatusCode::OK, reply)];
    let server = h.server.run(script);
    let action = reconcile(cr(fresh), Arc::clone(&h.ctx)).await.unwrap();
    assert_eq!(action, Action::await_change());
    server.await.unwrap();
}

#[tokio::test]
async fn deletion_stops_the_engine_then_releases_the_finalizer() {
    let h = harness();
    let mut script = vec![existing_secret()];
    script.extend(applies());
    script.push(event("Applied"));
    script.push(status(|_| {}));
    script.push(event("Deleted"));
    script.push(
        Expect::new(Method::PATCH, &format!("{RSC}/seed"))
            .check(|b| assert!(b.to_string().contains("/metadata/finalizers/0"), "{b}"))
            .reply(StatusCode::OK, seed_cr()),
    );
    let server = h.server.run(script);
    reconcile(cr(seed_cr()), Arc::clone(&h.ctx)).await.unwrap();
    assert!(h.ctx.engines.is_running(NS, "seed"));
    let mut deleting = seed_cr();
    deleting["metadata"]["deletionTimestamp"] = json!("2026-11-25T00:00:00Z");
    reconcile(cr(deleting), Arc::clone(&h.ctx)).await.unwrap();
    server.await.unwrap();
    assert!(!h.ctx.engines.is_running(NS, "seed"));
}

/// Issue 19: a failed reconcile shows on the resource — `Ready=False` with the cause as its
/// reason and the error as its message (the printer columns and `describe` show it), and one
/// Warning Event; a retry with the same error writes nothing again.
#[tokio::test]
async fn a_named_secret_that_does_not_exist_is_for_the_user_to_fix() {
    let h = harness();
    let mut named = seed_cr();
    named["spec"]["auth"] = json!({"secretName": "mine"});
    let script = vec![
        Expect::new(Method::GET, &format!("{CORE}/secrets/mine")).not_found(),
        event("SecretMissing").check(|b| {
            assert_eq!(b["type"], "Warning", "{b}");
            assert!(b["note"].as_str().unwrap().contains("Secret `mine`"), "{b}");
        }),
        status(|s| {
            let ready = condition(s, "Ready");
            assert_eq!(ready["status"], "False", "{s}");
            assert_eq!(ready["reason"], "SecretMissing");
            let message = ready["message"].as_str().unwrap();
            assert!(
                message.contains("Secret `mine` (spec.auth.secretName) does not exist"),
                "{message}"
            );
            assert_eq!(ready["observedGeneration"], 1);
        }),
        // The retry: the same error, already on the resource: only the read.
        Expect::new(Method::GET, &format!("{CORE}/secrets/mine")).not_found(),
    ];
    let server = h.server.run(script);
    let err = reconcile(cr(named.clone()), Arc::clone(&h.ctx))
        .await
        .unwrap_err();
    assert!(err.needs_user());
    assert!(err.to_string().contains("`mine`"), "{err}");
    named["status"] = json!({
        "conditions": [{"type": "Ready", "status": "False", "reason": "SecretMissing",
                        "message": err.to_string(), "lastTransitionTime": "2026-01-01T00:00:00Z",
                        "observedGeneration": 1}]
    });
    reconcile(cr(named), Arc::clone(&h.ctx)).await.unwrap_err();
    server.await.unwrap();
}

#[tokio::test]
async fn tls_reads_the_ca_from_the_secret_it_names() {
    let h = harness();
    let mut tls = seed_cr();
    tls["spec"]["tls"] = json!({"enabled": true, "secretName": "seed-tls"});
    let missing = vec![
        existing_secret(),
        Expect::new(Method::GET, &format!("{CORE}/secrets/seed-tls")).not_found(),
        event("TlsSecretMissing"),
        status(|s| assert_eq!(condition(s, "Ready")["reason"], "TlsSecretMissing")),
    ];
    let server = h.server.run(missing);
    let err = reconcile(cr(tls.clone()), Arc::clone(&h.ctx))
        .await
        .unwrap_err();
    assert!(err.needs_user());
    assert!(err.to_string().contains("`seed-tls`"), "{err}");
    server.await.unwrap();

    let h = harness();
    let mut script = vec![
        existing_secret(),
        Expect::new(Method::GET, &format!("{CORE}/secrets/seed-tls")).reply(
            StatusCode::OK,
            json!({"apiVersion": "v1", "kind": "Secret", "type": "kubernetes.io/tls",
                   "metadata": {"name": "seed-tls", "namespace": NS},
                   "data": {"ca.crt": "LS0tLS1CRUdJTi0tLS0t", "tls.crt": "", "tls.key": ""}}),
        ),
    ];
    script.extend(applies());
    script.push(event("Applied"));
    script.push(status(|_| {}));
    let server = h.server.run(script);
    reconcile(cr(tls), Arc::clone(&h.ctx)).await.unwrap();
    server.await.unwrap();
    assert!(h.ctx.engines.is_running(NS, "seed"));
}

/// The seed's objects as the server stores them: `(list path, kind, name, version field)`.
/// StatefulSets and PDBs change `generation` when anyone edits them; the others only change
/// their `resourceVersion`.
const STORED: [(&str, &str, &str); 6] = [
    ("configmaps", "ConfigMap", "seed-config"),
    ("services", "Service", "seed-headless"),
    ("services", "Service", "seed"),
    ("statefulsets", "StatefulSet", "seed-leader"),
    ("statefulsets", "StatefulSet", "seed-follower"),
    ("poddisruptionbudgets", "PodDisruptionBudget", "seed"),
];

fn stored(kind: &str, name: &str, version: u32) -> Value {
    let uid = seed_cr()["metadata"]["uid"].clone();
    let mut meta = json!({"name": name, "namespace": NS, "labels": ours(),
        "ownerReferences": [{"apiVersion": "redis-stretch.io/v1alpha1", "kind": "RedisStretchCluster", "name": "seed", "uid": uid}]});
    if matches!(kind, "StatefulSet" | "PodDisruptionBudget") {
        meta["generation"] = json!(version);
        meta["resourceVersion"] = json!(format!("{}", 100 + version));
    } else {
        meta["resourceVersion"] = json!(format!("{version}"));
    }
    json!({"kind": kind, "metadata": meta})
}

/// The labels our objects carry (the caches filter on them, as the lists' selector did).
fn ours() -> Value {
    json!({"app.kubernetes.io/name": "redis-stretch", "app.kubernetes.io/instance": "seed",
           "app.kubernetes.io/managed-by": "redis-stretch"})
}

/// The watch caches show the seed's objects at these versions (`bump`: one StatefulSet edited).
fn hold(
    sets: &mut Writer<k8s_openapi::api::apps::v1::StatefulSet>,
    owned: &mut OwnedWriters,
    bump: Option<&str>,
) {
    let version = |name: &str| if Some(name) == bump { 2 } else { 1 };
    for (_, kind, name) in STORED {
        let mut o = stored(kind, name, version(name));
        match kind {
            "StatefulSet" => {
                o["spec"] = json!({"replicas": 3, "selector": {}, "template": {}, "serviceName": "seed-headless"});
                sets.apply_watcher_event(&Event::Apply(serde_json::from_value(o).unwrap()));
            }
            "Service" => owned.services.apply_watcher_event(&Event::Apply(meta(o))),
            "ConfigMap" => owned
                .config_maps
                .apply_watcher_event(&Event::Apply(meta(o))),
            _ => owned.pdbs.apply_watcher_event(&Event::Apply(meta(o))),
        }
    }
}

fn meta<K: k8s_openapi::Resource>(mut o: Value) -> PartialObjectMeta<K> {
    o["apiVersion"] = json!(K::API_VERSION);
    serde_json::from_value(o).unwrap()
}

/// An idle reconcile reads and sends nothing unchanged: an object whose render is the same and
/// whose server version is still the one we wrote is not applied again; the one somebody else
/// edited since (a new generation) is applied again, and only that one.
#[tokio::test]
async fn unchanged_objects_are_not_applied_again() {
    let mut h = harness();
    let mut script = vec![existing_secret()];
    for (e, (_, kind, name)) in applies().into_iter().zip(STORED) {
        script.push(e.reply(StatusCode::OK, stored(kind, name, 1)));
    }
    script.push(event("Applied"));
    script.push(status(|_| {}));
    // Nothing changed anywhere: the Secret (not cached by these tests' empty watch), and the
    // status.
    script.push(existing_secret());
    script.push(status(|_| {}));
    // Someone edited seed-follower: it alone is applied again.
    script.push(existing_secret());
    script.push(
        apply(format!("{APPS}/statefulsets/seed-follower"))
            .reply(StatusCode::OK, stored("StatefulSet", "seed-follower", 3)),
    );
    script.push(status(|_| {}));
    let server = h.server.run(script);
    reconcile(cr(seed_cr()), Arc::clone(&h.ctx)).await.unwrap();
    let mut again = seed_cr();
    again["status"] = json!({"observedGeneration": 1});
    hold(&mut h.stateful_sets, &mut h.owned, None);
    reconcile(cr(again.clone()), Arc::clone(&h.ctx))
        .await
        .unwrap();
    hold(&mut h.stateful_sets, &mut h.owned, Some("seed-follower"));
    reconcile(cr(again), Arc::clone(&h.ctx)).await.unwrap();
    server.await.unwrap();
}

/// What Kubernetes answers when a StatefulSet's volumeClaimTemplates change.
const STS_FORBIDDEN: &str = "StatefulSet.apps \"seed-leader\" is invalid: spec: Forbidden: updates to statefulset spec for fields other than 'replicas', 'ordinals', 'template', 'updateStrategy', 'persistentVolumeClaimRetentionPolicy' and 'minReadySeconds' are forbidden";

/// A refused apply shows in status (`Applied=False`, reason `ApplyFailed`, the API server's
/// message) and as one Warning Event, status keeps being written, and the reconcile still
/// fails so that it is retried; a retry with the same error publishes no second Event.
#[tokio::test]
async fn a_refused_apply_shows_in_status_and_as_a_warning_event() {
    let h = harness();
    let refused = || {
        apply(format!("{APPS}/statefulsets/seed-leader")).reply(
            StatusCode::UNPROCESSABLE_ENTITY,
            json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                   "message": STS_FORBIDDEN, "reason": "Invalid", "code": 422}),
        )
    };
    let until_refused = || {
        let mut s = vec![existing_secret()];
        s.extend(applies().into_iter().take(3));
        s.push(refused());
        s
    };
    let mut script = until_refused();
    script.push(event("ApplyFailed").check(|b| {
        assert_eq!(b["type"], "Warning", "{b}");
        assert!(b["note"].as_str().unwrap().contains("Forbidden"), "{b}");
    }));
    script.push(status(|s| {
        let applied = condition(s, "Applied");
        assert_eq!(applied["status"], "False", "{s}");
        assert_eq!(applied["reason"], "ApplyFailed");
        assert!(
            applied["message"].as_str().unwrap().contains("seed-leader")
                && applied["message"].as_str().unwrap().contains("Forbidden"),
            "{applied}"
        );
        // Not observed: the Applied Event still comes once this generation is applied.
        assert!(s["observedGeneration"].is_null(), "{s}");
    }));
    // The retry: same refusal, no second Event.
    script.extend(until_refused());
    script.push(status(|s| {
        assert_eq!(condition(s, "Applied")["reason"], "ApplyFailed");
    }));
    let server = h.server.run(script);
    let err = reconcile(cr(seed_cr()), Arc::clone(&h.ctx))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("Forbidden"), "{err}");
    let message = format!("{err}");
    let mut again = seed_cr();
    again["status"] = json!({
        "conditions": [{"type": "Applied", "status": "False", "reason": "ApplyFailed",
                        "message": message, "lastTransitionTime": "2026-01-01T00:00:00Z"}]
    });
    reconcile(cr(again), Arc::clone(&h.ctx)).await.unwrap_err();
    server.await.unwrap();
}

fn secret_with(password_b64: &'static str) -> Expect {
    Expect::new(Method::GET, &format!("{CORE}/secrets/seed-auth")).reply(
        StatusCode::OK,
        json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "seed-auth", "namespace": NS},
               "data": {"password": password_b64}}),
    )
}

/// Item 4 of issue 17: the password Secret changes under a running engine. The engine must
/// keep the old password until every instance accepts the new one: it is stored in the
/// operator-owned `seed-auth-previous` (for a restarted operator or a new Lease holder) before
/// the engine restarts with both, and read back while the rotation lasts. No password in
/// anything else the operator sends.
#[tokio::test]
async fn a_changed_password_keeps_the_previous_one_for_the_engine_while_it_rotates() {
    let mut h = harness();
    let mut script = vec![existing_secret()];
    for (e, (_, kind, name)) in applies().into_iter().zip(STORED) {
        script.push(e.reply(StatusCode::OK, stored(kind, name, 1)));
    }
    script.push(event("Applied"));
    script.push(status(|_| {}));
    // The Secret now says n3w-pa55; the running engine has hunter2.
    script.push(secret_with("bjN3LXBhNTU="));
    script
        .push(Expect::new(Method::GET, &format!("{CORE}/secrets/seed-auth-previous")).not_found());
    script.push(
        Expect::new(Method::POST, &format!("{CORE}/secrets")).check(|b| {
            assert_eq!(b["metadata"]["name"], "seed-auth-previous");
            assert_eq!(b["stringData"]["password"], "hunter2");
            assert_eq!(b["metadata"]["ownerReferences"][0]["name"], "seed");
        }),
    );
    script.push(status(|_| {}));
    // The next reconcile, rotation not done: the stored password is read back, nothing else.
    script.push(secret_with("bjN3LXBhNTU="));
    script.push(
        Expect::new(Method::GET, &format!("{CORE}/secrets/seed-auth-previous")).reply(
            StatusCode::OK,
            json!({"apiVersion": "v1", "kind": "Secret",
                   "metadata": {"name": "seed-auth-previous", "namespace": NS},
                   "data": {"password": "aHVudGVyMg=="}}),
        ),
    );
    script.push(status(|_| {}));
    let server = h.server.run(script);
    reconcile(cr(seed_cr()), Arc::clone(&h.ctx)).await.unwrap();
    hold(&mut h.stateful_sets, &mut h.owned, None);
    let mut again = seed_cr();
    again["status"] = json!({"observedGeneration": 1});
    reconcile(cr(again.clone()), Arc::clone(&h.ctx))
        .await
        .unwrap();
    let (current, previous) = h.ctx.engines.passwords(NS, "seed").unwrap();
    assert_eq!(current.unwrap().expose(), "n3w-pa55");
    assert_eq!(previous.unwrap().expose(), "hunter2");
    assert_eq!(h.ctx.engines.starts(), 2, "restarted once, with both");
    reconcile(cr(again), Arc::clone(&h.ctx)).await.unwrap();
    assert_eq!(h.ctx.engines.starts(), 2, "the same pair: not restarted");
    let bodies = server.await.unwrap();
    for b in bodies
        .iter()
        .filter(|b| b["metadata"]["name"] != "seed-auth-previous")
    {
        let t = b.to_string();
        assert!(!t.contains("hunter2") && !t.contains("n3w-pa55"), "{t}");
    }
}

fn tls_secret(cert_b64: &'static str) -> Expect {
    Expect::new(Method::GET, &format!("{CORE}/secrets/seed-tls")).reply(
        StatusCode::OK,
        json!({"apiVersion": "v1", "kind": "Secret", "type": "kubernetes.io/tls",
               "metadata": {"name": "seed-tls", "namespace": NS},
               "data": {"ca.crt": "LS0tLS1CRUdJTi0tLS0t", "tls.crt": cert_b64, "tls.key": ""}}),
    )
}

/// A renewed certificate (cert-manager rewrote the TLS Secret, same CA): the engine is started
/// again, and that one has every instance re-read its certificate files (`ReloadTls`, over
/// the kubelet's propagation window). An unchanged Secret restarts nothing.
#[tokio::test]
async fn a_renewed_tls_secret_restarts_the_engine_to_reload_the_certificates() {
    let mut h = harness();
    let mut tls = seed_cr();
    tls["spec"]["tls"] = json!({"enabled": true, "secretName": "seed-tls"});
    let mut script = vec![existing_secret(), tls_secret("b2xk")];
    for (e, (_, kind, name)) in applies().into_iter().zip(STORED) {
        script.push(e.reply(StatusCode::OK, stored(kind, name, 1)));
    }
    script.push(event("Applied"));
    script.push(status(|_| {}));
    for cert in ["bmV3", "bmV3"] {
        script.push(existing_secret());
        script.push(tls_secret(cert));
        script.push(status(|_| {}));
    }
    let server = h.server.run(script);
    reconcile(cr(tls.clone()), Arc::clone(&h.ctx))
        .await
        .unwrap();
    hold(&mut h.stateful_sets, &mut h.owned, None);
    tls["status"] = json!({"observedGeneration": 1});
    reconcile(cr(tls.clone()), Arc::clone(&h.ctx))
        .await
        .unwrap();
    assert_eq!(h.ctx.engines.starts(), 2, "renewed: a new engine reloads");
    reconcile(cr(tls), Arc::clone(&h.ctx)).await.unwrap();
    assert_eq!(h.ctx.engines.starts(), 2, "unchanged: nothing restarted");
    server.await.unwrap();
}

/// A StatefulSet as the cache holds it: `replicas` at `version`, owned by the seed cluster.
fn sized(name: &str, replicas: i32, version: &str) -> Value {
    let uid = seed_cr()["metadata"]["uid"].clone();
    json!({"kind": "StatefulSet", "apiVersion": "apps/v1", "metadata": {"name": name, "namespace": NS,
        "generation": 5, "resourceVersion": version, "labels": ours(),
        "ownerReferences": [{"apiVersion": "redis-stretch.io/v1alpha1", "kind": "RedisStretchCluster", "name": "seed", "uid": uid}]},
        "spec": {"replicas": replicas, "selector": {}, "template": {}}})
}

fn applies_replicas(name: &str, replicas: i32, precondition: Option<&'static str>) -> Expect {
    apply(format!("{APPS}/statefulsets/{name}")).check(move |b| {
        assert_eq!(b["spec"]["replicas"], replicas, "{b}");
        match precondition {
            Some(v) => assert_eq!(b["metadata"]["resourceVersion"], v, "{b}"),
            None => assert!(b["metadata"].get("resourceVersion").is_none(), "{b}"),
        }
    })
}

/// A scale-in (the spec at 3 shards, the StatefulSets still at 6 and 5): the apply keeps each
/// StatefulSet's replicas, never the spec's lower count, with the version it read them at as
/// a precondition; when the engine retired a pod in between (409), it reads the StatefulSet
/// again and keeps the engine's count. The spec's own count is applied as before once the
/// StatefulSet is down to it.
#[tokio::test]
async fn the_apply_never_lowers_a_stateful_set_the_engine_is_emptying() {
    let h = harness();
    let mut h = h;
    for set in [sized("seed-leader", 6, "7"), sized("seed-follower", 3, "9")] {
        h.stateful_sets
            .apply_watcher_event(&Event::Apply(serde_json::from_value(set).unwrap()));
    }
    let mut script = vec![existing_secret()];
    let mut objects = applies().into_iter();
    script.extend(objects.by_ref().take(3));
    let conflict = json!({"kind": "Status", "apiVersion": "v1", "status": "Failure",
        "reason": "Conflict", "code": 409,
        "message": "Operation cannot be fulfilled on statefulsets.apps \"seed-leader\": the object has been modified; please apply your changes to the latest version and try again"});
    script
        .push(applies_replicas("seed-leader", 6, Some("7")).reply(StatusCode::CONFLICT, conflict));
    script.push(
        Expect::new(Method::GET, &format!("{APPS}/statefulsets/seed-leader"))
            .reply(StatusCode::OK, sized("seed-leader", 5, "8")),
    );
    script.push(
        applies_replicas("seed-leader", 5, Some("8"))
            .reply(StatusCode::OK, sized("seed-leader", 5, "10")),
    );
    script.push(applies_replicas("seed-follower", 3, None));
    script.extend(objects.skip(2));
    script.push(event("Applied"));
    script.push(status(|_| {}));
    let server = h.server.run(script);
    reconcile(cr(seed_cr()), Arc::clone(&h.ctx)).await.unwrap();
    server.await.unwrap();
}

/// Issue 19, idle cost: the password Secret is read once per version. While the watch shows
/// the version last read, a reconcile sends no request for it, and with the objects unchanged
/// in the caches none for them either: the idle reconcile's only request here is the status
/// (this test's resource carries no status to compare with). A new version is read again.
#[tokio::test]
async fn the_password_is_read_once_per_version_of_its_secret() {
    let mut h = harness();
    let secret = |version: &'static str, b64: &'static str| {
        Expect::new(Method::GET, &format!("{CORE}/secrets/seed-auth")).reply(
            StatusCode::OK,
            json!({"apiVersion": "v1", "kind": "Secret",
                   "metadata": {"name": "seed-auth", "namespace": NS, "resourceVersion": version},
                   "data": {"password": b64}}),
        )
    };
    let watched = |version: &str| {
        Event::Apply(meta::<k8s_openapi::api::core::v1::Secret>(json!({
            "kind": "Secret",
            "metadata": {"name": "seed-auth", "namespace": NS, "resourceVersion": version}})))
    };
    h.secrets.apply_watcher_event(&watched("5"));
    let mut script = vec![secret("5", "aHVudGVyMg==")];
    for (e, (_, kind, name)) in applies().into_iter().zip(STORED) {
        script.push(e.reply(StatusCode::OK, stored(kind, name, 1)));
    }
    script.push(event("Applied"));
    script.push(status(|_| {}));
    // Idle: the status only.
    script.push(status(|_| {}));
    // The Secret was written again (version 6, a label say): read again. The pods carry the
    // version in their template, so the StatefulSets follow.
    script.push(secret("6", "aHVudGVyMg=="));
    for name in ["seed-leader", "seed-follower"] {
        script.push(
            apply(format!("{APPS}/statefulsets/{name}"))
                .reply(StatusCode::OK, stored("StatefulSet", name, 2)),
        );
    }
    script.push(status(|_| {}));
    let server = h.server.run(script);
    reconcile(cr(seed_cr()), Arc::clone(&h.ctx)).await.unwrap();
    hold(&mut h.stateful_sets, &mut h.owned, None);
    let mut again = seed_cr();
    again["status"] = json!({"observedGeneration": 1});
    reconcile(cr(again.clone()), Arc::clone(&h.ctx))
        .await
        .unwrap();
    h.secrets.apply_watcher_event(&watched("6"));
    reconcile(cr(again), Arc::clone(&h.ctx)).await.unwrap();
    server.await.unwrap();
}

/// In a Lease lapse a reconcile writes nothing and reads nothing: another replica may hold the
/// Lease now. It comes back soon, to find out.
#[tokio::test]
async fn a_reconcile_in_a_lease_lapse_sends_nothing() {
    let h = harness();
    h.ctx.leadership.revoke();
    let server = h.server.run(vec![]);
    let action = reconcile(cr(seed_cr()), Arc::clone(&h.ctx)).await.unwrap();
    assert_eq!(action, Action::requeue(std::time::Duration::from_secs(1)));
    server.await.unwrap();
    assert!(!h.ctx.engines.is_running(NS, "seed"));
}
