//! One writer per side and shard, and the readback of what they were told was written.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use redis_stretch_admin::{NodeAddr, Secret};
use serde::Serialize;
use tokio::task::JoinHandle;

use super::resp::{moved_to, Reply, RespConn};
use crate::slots::tag_for_slot;

/// Where a writer stands: a name for reports and the source address it connects from.
#[derive(Clone, Debug, Serialize)]
pub struct Side {
    pub name: String,
    pub source: IpAddr,
}

/// A shard as the drill found it: a slot it owns and the master that owned it at the start.
#[derive(Clone, Debug, Serialize)]
pub struct LabShard {
    pub name: String,
    pub slot: u16,
    pub first_master: NodeAddr,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "result", rename_all = "kebab-case")]
pub enum WriteResult {
    /// `node` answered OK; `replicas` is what the `WAIT 1 100` that followed returned.
    Acked {
        node: NodeAddr,
        replicas: Option<i64>,
    },
    /// An error reply (`NOREPLICAS`, `CLUSTERDOWN`, `READONLY`, …: its first word).
    Refused { error: String },
    /// No instance answered within the write's budget.
    NoAnswer,
}

#[derive(Clone, Debug, Serialize)]
pub struct SideWrite {
    pub side: usize,
    pub shard: usize,
    pub seq: u64,
    pub key: String,
    /// Sent, ms since the load started.
    pub at_ms: u64,
    /// Answered (or given up), ms since the load started.
    pub done_ms: u64,
    pub result: WriteResult,
}

impl SideWrite {
    pub fn acked_by(&self) -> Option<&NodeAddr> {
        match &self.result {
            WriteResult::Acked { node, .. } => Some(node),
            _ => None,
        }
    }
    /// Acknowledged and confirmed by at least one replica (`WAIT` ≥ 1).
    pub fn wait_acked(&self) -> bool {
        matches!(&self.result, WriteResult::Acked { replicas: Some(n), .. } if *n >= 1)
    }
}

/// 50 writes/s per writer, as in the measurements.
const INTERVAL: Duration = Duration::from_millis(20);
/// Per connect and per reply: a silent link costs this, as a client's timeout would.
const TRY_TIMEOUT: Duration = Duration::from_millis(250);
/// One write gives up after this much (redirects and other instances included).
const WRITE_BUDGET: Duration = Duration::from_millis(600);
/// An instance that did not answer is not tried again by this writer for this long.
const BACKOFF: Duration = Duration::from_secs(1);
/// `MOVED` to an instance that just timed out, from this many instances in one write: the slot
/// has not moved yet; give up the write.
const MAX_STALE_REDIRECTS: u32 = 6;

pub struct SideLoad {
    epoch: Instant,
    stop: Arc<AtomicBool>,
    tasks: Vec<JoinHandle<()>>,
    writes: Arc<Mutex<Vec<SideWrite>>>,
    password: Arc<RwLock<Option<Secret>>>,
}

impl SideLoad {
    /// Start one writer per side and shard. `instances`: every address of the cluster, tried
    /// in turn when the current target is silent.
    pub fn start(
        run: &str,
        sides: &[Side],
        shards: &[LabShard],
        instances: &[NodeAddr],
        password: Option<Secret>,
    ) -> Self {
        let epoch = Instant::now();
        let stop = Arc::new(AtomicBool::new(false));
        let writes = Arc::new(Mutex::new(Vec::new()));
        let password = Arc::new(RwLock::new(password));
        let mut tasks = Vec::new();
        for (si, side) in sides.iter().enumerate() {
            for (hi, shard) in shards.iter().enumerate() {
                let w = Writer {
                    side: si,
                    shard: hi,
                    source: side.source,
                    prefix: format!(
                        "rsl:{{{}}}:{run}:{}",
                        tag_for_slot(shard.slot),
                        side.name.replace(' ', "-")
                    ),
                    target: shard.first_master.clone(),
                    instances: instances.to_vec(),
                    password: password.clone(),
                    conns: BTreeMap::new(),
                    silent_until: BTreeMap::new(),
                };
                tasks.push(tokio::spawn(w.run(epoch, stop.clone(), writes.clone())));
            }
        }
        Self {
            epoch,
            stop,
            tasks,
            writes,
            password,
        }
    }

