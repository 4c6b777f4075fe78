//! Raw manifest in, validated cluster out. Every problem is reported at once, each naming the
//! field and the fix, so that a user fixes a file in one go instead of one error per run.

use std::fmt;

use crate::memory::parse_memory;
use crate::redis_config::{derived_maxmemory, MAXMEMORY_SHARE_PERCENT};
use crate::spec::{Manifest, RedisStretchClusterSpec, API_VERSION, KIND};

/// One thing wrong with a manifest.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Problem {
    /// Dotted path of the offending field, e.g. `spec.zones[1].preferredMasters`.
    pub field: String,
    pub problem: String,
    pub fix: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {} (fix: {})", self.field, self.problem, self.fix)
    }
}

/// Every problem found in a manifest.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub struct Problems(pub Vec<Problem>);

impl fmt::Display for Problems {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} problem(s) in the manifest:", self.0.len())?;
        for p in &self.0 {
            write!(f, "\n  - {p}")?;
        }
        Ok(())
    }
}

/// A cluster whose manifest passed validation. Only [`load_manifest`] and [`validate`] make one,
/// so code that takes it (the planner, local mode, the operator) never re-checks the basics.
#[derive(Clone, Debug, PartialEq)]
pub struct ValidatedCluster {
    name: String,
    namespace: Option<String>,
    spec: RedisStretchClusterSpec,
}

impl ValidatedCluster {
    pub fn name(&self) -> &str {
        &self.name
    }
    pub fn namespace(&self) -> Option<&str> {
        self.namespace.as_deref()
    }
    pub fn spec(&self) -> &RedisStretchClusterSpec {
        &self.spec
    }
    /// Zone names in spec order.
    pub fn zone_names(&self) -> Vec<&str> {
        self.spec.zones.iter().map(|z| z.name.as_str()).collect()
    }

    /// Kubernetes: the cluster as its pods run it, under a memory limit of `limit_bytes`
    /// (`spec.kubernetes.resources.memory`, written `limit`). Without `redis.maxmemory` the
    /// spec gets [`derived_maxmemory`] of the limit, so that everything after this (the
    /// ConfigMap, the engine's live settings and their drift check) reads one value; a
    /// `maxmemory` at or above the limit is refused: the kernel's OOM killer would stop Redis
    /// before `maxmemory` ever made it evict or refuse a write. `0` (no limit) is an explicit
    /// choice and stays.
    pub fn with_memory_limit(mut self, limit: &str, limit_bytes: u64) -> Result<Self, Problems> {
        let derived = derived_maxmemory(limit_bytes);
        match self.spec.redis.maxmemory.as_deref().map(parse_memory) {
            None => {
                self.spec.redis.maxmemory = Some(derived);
                Ok(self)
            }
            Some(Ok(bytes)) if bytes >= limit_bytes => Err(Problems(vec![Problem {
                field: "spec.redis.maxmemory".to_owned(),
                // The schema's rule (`schema_rules::maxmemory_below_limit`) says the same; its
                // cost budget has no room for the byte counts, which the fix gives instead.
                problem: format!(
                    "`{}` is not below the pods' memory limit spec.kubernetes.resources.memory (`{limit}`): the kernel would kill Redis for memory before maxmemory ever made it evict or refuse a write",
                    self.spec.redis.maxmemory.as_deref().unwrap_or_default()
                ),
                fix: format!(
                    "lower spec.redis.maxmemory ({bytes} bytes) below the limit ({limit_bytes} bytes), to at most {MAXMEMORY_SHARE_PERCENT}% of it (`{derived}`); or raise spec.kubernetes.resources.memory; or leave maxmemory out to get {MAXMEMORY_SHARE_PERCENT}% of the limit"
                ),
            }])),
            // Set and below the limit, or invalid (which `validate` already refused).
            Some(_) => Ok(self),
        }
    }
}

