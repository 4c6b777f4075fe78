//! The writers: a plain one (`SET`) and one that confirms each write with `WAIT 1 <ms>`, each
//! issuing writes at a fixed rate over every slot until told to stop or its deadline passes.
//!
//! # Retry policy (what "a failed write" means)
//! One logical write = one key, one value, written until it succeeds or its retry window
//! (default 1000 ms from its first try) runs out:
//! - each try is one command (plain) or one `SET` + `WAIT` pipeline (WAIT writer) sent to the
//!   master of the key's slot, bounded by `attempt_timeout` (+ `wait_timeout_ms` for WAIT);
//! - a try that errors with a transient class (everything but [`ErrorClass::Other`]) is retried
//!   after a backoff of 10 ms doubling to at most 100 ms, provided the backoff ends before the
//!   window does; the last try may thus end up to one try timeout after the window;
//! - if the last try still errors, the write is `Failed { class }` with that try's class;
//!   `Other` errors fail at once;
//! - every retry resends the *same* value (SET is idempotent), so a try that landed late cannot
//!   make readback see a value nobody wrote;
//! - a `WAIT` that counts 0 replicas makes the write `NotAcknowledged`, final and not retried:
//!   the master has it, the replica may never get it, and resending cannot change that.
//!
//! redis-rs's own retries are off ([`crate::connection`]), so this policy is the only one.
//!
//! # Rate
//! A ticker fires `rate` times a second; each tick starts one write as its own task when a lane
//! is free, and is counted as *skipped* otherwise (never queued: a queue would turn an outage
//! into a burst afterwards and blur the timeline). The plain writer multiplexes all its writes on
//! one connection with up to `rate × (retry window + try timeout)` writes in flight. `WAIT`
//! blocks its connection until it returns, so the WAIT writer has `wait_connections` connections
//! and one write in flight on each: when replicas are gone its rate drops to
//! `wait_connections / wait_timeout`, which the timeline shows.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use redis::aio::ConnectionLike;
use redis::cluster_async::ClusterConnection;
use redis::Value;
use serde::Serialize;
use tokio::sync::watch;
use tokio::task::JoinSet;

use crate::connection::Connection;
use crate::slots::write_key;
use crate::{ErrorClass, WriteOutcome};

/// Keys expire on their own so that drills against a long-lived cluster leave nothing behind.
pub const KEY_TTL_SECS: u64 = 3600;

const BACKOFF_START: Duration = Duration::from_millis(10);
const BACKOFF_MAX: Duration = Duration::from_millis(100);

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum WriterKind {
    /// `SET key value`.
    Plain,
    /// `SET key value` then `WAIT 1 <ms>` on the same node.
    Wait,
}

impl WriterKind {
    pub const ALL: [WriterKind; 2] = [WriterKind::Plain, WriterKind::Wait];

    pub fn label(self) -> &'static str {
        match self {
            Self::Plain => "plain",
            Self::Wait => "wait",
        }
    }

    /// Part of every key and value this writer writes.
    pub(crate) fn tag(self) -> &'static str {
        match self {
            Self::Plain => "p",
            Self::Wait => "w",
        }
    }
}

/// One logical write. Key and value are derived from `(run, writer, seq)`; see
/// [`crate::Recorded::key`] and [`crate::Recorded::value`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct WriteRecord {
    pub writer: WriterKind,
    pub seq: u64,
    /// Microseconds since the workload's epoch: first try sent.
    pub start_us: u64,
    /// Microseconds since the epoch: outcome known.
    pub end_us: u64,
    pub tries: u32,
    pub outcome: WriteOutcome,
}

pub fn value_for(run: &str, writer: WriterKind, seq: u64) -> String {
    format!("{run}:{}:{seq}", writer.tag())
}

pub(crate) struct WriterSettings {
    pub kind: WriterKind,
    pub rate: u32,
    pub retry_window: Duration,
    pub try_timeout: Duration,
    pub wait_timeout_ms: u64,
}

pub(crate) struct Writer {
    pub settings: Arc<WriterSettings>,
    pub run: Arc<str>,
    pub epoch: Instant,
    /// One entry per lane: which connection it uses.
    pub lanes: Vec<Arc<Connection>>,
    pub sink: Arc<Mutex<Vec<WriteRecord>>>,
    pub stop: watch::Receiver<bool>,
    pub deadline: Instant,
}

/// What a writer reports besides its records.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct WriterStats {
    pub skipped_ticks: u64,
}

pub(crate) fn since(epoch: Instant, t: Instant) -> u64 {
    u64::try_from(t.saturating_duration_since(epoch).as_micros()).unwrap_or(u64::MAX)
}

