#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! Leader election against a scripted API server: acquiring, renewing, waiting out someone
//! else's lease on this replica's own clock, losing a race (409), the preferred-zone handicap,
//! handing over at shutdown, and — the safety property — leadership lapsing on time when the
//! API server goes silent.

mod support;

use std::time::Duration;

use http::{Method, StatusCode};
use redis_stretch_operator::lease::{Elector, Leadership, LeaseConfig};
use serde_json::{json, Value};
use support::*;

const LEASES: &str = "/apis/coordination.k8s.io/v1/namespaces/redis-stretch/leases";

fn cfg(handicap: Duration) -> LeaseConfig {
    LeaseConfig {
        name: "redis-stretch-operator".into(),
        namespace: "redis-stretch".into(),
        identity: "me".into(),
        duration: Duration::from_secs(1),
        handicap,
    }
}

fn lease(holder: Option<&str>, renewed: &str, version: &str) -> Value {
    json!({
        "apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
        "metadata": {"name": "redis-stretch-operator", "namespace": "redis-stretch", "resourceVersion": version},
        "spec": {"holderIdentity": holder, "leaseDurationSeconds": 1,
                 "renewTime": renewed, "leaseTransitions": 3}
    })
}

fn get(reply: Value) -> Expect {
    Expect::new(Method::GET, &format!("{LEASES}/redis-stretch-operator"))
        .reply(StatusCode::OK, reply)
}

fn put(check: impl Fn(&Value) + Send + 'static) -> Expect {
    Expect::new(Method::PUT, &format!("{LEASES}/redis-stretch-operator")).check(check)
}

/// Acquired by a create; the holder then renews from the copy it wrote (one PUT, no GET,
/// optimistic concurrency on the stored resourceVersion); a 409 sends it back to reading.
#[tokio::test]
async fn acquire_a_missing_lease_then_renew_it() {
    let h = harness();
    let conflict = json!({"kind": "Status", "apiVersion": "v1", "status": "Failure", "reason": "Conflict", "code": 409});
    let script = vec![
        Expect::new(Method::GET, &format!("{LEASES}/redis-stretch-operator")).not_found(),
        Expect::new(Method::POST, LEASES)
            .check(|b| {
                assert_eq!(b["spec"]["holderIdentity"], "me");
                assert_eq!(b["spec"]["leaseDurationSeconds"], 1);
            })
            .reply(
                StatusCode::CREATED,
                lease(Some("me"), "2026-11-25T00:00:00.000000Z", "5"),
            ),
        put(|b| {
            assert_eq!(b["spec"]["holderIdentity"], "me");
            assert_ne!(
                b["spec"]["renewTime"], "2026-11-25T00:00:00.000000Z",
                "renewed"
            );
            assert_eq!(
                b["metadata"]["resourceVersion"], "5",
                "optimistic concurrency, from the copy written"
            );
        })
        .reply(
            StatusCode::OK,
            lease(Some("me"), "2026-11-25T00:00:01.000000Z", "6"),
        ),
        put(|b| assert_eq!(b["metadata"]["resourceVersion"], "6"))
            .reply(StatusCode::CONFLICT, conflict),
        get(lease(Some("other"), "2026-11-25T00:00:02.000000Z", "8")),
    ];
    let server = h.server.run(script);
    let leadership = Leadership::default();
    let mut e = Elector::new(
        h.ctx.client.clone(),
        cfg(Duration::ZERO),
        leadership.clone(),
    );
    assert!(e.try_acquire_or_renew().await.unwrap());
    assert_eq!(leadership.term(), 1, "acquired: a new term");
    assert!(e.try_acquire_or_renew().await.unwrap());
    assert_eq!(
        leadership.term(),
        1,
        "renewed: the same term (a lapse that ends in a renewal keeps it, operator.rs)"
    );
    assert!(
        !e.try_acquire_or_renew().await.unwrap(),
        "someone else wrote since: read, and it is theirs"
    );
    server.await.unwrap();
}

#[tokio::test]
async fn someone_elses_lease_is_taken_only_after_a_whole_duration_unchanged() {
    let h = harness();
    let theirs = lease(Some("other"), "2026-11-25T00:00:00.000000Z", "7");
    let script = vec![
        get(theirs.clone()),
        get(theirs.clone()),
        get(theirs),
        put(|b| {
            assert_eq!(b["spec"]["holderIdentity"], "me");
            assert_eq!(b["spec"]["leaseTransitions"], 4);
        }),
    ];
    let server = h.server.run(script);
    let leadership = Leadership::default();
    let mut e = Elector::new(
        h.ctx.client.clone(),
        cfg(Duration::ZERO),
        leadership.clone(),
    );
    assert!(
        !e.try_acquire_or_renew().await.unwrap(),
        "first sight: start counting"
    );
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(
        !e.try_acquire_or_renew().await.unwrap(),
        "half a duration: still theirs"
    );
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert!(
        e.try_acquire_or_renew().await.unwrap(),
        "a whole duration unrenewed: ours"
    );
    assert_eq!(
        leadership.term(),
        1,
        "taken from someone else: a new term (state kept through a lapse is not the truth)"
    );
    server.await.unwrap();
}

