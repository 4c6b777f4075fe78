//! Update status: what the cluster looks like now, from the engine's last snapshot and the
//! pods' placement — topology by zone, the shard table, the verdict per zone, conditions and
//! the engine's last actions — written by server-side apply of the status subresource.
//!
//! Built by a pure function ([`build`]) so every condition is unit-tested without an API.

use std::collections::{BTreeMap, BTreeSet};

use k8s_openapi::jiff::Timestamp;
use kube::api::{Patch, PatchParams};
use kube::Api;
use redis_stretch_api::{
    Condition, EngineAction, InstanceStatus, RedisStretchCluster, RedisStretchClusterStatus,
    ShardStatus, ValidatedCluster, ZoneStatus, API_VERSION, KIND,
};
use redis_stretch_engine::{NodeState, Snapshot, Waiting, ZoneState};
use redis_stretch_topology::{format_ranges, hosts_needed, summary_line, SLOT_COUNT};

use super::observe::Observed;
use super::validate::Validated;
use crate::context::MANAGER;
use crate::engines::EngineReport;
use crate::error::{Error, KubeError};
use crate::platform::{NodeHealth, PodPlacement};

/// How many engine actions the status keeps.
const LAST_ACTIONS: usize = 10;

/// The step: build the status from the validated spec, what the engine reported and what the
/// caches show; write it only when it changed (the engine asks for a reconcile on every change
/// it sees, so an unchanged status must not cost an API call each time).
pub async fn update(
    api: &Api<RedisStretchCluster>,
    valid: &Validated,
    previous: Option<&RedisStretchClusterStatus>,
    report: &EngineReport,
    seen: &Observed,
    apply_error: Option<&str>,
) -> Result<(), Error> {
    let status = build(&Inputs {
        cluster: &valid.cluster,
        generation: valid.generation,
        previous,
        report: Some(report),
        placement: &seen.placement,
        nodes: &seen.nodes,
        now: now(),
        apply_error,
    });
    if previous == Some(&status) {
        return Ok(());
    }
    patch(api, valid.cluster.name(), &status)
        .await
        .map_err(|source| Error::Status {
            cluster: valid.key.clone(),
            source,
        })
}

pub struct Inputs<'a> {
    pub cluster: &'a ValidatedCluster,
    pub generation: Option<i64>,
    pub previous: Option<&'a RedisStretchClusterStatus>,
    pub report: Option<&'a EngineReport>,
    pub placement: &'a PodPlacement,
    pub nodes: &'a BTreeMap<String, NodeHealth>,
    /// RFC 3339, for condition transitions.
    pub now: String,
    /// Why the objects could not be applied this time (the `Applied` condition).
    pub apply_error: Option<&'a str>,
}

pub fn now() -> String {
    let t = Timestamp::now();
    Timestamp::from_second(t.as_second()).map_or_else(|_| t.to_string(), |s| s.to_string())
}

