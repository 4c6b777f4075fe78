//! Two operator replicas: only the Lease holder acts; when the holder is killed right after
//! dc-a goes dark (mid-takeover), the other takes the Lease and finishes the takeover.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::{Duration, Instant};

use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::events::v1::Event;
use k8s_openapi::jiff::Timestamp;
use kube::Api;
use redis_stretch_admin::{AdminClient, ClusterState, NodeAddr};
use redis_stretch_e2e::drill::NS;
use redis_stretch_e2e::env::zone_of_ip;
use redis_stretch_e2e::wait::{until, Step};
use redis_stretch_e2e::{init_tracing, Env, Error};

async fn holder(env: &Env) -> Option<String> {
    Api::<Lease>::namespaced(env.client.clone(), "redis-stretch")
        .get("redis-stretch-operator")
        .await
        .ok()?
        .spec?
        .holder_identity
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_new_lease_holder_finishes_a_takeover_the_old_one_started() {
    init_tracing();
    let Some(mut env) = Env::start("operator-failover", NS).await.unwrap() else {
        return;
    };
    env.start_kubelet().await.unwrap();
    env.start_operator().unwrap();
    let mut second = env.operator_replica("op-2").unwrap();
    let pods = env.seed_ready().await.unwrap();
    let first = holder(&env).await.expect("a Lease holder");
    eprintln!("lease holder: {first}");

    // dc-a dark; the holder dies half a second later, while its engine confirms the zone dark
    // or sends the first takeovers.
    let dark = Instant::now();
    let frozen = env.kubelet().unwrap().zone_offline("dc-a");
    assert_eq!(frozen, 3);
    tokio::time::sleep(Duration::from_millis(500)).await;
    if first == "op-1" {
        env.operator.as_mut().unwrap().kill();
    } else {
        second.kill();
    }
    let killed = Timestamp::now();

    // The other replica takes the Lease and every slot ends on a dc-b master that takes writes.
    let zones = env.node_zones().await.unwrap();
    let zone_of = zone_of_ip(&pods, &zones);
    let dc_b_ip = zone_of
        .iter()
        .find(|(_, z)| z.as_str() == "dc-b")
        .map(|(ip, _)| ip.clone())
        .unwrap();
    let password = env.password(NS, "seed").await.unwrap();
    let env_ref = &env;
    let (new_holder, after) = until(
        "the new leader to finish the takeover",
        Duration::from_secs(60),
        Duration::from_millis(200),
        || {
            let (zone_of, dc_b_ip, password, first) = (&zone_of, &dc_b_ip, &password, &first);
            async move {
                let h = holder(env_ref).await.unwrap_or_default();
                let admin = AdminClient::connect(
                    &NodeAddr::new(dc_b_ip.clone(), 6379),
                    Some(password),
                    Duration::from_secs(1),
                )
                .await
                .map_err(|e| Error::Invalid(e.to_string()))?;
                let info = admin
                    .cluster_info()
                    .await
                    .map_err(|e| Error::Invalid(e.to_string()))?;
                let nodes = admin
                    .cluster_nodes()
                    .await
                    .map_err(|e| Error::Invalid(e.to_string()))?;
                let dc_b_slots: usize = nodes
                    .nodes
                    .iter()
                    .filter(|n| n.flags.master && !n.flags.fail && !n.flags.pfail)
                    .filter(|n| {
                        n.addr
                            .as_ref()
                            .and_then(|a| zone_of.get(&a.host))
                            .is_some_and(|z| z == "dc-b")
                    })
                    .map(|n| n.slot_count())
                    .sum();
                Ok(
                    if h != *first && info.state == ClusterState::Ok && dc_b_slots == 16384 {
                        Step::Done((h, dark.elapsed()))
                    } else {
                        Step::Pending(format!(
                            "holder {h}, cluster_state {:?}, {dc_b_slots} slots on dc-b masters",
                            info.state
                        ))
                    },
                )
            }
        },
    )
    .await
    .unwrap();
    eprintln!(
        "lease {first} -> {new_holder}; every slot on a dc-b master {:.1}s after dc-a went dark",
        after.as_secs_f64()
    );
    env.wait_condition(NS, "seed", "ZoneLost", "True", Duration::from_secs(30))
        .await
        .unwrap();

    // Only the holder acted: every Event of the replica that did not hold the Lease is from
    // after the holder died, and it did report actions of its own then.
    let events = Api::<Event>::namespaced(env.client.clone(), NS)
        .list(&Default::default())
        .await
        .unwrap()
        .items;
    let mut by_new = 0;
    for e in events
        .iter()
        .filter(|e| e.reporting_controller.as_deref() == Some("redis-stretch"))
    {
        let who = e.reporting_instance.as_deref().unwrap_or_default();
        let at = e
            .event_time
            .as_ref()
            .map(|t| t.0)
            .or_else(|| e.deprecated_first_timestamp.as_ref().map(|t| t.0));
        assert!(
            who == first || who == new_holder,
            "an Event from {who}, neither replica"
        );
        if who == new_holder {
            let at = at.unwrap_or_else(|| panic!("an Event of {who} without a time: {e:?}"));
            assert!(
                at >= killed,
                "{who} acted ({:?}: {:?}) at {at}, before the holder {first} died at {killed}",
                e.reason,
                e.note
            );
            by_new += 1;
        }
    }
    assert!(by_new > 0, "the new holder {new_holder} reported no action");
}
