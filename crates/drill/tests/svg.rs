#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! The report and its SVG from a synthetic recording: no cluster needed, every number known.

mod support;

use std::collections::HashMap;
use std::time::{Duration, Instant};

use redis_stretch_drill::verify::Readback;
use redis_stretch_drill::{
    svg, DrillConfig, DrillReport, ErrorClass, Phase, PhaseKind, ProbeRecord, Recorded, ShardInfo,
    WriteOutcome, WriteRecord, WriterKind,
};

const MS: u64 = 1000;

/// 12 s; "zone killed" at 3 s; shard 1 and 2 unwritable 3.0–5.3 s (shard 3 never); plain writes
/// fail in that span, WAIT writes to those shards are not acknowledged; "zone restored" at 8 s
/// with a 40 ms blip on shard 1.
fn synthetic() -> Recorded {
    let shards = (0..3u16)
        .map(|i| ShardInfo {
            name: format!("shard {}", i + 1),
            master_at_start: format!("127.0.{}.1:7000", i + 1),
            ranges: vec![(i * 5461, if i == 2 { 16383 } else { i * 5461 + 5460 })],
            probe_slot: i * 5461 + 100,
        })
        .collect();
    let down = |shard: usize, t: u64| {
        (shard < 2 && (3000 * MS..5300 * MS).contains(&t))
            || (shard == 0 && (8000 * MS..8040 * MS).contains(&t))
    };
    let mut writes = Vec::new();
    for kind in WriterKind::ALL {
        for seq in 0..1200u64 {
            let start = seq * 10 * MS; // 100 writes/s
            let shard = (seq % 3) as usize;
            let outcome = match (kind, down(shard, start)) {
                (_, false) => WriteOutcome::Acked,
                (WriterKind::Plain, true) => WriteOutcome::Failed {
                    class: ErrorClass::Timeout,
                },
                (WriterKind::Wait, true) => WriteOutcome::NotAcknowledged,
            };
            writes.push(WriteRecord {
                writer: kind,
                seq,
                start_us: start,
                end_us: start + 2 * MS,
                tries: 1,
                outcome,
            });
        }
    }
    let mut probes = Vec::new();
    for shard in 0..3 {
        for k in 0..600u64 {
            let start = k * 20 * MS;
            probes.push(ProbeRecord {
                shard,
                start_us: start,
                end_us: start + MS,
                error: down(shard, start).then_some(ErrorClass::ClusterDown),
            });
        }
    }
    let phase = |name: &str, kind, ms: u64| Phase {
        name: name.to_owned(),
        kind,
        at_us: ms * MS,
    };
    Recorded {
        run: "synthetic".to_owned(),
        epoch: Instant::now(),
        duration_us: 12_000 * MS,
        shards,
        phases: vec![
            phase("zone killed", PhaseKind::Fault, 3000),
            phase("takeover", PhaseKind::Milestone, 4500),
            phase("zone restored", PhaseKind::Fault, 8000),
            phase("failback done", PhaseKind::Milestone, 9500),
        ],
        writes,
        probes,
        skipped_ticks: vec![(WriterKind::Plain, 0), (WriterKind::Wait, 7)],
        topology_refreshes: 4,
    }
}

fn report() -> DrillReport {
    let rec = synthetic();
    let mut readback = HashMap::new();
    readback.insert(
        WriterKind::Plain,
        Readback {
            checked: 1000,
            lost: 2,
            lost_sample: vec!["k1".into(), "k2".into()],
            ..Readback::default()
        },
    );
    let cfg = DrillConfig {
        rate_per_writer: 100,
        retry_window: Duration::from_millis(1000),
        ..DrillConfig::default()
    };
    let mut r = DrillReport::build(&rec, &cfg, &readback);
    r.cluster_check.push((
        "after failback".into(),
        true,
        "all 16384 slots covered".into(),
    ));
    r
}

#[test]
fn report_figures_follow_the_definitions() {
    let r = report();
    // Last failed probe of the slowest shard starts at 5280 ms; the next one (5300) ends 1 ms
    // later: 2301 ms after the fault.
    assert_eq!(r.rto_ms, Some(2301.0));
    assert_eq!(r.faults.len(), 2);
    assert_eq!(r.faults[0].shards[2].first_failure_ms, None);
    assert_eq!(r.faults[0].shards[2].writable_again_ms, Some(0.0));
    assert_eq!(r.faults[1].rto_ms, Some(41.0));
    let plain = &r.faults[0].writers[0];
    assert_eq!(plain.writer, WriterKind::Plain);
    assert!(plain.failed > 0);
    let w = plain.failed_window.unwrap();
    assert_eq!(w.from_ms, 0.0);
    assert!(w.to_ms < 2300.0 && w.to_ms > 2200.0, "{w:?}");
    let wait = &r.faults[0].writers[1];
    assert_eq!(wait.failed, 0);
    assert!(wait.not_acknowledged > 0);
    assert_eq!(r.plain_writes_lost, 2);
    assert_eq!(r.acked_writes_lost, 0);
    assert_eq!(r.failed_before_first_fault, 0);
    assert_eq!(r.buckets.len(), 121);
    // 100 ms buckets of a 100 writes/s writer hold 10 writes each.
    let b = &r.buckets[10];
    assert_eq!(
        b.writers[0].ok + b.writers[0].failed + b.writers[0].not_acknowledged,
        10
    );
    assert_eq!(
        r.buckets[35].shards_writable,
        vec![Some(false), Some(false), Some(true)]
    );

    let json = serde_json::to_value(&r).unwrap();
    assert_eq!(json["rto_ms"], 2301.0);
    assert_eq!(json["phases"][0]["kind"], "fault");
    assert_eq!(
        json["writers"][0]["failed_by_class"]["timeout"],
        r.writers[0].failed
    );
    assert_eq!(
        r.writers[0].failed,
        plain.failed + 1,
        "one more in the restore blip"
    );

    let table = r.to_string();
    for needle in [
        "zone killed",
        "RTO",
        "failback done",
        "plain writes lost",
        "clean",
    ] {
        assert!(table.contains(needle), "table lacks {needle}:\n{table}");
    }
}

#[test]
fn svg_has_phases_rto_and_is_well_formed() {
    let r = report();
    let svg = svg::render(&r);
    support::well_formed(&svg).unwrap();
    assert!(svg.starts_with("<svg xmlns=\"http://www.w3.org/2000/svg\""));
    for needle in [
        "zone killed",
        "takeover",
        "zone restored",
        "failback done",
        "RTO 2.30 s",
        "writes/s",
        "shard 3",
    ] {
        assert!(svg.contains(needle), "svg lacks {needle}");
    }
    let out = std::env::temp_dir().join("redis-stretch-drill-synthetic.svg");
    std::fs::write(&out, &svg).unwrap();
    eprintln!("wrote {}", out.display());
}

#[test]
fn svg_escapes_phase_names() {
    let mut r = report();
    r.phases[0].name = "kill <dc-a> & \"wait\"".into();
    support::well_formed(&svg::render(&r)).unwrap();
}
