#![allow(clippy::panic)]
//! Model check of decide: the engine's loop (`support/engine.rs`, as the runner runs it)
//! applies decide's own actions to a model of Redis Cluster (`support/`) through generated
//! layouts and faults, and these must hold:
//! 1. convergence: within 50 s of simulated time after the last fault, decide asks for
//!    nothing and waits for what the end state calls for: `AsPreferred` when everything is
//!    back; `ZoneReturn` while a zone stays dark; `Partition` while a cut stands;
//!    `EngineCutOff` when both zones are dark. Where the policy (Manual, survivors below
//!    quorum) or a dark chosen side leaves the takeover to a person, decide must wait for
//!    that person with the right command, and the person's break-glass run must settle;
//! 2. ownership, once settled: every slot served by exactly one master on the side that
//!    serves, none left unserved while that side holds a current copy of it, and every such
//!    master accepting writes (unless the side is below quorum for want of copies);
//! 3. idempotence: settled stays settled for 5 s more of passes while Redis ticks on;
//! 4. safety, on every tick: no two masters the engine reaches accept writes for one slot
//!    (fencing on); no promotion targets a replica whose copy is never-synced or stale; the
//!    engine loop never runs TAKEOVER under policy Manual; and nothing the served side
//!    acknowledged is discarded when the sides meet again (epoch ordering).
//!
//! The named cases at the end run strictly; those marked `#[ignore]` are decide bugs this
//! check found, each a minimal case that fails until decide is fixed (`cargo test --test model
//! -- --ignored`). The property test lets exactly those through (each tolerance names its
//! test) to keep looking for others. `MODEL_LOG=1 … NAME -- --nocapture` prints every pass.

mod support;

use proptest::prelude::*;
use proptest::test_runner::{RngSeed, TestCaseError};
use redis_stretch_api::{Detection, FailbackPolicy, FailoverPolicy};
use redis_stretch_model::ServerFlavour;

use support::cluster::{Dark, ShardLayout};
use support::scenario::{run, Case, Fault, NODE_TIMEOUT_MS};

// Generators.

fn seed_layout() -> Vec<ShardLayout> {
    vec![
        ShardLayout {
            master_zone: 0,
            replica_zones: vec![1],
        },
        ShardLayout {
            master_zone: 0,
            replica_zones: vec![1],
        },
        ShardLayout {
            master_zone: 1,
            replica_zones: vec![0],
        },
    ]
}

/// 3–5 shards, one or two replicas each, masters in either zone; the first replica across
/// (as planned) or, now and then, beside its master. The preferred split is the layout's own,
/// or (for a layout that can fail back anywhere) any split.
fn layout() -> impl Strategy<Value = (Vec<ShardLayout>, u32)> {
    let random = (3usize..=5, 1usize..=2).prop_flat_map(|(n, replicas)| {
        (
            prop::collection::vec((0usize..2, prop::bool::weighted(0.85)), n),
            0..=n as u32,
            any::<bool>(),
        )
            .prop_map(move |(shards, split, as_laid_out)| {
                let layout: Vec<ShardLayout> = shards
                    .into_iter()
                    .map(|(m, across)| ShardLayout {
                        master_zone: m,
                        replica_zones: (0..replicas)
                            .map(|j| if (j % 2 == 0) == across { 1 - m } else { m })
                            .collect(),
                    })
                    .collect();
                let valid = layout.iter().all(|s| s.replica_zones[0] != s.master_zone);
                let laid_out = layout.iter().filter(|s| s.master_zone == 0).count() as u32;
                let preferred = if as_laid_out || !valid {
                    laid_out
                } else {
                    split
                };
                (layout, preferred)
            })
    });
    prop_oneof![1 => Just((seed_layout(), 2)), 3 => random]
}

fn how() -> impl Strategy<Value = Dark> {
    prop_oneof![Just(Dark::Isolated), Just(Dark::Crashed)]
}

