//! Moving slots, closing slots left open, retiring instances: the scale rules' actions
//! (`redis_stretch_decide` rules/scale.rs), composed from the admin layer's commands.
//!
//! Classic, one slot at a time in redis-cli's order (`clusterManagerMoveSlot`): `SETSLOT
//! IMPORTING` on the target, `MIGRATING` on the source, `GETKEYSINSLOT` + `MIGRATE` batches,
//! then `SETSLOT NODE` on the target first (it bumps its epoch, so its claim wins), the source,
//! then every other master. After each batch the keys are on the target's replica in the other
//! zone before anything else moves (its `slave_repl_offset` reaches the target's offset): what a
//! client's `WAIT` had acknowledged on the source is acknowledged again on the target before
//! the next batch leaves. A slot is finished before the next starts; an engine killed in
//! between leaves at most one slot open, which the next pass closes and moves again.
//!
//! Atomic (Valkey 9.0+): `CLUSTER MIGRATESLOTS` on the source, followed with
//! `GETSLOTMIGRATIONS` until the job succeeds or the pass's time is up (the next pass finds the
//! job still running and follows it instead of starting another).

use std::time::{Duration, Instant};

use redis_stretch_admin::{AdminClient, AdminError, NodeAddr, ReplicationInfo, SetSlot};
use redis_stretch_model::{MigrationMethod, SlotRange};

use crate::Pool;

/// Keys per `MIGRATE`.
const KEYS_PER_MIGRATE: usize = 100;
/// A pass spends at most this moving slots (the slot under way is finished past it).
const PASS_BUDGET: Duration = Duration::from_secs(2);
/// How long the receiving master's replica may take to have a batch.
const REPLICA_CATCH_UP: Duration = Duration::from_secs(2);
/// `MIGRATE`'s own timeout for talking to the target.
const MIGRATE_TIMEOUT_MS: u64 = 900;

/// What [`move_slots`] needs besides the pool.
pub struct Move<'a> {
    pub from: &'a NodeAddr,
    pub from_id: &'a str,
    pub to: &'a NodeAddr,
    pub to_id: &'a str,
    pub to_replica: Option<&'a NodeAddr>,
    pub others: &'a [NodeAddr],
    pub slots: &'a [SlotRange],
    pub method: MigrationMethod,
}

/// Move as many of `m.slots` as the pass's budget allows; returns what was done.
pub async fn move_slots(pool: &Pool, m: &Move<'_>) -> Result<String, AdminError> {
    match m.method {
        MigrationMethod::Atomic => atomic(pool, m).await,
        MigrationMethod::Classic | MigrationMethod::RedisImport => classic(pool, m).await,
    }
}

async fn classic(pool: &Pool, m: &Move<'_>) -> Result<String, AdminError> {
    let src = pool.get(m.from).await?;
    let dst = pool.get(m.to).await?;
    let start = Instant::now();
    let (mut slots, mut keys) = (0usize, 0u64);
    'slots: for r in m.slots {
        for slot in r.start..=r.end {
            if slots > 0 && start.elapsed() > PASS_BUDGET {
                break 'slots;
            }
            keys += move_slot(pool, &src, &dst, m, slot).await?;
            slots += 1;
        }
    }
    Ok(format!(
        "moved {slots} slot(s), {keys} key(s), in {} ms",
        start.elapsed().as_millis()
    ))
}

/// One slot, from wherever it stands: a target that already owns it only needs the others
/// told.
async fn move_slot(
    pool: &Pool,
    src: &AdminClient,
    dst: &AdminClient,
    m: &Move<'_>,
    slot: u16,
) -> Result<u64, AdminError> {
    match dst.setslot(slot, SetSlot::Importing(m.from_id)).await {
        Err(e) if e.to_string().contains("already the owner") => {
            announce(pool, src, dst, m, slot).await?;
            return Ok(0);
        }
        r => r?,
    }
    src.setslot(slot, SetSlot::Migrating(m.to_id)).await?;
    let password = pool.password();
    let mut moved = 0u64;
    loop {
        let keys = src.keys_in_slot(slot, KEYS_PER_MIGRATE).await?;
        if keys.is_empty() {
            break;
        }
        // REPLACE: a copy the target holds can only be older than the source's (while the
        // source has a key, clients are sent to it, never to the target).
        src.migrate_keys(m.to, &keys, MIGRATE_TIMEOUT_MS, true, password)
            .await?;
        moved += keys.len() as u64;
        crate::act::crash_inside("move-slot-keys");
        replica_has_it(pool, dst, m.to_replica).await?;
    }
    announce(pool, src, dst, m, slot).await?;
    Ok(moved)
}

