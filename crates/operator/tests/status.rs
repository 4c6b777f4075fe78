#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! The status builder, case by case: what a human reads in `kubectl get rsc` and
//! `kubectl describe` for a healthy cluster, a lost zone (Automatic and Manual), and a return
//! that has not failed back yet.

use std::collections::BTreeMap;

use redis_stretch_admin::NodeAddr;
use redis_stretch_api::{load_manifest, RedisStretchClusterStatus, ValidatedCluster};
use redis_stretch_engine::{EngineStatus, NodeState, Snapshot};
use redis_stretch_engine::{Waiting, ZoneState, ZoneStates};
use redis_stretch_operator::engines::EngineReport;
use redis_stretch_operator::platform::{NodeHealth, PodPlacement};
use redis_stretch_operator::reconcile::status::{build, Inputs};
use redis_stretch_topology::{Role, SlotRange};

fn cluster(policy: &str) -> ValidatedCluster {
    load_manifest(&format!(
        "apiVersion: redis-stretch.io/v1alpha1
kind: RedisStretchCluster
metadata: {{name: seed, namespace: redis}}
spec:
  shards: 3
  zones: [{{name: dc-a, preferredMasters: 2}}, {{name: dc-b, preferredMasters: 1}}]
  failover: {{policy: {policy}}}
"
    ))
    .unwrap()
}

fn node(
    pod: &str,
    zone: &str,
    ip: &str,
    role: Role,
    master: Option<&str>,
    slots: Option<(u16, u16)>,
) -> NodeState {
    NodeState {
        id: Some(format!("id-{pod}")),
        reachable: true,
        role: Some(role),
        master_id: master.map(|m| format!("id-{m}")),
        slots: slots
            .map(|(a, b)| vec![SlotRange { start: a, end: b }])
            .unwrap_or_default(),
        link_up: (role == Role::Replica).then_some(true),
        ..NodeState::silent(Some(pod.into()), zone, Some(NodeAddr::new(ip, 6379)))
    }
}

/// The seed layout on pods: leaders 0,1 in dc-a and 2 in dc-b; followers replicate across.
fn seed() -> Snapshot {
    Snapshot {
        zones: vec!["dc-a".into(), "dc-b".into()],
        nodes: vec![
            node(
                "seed-leader-0",
                "dc-a",
                "10.0.1.1",
                Role::Master,
                None,
                Some((0, 5460)),
            ),
            node(
                "seed-leader-1",
                "dc-a",
                "10.0.1.2",
                Role::Master,
                None,
                Some((5461, 10921)),
            ),
            node(
                "seed-follower-2",
                "dc-a",
                "10.0.1.3",
                Role::Replica,
                Some("seed-leader-2"),
                None,
            ),
            node(
                "seed-leader-2",
                "dc-b",
                "10.0.2.1",
                Role::Master,
                None,
                Some((10922, 16383)),
            ),
            node(
                "seed-follower-0",
                "dc-b",
                "10.0.2.2",
                Role::Replica,
                Some("seed-leader-0"),
                None,
            ),
            node(
                "seed-follower-1",
                "dc-b",
                "10.0.2.3",
                Role::Replica,
                Some("seed-leader-1"),
                None,
            ),
        ],
    }
}

fn report(
    snapshot: Snapshot,
    zones: [ZoneState; 2],
    waiting: Waiting,
    notes: &[&str],
) -> EngineReport {
    EngineReport {
        formed: true,
        forming: None,
        snapshot: Some(snapshot),
        zones: ZoneStates::of([("dc-a".into(), zones[0]), ("dc-b".into(), zones[1])]),
        memory: None,
        status: Some(EngineStatus {
            pid: 1,
            heartbeat_ms: 0,
            zones: ZoneStates::default(),
            verdicts: vec![],
            waiting_for: Some(waiting),
            notes: notes.iter().map(|s| s.to_string()).collect(),
            partition: None,
            rollout: None,
            migration: None,
            last_actions: vec![],
        }),
    }
}