/// Every field name the manifest knows, for "did you mean" hints on unknown fields.
const KNOWN_FIELDS: &[&str] = &[
    "apiVersion",
    "kind",
    "metadata",
    "name",
    "namespace",
    "spec",
    "shards",
    "replicasPerShard",
    "zones",
    "preferredMasters",
    "redis",
    "clusterNodeTimeoutMs",
    "maxmemory",
    "maxmemoryPolicy",
    "replBacklogSize",
    "persistence",
    "enabled",
    "auth",
    "secretName",
    "failover",
    "policy",
    "failback",
    "fencing",
    "detection",
    "preferredSide",
    "placement",
    "mode",
    "zoneLabel",
    "kubernetes",
    "image",
    "resources",
    "cpu",
    "memory",
    "size",
    "storageClassName",
    "whenDeleted",
    "tls",
    "metrics",
    "port",
    "pod",
    "labels",
    "annotations",
    "nodeSelector",
    "tolerations",
    "affinity",
    "topologySpreadConstraints",
    "priorityClassName",
    "imagePullSecrets",
    "imagePullPolicy",
    "onePodPerNode",
];

/// Parse a YAML (or JSON) manifest and validate it.
pub fn load_manifest(text: &str) -> Result<ValidatedCluster, Problems> {
    let mut problems = Vec::new();
    let mut unknown = Vec::new();
    let mut error_field = None;
    let parsed: Result<Manifest, _> = serde_saphyr::with_deserializer_from_str(text, |de| {
        let mut note_unknown = |path: serde_ignored::Path| unknown.push(path.to_string());
        let de = serde_ignored::Deserializer::new(de, &mut note_unknown);
        // serde-saphyr's messages carry the line and column but not the field: the path
        // comes from serde_path_to_error.
        serde_path_to_error::deserialize(de).map_err(|e| {
            error_field = Some(yaml_error_field(e.path()));
            e.into_inner()
        })
    });
    for path in unknown {
        let leaf = path.rsplit('.').next().unwrap_or(&path).to_owned();
        let fix = match closest_known_field(&leaf) {
            Some(known) => format!("remove it, or did you mean `{known}`?"),
            None => "remove it; see docs/CONFIGURATION.md for the fields".to_owned(),
        };
        problems.push(Problem {
            field: path,
            problem: "unknown field".to_owned(),
            fix,
        });
    }
    match parsed {
        Ok(manifest) => match validate(manifest) {
            Ok(cluster) if problems.is_empty() => Ok(cluster),
            Ok(_) => Err(Problems(problems)),
            Err(Problems(more)) => {
                problems.extend(more);
                Err(Problems(problems))
            }
        },
        Err(e) => {
            problems.push(Problem {
                field: error_field.unwrap_or_else(|| "(document)".to_owned()),
                // One line (`... at line 6, column 11`); the default rendering adds a snippet.
                problem: e.without_snippet().to_string(),
                fix: "correct the value's type or spelling; see examples/seed-two-dc.yaml"
                    .to_owned(),
            });
            Err(Problems(problems))
        }
    }
}

/// The dotted path of the field a parse error is about (`spec.shards`), or `(document)`.
fn yaml_error_field(path: &serde_path_to_error::Path) -> String {
    match path.to_string() {
        p if p.is_empty() || p == "." => "(document)".to_owned(),
        p => p,
    }
}

fn closest_known_field(name: &str) -> Option<&'static str> {
    let name = name.to_lowercase();
    let prefix = KNOWN_FIELDS
        .iter()
        .find(|k| name.len() >= 4 && k.to_lowercase().starts_with(&name));
    prefix.copied().or_else(|| {
        KNOWN_FIELDS
            .iter()
            .map(|k| (edit_distance(&name, &k.to_lowercase()), *k))
            .filter(|(d, _)| *d <= 3)
            .min_by_key(|(d, _)| *d)
            .map(|(_, k)| k)
    })
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1; b.len() + 1];
        for (j, cb) in b.iter().enumerate() {
            let cost = usize::from(ca != *cb);
            cur[j + 1] = (prev[j] + cost).min(prev[j + 1] + 1).min(cur[j] + 1);
        }
        prev = cur;
    }
    prev[b.len()]
}

