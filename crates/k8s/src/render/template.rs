//! The user's additions to the Redis pods (`spec.kubernetes.pod`), applied to the pod we
//! render so that ours still hold: our labels win over theirs (validation refuses theirs on
//! our keys anyway), our annotations too, our affinity keeps every term (`affinity`), and the
//! containers keep their security context.

use k8s_openapi::api::core::v1::PodTemplateSpec;
use redis_stretch_api::PodTemplate;

use super::affinity;

/// Add `extra` to `template`, whose labels, annotations and affinity are ours.
pub fn apply(template: &mut PodTemplateSpec, extra: &PodTemplate) {
    if let Some(meta) = template.metadata.as_mut() {
        meta.labels = with_ours(&extra.labels, meta.labels.take());
        meta.annotations = with_ours(&extra.annotations, meta.annotations.take());
    }
    let Some(spec) = template.spec.as_mut() else {
        return;
    };
    if !extra.node_selector.is_empty() {
        spec.node_selector = Some(extra.node_selector.clone());
    }
    if !extra.tolerations.is_empty() {
        spec.tolerations = Some(extra.tolerations.clone());
    }
    if !extra.topology_spread_constraints.is_empty() {
        spec.topology_spread_constraints = Some(extra.topology_spread_constraints.clone());
    }
    if !extra.image_pull_secrets.is_empty() {
        spec.image_pull_secrets = Some(extra.image_pull_secrets.clone());
    }
    spec.priority_class_name = extra.priority_class_name.clone();
    if let Some(ours) = spec.affinity.take() {
        spec.affinity = Some(affinity::with_additions(ours, extra.affinity.as_ref()));
    }
    if let Some(policy) = extra.image_pull_policy {
        let init = spec.init_containers.iter_mut().flatten();
        for c in spec.containers.iter_mut().chain(init) {
            c.image_pull_policy = Some(policy.as_str().to_owned());
        }
    }
}

/// Theirs, then ours over them; `None` when both are empty (as we render without additions).
fn with_ours(
    theirs: &std::collections::BTreeMap<String, String>,
    ours: Option<std::collections::BTreeMap<String, String>>,
) -> Option<std::collections::BTreeMap<String, String>> {
    if theirs.is_empty() {
        return ours;
    }
    let mut all = theirs.clone();
    all.extend(ours.unwrap_or_default());
    Some(all)
}