fn status_of(c: &ValidatedCluster, r: &EngineReport) -> RedisStretchClusterStatus {
    let placement = PodPlacement {
        nodes: BTreeMap::from([("seed-leader-0".to_owned(), "k8s-node-01".to_owned())]),
        ..Default::default()
    };
    let nodes = BTreeMap::from([
        ("dc-a".to_owned(), NodeHealth { ready: 3, total: 3 }),
        ("dc-b".to_owned(), NodeHealth { ready: 3, total: 3 }),
    ]);
    build(&Inputs {
        cluster: c,
        generation: Some(1),
        previous: None,
        report: Some(r),
        placement: &placement,
        nodes: &nodes,
        now: "2026-11-25T00:00:00Z".into(),
        apply_error: None,
    })
}

fn cond<'a>(s: &'a RedisStretchClusterStatus, t: &str) -> (&'a str, &'a str, &'a str) {
    let c = s.conditions.iter().find(|c| c.type_ == t).unwrap();
    (c.status.as_str(), c.reason.as_str(), c.message.as_str())
}

const OK: ZoneState = ZoneState::Healthy;
const DARK: ZoneState = ZoneState::Dark { silent_ms: 900 };

#[test]
fn healthy_seed_cluster() {
    let c = cluster("Automatic");
    let s = status_of(&c, &report(seed(), [OK, OK], Waiting::AsPreferred, &[]));
    assert_eq!(s.ready.as_deref(), Some("3/3"));
    assert_eq!(s.zones_up.as_deref(), Some("2/2"));
    assert_eq!(
        s.verdict.as_deref(),
        Some("loss of dc-b: automatic; loss of dc-a: needs takeover")
    );
    assert_eq!(cond(&s, "Ready").0, "True");
    assert_eq!(cond(&s, "Degraded").0, "False");
    assert_eq!(cond(&s, "ZoneLost").0, "False");
    assert_eq!(cond(&s, "TakeoverInProgress").0, "False");
    assert_eq!(cond(&s, "FailbackPending").0, "False");
    assert_eq!(s.zones[0].masters, 2);
    assert_eq!(s.zones[0].nodes_ready, 3);
    let shard = &s.shards[0];
    assert_eq!(shard.slots, "0-5460");
    let m = shard.master.as_ref().unwrap();
    assert_eq!(
        (m.pod.as_str(), m.node.as_str(), m.zone.as_str()),
        ("seed-leader-0", "k8s-node-01", "dc-a")
    );
    assert_eq!(shard.replicas[0].pod, "seed-follower-0");
    assert_eq!(shard.replicas[0].zone, "dc-b");
}

fn dc_a_dark(s: &mut Snapshot) {
    for n in s.nodes.iter_mut().filter(|n| n.zone == "dc-a") {
        n.reachable = false;
    }
    for n in s
        .nodes
        .iter_mut()
        .filter(|n| n.zone == "dc-b" && n.role == Some(Role::Replica))
    {
        n.link_up = Some(false);
    }
}

#[test]
fn majority_zone_dark_automatic() {
    let c = cluster("Automatic");
    let mut snap = seed();
    dc_a_dark(&mut snap);
    let s = status_of(
        &c,
        &report(
            snap,
            [DARK, OK],
            Waiting::ZoneReturn {
                lost: "dc-a".into(),
                survivor: "dc-b".into(),
            },
            &[],
        ),
    );
    assert_eq!(s.zones_up.as_deref(), Some("1/2"));
    assert_eq!(cond(&s, "ZoneLost").0, "True");
    assert!(cond(&s, "ZoneLost").2.contains("dc-a"));
    assert_eq!(cond(&s, "TakeoverInProgress").1, "TakingOver");
    let (st, reason, msg) = cond(&s, "Ready");
    assert_eq!((st, reason), ("False", "SlotsUnserved"));
    assert!(msg.contains("5462 of 16384"), "{msg}");
    assert_eq!(cond(&s, "Degraded").1, "InstancesDown");
}