/// Check a parsed manifest; returns every problem found.
pub fn validate(manifest: Manifest) -> Result<ValidatedCluster, Problems> {
    let mut p = Vec::new();
    let mut push = |field: &str, problem: String, fix: &str| {
        p.push(Problem {
            field: field.to_owned(),
            problem,
            fix: fix.to_owned(),
        })
    };
    if manifest.api_version != API_VERSION {
        push(
            "apiVersion",
            format!("`{}` is not supported", manifest.api_version),
            &format!("set `apiVersion: {API_VERSION}`"),
        );
    }
    if manifest.kind != KIND {
        push(
            "kind",
            format!("`{}` is not supported", manifest.kind),
            &format!("set `kind: {KIND}`"),
        );
    }
    if let Some(why) = dns_label_problem(&manifest.metadata.name, 40) {
        push(
            "metadata.name",
            why,
            "use 1-40 lowercase letters, digits and '-', starting with a letter",
        );
    }
    let spec = &manifest.spec;
    if spec.shards == 0 {
        push(
            "spec.shards",
            "must be at least 1, found 0".to_owned(),
            "set the number of masters, e.g. `shards: 3`",
        );
    } else if spec.shards > 500 {
        push(
            "spec.shards",
            // The schema's CEL rule says the same; its cost estimate cannot afford `string(int)`.
            "at most 500 shards are supported".to_owned(),
            &format!("use at most 500 shards (found {})", spec.shards),
        );
    }
    if spec.replicas_per_shard == 0 {
        push(
            "spec.replicasPerShard",
            "must be at least 1: without a replica in the other zone, losing a zone loses data"
                .to_owned(),
            "set `replicasPerShard: 1`",
        );
    } else if spec.replicas_per_shard > 5 {
        push(
            "spec.replicasPerShard",
            "at most 5 replicas per shard are supported".to_owned(),
            &format!("use at most 5 (found {})", spec.replicas_per_shard),
        );
    }
    if spec.zones.len() != 2 {
        push(
            "spec.zones",
            format!(
                "exactly two zones are required, found {}",
                match spec.zones.len() {
                    0 => "none",
                    1 => "one",
                    _ => "more than two",
                }
            ),
            "list two zones, e.g. `- name: dc-a` and `- name: dc-b`, each with `preferredMasters`",
        );
    }
    for (i, z) in spec.zones.iter().enumerate() {
        if let Some(why) = dns_label_problem(&z.name, 63) {
            push(
                &format!("spec.zones[{i}].name"),
                why,
                "use lowercase letters, digits and '-', starting with a letter (e.g. dc-a)",
            );
        }
    }
    if let [a, b] = spec.zones.as_slice() {
        if a.name == b.name {
            push(
                "spec.zones[1].name",
                format!("both zones are named `{}`", a.name),
                "give the two zones different names",
            );
        }
    }
    if let Some(side) = &spec.failover.preferred_side {
        if !spec.zones.iter().any(|z| &z.name == side) {
            let names: Vec<&str> = spec.zones.iter().map(|z| z.name.as_str()).collect();
            push(
                "spec.failover.preferredSide",
                format!("`{side}` is not one of the zones ({})", names.join(", ")),
                "name one of spec.zones, or leave it out to keep the zone holding most masters",
            );
        }
    }
    let preferred: u64 = spec
        .zones
        .iter()
        .map(|z| u64::from(z.preferred_masters))
        .sum();
    if !spec.zones.is_empty() && preferred != u64::from(spec.shards) {
        let detail: Vec<String> = spec
            .zones
            .iter()
            .map(|z| format!("{}={}", z.name, z.preferred_masters))
            .collect();
        push(
            "spec.zones[].preferredMasters",
            "the zones' preferredMasters must add up to spec.shards".to_owned(),
            &format!(
                "they add up to {preferred} ({}) for {} shards: change them or spec.shards (the seed: 2 in dc-a, 1 in dc-b for 3 shards)",
                detail.join(", "),
                spec.shards
            ),
        );
    }
    let timeout = spec.redis.cluster_node_timeout_ms;
    if !(500..=60_000).contains(&timeout) {
        push(
            "spec.redis.clusterNodeTimeoutMs",
            "must be between 500 and 60000 ms".to_owned(),
            &format!("use 1000-5000 ms for two-DC clusters (default 2000); found {timeout}"),
        );
    }
    if let Some(m) = &spec.redis.maxmemory {
        if let Err(why) = redis_size(m) {
            push(
                "spec.redis.maxmemory",
                why,
                "write a size like `256mb` or `2gb`",
            );
        }
    }
    match redis_size(&spec.redis.repl_backlog_size) {
        Err(why) => push(
            "spec.redis.replBacklogSize",
            why,
            "write a size like `64mb`",
        ),
        // Redis raises a smaller backlog to 16kb and reports that: the value would never
        // read back as set, and the engine would set it again every pass.
        Ok(bytes) if bytes < 16 * 1024 => push(
            "spec.redis.replBacklogSize",
            format!(
                "`{}` is below Redis's minimum backlog of 16kb",
                spec.redis.repl_backlog_size
            ),
            "write a size like `64mb`",
        ),
        Ok(_) => {}
    }
    if !MAXMEMORY_POLICIES.contains(&spec.redis.maxmemory_policy.as_str()) {
        push(
            "spec.redis.maxmemoryPolicy",
            format!(
                "`{}` is not a Redis maxmemory policy",
                spec.redis.maxmemory_policy
            ),
            &format!("use one of {}", MAXMEMORY_POLICIES.join(", ")),
        );
    }
    if let Some(s) = &spec.auth.secret_name {
        if let Some(why) = dns_label_problem(s, 253) {
            push("spec.auth.secretName", why, "name an existing Secret");
        }
    }
    match (spec.tls.enabled, &spec.tls.secret_name) {
        (true, None) => push(
            "spec.tls.secretName",
            "is required when spec.tls.enabled is true".to_owned(),
            "name a Secret of type kubernetes.io/tls with tls.crt, tls.key and ca.crt (cert-manager writes one), or set `tls.enabled: false`",
        ),
        (_, Some(s)) => {
            if let Some(why) = dns_label_problem(s, 253) {
                push(
                    "spec.tls.secretName",
                    why,
                    "name an existing Secret of type kubernetes.io/tls",
                );
            }
        }
        (false, None) => {}
    }
    let metrics = &spec.kubernetes.metrics;
    if metrics.enabled && metrics.image.trim().is_empty() {
        push(
            "spec.kubernetes.metrics.image",
            "must not be empty when metrics are enabled".to_owned(),
            "name a redis_exporter image, e.g. `oliver006/redis_exporter:v1.62.0`",
        );
    }
    // The exporter shares the pod's network namespace with Redis: its port must be free there.
    let taken = [0, REDIS_PORT, REDIS_PORT + 10_000];
    if metrics.enabled && taken.contains(&metrics.port) {
        push(
            "spec.kubernetes.metrics.port",
            format!(
                "{} is not free in the pod (0 is invalid; Redis uses {REDIS_PORT} and its cluster bus {})",
                metrics.port,
                REDIS_PORT + 10_000
            ),
            "use another port, e.g. the exporter's default 9121",
        );
    }
    if let Some(why) = label_key_problem(&spec.placement.zone_label) {
        push(
            "spec.placement.zoneLabel",
            why,
            "name a node label key, e.g. `topology.kubernetes.io/zone`",
        );
    }
    if spec
        .kubernetes
        .image
        .as_deref()
        .is_some_and(|i| i.trim().is_empty())
    {
        let server = spec.redis.server;
        push(
            "spec.kubernetes.image",
            "must not be empty".to_owned(),
            &format!(
                "name an image with {} and {}, e.g. `{}`, or leave the field out",
                server.server_binary(),
                server.cli_binary(),
                server.default_image()
            ),
        );
    }
    p.extend(pod_template_problems(spec));
    if p.is_empty() {
        Ok(ValidatedCluster {
            name: manifest.metadata.name,
            namespace: manifest.metadata.namespace,
            spec: manifest.spec,
        })
    } else {
        Err(Problems(p))
    }
}

