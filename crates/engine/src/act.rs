//! Act: carry out a decision through the admin layer, step by step (the actions of one step
//! at once), and report each outcome. A failed action is reported, not retried here: the next
//! pass observes again and decides what is still missing.

use std::time::{Duration, Instant};

use redis_stretch_admin::{AdminError, FailoverMode, ReplicationInfo};
use serde::Serialize;

use redis_stretch_decide::{Action, ActionKind, Decision};

use crate::{Platform, Pool};

/// What became of one action.
#[derive(Clone, Debug, Serialize)]
pub struct ActionResult {
    pub action: Action,
    pub ok: bool,
    /// What happened: the reply, or the error naming node and command.
    pub detail: String,
    pub took_ms: u64,
}

/// Run every step of `decision`; stops after a step in which anything failed, since later
/// steps assume earlier ones (unfence before takeover, takeover before bump).
pub async fn act(decision: &Decision, pool: &Pool, platform: &dyn Platform) -> Vec<ActionResult> {
    let mut out = Vec::new();
    for step in &decision.steps {
        let results =
            futures_util::future::join_all(step.iter().map(|a| run(a, pool, platform))).await;
        let failed = results.iter().any(|o| !o.ok);
        crash_point(&results);
        out.extend(results);
        if failed {
            break;
        }
    }
    out
}

/// Crash points, for tests of an engine killed in the middle of an operation:
/// `REDIS_STRETCH_CRASH_AFTER=KIND[:N]` ends the process at once after the step in which the
/// Nth successful action of `KIND` (`takeover`, `graceful-failover`, ..., or `any`) completed,
/// before the pass reports or remembers anything, as a SIGKILL at that moment would. It says on
/// stderr how many actions of `KIND` had completed and what the step ran, so that a test
/// walking the steps knows where the next one starts. Unset, it costs one environment read per
/// process.
pub const CRASH_AFTER_ENV: &str = "REDIS_STRETCH_CRASH_AFTER";

/// `KIND[:N]` from [`CRASH_AFTER_ENV`], read once per process.
fn crash_env() -> Option<&'static (String, u32)> {
    use std::sync::OnceLock;
    static POINT: OnceLock<Option<(String, u32)>> = OnceLock::new();
    POINT
        .get_or_init(|| {
            let v = std::env::var(CRASH_AFTER_ENV).ok()?;
            let (kind, n) = v.split_once(':').unwrap_or((v.as_str(), "1"));
            Some((kind.to_owned(), n.parse().unwrap_or(1)))
        })
        .as_ref()
}

fn crash_point(results: &[ActionResult]) {
    use std::sync::atomic::{AtomicU32, Ordering};
    static SEEN: AtomicU32 = AtomicU32::new(0);
    let Some((kind, nth)) = crash_env() else {
        return;
    };
    let hits = results
        .iter()
        .filter(|r| r.ok && (kind == "any" || r.action.kind() == kind))
        .count();
    let hits = u32::try_from(hits).unwrap_or(u32::MAX);
    let seen = SEEN.fetch_add(hits, Ordering::SeqCst).saturating_add(hits);
    if hits > 0 && seen >= *nth {
        // Which actions the step ran, so that a test walking the crash points can say what the
        // engine died after (with `any`, the kind alone says nothing).
        let step: Vec<String> = results
            .iter()
            .map(|r| {
                let failed = if r.ok { "" } else { " (failed)" };
                format!("{}: {}{failed}", r.action.kind(), r.action.what())
            })
            .collect();
        eprintln!(
            "{CRASH_AFTER_ENV}={kind}:{nth}: exiting after the step of action {nth} of kind {kind} ({seen} so far); the step: {}",
            step.join(" | ")
        );
        std::process::exit(86);
    }
}

/// A crash point inside an action (`REDIS_STRETCH_CRASH_AFTER=LABEL[:N]`): the process ends
/// the Nth time the action passes `label` (`move-slot-keys`: a slot's keys partly moved, the
/// slot importing on the target and migrating on the source).
pub(crate) fn crash_inside(label: &str) {
    use std::sync::atomic::{AtomicU32, Ordering};
    static SEEN: AtomicU32 = AtomicU32::new(0);
    let Some((kind, nth)) = crash_env() else {
        return;
    };
    if kind != label {
        return;
    }
    let seen = SEEN.fetch_add(1, Ordering::SeqCst) + 1;
    if seen >= *nth {
        eprintln!(
            "{CRASH_AFTER_ENV}={kind}:{nth}: exiting inside an action at {label} ({seen} so far); the step: {label}"
        );
        std::process::exit(86);
    }
}

