#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! Table tests for `decide`, one per failure case of docs/OPERATIONS.md. The model check —
//! the engine's loop applying decide's own actions to a model of Redis Cluster until decide
//! asks for nothing, through generated layouts and faults — is `tests/model.rs`.

use std::time::Duration;

use redis_stretch_api::{Detection, FailbackPolicy, FailoverPolicy};
use redis_stretch_decide::{
    decide, Action, ActionKind, AuthSeen, Decision, HoldDown, Input, Intent, NodeState, Partition,
    PartitionChange, PasswordRef, Policy, Restarting, Rollout, Seen, SideRule, Snapshot, Waiting,
    ZoneState, ZoneStates, FENCE_SHUT,
};
use redis_stretch_model::{NodeAddr, Role, ServerFlavour, SlotRange};

/// The snapshot's time in every case.
const NOW_MS: u64 = 1_700_000_000_000;

fn id(name: &str) -> String {
    format!(
        "{:0>40}",
        name.bytes().map(|b| format!("{b:02x}")).collect::<String>()
    )
}

fn node(
    name: &str,
    zone: &str,
    port: u16,
    role: Role,
    master: Option<&str>,
    slots: Option<(u16, u16)>,
    epoch: u64,
) -> NodeState {
    NodeState {
        name: Some(name.into()),
        zone: zone.into(),
        addr: Some(NodeAddr::new(
            if zone == "dc-a" {
                "127.0.1.1"
            } else {
                "127.0.2.1"
            },
            port,
        )),
        id: Some(id(name)),
        reachable: true,
        failed_probes: 0,
        error: None,
        refuses: false,
        role: Some(role),
        master_id: master.map(id),
        slots: slots
            .map(|(a, b)| vec![SlotRange { start: a, end: b }])
            .unwrap_or_default(),
        config_epoch: epoch,
        link_up: (role == Role::Replica).then_some(true),
        link_down_s: None,
        syncing: false,
        no_failover: Some(false),
        restart_for: None,
        leaving: false,
        open_slots: Vec::new(),
        auth: None,
        repl_offset: Some(1000),
        cluster_state: Some(redis_stretch_model::ClusterState::Ok),
        slots_assigned: Some(16384),
        fence: Some(1),
        fence_max_lag_s: Some(2),
        node_timeout_ms: None,
        replica_lags_s: vec![],
        server: Some(ServerFlavour::Redis),
        version: Some("7.0.15".into()),
        availability_zone: None,
        live_config: Default::default(),
        current_epoch: Some(6),
        clock_ms: None,
        flagged_fail_by: 0,
        flagged_pfail_by: 0,
        sees: vec![],
    }
}

/// The seed layout: M1, M2 and R3 in dc-a; M3, R1, R2 in dc-b; fenced, fully meshed.
fn seed() -> Snapshot {
    let nodes = vec![
        node("m1", "dc-a", 7000, Role::Master, None, Some((0, 5460)), 1),
        node(
            "m2",
            "dc-a",
            7001,
            Role::Master,
            None,
            Some((5461, 10921)),
            2,
        ),
        node("r3", "dc-a", 7002, Role::Replica, Some("m3"), None, 4),
        node(
            "m3",
            "dc-b",
            7003,
            Role::Master,
            None,
            Some((10922, 16383)),
            3,
        ),
        node("r1", "dc-b", 7004, Role::Replica, Some("m1"), None, 5),
        node("r2", "dc-b", 7005, Role::Replica, Some("m2"), None, 6),
    ];
    let mut s = Snapshot {
        zones: vec!["dc-a".into(), "dc-b".into()],
        nodes,
    };
    mesh(&mut s);
    s
}

/// Every reachable node sees every other at its address.
fn mesh(s: &mut Snapshot) {
    let all: Vec<Seen> = s
        .nodes
        .iter()
        .filter(|n| n.name.is_some())
        .map(|n| Seen {
            id: n.id.clone().unwrap(),
            addr: n.addr.clone(),
            handshake: false,
            fail: !n.reachable,
            role: n.role,
            master_id: n.master_id.clone(),
            config_epoch: n.config_epoch,
            // Silent nodes last answered their peers a second ago, when their zone went.
            pong_recv_ms: if n.reachable { NOW_MS } else { NOW_MS - 1000 },
            ping_sent_ms: if n.reachable { 0 } else { NOW_MS - 900 },
        })
        .collect();
    // Masters see each replica whose link is up acknowledging now.
    let acks: Vec<(String, usize)> = s
        .nodes
        .iter()
        .filter(|n| n.role == Some(Role::Master))
        .map(|m| {
            let id = m.id.clone().unwrap();
            let up = s
                .nodes
                .iter()
                .filter(|r| r.reachable && r.link_up == Some(true))
                .filter(|r| r.master_id.as_deref() == Some(id.as_str()))
                .count();
            (id, up)
        })
        .collect();
    for n in &mut s.nodes {
        if let Some((_, up)) = acks.iter().find(|(id, _)| n.id.as_ref() == Some(id)) {
            n.replica_lags_s = vec![0; *up];
        }
        n.sees = if n.reachable {
            all.iter()
                .filter(|x| Some(&x.id) != n.id.as_ref())
                .cloned()
                .collect()
        } else {
            vec![]
        };
    }
}

fn get<'a>(s: &'a mut Snapshot, name: &str) -> &'a mut NodeState {
    s.nodes
        .iter_mut()
        .find(|n| n.name.as_deref() == Some(name))
        .unwrap()
}

fn go_dark(s: &mut Snapshot, zone: &str) {
    for n in s.nodes.iter_mut().filter(|n| n.zone == zone) {
        n.reachable = false;
        n.failed_probes = 2;
        n.cluster_state = None;
        n.link_up = None;
        n.fence = None;
    }
    for n in s
        .nodes
        .iter_mut()
        .filter(|n| n.zone != zone && n.role == Some(Role::Replica))
    {
        // Replicas whose master went dark lose their link.
        if n.master_id.as_deref().is_some_and(|m| {
            ["m1", "m2", "m3", "r1", "r2", "r3"]
                .iter()
                .any(|x| id(x) == m && (x.starts_with('m') && zone_of(x) == zone))
        }) {
            n.link_up = Some(false);
            n.link_down_s = Some(1);
        }
    }
    mesh(s);
}

fn zone_of(name: &str) -> &'static str {
    match name {
        "m1" | "m2" | "r3" => "dc-a",
        _ => "dc-b",
    }
}

fn policy(failover: FailoverPolicy) -> Policy {
    Policy {
        failover,
        failback: FailbackPolicy::Automatic,
        fencing: true,
        fence_min_replicas: 1,
        fence_max_lag_s: 2,
        preferred: vec![("dc-a".into(), 2), ("dc-b".into(), 1)],
        detection: Detection::Safe,
        node_timeout_ms: 2000,
        preferred_side: None,
        server: redis_stretch_api::ServerFlavour::Redis,
        live_config: Vec::new(),
        shards: 3,
    }
}

fn zones(a: ZoneState, b: ZoneState) -> ZoneStates {
    ZoneStates::of([("dc-a".into(), a), ("dc-b".into(), b)])
}

const OK: ZoneState = ZoneState::Healthy;
const DARK: ZoneState = ZoneState::Dark { silent_ms: 800 };

/// What `decide` gets in the engine loop with no memory and no history: each case overrides
/// what it is about.
fn input<'a>(s: &'a Snapshot, z: &'a ZoneStates, p: &'a Policy) -> Input<'a> {
    Input {
        snapshot: s,
        zones: z,
        policy: p,
        intent: Intent::Auto,
        held_zone: None,
        hold_down: None,
        bumped: &[],
        failovers_pending: &[],
        silent: &[],
        now_ms: NOW_MS,
        partition: None,
        promoted: &[],
        stale: &[],
        healthy_for_ms: u64::MAX,
        rollout: None,
        migration: None,
    }
}

fn run(s: &Snapshot, z: &ZoneStates, p: &Policy, intent: Intent) -> Decision {
    decide(&Input {
        intent,
        ..input(s, z, p)
    })
}

/// `kind@port` for every action, step by step.
fn summary(d: &Decision) -> Vec<Vec<String>> {
    d.steps
        .iter()
        .map(|step| {
            step.iter()
                .map(|a| format!("{}@{}", a.kind(), a.node.port))
                .collect()
        })
        .collect()
}

#[test]
fn healthy_seed_cluster_needs_nothing() {
    let d = run(
        &seed(),
        &zones(OK, OK),
        &policy(FailoverPolicy::Automatic),
        Intent::Auto,
    );
    assert!(d.is_empty(), "{d:?}");
    assert_eq!(d.waiting_for, Some(Waiting::AsPreferred));
    assert!(d.is_settled());
}

#[test]
fn minority_dc_lost_forces_the_orphan_over_and_unfences_survivors() {
    let mut s = seed();
    go_dark(&mut s, "dc-b");
    let d = run(
        &s,
        &zones(OK, DARK),
        &policy(FailoverPolicy::Automatic),
        Intent::Auto,
    );
    assert_eq!(
        summary(&d),
        vec![
            vec!["unfence@7000", "unfence@7001", "unfence@7002"],
            vec!["force-failover@7002"],
        ]
    );
    assert!(!d.actions().any(|a| a.kind() == "takeover"));
}

#[test]
fn majority_dc_lost_takes_over_every_orphan_then_bumps_the_kept_master() {
    let mut s = seed();
    go_dark(&mut s, "dc-a");
    let p = policy(FailoverPolicy::Automatic);
    let d = run(&s, &zones(DARK, OK), &p, Intent::Auto);
    assert_eq!(
        summary(&d),
        vec![
            vec!["unfence@7003", "unfence@7004", "unfence@7005"],
            vec!["takeover@7004", "takeover@7005"],
        ]
    );
    // Next pass: both promoted (epochs 7 and 8, gossiped to M3): M3 is bumped above them.
    promote(&mut s, "r1", "m1", (0, 5460), 7);
    promote(&mut s, "r2", "m2", (5461, 10921), 8);
    get(&mut s, "m3").fence = Some(0);
    get(&mut s, "m3").current_epoch = Some(8);
    let d = run(&s, &zones(DARK, OK), &p, Intent::Auto);
    assert_eq!(summary(&d), vec![vec!["bump-epoch@7003"]]);
    // A master that has not heard the takeovers' epochs yet would collide: not yet.
    get(&mut s, "m3").current_epoch = Some(6);
    assert!(run(&s, &zones(DARK, OK), &p, Intent::Auto).is_empty());
}

/// Two masters of dc-a die while R3, also in dc-a, lives: the zone is not dark, but the
/// survivors are below quorum and Redis stays down just the same.
fn two_masters_dead() -> Snapshot {
    let mut s = seed();
    for name in ["m1", "m2"] {
        let n = get(&mut s, name);
        n.reachable = false;
        n.cluster_state = None;
        n.fence = None;
        // R3 and M3 no longer hear them either (after node-timeout).
        n.flagged_pfail_by = 2;
    }
    for name in ["r1", "r2"] {
        let n = get(&mut s, name);
        n.link_up = Some(false);
        n.link_down_s = Some(1);
    }
    mesh(&mut s);
    s
}

fn run_silent(s: &Snapshot, p: &Policy, silent: &[String]) -> Decision {
    decide(&Input {
        silent,
        ..input(s, &zones(OK, OK), p)
    })
}

