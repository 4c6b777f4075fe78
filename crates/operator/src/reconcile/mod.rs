//! One reconcile of a `RedisStretchCluster`: a short pipeline, one module per step, in the
//! order [`apply_cluster`] runs them:
//! validate → dereference (`secret`) → converge (the engine) → build → apply → announce
//! (`events`) → observe → label → update status.
//! `validate` turns the raw resource into a [`validate::Validated`]; the steps after it read
//! only that, the engine's report and the caches. An invalid spec stops at `validate` with the
//! problems in a condition and an Event, and nothing is applied. Deletion is
//! [`cleanup`]: stop the engine → delete the volumes if asked → announce.

mod apply;
mod build;
mod claims;
mod converge;
mod rotation;

pub use rotation::watched_secrets;
mod events;
mod labels;
mod observe;
mod secret;
pub mod status;
mod validate;

use std::sync::Arc;
use std::time::Duration;

use kube::runtime::controller::Action;
use kube::runtime::finalizer::{finalizer, Event as Finalizing};
use kube::{Api, Resource, ResourceExt};
use redis_stretch_api::{Problems, RedisStretchCluster};

use crate::context::{Context, FINALIZER};
use crate::error::{cluster_key, Error};
use crate::metrics::{ClusterLabels, ErrorLabels};
use crate::reason::Reason;
use validate::Validation;

pub use apply::{Applied, AppliedMemory};

/// Status follows the engine (it triggers a reconcile on every change); this is the safety net.
const RESYNC: Duration = Duration::from_secs(60);
/// A reconcile that came during a Lease lapse tries again this soon.
const LAPSE_RETRY: Duration = Duration::from_secs(1);

#[tracing::instrument(skip_all, fields(
    namespace = cr.meta().namespace.as_deref(),
    cluster = %cr.name_any(),
    generation = cr.meta().generation,
))]
pub async fn reconcile(cr: Arc<RedisStretchCluster>, ctx: Arc<Context>) -> Result<Action, Error> {
    // In a Lease lapse nothing is written: another replica may hold the Lease now. The term
    // resumes if this replica renews before anybody else took it (`operator.rs`).
    if !ctx.leadership.may_act() {
        return Ok(Action::requeue(LAPSE_RETRY));
    }
    let _timer = ctx.metrics.timer();
    // Within kube-runtime's span, which names what asked for this reconcile.
    tracing::debug!("reconcile");
    let ns = cr
        .namespace()
        .ok_or(Error::MissingMeta("metadata.namespace"))?;
    ctx.metrics
        .reconciles
        .get_or_create(&ClusterLabels {
            namespace: ns.clone(),
            cluster: cr.name_any(),
        })
        .inc();
    let api: Api<RedisStretchCluster> = Api::namespaced(ctx.client.clone(), &ns);
    finalizer(&api, FINALIZER, cr, |event| async {
        match event {
            Finalizing::Apply(cr) => {
                let result = apply_cluster(&cr, &ctx, &api, &ns).await;
                if let Err(e) = &result {
                    report_failure(&cr, &ctx, &api, e).await;
                }
                result
            }
            Finalizing::Cleanup(cr) => cleanup(&cr, &ctx, &ns).await,
        }
    })
    .await
    .map_err(|e| match e {
        kube::runtime::finalizer::Error::ApplyFailed(e)
        | kube::runtime::finalizer::Error::CleanupFailed(e) => e,
        other => Error::Finalizer(other.to_string()),
    })
}

/// Count, log and retry; errors a human must fix are retried slowly (the spec change that
/// fixes them triggers a reconcile anyway).
pub fn error_policy(cr: Arc<RedisStretchCluster>, error: &Error, ctx: Arc<Context>) -> Action {
    ctx.metrics
        .reconcile_errors
        .get_or_create(&ErrorLabels {
            category: error.category().to_owned(),
        })
        .inc();
    tracing::warn!(cluster = %cr.name_any(), category = error.category(), "reconcile failed: {error}");
    if error.needs_user() {
        Action::requeue(Duration::from_secs(300))
    } else {
        Action::requeue(Duration::from_secs(5))
    }
}

