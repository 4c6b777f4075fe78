//! The lab's double faults (issue 16): a loss while a replica is in its first full sync, a
//! cut in the middle of a takeover, the engine dying in the middle of a partition decision,
//! a password the engine does not have followed by a loss, a step of the engine host's clock.
//! Each runs under the same writers as every lab fault and notes what it did and saw, in
//! seconds from the fault's start.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::time::{Duration, Instant};

use redis_stretch_admin::{NodeAddr, Secret};
use redis_stretch_engine::{EngineEvent, Snapshot};

use super::{plain_redis, LabEngine};
use crate::scenario::{EngineProcess, NetFaults, ScenarioError, ZoneFault};
use crate::sides::{Reply, RespConn, SideLoad};
use crate::slots::tag_for_slot;

/// How long plain Redis waits before a fault that follows the engine's first takeover: about
/// when the engine's lands (node-timeout, then a pass).
const TAKEOVER_AFTER: Duration = Duration::from_secs(3);
/// How long the drill waits for the engine to reach a point (a takeover, its crash).
const ENGINE_LIMIT: Duration = Duration::from_secs(30);
/// Between the password change and the loss: the engine meets the refusals first.
const PASSWORD_PAUSE: Duration = Duration::from_secs(3);
/// How long each clock step holds.
const STEP_HOLD: Duration = Duration::from_secs(5);
/// Bulk keys per pipeline.
const BULK_BATCH: u64 = 1000;
/// Per pipeline, and for the replica's confirmation of the whole load.
const BULK_LIMIT: Duration = Duration::from_secs(60);

type Res<F> = Result<(), ScenarioError<<F as crate::scenario::Faults>::Error>>;

/// The state a double fault runs with, and what it notes.
pub(super) struct Ctx<'a, F: NetFaults> {
    pub faults: &'a F,
    pub load: &'a SideLoad,
    /// The fault's start, on the load's clock and as Unix ms (engines' events).
    pub start: u64,
    pub start_unix: u64,
    pub steps: Vec<String>,
    pub native: bool,
    /// The servers' password as it is now.
    pub password: Option<Secret>,
    pub engine: Option<LabEngine<F::EngineProcess>>,
    /// An address at the third site, for the drill's own commands.
    pub third: IpAddr,
    pub zones: (String, String),
    pub addrs: Vec<NodeAddr>,
    /// An engine died before reporting its last pass: its actions are not in the log.
    pub unreported: bool,
}

/// The master a `lost-during-sync` fault loads, and its replica in the other zone.
pub(super) struct SyncTarget {
    pub master: NodeAddr,
    pub master_name: String,
    pub replica: NodeAddr,
    pub replica_name: String,
    pub replica_zone: String,
    /// A slot of the master's that no writer uses (they write to each shard's first slot).
    pub slot: u16,
    pub keys: u64,
}

/// The first master in `zone` with a replica in another zone.
pub(super) fn sync_target(snap: &Snapshot, zone: &str) -> Option<SyncTarget> {
    snap.masters().into_iter().find_map(|m| {
        if m.zone != zone {
            return None;
        }
        let r = snap
            .replicas_of(m.id.as_deref()?)
            .find(|r| r.zone != zone)?;
        let range = m.slots.first()?;
        (range.end > range.start).then_some(())?;
        Some(SyncTarget {
            master: m.addr.clone()?,
            master_name: m.name.clone().unwrap_or_default(),
            replica: r.addr.clone()?,
            replica_name: r.name.clone()?,
            replica_zone: r.zone.clone(),
            slot: range.start + 1,
            keys: 0,
        })
    })
}

fn bulk_key(slot: u16, i: u64) -> String {
    format!("rsb:{{{}}}:{i}", tag_for_slot(slot))
}

