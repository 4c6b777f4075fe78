//! Per-shard writability probe and the recovery arithmetic built on it.
//!
//! Every `probe_interval` (default 20 ms) the probe writes one key per shard, into a slot that
//! shard owned when the drill started. A failover or takeover moves *all* slots of a master
//! together, so one slot witnesses its whole shard. Each probe is one try, never retried,
//! bounded by `probe_timeout`: a probe answers "did this shard take a write *now*", which is
//! what RTO is about — the writers' retry policy answers a different question.
//!
//! # Definitions (all times relative to the workload's epoch)
//! - A shard is **sampled writable** at a probe's start time if that probe succeeded.
//! - A shard **recovered at** `R` within a window `[from, to)`: let `f` be the failed probe with
//!   the latest start in the window; `R` is the earliest *end* time of a successful probe
//!   started after `f` (so every probe the shard got after `f` succeeded, and the first of them
//!   had been acknowledged by `R`). A shard with no failure in the window recovered at `from`.
//!   A shard whose last probe in the window failed has not recovered.
//! - **All slots writable** at `R = max` over shards of their recovery: from `R` on, every
//!   shard's probe succeeds and keeps succeeding until the end of the window.
//! - **RTO** of a fault marked at `F` = `R − F` over the window from `F` to the next fault mark
//!   (or the end of the drill). Its resolution is one probe interval plus one probe's latency.

use redis_stretch_topology::SLOT_COUNT;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use redis::aio::ConnectionLike;
use redis::Value;
use serde::Serialize;
use tokio::sync::watch;
use tokio::task::JoinSet;

use crate::connection::Connection;
use crate::slots::probe_key;
use crate::writer::{since, KEY_TTL_SECS};
use crate::ErrorClass;

/// A shard as it was when the drill started: the slot ranges of one master.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ShardInfo {
    /// `shard 1` … in slot order.
    pub name: String,
    /// `host:port` of the master that owned these slots at the start.
    pub master_at_start: String,
    /// Inclusive slot ranges.
    pub ranges: Vec<(u16, u16)>,
    /// The slot the probe writes to.
    pub probe_slot: u16,
}