/// The pipeline. Each step returns its own error variant, so a failure names the step.
async fn apply_cluster(
    cr: &RedisStretchCluster,
    ctx: &Context,
    api: &Api<RedisStretchCluster>,
    ns: &str,
) -> Result<Action, Error> {
    // validate (pure): the spec checked, plus what later steps need from the object.
    let valid = match validate::validate(cr, ns)? {
        Validation::Valid(valid) => valid,
        Validation::Invalid(problems) => return refuse(cr, ctx, api, ns, &problems).await,
    };
    // dereference (API server: get, or create the generated Secret): the password.
    let secret::Password {
        secret: password,
        version: password_version,
    } = secret::password(ctx, &valid).await?;
    // dereference (API server: get): with TLS on, the CA the engine trusts.
    let tls = secret::tls(ctx, &valid).await?;
    // dereference (API server, only around a password change): the password the new one
    // replaces, kept until every instance accepts only the new one.
    let previous = rotation::previous(ctx, &valid, password.as_ref()).await?;
    // converge (Redis, from the engine's task): the engine runs this spec before anything is
    // applied, so that an API server refusing writes (a webhook whose pods were in the lost
    // DC, say) can never keep the engine from protecting a running cluster.
    let report = converge::converge(ctx, cr, &valid, password, previous, tls).await;
    // build (pure): the manifests, from the validated value only.
    let rendered = build::render(&valid, password_version.as_deref(), ctx.network.as_ref())?;
    // apply (API server): server-side apply of every object, then delete the orphans.
    let applied = apply::apply(&ctx.client, &valid, &rendered, &ctx.applied, &ctx.owned).await;
    // announce (API server, best effort): an Event per orphan deleted and per new generation;
    // a refused apply once per message, as a Warning.
    let apply_error = applied.as_ref().err().map(ToString::to_string);
    match (&applied, &apply_error) {
        (Ok(a), _) => events::applied(ctx, cr, &valid, a).await,
        (Err(_), Some(e)) if !status::already_failed(cr.status.as_ref(), e) => {
            events::publish(ctx, cr, Reason::ApplyFailed, e).await;
        }
        (Err(_), _) => {}
    }
    // A refused apply still gets the status written (the engine keeps the cluster running),
    // so it shows there instead of the status going stale while the error retries.
    // observe (caches only): the pods, the nodes they run on, node readiness by zone.
    let seen = observe::observe(ctx, &valid);
    // label (API server): each pod's role label as Redis reports it now.
    labels::update(&ctx.client, &valid, &seen.pods, report.snapshot.as_ref()).await?;
    // update status (pure build; API server only when it changed).
    status::update(
        api,
        &valid,
        cr.status.as_ref(),
        &report,
        &seen,
        apply_error.as_deref(),
    )
    .await?;
    applied?;
    Ok(Action::requeue(RESYNC))
}

/// A failed step on the resource (API server, best effort): `Ready=False` with the cause as
/// its reason and the error as its message, and a Warning Event once per message. Without it
/// a cluster whose Secret is missing has empty printer columns and nothing in `describe`.
async fn report_failure(
    cr: &RedisStretchCluster,
    ctx: &Context,
    api: &Api<RedisStretchCluster>,
    error: &Error,
) {
    let Some(reason) = error.reason() else {
        return;
    };
    let message = error.to_string();
    let previous = cr.status.as_ref();
    if !status::already_reported(previous, reason.as_str(), &message) {
        events::publish(ctx, cr, reason, &message).await;
    }
    let s = status::failed(
        previous,
        cr.meta().generation,
        reason.as_str(),
        &message,
        &status::now(),
    );
    if previous == Some(&s) {
        return;
    }
    if let Err(e) = status::patch(api, &cr.name_any(), &s).await {
        tracing::warn!(cluster = %cr.name_any(), "cannot report the failure in the status: {e}");
    }
}

/// An invalid spec (API server): a Warning Event and the problems in the status. The engine
/// keeps running on the last valid spec: an invalid edit must not leave a live cluster without
/// its authority.
async fn refuse(
    cr: &RedisStretchCluster,
    ctx: &Context,
    api: &Api<RedisStretchCluster>,
    ns: &str,
    problems: &Problems,
) -> Result<Action, Error> {
    let message = problems.to_string();
    events::publish(ctx, cr, Reason::InvalidSpec, &message).await;
    let s = status::invalid(
        cr.status.as_ref(),
        cr.meta().generation,
        &message,
        &status::now(),
    );
    let name = cr.name_any();
    status::patch(api, &name, &s)
        .await
        .map_err(|source| Error::Status {
            cluster: cluster_key(ns, &name),
            source,
        })?;
    Ok(Action::await_change())
}

/// Deletion, from the raw resource (an invalid spec must not block it). Owned objects go by
/// owner reference.
async fn cleanup(cr: &RedisStretchCluster, ctx: &Context, ns: &str) -> Result<Action, Error> {
    // stop the engine first (no API call): it must not take a vanishing cluster for a lost zone.
    ctx.engines.stop(ns, &cr.name_any()).await;
    // delete the volumes (API server), only with `persistence.whenDeleted: Delete`.
    claims::delete_if_asked(&ctx.client, cr, ns).await?;
    // announce (API server, best effort).
    let note = "engine stopped; owned objects are garbage-collected";
    events::publish(ctx, cr, Reason::Deleted, note).await;
    Ok(Action::await_change())
}