/// Redis's `maxmemory-policy` values (the schema's rule lists the same).
pub(crate) const MAXMEMORY_POLICIES: &[&str] = &[
    "noeviction",
    "allkeys-lru",
    "allkeys-lfu",
    "allkeys-random",
    "volatile-lru",
    "volatile-lfu",
    "volatile-random",
    "volatile-ttl",
];

/// The client port of every Kubernetes pod; the bus is this + 10000.
const REDIS_PORT: u16 = 6379;

/// The API server's words for a string over its schema's maxLength (a rule it checks before
/// any CEL rule), so that local mode says the same.
fn too_long(max: usize) -> String {
    format!("may not be more than {max} bytes")
}

/// A Redis size as `parse_memory` reads it, of at most 32 characters: the schema's maxLength,
/// which bounds the cost of its CEL rules (no real size comes near it).
fn redis_size(s: &str) -> Result<u64, String> {
    if s.len() > 32 {
        return Err(too_long(32));
    }
    parse_memory(s)
}

/// Kubernetes names our resources after the cluster and zone names, so both must be DNS labels.
fn dns_label_problem(s: &str, max: usize) -> Option<String> {
    if s.is_empty() {
        return Some("must not be empty".to_owned());
    }
    if s.len() > max {
        return Some(too_long(max));
    }
    let ok_chars = s
        .chars()
        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
    let starts = s.starts_with(|c: char| c.is_ascii_lowercase());
    let ends = !s.ends_with('-');
    (!(ok_chars && starts && ends)).then(|| format!("`{s}` is not a DNS label"))
}