#[test]
fn majority_of_masters_lost_without_their_zone_is_taken_over() {
    let s = two_masters_dead();
    let p = policy(FailoverPolicy::Automatic);
    // Not yet confirmed silent: nothing but waiting (the usual repair would try to pair).
    let unconfirmed = run_silent(&s, &p, &[]);
    assert!(
        !unconfirmed.actions().any(|a| a.kind() == "takeover"),
        "{unconfirmed:?}"
    );
    let d = run_silent(&s, &p, &["m1".into(), "m2".into()]);
    assert_eq!(
        summary(&d),
        vec![
            vec!["unfence@7004", "unfence@7005"],
            vec!["takeover@7004", "takeover@7005"],
        ],
        "M3 keeps its fence: its replica R3 is alive across the boundary"
    );
    // Silent to the engine but not flagged by any peer: maybe the engine's own path to them.
    let mut unflagged = s.clone();
    get(&mut unflagged, "m2").flagged_pfail_by = 0;
    let d = run_silent(&unflagged, &p, &["m1".into(), "m2".into()]);
    assert!(d.is_empty(), "{d:?}");
    assert!(matches!(
        d.waiting_for,
        Some(Waiting::ConfirmingLost { quorum: 2, .. })
    ));

    let mut manual = p.clone();
    manual.failover = FailoverPolicy::Manual;
    let d = run_silent(&s, &manual, &["m1".into(), "m2".into()]);
    assert!(!d.actions().any(|a| a.kind() == "takeover"), "{d:?}");
    assert!(
        d.notes
            .iter()
            .any(|n| n.contains("redis-stretch takeover --zone dc-b")),
        "{d:?}"
    );
}

#[test]
fn one_master_lost_without_its_zone_is_left_to_redis() {
    let mut s = seed();
    get(&mut s, "m1").reachable = false;
    get(&mut s, "r1").link_up = Some(false);
    mesh(&mut s);
    let d = run_silent(&s, &policy(FailoverPolicy::Automatic), &["m1".into()]);
    assert!(d.is_empty(), "{d:?}");
    assert!(matches!(
        d.waiting_for,
        Some(Waiting::RedisElects {
            kept: 2,
            total: 3,
            ..
        })
    ));
}

fn promote(s: &mut Snapshot, r: &str, m: &str, slots: (u16, u16), epoch: u64) {
    let rn = get(s, r);
    rn.role = Some(Role::Master);
    rn.master_id = None;
    rn.slots = vec![SlotRange {
        start: slots.0,
        end: slots.1,
    }];
    rn.config_epoch = epoch;
    rn.current_epoch = Some(epoch);
    rn.fence = Some(0);
    rn.link_up = None;
    rn.link_down_s = None;
    get(s, m).slots.clear();
}

#[test]
fn a_replica_that_lost_its_link_before_the_zone_did_is_not_promoted() {
    let mut s = seed();
    go_dark(&mut s, "dc-a");
    // R1 has been resyncing for a minute: its copy is stale.
    get(&mut s, "r1").link_down_s = Some(60);
    let d = run(
        &s,
        &zones(DARK, OK),
        &policy(FailoverPolicy::Automatic),
        Intent::Auto,
    );
    assert!(
        summary(&d)[1] == vec!["takeover@7005".to_owned()],
        "{:?}",
        summary(&d)
    );
    assert!(
        d.notes.iter().any(|n| n.contains("current copy")),
        "{:?}",
        d.notes
    );
}

/// dc-a died 6.5 s ago, while no engine ran; a new engine has seen it dark for only 0.7 s.
/// The replicas' links broke 6 s ago: with the survivors' PONGs as evidence they are current
/// copies, so the new engine takes over at once (it used to wait for dc-a forever).
fn restarted_after_the_loss() -> Snapshot {
    let mut s = seed();
    go_dark(&mut s, "dc-a");
    for n in s.nodes.iter_mut().filter(|n| n.zone == "dc-b") {
        if n.link_down_s.is_some() {
            n.link_down_s = Some(6);
        }
        for seen in n.sees.iter_mut().filter(|x| zone_of_id(&x.id) == "dc-a") {
            seen.pong_recv_ms = NOW_MS - 6_500;
        }
    }
    s
}

fn zone_of_id(node_id: &str) -> &'static str {
    ["m1", "m2", "m3", "r1", "r2", "r3"]
        .into_iter()
        .find(|n| id(n) == node_id)
        .map_or("unknown", zone_of)
}

#[test]
fn a_restarted_engine_judges_replicas_by_redis_evidence_and_takes_over() {
    let s = restarted_after_the_loss();
    let just_confirmed = zones(ZoneState::Dark { silent_ms: 700 }, OK);
    let d = run(
        &s,
        &just_confirmed,
        &policy(FailoverPolicy::Automatic),
        Intent::Auto,
    );
    assert_eq!(
        summary(&d).last(),
        Some(&vec![
            "takeover@7004".to_owned(),
            "takeover@7005".to_owned()
        ]),
        "{:?}",
        summary(&d)
    );
}

#[test]
fn a_restarted_engine_still_refuses_a_replica_stale_before_the_loss() {
    let mut s = restarted_after_the_loss();
    // R1's link broke a minute ago, long before its master stopped answering the survivors.
    get(&mut s, "r1").link_down_s = Some(60);
    let just_confirmed = zones(ZoneState::Dark { silent_ms: 700 }, OK);
    let d = run(
        &s,
        &just_confirmed,
        &policy(FailoverPolicy::Automatic),
        Intent::Auto,
    );
    assert!(
        d.actions()
            .all(|a| !(a.is_promotion() && a.node.port == 7004)),
        "{:?}",
        summary(&d)
    );
    assert!(
        d.notes.iter().any(|n| n.contains("current copy")),
        "{:?}",
        d.notes
    );
}

#[test]
fn a_cut_seen_around_keeps_every_fence() {
    // Every node answers the engine, but the links across the zones are down.
    let mut s = seed();
    for n in s.nodes.iter_mut().filter(|n| n.role == Some(Role::Replica)) {
        n.link_up = Some(false);
        n.link_down_s = Some(1);
    }
    let d = run(
        &s,
        &zones(OK, OK),
        &policy(FailoverPolicy::Automatic),
        Intent::Auto,
    );
    assert!(!d.actions().any(|a| a.kind() == "unfence"), "{d:?}");
}

#[test]
fn majority_dc_lost_with_manual_policy_says_what_to_run() {
    let mut s = seed();
    go_dark(&mut s, "dc-a");
    let d = run(
        &s,
        &zones(DARK, OK),
        &policy(FailoverPolicy::Manual),
        Intent::Auto,
    );
    assert_eq!(summary(&d), vec![vec!["unfence@7003"]]);
    assert!(matches!(
        d.waiting_for,
        Some(Waiting::Human { ref command, .. }) if command == "redis-stretch takeover --zone dc-b"
    ));
    assert!(d.notes.iter().any(|n| n.contains("policy Manual")));
    // The break-glass command then does what Automatic would have done.
    let d = run(
        &s,
        &zones(DARK, OK),
        &policy(FailoverPolicy::Manual),
        Intent::Takeover {
            survivor: "dc-b".into(),
        },
    );
    assert!(summary(&d).contains(&vec![
        "takeover@7004".to_owned(),
        "takeover@7005".to_owned()
    ]));
}

#[test]
fn takeover_picks_the_replica_with_the_highest_offset() {
    let mut s = seed();
    get(&mut s, "r1").name = Some("r1".into());
    let mut extra = node("r1b", "dc-b", 7006, Role::Replica, Some("m1"), None, 7);
    extra.repl_offset = Some(5000);
    s.nodes.push(extra);
    go_dark(&mut s, "dc-a");
    let d = run(
        &s,
        &zones(DARK, OK),
        &policy(FailoverPolicy::Automatic),
        Intent::Auto,
    );
    assert!(
        summary(&d)[1].contains(&"takeover@7006".to_owned()),
        "{:?}",
        summary(&d)
    );
}

#[test]
fn engine_cut_off_from_both_zones_does_nothing() {
    let mut s = seed();
    go_dark(&mut s, "dc-a");
    go_dark(&mut s, "dc-b");
    let d = run(
        &s,
        &zones(DARK, DARK),
        &policy(FailoverPolicy::Automatic),
        Intent::Auto,
    );
    assert!(d.is_empty());
    assert!(matches!(d.waiting_for, Some(Waiting::EngineCutOff { .. })));
}

#[test]
fn a_suspect_zone_is_confirmed_before_anything_happens() {
    let mut s = seed();
    go_dark(&mut s, "dc-a");
    let d = run(
        &s,
        &zones(ZoneState::Suspect { silent_ms: 300 }, OK),
        &policy(FailoverPolicy::Automatic),
        Intent::Auto,
    );
    assert!(d.is_empty());
    assert!(matches!(
        d.waiting_for,
        Some(Waiting::Confirming { silent_ms: 300, .. })
    ));
}

#[test]
fn engine_restarted_mid_takeover_finishes_only_what_is_left() {
    let mut s = seed();
    go_dark(&mut s, "dc-a");
    // R1 was taken over (and unfenced) before the crash; R2 and M3 were not.
    let r1 = get(&mut s, "r1");
    r1.role = Some(Role::Master);
    r1.master_id = None;
    r1.slots = vec![SlotRange {
        start: 0,
        end: 5460,
    }];
    r1.config_epoch = 7;
    r1.fence = Some(0);
    r1.link_up = None;
    get(&mut s, "m1").slots.clear();
    let d = run(
        &s,
        &zones(DARK, OK),
        &policy(FailoverPolicy::Automatic),
        Intent::Auto,
    );
    // Survivors hold a majority again (R1 and M3), so R2 gets a forced failover, which needs
    // their votes; nothing is done again for R1.
    assert_eq!(
        summary(&d),
        vec![
            vec!["unfence@7003", "unfence@7005"],
            vec!["force-failover@7005"],
        ]
    );
    // Once R2 is promoted too, M3 is bumped, once.
    promote(&mut s, "r2", "m2", (5461, 10921), 8);
    get(&mut s, "m3").fence = Some(0);
    get(&mut s, "m3").current_epoch = Some(8);
    let d = run(
        &s,
        &zones(DARK, OK),
        &policy(FailoverPolicy::Automatic),
        Intent::Auto,
    );
    assert_eq!(summary(&d), vec![vec!["bump-epoch@7003"]]);
    let ids = vec![id("m3")];
    let again = decide(&Input {
        bumped: &ids,
        ..input(&s, &zones(DARK, OK), &policy(FailoverPolicy::Automatic))
    });
    assert!(!again.actions().any(|a| a.kind() == "bump-epoch"));
}

#[test]
fn a_single_dead_replica_does_not_fence_its_master_shut() {
    let mut s = seed();
    let r1 = get(&mut s, "r1");
    r1.reachable = false;
    r1.link_up = None;
    r1.failed_probes = 1;
    mesh(&mut s);
    let p = policy(FailoverPolicy::Automatic);
    // One missed probe is not a dead replica (debounce)...
    assert!(run(&s, &zones(OK, OK), &p, Intent::Auto).is_empty());
    // ...two are: the master is unfenced within two passes, long before its fence closes.
    get(&mut s, "r1").failed_probes = 2;
    let d = run(&s, &zones(OK, OK), &p, Intent::Auto);
    assert_eq!(summary(&d), vec![vec!["unfence@7000"]]);
}

/// A partition heals: dc-b elected R1 for M1's slots (configEpoch 7) while M1, cut off in
/// dc-a, kept claiming them (epoch 1) behind its fence. M1 has no replica reporting to it any
/// more, which looks like "a single dead replica" — but unfencing it would let it take writes
/// that are discarded the moment gossip settles the slots for R1.
#[test]
fn a_stale_master_of_the_losing_side_is_never_unfenced() {
    let mut s = seed();
    let r1 = get(&mut s, "r1");
    r1.role = Some(Role::Master);
    r1.master_id = None;
    r1.slots = vec![SlotRange {
        start: 0,
        end: 5460,
    }];
    r1.config_epoch = 7;
    r1.link_up = None;
    mesh(&mut s);
    assert_eq!(s.slots_claimed_twice(), 5461);
    assert_eq!(s.slots_covered(), 16384, "each slot counted once");
    let d = run(
        &s,
        &zones(OK, OK),
        &policy(FailoverPolicy::Automatic),
        Intent::Auto,
    );
    assert!(
        !d.actions()
            .any(|a| a.kind() == "unfence" && a.node.port == 7000),
        "{:?}",
        summary(&d)
    );
}