pub fn build(i: &Inputs<'_>) -> RedisStretchClusterStatus {
    let spec = i.cluster.spec();
    let snapshot = i.report.and_then(|r| r.snapshot.as_ref());
    let zone_states: BTreeMap<&str, ZoneState> = i
        .report
        .map(|r| r.zones.iter().map(|z| (z.zone.as_str(), z.state)).collect())
        .unwrap_or_default();
    let needed: BTreeMap<String, usize> = hosts_needed(i.cluster).into_iter().collect();
    let zones: Vec<ZoneStatus> = spec
        .zones
        .iter()
        .map(|z| {
            let nodes = i.nodes.get(&z.name).cloned().unwrap_or_default();
            let in_zone = |n: &&NodeState| n.zone == z.name && n.name.is_some();
            ZoneStatus {
                name: z.name.clone(),
                up: !zone_states
                    .get(z.name.as_str())
                    .is_some_and(|s| s.is_dark()),
                nodes_ready: nodes.ready,
                nodes_total: nodes.total,
                instances_ready: count(snapshot.map(|s| {
                    s.nodes
                        .iter()
                        .filter(in_zone)
                        .filter(|n| n.reachable)
                        .count()
                })),
                instances_total: count(needed.get(&z.name).copied()),
                masters: count(
                    snapshot.map(|s| s.masters().iter().filter(|m| m.zone == z.name).count()),
                ),
                preferred_masters: z.preferred_masters,
            }
        })
        .collect();
    let shards = snapshot
        .map(|s| shard_table(s, i.placement))
        .unwrap_or_default();
    let ready_shards = shards
        .iter()
        .filter(|s| {
            s.master.as_ref().is_some_and(|m| m.healthy)
                && s.replicas.iter().filter(|r| r.healthy).count()
                    >= spec.replicas_per_shard as usize
        })
        .count();
    let conditions = conditions(i, snapshot, &zones, ready_shards);
    RedisStretchClusterStatus {
        // A generation whose objects were not applied is not observed yet: the `Applied`
        // Event still comes once it is.
        observed_generation: match i.apply_error {
            Some(_) => i.previous.and_then(|p| p.observed_generation),
            None => i.generation,
        },
        conditions: keep_transition_times(conditions, i.previous),
        // Out of the shards the cluster has now while it scales in (6/6, not 6/3), never
        // fewer than the spec's (a dark zone's shards still count).
        ready: Some(format!(
            "{ready_shards}/{}",
            shards.len().max(spec.shards as usize)
        )),
        zones_up: Some(format!(
            "{}/{}",
            zones.iter().filter(|z| z.up).count(),
            zones.len()
        )),
        verdict: snapshot.map(|s| summary_line(&s.verdicts())),
        server: snapshot
            .and_then(servers)
            .or_else(|| i.previous.and_then(|p| p.server.clone())),
        zones,
        shards,
        last_actions: last_actions(i.report),
        // The engine's memory when it has one, else what a previous leader left: a replica
        // that runs no engine must not wipe it.
        engine_memory: i
            .report
            .and_then(|r| r.memory.as_ref())
            .and_then(|m| serde_json::to_string(m).ok())
            .or_else(|| i.previous.and_then(|p| p.engine_memory.clone())),
    }
}

/// The servers the reachable instances report, e.g. `Redis 7.0.15`; more than one, comma-
/// separated, in the middle of a rollout that changes them.
fn servers(s: &Snapshot) -> Option<String> {
    let seen: BTreeSet<String> = s
        .nodes
        .iter()
        .filter(|n| n.reachable)
        .filter_map(|n| {
            let name = n.server.map_or("", |f| f.display_name());
            match (name, n.version.as_deref()) {
                ("", None) => None,
                (name, Some(v)) => Some(format!("{name} {v}").trim().to_owned()),
                (name, None) => Some(name.to_owned()),
            }
        })
        .collect();
    (!seen.is_empty()).then(|| seen.into_iter().collect::<Vec<_>>().join(", "))
}

fn count(n: Option<usize>) -> u32 {
    u32::try_from(n.unwrap_or(0)).unwrap_or(u32::MAX)
}

/// The pod's name, or the cluster node id of an instance the platform does not know; `None`
/// for a node known by neither, which the status cannot name.
fn instance(n: &NodeState, placement: &PodPlacement, healthy: bool) -> Option<InstanceStatus> {
    let pod = n.name.clone().or_else(|| n.id.clone())?;
    Some(InstanceStatus {
        // Empty while the pod is on no node the cache knows (the field is a plain string).
        node: placement.nodes.get(&pod).cloned().unwrap_or_default(),
        pod,
        zone: n.zone.clone(),
        healthy,
    })
}

fn shard_table(s: &Snapshot, placement: &PodPlacement) -> Vec<ShardStatus> {
    s.masters()
        .into_iter()
        .zip(0u32..)
        .map(|(m, index)| ShardStatus {
            index,
            slots: format_ranges(&m.slots),
            master: instance(m, placement, m.reachable),
            // Replicas name their master by id: without one, none can be matched to it.
            replicas: m
                .id
                .as_deref()
                .map(|id| {
                    s.replicas_of(id)
                        .filter_map(|r| {
                            instance(r, placement, r.reachable && r.link_up == Some(true))
                        })
                        .collect()
                })
                .unwrap_or_default(),
        })
        .collect()
}

fn condition(
    type_: &str,
    status: bool,
    reason: &str,
    message: String,
    now: &str,
    generation: Option<i64>,
) -> Condition {
    Condition {
        type_: type_.to_owned(),
        status: if status { "True" } else { "False" }.to_owned(),
        reason: reason.to_owned(),
        message,
        last_transition_time: now.to_owned(),
        observed_generation: generation,
    }
}