/// A Kubernetes label key: `[prefix/]name`, the prefix a DNS subdomain, the name at most 63
/// characters of alphanumerics, `-`, `_`, `.`, starting and ending alphanumeric.
fn label_key_problem(key: &str) -> Option<String> {
    let (prefix, name) = match key.rsplit_once('/') {
        Some((p, n)) => (Some(p), n),
        None => (None, key),
    };
    let name_ok = !name.is_empty()
        && name.len() <= 63
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        && name.starts_with(|c: char| c.is_ascii_alphanumeric())
        && name.ends_with(|c: char| c.is_ascii_alphanumeric());
    let prefix_ok = prefix.is_none_or(|p| {
        !p.is_empty()
            && p.len() <= 253
            && p.split('.')
                .all(|part| dns_label_problem(part, 63).is_none())
    });
    (!(name_ok && prefix_ok)).then(|| format!("`{key}` is not a label key"))
}

/// Serialize a validated cluster back into a manifest (for `--output yaml|json`).
pub fn to_manifest(c: &ValidatedCluster) -> Manifest {
    Manifest {
        api_version: API_VERSION.to_owned(),
        kind: KIND.to_owned(),
        metadata: crate::spec::ObjectMeta {
            name: c.name.clone(),
            namespace: c.namespace.clone(),
        },
        spec: c.spec.clone(),
    }
}

#[doc(hidden)]
/// Parse without validating, for tests that want to break a good manifest on purpose.
pub fn parse_unvalidated(text: &str) -> Result<Manifest, serde_saphyr::Error> {
    serde_saphyr::from_str(text)
}

/// Pod label keys the operator sets (`crates/k8s/src/names.rs`; a render test checks that
/// every label it renders is refused here): they select the cluster's pods (Services, the
/// disruption budget, the StatefulSets, the one-pod-per-node rule) or are the engine's.
pub(crate) const OUR_LABELS: &[&str] = &[
    "app.kubernetes.io/name",
    "app.kubernetes.io/instance",
    "app.kubernetes.io/managed-by",
    "app.kubernetes.io/component",
];
pub(crate) const OUR_LABEL_PREFIX: &str = "redis-stretch.io/";
/// SeedCompatible: the recipe's workload label, which its anti-affinity selects on.
pub(crate) const SEED_APP_LABEL: &str = "app";