#[test]
fn fencing_off_unfences_everything() {
    let mut p = policy(FailoverPolicy::Automatic);
    p.fencing = false;
    let d = run(&seed(), &zones(OK, OK), &p, Intent::Auto);
    assert_eq!(d.actions().count(), 6);
    assert!(d.actions().all(|a| a.kind() == "unfence"));
}

/// After a majority loss and takeover: R1, R2 master in dc-b; M1, M2 back as their replicas.
fn after_takeover_and_return() -> Snapshot {
    let mut s = seed();
    for (r, m, slots, epoch) in [("r1", "m1", (0, 5460), 7), ("r2", "m2", (5461, 10921), 8)] {
        let rn = get(&mut s, r);
        rn.role = Some(Role::Master);
        rn.master_id = None;
        rn.slots = vec![SlotRange {
            start: slots.0,
            end: slots.1,
        }];
        rn.config_epoch = epoch;
        rn.fence = Some(0);
        rn.link_up = None;
        let mn = get(&mut s, m);
        mn.role = Some(Role::Replica);
        mn.master_id = Some(id(r));
        mn.slots.clear();
        mn.link_up = Some(true);
        mn.fence = Some(0);
    }
    get(&mut s, "m3").fence = Some(0);
    mesh(&mut s);
    s
}

#[test]
fn returned_zone_is_fenced_again_then_failed_back_after_hold_down() {
    let s = after_takeover_and_return();
    let p = policy(FailoverPolicy::Automatic);
    let d = run(&s, &zones(OK, OK), &p, Intent::Auto);
    assert!(d.actions().all(|a| a.kind() == "fence"), "{d:?}");
    assert_eq!(d.actions().count(), 5);

    let mut fenced = s.clone();
    for n in &mut fenced.nodes {
        n.fence = Some(1);
    }
    let held = decide(&Input {
        hold_down: Some(HoldDown {
            zone: "dc-a".into(),
            until_ms: 3_000,
            left_ms: 3_000,
        }),
        ..input(&fenced, &zones(OK, OK), &p)
    });
    assert!(held.is_empty());
    assert!(matches!(
        held.waiting_for,
        Some(Waiting::HoldDown {
            until_ms: 3_000,
            ..
        })
    ));

    let d = run(&fenced, &zones(OK, OK), &p, Intent::Auto);
    assert_eq!(summary(&d), vec![vec!["graceful-failover@7000"]]);

    let mut manual = p.clone();
    manual.failback = FailbackPolicy::Manual;
    let d = run(&fenced, &zones(OK, OK), &manual, Intent::Auto);
    assert!(d.is_empty());
    assert!(matches!(
        d.waiting_for,
        Some(Waiting::Human { ref command, .. }) if command == "redis-stretch failback"
    ));
    let d = run(&fenced, &zones(OK, OK), &manual, Intent::Failback);
    assert_eq!(summary(&d), vec![vec!["graceful-failover@7000"]]);
}

#[test]
fn evacuated_zone_gets_no_failback_until_resumed() {
    let mut s = after_takeover_and_return();
    for n in &mut s.nodes {
        n.fence = Some(1);
    }
    let p = policy(FailoverPolicy::Automatic);
    let d = decide(&Input {
        held_zone: Some("dc-a"),
        ..input(&s, &zones(OK, OK), &p)
    });
    assert!(d.is_empty());
    assert!(matches!(d.waiting_for, Some(Waiting::Held { ref zone }) if zone == "dc-a"));
}

#[test]
fn evacuate_moves_masters_out_one_at_a_time() {
    let d = run(
        &seed(),
        &zones(OK, OK),
        &policy(FailoverPolicy::Automatic),
        Intent::Evacuate {
            zone: "dc-a".into(),
        },
    );
    assert_eq!(summary(&d), vec![vec!["graceful-failover@7004"]]);
}

/// Redis denies its vote to a node it still believes is a master, and to a request in an
/// epoch it already voted in; a lost graceful election pauses the master for 5 s. So a failback
/// waits until gossip has told every voter.
#[test]
fn no_graceful_failover_to_a_candidate_a_peer_still_flags_failing() {
    // dc-a just came back: M1 (a replica of R1 now) is ready to take its slots back, but a
    // peer still flags it `fail` from when dc-a was down. Promoted now, M1 would own slots
    // that peer counts as served by a failed node: its cluster_state would turn fail.
    let mut s = after_takeover_and_return();
    for n in &mut s.nodes {
        n.fence = Some(1);
    }
    mesh(&mut s);
    get(&mut s, "m1").current_epoch = Some(6);
    let p = policy(FailoverPolicy::Automatic);
    get(&mut s, "m1").flagged_fail_by = 1;
    let d = run(&s, &zones(OK, OK), &p, Intent::Failback);
    assert!(d.is_empty(), "{d:?}");
    assert!(
        matches!(d.waiting_for, Some(Waiting::Gossip { ref reason, .. }) if reason.contains("still flagged failing by 1 peer")),
        "{d:?}"
    );
    get(&mut s, "m1").flagged_fail_by = 0;
    let d = run(&s, &zones(OK, OK), &p, Intent::Failback);
    assert_eq!(summary(&d), vec![vec!["graceful-failover@7000"]]);
}

#[test]
fn failback_waits_until_every_voter_knows_the_candidate_is_a_replica() {
    let mut s = after_takeover_and_return();
    for n in &mut s.nodes {
        n.fence = Some(1);
    }
    let p = policy(FailoverPolicy::Automatic);
    let m1 = id("m1");
    for line in get(&mut s, "m3").sees.iter_mut().filter(|l| l.id == m1) {
        line.role = Some(Role::Master);
        line.master_id = None;
    }
    let d = run(&s, &zones(OK, OK), &p, Intent::Failback);
    assert!(d.is_empty(), "{d:?}");
    match d.waiting_for {
        Some(Waiting::Gossip { reason, .. }) => {
            assert!(
                reason.contains("does not yet see 127.0.1.1:7000"),
                "{reason}"
            )
        }
        other => panic!("expected gossip, got {other:?}"),
    }

    mesh(&mut s);
    get(&mut s, "m1").current_epoch = Some(5);
    let d = run(&s, &zones(OK, OK), &p, Intent::Failback);
    assert!(d.is_empty(), "{d:?}");
    assert!(
        matches!(d.waiting_for, Some(Waiting::Gossip { ref reason, .. }) if reason.contains("epoch 6"))
    );

    get(&mut s, "m1").current_epoch = Some(6);
    let d = run(&s, &zones(OK, OK), &p, Intent::Failback);
    assert_eq!(summary(&d), vec![vec!["graceful-failover@7000"]]);
}

/// Asking again while Redis still runs the last manual failover restarts it and pauses the
/// master again; the engine leaves it alone until the candidate is master or Redis gave up.
#[test]
fn a_requested_failover_is_not_asked_for_again_while_redis_works_on_it() {
    let mut s = after_takeover_and_return();
    for n in &mut s.nodes {
        n.fence = Some(1);
    }
    let p = policy(FailoverPolicy::Automatic);
    let pending = [redis_stretch_decide::PendingFailover {
        candidate: id("m1"),
        left: Duration::from_secs(7),
    }];
    let none = ZoneStates::default();
    let input = |intent| Input {
        intent,
        failovers_pending: &pending,
        ..input(&s, &none, &p)
    };
    let z = zones(OK, OK);
    for intent in [Intent::Auto, Intent::Failback] {
        let d = decide(&Input {
            zones: &z,
            ..input(intent)
        });
        assert!(d.is_empty(), "{d:?}");
        assert!(matches!(
            d.waiting_for,
            Some(Waiting::FailoverPending {
                retry_in_ms: 7_000,
                ..
            })
        ));
    }
}

#[test]
fn returned_instance_on_a_new_address_is_met_again() {
    let mut s = seed();
    let new = NodeAddr::new("127.0.1.1", 7100);
    get(&mut s, "m1").addr = Some(new.clone());
    // Peers still list M1 at its old address (mesh() would fix it; don't call it).
    let d = run(
        &s,
        &zones(OK, OK),
        &policy(FailoverPolicy::Automatic),
        Intent::Auto,
    );
    let meets: Vec<&Action> = d.actions().filter(|a| a.kind() == "meet").collect();
    assert_eq!(meets.len(), 1, "{d:?}");
    assert!(matches!(&meets[0].kind, ActionKind::Meet { peer } if *peer == new));
}

/// A node id no instance owns that the peers do not flag `fail` answers them: an instance the
/// platform does not list yet (a zone restored on new addresses). Forgetting it would ban it
/// for 60 s from every peer that forgot it, `MEET` included (seen on Valkey 9.1: the re-mesh
/// stalled and failback with it). It is left alone until Redis gives up on it.
#[test]
fn a_node_id_its_peers_still_hear_from_is_not_forgotten() {
    let mut s = after_takeover_and_return();
    for n in &mut s.nodes {
        n.fence = Some(1);
    }
    mesh(&mut s);
    let mut unlisted = get(&mut s, "m1").clone();
    unlisted.name = None;
    unlisted.reachable = false;
    unlisted.id = Some(id("not-listed-yet"));
    unlisted.slots.clear();
    let at = unlisted.addr.clone();
    let seen = |fail: bool, addr: Option<NodeAddr>| Seen {
        id: id("not-listed-yet"),
        addr,
        handshake: false,
        fail,
        role: Some(Role::Master),
        master_id: None,
        config_epoch: 0,
        pong_recv_ms: 0,
        ping_sent_ms: 0,
    };
    for n in s.nodes.iter_mut().filter(|n| n.reachable) {
        n.sees.push(seen(false, at.clone()));
    }
    s.nodes.push(unlisted);
    let p = policy(FailoverPolicy::Automatic);
    let d = run(&s, &zones(OK, OK), &p, Intent::Auto);
    assert!(d.actions().all(|a| a.kind() != "forget"), "{d:?}");
    // Once a peer flags it failing, it goes everywhere; so it does once a peer knows no
    // address of it (`noaddr`: another id answers there, and Redis never pings it again).
    for given_up in [seen(true, at.clone()), seen(false, None)] {
        let mut s = s.clone();
        if let Some(n) = s.nodes.iter_mut().find(|n| n.reachable) {
            n.sees.retain(|x| x.id != id("not-listed-yet"));
            n.sees.push(given_up);
        }
        let d = run(&s, &zones(OK, OK), &p, Intent::Auto);
        assert_eq!(
            d.actions().filter(|a| a.kind() == "forget").count(),
            6,
            "{d:?}"
        );
    }
}

