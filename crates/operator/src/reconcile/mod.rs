//! One reconcile of a `RedisStretchCluster`, as a pipeline with one module per step:
//! validate → dereference (the password) → build (render) → apply → converge (the engine) →
//! update status. `validate` turns the raw resource into a validated value; everything after
//! reads only that; invalid input stops at `validate` with the problems in a condition and an
//! Event, and nothing is applied.

mod apply;
mod labels;
mod secret;
pub mod status;
mod validate;

use std::sync::Arc;
use std::time::Duration;

use kube::runtime::controller::Action;
use kube::runtime::events::{Event, EventType};
use kube::runtime::finalizer::{finalizer, Event as Finalizing};
use kube::{Api, Resource, ResourceExt};
use redis_stretch_api::{ClaimRetention, RedisStretchCluster};

use crate::context::{Context, FINALIZER, HOLD_ANNOTATION};
use crate::engines::{truncate, EngineSpec};
use crate::error::Error;
use crate::metrics::{ClusterLabels, ErrorLabels};
use crate::platform::{cluster_pods, node_health, placement};

pub use apply::Applied;

/// Status follows the engine (it triggers a reconcile on every change); this is the safety net.
const RESYNC: Duration = Duration::from_secs(60);

pub async fn reconcile(cr: Arc<RedisStretchCluster>, ctx: Arc<Context>) -> Result<Action, Error> {
    let _timer = ctx.metrics.timer();
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
            Finalizing::Apply(cr) => apply_cluster(&cr, &ctx, &api).await,
            Finalizing::Cleanup(cr) => cleanup(&cr, &ctx).await,
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

async fn apply_cluster(
    cr: &RedisStretchCluster,
    ctx: &Context,
    api: &Api<RedisStretchCluster>,
) -> Result<Action, Error> {
    let name = cr.name_any();
    let ns = cr.namespace().unwrap_or_default();
    let generation = cr.meta().generation;
    let cluster = match validate::validate(cr) {
        Ok(c) => c,
        Err(Error::Invalid(problems)) => {
            let message = problems.to_string();
            publish(ctx, cr, EventType::Warning, "InvalidSpec", &message).await;
            let s = status::invalid(cr.status.as_ref(), generation, &message, &status::now());
            status::patch(api, &name, &s).await?;
            // The running cluster keeps its engine on the last valid spec: an invalid edit must
            // not leave a live cluster without its authority.
            return Ok(Action::await_change());
        }
        Err(e) => return Err(e),
    };
    let password = secret::password(&ctx.client, cr, &cluster).await?;
    let tls = secret::tls(&ctx.client, &cluster).await?;
    // Converge first: the engine of this cluster runs with this spec and password before
    // anything is applied, so that an API server refusing writes (a webhook whose pods were in
    // the lost DC, say) can never keep the engine from protecting a running cluster.
    let report = ctx
        .engines
        .ensure(EngineSpec {
            cr,
            cluster: &cluster,
            password,
            tls,
            zone_label: cluster.spec().placement.zone_label.clone(),
            held_zone: cr.annotations().get(HOLD_ANNOTATION).cloned(),
        })
        .await;
    let rendered = redis_stretch_k8s::render::render_validated(cluster.clone())?;
    let owner = cr
        .controller_owner_ref(&())
        .ok_or(Error::MissingMeta("metadata.uid"))?;
    let applied = apply::apply(&ctx.client, &ns, &rendered, &owner).await?;
    for gone in &applied.deleted {
        publish(
            ctx,
            cr,
            EventType::Normal,
            "Pruned",
            &format!("deleted {gone}: no longer rendered"),
        )
        .await;
    }
    let first_for_generation = cr.status.as_ref().and_then(|s| s.observed_generation) != generation;
    if first_for_generation {
        publish(
            ctx,
            cr,
            EventType::Normal,
            "Applied",
            &format!(
                "applied {} objects for generation {}",
                applied.objects,
                generation.unwrap_or(0)
            ),
        )
        .await;
    }

    let pods = cluster_pods(&ctx.pods, &ns, &name);
    let zone_label = &cluster.spec().placement.zone_label;
    let where_ = placement(&pods, &ctx.nodes, zone_label);
    if let Some(snapshot) = &report.snapshot {
        labels::apply(&ctx.client, &ns, &labels::changes(&pods, snapshot)).await?;
    }
    let s = status::build(&status::Inputs {
        cluster: &cluster,
        generation,
        previous: cr.status.as_ref(),
        report: Some(&report),
        placement: &where_,
        nodes: &node_health(&ctx.nodes, zone_label),
        now: status::now(),
    });
    if cr.status.as_ref() != Some(&s) {
        status::patch(api, &name, &s).await?;
    }
    Ok(Action::requeue(RESYNC))
}

/// Deletion: stop the engine first (it must not take a vanishing cluster for a lost zone), then
/// delete the volumes if the spec asks for it. Everything else goes by owner reference.
async fn cleanup(cr: &RedisStretchCluster, ctx: &Context) -> Result<Action, Error> {
    let name = cr.name_any();
    let ns = cr.namespace().unwrap_or_default();
    ctx.engines.stop(&ns, &name).await;
    let persistence = &cr.spec.redis.persistence;
    if persistence.enabled && persistence.when_deleted == ClaimRetention::Delete {
        let pvcs: Api<k8s_openapi::api::core::v1::PersistentVolumeClaim> =
            Api::namespaced(ctx.client.clone(), &ns);
        let selector = format!(
            "{}={},{}={name}",
            redis_stretch_k8s::names::LABEL_NAME,
            redis_stretch_k8s::names::APP,
            redis_stretch_k8s::names::LABEL_INSTANCE
        );
        pvcs.delete_collection(
            &kube::api::DeleteParams::default(),
            &kube::api::ListParams::default().labels(&selector),
        )
        .await
        .map_err(|e| Error::kube("delete", "PersistentVolumeClaim", &name, e))?;
    }
    publish(
        ctx,
        cr,
        EventType::Normal,
        "Deleted",
        "engine stopped; owned objects are garbage-collected",
    )
    .await;
    Ok(Action::await_change())
}

/// Events are best effort: a reconcile never fails because an Event could not be written.
async fn publish(
    ctx: &Context,
    cr: &RedisStretchCluster,
    type_: EventType,
    reason: &str,
    note: &str,
) {
    let event = Event {
        type_,
        reason: reason.to_owned(),
        note: Some(truncate(note, 1000)),
        // The recorder folds events by reason and action, keeping the first note; the note
        // goes into the action too so that a different message is a different event.
        action: truncate(note, 120),
        secondary: None,
    };
    // About the object, not one version of it (the recorder folds repeats by the reference).
    let mut reference = cr.object_ref(&());
    reference.resource_version = None;
    if let Err(e) = ctx.recorder.publish(&event, &reference).await {
        tracing::warn!(cluster = %cr.name_any(), "cannot publish event {reason}: {e}");
    }
}