/// `spec.kubernetes.pod`: what Kubernetes would refuse only once the StatefulSet is applied,
/// and what would break our own rules, named here instead.
fn pod_template_problems(spec: &crate::spec::RedisStretchClusterSpec) -> Vec<Problem> {
    let pod = &spec.kubernetes.pod;
    let zone_label = spec.placement.zone_label.as_str();
    let seed = spec.placement.mode == crate::spec::PlacementMode::SeedCompatible;
    let mut p = Vec::new();
    let mut push = |field: String, problem: String, fix: &str| {
        p.push(Problem {
            field,
            problem,
            fix: fix.to_owned(),
        })
    };
    for (name, count) in [
        ("labels", pod.labels.len()),
        ("annotations", pod.annotations.len()),
        ("nodeSelector", pod.node_selector.len()),
    ] {
        too_many(
            &format!("spec.kubernetes.pod.{name}"),
            name,
            count,
            &mut push,
        );
    }
    for (key, value) in &pod.labels {
        let field = format!("spec.kubernetes.pod.labels[{key}]");
        if let Some(why) = label_key_problem(key) {
            push(
                field,
                why,
                "use a label key such as `team` or `example.com/tier`",
            );
        } else if OUR_LABELS.contains(&key.as_str())
            || key.starts_with(OUR_LABEL_PREFIX)
            || (seed && key == SEED_APP_LABEL)
        {
            push(
                field,
                format!("`{key}` is set by redis-stretch: it selects the cluster's pods"),
                "remove it, or use a key of your own",
            );
        } else if let Some(why) = label_value_problem(value) {
            push(field, why, "use at most 63 letters, digits, '-', '_' and '.', starting and ending with a letter or digit");
        }
    }
    for key in pod.annotations.keys() {
        if let Some(why) = label_key_problem(key) {
            push(
                format!("spec.kubernetes.pod.annotations[{key}]"),
                why.replace("a label key", "an annotation key"),
                "use a key such as `example.com/owner`",
            );
        }
    }
    for (key, value) in &pod.node_selector {
        let field = format!("spec.kubernetes.pod.nodeSelector[{key}]");
        if let Some(why) = label_key_problem(key) {
            push(field, why, "name a node label key, e.g. `node-pool`");
        } else if key == zone_label {
            push(
                field,
                format!("`{key}` is the zone label (spec.placement.zoneLabel): spec.zones decides which zone each pod runs in"),
                "remove it; select a node pool with another label",
            );
        } else if let Some(why) = label_value_problem(value) {
            push(field, why, "write the node label's value");
        }
    }
    if let Some(name) = &pod.priority_class_name {
        if let Some(why) = subdomain_problem(name) {
            push(
                "spec.kubernetes.pod.priorityClassName".to_owned(),
                why,
                "name an existing PriorityClass",
            );
        }
    }
    #[cfg(feature = "kube")]
    typed_pod_problems(pod, zone_label, &mut push);
    p
}

/// More entries in the list or map `field` than `pod_template::LIMITS` allows for `name`, in
/// the API server's words for the CRD's maxItems and maxProperties.
fn too_many(field: &str, name: &str, count: usize, push: &mut impl FnMut(String, String, &str)) {
    let most = crate::pod_template::limit(name);
    if count > most {
        push(
            field.to_owned(),
            format!("must have at most {most} items"),
            "list fewer: the schema bounds each list and map of spec.kubernetes.pod",
        );
    }
}

