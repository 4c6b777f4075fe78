//! Two operator replicas: only the Lease holder acts; when the holder dies right after its
//! takeover step for dark dc-a's shards (before reporting or following it up), the other takes
//! the Lease and finishes the takeover without promoting any shard a second time.

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
use redis_stretch_engine::CRASH_AFTER_ENV;

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
    // op-1 holds the Lease (it starts alone) and dies the moment its first takeover step has
    // completed: promoted in Redis, but nothing reported, remembered or followed up yet (a
    // crash point of the engine, as a SIGKILL at that instant). op-2, started once op-1 leads,
    // must finish what op-1 started.
    let mut first_op = env
        .operator_replica_with_env("op-1", &[(CRASH_AFTER_ENV, "takeover")])
        .unwrap();
    let pods = env.seed_ready().await.unwrap();
    let first = holder(&env).await.expect("a Lease holder");
    assert_eq!(first, "op-1");
    let mut second = env.operator_replica("op-2").unwrap();
    eprintln!("lease holder: {first}");

    let dark = Instant::now();
    let frozen = env.kubelet().unwrap().zone_offline("dc-a");
    assert_eq!(frozen, 3);
    let status = until(
        "op-1 to die at its crash point",
        Duration::from_secs(30),
        Duration::from_millis(50),
        || {
            let status = first_op.exited();
            async move {
                Ok(match status {
                    Some(s) => Step::Done(s),
                    None => Step::Pending("running".into()),
                })
            }
        },
    )
    .await
    .unwrap();
    let killed = Timestamp::now();
    assert_eq!(status.code(), Some(86), "op-1 ended otherwise: {status}");
    assert!(second.exited().is_none(), "op-2 died too");
    eprintln!(
        "op-1 died after its takeover step, {:.1}s after dc-a went dark",
        dark.elapsed().as_secs_f64()
    );

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
    let mut by_new_kinds = Vec::new();
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
            by_new_kinds.push(e.reason.clone().unwrap_or_default());
        }
    }
    assert!(by_new > 0, "the new holder {new_holder} reported no action");
    eprintln!("{new_holder} reported: {by_new_kinds:?}");

    // No shard was promoted twice: every takeover or forced failover, of either replica, names
    // a different shard ("takeover on ADDR (shard N)"). The recorder folds a repeat of the
    // same Event into a series: its count is how often it happened.
    let mut promoted: Vec<String> = events
        .iter()
        .filter(|e| e.reporting_controller.as_deref() == Some("redis-stretch"))
        .filter(|e| matches!(e.reason.as_deref(), Some("Takeover" | "ForceFailover")))
        .flat_map(|e| {
            let note = e.note.clone().unwrap_or_default();
            let shard = note
                .rsplit_once('(')
                .map(|(_, shard)| shard.trim_end_matches(')').to_owned())
                .unwrap_or(note);
            let times = e.series.as_ref().map_or(1, |s| s.count.max(1)) as usize;
            std::iter::repeat_n(shard, times)
        })
        .collect();
    let all = promoted.len();
    promoted.sort();
    promoted.dedup();
    assert_eq!(
        promoted.len(),
        all,
        "a shard promoted twice across the hand-over: {promoted:?}"
    );
    // op-1's takeover step promoted both of dc-a's shards at once (one step, side by side): the
    // successor finds them promoted and must not promote them again, only follow up.
    assert!(
        !by_new_kinds
            .iter()
            .any(|k| k == "Takeover" || k == "ForceFailover"),
        "{new_holder} promoted again what op-1 had promoted: {by_new_kinds:?}"
    );
}