fn conditions(
    i: &Inputs<'_>,
    snapshot: Option<&Snapshot>,
    zones: &[ZoneStatus],
    ready_shards: usize,
) -> Vec<Condition> {
    let spec = i.cluster.spec();
    let c = |t: &str, s: bool, r: &str, m: String| condition(t, s, r, m, &i.now, i.generation);
    let waiting_for = i
        .report
        .and_then(|r| r.status.as_ref())
        .and_then(|s| s.waiting_for.clone());
    let waiting = waiting_for
        .as_ref()
        .map(ToString::to_string)
        .unwrap_or_default();
    let notes = i
        .report
        .and_then(|r| r.status.as_ref())
        .map(|s| s.notes.join("; "))
        .unwrap_or_default();
    let served = snapshot.map_or(0, Snapshot::slots_covered);
    let dark: Vec<&ZoneStatus> = zones.iter().filter(|z| !z.up).collect();
    let unreachable: Vec<String> = snapshot
        .map(|s| {
            s.nodes
                .iter()
                .filter(|n| n.name.is_some() && !n.reachable)
                .filter_map(|n| n.name.clone())
                .collect()
        })
        .unwrap_or_default();

    let ready = match (i.report, snapshot) {
        (Some(r), _) if !r.formed => c(
            "Ready",
            false,
            "Forming",
            r.forming.clone().unwrap_or_else(|| "forming the cluster".to_owned()),
        ),
        (_, None) => c("Ready", false, "Forming", "the engine has not observed the cluster yet".to_owned()),
        (_, Some(_)) if served < SLOT_COUNT as usize => c(
            "Ready",
            false,
            "SlotsUnserved",
            format!("{served} of {SLOT_COUNT} slots served by a reachable master"),
        ),
        // Against the shards the cluster has now: while it scales they are not the spec's.
        (_, Some(s)) if ready_shards < s.masters().len() => c(
            "Ready",
            false,
            "ReplicasDown",
            format!("{ready_shards} of {} shards have every replica in sync: a further loss may not be survivable", s.masters().len()),
        ),
        (_, Some(_)) => c(
            "Ready",
            true,
            "FailoverReady",
            "every slot served and every replica's link up".to_owned(),
        ),
    };
    let degraded = if !i.placement.unplaced.is_empty() {
        let list: Vec<String> = i
            .placement
            .unplaced
            .iter()
            .map(|u| format!("{}: {}", u.pod, u.why))
            .collect();
        c("Degraded", true, "PodsNotPlaced", list.join("; "))
    } else if !unreachable.is_empty() {
        c(
            "Degraded",
            true,
            "InstancesDown",
            format!("not answering: {}", unreachable.join(", ")),
        )
    } else {
        c("Degraded", false, "AllInstancesUp", String::new())
    };
    let zone_lost = match dark.as_slice() {
        [] => c("ZoneLost", false, "BothZonesUp", String::new()),
        zs => c(
            "ZoneLost",
            true,
            "ZoneDark",
            zs.iter()
                .map(|z| format!("{}: every instance silent", z.name))
                .collect::<Vec<_>>()
                .join("; "),
        ),
    };
    let lost_masters = snapshot.is_some_and(|s| s.masters().iter().any(|m| !m.reachable));
    // A master lost with or without its zone (two nodes of a DC die: the zone answers, the
    // shards do not) leaves shards to take over either way.
    let takeover = if lost_masters || (!dark.is_empty() && served < SLOT_COUNT as usize) {
        if spec.failover.policy == redis_stretch_api::FailoverPolicy::Manual
            && matches!(waiting_for, Some(Waiting::Human { .. }))
        {
            c(
                "TakeoverInProgress",
                true,
                "WaitingForHuman",
                if notes.is_empty() {
                    waiting.clone()
                } else {
                    notes.clone()
                },
            )
        } else {
            c("TakeoverInProgress", true, "TakingOver", waiting.clone())
        }
    } else {
        c(
            "TakeoverInProgress",
            false,
            "NoOrphanedShards",
            String::new(),
        )
    };
    let off_preferred = zones.iter().any(|z| z.masters != z.preferred_masters);
    let failback = if dark.is_empty() && snapshot.is_some() && off_preferred {
        let layout: Vec<String> = zones
            .iter()
            .map(|z| {
                format!(
                    "{} holds {} of {} preferred masters",
                    z.name, z.masters, z.preferred_masters
                )
            })
            .collect();
        c(
            "FailbackPending",
            true,
            "MastersNotAsPreferred",
            format!("{}; {}", layout.join(", "), waiting),
        )
    } else {
        c("FailbackPending", false, "AsPreferred", String::new())
    };
    let partition = i
        .report
        .and_then(|r| r.status.as_ref())
        .and_then(|s| s.partition.as_ref());
    let partitioned = match (partition, &waiting_for) {
        (Some(p), _) => c(
            "Partitioned",
            true,
            "SideChosen",
            format!(
                "{} and {} do not hear each other: {} serves every slot ({}); {} is fenced and refuses writes",
                p.chosen, p.fenced, p.chosen, p.rule, p.fenced
            ),
        ),
        (None, Some(w @ Waiting::ConfirmingCut { .. })) => {
            c("Partitioned", true, "ConfirmingCut", w.to_string())
        }
        (None, Some(w @ Waiting::Partition { .. })) => {
            c("Partitioned", true, "SideChosen", w.to_string())
        }
        _ => c("Partitioned", false, "ZonesConnected", String::new()),
    };
    let (rolling_now, reason, message) = rolling(i, snapshot, waiting_for.as_ref(), &waiting);
    let rolling = c("Rolling", rolling_now, reason, message);
    let (scaling_now, reason, message) = scaling(i, snapshot, waiting_for.as_ref(), &waiting);
    let scaling = c("Scaling", scaling_now, reason, message);
    let (config_now, reason, message) = config_applied(spec, snapshot);
    let config = c("ConfigApplied", config_now, reason, message);
    // The engine runs the new spec whatever the API server takes (live settings included);
    // what it refused to apply (an immutable StatefulSet field, a webhook, quota) is said here.
    let applied = match i.apply_error {
        Some(e) => c("Applied", false, "ApplyFailed", e.to_owned()),
        None => c(
            "Applied",
            true,
            "Applied",
            "every object applied as rendered".to_owned(),
        ),
    };
    vec![
        ready,
        degraded,
        zone_lost,
        partitioned,
        takeover,
        failback,
        rolling,
        scaling,
        config,
        applied,
    ]
}

