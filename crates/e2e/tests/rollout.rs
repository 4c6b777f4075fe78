//! Issue 17 on the real control plane: an image change of the seed cluster under the drill's
//! writers (a plain and a `WAIT 1` writer, a probe per shard), pods and Redis sampled every
//! 200 ms.
//!
//! - First today's failure: the StatefulSet controller's `RollingUpdate` (rendered for
//!   measuring by the annotation `redis-stretch.io/update-strategy`) takes a shard's master and
//!   replica (`leader-i`, `follower-i`) down together; with persistence off the data is gone.
//! - Then, on a fresh seed cluster in the same run, the engine's rollout (StatefulSets
//!   `OnDelete`): one instance at a time, replicas first, masters after a graceful failover,
//!   the preferred layout restored at the end — no WAIT-acknowledged write lost, no shard
//!   unwritable for more than 2 s, never both members of a shard down, masters back in their
//!   preferred zones.
//! - A Lease hand-over in the middle of a rollout: the new holder finishes it from
//!   `status.engineMemory`, restarting no instance twice.
//!
//! The figures go to `target/rollout/rollout-e2e.md` and `target/rollout/rollout-lease-e2e.md`
//! (rows for docs/RELIABILITY.md and docs/BENCHMARKS.md).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::events::v1::Event;
use kube::Api;
use redis_stretch_e2e::drill::NS;
use redis_stretch_e2e::env::{masters_per_zone, zone_of_ip};
use redis_stretch_e2e::rollout::{
    acked, all_at_update_revision, longest_gaps, seed_with, start_writers, stop_writers,
    strategy_is, table, update_revisions, Figures, PodWatch,
};
use redis_stretch_e2e::wait::{until, Step};
use redis_stretch_e2e::{init_tracing, Env, Error};

const NAME: &str = "seed";
const MEASURE: &str = "redis-stretch.io/update-strategy";

fn pod_names() -> Vec<String> {
    ["leader", "follower"]
        .iter()
        .flat_map(|s| (0..3).map(move |i| format!("{NAME}-{s}-{i}")))
        .collect()
}

/// Masters with slots per zone, once every pod's `CLUSTER NODES` agrees that each master has
/// a replica in the other zone (gossip about a restarted pod takes a moment to spread).
async fn masters(env: &Env) -> BTreeMap<String, usize> {
    let pods = env
        .ready_pods(NS, NAME, 6, Duration::from_secs(30))
        .await
        .unwrap();
    let zones = env.node_zones().await.unwrap();
    let zone_of = zone_of_ip(&pods, &zones);
    let password = env.password(NS, NAME).await.unwrap();
    let (zone_of, password) = (&zone_of, &password);
    until(
        "every pod to see each master with a replica in the other zone",
        Duration::from_secs(20),
        Duration::from_millis(250),
        || async move {
            let mut seen = None;
            for ip in zone_of.keys() {
                let nodes = env.cluster_nodes(ip, password).await?;
                let m = masters_per_zone(&nodes, zone_of)
                    .map_err(|e| Error::Invalid(format!("at {ip}: {e}")))?;
                if seen.as_ref().is_some_and(|s| *s != m) {
                    return Ok(Step::Pending(format!("{ip} sees {m:?}, another {seen:?}")));
                }
                seen = Some(m);
            }
            Ok(seen.map_or_else(|| Step::Pending("no pod".into()), Step::Done))
        },
    )
    .await
    .unwrap()
}

/// Slots owned by a master that is not flagged failed, as the first pod that answers says.
async fn slots_served(env: &Env) -> usize {
    let password = env.password(NS, NAME).await.unwrap();
    let pods = redis_stretch_e2e::api::cluster_pods(&env.client, NS, NAME)
        .await
        .unwrap();
    for ip in pods
        .iter()
        .filter_map(|p| p.status.as_ref()?.pod_ip.clone())
    {
        if let Ok(nodes) = env.cluster_nodes(&ip, &password).await {
            return nodes
                .nodes
                .iter()
                .filter(|n| n.flags.master && !n.flags.fail && !n.flags.pfail)
                .map(|n| n.slot_count())
                .sum();
        }
    }
    0
}