#[test]
fn instance_restarted_empty_is_paired_and_its_old_id_forgotten() {
    let mut s = after_takeover_and_return();
    for n in &mut s.nodes {
        n.fence = Some(1);
    }
    // M1 came back empty: new id, master of nothing. Its old id lingers as a failed stray.
    let mut stray = get(&mut s, "m1").clone();
    stray.name = None;
    stray.reachable = false;
    let fresh = get(&mut s, "m1");
    fresh.id = Some(id("m1-new"));
    fresh.role = Some(Role::Master);
    fresh.master_id = None;
    fresh.link_up = None;
    mesh(&mut s);
    for n in s.nodes.iter_mut().filter(|n| n.reachable) {
        n.sees.push(Seen {
            id: stray.id.clone().unwrap(),
            addr: None,
            handshake: false,
            fail: true,
            role: Some(Role::Master),
            master_id: None,
            config_epoch: 1,
            pong_recv_ms: 0,
            ping_sent_ms: 0,
        });
    }
    s.nodes.push(stray);
    let p = policy(FailoverPolicy::Automatic);
    let d = run(&s, &zones(OK, OK), &p, Intent::Auto);
    assert!(d.actions().all(|a| a.kind() == "forget"), "{d:?}");
    assert_eq!(
        d.actions().count(),
        6,
        "forgotten on every node that knows it"
    );
    s.nodes.retain(|n| n.name.is_some());
    for n in &mut s.nodes {
        n.sees.retain(|x| x.id != id("m1"));
    }
    let d = run(&s, &zones(OK, OK), &p, Intent::Auto);
    let first = d.actions().next().cloned();
    match first {
        Some(Action {
            node,
            kind: ActionKind::Replicate { master_id },
            ..
        }) => {
            assert_eq!(node.port, 7000);
            assert_eq!(master_id, id("r1"), "R1 in dc-b has no replica across");
        }
        other => panic!("expected replicate, got {other:?}"),
    }
}

#[test]
fn valkey_instances_are_told_their_zone_and_redis_ones_are_not() {
    let mut s = seed();
    for n in &mut s.nodes {
        n.server = Some(ServerFlavour::Valkey);
        n.availability_zone = Some(n.zone.clone());
    }
    let p = policy(FailoverPolicy::Automatic);
    assert!(run(&s, &zones(OK, OK), &p, Intent::Auto).is_empty());
    get(&mut s, "r1").availability_zone = None;
    get(&mut s, "m3").availability_zone = Some("dc-a".into());
    let d = run(&s, &zones(OK, OK), &p, Intent::Auto);
    assert_eq!(summary(&d), vec![vec!["set-zone@7003", "set-zone@7004"]]);
    assert!(d
        .actions()
        .all(|a| matches!(&a.kind, ActionKind::SetZone { zone } if zone == "dc-b")));
    // Redis has no such setting: nothing to tell it.
    for n in &mut s.nodes {
        n.server = Some(ServerFlavour::Redis);
    }
    assert!(run(&s, &zones(OK, OK), &p, Intent::Auto).is_empty());
}

/// Every pair across the zones silent for `silent_ms`, a PING pending; within a zone all fresh.
fn cut(s: &mut Snapshot, silent_ms: u64) {
    let zone_of_peer: Vec<(String, String)> = s
        .nodes
        .iter()
        .map(|n| (n.id.clone().unwrap(), n.zone.clone()))
        .collect();
    for n in &mut s.nodes {
        let zone = n.zone.clone();
        for seen in &mut n.sees {
            let far = zone_of_peer
                .iter()
                .any(|(id, z)| id == &seen.id && z != &zone);
            if far {
                seen.pong_recv_ms = NOW_MS - silent_ms;
                seen.ping_sent_ms = NOW_MS - silent_ms + 100;
            }
        }
    }
}

fn run_partition(s: &Snapshot, p: &Policy, partition: Option<&Partition>) -> Decision {
    decide(&Input {
        partition,
        ..input(s, &zones(OK, OK), p)
    })
}

fn chosen(d: &Decision) -> Partition {
    match &d.partition {
        Some(PartitionChange::Chose(p)) => p.clone(),
        other => panic!("no side chosen: {other:?}"),
    }
}

#[test]
fn a_cut_seen_from_a_third_site_keeps_the_majority_side_and_shuts_the_other_at_once() {
    let mut s = seed();
    cut(&mut s, 2100);
    let d = run_partition(&s, &policy(FailoverPolicy::Automatic), None);
    assert_eq!(
        summary(&d),
        vec![
            // dc-b (M3, R1, R2) refuses writes from now on, not 2-4 s later, and Redis elects
            // nothing there.
            vec![
                "fence@7003",
                "fence@7004",
                "fence@7005",
                "set-electable@7003",
                "set-electable@7004",
                "set-electable@7005"
            ],
            // dc-a's masters must not close their own fences; R3 is about to serve M3's slots.
            vec!["unfence@7000", "unfence@7001", "unfence@7002"],
            // dc-a holds 2 of 3 masters: a forced failover is voted at once.
            vec!["force-failover@7002"],
        ]
    );
    assert!(d
        .actions()
        .filter(|a| a.kind() == "fence")
        .all(|a| matches!(
            a.kind,
            ActionKind::Fence {
                min_replicas: FENCE_SHUT,
                ..
            }
        )));
    let p = chosen(&d);
    assert_eq!((p.chosen.as_str(), p.fenced.as_str()), ("dc-a", "dc-b"));
    assert_eq!(p.rule, SideRule::MajorityOfMasters);
    assert!(matches!(d.waiting_for, Some(Waiting::Partition { .. })));
}

#[test]
fn a_short_cut_is_confirmed_first_and_an_answered_ping_is_no_cut() {
    let p = policy(FailoverPolicy::Automatic);
    let mut s = seed();
    cut(&mut s, 1200);
    let d = run_partition(&s, &p, None);
    assert!(d.is_empty(), "{d:?}");
    assert!(matches!(
        d.waiting_for,
        Some(Waiting::ConfirmingCut {
            threshold_ms: 2000,
            ..
        })
    ));
    // Issue 16, finding 3: `Safe` never acts sooner than node-timeout, on a cut too: at
    // 1.9 s of a 2 s node-timeout nothing is fenced or failed over (Redis rides that out).
    cut(&mut s, 1900);
    let d = run_partition(&s, &p, None);
    assert!(d.is_empty() && d.partition.is_none(), "{d:?}");
    cut(&mut s, 2000);
    assert!(run_partition(&s, &p, None).partition.is_some());
    // One pair across answered its last PING: the zones still hear each other.
    cut(&mut s, 5000);
    let m3 = id("m3");
    for seen in get(&mut s, "m1").sees.iter_mut().filter(|x| x.id == m3) {
        seen.ping_sent_ms = 0;
    }
    let d = run_partition(&s, &p, None);
    assert!(d.partition.is_none() && !d.actions().any(|a| a.kind() == "fence"));
    // Fast detection: half of node-timeout is enough.
    let mut s = seed();
    cut(&mut s, 1200);
    let fast = Policy {
        detection: Detection::Fast,
        ..p.clone()
    };
    assert_eq!(chosen(&run_partition(&s, &fast, None)).chosen, "dc-a");
}

#[test]
fn a_node_silent_within_its_own_zone_is_not_a_cut_between_zones() {
    let mut s = seed();
    cut(&mut s, 3000);
    let m2 = id("m2");
    for seen in get(&mut s, "m1").sees.iter_mut().filter(|x| x.id == m2) {
        seen.pong_recv_ms = NOW_MS - 3000;
        seen.ping_sent_ms = NOW_MS - 2900;
    }
    let d = run_partition(&s, &policy(FailoverPolicy::Automatic), None);
    assert!(d.partition.is_none(), "{d:?}");
}

#[test]
fn the_preferred_side_serves_even_without_the_majority() {
    let mut s = seed();
    cut(&mut s, 2100);
    for n in &mut s.nodes {
        n.node_timeout_ms = Some(2000);
    }
    let p = Policy {
        preferred_side: Some("dc-b".into()),
        ..policy(FailoverPolicy::Automatic)
    };
    let d = run_partition(&s, &p, None);
    assert_eq!(chosen(&d).rule, SideRule::PreferredSide);
    assert_eq!(
        summary(&d),
        vec![
            // dc-a shut, and Redis's own election there off: its majority would promote R3
            // for M3's slots during the cut, or as the cut heals.
            vec![
                "fence@7000",
                "fence@7001",
                "fence@7002",
                "set-electable@7000",
                "set-electable@7001",
                "set-electable@7002"
            ],
            vec![
                "unfence@7003",
                "unfence@7004",
                "unfence@7005",
                "set-node-timeout@7003",
                "set-node-timeout@7004",
                "set-node-timeout@7005"
            ],
            vec!["takeover@7004", "takeover@7005"],
        ]
    );
}

#[test]
fn the_chosen_side_is_kept_and_nothing_is_asked_twice() {
    let p = policy(FailoverPolicy::Automatic);
    let mut s = seed();
    cut(&mut s, 2100);
    let first = run_partition(&s, &p, None);
    let memory = chosen(&first);
    // Applied: dc-b shut and unelectable, dc-a's masters unfenced, R3 promoted (epoch 7).
    for n in s.nodes.iter_mut().filter(|n| n.zone == "dc-b") {
        n.fence = Some(FENCE_SHUT);
        n.no_failover = Some(true);
    }
    get(&mut s, "m1").fence = Some(0);
    get(&mut s, "m2").fence = Some(0);
    promote(&mut s, "r3", "m3", (10922, 16383), 7);
    // M3 still claims its slots on its side of the cut.
    get(&mut s, "m3").slots = vec![SlotRange {
        start: 10922,
        end: 16383,
    }];
    for m in ["m1", "m2", "r3"] {
        get(&mut s, m).current_epoch = Some(7);
    }
    cut(&mut s, 4000);
    let d = run_partition(&s, &p, Some(&memory));
    assert!(d.partition.is_none(), "already remembered");
    // Only the epoch margin for dc-a's masters whose replicas are across is left.
    assert!(
        d.actions().all(|a| a.kind() == "bump-epoch"),
        "{:?}",
        summary(&d)
    );
    assert!(!d.actions().any(|a| a.node.port == 7003), "M3 stays shut");
    // The heal: the zones hear each other; M3 still claims its slots until it hears epoch 7.
    let mut healed = s.clone();
    mesh(&mut healed);
    let d = run_partition(&healed, &p, Some(&memory));
    assert!(d.is_empty() && d.partition.is_none(), "{d:?}");
    assert!(matches!(
        d.waiting_for,
        Some(Waiting::PartitionHealing {
            slots_claimed_twice: 5462,
            ..
        })
    ));
    // M3 turned into R3's replica: the partition is over, then the usual rules run.
    let m3 = get(&mut healed, "m3");
    m3.slots.clear();
    m3.role = Some(Role::Replica);
    m3.master_id = Some(id("r3"));
    mesh(&mut healed);
    let d = run_partition(&healed, &p, Some(&memory));
    assert_eq!(d.partition, Some(PartitionChange::Healed));
    assert!(d.is_empty());
}

/// Found by the crash points (crates/cli/tests/crash_points.rs): the engine killed right
/// after it shut dc-b, before any promotion, so no slot is claimed twice yet. Its successor
/// loads the side from memory, but has seen every zone answer for no time at all: counted from
/// then, the silence across looked short, the cut was called healed, and for a confirmation
/// window the usual rules turned dc-b's shut fences into ordinary ones. A side already chosen
/// is kept while the zones do not hear each other, however long the engine has watched.
#[test]
fn a_restarted_engine_keeps_a_chosen_side_while_the_cut_stands() {
    let p = policy(FailoverPolicy::Automatic);
    let mut s = seed();
    cut(&mut s, 2100);
    let memory = chosen(&run_partition(&s, &p, None));
    for n in s.nodes.iter_mut().filter(|n| n.zone == "dc-b") {
        n.fence = Some(FENCE_SHUT);
    }
    cut(&mut s, 3000);
    let z = zones(OK, OK);
    let d = decide(&Input {
        partition: Some(&memory),
        healthy_for_ms: 0,
        rollout: None,
        ..input(&s, &z, &p)
    });
    assert_eq!(d.partition, None, "not healed: {:?}", d.waiting_for);
    assert!(
        matches!(d.waiting_for, Some(Waiting::Partition { .. })),
        "{:?}",
        d.waiting_for
    );
    let dc_b = |a: &Action| s.node_by_id(&a.node_id).is_some_and(|n| n.zone == "dc-b");
    assert!(
        !d.actions().any(|a| dc_b(a)
            && matches!(a.kind, ActionKind::Fence { min_replicas, .. } if min_replicas < FENCE_SHUT)),
        "{:?}",
        summary(&d)
    );
}