/// `ConfigApplied`: whether every answering instance holds the spec's live settings, which
/// the engine sets with `CONFIG SET` (no restart), and until then which differ where. A
/// setting only a restart applies would make its instances outdated: `Rolling` says that.
fn config_applied(
    spec: &redis_stretch_api::RedisStretchClusterSpec,
    snapshot: Option<&Snapshot>,
) -> (bool, &'static str, String) {
    let Some(s) = snapshot else {
        return (
            false,
            "NotObserved",
            "the engine has not observed the instances yet".to_owned(),
        );
    };
    let live = redis_stretch_api::redis_config::live_settings(spec);
    let drift = redis_stretch_engine::decide::config_drift(s, &live);
    if drift.is_empty() {
        let names: Vec<&str> = live
            .iter()
            .map(|(n, _)| n.as_str())
            .filter(|n| s.nodes.iter().any(|x| x.live_config.contains_key(*n)))
            .collect();
        let answering = s
            .nodes
            .iter()
            .filter(|n| n.reachable && n.name.is_some())
            .count();
        return (
            true,
            "Live",
            format!(
                "every answering instance ({answering}) holds the spec's live settings, set with CONFIG SET without a restart: {}",
                names.join(", ")
            ),
        );
    }
    let mut by_name: BTreeMap<&str, (&str, Vec<String>)> = BTreeMap::new();
    for d in &drift {
        by_name
            .entry(d.name)
            .or_insert((d.want, Vec::new()))
            .1
            .push(format!(
                "{} has {}",
                d.node.name.as_deref().unwrap_or("an instance"),
                d.have
            ));
    }
    let parts: Vec<String> = by_name
        .iter()
        .map(|(name, (want, where_))| format!("{name} {want} ({})", where_.join(", ")))
        .collect();
    (
        false,
        "Applying",
        format!(
            "the engine sets with CONFIG SET, without a restart: {}",
            parts.join("; ")
        ),
    )
}