impl Writer {
    pub(crate) async fn run(mut self) -> WriterStats {
        let mut stats = WriterStats::default();
        let period = Duration::from_secs_f64(1.0 / f64::from(self.settings.rate.max(1)));
        let mut ticker = tokio::time::interval(period);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
        let free: Arc<Mutex<Vec<usize>>> = Arc::new(Mutex::new((0..self.lanes.len()).collect()));
        let mut tasks = JoinSet::new();
        let mut seq: u64 = 0;
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
            let lane = free
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .pop();
            let Some(lane) = lane else {
                stats.skipped_ticks += 1;
                continue;
            };
            let conn = Arc::clone(&self.lanes[lane]);
            let settings = Arc::clone(&self.settings);
            let run = Arc::clone(&self.run);
            let sink = Arc::clone(&self.sink);
            let free = Arc::clone(&free);
            let epoch = self.epoch;
            let this_seq = seq;
            seq += 1;
            tasks.spawn(async move {
                let rec = write_one(&conn, &settings, &run, this_seq, epoch).await;
                sink.lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner)
                    .push(rec);
                free.lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner)
                    .push(lane);
            });
        }
        // Writes in flight finish under their own retry window: stopping must not turn them into
        // failures that no outage caused.
        while tasks.join_next().await.is_some() {}
        stats
    }
}

enum TryResult {
    Acked,
    NotAcknowledged,
}

async fn write_one(
    conn: &Connection,
    s: &WriterSettings,
    run: &str,
    seq: u64,
    epoch: Instant,
) -> WriteRecord {
    let key = write_key(run, s.kind.tag(), seq);
    let value = value_for(run, s.kind, seq);
    let start = Instant::now();
    let window_end = start + s.retry_window;
    let mut backoff = BACKOFF_START;
    let mut tries = 0u32;
    let outcome = loop {
        tries += 1;
        let mut c = conn.get();
        // redis-rs bounds the try with `overall_response_timeout`; this outer bound only guards
        // against a bug there turning a dark node into a hung writer.
        let bound = s.try_timeout + Duration::from_millis(50);
        let result = match tokio::time::timeout(bound, try_once(s, &mut c, &key, &value)).await {
            Ok(r) => r,
            Err(_) => Err(ErrorClass::Timeout),
        };
        match result {
            Ok(TryResult::Acked) => break WriteOutcome::Acked,
            Ok(TryResult::NotAcknowledged) => break WriteOutcome::NotAcknowledged,
            Err(class) => {
                if class.suggests_stale_topology() {
                    conn.request_refresh();
                }
                if !class.is_transient() || Instant::now() + backoff >= window_end {
                    break WriteOutcome::Failed { class };
                }
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(BACKOFF_MAX);
            }
        }
    };
    WriteRecord {
        writer: s.kind,
        seq,
        start_us: since(epoch, start),
        end_us: since(epoch, Instant::now()),
        tries,
        outcome,
    }
}

async fn try_once(
    s: &WriterSettings,
    c: &mut ClusterConnection,
    key: &str,
    value: &str,
) -> Result<TryResult, ErrorClass> {
    let mut set = redis::cmd("SET");
    set.arg(key).arg(value).arg("EX").arg(KEY_TTL_SECS);
    match s.kind {
        WriterKind::Plain => {
            let reply = c
                .req_packed_command(&set)
                .await
                .map_err(|e| ErrorClass::classify(&e))?;
            expect_ok(reply).map(|()| TryResult::Acked)
        }
        WriterKind::Wait => {
            // One pipeline: redis-rs routes it by its first keyed command, so WAIT runs on the
            // very node (and connection) that took the SET — the only place where it means
            // anything.
            let mut pipe = redis::pipe();
            pipe.add_command(set);
            pipe.cmd("WAIT").arg(1).arg(s.wait_timeout_ms);
            let replies = c
                .req_packed_commands(&pipe, 0, 2)
                .await
                .map_err(|e| ErrorClass::classify(&e))?;
            let mut replies = replies.into_iter();
            expect_ok(replies.next().unwrap_or(Value::Nil))?;
            match replies.next() {
                Some(Value::Int(n)) if n >= 1 => Ok(TryResult::Acked),
                Some(Value::Int(_)) => Ok(TryResult::NotAcknowledged),
                Some(other) => Err(reply_class(other)),
                None => Err(ErrorClass::Other),
            }
        }
    }
}

fn expect_ok(reply: Value) -> Result<(), ErrorClass> {
    match reply {
        Value::Okay => Ok(()),
        Value::SimpleString(s) if s == "OK" => Ok(()),
        other => Err(reply_class(other)),
    }
}

fn reply_class(reply: Value) -> ErrorClass {
    match reply.extract_error() {
        Err(e) => ErrorClass::classify(&e),
        // A reply that is neither OK nor an error: not something a retry fixes.
        Ok(_) => ErrorClass::Other,
    }
}
