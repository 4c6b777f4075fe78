//! Issue 18 on the real control plane: the seed cluster scaled `3 → 6 → 3` shards by editing
//! the custom resource (`spec.shards` with the zones' `preferredMasters`) under the drill's
//! writers (a plain and a `WAIT 1` writer over every slot, a probe per shard), Redis and the
//! `Scaling` condition sampled every 200 ms, on twelve nodes (six shards × two pods, one per
//! node).
//!
//! Out: the StatefulSets grow at once, the new pods become masters of new shards (dc-a's
//! deficit first) and their replicas across, and slots move until the six shards are even.
//! In: the pods above ordinal 2 are emptied, forgotten by the cluster and retired one at a time
//! (the StatefulSets shrink as the engine retires each, never by the apply).
//!
//! Asserted: no WAIT-acknowledged write lost; at every sample every slot-owning master has a
//! replica in the other zone; the preferred zone holds the planned masters at each end (4 of
//! 6, then 2 of 3); `Scaling` True with the slots left to move while it runs, False at the end.
//! The figures go to `target/scale/scale-e2e.md`.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::{Duration, Instant};

use k8s_openapi::api::events::v1::Event;
use kube::Api;
use redis_stretch_drill::{verify, DrillConfig, Workload};
use redis_stretch_e2e::drill::NS;
use redis_stretch_e2e::env::ZONE_LABEL;
use redis_stretch_e2e::kubelet::scale_nodes;
use redis_stretch_e2e::rollout::{acked, longest_gaps, seeds};
use redis_stretch_e2e::scale::{seed_scaled, settled_layout, stateful_set_replicas, ScaleWatch};
use redis_stretch_e2e::wait::{until, Step};
use redis_stretch_e2e::{init_tracing, Env};

const NAME: &str = "seed";

/// Wait until the cluster's condition `type_` has `status` as written for `generation` or
/// later (a status written before the spec change says nothing about it); returns its message.
async fn condition_at(
    env: &Env,
    type_: &str,
    status: &str,
    generation: i64,
    limit: Duration,
) -> String {
    until(
        &format!("{type_}={status} at generation {generation}"),
        limit,
        Duration::from_millis(200),
        || async move {
            let obj = env.cluster(NS, NAME).await?;
            let conds = obj
                .data
                .pointer("/status/conditions")
                .and_then(|c| c.as_array())
                .cloned()
                .unwrap_or_default();
            let c = conds.iter().find(|c| c["type"] == type_);
            Ok(match c {
                Some(c)
                    if c["status"] == status
                        && c["observedGeneration"].as_i64().unwrap_or(0) >= generation =>
                {
                    Step::Done(c["message"].as_str().unwrap_or_default().to_owned())
                }
                _ => Step::Pending(format!("all: {}", serde_json::Value::Array(conds))),
            })
        },
    )
    .await
    .unwrap()
}

async fn generation(env: &Env) -> i64 {
    env.cluster(NS, NAME)
        .await
        .unwrap()
        .metadata
        .generation
        .unwrap_or(0)
}

/// Scaled to `shards`: the pods Ready, the engine done (`Scaling` False), every replica in
/// sync (`Ready`), the masters as preferred (`FailbackPending` False), every pod agreeing on
/// `shards` masters each with a replica across. Returns the masters per zone.
async fn scaled(
    env: &Env,
    shards: usize,
    limit: Duration,
) -> std::collections::BTreeMap<String, usize> {
    let generation = generation(env).await;
    let msg = condition_at(env, "Scaling", "True", generation, Duration::from_secs(30)).await;
    eprintln!("Scaling: {msg}");
    // `Scaling` first: on a timeout it shows every condition, what the engine waits for.
    for (c, s) in [
        ("Scaling", "False"),
        ("Ready", "True"),
        ("FailbackPending", "False"),
    ] {
        condition_at(env, c, s, generation, limit).await;
    }
    env.ready_pods(NS, NAME, 2 * shards, Duration::from_secs(120))
        .await
        .unwrap();
    settled_layout(env, NS, NAME, shards, Duration::from_secs(30))
        .await
        .unwrap()
}

async fn events(env: &Env) -> Vec<Event> {
    Api::<Event>::namespaced(env.client.clone(), NS)
        .list(&Default::default())
        .await
        .unwrap()
        .items
}