async fn run(action: &Action, pool: &Pool, platform: &dyn Platform) -> ActionResult {
    let start = Instant::now();
    // A restart is the platform's (a process, a pod), not a command to Redis.
    if let ActionKind::Restart { instance, .. } = &action.kind {
        pool.discard(&action.node);
        let result = platform.restart(instance).await;
        return ActionResult {
            action: action.clone(),
            ok: result.is_ok(),
            detail: match result {
                Ok(s) => s,
                Err(e) => format!("restarting {instance}: {e}"),
            },
            took_ms: u64::try_from(start.elapsed().as_millis()).unwrap_or(u64::MAX),
        };
    }
    // Leaving the cluster: forgotten by the rest, then retired by the platform.
    if let ActionKind::Retire {
        instance,
        forget_on,
    } = &action.kind
    {
        let result =
            match crate::migrate::forget_everywhere(pool, &action.node, &action.node_id, forget_on)
                .await
            {
                Ok(forgot) => platform
                    .retire(instance)
                    .await
                    .map(|done| format!("{forgot}; {done}"))
                    .map_err(|e| format!("retiring {instance}: {e}")),
                Err(e) => Err(e.to_string()),
            };
        return ActionResult {
            action: action.clone(),
            ok: result.is_ok(),
            detail: result.unwrap_or_else(|e| e),
            took_ms: u64::try_from(start.elapsed().as_millis()).unwrap_or(u64::MAX),
        };
    }
    if let Some(which) = action.kind.password() {
        if pool.secret(which).is_none() {
            return ActionResult {
                action: action.clone(),
                ok: false,
                detail: format!("the engine does not know {which}"),
                took_ms: 0,
            };
        }
    }
    let result = execute(action, pool).await;
    match &result {
        Err(e) if e.is_unreachable() => pool.discard(e.node()),
        // The next pass reconnects with the current password, which the rotation needs
        // before it drops the previous one.
        Ok(_) if matches!(action.kind, ActionKind::AddPassword { .. }) => {
            pool.discard(&action.node);
        }
        _ => {}
    }
    ActionResult {
        action: action.clone(),
        ok: result.is_ok(),
        detail: match result {
            Ok(s) => s,
            Err(e) => e.to_string(),
        },
        took_ms: u64::try_from(start.elapsed().as_millis()).unwrap_or(u64::MAX),
    }
}

