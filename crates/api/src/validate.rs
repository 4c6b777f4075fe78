//! Raw manifest in, validated cluster out. Every problem is reported at once, each naming the
//! field and the fix, so that a user fixes a file in one go instead of one error per run.

use std::fmt;

use serde::Deserialize;

use crate::memory::parse_memory;
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
];

/// Parse a YAML (or JSON) manifest and validate it.
pub fn load_manifest(text: &str) -> Result<ValidatedCluster, Problems> {
    let mut problems = Vec::new();
    let mut unknown = Vec::new();
    let de = serde_yaml::Deserializer::from_str(text);
    let parsed: Result<Manifest, _> =
        serde_ignored::deserialize(de, |path| unknown.push(path.to_string()));
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
                field: yaml_error_field(&e),
                problem: e.to_string(),
                fix: "correct the value's type or spelling; see examples/seed-two-dc.yaml"
                    .to_owned(),
            });
            Err(Problems(problems))
        }
    }
}

/// serde_yaml prefixes its messages with the path (`spec.shards: invalid type ...`).
fn yaml_error_field(e: &serde_yaml::Error) -> String {
    let msg = e.to_string();
    match msg.split_once(": ") {
        Some((path, _)) if !path.contains(' ') => path.to_owned(),
        _ => "(document)".to_owned(),
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
            format!("{} shards is more than this version supports", spec.shards),
            "use at most 500 shards",
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
            format!(
                "{} replicas per shard is more than supported",
                spec.replicas_per_shard
            ),
            "use at most 5",
        );
    }
    if spec.zones.len() != 2 {
        push(
            "spec.zones",
            format!("exactly two zones are required, found {}", spec.zones.len()),
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
            format!(
                "preferred masters add up to {preferred} ({}) but spec.shards is {}",
                detail.join(", "),
                spec.shards
            ),
            "make the zones' preferredMasters add up to spec.shards (the seed: 2 in dc-a, 1 in dc-b for 3 shards)",
        );
    }
    let timeout = spec.redis.cluster_node_timeout_ms;
    if !(500..=60_000).contains(&timeout) {
        push(
            "spec.redis.clusterNodeTimeoutMs",
            format!("{timeout} ms is outside 500..=60000"),
            "use 1000-5000 ms for two-DC clusters (default 2000)",
        );
    }
    if let Some(m) = &spec.redis.maxmemory {
        if let Err(why) = parse_memory(m) {
            push(
                "spec.redis.maxmemory",
                why,
                "write a size like `256mb` or `2gb`",
            );
        }
    }
    match parse_memory(&spec.redis.repl_backlog_size) {
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
    const POLICIES: &[&str] = &[
        "noeviction",
        "allkeys-lru",
        "allkeys-lfu",
        "allkeys-random",
        "volatile-lru",
        "volatile-lfu",
        "volatile-random",
        "volatile-ttl",
    ];
    if !POLICIES.contains(&spec.redis.maxmemory_policy.as_str()) {
        push(
            "spec.redis.maxmemoryPolicy",
            format!(
                "`{}` is not a Redis maxmemory policy",
                spec.redis.maxmemory_policy
            ),
            &format!("use one of {}", POLICIES.join(", ")),
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

/// The client port of every Kubernetes pod; the bus is this + 10000.
const REDIS_PORT: u16 = 6379;

/// Kubernetes names our resources after the cluster and zone names, so both must be DNS labels.
fn dns_label_problem(s: &str, max: usize) -> Option<String> {
    if s.is_empty() {
        return Some("must not be empty".to_owned());
    }
    if s.len() > max {
        return Some(format!("`{s}` is longer than {max} characters"));
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
pub fn parse_unvalidated(text: &str) -> Result<Manifest, serde_yaml::Error> {
    Manifest::deserialize(serde_yaml::Deserializer::from_str(text))
}