    /// The password for connections opened from now on (the application given a new Secret);
    /// open connections stay as they were authenticated.
    pub fn set_password(&self, password: Option<Secret>) {
        if let Ok(mut p) = self.password.write() {
            *p = password;
        }
    }

    /// Milliseconds since the load started: the time base of every record.
    pub fn now_ms(&self) -> u64 {
        ms_since(self.epoch)
    }

    pub async fn stop(self) -> Vec<SideWrite> {
        self.stop.store(true, Ordering::Relaxed);
        for t in self.tasks {
            let _ = t.await;
        }
        let mut w = self
            .writes
            .lock()
            .map(|mut w| std::mem::take(&mut *w))
            .unwrap_or_default();
        w.sort_by_key(|x| x.at_ms);
        w
    }
}

fn ms_since(epoch: Instant) -> u64 {
    u64::try_from(epoch.elapsed().as_millis()).unwrap_or(u64::MAX)
}

struct Writer {
    side: usize,
    shard: usize,
    source: IpAddr,
    prefix: String,
    target: NodeAddr,
    instances: Vec<NodeAddr>,
    password: Arc<RwLock<Option<Secret>>>,
    conns: BTreeMap<NodeAddr, RespConn>,
    silent_until: BTreeMap<NodeAddr, Instant>,
}

impl Writer {
    fn password(&self) -> Option<Secret> {
        self.password.read().ok().and_then(|p| p.clone())
    }

    async fn run(mut self, epoch: Instant, stop: Arc<AtomicBool>, out: Arc<Mutex<Vec<SideWrite>>>) {
        let mut tick = tokio::time::interval(INTERVAL);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
        let mut seq = 0u64;
        while !stop.load(Ordering::Relaxed) {
            tick.tick().await;
            seq += 1;
            let key = format!("{}:{seq}", self.prefix);
            let at_ms = ms_since(epoch);
            let result = self.write(&key, seq, seq.is_multiple_of(2)).await;
            let done_ms = ms_since(epoch);
            if let Ok(mut o) = out.lock() {
                o.push(SideWrite {
                    side: self.side,
                    shard: self.shard,
                    seq,
                    key,
                    at_ms,
                    done_ms,
                    result,
                });
            }
        }
    }

    /// The next instance to try after `failed`: in order, skipping those silent recently.
    fn next_target(&mut self, failed: &NodeAddr) {
        self.silent_until
            .insert(failed.clone(), Instant::now() + BACKOFF);
        self.rotate_from(failed);
    }

    /// The instance after `from` in order that has not been silent recently.
    fn rotate_from(&mut self, failed: &NodeAddr) {
        let n = self.instances.len();
        let start = self.instances.iter().position(|a| a == failed).unwrap_or(0);
        let now = Instant::now();
        for i in 1..=n {
            let Some(c) = self.instances.get((start + i) % n) else {
                continue;
            };
            if self.silent_until.get(c).is_none_or(|t| *t <= now) {
                self.target = c.clone();
                return;
            }
        }
        // Every instance was silent recently: try the next one anyway.
        if let Some(c) = self.instances.get((start + 1) % n.max(1)) {
            self.target = c.clone();
        }
    }