/// One story of faults, each after a gap of engine passes; the optional steps heal it.
fn faults() -> impl Strategy<Value = Vec<(u32, Fault)>> {
    let gap = || 1u32..=15;
    let heal = || prop::option::of(1u32..=15);
    prop_oneof![
        1 => Just(vec![]),
        4 => (0usize..2, how(), gap(), heal()).prop_map(|(zone, how, g, back)| {
            let mut f = vec![(g, Fault::Dark { zone, how })];
            f.extend(back.map(|b| (b, Fault::Return { zone })));
            f
        }),
        3 => (gap(), heal()).prop_map(|(g, heal)| {
            let mut f = vec![(g, Fault::Cut)];
            f.extend(heal.map(|h| (h, Fault::Heal)));
            f
        }),
        2 => (gap(), 0usize..2, how(), gap(), heal(), heal()).prop_map(
            |(g, zone, how, d, back, heal)| {
                let mut f = vec![(g, Fault::Cut), (d, Fault::Dark { zone, how })];
                f.extend(back.map(|b| (b, Fault::Return { zone })));
                f.extend(heal.map(|h| (h, Fault::Heal)));
                f
            }
        ),
        2 => (0usize..2, how(), gap(), gap(), gap(), heal()).prop_map(
            |(zone, how, g, b, d, back)| {
                let mut f = vec![
                    (g, Fault::Dark { zone, how }),
                    (b, Fault::Return { zone }),
                    (d, Fault::Dark { zone, how }),
                ];
                f.extend(back.map(|b| (b, Fault::Return { zone })));
                f
            }
        ),
        2 => (gap(), 0usize..2, how(), gap(), heal()).prop_map(|(g, zone, how, d, back)| {
            // A rollout, and a zone lost in the middle of it (or not: `d` past the end).
            let mut f = vec![(g, Fault::Rollout), (d, Fault::Dark { zone, how })];
            f.extend(back.map(|b| (b, Fault::Return { zone })));
            f
        }),
        1 => gap().prop_map(|g| vec![(g, Fault::Rollout)]),
        1 => (gap(), gap(), heal()).prop_map(|(g, c, heal)| {
            // A rollout, and a cut between the zones in the middle of it.
            let mut f = vec![(g, Fault::Rollout), (c, Fault::Cut)];
            f.extend(heal.map(|h| (h, Fault::Heal)));
            f
        }),
        2 => (gap(), 0usize..16, heal()).prop_map(|(g, node, back)| {
            let mut f = vec![(g, Fault::Crash(node))];
            f.extend(back.map(|b| (b, Fault::RestartAll)));
            f
        }),
        2 => (gap(), 0usize..16, gap(), how(), heal()).prop_map(|(g, r, d, how, back)| {
            let mut f = vec![(g, Fault::BreakLink(r)), (d, Fault::DarkMasterZone { how })];
            if let Some(b) = back {
                f.push((b, Fault::ReturnAll));
                f.push((1, Fault::FixLinks));
            }
            f
        }),
    ]
}

prop_compose! {
    fn case()(
        (layout, preferred_a) in layout(),
        valkey in any::<bool>(),
        manual in prop::bool::weighted(0.3),
        manual_failback in prop::bool::weighted(0.2),
        fast in any::<bool>(),
        fencing in prop::bool::weighted(0.9),
        preferred_side in prop::option::weighted(0.2, 0usize..2),
        interval_ms in prop_oneof![Just(100u64), Just(200), Just(500)],
        fenced_at_start in any::<bool>(),
        faults in faults(),
    ) -> Case {
        Case {
            layout,
            preferred_a,
            flavour: if valkey { ServerFlavour::Valkey } else { ServerFlavour::Redis },
            failover: if manual { FailoverPolicy::Manual } else { FailoverPolicy::Automatic },
            failback: if manual_failback { FailbackPolicy::Manual } else { FailbackPolicy::Automatic },
            detection: if fast { Detection::Fast } else { Detection::Safe },
            fencing,
            preferred_side,
            interval_ms,
            node_timeout_ms: NODE_TIMEOUT_MS,
            fenced_at_start,
            faults,
        }
    }
}

/// A fixed seed unless `PROPTEST_RNG_SEED` asks for another: the same cases every run.
fn config() -> ProptestConfig {
    let mut c = ProptestConfig::default();
    if std::env::var_os("PROPTEST_CASES").is_none() {
        c.cases = 128;
    }
    if std::env::var_os("PROPTEST_RNG_SEED").is_none() {
        c.rng_seed = RngSeed::Fixed(0x5eed_2dc5);
    }
    c.failure_persistence = None;
    c
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn decide_converges_safely_on_the_model(case in case()) {
        run(&case, false).map_err(TestCaseError::fail)?;
    }
}

// Named cases: the layouts and faults of dc-failure.md, run strictly (known decide bugs fail).