/// Write `keys` values of `value_bytes` into the target's slot and wait for its replica to
/// confirm them all; how long that took.
pub(super) async fn load_bulk(
    target: &mut SyncTarget,
    keys: u64,
    value_bytes: usize,
    password: Option<&Secret>,
    source: IpAddr,
) -> Result<Duration, String> {
    let began = Instant::now();
    let mut c = RespConn::connect(source, &target.master, password, BULK_LIMIT)
        .await
        .map_err(|e| format!("{}: {e}", target.master))?;
    // Random: RDB compresses a run of one byte to almost nothing, and the copy would be short.
    let mut raw = vec![0u8; value_bytes.div_ceil(2)];
    getrandom::fill(&mut raw).map_err(|e| e.to_string())?;
    let mut value: String = raw.iter().map(|b| format!("{b:02x}")).collect();
    value.truncate(value_bytes);
    let mut i = 0;
    while i < keys {
        let batch: Vec<String> = (i..(i + BULK_BATCH).min(keys))
            .map(|k| bulk_key(target.slot, k))
            .collect();
        let cmds: Vec<[&str; 3]> = batch.iter().map(|k| ["SET", k, &value]).collect();
        let refs: Vec<&[&str]> = cmds.iter().map(|c| c.as_slice()).collect();
        let replies = c
            .call(&refs)
            .await
            .map_err(|e| format!("loading {}: {e}", target.master))?;
        if let Some(bad) = replies.iter().find(|r| !matches!(r, Reply::Ok(_))) {
            return Err(format!("loading {}: {bad:?}", target.master));
        }
        i += BULK_BATCH;
    }
    let limit = BULK_LIMIT.as_millis().to_string();
    match c.call(&[&["WAIT", "1", &limit]]).await {
        Ok(r) if matches!(r.first(), Some(Reply::Int(n)) if *n >= 1) => {}
        other => {
            return Err(format!(
                "{} did not confirm the bulk keys: {other:?}",
                target.replica_name
            ))
        }
    }
    target.keys = keys;
    Ok(began.elapsed())
}

