//! Converge: the engine of this cluster runs with this spec, password and CA (a change
//! restarts it). The engine's task talks to Redis at the pods; this step makes no API call and
//! returns the engine's last report, which the label and status steps read.

use kube::ResourceExt;
use redis_stretch_admin::{Secret, Tls};
use redis_stretch_api::RedisStretchCluster;

use super::validate::Validated;
use crate::context::{Context, HOLD_ANNOTATION};
use crate::engines::{EngineReport, EngineSpec};

pub async fn converge(
    ctx: &Context,
    cr: &RedisStretchCluster,
    valid: &Validated,
    password: Option<Secret>,
    tls: Option<Tls>,
) -> EngineReport {
    ctx.engines
        .ensure(EngineSpec {
            cr,
            cluster: &valid.cluster,
            password,
            tls,
            zone_label: valid.cluster.spec().placement.zone_label.clone(),
            held_zone: cr.annotations().get(HOLD_ANNOTATION).cloned(),
        })
        .await
}