impl Case {
    /// The seed layout (M1, M2, R3 in dc-a; M3, R1, R2 in dc-b), settled and fenced, the
    /// engine at its own 100 ms interval.
    fn seed(faults: Vec<(u32, Fault)>) -> Self {
        Self {
            layout: seed_layout(),
            preferred_a: 2,
            flavour: ServerFlavour::Redis,
            failover: FailoverPolicy::Automatic,
            failback: FailbackPolicy::Automatic,
            detection: Detection::Safe,
            fencing: true,
            preferred_side: None,
            interval_ms: 100,
            node_timeout_ms: NODE_TIMEOUT_MS,
            fenced_at_start: true,
            faults,
        }
    }
}

fn check(case: &Case) {
    if let Err(e) = run(case, true) {
        panic!("{e}");
    }
}

const A: usize = 0;
const B: usize = 1;

#[test]
fn majority_zone_crashes_is_taken_over_and_failed_back_when_it_returns() {
    check(&Case::seed(vec![
        (
            10,
            Fault::Dark {
                zone: A,
                how: Dark::Crashed,
            },
        ),
        (100, Fault::Return { zone: A }),
    ]));
}

#[test]
fn minority_zone_cut_off_is_failed_over_and_back_when_it_returns() {
    check(&Case::seed(vec![
        (
            10,
            Fault::Dark {
                zone: B,
                how: Dark::Isolated,
            },
        ),
        (100, Fault::Return { zone: B }),
    ]));
}

#[test]
fn a_cut_seen_from_a_third_site_is_decided_then_healed() {
    check(&Case::seed(vec![(10, Fault::Cut), (100, Fault::Heal)]));
    check(&Case::seed(vec![(10, Fault::Cut)]));
}

#[test]
fn manual_policy_waits_for_a_person_and_promotes_nothing_meanwhile() {
    check(&Case {
        failover: FailoverPolicy::Manual,
        ..Case::seed(vec![(
            10,
            Fault::Dark {
                zone: A,
                how: Dark::Crashed,
            },
        )])
    });
}

#[test]
fn a_replica_that_fell_behind_before_its_zone_was_lost_is_not_promoted() {
    // R1's link fails 8 s before dc-a goes: its copy is stale, R2's is current.
    check(&Case::seed(vec![
        (5, Fault::BreakLink(0)),
        (
            80,
            Fault::Dark {
                zone: A,
                how: Dark::Crashed,
            },
        ),
    ]));
}

/// Issue 16, finding 1: R1 (dc-b) restarts and has not synced with M1 when dc-a crashes.
/// The engine takes over R2 only; M3 and R2 are then a majority, so Redis marks M1 failed and
/// would elect R1, empty, whose epoch then wipes M1's data when dc-a returns. The restarted
/// instance starts with `cluster-replica-no-failover yes` (redis.conf): nothing elects it.
#[test]
fn a_replica_restarted_empty_is_not_elected_when_its_masters_zone_is_lost() {
    check(&Case::seed(vec![
        (10, Fault::Crash(1)),
        (1, Fault::RestartAll),
        (
            1,
            Fault::Dark {
                zone: A,
                how: Dark::Crashed,
            },
        ),
        (60, Fault::Return { zone: A }),
    ]));
}

// Known decide bugs the model found: each a minimal case, failing until decide is fixed.

/// Drift repair moves R2 (dc-b, beside its master) to M1's shard in dc-a with `CLUSTER
/// REPLICATE`; 100 ms later the zones are cut. R2 has not finished its full sync with M1, but
/// Redis 7 reports `master_link_down_since_seconds` from the moment it left its old master, so
/// `best_replica` counts it as a current copy lost with the zone and decide fails M1's shard
/// over to a replica that holds M2's data.
#[test]
fn a_replica_moved_to_another_shard_is_not_promoted_mid_sync() {
    let layout = vec![
        ShardLayout {
            master_zone: A,
            replica_zones: vec![A],
        },
        ShardLayout {
            master_zone: B,
            replica_zones: vec![B],
        },
        ShardLayout {
            master_zone: B,
            replica_zones: vec![B],
        },
    ];
    check(&Case {
        layout,
        preferred_a: 1,
        ..Case::seed(vec![(1, Fault::Cut)])
    });
}

