//! Events about the cluster, with the reasons of [`Reason`]. Best effort: a reconcile never
//! fails because an Event could not be written.

use kube::runtime::events::Event;
use kube::{Resource, ResourceExt};
use redis_stretch_api::RedisStretchCluster;

use super::apply::Applied;
use super::validate::Validated;
use crate::context::Context;
use crate::engines::truncate;
use crate::reason::Reason;

/// What apply did: each deleted orphan, and the apply itself once per generation (every
/// resync re-applies; only a new spec is news).
pub async fn applied(
    ctx: &Context,
    cr: &RedisStretchCluster,
    valid: &Validated,
    applied: &Applied,
) {
    for gone in &applied.deleted {
        let note = format!("deleted {gone}: no longer rendered");
        publish(ctx, cr, Reason::Pruned, &note).await;
    }
    let observed = cr.status.as_ref().and_then(|s| s.observed_generation);
    if observed != valid.generation {
        let note = match valid.generation {
            Some(g) => format!("applied {} objects for generation {g}", applied.objects),
            None => format!("applied {} objects", applied.objects),
        };
        publish(ctx, cr, Reason::Applied, &note).await;
    }
}

pub async fn publish(ctx: &Context, cr: &RedisStretchCluster, reason: Reason, note: &str) {
    let event = Event {
        type_: reason.event_type(),
        reason: reason.as_str().to_owned(),
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