#[test]
fn the_chosen_side_going_dark_is_left_to_a_person() {
    let mut s = seed();
    cut(&mut s, 2100);
    let memory = chosen(&run_partition(&s, &policy(FailoverPolicy::Automatic), None));
    go_dark(&mut s, "dc-a");
    let d = decide(&Input {
        partition: Some(&memory),
        ..input(&s, &zones(DARK, OK), &policy(FailoverPolicy::Automatic))
    });
    assert!(d.is_empty(), "{:?}", summary(&d));
    assert_eq!(
        d.waiting_for,
        Some(Waiting::ChosenSideDark {
            zone: "dc-a".into()
        })
    );
}

#[test]
fn a_returned_replica_fences_its_master_only_once_it_acknowledges_again() {
    let mut s = seed();
    get(&mut s, "m1").fence = Some(0);
    get(&mut s, "m1").replica_lags_s = vec![7];
    let p = policy(FailoverPolicy::Automatic);
    let d = run(&s, &zones(OK, OK), &p, Intent::Auto);
    assert!(
        !d.actions().any(|a| a.node.port == 7000),
        "{:?}",
        summary(&d)
    );
    get(&mut s, "m1").replica_lags_s = vec![1];
    let d = run(&s, &zones(OK, OK), &p, Intent::Auto);
    assert_eq!(summary(&d), vec![vec!["fence@7000"]]);
}

#[test]
fn a_lowered_node_timeout_is_put_back_once_both_zones_answer() {
    let mut s = seed();
    for n in &mut s.nodes {
        n.node_timeout_ms = Some(2000);
    }
    get(&mut s, "m3").node_timeout_ms = Some(500);
    let d = run(
        &s,
        &zones(OK, OK),
        &policy(FailoverPolicy::Automatic),
        Intent::Auto,
    );
    assert_eq!(summary(&d), vec![vec!["set-node-timeout@7003"]]);
}

/// The seed after R3 (dc-a) was promoted for M3's slots at epoch 7, M3 its replica, in sync.
fn r3_serves_m3s_shard() -> Snapshot {
    let mut s = seed();
    promote(&mut s, "r3", "m3", (10922, 16383), 7);
    let m3 = get(&mut s, "m3");
    m3.role = Some(Role::Replica);
    m3.master_id = Some(id("r3"));
    m3.link_up = Some(true);
    get(&mut s, "r3").fence = Some(1);
    for n in &mut s.nodes {
        n.current_epoch = Some(7);
    }
    mesh(&mut s);
    s
}

#[test]
fn failback_returns_the_shards_the_engine_moved_away_first() {
    // After a cut dc-a serves dc-b's shard too: R3 was promoted (epoch 7); M3 is its replica.
    let s = r3_serves_m3s_shard();
    let p = policy(FailoverPolicy::Automatic);
    let z = zones(OK, OK);
    let input = |promoted: &'static [String]| Input {
        promoted,
        ..input(&s, &z, &p)
    };
    // Without memory of it, the first master in slot order would move (M1 to dc-b).
    let d = decide(&input(&[]));
    assert_eq!(summary(&d), vec![vec!["graceful-failover@7004"]]);
    // R3 was promoted by the engine: its shard goes back to dc-b, through M3.
    let promoted: &'static [String] = Box::leak(Box::new([id("r3")]));
    let d = decide(&input(promoted));
    assert_eq!(summary(&d), vec![vec!["graceful-failover@7003"]]);
}

#[test]
fn right_after_a_zone_returns_the_side_that_served_is_kept_and_stale_masters_stay_fenced() {
    // The engine (in dc-b) took dc-a's shards over while dc-a was cut off: R1 and R2 are
    // masters at epochs 7 and 8, M3 was bumped to 9. dc-a's side elected R3 for M3's slots
    // (epoch 7) and M1, M2 still claim theirs at epochs 1 and 2. The cut healed a moment ago:
    // the links across are still silent (TCP backoff), dc-a is in its failback hold-down.
    let mut s = seed();
    promote(&mut s, "r1", "m1", (0, 5460), 7);
    promote(&mut s, "r2", "m2", (5461, 10921), 8);
    get(&mut s, "m1").slots = vec![SlotRange {
        start: 0,
        end: 5460,
    }];
    get(&mut s, "m2").slots = vec![SlotRange {
        start: 5461,
        end: 10921,
    }];
    get(&mut s, "m3").config_epoch = 9;
    promote(&mut s, "r3", "m3", (10922, 16383), 7);
    get(&mut s, "m3").slots = vec![SlotRange {
        start: 10922,
        end: 16383,
    }];
    for n in &mut s.nodes {
        n.fence = Some(1);
    }
    mesh(&mut s);
    cut(&mut s, 3000);
    let p = policy(FailoverPolicy::Automatic);
    let z = zones(OK, OK);
    let d = decide(&Input {
        hold_down: Some(HoldDown {
            zone: "dc-a".into(),
            until_ms: NOW_MS + 5000,
            left_ms: 5000,
        }),
        ..input(&s, &z, &p)
    });
    let p = chosen(&d);
    assert_eq!(
        (p.chosen.as_str(), p.rule),
        ("dc-b", SideRule::ServedDuringLoss)
    );
    // dc-a, whose masters are stale (overruled by newer epochs), is shut; nothing there is
    // unfenced and nothing is promoted.
    let fenced: Vec<u16> = d
        .actions()
        .filter(|a| a.kind() == "fence")
        .map(|a| a.node.port)
        .collect();
    assert_eq!(fenced, vec![7000, 7001, 7002], "{:?}", summary(&d));
    assert!(
        !d.actions()
            .any(|a| a.kind() == "unfence" && [7000, 7001, 7002].contains(&a.node.port)),
        "{:?}",
        summary(&d)
    );
    assert!(!d.actions().any(Action::is_promotion), "{:?}", summary(&d));
    // Without the hold-down (a restarted engine that lost it, say), counting only masters no
    // newer epoch overrules still keeps dc-b: dc-a's M1 and M2 are stale, R3 is overruled.
    let d = run_partition(&s, &policy(FailoverPolicy::Automatic), None);
    let p = chosen(&d);
    assert_eq!(
        (p.chosen.as_str(), p.rule),
        ("dc-b", SideRule::MajorityOfMasters)
    );
}

#[test]
fn survivors_get_their_node_timeout_back_once_the_takeover_is_done() {
    let mut s = seed();
    go_dark(&mut s, "dc-a");
    for n in s.nodes.iter_mut().filter(|n| n.zone == "dc-b") {
        n.node_timeout_ms = Some(2000);
    }
    let p = policy(FailoverPolicy::Automatic);
    // Taking over: the survivors' node-timeout drops to 500 ms with the unfences.
    let d = run(&s, &zones(DARK, OK), &p, Intent::Auto);
    let lowered: Vec<String> = d.steps[0]
        .iter()
        .filter(|a| a.kind() == "set-node-timeout")
        .map(|a| a.to_string())
        .collect();
    assert_eq!(lowered.len(), 3, "{:?}", summary(&d));
    assert!(lowered.iter().all(|a| a.contains("to 500 ms")));
    // Done (both promoted, M3 bumped) and every survivor serves: back to 2000 ms.
    promote(&mut s, "r1", "m1", (0, 5460), 7);
    promote(&mut s, "r2", "m2", (5461, 10921), 8);
    for n in s.nodes.iter_mut().filter(|n| n.zone == "dc-b") {
        n.node_timeout_ms = Some(500);
        n.fence = Some(0);
        n.current_epoch = Some(9);
    }
    get(&mut s, "m3").config_epoch = 9;
    let d = run(&s, &zones(DARK, OK), &p, Intent::Auto);
    assert_eq!(
        summary(&d),
        vec![vec![
            "set-node-timeout@7003",
            "set-node-timeout@7004",
            "set-node-timeout@7005"
        ]]
    );
    // A survivor still in `cluster_state:fail` keeps the short timeout (its rejoin delay).
    get(&mut s, "r1").cluster_state = Some(redis_stretch_model::ClusterState::Fail);
    assert!(run(&s, &zones(DARK, OK), &p, Intent::Auto).is_empty());
}

#[test]
fn silence_across_right_after_a_zone_came_back_is_not_a_cut() {
    // dc-a was away from the engine too (an isolated blip) and answers again since 400 ms; its
    // links across are still in TCP backoff, silent for 3 s: the tail of the blip, not a cut.
    let mut s = seed();
    cut(&mut s, 3000);
    let p = policy(FailoverPolicy::Automatic);
    let z = zones(OK, OK);
    let input = |healthy_for_ms| Input {
        healthy_for_ms,
        ..input(&s, &z, &p)
    };
    let d = decide(&input(400));
    assert!(d.is_empty() && d.partition.is_none(), "{:?}", summary(&d));
    // Seen while both zones answered for long enough, the same silence is a cut.
    assert_eq!(chosen(&decide(&input(2100))).chosen, "dc-a");
}

fn named<'a>(s: &'a mut Snapshot, name: &str) -> &'a mut NodeState {
    s.nodes
        .iter_mut()
        .find(|n| n.name.as_deref() == Some(name))
        .unwrap()
}

/// Issue 16, finding 1: whether Redis may elect a replica follows its copy. One in a full
/// sync (or never linked since it restarted) is kept from Redis's own election; a current one
/// is let back in.
#[test]
fn replicas_are_electable_exactly_while_their_copy_is_current() {
    let mut s = seed();
    let r1 = named(&mut s, "r1");
    r1.link_up = Some(false);
    r1.link_down_s = None;
    r1.syncing = true;
    named(&mut s, "r2").no_failover = Some(true);
    let p = policy(FailoverPolicy::Automatic);
    let d = run(&s, &zones(OK, OK), &p, Intent::Auto);
    let kinds: Vec<_> = d.actions().map(|a| (a.node.port, a.kind.clone())).collect();
    assert_eq!(
        kinds,
        vec![
            (7004, ActionKind::SetElectable { electable: false }),
            (7005, ActionKind::SetElectable { electable: true }),
        ]
    );
}

/// A replica the engine judged stale is never promoted by it; and should Redis elect it all
/// the same, the engine never unfences it: its writes would be all the shard keeps.
#[test]
fn a_master_elected_from_a_stale_copy_is_never_unfenced() {
    let mut s = seed();
    go_dark(&mut s, "dc-a");
    // R1 became master of M1's slots by Redis's own election, fenced as every replica is.
    let r1 = named(&mut s, "r1");
    r1.role = Some(Role::Master);
    r1.master_id = None;
    r1.slots = vec![SlotRange {
        start: 0,
        end: 5460,
    }];
    r1.config_epoch = 9;
    let r1_id = r1.id.clone().unwrap();
    named(&mut s, "m1").slots.clear();
    let p = policy(FailoverPolicy::Automatic);
    let stale = vec![r1_id.clone()];
    let d = decide(&Input {
        stale: &stale,
        ..input(&s, &zones(DARK, OK), &p)
    });
    assert!(
        !d.actions()
            .any(|a| a.node_id == r1_id && a.kind == ActionKind::Unfence),
        "{d:?}"
    );
    assert!(
        d.notes.iter().any(|n| n.contains("judged stale")),
        "{:?}",
        d.notes
    );
    // Without that judgement the same master is unfenced (it has no replica across).
    let d = run(&s, &zones(DARK, OK), &p, Intent::Auto);
    assert!(d
        .actions()
        .any(|a| a.node_id == r1_id && a.kind == ActionKind::Unfence));
}