/// dc-a, the side chosen in a cut, goes dark: decide waits for a person
/// (`ChosenSideDark`), who runs `takeover --zone dc-b`. That takeover ends the partition the
/// engine remembers (the command's memory is the engine's: on a local cluster it stands in
/// for the engine), so the loop then tends the survivors and waits for dc-a (`ZoneReturn`).
#[test]
fn after_a_persons_takeover_the_chosen_side_going_dark_is_settled() {
    check(&Case::seed(vec![
        (10, Fault::Cut),
        (
            30,
            Fault::Dark {
                zone: A,
                how: Dark::Isolated,
            },
        ),
    ]));
}

/// Policy Manual, dc-a lost; R1's and R2's links had failed 8 s earlier, so neither holds a
/// current copy. decide rightly promotes neither, and asks for `takeover --zone dc-b`; the
/// person runs it, and it has nothing to do. decide keeps asking for it (Manual waits for a
/// person while any orphan is left, promotable or not) instead of waiting for dc-a.
#[test]
#[ignore = "decide bug: policy Manual keeps asking for takeover when no orphan has a promotable replica"]
fn after_a_persons_takeover_manual_policy_stops_asking_for_one() {
    check(&Case {
        failover: FailoverPolicy::Manual,
        ..Case::seed(vec![
            (5, Fault::BreakLink(0)),
            (1, Fault::BreakLink(1)),
            (
                80,
                Fault::Dark {
                    zone: A,
                    how: Dark::Crashed,
                },
            ),
        ])
    });
}

/// `preferredSide` outranks the side that served while the other was lost (`choose`), so
/// the engine switches sides in the middle of an outage. dc-b is `preferredSide`. A cut, and
/// before it is confirmed the engine also loses dc-b: it takes dc-b's shard over in dc-a (R3)
/// and dc-a serves every slot. dc-b answers the engine again, still cut from dc-a; decide now
/// confirms the cut and keeps dc-b, the preferred side: dc-a is shut and dc-b takes M1's and
/// M2's shards over at newer epochs, so at the heal every write M1 and M2 acknowledged while
/// dc-a was the side served is discarded. (Preferring dc-a in the mirror case — dc-a lost,
/// taken over by dc-b, back still cut — shuts dc-b and keeps dc-a's M1 and M2 fenced as
/// stale: two of three shards refuse writes on both sides for the whole cut.)
#[test]
#[ignore = "decide bug: preferredSide wins over the side that served while it was lost"]
fn the_side_that_served_during_a_loss_keeps_serving_whatever_the_preferred_side() {
    check(&Case {
        preferred_side: Some(B),
        interval_ms: 200,
        ..Case::seed(vec![
            (1, Fault::Cut),
            (
                1,
                Fault::Dark {
                    zone: B,
                    how: Dark::Isolated,
                },
            ),
            (10, Fault::Return { zone: B }),
            (9, Fault::Heal),
        ])
    });
}

/// An instance that restarts loses every `CONFIG SET`: it comes back with the config file's
/// `min-replicas-to-write 0`, and Redis lets a restarted master serve after 2 s
/// (CLUSTER_WRITABLE_DELAY), while it still counts its silent peers as reachable until
/// node-timeout. decide re-fences a zone that returns into a standing cut not yet decided only
/// once the cut is confirmed, counted from the return (`healthy_for_ms`): 3/4 of
/// node-timeout. At node-timeout 6 s that exceeds 2 s, and both sides accept writes for the
/// same slots (at the 2 s default they do not). (A cut already decided is held while the
/// zones do not hear each other, whenever the engine began watching: the next test.)
#[test]
#[ignore = "decide bug: a zone that restarts into a standing cut is not re-fenced before its masters serve again"]
fn a_zone_that_returns_into_a_cut_comes_back_unfenced() {
    // The cut is not decided yet when dc-a crashes; dc-b takes over; dc-a restarts, still cut.
    check(&Case {
        node_timeout_ms: 6000,
        ..Case::seed(vec![
            (10, Fault::Cut),
            (
                1,
                Fault::Dark {
                    zone: A,
                    how: Dark::Crashed,
                },
            ),
            (80, Fault::Return { zone: A }),
        ])
    });
}

/// The decided case: dc-b, shut, restarts into the cut with `min-replicas-to-write 0`, and
/// is shut again at once. (It waited for the cut to be confirmed again, counted from dc-b's
/// return, before a side already chosen was held on the silence across alone.)
#[test]
fn a_fenced_side_that_restarts_during_the_cut_is_shut_again() {
    // dc-a is chosen; dc-b, fenced, crashes and restarts while the cut stands.
    check(&Case {
        node_timeout_ms: 6000,
        ..Case::seed(vec![
            (10, Fault::Cut),
            (
                60,
                Fault::Dark {
                    zone: B,
                    how: Dark::Crashed,
                },
            ),
            (80, Fault::Return { zone: B }),
        ])
    });
}

