//! Converge: the engine of this cluster runs with this spec, password and CA (a change
//! restarts it). The engine's task talks to Redis at the pods; this step makes no API call and
//! returns the engine's last report, which the label and status steps read.

use kube::ResourceExt;
use redis_stretch_admin::{Secret, Tls};
use redis_stretch_api::RedisStretchCluster;

use super::validate::Validated;
use crate::context::{Context, HOLD_ANNOTATION};
use redis_stretch_engine::Memory;

use crate::engines::{EngineReport, EngineSpec};

pub async fn converge(
    ctx: &Context,
    cr: &RedisStretchCluster,
    valid: &Validated,
    password: Option<Secret>,
    previous_password: Option<Secret>,
    tls: Option<(Tls, u64)>,
) -> EngineReport {
    let (tls, tls_files) = tls.map_or((None, None), |(t, f)| (Some(t), Some(f)));
    ctx.engines
        .ensure(EngineSpec {
            cr,
            cluster: &valid.cluster,
            password,
            previous_password,
            tls,
            tls_files,
            zone_label: valid.cluster.spec().placement.zone_label.clone(),
            held_zone: cr.annotations().get(HOLD_ANNOTATION).cloned(),
            memory: engine_memory(cr),
        })
        .await
}

/// The engine memory a previous leader left in the status; an unreadable one is ignored (the
/// engine then starts blind: slower to fail back, never unsafe).
fn engine_memory(cr: &RedisStretchCluster) -> Option<Memory> {
    let text = cr.status.as_ref()?.engine_memory.as_deref()?;
    match serde_json::from_str(text) {
        Ok(m) => Some(m),
        Err(e) => {
            tracing::warn!(
                "status.engineMemory of {} does not parse: {e}",
                cr.name_any()
            );
            None
        }
    }
}