/// Issue 16, finding 2: dc-b (the minority) is the preferred side of a cut. The engine fenced
/// dc-a, unfenced M3 and took over R1 and R2, then died before the pass that bumps M3. dc-a,
/// holding the majority of masters in its own view, elected R3 for M3's slots at a newer
/// epoch. The restarted engine, which remembers the side, must keep M3 serving: unfenced,
/// bumped above R3's election (so what it accepts wins the heal), and no takeover sought for
/// R3's "orphaned" shard.
#[test]
fn a_chosen_side_master_whose_replica_the_other_side_elected_is_bumped_after_a_restart() {
    let mut s = seed();
    cut(&mut s, 5000);
    let m3_id = id("m3");
    {
        // dc-a: shut and made unelectable by the engine, and R3 elected there at epoch 7
        // (before the engine's pass landed).
        for n in s.nodes.iter_mut().filter(|n| n.zone == "dc-a") {
            n.fence = Some(100);
            n.no_failover = Some(true);
            n.current_epoch = Some(7);
        }
        let r3 = named(&mut s, "r3");
        r3.role = Some(Role::Master);
        r3.master_id = None;
        r3.slots = vec![SlotRange {
            start: 10922,
            end: 16383,
        }];
        r3.config_epoch = 7;
    }
    // dc-b: R1 and R2 took over at epochs 7 and 8, M3 heard them and is fenced again (its
    // replica across is gone, the pass that unfenced it was lost with the engine).
    for (name, epoch, slots) in [("r1", 7, (0, 5460)), ("r2", 8, (5461, 10921))] {
        let r = named(&mut s, name);
        r.role = Some(Role::Master);
        r.master_id = None;
        r.slots = vec![SlotRange {
            start: slots.0,
            end: slots.1,
        }];
        r.config_epoch = epoch;
        r.fence = Some(0);
    }
    for n in s.nodes.iter_mut().filter(|n| n.zone == "dc-b") {
        n.current_epoch = Some(8);
    }
    let m3 = named(&mut s, "m3");
    m3.fence = Some(1);
    m3.replica_lags_s.clear();
    let p = Policy {
        preferred_side: Some("dc-b".into()),
        ..policy(FailoverPolicy::Automatic)
    };
    let side = Partition {
        chosen: "dc-b".into(),
        fenced: "dc-a".into(),
        rule: SideRule::PreferredSide,
        since_ms: NOW_MS - 4000,
    };
    let d = run_partition(&s, &p, Some(&side));
    let on_m3: Vec<String> = d
        .actions()
        .filter(|a| a.node_id == m3_id)
        .map(|a| a.kind().to_owned())
        .collect();
    assert!(on_m3.contains(&"unfence".to_owned()), "{:?}", summary(&d));
    assert!(!d.actions().any(|a| a.is_promotion()), "{:?}", summary(&d));
    assert!(
        !d.notes.iter().any(|n| n.contains("no replica")),
        "{:?}",
        d.notes
    );
    // Unfenced (a pass later): the bump.
    named(&mut s, "m3").fence = Some(0);
    let d = run_partition(&s, &p, Some(&side));
    assert_eq!(summary(&d), vec![vec!["bump-epoch@7003"]], "{:?}", d.notes);
}

/// Issue 16, finding 6: silences between instances are read on the instances' own clocks. The
/// engine's clock 3 s ahead (a step, or another host's drift) must not turn the ordinary
/// gossip of a healthy cluster (a PING in flight, the last PONG 0.9 s ago) into a cut.
#[test]
fn an_engine_clock_ahead_of_the_instances_sees_no_cut() {
    let mut s = seed();
    cut(&mut s, 900);
    for n in &mut s.nodes {
        n.clock_ms = Some(NOW_MS);
    }
    let p = policy(FailoverPolicy::Automatic);
    let d = decide(&Input {
        now_ms: NOW_MS + 3000,
        ..input(&s, &zones(OK, OK), &p)
    });
    assert!(d.is_empty() && d.partition.is_none(), "{:?}", summary(&d));
    assert!(
        !matches!(d.waiting_for, Some(Waiting::ConfirmingCut { .. })),
        "{:?}",
        d.waiting_for
    );
}

// Rollouts (issue 17).

fn outdate(s: &mut Snapshot, names: &[&str]) {
    for n in names {
        get(s, n).restart_for = Some("server Redis → Valkey".into());
    }
}

#[test]
fn a_rollout_restarts_one_replica_at_a_time_while_its_master_serves() {
    let mut s = seed();
    outdate(&mut s, &["m1", "m2", "m3", "r1", "r2", "r3"]);
    let p = policy(FailoverPolicy::Automatic);
    let z = zones(OK, OK);
    let d = run(&s, &z, &p, Intent::Auto);
    // m1's fence counts r1: opened first, so that the shard keeps taking writes while its
    // replica restarts (the repairs close it again once r1 is back).
    assert_eq!(
        summary(&d),
        vec![vec!["unfence@7000"], vec!["restart@7004"]],
        "{d:?}"
    );
    let a = d.actions().last().unwrap();
    assert!(matches!(&a.kind, ActionKind::Restart { instance, .. } if instance == "r1"));
}

#[test]
fn a_rollout_restarts_nothing_while_a_replica_syncs_or_an_instance_is_down() {
    let p = policy(FailoverPolicy::Automatic);
    let z = zones(OK, OK);
    let mut s = seed();
    outdate(&mut s, &["m1", "m2", "m3", "r2", "r3"]);
    // r1, restarted, is syncing (and unelectable, as it starts): the next waits.
    get(&mut s, "r1").syncing = true;
    get(&mut s, "r1").no_failover = Some(true);
    let d = run(&s, &z, &p, Intent::Auto);
    assert!(d.is_empty(), "{d:?}");
    assert!(
        matches!(&d.waiting_for, Some(Waiting::Rolling { instance: Some(i), .. }) if i == "r1"),
        "{d:?}"
    );
    // r2 does not answer: nothing restarts either.
    let mut s = seed();
    outdate(&mut s, &["m1", "m2", "m3", "r1", "r3"]);
    get(&mut s, "r2").reachable = false;
    let d = run(&s, &z, &p, Intent::Auto);
    assert!(
        !d.actions()
            .any(|a| matches!(a.kind, ActionKind::Restart { .. })),
        "{d:?}"
    );
}

#[test]
fn a_rollout_hands_a_masters_slots_across_before_restarting_it() {
    let mut s = seed();
    // Every replica done: the masters are next, each by a graceful failover to its replica in
    // the other zone, never restarted as a master.
    outdate(&mut s, &["m1", "m2", "m3"]);
    let p = policy(FailoverPolicy::Automatic);
    let z = zones(OK, OK);
    let d = run(&s, &z, &p, Intent::Auto);
    assert_eq!(summary(&d), vec![vec!["graceful-failover@7004"]], "{d:?}");
}

#[test]
fn a_rollout_waits_for_a_restarting_instance_to_come_back_current() {
    let mut s = seed();
    outdate(&mut s, &["m1", "m2", "m3", "r2", "r3"]);
    // The memory says r1 was restarted; it is back but its link is not up yet.
    get(&mut s, "r1").link_up = Some(false);
    get(&mut s, "r1").link_down_s = None;
    let rollout = Rollout {
        started_ms: NOW_MS - 5_000,
        done: vec![],
        restarting: Some(Restarting {
            instance: "r1".into(),
            since_ms: NOW_MS - 1_000,
        }),
    };
    let p = policy(FailoverPolicy::Automatic);
    let z = zones(OK, OK);
    let d = decide(&Input {
        rollout: Some(&rollout),
        ..input(&s, &z, &p)
    });
    assert!(
        !d.actions()
            .any(|a| matches!(a.kind, ActionKind::Restart { .. })),
        "{d:?}"
    );
}

/// The replica a rollout restarts answers for a moment longer (its pod stops gracefully). Its
/// master, opened for the restart, is not fenced again on its account: an engine that died
/// right then would leave the shard refusing writes until the next Lease holder acts (seen in
/// the e2e rollout whose operator is killed mid-way: 9.6 s). Back and current, it counts again.
#[test]
fn a_replica_restarting_on_purpose_does_not_fence_its_master_again() {
    let mut s = seed();
    outdate(&mut s, &["m1", "m2", "m3", "r1", "r2", "r3"]);
    get(&mut s, "m1").fence = Some(0);
    let restarting = Rollout {
        started_ms: NOW_MS - 5_000,
        done: vec![],
        restarting: Some(Restarting {
            instance: "r1".into(),
            since_ms: NOW_MS - 100,
        }),
    };
    let p = policy(FailoverPolicy::Automatic);
    let z = zones(OK, OK);
    let d = decide(&Input {
        rollout: Some(&restarting),
        ..input(&s, &z, &p)
    });
    assert!(
        !summary(&d).concat().contains(&"fence@7000".to_owned()),
        "{d:?}"
    );
    // Without the rollout's word (or once r1 is back at the new revision) the fence closes.
    let d = decide(&input(&s, &z, &p));
    assert!(
        summary(&d).concat().contains(&"fence@7000".to_owned()),
        "{d:?}"
    );
}

#[test]
fn a_zone_lost_mid_rollout_is_taken_over_first() {
    let mut s = seed();
    outdate(&mut s, &["m1", "m2", "m3", "r2", "r3"]);
    go_dark(&mut s, "dc-a");
    let p = policy(FailoverPolicy::Automatic);
    let z = zones(DARK, OK);
    let d = run(&s, &z, &p, Intent::Auto);
    assert!(d.actions().any(|a| a.is_promotion()), "{d:?}");
    assert!(
        !d.actions()
            .any(|a| matches!(a.kind, ActionKind::Restart { .. })),
        "{d:?}"
    );
}

/// Every instance runs Redis 7.4.2 (RDB 12) and is outdated: the policy asks for Valkey.
fn valkey_asked_of_redis_7_4(s: &mut Snapshot) -> Policy {
    outdate(s, &["m1", "m2", "m3", "r1", "r2", "r3"]);
    for n in &mut s.nodes {
        n.server = Some(redis_stretch_api::ServerFlavour::Redis);
        n.version = Some("7.4.2".into());
    }
    Policy {
        server: redis_stretch_api::ServerFlavour::Valkey,
        ..policy(FailoverPolicy::Automatic)
    }
}

#[test]
fn a_server_change_the_data_does_not_allow_is_refused_with_the_reason() {
    let mut s = seed();
    let p = valkey_asked_of_redis_7_4(&mut s);
    let z = zones(OK, OK);
    let d = run(&s, &z, &p, Intent::Auto);
    assert!(d.is_empty(), "{d:?}");
    assert!(d.notes.iter().any(|n| n.contains("RDB format 12")), "{d:?}");
}

#[test]
fn a_refused_server_change_still_lets_failback_restore_the_layout() {
    // R3 serves M3's shard in dc-a after a loss; meanwhile spec.redis.server asks for Valkey,
    // which cannot load Redis 7.4's data: the refusal restarts nothing, failback still runs
    // (here M1 goes to dc-b: no memory of which shard the loss moved).
    let mut s = r3_serves_m3s_shard();
    let p = valkey_asked_of_redis_7_4(&mut s);
    let d = run(&s, &zones(OK, OK), &p, Intent::Auto);
    assert_eq!(summary(&d), vec![vec!["graceful-failover@7004"]], "{d:?}");
    assert!(d.notes.iter().any(|n| n.contains("RDB format 12")), "{d:?}");
}