#[test]
fn majority_zone_dark_manual_says_what_to_run() {
    let c = cluster("Manual");
    let mut snap = seed();
    dc_a_dark(&mut snap);
    let s = status_of(
        &c,
        &report(
            snap,
            [DARK, OK],
            Waiting::Human {
                command: "redis-stretch takeover --zone dc-b".into(),
                reason: "policy Manual".into(),
            },
            &["run `redis-stretch takeover --zone dc-b`"],
        ),
    );
    let (st, reason, msg) = cond(&s, "TakeoverInProgress");
    assert_eq!((st, reason), ("True", "WaitingForHuman"));
    assert!(msg.contains("redis-stretch takeover --zone dc-b"), "{msg}");
}

#[test]
fn returned_zone_waits_for_failback() {
    let c = cluster("Automatic");
    let mut snap = seed();
    // After a takeover: follower-0 and follower-1 (dc-b) are masters, leader-0/1 their replicas.
    for (r, m, slots) in [
        ("seed-follower-0", "seed-leader-0", (0, 5460)),
        ("seed-follower-1", "seed-leader-1", (5461, 10921)),
    ] {
        let rn = snap
            .nodes
            .iter_mut()
            .find(|n| n.name.as_deref() == Some(r))
            .unwrap();
        rn.role = Some(Role::Master);
        rn.master_id = None;
        rn.link_up = None;
        rn.slots = vec![SlotRange {
            start: slots.0,
            end: slots.1,
        }];
        let mn = snap
            .nodes
            .iter_mut()
            .find(|n| n.name.as_deref() == Some(m))
            .unwrap();
        mn.role = Some(Role::Replica);
        mn.master_id = Some(format!("id-{r}"));
        mn.slots.clear();
        mn.link_up = Some(true);
    }
    let s = status_of(
        &c,
        &report(
            snap,
            [OK, OK],
            Waiting::HoldDown {
                zone: "dc-a".into(),
                until_ms: 4_000,
                left_ms: 4_000,
            },
            &[],
        ),
    );
    let (st, _, msg) = cond(&s, "FailbackPending");
    assert_eq!(st, "True");
    assert!(msg.contains("dc-a holds 0 of 2 preferred masters"), "{msg}");
    assert!(msg.contains("hold-down"), "{msg}");
    assert_eq!(cond(&s, "Ready").0, "True");
    assert_eq!(
        s.verdict.as_deref(),
        Some("loss of dc-a: automatic; loss of dc-b: needs takeover")
    );
}

#[test]
fn a_partition_names_the_side_chosen() {
    let c = cluster("Automatic");
    let mut r = report(
        seed(),
        [ZoneState::Healthy, ZoneState::Healthy],
        Waiting::Partition {
            chosen: "dc-a".into(),
            fenced: "dc-b".into(),
            rule: redis_stretch_engine::SideRule::MajorityOfMasters,
        },
        &[],
    );
    let healthy = status_of(&c, &r);
    assert_eq!(
        cond(&healthy, "Partitioned").0,
        "True",
        "the engine waits on a cut"
    );
    if let Some(s) = r.status.as_mut() {
        s.partition = Some(redis_stretch_engine::Partition {
            chosen: "dc-a".into(),
            fenced: "dc-b".into(),
            rule: redis_stretch_engine::SideRule::MajorityOfMasters,
            since_ms: 1,
        });
    }
    let s = status_of(&c, &r);
    let (status, reason, message) = cond(&s, "Partitioned");
    assert_eq!((status, reason), ("True", "SideChosen"));
    assert!(
        message.contains("dc-a serves every slot") && message.contains("dc-b is fenced"),
        "{message}"
    );
    let ok = report(
        seed(),
        [ZoneState::Healthy, ZoneState::Healthy],
        Waiting::AsPreferred,
        &[],
    );
    assert_eq!(cond(&status_of(&c, &ok), "Partitioned").0, "False");
}