/// The Kubernetes-typed parts; local mode keeps them as JSON and never reads them.
#[cfg(feature = "kube")]
fn typed_pod_problems(
    pod: &crate::pod_template::PodTemplate,
    zone_label: &str,
    push: &mut impl FnMut(String, String, &str),
) {
    for (name, count) in [
        ("tolerations", pod.tolerations.len()),
        (
            "topologySpreadConstraints",
            pod.topology_spread_constraints.len(),
        ),
        ("imagePullSecrets", pod.image_pull_secrets.len()),
    ] {
        too_many(&format!("spec.kubernetes.pod.{name}"), name, count, push);
    }
    for (i, t) in pod.tolerations.iter().enumerate() {
        let field = format!("spec.kubernetes.pod.tolerations[{i}]");
        let operator = t.operator.as_deref().unwrap_or("Equal");
        let key = t.key.as_deref().unwrap_or("");
        if !matches!(operator, "Equal" | "Exists") {
            push(
                format!("{field}.operator"),
                format!("`{operator}` is not a toleration operator"),
                "use `Equal` (the default) or `Exists`",
            );
        } else if operator == "Exists" && t.value.as_deref().is_some_and(|v| !v.is_empty()) {
            push(
                format!("{field}.value"),
                "must be empty with operator `Exists`".to_owned(),
                "remove the value, or use operator `Equal`",
            );
        } else if key.is_empty() && operator != "Exists" {
            push(
                format!("{field}.key"),
                "an empty key tolerates every taint only with operator `Exists`".to_owned(),
                "name the taint's key, or set `operator: Exists`",
            );
        }
        let effect = t.effect.as_deref().unwrap_or("");
        if !matches!(effect, "" | "NoSchedule" | "PreferNoSchedule" | "NoExecute") {
            push(
                format!("{field}.effect"),
                format!("`{effect}` is not a taint effect"),
                "use `NoSchedule`, `PreferNoSchedule` or `NoExecute`, or leave it out for all",
            );
        }
    }
    for (i, c) in pod.topology_spread_constraints.iter().enumerate() {
        let field = format!("spec.kubernetes.pod.topologySpreadConstraints[{i}]");
        if c.max_skew < 1 {
            push(
                format!("{field}.maxSkew"),
                "must be at least 1".to_owned(),
                "set `maxSkew: 1`",
            );
        }
        if c.topology_key.is_empty() {
            push(
                format!("{field}.topologyKey"),
                "must not be empty".to_owned(),
                "name a node label key, e.g. `kubernetes.io/hostname`",
            );
        }
        if !matches!(
            c.when_unsatisfiable.as_str(),
            "DoNotSchedule" | "ScheduleAnyway"
        ) {
            push(
                format!("{field}.whenUnsatisfiable"),
                format!("`{}` is not a policy", c.when_unsatisfiable),
                "use `DoNotSchedule` or `ScheduleAnyway`",
            );
        }
    }
    for (i, s) in pod.image_pull_secrets.iter().enumerate() {
        if s.name.is_empty() {
            push(
                format!("spec.kubernetes.pod.imagePullSecrets[{i}].name"),
                "must not be empty".to_owned(),
                "name a Secret of type kubernetes.io/dockerconfigjson",
            );
        }
    }
    let required = pod
        .affinity
        .as_ref()
        .and_then(|a| a.node_affinity.as_ref())
        .and_then(|n| {
            n.required_during_scheduling_ignored_during_execution
                .as_ref()
        });
    if let Some(required) = required {
        let field = "spec.kubernetes.pod.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution";
        if required.node_selector_terms.is_empty() {
            push(
                format!("{field}.nodeSelectorTerms"),
                "is empty: no node would match".to_owned(),
                "list at least one term, or remove requiredDuringSchedulingIgnoredDuringExecution",
            );
        }
        too_many(
            &format!("{field}.nodeSelectorTerms"),
            "nodeSelectorTerms",
            required.node_selector_terms.len(),
            push,
        );
        for (i, term) in required.node_selector_terms.iter().enumerate() {
            let exprs = term.match_expressions.as_deref().unwrap_or_default();
            let fields = term.match_fields.as_deref().unwrap_or_default();
            for (name, count) in [
                ("matchExpressions", exprs.len()),
                ("matchFields", fields.len()),
            ] {
                too_many(
                    &format!("{field}.nodeSelectorTerms[{i}].{name}"),
                    name,
                    count,
                    push,
                );
            }
            if exprs.is_empty() && fields.is_empty() {
                push(
                    format!("{field}.nodeSelectorTerms[{i}]"),
                    "has neither matchExpressions nor matchFields: it matches no node".to_owned(),
                    "add a requirement, or remove the term",
                );
            }
            if exprs.iter().any(|e| e.key == zone_label) {
                push(
                    format!("{field}.nodeSelectorTerms[{i}]"),
                    format!("`{zone_label}` is the zone label (spec.placement.zoneLabel): spec.zones decides which zone each pod runs in"),
                    "remove that requirement; select nodes with another label",
                );
            }
        }
    }
}

/// A label value: empty, or at most 63 alphanumerics, `-`, `_`, `.`, alphanumeric at both ends.
fn label_value_problem(value: &str) -> Option<String> {
    // The CRD's maxLength, checked (and worded) by the API server before its CEL rules.
    if value.len() > crate::pod_template::LABEL_VALUE_MAX {
        return Some(too_long(crate::pod_template::LABEL_VALUE_MAX));
    }
    let ok = value.is_empty()
        || (value.len() <= 63
            && value
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
            && value.starts_with(|c: char| c.is_ascii_alphanumeric())
            && value.ends_with(|c: char| c.is_ascii_alphanumeric()));
    (!ok).then(|| format!("`{value}` is not a label value"))
}

/// A DNS subdomain (a PriorityClass name): dot-separated DNS labels, at most 253 characters.
fn subdomain_problem(name: &str) -> Option<String> {
    let ok = !name.is_empty()
        && name.len() <= 253
        && name.split('.').all(|part| {
            let alnum = |c: char| c.is_ascii_lowercase() || c.is_ascii_digit();
            !part.is_empty()
                && part.len() <= 63
                && part.chars().all(|c| alnum(c) || c == '-')
                && part.starts_with(alnum)
                && part.ends_with(alnum)
        });
    (!ok).then(|| format!("`{name}` is not a valid name (a DNS subdomain)"))
}