/// `SETSLOT slot NODE target` on the target, the source, then every other master (those
/// that do not answer learn it by gossip: the target's bumped epoch wins).
async fn announce(
    pool: &Pool,
    src: &AdminClient,
    dst: &AdminClient,
    m: &Move<'_>,
    slot: u16,
) -> Result<(), AdminError> {
    dst.setslot(slot, SetSlot::Node(m.to_id)).await?;
    src.setslot(slot, SetSlot::Node(m.to_id)).await?;
    // The others at once: each only hears sooner what gossip would tell it anyway.
    futures_util::future::join_all(m.others.iter().map(|o| async move {
        if let Ok(c) = pool.get(o).await {
            let _ = c.setslot(slot, SetSlot::Node(m.to_id)).await;
        }
    }))
    .await;
    Ok(())
}

/// The receiving master's replica has read everything the master wrote so far.
async fn replica_has_it(
    pool: &Pool,
    dst: &AdminClient,
    replica: Option<&NodeAddr>,
) -> Result<(), AdminError> {
    let Some(replica) = replica else {
        return Ok(());
    };
    let ReplicationInfo::Master {
        master_repl_offset: want,
        ..
    } = dst.info_replication().await?
    else {
        return Ok(());
    };
    let r = pool.get(replica).await?;
    let start = Instant::now();
    loop {
        if let ReplicationInfo::Replica { repl_offset, .. } = r.info_replication().await? {
            if repl_offset >= want {
                return Ok(());
            }
        }
        if start.elapsed() > REPLICA_CATCH_UP {
            return Err(AdminError::Timeout {
                node: replica.clone(),
                command: format!(
                    "waiting for the receiving master's replica to reach offset {want} (the slot stays open; the next pass closes it and moves it again)"
                ),
                timeout: REPLICA_CATCH_UP,
            });
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
}

async fn atomic(pool: &Pool, m: &Move<'_>) -> Result<String, AdminError> {
    let src = pool.get(m.from).await?;
    let start = Instant::now();
    // Valkey lists jobs newest first, operations in capitals (`EXPORT`).
    let export =
        |j: &&redis_stretch_admin::SlotMigrationJob| j.operation.eq_ignore_ascii_case("export");
    let running = |jobs: &[redis_stretch_admin::SlotMigrationJob]| {
        jobs.iter().filter(export).any(|j| !j.finished())
    };
    let started = if running(&src.slot_migrations().await?) {
        false
    } else {
        src.migrate_slots_atomic(m.slots, m.to_id).await?;
        true
    };
    let ours = m
        .slots
        .first()
        .map(|r| format!("{}-{}", r.start, r.end))
        .unwrap_or_default();
    loop {
        let jobs = src.slot_migrations().await?;
        if !running(&jobs) {
            let job = jobs
                .iter()
                .filter(export)
                .find(|j| j.slot_ranges.split_whitespace().next() == Some(ours.as_str()));
            if let Some(j) = job.filter(|j| j.state != "success") {
                return Err(AdminError::Timeout {
                    node: m.from.clone(),
                    command: format!(
                        "CLUSTER MIGRATESLOTS {}: {} ({})",
                        j.slot_ranges, j.state, j.message
                    ),
                    timeout: start.elapsed(),
                });
            }
            if let Ok(dst) = pool.get(m.to).await {
                replica_has_it(pool, &dst, m.to_replica).await?;
            }
            return Ok(format!(
                "{} slots {} in {} ms",
                if started {
                    "moved"
                } else {
                    "the running job moved"
                },
                redis_stretch_model::format_ranges(m.slots),
                start.elapsed().as_millis()
            ));
        }
        if start.elapsed() > PASS_BUDGET * 4 {
            return Ok(format!(
                "job under way after {} ms; the next pass follows it",
                start.elapsed().as_millis()
            ));
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Close `slot` on the node at `addr`: keys it holds of a slot it imports go to `owner`, then
/// the slot is stable there (and `NODE owner` where it still claims it). Where the owner has a
/// key too, the importing node's copy wins: `MIGRATE` wrote it there and deleted it on the
/// source in one command, so a second copy on the owner is one whose deletion never reached it
/// (the source's replica, promoted before the `DEL` arrived); later writes to the key went to
/// the importing node (`ASK`: the source no longer had it).
pub async fn close_slot(
    pool: &Pool,
    addr: &NodeAddr,
    slot: u16,
    owner: &NodeAddr,
    owner_id: &str,
) -> Result<String, AdminError> {
    let c = pool.get(addr).await?;
    let me = c.myid().await?;
    let password = pool.password();
    let mut returned = 0u64;
    let mut dropped = 0u64;
    if me != owner_id {
        loop {
            let keys = c.keys_in_slot(slot, KEYS_PER_MIGRATE).await?;
            if keys.is_empty() {
                break;
            }
            for k in &keys {
                match c
                    .migrate_key_asking(owner, k, MIGRATE_TIMEOUT_MS, password)
                    .await
                {
                    Ok(()) => returned += 1,
                    Err(e) if e.to_string().contains("BUSYKEY") => {
                        c.del_asking(std::slice::from_ref(k)).await?;
                        dropped += 1;
                    }
                    Err(e) => return Err(e),
                }
            }
        }
    }
    // STABLE clears importing and migrating alike (`SETSLOT NODE other` leaves an importing
    // state in place); a node that still claims a slot its owner has taken is told.
    c.setslot(slot, SetSlot::Stable).await?;
    if me != owner_id {
        let nodes = c.cluster_nodes().await?;
        let claims = nodes
            .myself()
            .is_some_and(|n| n.slots.iter().any(|r| r.start <= slot && slot <= r.end));
        if claims {
            c.setslot(slot, SetSlot::Node(owner_id)).await?;
        }
    }
    Ok(format!(
        "slot {slot} closed: {returned} key(s) returned to its owner, {dropped} older copy(ies) dropped"
    ))
}

/// `CLUSTER RESET HARD` on the leaving node (best effort: it may be gone), then `CLUSTER
/// FORGET` of its id on every node in `forget_on`.
pub async fn forget_everywhere(
    pool: &Pool,
    node: &NodeAddr,
    node_id: &str,
    forget_on: &[NodeAddr],
) -> Result<String, AdminError> {
    if let Ok(c) = pool.get(node).await {
        let _ = c.reset_hard().await;
    }
    pool.discard(node);
    let mut forgot = 0;
    for a in forget_on.iter().filter(|a| *a != node) {
        let c = pool.get(a).await?;
        match c.forget(node_id).await {
            Ok(()) => forgot += 1,
            Err(e) if e.to_string().contains("Unknown node") => {}
            Err(e) => return Err(e),
        }
    }
    Ok(format!("reset; forgotten by {forgot} node(s)"))
}

/// Set every slot of `slots` importing on the node at `addr` where it holds keys of a slot it
/// neither owns nor imports, so that [`close_slot`] hands them to the owner.
pub async fn sweep(
    pool: &Pool,
    addr: &NodeAddr,
    slots: &[SlotRange],
) -> Result<String, AdminError> {
    let c = pool.get(addr).await?;
    let nodes = c.cluster_nodes().await?;
    let Some(me) = nodes.myself() else {
        return Ok("no view of itself".into());
    };
    let owner_of = |slot: u16| {
        nodes
            .nodes
            .iter()
            .filter(|n| n.slots.iter().any(|r| r.start <= slot && slot <= r.end))
            .max_by_key(|n| n.config_epoch)
            .map(|n| n.id.clone())
    };
    let mut opened = Vec::new();
    for r in slots {
        for slot in r.start..=r.end {
            let own = me.slots.iter().any(|x| x.start <= slot && slot <= x.end);
            let open = me.open_slots.iter().any(|o| o.slot == slot);
            if own || open || c.count_keys_in_slot(slot).await? == 0 {
                continue;
            }
            if let Some(owner) = owner_of(slot).filter(|o| *o != me.id) {
                c.setslot(slot, SetSlot::Importing(&owner)).await?;
                opened.push(slot);
            }
        }
    }
    Ok(if opened.is_empty() {
        "no stray keys".into()
    } else {
        format!("stray keys in slots {opened:?}: opened for closing into their owners")
    })
}