/// A rollout under way: `Rolling` says how far it is, which instance it waits on and why; once
/// every instance is current it is False, `Current`.
#[test]
fn a_rollout_shows_progress_in_the_rolling_condition() {
    let c = cluster("Automatic");
    let s = status_of(&c, &report(seed(), [OK, OK], Waiting::AsPreferred, &[]));
    assert_eq!(cond(&s, "Rolling").0, "False");
    assert_eq!(cond(&s, "Rolling").1, "Current");

    let mut snap = seed();
    for n in snap.nodes.iter_mut() {
        n.restart_for = Some("pod template changed: revision a → b".into());
    }
    let waiting = Waiting::Rolling {
        done: 2,
        total: 6,
        instance: Some("seed-follower-1".into()),
        why: "back at the new revision, syncing with its master".into(),
    };
    let s = status_of(&c, &report(snap.clone(), [OK, OK], waiting, &[]));
    assert_eq!(
        cond(&s, "Rolling"),
        (
            "True",
            "Rolling",
            "2 of 6 restarted, current instance seed-follower-1, waiting for: back at the new \
             revision, syncing with its master"
        )
    );

    // A zone lost mid-rollout: the takeover comes first, and the condition says the rollout
    // is paused for it. Progress comes from the engine's memory.
    for n in snap.nodes.iter_mut() {
        if n.name.as_deref() == Some("seed-follower-0") {
            n.restart_for = None;
        }
    }
    let mut r = report(
        snap,
        [DARK, OK],
        Waiting::Confirming {
            zone: "dc-a".into(),
            silent_ms: 900,
        },
        &[],
    );
    if let Some(st) = r.status.as_mut() {
        st.rollout = Some(redis_stretch_engine::decide::Rollout {
            started_ms: 1,
            done: vec!["seed-follower-0".into()],
            restarting: None,
        });
    }
    let s = status_of(&c, &r);
    let (status, reason, message) = cond(&s, "Rolling");
    assert_eq!((status, reason), ("True", "Rolling"));
    assert!(
        message.starts_with("1 of 6 restarted, waiting for: paused: "),
        "{message}"
    );
}

fn cluster_of(shards: u32, a: u32, b: u32) -> ValidatedCluster {
    load_manifest(&format!(
        "apiVersion: redis-stretch.io/v1alpha1
kind: RedisStretchCluster
metadata: {{name: seed, namespace: redis}}
spec:
  shards: {shards}
  zones: [{{name: dc-a, preferredMasters: {a}}}, {{name: dc-b, preferredMasters: {b}}}]
"
    ))
    .unwrap()
}

/// A scale under way: `Scaling` says how far it is (shards now and wanted, slots left, the
/// batch moving); paused behind a zone's trouble it says so; at the spec's count it is False.
/// `Ready` counts the shards the cluster has now, not the spec's.
#[test]
fn a_scale_shows_progress_in_the_scaling_condition() {
    let three = cluster("Automatic");
    let s = status_of(&three, &report(seed(), [OK, OK], Waiting::AsPreferred, &[]));
    assert_eq!(
        cond(&s, "Scaling"),
        ("False", "AtShardCount", "3 shards, as the spec asks")
    );

    let six = cluster_of(6, 4, 2);
    let moving = Waiting::Scaling {
        shards: 4,
        target: 6,
        slots_left: 4096,
        why: "moving slots 5461-5524 from seed-leader-1 to seed-leader-3".into(),
    };
    let s = status_of(&six, &report(seed(), [OK, OK], moving, &[]));
    assert_eq!(
        cond(&s, "Scaling"),
        (
            "True",
            "Scaling",
            "to 6 shards (4 masters now): 4,096 slots left to move: moving slots 5461-5524 from seed-leader-1 to seed-leader-3"
        )
    );
    assert_eq!(
        cond(&s, "Ready"),
        (
            "True",
            "FailoverReady",
            "every slot served and every replica's link up"
        )
    );

    // A zone lost mid-migration: the takeover comes first; the plan from the engine's memory.
    let mut r = report(
        seed(),
        [DARK, OK],
        Waiting::Confirming {
            zone: "dc-a".into(),
            silent_ms: 900,
        },
        &[],
    );
    if let Some(st) = r.status.as_mut() {
        st.migration = Some(redis_stretch_engine::decide::Migration {
            started_ms: 1,
            shards: 6,
            moves: vec![redis_stretch_engine::decide::SlotMove {
                to: "id-seed-leader-3".into(),
                slots: vec![SlotRange {
                    start: 0,
                    end: 2729,
                }],
            }],
            in_flight: vec![],
        });
    }
    let paused = status_of(&six, &r);
    let (status, reason, message) = cond(&paused, "Scaling");
    assert_eq!((status, reason), ("True", "Scaling"));
    assert!(
        message.starts_with(
            "to 6 shards (3 masters now), 2,730 slots in the migration's plan, waiting for: paused: "
        ),
        "{message}"
    );

    // Back to three: the instances the platform marks leaving are named until they are gone.
    let mut snap = seed();
    snap.nodes[5].leaving = true;
    let leaving = status_of(&three, &report(snap, [OK, OK], Waiting::AsPreferred, &[]));
    let (status, _, message) = cond(&leaving, "Scaling");
    assert_eq!(status, "True");
    assert!(message.contains("leaving: seed-follower-1"), "{message}");
}

