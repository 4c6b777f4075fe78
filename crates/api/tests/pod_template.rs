//! `spec.kubernetes.pod` through `load_manifest`: what local mode and `redis-stretch validate`
//! report for the pod template (rendering and merging are tested in crates/k8s/tests/render.rs).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use redis_stretch_api::load_manifest;

fn with_pod(pod: &str) -> String {
    format!(
        "apiVersion: redis-stretch.io/v1alpha1\nkind: RedisStretchCluster\nmetadata: {{name: m}}\n\
         spec:\n  shards: 1\n  zones: [{{name: a, preferredMasters: 1}}, {{name: b, preferredMasters: 0}}]\n\
         \x20 kubernetes:\n    pod:\n{pod}"
    )
}

fn problems(text: &str) -> Vec<String> {
    match load_manifest(text) {
        Ok(_) => vec![],
        Err(p) => p.0.iter().map(|p| p.to_string()).collect(),
    }
}

#[test]
fn a_full_template_is_valid_and_one_pod_per_node_is_the_default() {
    let text = with_pod(
        "      nodeSelector: {node-pool: redis}\n\
         \x20     tolerations: [{key: dedicated, operator: Equal, value: redis, effect: NoSchedule}]\n\
         \x20     labels: {team: payments}\n\
         \x20     annotations: {example.com/owner: payments}\n\
         \x20     priorityClassName: redis-critical\n\
         \x20     imagePullSecrets: [{name: mirror}]\n\
         \x20     imagePullPolicy: IfNotPresent\n",
    );
    let c = load_manifest(&text).unwrap_or_else(|p| panic!("{p}"));
    let pod = &c.spec().kubernetes.pod;
    assert!(pod.one_pod_per_node);
    assert_eq!(pod.node_selector["node-pool"], "redis");
    assert_eq!(pod.tolerations.len(), 1);
    assert!(
        load_manifest(&with_pod("      onePodPerNode: false\n")).is_ok_and(|c| !c
            .spec()
            .kubernetes
            .pod
            .one_pod_per_node)
    );
}

#[test]
fn our_labels_and_the_zone_label_are_refused_with_the_field_named() {
    let p = problems(&with_pod(
        "      labels: {app.kubernetes.io/instance: other, redis-stretch.io/role: master}\n\
         \x20     nodeSelector: {topology.kubernetes.io/zone: a}\n",
    ));
    assert_eq!(p.len(), 3, "{p:?}");
    assert!(
        p[0].starts_with("spec.kubernetes.pod.labels[app.kubernetes.io/instance]: "),
        "{p:?}"
    );
    assert!(
        p[1].starts_with("spec.kubernetes.pod.labels[redis-stretch.io/role]: "),
        "{p:?}"
    );
    assert!(
        p[2].starts_with("spec.kubernetes.pod.nodeSelector[topology.kubernetes.io/zone]: "),
        "{p:?}"
    );
    // `app` is ours only in SeedCompatible mode (the recipe's label).
    assert_eq!(
        problems(&with_pod("      labels: {app: api}\n")),
        Vec::<String>::new()
    );
}

/// With the Kubernetes types, a misspelt field inside a toleration is named like any other.
#[cfg(feature = "kube")]
#[test]
fn unknown_fields_inside_kubernetes_types_are_reported() {
    let p = problems(&with_pod(
        "      tolerations: [{key: dedicated, efect: NoSchedule}]\n",
    ));
    assert!(
        p.iter()
            .any(|p| p.contains("tolerations") && p.contains("efect: unknown field")),
        "{p:?}"
    );
}