async fn execute(action: &Action, pool: &Pool) -> Result<String, AdminError> {
    let c = pool.get(&action.node).await?;
    match &action.kind {
        ActionKind::Fence {
            min_replicas,
            max_lag_s,
        } => {
            // Lag first: the fence must never be armed with a stale, larger lag.
            c.config_set("min-replicas-max-lag", &max_lag_s.to_string())
                .await?;
            c.config_set("min-replicas-to-write", &min_replicas.to_string())
                .await?;
            Ok("fenced".into())
        }
        ActionKind::Unfence => {
            c.config_set("min-replicas-to-write", "0").await?;
            Ok("unfenced".into())
        }
        ActionKind::Takeover { .. } => {
            c.failover(FailoverMode::Takeover).await?;
            // TAKEOVER switches roles inside the command; confirm anyway.
            wait_master(&c, Duration::from_secs(1)).await
        }
        // Short waits: a pass must not block observing for long (the zone of the old master
        // may go dark meanwhile); the next pass sees whether the failover completed.
        ActionKind::ForceFailover { .. } => {
            c.failover(FailoverMode::Force).await?;
            wait_master(&c, Duration::from_secs(1)).await
        }
        ActionKind::GracefulFailover { .. } => {
            c.failover(FailoverMode::Graceful).await?;
            wait_master(&c, Duration::from_secs(1)).await
        }
        ActionKind::BumpEpoch => c.bump_epoch().await,
        ActionKind::Meet { peer } => c.meet(peer).await.map(|()| "met".into()),
        ActionKind::Replicate { master_id } => {
            c.replicate(master_id).await.map(|()| "replicating".into())
        }
        ActionKind::Forget { id } => c.forget(id).await.map(|()| "forgotten".into()),
        ActionKind::SetZone { zone } => {
            c.config_set("availability-zone", zone).await?;
            Ok("zone set".into())
        }
        ActionKind::SetNodeTimeout { ms } => {
            c.config_set("cluster-node-timeout", &ms.to_string())
                .await?;
            Ok("node-timeout set".into())
        }
        ActionKind::SetElectable { electable } => {
            let v = if *electable { "no" } else { "yes" };
            c.config_set("cluster-replica-no-failover", v).await?;
            Ok(if *electable {
                "electable"
            } else {
                "not electable"
            }
            .into())
        }
        ActionKind::SetConfig { name, value } => {
            c.config_set(name, value).await?;
            Ok(format!("{name} set"))
        }
        // Handled in `run`, never sent to Redis.
        ActionKind::Restart { .. } => Ok("restarted by the platform".into()),
        // `run` checked that the pool has the password named.
        ActionKind::AddPassword { password } | ActionKind::DropPassword { password } => {
            let add = matches!(action.kind, ActionKind::AddPassword { .. });
            match pool.secret(*password) {
                Some(p) => c.acl_password("default", p, add).await?,
                None => return Ok(format!("the engine does not know {password}")),
            }
            Ok(if add { "accepts it" } else { "refuses it" }.into())
        }
        ActionKind::SetMasterAuth { password } => {
            match pool.secret(*password) {
                Some(p) => c.config_set_secret("masterauth", p).await?,
                None => return Ok(format!("the engine does not know {password}")),
            }
            Ok("masterauth set".into())
        }
        ActionKind::ReloadTls => reload_tls(&c).await,
        ActionKind::MoveSlots {
            to,
            to_id,
            slots,
            others,
            to_replica,
            method,
        } => {
            crate::migrate::move_slots(
                pool,
                &crate::migrate::Move {
                    from: &action.node,
                    from_id: &action.node_id,
                    to,
                    to_id,
                    to_replica: to_replica.as_ref(),
                    others,
                    slots,
                    method: *method,
                },
            )
            .await
        }
        ActionKind::CloseSlot {
            slot,
            owner,
            owner_id,
        } => crate::migrate::close_slot(pool, &action.node, *slot, owner, owner_id).await,
        ActionKind::Sweep { slots } => crate::migrate::sweep(pool, &action.node, slots).await,
        // Handled in `run`.
        ActionKind::Retire { .. } => Ok("retired by the platform".into()),
    }
}

/// Set every TLS file setting in use to its own value, in one `CONFIG SET`: Redis 7.0.1+ and
/// Valkey re-read the files and build a new context for new connections (Redis 7.0.0 skips an
/// unchanged value: there only a restart loads a renewed certificate).
async fn reload_tls(c: &redis_stretch_admin::AdminClient) -> Result<String, AdminError> {
    let files = c
        .config_get_many(&[
            "tls-cert-file",
            "tls-key-file",
            "tls-ca-cert-file",
            "tls-ca-cert-dir",
            "tls-client-cert-file",
            "tls-client-key-file",
            "tls-dh-params-file",
        ])
        .await?;
    let set: Vec<(&str, &str)> = files
        .iter()
        .filter(|(_, v)| !v.is_empty())
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    if set.is_empty() {
        return Ok("no TLS files configured".into());
    }
    c.config_set_many(&set).await?;
    Ok(format!("reloaded {}", set.len()))
}

/// Poll until the node reports itself master.
async fn wait_master(
    c: &redis_stretch_admin::AdminClient,
    limit: Duration,
) -> Result<String, AdminError> {
    let start = Instant::now();
    loop {
        if let ReplicationInfo::Master { .. } = c.info_replication().await? {
            return Ok(format!("master after {} ms", start.elapsed().as_millis()));
        }
        if start.elapsed() >= limit {
            return Ok(format!(
                "failover requested; still a replica after {} ms (the next pass re-checks)",
                limit.as_millis()
            ));
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