/// Every master in dc-a, their replicas in dc-b. A cut, decided (dc-a serves, dc-b shut);
/// then the engine loses dc-b for a moment (its own path to it) while the cut stands. When
/// dc-b answers again, the silence across counted from then (`healthy_for_ms`) looked short:
/// `partition` took it for a heal and, no slot being claimed twice, reported `Healed` at once;
/// the engine forgot the side it chose, let the usual repair turn dc-b's shut fences (100)
/// into ordinary ones, and confirmed the cut all over again. A side already chosen is now held
/// while the zones do not hear each other, however long the engine has seen both answer (the
/// same as an engine restarted in a cut: crates/cli/tests/crash_points.rs).
#[test]
fn a_standing_cut_is_not_declared_healed_when_a_zone_answers_again() {
    let across = || ShardLayout {
        master_zone: A,
        replica_zones: vec![B],
    };
    check(&Case {
        layout: vec![across(), across(), across()],
        preferred_a: 3,
        ..Case::seed(vec![
            (10, Fault::Cut),
            (
                30,
                Fault::Dark {
                    zone: B,
                    how: Dark::Isolated,
                },
            ),
            (5, Fault::Return { zone: B }),
        ])
    });
}

/// decide's epoch margin for the served side (BUMPEPOCH on a kept master whose replica is on
/// the other side) comes only on the pass after its promotions, and only while the zone is
/// still lost and that replica still a replica. When Redis elects the replica first, or the
/// zone is back first, the served master keeps an epoch the other side beats, and everything
/// it acknowledged as the served side is discarded when the sides meet (fencing off, so the
/// loss shows as writes; with fencing on the master is instead held fenced as "stale").
///
/// First case, `preferredSide: dc-b`: a cut, and the engine loses dc-b for a second, so it
/// confirms the cut late; by then dc-a, holding the majority of masters, has had Redis elect
/// R3 for M3's slots. decide keeps dc-b and takes M1's and M2's shards over; R3 is a master
/// already, so M3 is not bumped. Second case: dc-a is lost and taken over, and comes back on
/// the very next pass, before the bump; a second short outage of dc-a lets Redis there elect
/// R3 at a newer epoch than M3's.
#[test]
fn a_served_master_whose_replica_the_other_side_elected_is_bumped() {
    check(&Case {
        preferred_side: Some(B),
        fencing: false,
        interval_ms: 200,
        ..Case::seed(vec![
            (1, Fault::Cut),
            (
                1,
                Fault::Dark {
                    zone: B,
                    how: Dark::Isolated,
                },
            ),
            (5, Fault::Return { zone: B }),
            (12, Fault::Heal),
        ])
    });
}

#[test]
#[ignore = "decide bug: a served master is not bumped when the zone came back before the bump"]
fn a_served_master_is_bumped_even_when_the_zone_returns_at_once() {
    check(&Case {
        fencing: false,
        interval_ms: 200,
        ..Case::seed(vec![
            (
                1,
                Fault::Dark {
                    zone: A,
                    how: Dark::Isolated,
                },
            ),
            (10, Fault::Return { zone: A }),
            (
                2,
                Fault::Dark {
                    zone: A,
                    how: Dark::Isolated,
                },
            ),
            (1, Fault::Return { zone: A }),
        ])
    });
}

/// dc-a is cut off for 1.2 s, twice, 1.1 s apart: each time shorter than the confirmation
/// window, so the engine does nothing. But the links across come back only a second after
/// the path does, so dc-a's instances do not hear M3 for over node-timeout, and dc-a, holding
/// the majority of masters, has Redis elect R3 for M3's slots (fenced, as every replica is).
/// When dc-a answers again, M3 still serves those slots in dc-b until the links are back;
/// decide sees R3 as a master whose replica across is gone ("a single dead replica must not
/// stop the shard") and unfences it: both accept writes for the same slots, and M3's are
/// discarded when they meet. A master whose slots another master still claims, older or
/// newer, should keep its fence.
#[test]
#[ignore = "decide bug: a master Redis elected on the other side is unfenced while the old master still serves its slots"]
fn a_master_redis_elected_behind_a_short_isolation_stays_fenced() {
    check(&Case::seed(vec![
        (
            1,
            Fault::Dark {
                zone: A,
                how: Dark::Isolated,
            },
        ),
        (12, Fault::Return { zone: A }),
        (
            11,
            Fault::Dark {
                zone: A,
                how: Dark::Isolated,
            },
        ),
        (9, Fault::Return { zone: A }),
    ]));
}