impl ShardInfo {
    pub fn ranges_label(&self) -> String {
        self.ranges
            .iter()
            .map(|(a, b)| format!("{a}-{b}"))
            .collect::<Vec<_>>()
            .join(",")
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ProbeRecord {
    /// Index into the shard list.
    pub shard: usize,
    pub start_us: u64,
    pub end_us: u64,
    /// `None` when the write succeeded.
    pub error: Option<ErrorClass>,
}

impl ProbeRecord {
    pub fn ok(&self) -> bool {
        self.error.is_none()
    }
}

/// When one shard recovered within `[from, to)`; see the module docs. `probes` in any order.
pub fn shard_recovered_at(probes: &[&ProbeRecord], from: u64, to: u64) -> Option<u64> {
    let mut window: Vec<&&ProbeRecord> = probes
        .iter()
        .filter(|p| p.start_us >= from && p.start_us < to)
        .collect();
    if window.is_empty() {
        // Never sampled: nothing proves it writable.
        return None;
    }
    window.sort_by_key(|p| p.start_us);
    match window.iter().rposition(|p| !p.ok()) {
        None => Some(from),
        Some(last_failure) => window[last_failure + 1..].iter().map(|p| p.end_us).min(),
    }
}

/// Per shard: the first failed probe's start and the recovery point within `[from, to)`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ShardRecovery {
    pub shard: usize,
    pub first_failure_us: Option<u64>,
    pub recovered_us: Option<u64>,
}

pub fn recoveries(probes: &[ProbeRecord], shards: usize, from: u64, to: u64) -> Vec<ShardRecovery> {
    (0..shards)
        .map(|s| {
            let mine: Vec<&ProbeRecord> = probes.iter().filter(|p| p.shard == s).collect();
            ShardRecovery {
                shard: s,
                first_failure_us: mine
                    .iter()
                    .filter(|p| !p.ok() && p.start_us >= from && p.start_us < to)
                    .map(|p| p.start_us)
                    .min(),
                recovered_us: shard_recovered_at(&mine, from, to),
            }
        })
        .collect()
}

/// The moment all slots were writable again, if they were.
pub fn all_writable_at(recoveries: &[ShardRecovery]) -> Option<u64> {
    let mut latest = 0;
    for r in recoveries {
        latest = latest.max(r.recovered_us?);
    }
    Some(latest)
}

pub(crate) struct Probe {
    pub shards: Vec<ShardInfo>,
    pub run: Arc<str>,
    pub interval: Duration,
    pub timeout: Duration,
    pub conn: Arc<Connection>,
    pub epoch: Instant,
    pub sink: Arc<Mutex<Vec<ProbeRecord>>>,
    pub stop: watch::Receiver<bool>,
    pub deadline: Instant,
}

impl Probe {
    pub(crate) async fn run(mut self) {
        let mut ticker = tokio::time::interval(self.interval);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
        // Against a frozen shard probes pile up until they time out; the cap only keeps a
        // misconfigured (timeout ≫ interval) probe from growing without bound.
        let cap = usize::try_from(self.timeout.as_millis() / self.interval.as_millis().max(1))
            .unwrap_or(usize::MAX)
            .saturating_add(2);
        let in_flight: Arc<Mutex<Vec<usize>>> = Arc::new(Mutex::new(vec![0; self.shards.len()]));
        let keys: Vec<Arc<str>> = self
            .shards
            .iter()
            .map(|s| Arc::from(probe_key(&self.run, s.probe_slot)))
            .collect();
        let mut tasks = JoinSet::new();
        let mut n: u64 = 0;
        let deadline = tokio::time::Instant::from_std(self.deadline);
        loop {
            tokio::select! {
                _ = ticker.tick() => {}
                _ = self.stop.changed() => break,
                _ = tokio::time::sleep_until(deadline) => break,
            }
            if *self.stop.borrow() {
                break;
            }
            while tasks.try_join_next().is_some() {}
            n += 1;
            for (shard, key) in keys.iter().enumerate() {
                {
                    let mut f = in_flight
                        .lock()
                        .unwrap_or_else(std::sync::PoisonError::into_inner);
                    if f[shard] >= cap {
                        continue;
                    }
                    f[shard] += 1;
                }
                let conn = Arc::clone(&self.conn);
                let key = Arc::clone(key);
                let sink = Arc::clone(&self.sink);
                let in_flight = Arc::clone(&in_flight);
                let (epoch, timeout) = (self.epoch, self.timeout);
                tasks.spawn(async move {
                    let start = Instant::now();
                    let error = probe_once(&conn, &key, n, timeout).await.err();
                    if error.is_some_and(ErrorClass::suggests_stale_topology) {
                        conn.request_refresh();
                    }
                    let rec = ProbeRecord {
                        shard,
                        start_us: since(epoch, start),
                        end_us: since(epoch, Instant::now()),
                        error,
                    };
                    sink.lock()
                        .unwrap_or_else(std::sync::PoisonError::into_inner)
                        .push(rec);
                    in_flight
                        .lock()
                        .unwrap_or_else(std::sync::PoisonError::into_inner)[shard] -= 1;
                });
            }
        }
        tasks.abort_all();
        while tasks.join_next().await.is_some() {}
    }
}

async fn probe_once(
    conn: &Connection,
    key: &str,
    n: u64,
    timeout: Duration,
) -> Result<(), ErrorClass> {
    let mut c = conn.get();
    let mut set = redis::cmd("SET");
    set.arg(key).arg(n).arg("EX").arg(KEY_TTL_SECS);
    let reply = tokio::time::timeout(
        timeout + Duration::from_millis(50),
        c.req_packed_command(&set),
    )
    .await
    .map_err(|_| ErrorClass::Timeout)?
    .map_err(|e| ErrorClass::classify(&e))?;
    match reply {
        Value::Okay => Ok(()),
        Value::SimpleString(s) if s == "OK" => Ok(()),
        other => Err(match other.extract_error() {
            Err(e) => ErrorClass::classify(&e),
            Ok(_) => ErrorClass::Other,
        }),
    }
}

/// Reads `CLUSTER SLOTS` and groups its ranges by master: the shards as they are now.
pub(crate) fn shards_from_cluster_slots(reply: &Value) -> Result<Vec<ShardInfo>, String> {
    let Value::Array(entries) = reply else {
        return Err(format!("expected an array, got {reply:?}"));
    };
    /// (master id or address, address, ranges)
    type Master = (String, String, Vec<(u16, u16)>);
    let mut masters: Vec<Master> = Vec::new();
    for entry in entries {
        let Value::Array(fields) = entry else {
            return Err("a slot entry is not an array".to_owned());
        };
        let (Some(Value::Int(start)), Some(Value::Int(end)), Some(Value::Array(node))) =
            (fields.first(), fields.get(1), fields.get(2))
        else {
            return Err(format!("unexpected slot entry {fields:?}"));
        };
        let start = u16::try_from(*start).map_err(|_| format!("bad slot {start}"))?;
        let end = u16::try_from(*end).map_err(|_| format!("bad slot {end}"))?;
        let host = match node.first() {
            Some(Value::BulkString(b)) => String::from_utf8_lossy(b).into_owned(),
            Some(Value::SimpleString(s)) => s.clone(),
            other => return Err(format!("unexpected node host {other:?}")),
        };
        let Some(Value::Int(port)) = node.get(1) else {
            return Err(format!("unexpected node entry {node:?}"));
        };
        let addr = if host.contains(':') {
            format!("[{host}]:{port}")
        } else {
            format!("{host}:{port}")
        };
        let id = match node.get(2) {
            Some(Value::BulkString(b)) => String::from_utf8_lossy(b).into_owned(),
            _ => addr.clone(),
        };
        match masters.iter_mut().find(|m| m.0 == id) {
            Some(m) => m.2.push((start, end)),
            None => masters.push((id, addr, vec![(start, end)])),
        }
    }
    let mut shards: Vec<ShardInfo> = masters
        .into_iter()
        .map(|(_, addr, mut ranges)| {
            ranges.sort_unstable();
            let (a, b) = ranges.first().copied().unwrap_or((0, 0));
            ShardInfo {
                name: String::new(),
                master_at_start: addr,
                probe_slot: a + (b - a) / 2,
                ranges,
            }
        })
        .collect();
    shards.sort_by_key(|s| s.ranges.first().map(|r| r.0));
    for (i, s) in shards.iter_mut().enumerate() {
        s.name = format!("shard {}", i + 1);
    }
    let covered: u32 = shards
        .iter()
        .flat_map(|s| s.ranges.iter())
        .map(|(a, b)| u32::from(b - a) + 1)
        .sum();
    if covered != u32::from(SLOT_COUNT) {
        return Err(format!(
            "only {covered} of {SLOT_COUNT} slots are served; start the drill on a healthy cluster"
        ));
    }
    Ok(shards)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
    use super::*;

    fn p(shard: usize, start: u64, end: u64, ok: bool) -> ProbeRecord {
        ProbeRecord {
            shard,
            start_us: start,
            end_us: end,
            error: (!ok).then_some(ErrorClass::Timeout),
        }
    }

    #[test]
    fn a_shard_that_never_failed_recovered_at_the_fault() {
        let probes = [p(0, 100, 110, true), p(0, 120, 130, true)];
        let refs: Vec<&ProbeRecord> = probes.iter().collect();
        assert_eq!(shard_recovered_at(&refs, 50, 1000), Some(50));
    }

    #[test]
    fn recovery_is_the_first_success_after_the_last_failure() {
        // A late-ending timeout that started before a success does not count after it.
        let probes = [
            p(0, 100, 300, false),
            p(0, 120, 320, false),
            p(0, 140, 145, true),
            p(0, 160, 170, false),
            p(0, 180, 190, true),
            p(0, 200, 185, true),
        ];
        let refs: Vec<&ProbeRecord> = probes.iter().collect();
        assert_eq!(shard_recovered_at(&refs, 0, 1000), Some(185));
    }

    #[test]
    fn a_shard_still_failing_has_not_recovered() {
        let probes = [p(0, 100, 110, true), p(0, 120, 320, false)];
        let refs: Vec<&ProbeRecord> = probes.iter().collect();
        assert_eq!(shard_recovered_at(&refs, 0, 1000), None);
        // ...but it had, within an earlier window.
        assert_eq!(shard_recovered_at(&refs, 0, 115), Some(0));
    }

    #[test]
    fn all_writable_waits_for_the_slowest_shard() {
        let probes = [
            p(0, 100, 110, false),
            p(0, 120, 125, true),
            p(1, 100, 110, false),
            p(1, 400, 405, true),
            p(2, 100, 101, true),
        ];
        let r = recoveries(&probes, 3, 50, 1000);
        assert_eq!(r[0].first_failure_us, Some(100));
        assert_eq!(r[2].first_failure_us, None);
        assert_eq!(all_writable_at(&r), Some(405));
        let r = recoveries(&probes, 4, 50, 1000);
        assert_eq!(all_writable_at(&r), None, "shard 4 was never probed");
    }

    #[test]
    fn cluster_slots_group_by_master() {
        let node = |host: &str, port: i64, id: &str| {
            Value::Array(vec![
                Value::BulkString(host.as_bytes().to_vec()),
                Value::Int(port),
                Value::BulkString(id.as_bytes().to_vec()),
            ])
        };
        let reply = Value::Array(vec![
            Value::Array(vec![
                Value::Int(10923),
                Value::Int(16383),
                node("127.0.0.1", 7002, "c"),
                node("127.0.0.1", 7005, "f"),
            ]),
            Value::Array(vec![
                Value::Int(0),
                Value::Int(5460),
                node("127.0.0.1", 7000, "a"),
            ]),
            Value::Array(vec![
                Value::Int(5461),
                Value::Int(10922),
                node("127.0.0.1", 7001, "b"),
            ]),
        ]);
        let shards = shards_from_cluster_slots(&reply).unwrap();
        assert_eq!(shards.len(), 3);
        assert_eq!(shards[0].name, "shard 1");
        assert_eq!(shards[0].master_at_start, "127.0.0.1:7000");
        assert_eq!(shards[2].ranges, vec![(10923, 16383)]);
        assert!(shards[1].probe_slot >= 5461 && shards[1].probe_slot <= 10922);
        let partial = Value::Array(vec![Value::Array(vec![
            Value::Int(0),
            Value::Int(5460),
            node("127.0.0.1", 7000, "a"),
        ])]);
        assert!(shards_from_cluster_slots(&partial).is_err());
    }
}