#[tokio::test]
async fn a_renewal_restarts_the_count_and_a_lost_race_is_no_error() {
    let h = harness();
    let script = vec![
        get(lease(Some("other"), "2026-11-25T00:00:00.000000Z", "7")),
        get(lease(Some("other"), "2026-11-25T00:00:01.000000Z", "8")),
        get(lease(Some("other"), "2026-11-25T00:00:01.000000Z", "8")),
        get(lease(None, "2026-11-25T00:00:01.000000Z", "9")),
        put(|_| {}).reply(
            StatusCode::CONFLICT,
            json!({"kind": "Status", "apiVersion": "v1", "status": "Failure", "reason": "Conflict", "code": 409}),
        ),
    ];
    let server = h.server.run(script);
    let mut e = Elector::new(
        h.ctx.client.clone(),
        cfg(Duration::ZERO),
        Leadership::default(),
    );
    assert!(!e.try_acquire_or_renew().await.unwrap());
    tokio::time::sleep(Duration::from_millis(700)).await;
    assert!(
        !e.try_acquire_or_renew().await.unwrap(),
        "renewed meanwhile: count restarts"
    );
    tokio::time::sleep(Duration::from_millis(700)).await;
    assert!(
        !e.try_acquire_or_renew().await.unwrap(),
        "0.7 s since the renewal: theirs"
    );
    // Released (no holder): free at once; another candidate wrote first: not ours, no error.
    assert!(!e.try_acquire_or_renew().await.unwrap());
    server.await.unwrap();
}

#[tokio::test]
async fn outside_the_preferred_zone_a_free_lease_waits_the_handicap() {
    let h = harness();
    let free = lease(None, "2026-11-25T00:00:00.000000Z", "9");
    let script = vec![
        get(free.clone()),
        get(free),
        put(|b| assert_eq!(b["spec"]["holderIdentity"], "me")),
    ];
    let server = h.server.run(script);
    let mut e = Elector::new(
        h.ctx.client.clone(),
        cfg(Duration::from_millis(500)),
        Leadership::default(),
    );
    assert!(
        !e.try_acquire_or_renew().await.unwrap(),
        "the preferred zone goes first"
    );
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert!(e.try_acquire_or_renew().await.unwrap());
    server.await.unwrap();
}

#[tokio::test]
async fn release_hands_the_lease_over() {
    let h = harness();
    let script = vec![
        get(lease(Some("me"), "2026-11-25T00:00:00.000000Z", "5")),
        put(|b| assert!(b["spec"]["holderIdentity"].is_null(), "{b}")),
    ];
    let server = h.server.run(script);
    let leadership = Leadership::always();
    let e = Elector::new(
        h.ctx.client.clone(),
        cfg(Duration::ZERO),
        leadership.clone(),
    );
    e.release().await;
    assert!(!leadership.may_act(), "released means no more acting");
    server.await.unwrap();
}

/// The leader's API server goes silent: its calls hang. Leadership must lapse half a lease
/// duration after the last renewal started — not whenever a hung call returns — because
/// another replica may take the Lease one duration after it last saw it renewed.
#[tokio::test]
async fn leadership_lapses_on_time_when_the_api_server_hangs() {
    let h = harness();
    let script = vec![
        Expect::new(Method::GET, &format!("{LEASES}/redis-stretch-operator")).not_found(),
        Expect::new(Method::POST, LEASES),
    ];
    let server = h.server.run_then_hang(script);
    let leadership = Leadership::default();
    let e = Elector::new(
        h.ctx.client.clone(),
        cfg(Duration::ZERO),
        leadership.clone(),
    );
    let (tx, mut rx) = tokio::sync::watch::channel(false);
    let campaign = tokio::spawn(e.run(tx));
    tokio::time::timeout(Duration::from_secs(2), rx.wait_for(|l| *l))
        .await
        .unwrap()
        .unwrap();
    // Valid until half a duration after the renewal *began*: fixed when it succeeded, so no
    // hung call can stretch it (engines compare against it before every action).
    let until = leadership.valid_until().unwrap();
    assert!(until <= tokio::time::Instant::now() + cfg(Duration::ZERO).renew_deadline());
    tokio::time::timeout(Duration::from_secs(3), rx.wait_for(|l| !*l))
        .await
        .expect("leadership must lapse while every renewal hangs")
        .unwrap();
    assert!(!leadership.may_act());
    assert_eq!(
        leadership.valid_until(),
        Some(until),
        "never extended without a renewal"
    );
    campaign.abort();
    drop(server);
}
