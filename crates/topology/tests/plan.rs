#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::{BTreeMap, BTreeSet};

use proptest::prelude::*;
use redis_stretch_api::{load_manifest, ValidatedCluster};
use redis_stretch_topology::{
    hosts_needed, plan, summary_line, survivability, Copy, PlanError, Role, ShardLayout, Verdict,
    SLOT_COUNT,
};

const SEED: &str = include_str!("../../../examples/seed-two-dc.yaml");

fn cluster(shards: u32, replicas: u32, a_masters: u32) -> ValidatedCluster {
    load_manifest(&format!(
        "apiVersion: redis-stretch.io/v1alpha1\nkind: RedisStretchCluster\nmetadata: {{name: t}}\n\
         spec:\n  shards: {shards}\n  replicasPerShard: {replicas}\n  zones:\n\
         \x20   - {{name: dc-a, preferredMasters: {a_masters}}}\n\
         \x20   - {{name: dc-b, preferredMasters: {}}}\n",
        shards - a_masters
    ))
    .expect("valid test spec")
}

fn hosts(a: usize, b: usize) -> BTreeMap<String, Vec<String>> {
    BTreeMap::from([
        (
            "dc-a".to_owned(),
            (1..=a).map(|i| format!("a{i}")).collect(),
        ),
        (
            "dc-b".to_owned(),
            (1..=b).map(|i| format!("b{i}")).collect(),
        ),
    ])
}

#[test]
fn seed_plan_matches_the_recipe() {
    let c = load_manifest(SEED).unwrap();
    assert_eq!(
        hosts_needed(&c),
        vec![("dc-a".to_owned(), 3), ("dc-b".to_owned(), 3)]
    );
    let p = plan(&c, &hosts(3, 3)).unwrap();
    let masters: Vec<(&str, &str)> = p
        .shards
        .iter()
        .map(|s| (s.master.zone.as_str(), s.replicas[0].zone.as_str()))
        .collect();
    assert_eq!(
        masters,
        vec![("dc-a", "dc-b"), ("dc-a", "dc-b"), ("dc-b", "dc-a")]
    );
    let v = survivability(&p.layout(), &c.zone_names());
    assert_eq!(v[0].verdict, Verdict::NeedsTakeover);
    assert_eq!(v[1].verdict, Verdict::Automatic);
    assert_eq!(
        summary_line(&v),
        "loss of dc-b: automatic; loss of dc-a: needs takeover"
    );
}

#[test]
fn too_few_hosts_is_an_error_naming_the_zone() {
    let c = load_manifest(SEED).unwrap();
    let e = plan(&c, &hosts(3, 2)).unwrap_err();
    assert_eq!(
        e,
        PlanError::NotEnoughHosts {
            zone: "dc-b".into(),
            have: 2,
            need: 3
        }
    );
    assert!(e.to_string().contains("add hosts to `dc-b`"));
}

#[test]
fn duplicate_hosts_are_rejected() {
    let c = load_manifest(SEED).unwrap();
    let mut h = hosts(3, 3);
    h.get_mut("dc-b").unwrap()[0] = "a1".into();
    assert!(matches!(plan(&c, &h), Err(PlanError::DuplicateHost { .. })));
}

fn copy(zone: &str, healthy: bool) -> Copy {
    Copy {
        zone: zone.into(),
        healthy,
    }
}

#[test]
fn a_shard_living_in_one_zone_is_data_loss() {
    let shards = vec![
        ShardLayout {
            name: "s0".into(),
            master: Some(copy("dc-a", true)),
            replicas: vec![copy("dc-a", true)],
        },
        ShardLayout {
            name: "s1".into(),
            master: Some(copy("dc-b", true)),
            replicas: vec![copy("dc-a", true)],
        },
    ];
    let v = survivability(&shards, &["dc-a", "dc-b"]);
    assert_eq!(v[0].verdict, Verdict::DataLoss);
    assert_eq!(v[0].shards_lost, vec!["s0".to_owned()]);
    assert_eq!(v[1].verdict, Verdict::NeedsTakeover);
}

#[test]
fn a_replica_that_is_down_does_not_count_as_a_copy() {
    let shards = vec![ShardLayout {
        name: "s0".into(),
        master: Some(copy("dc-a", true)),
        replicas: vec![copy("dc-b", false)],
    }];
    let v = survivability(&shards, &["dc-a", "dc-b"]);
    assert_eq!(v[0].verdict, Verdict::DataLoss);
    assert_eq!(v[1].verdict, Verdict::Automatic);
}

proptest! {
    #[test]
    fn plans_keep_every_invariant(
        shards in 1u32..40,
        replicas in 1u32..4,
        a_share in 0.0f64..=1.0,
        spare_a in 0usize..4,
        spare_b in 0usize..4,
    ) {
        let a_masters = ((f64::from(shards) * a_share).round() as u32).min(shards);
        let c = cluster(shards, replicas, a_masters);
        let need: BTreeMap<String, usize> = hosts_needed(&c).into_iter().collect();
        let h = hosts(need["dc-a"] + spare_a, need["dc-b"] + spare_b);
        let p = plan(&c, &h).unwrap();

        // One instance per host, and only hosts of the instance's zone.
        let mut used = BTreeSet::new();
        for i in p.instances() {
            prop_assert!(used.insert(i.host.clone()), "host {} used twice", i.host);
            prop_assert!(h[&i.zone].contains(&i.host));
        }
        prop_assert_eq!(used.len() as u32, shards * (1 + replicas));

        // Slots: all covered, once, in order.
        let mut next = 0u32;
        for s in &p.shards {
            prop_assert_eq!(u32::from(s.slots.start), next);
            next = u32::from(s.slots.end) + 1;
        }
        prop_assert_eq!(next, u32::from(SLOT_COUNT));

        // Masters per zone as preferred; first replica across the zone boundary.
        let in_a = p.shards.iter().filter(|s| s.master.zone == "dc-a").count() as u32;
        prop_assert_eq!(in_a, a_masters);
        for s in &p.shards {
            prop_assert_eq!(s.master.role, Role::Master);
            prop_assert_eq!(s.replicas.len() as u32, replicas);
            prop_assert_ne!(&s.replicas[0].zone, &s.master.zone);
            prop_assert!(s.replicas.iter().all(|r| r.role == Role::Replica && r.shard == s.index));
        }

        // Losing either zone never loses data, and needs a takeover exactly when the zone held
        // at least half of the masters.
        let v = survivability(&p.layout(), &c.zone_names());
        for z in &v {
            prop_assert_ne!(z.verdict, Verdict::DataLoss);
            let lost = z.masters_lost as u32;
            let expect = if lost > 0 && shards - lost < shards / 2 + 1 {
                Verdict::NeedsTakeover
            } else {
                Verdict::Automatic
            };
            prop_assert_eq!(z.verdict, expect);
        }
    }

    #[test]
    fn short_zones_fail_cleanly(shards in 1u32..20, cut in 1usize..5) {
        let c = cluster(shards, 1, shards.div_ceil(2));
        let need: BTreeMap<String, usize> = hosts_needed(&c).into_iter().collect();
        let short = need["dc-b"].saturating_sub(cut);
        let is_not_enough = matches!(
            plan(&c, &hosts(need["dc-a"], short)),
            Err(PlanError::NotEnoughHosts { .. })
        );
        prop_assert!(is_not_enough);
    }
}