// ---- live config ----

fn with_config(s: &mut Snapshot, name: &str, value: &str) {
    for n in s.nodes.iter_mut().filter(|n| n.reachable) {
        n.live_config.insert(name.to_owned(), value.to_owned());
    }
}

fn live_policy(settings: &[(&str, &str)]) -> Policy {
    Policy {
        live_config: settings
            .iter()
            .map(|(n, v)| ((*n).to_owned(), (*v).to_owned()))
            .collect(),
        ..policy(FailoverPolicy::Automatic)
    }
}

fn set_configs(d: &Decision) -> Vec<String> {
    d.actions()
        .filter_map(|a| match &a.kind {
            ActionKind::SetConfig { name, value } => {
                Some(format!("{name}={value}@{}", a.node.port))
            }
            _ => None,
        })
        .collect()
}

#[test]
fn a_changed_maxmemory_is_set_on_every_instance() {
    let mut s = seed();
    with_config(&mut s, "maxmemory", "0");
    let d = run(
        &s,
        &zones(OK, OK),
        &live_policy(&[("maxmemory", "1gb")]),
        Intent::Auto,
    );
    let mut got = set_configs(&d);
    got.sort();
    let want: Vec<String> = (7000..7006).map(|p| format!("maxmemory=1gb@{p}")).collect();
    assert_eq!(got, want);
    // Concurrently, in one step, beside the healthy cluster's usual wait.
    assert_eq!(d.steps.len(), 1);
    assert_eq!(d.waiting_for, Some(Waiting::AsPreferred));
}

#[test]
fn live_values_that_only_look_different_are_left_alone() {
    let mut s = seed();
    // What CONFIG GET prints for what the spec says: bytes for sizes, `""` for no save.
    with_config(&mut s, "maxmemory", "1073741824");
    with_config(&mut s, "repl-backlog-size", "67108864");
    with_config(&mut s, "save", "");
    with_config(&mut s, "maxmemory-policy", "noeviction");
    let p = live_policy(&[
        ("maxmemory", "1gb"),
        ("repl-backlog-size", "64mb"),
        ("save", ""),
        ("maxmemory-policy", "noeviction"),
    ]);
    let d = run(&s, &zones(OK, OK), &p, Intent::Auto);
    assert!(d.is_empty(), "{d:?}");
    assert!(d.is_settled());
}

#[test]
fn only_the_instance_that_differs_is_set() {
    let mut s = seed();
    with_config(&mut s, "maxmemory-policy", "noeviction");
    // A person's CONFIG SET, or an instance restarted from an older redis.conf.
    get(&mut s, "r2")
        .live_config
        .insert("maxmemory-policy".into(), "allkeys-lru".into());
    let d = run(
        &s,
        &zones(OK, OK),
        &live_policy(&[("maxmemory-policy", "noeviction")]),
        Intent::Auto,
    );
    let port = get(&mut s, "r2").addr.as_ref().map(|a| a.port);
    assert_eq!(
        set_configs(&d),
        vec![format!("maxmemory-policy=noeviction@{}", port.unwrap_or(0))]
    );
}

#[test]
fn a_setting_the_server_does_not_report_is_never_set_blind() {
    // Not observed (an older engine's snapshot) or unknown to this server.
    let d = run(
        &seed(),
        &zones(OK, OK),
        &live_policy(&[("maxmemory", "1gb")]),
        Intent::Auto,
    );
    assert!(set_configs(&d).is_empty(), "{d:?}");
}

#[test]
fn live_config_waits_while_a_zone_is_lost() {
    let mut s = seed();
    with_config(&mut s, "maxmemory", "0");
    go_dark(&mut s, "dc-b");
    let d = run(
        &s,
        &zones(OK, DARK),
        &live_policy(&[("maxmemory", "1gb")]),
        Intent::Auto,
    );
    assert!(set_configs(&d).is_empty(), "{d:?}");
    assert!(d.actions().any(|a| a.kind() == "force-failover"));
}

#[test]
fn live_config_waits_for_the_repairs() {
    let mut s = seed();
    with_config(&mut s, "maxmemory", "0");
    // A fence missing on a master: a repair, done first.
    get(&mut s, "m1").fence = Some(0);
    let d = run(
        &s,
        &zones(OK, OK),
        &live_policy(&[("maxmemory", "1gb")]),
        Intent::Auto,
    );
    assert!(!d.is_empty());
    assert!(set_configs(&d).is_empty(), "{d:?}");
}

#[test]
fn a_break_glass_command_leaves_live_config_to_the_engine() {
    let mut s = seed();
    with_config(&mut s, "maxmemory", "0");
    let d = run(
        &s,
        &zones(OK, OK),
        &live_policy(&[("maxmemory", "1gb")]),
        Intent::Failback,
    );
    assert!(set_configs(&d).is_empty(), "{d:?}");
}

// Password rotation (rules/credentials.rs): one row per stage, each snapshot what the engine
// observes of every instance's passwords.

/// Every instance as a rotation from an old password to a new one leaves it at `stage`.
fn rotating(stage: AuthSeen) -> Snapshot {
    let mut s = seed();
    for n in &mut s.nodes {
        n.auth = Some(stage.clone());
    }
    s
}

/// Before the rotation: the engine has just been given [new, old]; instances know the old one.
const OLD_ONLY: AuthSeen = AuthSeen {
    engine_uses: PasswordRef::Previous,
    holds_current: false,
    holds_previous: Some(true),
    others: 0,
    masterauth: Some(PasswordRef::Previous),
};

fn rotation(s: &Snapshot, z: &ZoneStates) -> Decision {
    run(s, z, &policy(FailoverPolicy::Automatic), Intent::Auto)
}

#[test]
fn rotation_first_adds_the_new_password_everywhere_never_resetting_the_old() {
    assert_eq!(rotating(OLD_ONLY).rotation_progress(), Some((0, 6)));
    let d = rotation(&rotating(OLD_ONLY), &zones(OK, OK));
    assert_eq!(summary(&d).len(), 1, "{d:?}");
    assert_eq!(d.actions().count(), 6);
    assert!(d.actions().all(|a| a.kind
        == ActionKind::AddPassword {
            password: PasswordRef::Current
        }));
}

#[test]
fn rotation_adds_the_new_password_to_the_instances_that_answer_while_one_is_down() {
    let mut s = rotating(OLD_ONLY);
    s.nodes[5].reachable = false;
    let d = rotation(&s, &zones(OK, OK));
    assert_eq!(d.actions().count(), 5, "{d:?}");
    assert!(d.actions().all(|a| a.kind() == "add-password"));
}

#[test]
fn rotation_sets_masterauth_only_once_every_instance_accepts_the_new_password() {
    let both = AuthSeen {
        holds_current: true,
        ..OLD_ONLY
    };
    let mut s = rotating(both.clone());
    // One instance still to be given the new password: masterauth waits for it (a replica
    // with the new masterauth could not sync from a master without it).
    s.nodes[0].auth = Some(OLD_ONLY);
    let d = rotation(&s, &zones(OK, OK));
    assert_eq!(summary(&d), vec![vec!["add-password@7000"]]);

    let d = rotation(&rotating(both), &zones(OK, OK));
    assert_eq!(d.actions().count(), 6, "{d:?}");
    assert!(d.actions().all(|a| a.kind
        == ActionKind::SetMasterAuth {
            password: PasswordRef::Current
        }));
}

#[test]
fn rotation_waits_for_a_silent_instance_before_masterauth_and_the_drop() {
    let both = AuthSeen {
        holds_current: true,
        ..OLD_ONLY
    };
    let mut s = rotating(both);
    s.nodes[4].reachable = false;
    s.nodes[4].auth = None;
    let d = rotation(&s, &zones(OK, OK));
    assert!(
        !d.actions().any(|a| a.kind.password().is_some()),
        "nothing of the rotation while an instance may still know only the old one: {d:?}"
    );
}

#[test]
fn rotation_drops_the_old_password_once_the_engine_uses_the_new_one_everywhere() {
    let switched = AuthSeen {
        holds_current: true,
        masterauth: Some(PasswordRef::Current),
        ..OLD_ONLY
    };
    // The engine still on the old password with one instance: it reconnects first.
    let mut s = rotating(AuthSeen {
        engine_uses: PasswordRef::Current,
        ..switched.clone()
    });
    s.nodes[2].auth = Some(switched);
    let d = rotation(&s, &zones(OK, OK));
    assert!(!d.actions().any(|a| a.kind() == "drop-password"), "{d:?}");
    assert!(!s.rotation_done());

    let ready = AuthSeen {
        engine_uses: PasswordRef::Current,
        holds_current: true,
        masterauth: Some(PasswordRef::Current),
        ..OLD_ONLY
    };
    let d = rotation(&rotating(ready.clone()), &zones(OK, OK));
    assert_eq!(d.actions().count(), 6, "{d:?}");
    assert!(d.actions().all(|a| a.kind
        == ActionKind::DropPassword {
            password: PasswordRef::Previous
        }));

    let done = AuthSeen {
        holds_previous: Some(false),
        ..ready
    };
    let s = rotating(done);
    assert!(s.rotation_done());
    assert_eq!(s.rotation_progress(), None, "done: nothing to say");
    let d = rotation(&s, &zones(OK, OK));
    assert!(d.is_empty(), "{d:?}");
    assert_eq!(d.waiting_for, Some(Waiting::AsPreferred));
}

#[test]
fn rotation_leaves_passwords_that_are_not_the_engines_alone_and_needs_nothing_when_settled() {
    let settled = AuthSeen {
        engine_uses: PasswordRef::Current,
        holds_current: true,
        holds_previous: None,
        others: 1,
        masterauth: Some(PasswordRef::Current),
    };
    let d = rotation(&rotating(settled.clone()), &zones(OK, OK));
    assert!(d.is_empty(), "{d:?}");
    // A masterauth someone changed by hand is put back to the engine's password.
    let mut s = rotating(settled);
    s.nodes[3].auth.as_mut().unwrap().masterauth = None;
    let d = rotation(&s, &zones(OK, OK));
    assert_eq!(summary(&d), vec![vec!["set-masterauth@7003"]]);
}

#[test]
fn rotation_pauses_while_a_zone_is_dark_and_the_takeover_comes_first() {
    let mut s = rotating(OLD_ONLY);
    go_dark(&mut s, "dc-a");
    let d = rotation(&s, &zones(DARK, OK));
    assert!(d.actions().any(|a| a.kind() == "takeover"), "{d:?}");
    assert!(!d.actions().any(|a| a.kind.password().is_some()), "{d:?}");
}