/// `Rolling`: True while the engine restarts outdated instances (a rollout in its memory, or
/// an instance the platform reports outdated), with progress and what it waits for; a zone
/// loss or a cut pauses it, and the message says so.
fn rolling(
    i: &Inputs<'_>,
    snapshot: Option<&Snapshot>,
    waiting_for: Option<&Waiting>,
    waiting: &str,
) -> (bool, &'static str, String) {
    let rollout = i
        .report
        .and_then(|r| r.status.as_ref())
        .and_then(|s| s.rollout.as_ref());
    let outdated: Vec<&str> = snapshot
        .map(|s| {
            s.nodes
                .iter()
                .filter(|n| n.restart_for.is_some())
                .filter_map(|n| n.name.as_deref())
                .collect()
        })
        .unwrap_or_default();
    if let Some(Waiting::Rolling {
        done,
        total,
        instance,
        why,
    }) = waiting_for
    {
        let current = instance
            .as_deref()
            .map(|x| format!(", current instance {x}"))
            .unwrap_or_default();
        return (
            true,
            "Rolling",
            format!("{done} of {total} restarted{current}, waiting for: {why}"),
        );
    }
    if rollout.is_none() && outdated.is_empty() {
        return (
            false,
            "Current",
            "every instance runs the current revision".to_owned(),
        );
    }
    // Under way, but this pass acted (a restart or a failover asked) or a zone's trouble comes
    // first: progress from the engine's memory and the snapshot.
    let done = rollout.map_or(0, |r| r.done.len());
    let restarting = rollout
        .and_then(|r| r.restarting.as_ref())
        .map(|r| r.instance.as_str())
        .filter(|x| rollout.is_some_and(|r| !r.done.iter().any(|d| d == x)));
    let in_flight = restarting.filter(|x| !outdated.contains(x));
    let total = done + outdated.len() + usize::from(in_flight.is_some());
    let current = restarting
        .map(|x| format!(", current instance {x}"))
        .unwrap_or_default();
    let why = if waiting.is_empty() {
        "the step under way".to_owned()
    } else {
        format!("paused: {waiting}")
    };
    (
        true,
        "Rolling",
        format!("{done} of {total} restarted{current}, waiting for: {why}"),
    )
}

/// `Scaling`: True while the cluster's shards are not the spec's — new instances to make
/// masters, a migration in the engine's memory, slots still to move, instances leaving — with
/// the progress (`to 6 shards (4 masters now): 4,096 slots left to move: moving slots …`); a
/// zone loss, a cut or a repair comes first, and the message says what it waits for then.
fn scaling(
    i: &Inputs<'_>,
    snapshot: Option<&Snapshot>,
    waiting_for: Option<&Waiting>,
    waiting: &str,
) -> (bool, &'static str, String) {
    let target = i.cluster.spec().shards;
    if let Some(Waiting::Scaling {
        shards,
        target,
        slots_left,
        why,
    }) = waiting_for
    {
        let left = if *slots_left > 0 {
            format!("{} slots left to move: ", thousands(*slots_left))
        } else {
            String::new()
        };
        return (
            true,
            "Scaling",
            format!("to {target} shards ({shards} masters now): {left}{why}"),
        );
    }
    let migration = i
        .report
        .and_then(|r| r.status.as_ref())
        .and_then(|s| s.migration.as_ref());
    let shards = snapshot.map(|s| s.masters().len());
    let leaving: Vec<&str> = snapshot
        .map(|s| {
            s.nodes
                .iter()
                .filter(|n| n.leaving)
                .filter_map(|n| n.name.as_deref())
                .collect()
        })
        .unwrap_or_default();
    let off = shards.is_some_and(|n| n != target as usize);
    if migration.is_none() && !off && leaving.is_empty() {
        return (
            false,
            "AtShardCount",
            format!("{target} shards, as the spec asks"),
        );
    }
    // Under way, but this pass acted (a batch of slots moved) or something else comes first.
    let now = shards.map_or_else(|| "?".to_owned(), |n| n.to_string());
    let planned = migration
        .map(|m| format!(", {} slots in the migration's plan", thousands(m.total())))
        .unwrap_or_default();
    let leaving = if leaving.is_empty() {
        String::new()
    } else {
        format!(", leaving: {}", leaving.join(", "))
    };
    let why = if waiting.is_empty() {
        "the step under way".to_owned()
    } else {
        format!("paused: {waiting}")
    };
    (
        true,
        "Scaling",
        format!("to {target} shards ({now} masters now){planned}{leaving}, waiting for: {why}"),
    )
}