/// `ConfigApplied` names the live settings that differ and where, until every instance holds
/// the spec's; then which ones it holds, applied without a restart.
#[test]
fn live_settings_show_where_they_differ_until_every_instance_holds_them() {
    let c = load_manifest(
        "apiVersion: redis-stretch.io/v1alpha1
kind: RedisStretchCluster
metadata: {name: seed, namespace: redis}
spec:
  shards: 3
  zones: [{name: dc-a, preferredMasters: 2}, {name: dc-b, preferredMasters: 1}]
  redis: {maxmemory: 128mb}
",
    )
    .unwrap();
    let mut snap = seed();
    for (k, n) in snap.nodes.iter_mut().enumerate() {
        let v = if k < 2 { "268435456" } else { "134217728" };
        n.live_config.insert("maxmemory".into(), v.into());
    }
    let s = status_of(
        &c,
        &report(snap.clone(), [OK, OK], Waiting::AsPreferred, &[]),
    );
    let (status, reason, message) = cond(&s, "ConfigApplied");
    assert_eq!((status, reason), ("False", "Applying"));
    assert_eq!(
        message,
        "the engine sets with CONFIG SET, without a restart: maxmemory 128mb (seed-leader-0 has 268435456, seed-leader-1 has 268435456)"
    );

    for n in &mut snap.nodes {
        n.live_config.insert("maxmemory".into(), "134217728".into());
    }
    let s = status_of(&c, &report(snap, [OK, OK], Waiting::AsPreferred, &[]));
    assert_eq!(
        cond(&s, "ConfigApplied"),
        (
            "True",
            "Live",
            "every answering instance (6) holds the spec's live settings, set with CONFIG SET without a restart: maxmemory"
        )
    );
}

/// The `Server` printer column: what the reachable instances report; both servers, comma-
/// separated, while a rollout changes them; and the last known one while none answers.
#[test]
fn the_server_column_shows_what_the_instances_report() {
    use redis_stretch_api::ServerFlavour;
    let c = cluster("Automatic");
    let mut snap = seed();
    for n in &mut snap.nodes {
        n.server = Some(ServerFlavour::Redis);
        n.version = Some("7.2.4".into());
    }
    let s = status_of(
        &c,
        &report(snap.clone(), [OK, OK], Waiting::AsPreferred, &[]),
    );
    assert_eq!(s.server.as_deref(), Some("Redis 7.2.4"));
    // Mid-rollout to Valkey: one instance restarted as Valkey 8.1.
    snap.nodes[3].server = Some(ServerFlavour::Valkey);
    snap.nodes[3].version = Some("8.1.8".into());
    let s = status_of(
        &c,
        &report(snap.clone(), [OK, OK], Waiting::AsPreferred, &[]),
    );
    assert_eq!(s.server.as_deref(), Some("Redis 7.2.4, Valkey 8.1.8"));
    // The one that reports Valkey goes silent: only what answers counts.
    snap.nodes[3].reachable = false;
    let s = status_of(&c, &report(snap, [OK, OK], Waiting::AsPreferred, &[]));
    assert_eq!(s.server.as_deref(), Some("Redis 7.2.4"));
}