    async fn write(&mut self, key: &str, seq: u64, wait: bool) -> WriteResult {
        let start = Instant::now();
        let value = seq.to_string();
        let mut last = WriteResult::NoAnswer;
        let mut redirects = 0;
        while start.elapsed() < WRITE_BUDGET {
            let target = self.target.clone();
            let conn = match self.conns.remove(&target) {
                Some(c) => c,
                None => match RespConn::connect(
                    self.source,
                    &target,
                    self.password().as_ref(),
                    TRY_TIMEOUT,
                )
                .await
                {
                    Ok(c) => c,
                    Err(_) => {
                        self.next_target(&target);
                        continue;
                    }
                },
            };
            let mut conn = conn;
            let set: &[&str] = &["SET", key, &value, "EX", "3600"];
            let replies = if wait {
                conn.call(&[set, &["WAIT", "1", "100"]]).await
            } else {
                conn.call(&[set]).await
            };
            let replies = match replies {
                Ok(r) => r,
                Err(_) => {
                    // The connection is in an unknown state: drop it.
                    self.next_target(&target);
                    continue;
                }
            };
            self.conns.insert(target.clone(), conn);
            match replies.first() {
                Some(Reply::Ok(_)) => {
                    let replicas = match replies.get(1) {
                        Some(Reply::Int(n)) => Some(*n),
                        _ => None,
                    };
                    return WriteResult::Acked {
                        node: target,
                        replicas,
                    };
                }
                Some(Reply::Err(e)) => {
                    if let Some(to) = moved_to(e) {
                        // Sent to an instance that just timed out: this node's slot map is as
                        // stale as ours. Ask another one instead (a client refreshing its map
                        // on a timeout), a moment later.
                        if self
                            .silent_until
                            .get(&to)
                            .is_some_and(|t| *t > Instant::now())
                        {
                            redirects += 1;
                            if redirects > MAX_STALE_REDIRECTS {
                                return WriteResult::NoAnswer;
                            }
                            self.rotate_from(&target);
                            tokio::time::sleep(Duration::from_millis(10)).await;
                            continue;
                        }
                        self.target = to;
                        continue;
                    }
                    let word = e.split_whitespace().next().unwrap_or("ERR").to_owned();
                    // A replica, or a node whose own view is `fail`: another instance may know
                    // the slot's master. A fenced master (`NOREPLICAS`) is the master: no use.
                    if word != "NOREPLICAS" {
                        self.next_target(&target);
                    }
                    return WriteResult::Refused { error: word };
                }
                _ => {
                    last = WriteResult::Refused {
                        error: "UNEXPECTED".into(),
                    }
                }
            }
        }
        last
    }
}

/// How long the readback may wait, in all, for slots whose owner is still being settled
/// (`CLUSTERDOWN`, `TRYAGAIN`, `LOADING`) before such a write counts as lost.
const READ_SETTLE: Duration = Duration::from_secs(10);

fn transient(err: &str) -> bool {
    ["CLUSTERDOWN", "TRYAGAIN", "LOADING", "MASTERDOWN"]
        .iter()
        .any(|w| err.starts_with(w))
}

/// Read every acknowledged key back from wherever its slot lives now (from `source`, which must
/// reach every instance: run it after the heal); returns, per write, whether its value is there.
pub async fn read_back(
    writes: &[SideWrite],
    instances: &[NodeAddr],
    password: Option<&Secret>,
    source: IpAddr,
) -> Vec<bool> {
    let mut conns: BTreeMap<NodeAddr, RespConn> = BTreeMap::new();
    let mut out = Vec::with_capacity(writes.len());
    // One window for the whole readback: a cluster that never settles costs it once.
    let settle_until = Instant::now() + READ_SETTLE;
    for w in writes {
        let Some(first) = w.acked_by() else {
            out.push(false);
            continue;
        };
        let mut target = first.clone();
        let mut found = false;
        let mut tries = 0;
        while tries < instances.len() + 3 {
            tries += 1;
            if !conns.contains_key(&target) {
                match RespConn::connect(source, &target, password, Duration::from_secs(2)).await {
                    Ok(c) => {
                        conns.insert(target.clone(), c);
                    }
                    Err(_) => {
                        let i = instances.iter().position(|a| a == &target).unwrap_or(0);
                        match instances.get((i + 1) % instances.len().max(1)) {
                            Some(n) => target = n.clone(),
                            None => break,
                        }
                        continue;
                    }
                }
            }
            let Some(c) = conns.get_mut(&target) else {
                break;
            };
            match c.call(&[&["GET", &w.key]]).await {
                Ok(r) => match r.first() {
                    Some(Reply::Bulk(v)) => {
                        found = v.as_deref() == Some(w.seq.to_string().as_bytes());
                        break;
                    }
                    Some(Reply::Err(e)) => match moved_to(e) {
                        Some(to) => target = to,
                        // The slot's owner is being settled (a heal, a failover): ask again a
                        // moment later, for a while, before calling the write lost.
                        None if transient(e) && Instant::now() < settle_until => {
                            tries -= 1;
                            tokio::time::sleep(Duration::from_millis(100)).await;
                        }
                        None => break,
                    },
                    _ => break,
                },
                Err(_) => {
                    conns.remove(&target);
                }
            }
        }
        out.push(found);
    }
    out
}