/// The engine's rollout is over: every pod at the new revision, `Rolling` False, every replica
/// in sync (`Ready`) and the masters as preferred (`FailbackPending` False).
async fn rollout_done(env: &Env, old: &BTreeMap<String, String>, limit: Duration) {
    all_at_update_revision(env, NS, NAME, 6, old, limit)
        .await
        .unwrap();
    for (c, s) in [
        ("Rolling", "False"),
        ("Ready", "True"),
        ("FailbackPending", "False"),
    ] {
        env.wait_condition(NS, NAME, c, s, Duration::from_secs(60))
            .await
            .unwrap();
    }
}

fn restart_events(events: &[Event]) -> Vec<(String, String)> {
    events
        .iter()
        .filter(|e| e.reason.as_deref() == Some("Restart"))
        .map(|e| {
            (
                e.reporting_instance.clone().unwrap_or_default(),
                e.note.clone().unwrap_or_default(),
            )
        })
        .collect()
}

async fn events(env: &Env) -> Vec<Event> {
    Api::<Event>::namespaced(env.client.clone(), NS)
        .list(&Default::default())
        .await
        .unwrap()
        .items
}

fn write_table(name: &str, text: &str) {
    let dir = redis_stretch_e2e::repo_root().join("target/rollout");
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    eprintln!("{text}\nwritten to {}", path.display());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_image_change_rolls_one_instance_at_a_time_and_loses_no_waited_write() {
    init_tracing();
    let Some(mut env) = Env::start("rollout", NS).await.unwrap() else {
        return;
    };
    env.start_kubelet().await.unwrap();
    env.start_operator().unwrap();

    // First today's failure: the StatefulSet controller's RollingUpdate (the measuring
    // annotation renders it), under the same writers.
    env.seed_ready().await.unwrap();
    env.apply(&seed_with("redis:7.4", &[(MEASURE, "RollingUpdate")]).unwrap())
        .await
        .unwrap();
    strategy_is(&env, NS, "RollingUpdate").await.unwrap();
    let password = env.password(NS, NAME).await.unwrap();
    let baseline = measure(
        &env,
        &password,
        "redis:7.4.1",
        &[(MEASURE, "RollingUpdate")],
    )
    .await;
    let restarts_before = restart_events(&events(&env).await);

    // A fresh seed cluster (with persistence off the first one may have lost everything),
    // then the engine's rollout of the same change.
    delete_cluster(&env).await;
    env.seed_ready().await.unwrap();
    strategy_is(&env, NS, "OnDelete").await.unwrap();
    let password = env.password(NS, NAME).await.unwrap();
    let before = masters(&env).await;
    let engine = measure(&env, &password, "redis:7.4.1", &[]).await;
    let after = masters(&env).await;
    let restarts = restart_events(&events(&env).await);
    eprintln!("Restart Events: {restarts:#?}");

    let rows = [baseline, engine];
    write_table("rollout-e2e.md", &table(&rows));
    let [baseline, engine] = rows;

    // Today's failure, reproduced: the StatefulSet controller took a shard's master and
    // replica down together, and the engine did not race it.
    assert!(
        baseline.watch.both_down_samples > 0,
        "RollingUpdate never took both members of a shard down (samples: {})",
        baseline.watch.samples
    );
    eprintln!("RollingUpdate: {:?}", baseline.watch.both_down);
    assert!(
        restarts_before.is_empty(),
        "the engine restarted pods under RollingUpdate: {restarts_before:?}"
    );

    // The engine's rollout: nothing WAIT-acknowledged lost, every shard writable within 2 s,
    // never both members of a shard down, each pod restarted once, masters as before.
    let report = engine.report.as_ref().unwrap();
    assert_eq!(report.acked_writes_lost, 0, "{report}");
    for (shard, gap) in &engine.gaps {
        assert!(*gap <= 2.0, "{shard} refused writes for {gap:.2} s");
    }
    assert_eq!(
        engine.watch.both_down_samples, 0,
        "both members of a shard down: {:?}",
        engine.watch.both_down
    );
    for (pod, n) in &engine.watch.incarnations {
        assert_eq!(
            *n, 2,
            "{pod}: {n} incarnations seen during the engine's rollout"
        );
    }
    assert_eq!(
        after, before,
        "masters per zone before and after the rollout"
    );
    assert_eq!(
        restarts.len(),
        6,
        "one Restart Event per instance: {restarts:?}"
    );
}

/// Change the image to `image` under the drill's writers, pods and Redis sampled, until every
/// pod runs the new revision (and, for the engine, the rollout is over); the figures.
async fn measure(
    env: &Env,
    password: &redis_stretch_admin::Secret,
    image: &str,
    annotations: &[(&str, &str)],
) -> Figures {
    let by_engine = annotations.is_empty();
    let (workload, cfg) = start_writers(env, NS, NAME, password).await.unwrap();
    let watch = PodWatch::start(env.client.clone(), NS, NAME, password.clone(), pod_names());
    tokio::time::sleep(Duration::from_secs(1)).await;
    let old = update_revisions(env, NS).await.unwrap();
    let t0 = Instant::now();
    workload.mark_fault(&format!("image changed to {image}"));
    env.apply(&seed_with(image, annotations).unwrap())
        .await
        .unwrap();
    if by_engine {
        let (_, msg) = env
            .wait_condition(NS, NAME, "Rolling", "True", Duration::from_secs(30))
            .await
            .unwrap();
        eprintln!("Rolling: {msg}");
        rollout_done(env, &old, Duration::from_secs(150)).await;
    } else {
        all_at_update_revision(env, NS, NAME, 6, &old, Duration::from_secs(120))
            .await
            .unwrap();
    }
    let total_s = t0.elapsed().as_secs_f64();
    // Every slot writable again (at once after the engine's rollout; after RollingUpdate, as
    // far as anything can still repair a shard whose both copies restarted empty).
    let writable = workload
        .wait_all_writable(Instant::now(), Duration::from_secs(15))
        .await;
    let served = slots_served(env).await;
    let note = match writable {
        Some(_) if by_engine => "every slot writable throughout".to_owned(),
        Some(_) => "every slot writable again after the last pod".to_owned(),
        None => format!("{served} of 16384 slots served by a master 15 s after the last pod"),
    };
    let watched = watch.stop().await.unwrap();
    let (rec, report) = stop_writers(env, NS, NAME, workload, cfg).await.unwrap();
    Figures {
        how: if by_engine {
            "engine (OnDelete, one instance at a time)".into()
        } else {
            "StatefulSet RollingUpdate (before issue 17)".into()
        },
        total_s,
        gaps: longest_gaps(&rec),
        acked: acked(&rec),
        slots_served: served,
        report,
        watch: watched,
        note,
    }
}

/// Delete the cluster and wait until it and its pods are gone.
async fn delete_cluster(env: &Env) {
    redis_stretch_e2e::api::clusters(&env.client, NS)
        .delete(NAME, &Default::default())
        .await
        .unwrap();
    until(
        "the cluster and its pods to be gone",
        Duration::from_secs(120),
        Duration::from_millis(250),
        || async move {
            let pods = redis_stretch_e2e::api::cluster_pods(&env.client, NS, NAME).await?;
            let cr = redis_stretch_e2e::api::clusters(&env.client, NS)
                .get_opt(NAME)
                .await
                .map_err(Error::kube("reading the cluster"))?;
            Ok(if pods.is_empty() && cr.is_none() {
                Step::Done(())
            } else {
                Step::Pending(format!(
                    "{} pods, cluster present: {}",
                    pods.len(),
                    cr.is_some()
                ))
            })
        },
    )
    .await
    .unwrap();
}

async fn holder(env: &Env) -> Option<String> {
    Api::<Lease>::namespaced(env.client.clone(), "redis-stretch")
        .get("redis-stretch-operator")
        .await
        .ok()?
        .spec?
        .holder_identity
}

/// Instances the rollout in `status.engineMemory` has done.
async fn done_in_status(env: &Env) -> Result<Vec<String>, Error> {
    let obj = env.cluster(NS, NAME).await?;
    let memory: serde_json::Value = obj
        .data
        .pointer("/status/engineMemory")
        .and_then(|m| m.as_str())
        .and_then(|m| serde_json::from_str(m).ok())
        .unwrap_or_default();
    Ok(memory
        .pointer("/rollout/done")
        .and_then(|d| d.as_array())
        .map(|d| {
            d.iter()
                .filter_map(|x| x.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_new_lease_holder_finishes_a_rollout_the_old_one_started() {
    init_tracing();
    let Some(mut env) = Env::start("rollout-lease", NS).await.unwrap() else {
        return;
    };
    env.start_kubelet().await.unwrap();
    let mut first = env.operator_replica("op-1").unwrap();
    env.seed_ready().await.unwrap();
    assert_eq!(holder(&env).await.as_deref(), Some("op-1"));
    let _second = env.operator_replica("op-2").unwrap();
    let password = env.password(NS, NAME).await.unwrap();
    let before = masters(&env).await;
    let (workload, cfg) = start_writers(&env, NS, NAME, &password).await.unwrap();
    let watch = PodWatch::start(env.client.clone(), NS, NAME, password.clone(), pod_names());
    tokio::time::sleep(Duration::from_secs(1)).await;
    let old = update_revisions(&env, NS).await.unwrap();
    let t0 = Instant::now();
    workload.mark_fault("image changed; op-1 killed once 2 instances are done");
    env.apply(&seed_with("redis:7.4.1", &[]).unwrap())
        .await
        .unwrap();
    let env_ref = &env;
    let done = until(
        "op-1 to have restarted 2 instances (status.engineMemory)",
        Duration::from_secs(120),
        Duration::from_millis(100),
        || async move {
            let done = done_in_status(env_ref).await?;
            Ok(if done.len() >= 2 {
                Step::Done(done)
            } else {
                Step::Pending(format!("done: {done:?}"))
            })
        },
    )
    .await
    .unwrap();
    // The leader stops at once (SIGKILL): what it did since its last status write is lost
    // with it, and the successor must work it out from Redis and the pods.
    first.kill();
    eprintln!(
        "op-1 killed {:.1}s into the rollout, done: {done:?}",
        t0.elapsed().as_secs_f64()
    );
    until(
        "op-2 to take the Lease",
        Duration::from_secs(30),
        Duration::from_millis(200),
        || async move {
            let h = holder(env_ref).await.unwrap_or_default();
            Ok(if h == "op-2" {
                Step::Done(())
            } else {
                Step::Pending(h)
            })
        },
    )
    .await
    .unwrap();
    rollout_done(&env, &old, Duration::from_secs(150)).await;
    let total_s = t0.elapsed().as_secs_f64();
    eprintln!("rollout finished by op-2, {total_s:.1}s after the image change");
    let writable = workload
        .wait_all_writable(Instant::now(), Duration::from_secs(15))
        .await;
    let watched = watch.stop().await.unwrap();
    let (rec, report) = stop_writers(&env, NS, NAME, workload, cfg).await.unwrap();
    let row = Figures {
        how: "engine, its operator killed after 2 instances (the new Lease holder finishes)".into(),
        total_s,
        gaps: longest_gaps(&rec),
        acked: acked(&rec),
        slots_served: slots_served(&env).await,
        report,
        watch: watched,
        note: if writable.is_some() {
            "every slot writable throughout".into()
        } else {
            "some slots refused writes at the end".into()
        },
    };
    write_table("rollout-lease-e2e.md", &table(std::slice::from_ref(&row)));
    let watched = row.watch;
    let report = row.report.as_ref().unwrap();
    assert_eq!(report.acked_writes_lost, 0, "{report}");
    for (shard, gap) in &row.gaps {
        assert!(*gap <= 2.0, "{shard} refused writes for {gap:.2} s");
    }
    let restarts = restart_events(&events(&env).await);
    eprintln!("Restart Events: {restarts:#?}");
    assert_eq!(
        watched.both_down_samples, 0,
        "both members of a shard down: {:?}",
        watched.both_down
    );
    for (pod, n) in &watched.incarnations {
        assert_eq!(
            *n, 2,
            "{pod}: {n} incarnations (restarted twice across the hand-over?)"
        );
    }
    assert!(
        restarts.iter().any(|(who, _)| who == "op-2"),
        "op-2 restarted nothing: {restarts:?}"
    );
    assert_eq!(masters(&env).await, before);
}