fn count(events: &[Event], reason: &str) -> usize {
    events
        .iter()
        .filter(|e| e.reason.as_deref() == Some(reason))
        .map(|e| {
            e.series
                .as_ref()
                .map_or(1, |s| usize::try_from(s.count).unwrap_or(1))
        })
        .sum()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn three_to_six_to_three_shards_under_writes_loses_no_waited_write() {
    init_tracing();
    let Some(mut env) = Env::start("scale", NS).await.unwrap() else {
        return;
    };
    env.start_kubelet_with(scale_nodes(ZONE_LABEL))
        .await
        .unwrap();
    env.start_operator().unwrap();
    env.seed_ready().await.unwrap();
    let password = env.password(NS, NAME).await.unwrap();
    let zones = env.node_zones().await.unwrap();

    let mut cfg = DrillConfig::new(
        seeds(&env.client, NS, NAME).await.unwrap(),
        Some(password.clone()),
    );
    cfg.rate_per_writer = 200;
    cfg.duration_limit = Duration::from_secs(900);
    let workload = Workload::start(cfg.clone()).await.unwrap();
    let watch = ScaleWatch::start(env.client.clone(), NS, NAME, password.clone(), zones);
    // A few thousand keys for the migration to move.
    tokio::time::sleep(Duration::from_secs(5)).await;

    let t0 = Instant::now();
    workload.mark("shards 3 → 6");
    env.apply(&seed_scaled(6, 4, 2).unwrap()).await.unwrap();
    let at_six = scaled(&env, 6, Duration::from_secs(300)).await;
    let out_s = t0.elapsed().as_secs_f64();
    eprintln!("6 shards after {out_s:.1}s: masters {at_six:?}");
    assert_eq!(
        stateful_set_replicas(&env, NS)
            .await
            .unwrap()
            .values()
            .sum::<i32>(),
        12
    );

    let t1 = Instant::now();
    workload.mark("shards 6 → 3");
    env.apply(&seed_scaled(3, 2, 1).unwrap()).await.unwrap();
    let at_three = scaled(&env, 3, Duration::from_secs(120)).await;
    let in_s = t1.elapsed().as_secs_f64();
    eprintln!("3 shards after {in_s:.1}s: masters {at_three:?}");
    let env_ref = &env;
    let sizes = until(
        "both StatefulSets back at 3 replicas",
        Duration::from_secs(60),
        Duration::from_millis(250),
        || async move {
            let s = stateful_set_replicas(env_ref, NS).await?;
            Ok(if s.values().all(|r| *r == 3) {
                Step::Done(s)
            } else {
                Step::Pending(format!("{s:?}"))
            })
        },
    )
    .await
    .unwrap();

    let writable = workload
        .wait_all_writable(Instant::now(), Duration::from_secs(15))
        .await;
    let watched = watch.stop().await.unwrap();
    let rec = workload.stop().await.unwrap();
    cfg.seeds = seeds(&env.client, NS, NAME).await.unwrap();
    let report = verify(&rec, &cfg).await.unwrap();
    let gaps = longest_gaps(&rec);
    let (acked_wait, acked_plain) = acked(&rec);
    let evs = events(&env).await;
    let (moves, retires, retire_failed) = (
        count(&evs, "MoveSlots"),
        count(&evs, "Retire"),
        count(&evs, "RetireFailed"),
    );
    eprintln!("{report}");
    eprintln!("watch: {watched:#?}");
    eprintln!("StatefulSets at the end: {sizes:?}");

    let gap_text: Vec<String> = gaps.iter().map(|(n, g)| format!("{n}: {g:.2} s")).collect();
    let table = format!(
        "| seed cluster, spec.shards changed | WAIT-acked writes (lost) | plain writes acked (lost) | longest write gap per shard | samples with a master lacking a replica across (of samples judged) | masters dc-a/dc-b | time to settled | Events |\n\
         |---|---|---|---|---|---|---|---|\n\
         | 3 → 6 (preferredMasters 4/2), then 6 → 3 (2/1) | {acked_wait} ({}) | {acked_plain} ({}) | {} | {} of {} | {}/{} at 6, {}/{} at 3 | {out_s:.1} s out, {in_s:.1} s in | {moves} MoveSlots, {retires} Retire, {retire_failed} RetireFailed |\n",
        report.acked_writes_lost,
        report.plain_writes_lost,
        gap_text.join(", "),
        watched.lacking_samples,
        watched.judged,
        at_six.get("dc-a").copied().unwrap_or(0),
        at_six.get("dc-b").copied().unwrap_or(0),
        at_three.get("dc-a").copied().unwrap_or(0),
        at_three.get("dc-b").copied().unwrap_or(0),
    );
    let dir = redis_stretch_e2e::repo_root().join("target/scale");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("scale-e2e.md"), &table).unwrap();
    eprintln!("{table}");

    assert_eq!(report.acked_writes_lost, 0, "{report}");
    assert!(writable.is_some(), "some slots refused writes at the end");
    assert_eq!(
        watched.lacking_samples, 0,
        "masters without a replica in the other zone: {:?}",
        watched.lacking
    );
    assert!(
        watched.judged * 2 > watched.samples,
        "too few samples saw the whole cluster: {} of {}",
        watched.judged,
        watched.samples
    );
    assert_eq!(
        watched.deleted_serving,
        Vec::<String>::new(),
        "pods deleted while they served slots"
    );
    assert_eq!(watched.max_masters, 6, "{watched:?}");
    assert_eq!(watched.max_pods, 12, "{watched:?}");
    assert_eq!(at_six.get("dc-a"), Some(&4), "{at_six:?}");
    assert_eq!(at_six.get("dc-b"), Some(&2), "{at_six:?}");
    assert_eq!(at_three.get("dc-a"), Some(&2), "{at_three:?}");
    assert_eq!(at_three.get("dc-b"), Some(&1), "{at_three:?}");
    assert!(
        watched
            .scaling_messages
            .iter()
            .any(|m| m.contains("slots left to move")),
        "Scaling never showed the slots left: {:?}",
        watched.scaling_messages
    );
    assert_eq!(retires, 6, "one Retire per pod that left");
    for w in &report.writers {
        assert!(w.writes > 100, "{:?} wrote only {}", w.writer, w.writes);
    }
}