/// `4096` → `4,096`.
fn thousands(n: usize) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (k, c) in digits.chars().enumerate() {
        if k > 0 && (digits.len() - k).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// Whether `previous` already says that applying failed with `message` (its Warning Event
/// was published then; retries do not repeat it).
pub fn already_failed(previous: Option<&RedisStretchClusterStatus>, message: &str) -> bool {
    previous.is_some_and(|p| {
        p.conditions
            .iter()
            .any(|c| c.type_ == "Applied" && c.status == "False" && c.message == message)
    })
}

/// A condition's `lastTransitionTime` moves only when its status does.
fn keep_transition_times(
    mut new: Vec<Condition>,
    previous: Option<&RedisStretchClusterStatus>,
) -> Vec<Condition> {
    if let Some(prev) = previous {
        for c in &mut new {
            if let Some(p) = prev
                .conditions
                .iter()
                .find(|p| p.type_ == c.type_ && p.status == c.status)
            {
                c.last_transition_time.clone_from(&p.last_transition_time);
            }
        }
    }
    new
}

fn last_actions(report: Option<&EngineReport>) -> Vec<EngineAction> {
    let Some(status) = report.and_then(|r| r.status.as_ref()) else {
        return Vec::new();
    };
    status
        .last_actions
        .iter()
        .rev()
        .take(LAST_ACTIONS)
        .map(|e| EngineAction {
            time: i64::try_from(e.at_ms)
                .ok()
                .and_then(|ms| Timestamp::from_millisecond(ms).ok())
                .map(|t| t.to_string())
                .unwrap_or_default(),
            action: e.kind.to_owned(),
            reason: if e.ok {
                format!("{}: {}", e.summary, e.why)
            } else {
                format!("{}: {} — failed: {}", e.summary, e.why, e.detail)
            },
        })
        .collect()
}

/// Whether `previous` already says that the reconcile fails for `reason` with `message` (its
/// Warning Event was published then; retries do not repeat it).
pub fn already_reported(
    previous: Option<&RedisStretchClusterStatus>,
    reason: &str,
    message: &str,
) -> bool {
    previous.is_some_and(|p| {
        p.conditions.iter().any(|c| {
            c.type_ == "Ready" && c.status == "False" && c.reason == reason && c.message == message
        })
    })
}

/// The status of a cluster whose reconcile failed before its status could be built (a Secret
/// missing, say): `Ready=False` with the cause, everything else as it was — the engine, when
/// it runs, keeps the cluster running, and the next good reconcile rebuilds `Ready`.
pub fn failed(
    previous: Option<&RedisStretchClusterStatus>,
    generation: Option<i64>,
    reason: &str,
    message: &str,
    now: &str,
) -> RedisStretchClusterStatus {
    let mut s = previous.cloned().unwrap_or_default();
    let mut conditions: Vec<Condition> = s
        .conditions
        .iter()
        .filter(|c| c.type_ != "Ready")
        .cloned()
        .collect();
    conditions.insert(
        0,
        condition("Ready", false, reason, message.to_owned(), now, generation),
    );
    s.conditions = keep_transition_times(conditions, previous);
    s
}

/// The status of a cluster whose spec does not validate: the problems in `Ready` and
/// `Degraded`, everything else as it was (the cluster keeps running on the last good spec).
pub fn invalid(
    previous: Option<&RedisStretchClusterStatus>,
    generation: Option<i64>,
    problems: &str,
    now: &str,
) -> RedisStretchClusterStatus {
    let mut s = previous.cloned().unwrap_or_default();
    let c =
        |t: &str, st: bool| condition(t, st, "InvalidSpec", problems.to_owned(), now, generation);
    let mut conditions: Vec<Condition> = s
        .conditions
        .iter()
        .filter(|c| c.type_ != "Ready" && c.type_ != "Degraded")
        .cloned()
        .collect();
    conditions.insert(0, c("Degraded", true));
    conditions.insert(0, c("Ready", false));
    s.conditions = keep_transition_times(conditions, previous);
    s
}

/// Write `status` by server-side apply of the status subresource.
pub async fn patch(
    api: &Api<RedisStretchCluster>,
    name: &str,
    status: &RedisStretchClusterStatus,
) -> Result<(), KubeError> {
    let body = serde_json::json!({
        "apiVersion": API_VERSION,
        "kind": KIND,
        "status": status,
    });
    api.patch_status(
        name,
        &PatchParams::apply(MANAGER).force(),
        &Patch::Apply(&body),
    )
    .await
    .map_err(|e| KubeError::new("patch status of", KIND, name, e))?;
    Ok(())
}