/// Failback Manual. dc-b, holding the majority of masters, is cut off for 2.2 s: dc-a takes
/// M1's and M2's shards over, and dc-b, behind its cut, has Redis elect R3 for M3's slots with
/// the votes of M1 and M2. dc-b returns; the person runs `failback`, which skips the
/// hold-down, and decide asks R3 for a graceful failover within 2 × node-timeout of that
/// election: M1 and M2 must refuse their votes (Redis votes for a replica of a given master
/// once per 2 × node-timeout), so the failover fails and M3 pauses its writers for 5 s.
/// decide cannot see a voter's last vote, but it sees that the shard changed hands recently.
#[test]
#[ignore = "decide bug: a person's failback asks a graceful failover that voters must refuse"]
fn a_persons_failback_right_after_a_return_asks_no_refused_failover() {
    let at = |m: usize, r: usize| ShardLayout {
        master_zone: m,
        replica_zones: vec![r],
    };
    check(&Case {
        layout: vec![at(B, A), at(B, A), at(A, B)],
        preferred_a: 0,
        fencing: false,
        failback: FailbackPolicy::Manual,
        interval_ms: 200,
        ..Case::seed(vec![
            (
                1,
                Fault::Dark {
                    zone: B,
                    how: Dark::Isolated,
                },
            ),
            (11, Fault::Return { zone: B }),
        ])
    });
}

/// Issue 17: a rollout restarts every instance, one at a time (replicas first, each master
/// after a graceful failover), and ends with the masters where the spec prefers them.
#[test]
fn a_rollout_restarts_every_instance_and_ends_as_preferred() {
    check(&Case::seed(vec![(10, Fault::Rollout)]));
}

/// Issue 17: dc-a, with the majority of masters, goes dark in the middle of a rollout: the
/// takeover comes first, the rollout resumes once dc-a is back and ends as preferred.
#[test]
fn a_zone_lost_in_the_middle_of_a_rollout_is_taken_over_and_the_rollout_finishes() {
    check(&Case::seed(vec![
        (10, Fault::Rollout),
        (
            25,
            Fault::Dark {
                zone: A,
                how: Dark::Crashed,
            },
        ),
        (40, Fault::Return { zone: A }),
    ]));
}

/// Issue 17: the same under failback Manual: the rollout moved the masters, so it restores
/// the layout itself instead of waiting for a person.
#[test]
fn a_rollout_restores_the_layout_under_failback_manual() {
    check(&Case {
        failback: FailbackPolicy::Manual,
        ..Case::seed(vec![(10, Fault::Rollout)])
    });
}

/// Found by the property test: a rollout, then dc-a isolated for a moment (M1, M2 taken over
/// in dc-b) and back, with M3's only replica beside it in dc-b.
#[test]
fn a_rollout_interrupted_by_a_short_loss_finishes() {
    let at = |m: usize, r: usize| ShardLayout {
        master_zone: m,
        replica_zones: vec![r],
    };
    check(&Case {
        layout: vec![at(A, B), at(A, B), at(B, B)],
        preferred_a: 2,
        fencing: false,
        detection: Detection::Fast,
        interval_ms: 100,
        ..Case::seed(vec![
            (1, Fault::Rollout),
            (
                1,
                Fault::Dark {
                    zone: A,
                    how: Dark::Isolated,
                },
            ),
            (7, Fault::Return { zone: A }),
        ])
    });
}

/// Found by the property test with another seed (and failing on the code before the rollout
/// as well): every master failed back into dc-b (preferred 0 in dc-a), then one of them
/// crashes; its replica in dc-a is never elected, and decide waits for Redis to elect it for
/// good.
#[test]
#[ignore = "decide bug: a crashed master's replica is never elected after a failback into the other zone"]
fn a_crashed_master_after_a_failback_into_the_other_zone_is_replaced() {
    let at = |m: usize, r: usize| ShardLayout {
        master_zone: m,
        replica_zones: vec![r],
    };
    check(&Case {
        layout: vec![at(A, B), at(A, B), at(A, B)],
        preferred_a: 0,
        fencing: false,
        interval_ms: 100,
        ..Case::seed(vec![(2, Fault::Crash(13))])
    });
}