#[test]
fn actions_of_a_rotation_carry_no_password() {
    let d = rotation(&rotating(OLD_ONLY), &zones(OK, OK));
    let json = serde_json::to_string(&d).unwrap();
    assert!(
        json.contains(r#""action":"add-password","password":"current""#),
        "{json}"
    );
}

/// The rotation run to its end on a small model of the servers' passwords, one instance silent
/// for the first passes: after every step the engine can still reach every instance (each
/// holds a password the engine has) and every instance's masterauth is accepted by every
/// other (a replica re-syncing from any master gets in), and it ends with the old password gone.
#[test]
fn rotation_run_to_the_end_never_locks_out_the_engine_or_a_replica() {
    #[derive(Clone, Copy)]
    struct Held {
        current: bool,
        previous: bool,
        masterauth: PasswordRef,
    }
    let mut model = [Held {
        current: false,
        previous: true,
        masterauth: PasswordRef::Previous,
    }; 6];
    let holds = |h: &Held, p: PasswordRef| match p {
        PasswordRef::Current => h.current,
        PasswordRef::Previous => h.previous,
    };
    for pass in 0..20 {
        let mut s = seed();
        for (n, h) in s.nodes.iter_mut().zip(&model) {
            n.auth = Some(AuthSeen {
                // The pool tries the current password first.
                engine_uses: if h.current {
                    PasswordRef::Current
                } else {
                    PasswordRef::Previous
                },
                holds_current: h.current,
                holds_previous: Some(h.previous),
                others: 0,
                masterauth: Some(h.masterauth),
            });
        }
        // r2 does not answer for the first three passes.
        if pass < 3 {
            s.nodes[5].reachable = false;
            s.nodes[5].auth = None;
        }
        if s.rotation_done() {
            assert!(model.iter().all(|h| h.current && !h.previous));
            return;
        }
        let d = rotation(&s, &zones(OK, OK));
        for a in d.actions() {
            let i = s
                .nodes
                .iter()
                .position(|n| n.addr.as_ref() == Some(&a.node))
                .unwrap();
            match a.kind {
                ActionKind::AddPassword { password } => {
                    assert_eq!(password, PasswordRef::Current);
                    model[i].current = true;
                }
                ActionKind::DropPassword { password } => {
                    assert_eq!(password, PasswordRef::Previous);
                    model[i].previous = false;
                }
                ActionKind::SetMasterAuth { password } => model[i].masterauth = password,
                ref other => panic!("not a rotation action: {other:?}"),
            }
        }
        for h in &model {
            assert!(h.current || h.previous, "the engine is locked out");
            assert!(
                model.iter().all(|m| holds(m, h.masterauth)),
                "a replica could not authenticate to some master"
            );
        }
    }
    panic!("the rotation did not finish in 20 passes");
}

// ---- Scaling (rules/scale.rs) ----

/// The seed plus six fresh instances (masters of nothing, met), as `local scale --shards 6`
/// leaves them before the engine acts.
fn seed_with_new() -> Snapshot {
    let mut s = seed();
    for (k, (name, zone)) in [
        ("a3", "dc-a"),
        ("a4", "dc-a"),
        ("a5", "dc-a"),
        ("b3", "dc-b"),
        ("b4", "dc-b"),
        ("b5", "dc-b"),
    ]
    .into_iter()
    .enumerate()
    {
        let mut n = node(name, zone, 7100 + k as u16, Role::Master, None, None, 0);
        n.fence = Some(0);
        s.nodes.push(n);
    }
    mesh(&mut s);
    s
}

fn six(p: &mut Policy) {
    p.shards = 6;
    p.preferred = vec![("dc-a".into(), 4), ("dc-b".into(), 2)];
}

#[test]
fn scale_out_keeps_new_masters_by_zone_deficit_and_pairs_the_rest_across() {
    let s = seed_with_new();
    let mut p = policy(FailoverPolicy::Automatic);
    six(&mut p);
    let d = decide(&input(&s, &zones(OK, OK), &p));
    // dc-a lacks 2 masters, dc-b 1: a3, a4 and b3 stay masters; a5, b4, b5 become their
    // replicas in the other zone.
    let rep: Vec<(String, String)> = d
        .actions()
        .filter_map(|a| match &a.kind {
            ActionKind::Replicate { master_id } => Some((a.node_id.clone(), master_id.clone())),
            _ => None,
        })
        .collect();
    assert_eq!(rep.len(), 3, "{d:#?}");
    for (r, m) in &rep {
        assert!(
            [id("a3"), id("a4"), id("b3")].contains(m),
            "{r} replicates {m}"
        );
        let zone = |x: &str| if x == id("a5") { "dc-a" } else { "dc-b" };
        let mzone = if *m == id("b3") { "dc-b" } else { "dc-a" };
        assert_ne!(zone(r), mzone, "a replica across");
    }
    assert!(!d
        .actions()
        .any(|a| matches!(a.kind, ActionKind::MoveSlots { .. })));
}

/// Instances that arrive one at a time (a StatefulSet's pods, `OrderedReady`): a new master
/// already given a replica stays a new master when a later instance sorts before it, so that
/// no replica ends up following a node that became a replica itself.
#[test]
fn a_new_master_with_its_replica_stays_one_when_more_instances_arrive() {
    let mut p = policy(FailoverPolicy::Automatic);
    six(&mut p);
    // a3 is not there yet: a4, a5 and b3 stay masters; b4, b5 follow a4, a5.
    let mut s = seed_with_new();
    s.nodes.retain(|n| n.name.as_deref() != Some("a3"));
    mesh(&mut s);
    let d = decide(&input(&s, &zones(OK, OK), &p));
    let rep = |d: &redis_stretch_decide::Decision| -> Vec<(String, String)> {
        d.actions()
            .filter_map(|a| match &a.kind {
                ActionKind::Replicate { master_id } => Some((a.node_id.clone(), master_id.clone())),
                _ => None,
            })
            .collect()
    };
    let first = rep(&d);
    assert!(first.contains(&(id("b4"), id("a4"))), "{first:?}");
    assert!(first.contains(&(id("b5"), id("a5"))), "{first:?}");
    // Done; then a3 arrives, and sorts before a4 and a5.
    let mut s = seed_with_new();
    for (r, m) in [("b4", "a4"), ("b5", "a5")] {
        let n = get(&mut s, r);
        n.role = Some(Role::Replica);
        n.master_id = Some(id(m));
        n.link_up = Some(true);
    }
    mesh(&mut s);
    let then = rep(&decide(&input(&s, &zones(OK, OK), &p)));
    assert_eq!(
        then,
        vec![(id("a3"), id("b3"))],
        "a3 follows b3, a4 and a5 stay masters"
    );
}

/// The new masters with their replicas across, current.
fn paired() -> Snapshot {
    let mut s = seed_with_new();
    for (r, m) in [("b4", "a3"), ("b5", "a4"), ("a5", "b3")] {
        let n = get(&mut s, r);
        n.role = Some(Role::Replica);
        n.master_id = Some(id(m));
        n.link_up = Some(true);
        n.fence = Some(1);
    }
    mesh(&mut s);
    s
}

#[test]
fn scale_out_plans_an_even_share_for_six_and_moves_the_first_batch() {
    let s = paired();
    let mut p = policy(FailoverPolicy::Automatic);
    six(&mut p);
    let d = decide(&input(&s, &zones(OK, OK), &p));
    let Some(redis_stretch_decide::MigrationChange::Planned(plan)) = &d.migration else {
        panic!("no plan: {d:#?}");
    };
    // Half the slots move: each of the three new shards gets its share.
    assert_eq!(plan.total(), 8191, "{plan:#?}");
    let to: Vec<&String> = plan.moves.iter().map(|m| &m.to).collect();
    assert_eq!(to, vec![&id("a3"), &id("a4"), &id("b3")]);
    let moves: Vec<&Action> = d
        .actions()
        .filter(|a| matches!(a.kind, ActionKind::MoveSlots { .. }))
        .collect();
    assert_eq!(moves.len(), 1, "one batch a pass");
    let ActionKind::MoveSlots {
        to_id,
        slots,
        to_replica,
        method,
        ..
    } = &moves[0].kind
    else {
        unreachable!()
    };
    assert_eq!(moves[0].node_id, id("m1"), "from the first slot's owner");
    assert_eq!(to_id, &id("a3"));
    assert_eq!(slots.iter().map(SlotRange::len).sum::<usize>(), 64);
    assert!(to_replica.is_some(), "the receiver's replica across");
    assert_eq!(*method, redis_stretch_model::MigrationMethod::Classic);
    assert!(matches!(d.waiting_for, Some(Waiting::Scaling { .. })));
}

#[test]
fn a_new_master_takes_no_slots_before_its_replica_across_is_current() {
    let mut s = paired();
    get(&mut s, "b4").link_up = Some(false);
    get(&mut s, "b4").link_down_s = Some(1);
    mesh(&mut s);
    let mut p = policy(FailoverPolicy::Automatic);
    six(&mut p);
    let d = decide(&input(&s, &zones(OK, OK), &p));
    assert!(
        !d.actions()
            .any(|a| matches!(a.kind, ActionKind::MoveSlots { .. })),
        "{d:#?}"
    );
    assert!(
        matches!(d.waiting_for, Some(Waiting::Scaling { .. })),
        "{d:#?}"
    );
}

#[test]
fn a_slot_left_open_is_closed_before_anything_moves() {
    let mut s = paired();
    get(&mut s, "a3").open_slots = vec![redis_stretch_decide::OpenSlot {
        slot: 2731,
        importing: true,
        peer: id("m1"),
    }];
    let mut p = policy(FailoverPolicy::Automatic);
    six(&mut p);
    let d = decide(&input(&s, &zones(OK, OK), &p));
    let closes: Vec<&Action> = d.actions().collect();
    assert_eq!(closes.len(), 1, "{d:#?}");
    assert_eq!(closes[0].node_id, id("a3"));
    assert!(matches!(
        &closes[0].kind,
        ActionKind::CloseSlot { slot: 2731, owner_id, .. } if *owner_id == id("m1")
    ));
}

#[test]
fn a_dark_zone_comes_before_the_migration() {
    let mut s = paired();
    go_dark(&mut s, "dc-a");
    let mut p = policy(FailoverPolicy::Automatic);
    six(&mut p);
    let plan = redis_stretch_decide::Migration {
        started_ms: NOW_MS,
        shards: 6,
        moves: vec![redis_stretch_decide::SlotMove {
            to: id("a3"),
            slots: vec![SlotRange {
                start: 2731,
                end: 5460,
            }],
        }],
        in_flight: Vec::new(),
    };
    let d = decide(&Input {
        migration: Some(&plan),
        ..input(&s, &zones(DARK, OK), &p)
    });
    assert!(
        d.actions().all(|a| !matches!(
            a.kind,
            ActionKind::MoveSlots { .. } | ActionKind::Sweep { .. }
        )),
        "{d:#?}"
    );
    assert!(
        d.actions().any(Action::is_promotion),
        "the takeover: {d:#?}"
    );
}

#[test]
fn scale_in_retires_leaving_instances_once_they_serve_nothing() {
    // The seed, plus three leaving instances: an emptied master and two replicas.
    let mut s = seed();
    let mut a3 = node("a3", "dc-a", 7100, Role::Master, None, None, 0);
    a3.leaving = true;
    a3.fence = Some(0);
    let mut b3 = node("b3", "dc-b", 7101, Role::Replica, Some("a3"), None, 0);
    b3.leaving = true;
    s.nodes.extend([a3, b3]);
    mesh(&mut s);
    let p = policy(FailoverPolicy::Automatic);
    let d = decide(&input(&s, &zones(OK, OK), &p));
    let retired: Vec<&str> = d
        .actions()
        .filter_map(|a| match &a.kind {
            ActionKind::Retire {
                instance,
                forget_on,
            } => {
                assert_eq!(forget_on.len(), 6, "every instance that stays forgets it");
                Some(instance.as_str())
            }
            _ => None,
        })
        .collect();
    assert_eq!(retired, vec!["a3", "b3"], "{d:#?}");

    // A leaving master that still serves slots gives them away first.
    let mut s = seed();
    get(&mut s, "m3").leaving = true;
    get(&mut s, "r3").leaving = true;
    let mut p = policy(FailoverPolicy::Automatic);
    p.shards = 2;
    p.preferred = vec![("dc-a".into(), 2), ("dc-b".into(), 0)];
    let d = decide(&input(&s, &zones(OK, OK), &p));
    assert!(
        d.actions()
            .any(|a| matches!(a.kind, ActionKind::MoveSlots { .. }) && a.node_id == id("m3")),
        "{d:#?}"
    );
    assert!(!d
        .actions()
        .any(|a| matches!(a.kind, ActionKind::Retire { .. })));
}