/// How long a full sync of the loaded data takes here: the replica killed, its data removed,
/// restarted, until its link is up. Told in the row, so that "during its full sync" has a
/// length.
pub(super) async fn time_full_sync<F: NetFaults>(
    faults: &F,
    target: &SyncTarget,
    password: Option<&Secret>,
    source: IpAddr,
) -> Result<Duration, ScenarioError<F::Error>> {
    let platform = ScenarioError::Platform;
    faults
        .take_down_instance(&target.replica_name, ZoneFault::Kill)
        .map_err(platform)?;
    faults.wipe_data(&target.replica_name).map_err(platform)?;
    faults
        .bring_back(&target.replica_zone, false)
        .await
        .map_err(platform)?;
    let began = Instant::now();
    while began.elapsed() < BULK_LIMIT * 2 {
        if let Ok(Reply::Bulk(Some(text))) =
            command(source, &target.replica, password, &["INFO", "replication"]).await
        {
            if String::from_utf8_lossy(&text).contains("master_link_status:up") {
                return Ok(began.elapsed());
            }
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    Err(ScenarioError::Lab(format!(
        "{}: no full sync within {} s",
        target.replica_name,
        (BULK_LIMIT * 2).as_secs()
    )))
}

/// One command over a fresh connection from `source`; its first reply.
async fn command(
    source: IpAddr,
    to: &NodeAddr,
    password: Option<&Secret>,
    args: &[&str],
) -> Result<Reply, String> {
    let mut c = RespConn::connect(source, to, password, Duration::from_secs(2))
        .await
        .map_err(|e| format!("{to}: {e}"))?;
    c.call(&[args])
        .await
        .map_err(|e| format!("{to}: {e}"))?
        .pop()
        .ok_or_else(|| format!("{to}: no reply"))
}

/// Bulk keys on the master that holds most of them now (after the run: the slot's owner).
pub(super) async fn bulk_kept(
    target: &SyncTarget,
    instances: &[NodeAddr],
    password: Option<&Secret>,
    source: IpAddr,
) -> Option<u64> {
    let slot = target.slot.to_string();
    let mut best = None;
    for a in instances {
        let Ok(Reply::Bulk(Some(info))) =
            command(source, a, password, &["INFO", "replication"]).await
        else {
            continue;
        };
        if !String::from_utf8_lossy(&info).contains("role:master") {
            continue;
        }
        if let Ok(Reply::Int(n)) =
            command(source, a, password, &["CLUSTER", "COUNTKEYSINSLOT", &slot]).await
        {
            let n = u64::try_from(n).unwrap_or(0);
            best = Some(best.map_or(n, |b: u64| b.max(n)));
        }
    }
    best
}

/// The engines' actions from `since` (Unix ms), counted by kind in the order they first
/// came, failed ones said apart.
pub(super) fn engine_did(events: &[EngineEvent], since: u64) -> String {
    let mut order: Vec<&str> = Vec::new();
    let mut counts: BTreeMap<&str, (usize, usize)> = BTreeMap::new();
    for e in events.iter().filter(|e| e.at_ms >= since) {
        if !order.contains(&e.kind.as_str()) {
            order.push(&e.kind);
        }
        let c = counts.entry(&e.kind).or_default();
        if e.ok {
            c.0 += 1;
        } else {
            c.1 += 1;
        }
    }
    if order.is_empty() {
        return "nothing".into();
    }
    order
        .iter()
        .map(|k| {
            let (ok, failed) = counts.get(k).copied().unwrap_or_default();
            match (ok, failed) {
                (n, 0) => format!("{k} ×{n}"),
                (0, f) => format!("{k} ×{f} failed"),
                (n, f) => format!("{k} ×{n} (+{f} failed)"),
            }
        })
        .collect::<Vec<_>>()
        .join(", ")
}

fn random_password() -> Result<Secret, String> {
    let mut bytes = [0u8; 24];
    getrandom::fill(&mut bytes).map_err(|e| e.to_string())?;
    Ok(Secret::new(
        bytes.iter().map(|b| format!("{b:02x}")).collect::<String>(),
    ))
}

impl<F: NetFaults> Ctx<'_, F> {
    fn step(&mut self, what: impl std::fmt::Display) {
        let ms = i128::from(self.load.now_ms()) - i128::from(self.start);
        self.steps
            .push(format!("{:+.1} s: {what}", ms as f64 / 1000.0));
    }

    /// What the engine says it waits for, for the notes (its first 160 characters).
    fn engine_says(&self) -> String {
        let says = self
            .faults
            .engine_status()
            .and_then(|s| s.waiting_for)
            .map_or_else(|| "nothing".into(), |w| w.to_string());
        match says.char_indices().nth(160) {
            Some((i, _)) => format!("{}…", &says[..i]),
            None => says,
        }
    }

    /// The first successful action of `kind` any engine took since the fault began.
    fn first_action(&self, kind: &str) -> Option<EngineEvent> {
        self.faults
            .engine_events()
            .into_iter()
            .find(|e| e.ok && e.kind == kind && e.at_ms >= self.start_unix)
    }

    /// Bring `zone` back; with plain Redis, its restarted instances as plain Redis has them.
    pub(super) async fn bring_back(&mut self, zone: &str) -> Res<F> {
        self.faults
            .bring_back(zone, false)
            .await
            .map_err(ScenarioError::Platform)?;
        if self.native {
            self.plain_redis_in(zone).await;
        }
        Ok(())
    }

    /// Plain Redis's settings on every instance of `zone` (redis.conf starts them fenced off
    /// Redis's own election); one that refuses is noted, not fatal: the zone is back.
    pub(super) async fn plain_redis_in(&mut self, zone: &str) {
        let Ok(layout) = self.faults.layout() else {
            return;
        };
        for i in layout.instances.iter().filter(|i| i.zone == zone) {
            if let Err(e) = plain_redis(&i.addr, self.password.as_ref()).await {
                self.step(format!("plain Redis: {} not made electable: {e}", i.name));
            }
        }
    }

    async fn wait_engine(&mut self, what: &str, kind: &str) -> Option<EngineEvent> {
        let began = Instant::now();
        while began.elapsed() < ENGINE_LIMIT {
            if let Some(e) = self.first_action(kind) {
                return Some(e);
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        self.step(format!("no {what} within {} s", ENGINE_LIMIT.as_secs()));
        None
    }

    /// Finding 1: the replica restarted empty, `zone` dark while it copies.
    pub(super) async fn lost_during_sync(
        &mut self,
        zone: &str,
        target: &SyncTarget,
        hold: Duration,
    ) -> Res<F> {
        let platform = ScenarioError::Platform;
        self.faults
            .take_down_instance(&target.replica_name, ZoneFault::Kill)
            .map_err(platform)?;
        self.faults
            .wipe_data(&target.replica_name)
            .map_err(platform)?;
        let restarted = Instant::now();
        self.bring_back(&target.replica_zone).await?;
        self.step(format!(
            "{} killed, its data removed, restarted: empty, it asks {} for a full sync",
            target.replica_name, target.master_name
        ));
        let mut syncing = false;
        while restarted.elapsed() < Duration::from_secs(20) {
            let info = command(
                self.third,
                &target.replica,
                self.password.as_ref(),
                &["INFO", "replication"],
            )
            .await;
            if let Ok(Reply::Bulk(Some(text))) = info {
                let text = String::from_utf8_lossy(&text);
                if text.contains("master_sync_in_progress:1") {
                    syncing = true;
                    break;
                }
                if text.contains("master_link_status:up") {
                    break;
                }
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        self.faults
            .take_down(zone, ZoneFault::Stop)
            .map_err(platform)?;
        self.step(if syncing {
            format!(
                "{zone} frozen, {}'s full sync under way ({:.1} s after its restart)",
                target.replica_name,
                restarted.elapsed().as_secs_f64()
            )
        } else {
            format!(
                "{zone} frozen; {}'s full sync was NOT seen under way (finished before, or never began)",
                target.replica_name
            )
        });
        tokio::time::sleep(hold).await;
        self.bring_back(zone).await?;
        self.step(format!("{zone} thawed"));
        Ok(())
    }

    /// `zone` dark; at the engine's first takeover it comes back, but behind a cut.
    pub(super) async fn cut_during_takeover(&mut self, zone: &str, hold: Duration) -> Res<F> {
        let platform = ScenarioError::Platform;
        self.faults
            .take_down(zone, ZoneFault::Stop)
            .map_err(platform)?;
        self.step(format!("{zone} frozen"));
        if self.native {
            tokio::time::sleep(TAKEOVER_AFTER).await;
            self.step(format!(
                "no engine: {} s later, about when the engine's first takeover lands",
                TAKEOVER_AFTER.as_secs()
            ));
        } else if let Some(e) = self.wait_engine("takeover", "takeover").await {
            self.step(format!("the engine's first takeover landed: {}", e.summary));
        }
        let (a, b) = self.zones.clone();
        self.faults.cut(&a, &b, None).map_err(platform)?;
        self.bring_back(zone).await?;
        self.step(format!(
            "{zone} thawed behind a cut between the zones (both still reach the third site)"
        ));
        tokio::time::sleep(hold).await;
        self.faults.heal().map_err(platform)?;
        self.step("cut healed");
        Ok(())
    }

    /// Finding 2: the engine dies right after its first takeover in a cut, a new one starts
    /// while the cut stands.
    pub(super) async fn engine_crash_in_partition(
        &mut self,
        hold: Duration,
        after: Duration,
    ) -> Res<F> {
        let platform = ScenarioError::Platform;
        let (a, b) = self.zones.clone();
        self.faults.cut(&a, &b, None).map_err(platform)?;
        let cut = Instant::now();
        self.step("cut between the zones (the engine at the third site)");
        if !self.native {
            let mut exited = None;
            while cut.elapsed() < ENGINE_LIMIT {
                if let Some(LabEngine::Process(p)) = self.engine.as_mut() {
                    exited = p.exited();
                }
                if exited.is_some() {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            if exited.is_some() {
                self.unreported = true;
            }
            match exited {
                Some(code) => self.step(format!(
                    "the engine process exited ({}) right after the step of its first takeover, before reporting it",
                    code.map_or_else(|| "by a signal".into(), |c| format!("code {c}"))
                )),
                None => self.step(format!(
                    "the engine did not reach its crash point within {} s",
                    ENGINE_LIMIT.as_secs()
                )),
            }
            if let Some(e) = self.engine.take() {
                e.stop();
            }
            tokio::time::sleep(after).await;
            self.engine = Some(LabEngine::InProcess(self.faults.start_engine()));
            self.step("a new engine started, from the dead one's memory");
        }
        tokio::time::sleep(hold.saturating_sub(cut.elapsed())).await;
        self.faults.heal().map_err(platform)?;
        self.step("cut healed");
        Ok(())
    }

    /// Finding 4: every instance's password changed behind the engine's back, then a loss;
    /// the engine given the servers' password `after` the loss.
    pub(super) async fn wrong_password(
        &mut self,
        zone: &str,
        hold: Duration,
        after: Duration,
    ) -> Res<F> {
        let platform = ScenarioError::Platform;
        let new = random_password().map_err(ScenarioError::Lab)?;
        let old = self.password.clone();
        // masterauth first: a replica that reconnects meanwhile still gets in.
        for (param, with) in [("masterauth", &old), ("requirepass", &old)] {
            for a in &self.addrs {
                match command(
                    self.third,
                    a,
                    with.as_ref(),
                    &["CONFIG", "SET", param, new.expose()],
                )
                .await
                {
                    Ok(Reply::Ok(_)) => {}
                    other => {
                        return Err(ScenarioError::Lab(format!(
                            "{a}: CONFIG SET {param}: {other:?}"
                        )))
                    }
                }
            }
        }
        // The application has the new Secret; then every client connects anew (as after a
        // restart of the clients or a network blip): the engine must authenticate again.
        self.load.set_password(Some(new.clone()));
        self.password = Some(new.clone());
        for a in &self.addrs {
            let _ = command(
                self.third,
                a,
                Some(&new),
                &["CLIENT", "KILL", "TYPE", "normal", "SKIPME", "yes"],
            )
            .await;
        }
        self.step("password changed on every instance (CONFIG SET masterauth, requirepass), every client connection closed (CLIENT KILL TYPE normal); the writers have it, the engine does not");
        tokio::time::sleep(PASSWORD_PAUSE).await;
        if !self.native {
            let says = self.engine_says();
            self.step(format!("engine waiting for: {says}"));
        }
        self.faults
            .take_down(zone, ZoneFault::Kill)
            .map_err(platform)?;
        let killed = Instant::now();
        self.step(format!("{zone} killed"));
        tokio::time::sleep(after).await;
        self.faults.set_password(&new).map_err(platform)?;
        if self.native {
            self.step("the platform's Secret fixed (no engine)");
        } else {
            let says = self.engine_says();
            self.step(format!("engine waiting for: {says}"));
            if let Some(e) = self.engine.take() {
                e.stop();
            }
            self.engine = Some(LabEngine::InProcess(self.faults.start_engine()));
            self.step("the Secret fixed: the engine restarted with the servers' password");
        }
        tokio::time::sleep(hold.saturating_sub(killed.elapsed())).await;
        self.bring_back(zone).await?;
        self.step(format!("{zone} back"));
        Ok(())
    }

    fn clock(&mut self, offset: i64) -> Res<F> {
        if self.native {
            return Ok(());
        }
        // Proof that the step reached the engine: its heartbeat is its wall clock.
        if let Some(st) = self.faults.engine_status() {
            let ahead = i128::from(st.heartbeat_ms) - i128::from(redis_stretch_engine::unix_ms());
            self.step(format!(
                "the engine's heartbeat reads {:+.1} s against the real clock",
                ahead as f64 / 1000.0
            ));
        }
        self.faults
            .step_engine_clock(offset)
            .map_err(ScenarioError::Platform)?;
        self.step(format!(
            "the engine's wall clock set to real time {offset:+} s"
        ));
        Ok(())
    }

    /// Finding 6: the engine host's wall clock stepped forward and back, alone and during a
    /// loss.
    pub(super) async fn clock_step(&mut self, zone: &str, hold: Duration, step: f64) -> Res<F> {
        let platform = ScenarioError::Platform;
        let step = step.round() as i64;
        if self.native {
            self.step("no engine: the clock steps below touch nothing");
        }
        self.clock(step)?;
        tokio::time::sleep(STEP_HOLD).await;
        self.clock(0)?;
        tokio::time::sleep(STEP_HOLD).await;
        if !self.native {
            let did = engine_did(&self.faults.engine_events(), self.start_unix);
            self.step(format!("engine actions on the steps alone: {did}"));
        }
        self.faults
            .take_down(zone, ZoneFault::Kill)
            .map_err(platform)?;
        let killed = Instant::now();
        self.step(format!("{zone} killed"));
        // Forward inside the confirmation window, back once the takeover is done.
        tokio::time::sleep(Duration::from_secs(1)).await;
        self.clock(step)?;
        tokio::time::sleep(STEP_HOLD).await;
        self.clock(0)?;
        tokio::time::sleep(hold.saturating_sub(killed.elapsed())).await;
        self.bring_back(zone).await?;
        self.step(format!("{zone} back"));
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(at_ms: u64, kind: &str, ok: bool) -> EngineEvent {
        EngineEvent {
            at_ms,
            kind: kind.into(),
            summary: String::new(),
            why: String::new(),
            ok,
            detail: String::new(),
            took_ms: 0,
        }
    }

    #[test]
    fn the_engines_actions_are_counted_by_kind_from_the_faults_start() {
        let events = [
            ev(5, "fence", true),
            ev(10, "takeover", true),
            ev(11, "takeover", true),
            ev(12, "bump-epoch", false),
            ev(13, "takeover", false),
        ];
        assert_eq!(
            engine_did(&events, 10),
            "takeover ×2 (+1 failed), bump-epoch ×1 failed"
        );
        assert_eq!(engine_did(&events, 100), "nothing");
    }
}
