//! The CEL rules of the CRD that repeat `validate`'s checks, so that the API server refuses at
//! `kubectl apply` what the operator would refuse later, with the same words: each message
//! (or `messageExpression`) builds exactly the `problem` text `validate` gives for that field;
//! where the schema says it with a maxLength, maxItems or maxProperties, `validate` uses the API
//! server's words.
//! `rule_examples` holds one invalid manifest per rule; the tests check both sides say the same.

use kube::core::{Message, Rule};
use schemars::Schema;

/// Adds `rules` to the `x-kubernetes-validations` of `schema`. For the structs whose
/// `#[serde(default)]` keeps them off `KubeSchema`'s `x_kube`: their fields take these through
/// `#[schemars(transform = ...)]`.
fn add(schema: &mut Schema, rules: impl IntoIterator<Item = Rule>) {
    for rule in rules {
        // A rule is strings and an enum: it always serializes.
        if let Ok(rule) = serde_json::to_value(rule) {
            let list = schema
                .ensure_object()
                .entry("x-kubernetes-validations")
                .or_insert_with(|| serde_json::Value::Array(Vec::new()));
            if let serde_json::Value::Array(list) = list {
                list.push(rule);
            }
        }
    }
}

/// `spec.redis.clusterNodeTimeoutMs`.
pub fn node_timeout(schema: &mut Schema) {
    add(
        schema,
        [Rule::new("self >= 500 && self <= 60000").message("must be between 500 and 60000 ms")],
    );
}

/// `spec.auth.secretName`, `spec.tls.secretName`.
pub fn secret_name(schema: &mut Schema) {
    add(schema, [not_empty(), dns_label(253)]);
}

/// `spec.redis.maxmemory`.
pub fn redis_size(schema: &mut Schema) {
    add(schema, [size_starts_with_number(), size_unit()]);
}

/// `spec.redis.replBacklogSize`.
pub fn backlog_size(schema: &mut Schema) {
    add(
        schema,
        [size_starts_with_number(), size_unit(), backlog_minimum()],
    );
}

/// `spec.kubernetes.resources.cpu` and `.memory`, `spec.redis.persistence.size`: the render
/// refuses what is not a Kubernetes quantity (`redis_stretch_k8s::quantity`), and its message
/// says this much (`isQuantity` is the API server's CEL quantity library; kube's client has it).
pub fn quantity(schema: &mut Schema) {
    add(
        schema,
        [Rule::new("isQuantity(self)").message(quoted("self", " is not a Kubernetes quantity"))],
    );
}

/// `spec.kubernetes.metrics`: the exporter shares the pod's network namespace with Redis, so
/// its port must be free there. Guarded by `has` for clients that do not apply the defaults.
pub fn metrics(schema: &mut Schema) {
    add(
        schema,
        [
            Rule::new("!has(self.enabled) || !self.enabled || !has(self.image) || self.image.trim() != ''")
                .message("must not be empty when metrics are enabled")
                .field_path(".image"),
            Rule::new("!has(self.enabled) || !self.enabled || !has(self.port) || !(self.port in [0, 6379, 16379])")
                // No `string(self.port)`: the API server's cost estimate cannot afford it.
                .message(Message::Expression(
                    "(self.port == 0 ? '0' : self.port == 6379 ? '6379' : '16379') + ' is not free in the pod (0 is invalid; Redis uses 6379 and its cluster bus 16379)'".into(),
                ))
                .field_path(".port"),
        ],
    );
}

/// A zone name, a secret name: `[a-z]([-a-z0-9]*[a-z0-9])?`, as `dns_label_problem` reads it.
const DNS_LABEL: &str = "^[a-z]([-a-z0-9]*[a-z0-9])?$";

/// `'`' + self + '`' + rest`, the shape of most messages about a string value.
fn quoted(value: &str, rest: &str) -> Message {
    Message::Expression(format!("'`' + {value} + \"`{rest}\""))
}

// The checks of `dns_label_problem(s, max)` besides the length, which is the field's
// maxLength: the API server checks that first, and skips every CEL rule when it fails. Each
// only when the earlier ones pass, so that one bad value gets one message as in local mode.

pub fn not_empty() -> Rule {
    Rule::new("size(self) != 0").message("must not be empty")
}

pub fn dns_label(max: usize) -> Rule {
    Rule::new(format!(
        "size(self) == 0 || size(self) > {max} || self.matches('{DNS_LABEL}')"
    ))
    .message(quoted("self", " is not a DNS label"))
}

// `metadata.name`: a DNS label of at most 40 characters (object names are built from it,
// `<name>-<zone>-<ordinal>`). Evaluated at the root, where the message names the field.

pub fn cluster_name_length() -> Rule {
    Rule::new("size(self.metadata.name) <= 40")
        .message("metadata.name: may not be more than 40 bytes")
}

pub fn cluster_name_label() -> Rule {
    Rule::new(format!(
        "size(self.metadata.name) > 40 || self.metadata.name.matches('{DNS_LABEL}')"
    ))
    .message(Message::Expression(
        "'metadata.name: `' + self.metadata.name + '` is not a DNS label'".into(),
    ))
}

/// A node label key, as `label_key_problem` reads it: an optional prefix of DNS labels joined
/// by dots (at most 253 characters) and `/`, then a name of at most 63 alphanumerics, `-`, `_`
/// and `.`, starting and ending alphanumeric.
pub fn label_key(schema: &mut Schema) {
    add(
        schema,
        [Rule::new(label_key_test("self")).message(quoted("self", " is not a label key"))],
    );
}

/// CEL that is true when the string `k` is a label key (`label_key_problem`).
fn label_key_test(k: &str) -> String {
    let part = "[a-z]([-a-z0-9]{0,61}[a-z0-9])?";
    let name = "[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?";
    format!(
        "({k}.matches('^({part}(\\\\.{part})*/)?{name}$') && (!{k}.contains('/') || {k}.lastIndexOf('/') <= 253))"
    )
}

/// CEL that is true when the string `v` is a label value (`label_value_problem`).
fn label_value_test(v: &str) -> String {
    format!("{v}.matches('^(([A-Za-z0-9][-A-Za-z0-9_.]{{0,61}})?[A-Za-z0-9])?$')")
}

/// The leading digits of a Redis size, and its unit in lower case (`parse_memory`).
const DIGITS: &str = "self.trim().find('^[0-9]+')";
const UNIT: &str = "self.trim().lowerAscii().substring(size(self.trim().find('^[0-9]+')))";
const SIZE: &str = "self.trim().lowerAscii().matches('^[0-9]+(b|k|kb|m|mb|g|gb)?$')";

/// `SIZE` of the string `v`.
fn size_test(v: &str) -> String {
    SIZE.replace("self", v)
}

// A Redis size (`256mb`, `2gb`, `1024`): the units `parse_memory` (and redis.conf) accept, in
// at most `SIZE_MAX` characters (also the field's maxLength, which bounds the rules' cost).

const SIZE_MAX: usize = 32;

fn size_starts_with_number() -> Rule {
    Rule::new(format!(
        "size(self) > {SIZE_MAX} || self.trim().matches('^[0-9]')"
    ))
    .message(quoted("self", " does not start with a number"))
}

fn size_unit() -> Rule {
    Rule::new(format!(
        "size(self) > {SIZE_MAX} || !self.trim().matches('^[0-9]') || {SIZE}"
    ))
    .message(Message::Expression(format!(
        "'`' + self + '` has an unknown unit `' + {UNIT} + '`'"
    )))
}

/// `repl-backlog-size` of at least 16kb, which Redis raises a smaller value to. The number is
/// compared with the least count of its unit that makes 16kb, so that nothing overflows CEL's
/// 64-bit integers; more than 18 digits is more than 16kb in any unit.
fn backlog_minimum() -> Rule {
    let least = format!(
        "({UNIT} == '' || {UNIT} == 'b' ? 16384 : {UNIT} == 'k' ? 17 : {UNIT} == 'kb' ? 16 : 1)"
    );
    Rule::new(format!(
        "size(self) > {SIZE_MAX} || !{SIZE} || size({DIGITS}) > 18 || int({DIGITS}) >= {least}"
    ))
    .message(quoted("self", " is below Redis's minimum backlog of 16kb"))
}

/// One of Redis's `maxmemory-policy` values.
pub fn maxmemory_policy(schema: &mut Schema) {
    let list: Vec<String> = crate::validate::MAXMEMORY_POLICIES
        .iter()
        .map(|p| format!("'{p}'"))
        .collect();
    add(
        schema,
        [Rule::new(format!("self in [{}]", list.join(", ")))
            .message(quoted("self", " is not a Redis maxmemory policy"))],
    );
}

// `spec.kubernetes.pod` (`pod_template_problems`): what Kubernetes itself would refuse only
// once the operator applied the StatefulSet, and what would break the operator's own rules.
// Maps and lists have a most count (`pod_template::LIMITS`), which the API server's cost estimate needs
// (without one it assumes as many entries as a request can hold) and `validate` repeats.

/// Label values are at most 63 characters: the API server checks that first (in its own words,
/// which `validate` uses too), and the value rules' cost needs the bound.
fn label_values(schema: &mut Schema) {
    if let Some(values) = schema
        .as_object_mut()
        .and_then(|o| o.get_mut("additionalProperties"))
        .and_then(|v| v.as_object_mut())
    {
        values.insert(
            "maxLength".to_owned(),
            serde_json::json!(crate::pod_template::LABEL_VALUE_MAX),
        );
    }
}

fn set_limit(schema: &mut Schema, keyword: &str, field: &str) {
    schema.ensure_object().insert(
        keyword.to_owned(),
        serde_json::json!(crate::pod_template::limit(field)),
    );
}

/// The first key of the map `map` for which `test` (CEL on `k`) is false.
fn first_failing(map: &str, test: &str) -> String {
    format!("{map}.filter(k, !({test}))[0]")
}

/// The label keys the operator sets whatever the mode, tested on the CEL string `k`.
fn ours_test(k: &str) -> String {
    let list: Vec<String> = crate::validate::OUR_LABELS
        .iter()
        .map(|l| format!("'{l}'"))
        .collect();
    format!(
        "({k} in [{}] || {k}.startsWith('{}'))",
        list.join(", "),
        crate::validate::OUR_LABEL_PREFIX
    )
}

/// `spec.kubernetes.pod.labels`: keys, ours, values. The seed's `app` is the spec's rule.
pub fn pod_labels(schema: &mut Schema) {
    set_limit(schema, "maxProperties", "labels");
    label_values(schema);
    let key = label_key_test("k");
    let ours = ours_test("k");
    let value = format!("!{key} || {ours} || {}", label_value_test("self[k]"));
    add(
        schema,
        [
            keys_rule(&key, "a label key"),
            Rule::new(format!("self.all(k, !({key} && {ours}))")).message(Message::Expression(
                format!(
                    "'`' + {} + \"` is set by redis-stretch: it selects the cluster's pods\"",
                    first_failing("self", &format!("!({key} && {ours})"))
                ),
            )),
            Rule::new(format!("self.all(k, {value})")).message(Message::Expression(format!(
                "'`' + self[{}] + '` is not a label value'",
                first_failing("self", &value)
            ))),
        ],
    );
}

/// `spec.kubernetes.pod.annotations`.
pub fn pod_annotations(schema: &mut Schema) {
    set_limit(schema, "maxProperties", "annotations");
    add(
        schema,
        [keys_rule(&label_key_test("k"), "an annotation key")],
    );
}

/// `spec.kubernetes.pod.nodeSelector`: keys and values. The zone label is the spec's rule.
pub fn node_selector(schema: &mut Schema) {
    set_limit(schema, "maxProperties", "nodeSelector");
    label_values(schema);
    let key = label_key_test("k");
    let value = format!("!{key} || {}", label_value_test("self[k]"));
    add(
        schema,
        [
            keys_rule(&key, "a label key"),
            Rule::new(format!("self.all(k, {value})")).message(Message::Expression(format!(
                "'`' + self[{}] + '` is not a label value'",
                first_failing("self", &value)
            ))),
        ],
    );
}

fn keys_rule(key: &str, what: &str) -> Rule {
    Rule::new(format!("self.all(k, {key})")).message(Message::Expression(format!(
        "'`' + {} + '` is not {what}'",
        first_failing("self", key)
    )))
}

/// `spec.kubernetes.pod.priorityClassName`: a DNS subdomain (`subdomain_problem`).
pub fn priority_class_name(schema: &mut Schema) {
    let part = "[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?";
    add(
        schema,
        [Rule::new(format!(
            "size(self) <= 253 && self.matches('^{part}(\\\\.{part})*$')"
        ))
        .message(quoted("self", " is not a valid name (a DNS subdomain)"))],
    );
}

/// The rules of each item of the array `schema`, and its most items.
fn add_to_items(schema: &mut Schema, field: &str, rules: impl IntoIterator<Item = Rule>) {
    set_limit(schema, "maxItems", field);
    if let Some(items) = schema
        .as_object_mut()
        .and_then(|o| o.get_mut("items"))
        .and_then(|i| <&mut Schema>::try_from(i).ok())
    {
        add(items, rules);
    }
}

/// `spec.kubernetes.pod.tolerations`: each checked as `typed_pod_problems` does, one message
/// per field (an unknown operator is only that, not also an empty key's problem).
pub fn tolerations(schema: &mut Schema) {
    add_to_items(
        schema,
        "tolerations",
        [
            Rule::new("!has(self.operator) || self.operator == 'Equal' || self.operator == 'Exists'")
                .message(quoted("self.operator", " is not a toleration operator"))
                .field_path(".operator"),
            Rule::new("!has(self.operator) || self.operator != 'Exists' || !has(self.value) || self.value == ''")
                .message("must be empty with operator `Exists`")
                .field_path(".value"),
            Rule::new("(has(self.key) && self.key != '') || (has(self.operator) && self.operator != 'Equal')")
                .message("an empty key tolerates every taint only with operator `Exists`")
                .field_path(".key"),
            Rule::new("!has(self.effect) || self.effect == '' || self.effect == 'NoSchedule' || self.effect == 'PreferNoSchedule' || self.effect == 'NoExecute'")
                .message(quoted("self.effect", " is not a taint effect"))
                .field_path(".effect"),
        ],
    );
}

/// `spec.kubernetes.pod.topologySpreadConstraints`.
pub fn topology_spread(schema: &mut Schema) {
    add_to_items(
        schema,
        "topologySpreadConstraints",
        [
            Rule::new("self.maxSkew >= 1")
                .message("must be at least 1")
                .field_path(".maxSkew"),
            Rule::new("self.topologyKey != ''")
                .message("must not be empty")
                .field_path(".topologyKey"),
            Rule::new("self.whenUnsatisfiable == 'DoNotSchedule' || self.whenUnsatisfiable == 'ScheduleAnyway'")
                .message(quoted("self.whenUnsatisfiable", " is not a policy"))
                .field_path(".whenUnsatisfiable"),
        ],
    );
}

/// `spec.kubernetes.pod.imagePullSecrets`.
pub fn image_pull_secrets(schema: &mut Schema) {
    add_to_items(
        schema,
        "imagePullSecrets",
        [Rule::new("has(self.name) && self.name != ''")
            .message("must not be empty")
            .field_path(".name")],
    );
}

/// The subschema at `path` (property names) below `schema`.
fn at<'a>(schema: &'a mut Schema, path: &[&str]) -> Option<&'a mut Schema> {
    let mut here = schema;
    for name in path {
        here = here
            .as_object_mut()?
            .get_mut(if *name == "[]" { "items" } else { "properties" })
            .and_then(|v| {
                if *name == "[]" {
                    Some(v)
                } else {
                    v.get_mut(*name)
                }
            })
            .and_then(|v| <&mut Schema>::try_from(v).ok())?;
    }
    Some(here)
}

/// `spec.kubernetes.pod.affinity`: a required node affinity that matches some node. Its zone
/// label is the spec's rule.
pub fn pod_affinity(schema: &mut Schema) {
    let required = [
        "nodeAffinity",
        "requiredDuringSchedulingIgnoredDuringExecution",
    ];
    if let Some(terms) = at(schema, &[&required[..], &["nodeSelectorTerms"]].concat()) {
        set_limit(terms, "maxItems", "nodeSelectorTerms");
        for list in ["matchExpressions", "matchFields"] {
            if let Some(l) = at(terms, &["[]", list]) {
                set_limit(l, "maxItems", list);
            }
        }
    }
    if let Some(required) = at(schema, &required) {
        add(
            required,
            [
                Rule::new("size(self.nodeSelectorTerms) != 0")
                    .message("is empty: no node would match")
                    .field_path(".nodeSelectorTerms"),
                Rule::new("self.nodeSelectorTerms.all(t, (has(t.matchExpressions) && size(t.matchExpressions) != 0) || (has(t.matchFields) && size(t.matchFields) != 0))")
                    .message("has neither matchExpressions nor matchFields: it matches no node")
                    .field_path(".nodeSelectorTerms"),
            ],
        );
    }
}

/// `has` of `self.kubernetes.pod.<field>`, for the spec's rules.
fn pod_has(field: &str) -> String {
    format!("has(self.kubernetes) && has(self.kubernetes.pod) && has(self.kubernetes.pod.{field})")
}

/// The zone label, defaulted as the API server defaults it (kube's CEL client does not).
const ZONE_LABEL: &str = "(has(self.placement) && has(self.placement.zoneLabel) ? self.placement.zoneLabel : 'topology.kubernetes.io/zone')";

/// The spec's rules about `spec.kubernetes.pod`: those that read `spec.placement`.
pub fn pod_spec_rules() -> Vec<Rule> {
    let seed = "has(self.placement) && has(self.placement.mode) && self.placement.mode == 'SeedCompatible'";
    let app = crate::validate::SEED_APP_LABEL;
    let zone_problem = "'` is the zone label (spec.placement.zoneLabel): spec.zones decides which zone each pod runs in'";
    let terms = "self.kubernetes.pod.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms";
    vec![
        Rule::new(format!(
            "!({seed} && {}) || !('{app}' in self.kubernetes.pod.labels)",
            pod_has("labels")
        ))
        .message(
            format!("`{app}` is set by redis-stretch: it selects the cluster's pods").as_str(),
        )
        .field_path(".kubernetes.pod.labels"),
        Rule::new(format!(
            "!({}) || !({ZONE_LABEL} in self.kubernetes.pod.nodeSelector)",
            pod_has("nodeSelector")
        ))
        .message(Message::Expression(format!("'`' + {ZONE_LABEL} + {zone_problem}")))
        .field_path(".kubernetes.pod.nodeSelector"),
        Rule::new(format!(
            "!({} && has(self.kubernetes.pod.affinity.nodeAffinity) && has(self.kubernetes.pod.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution)) || {terms}.all(t, !has(t.matchExpressions) || t.matchExpressions.all(e, e.key != {ZONE_LABEL}))",
            pod_has("affinity")
        ))
        .message(Message::Expression(format!("'`' + {ZONE_LABEL} + {zone_problem}")))
        .field_path(".kubernetes.pod.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms"),
    ]
}

/// `spec.redis.maxmemory` below the pods' memory limit (`ValidatedCluster::with_memory_limit`,
/// Kubernetes only). The Redis size is written as the quantity of the same bytes (`mb` is
/// `Mi`, `m` is `M`), which the quantity library compares exactly and without overflow.
pub fn maxmemory_below_limit() -> Rule {
    let m = "self.redis.maxmemory";
    let digits = format!("{m}.trim().find('^[0-9]+')");
    let unit = format!("{m}.trim().lowerAscii().substring(size({digits}))");
    let suffix = format!(
        "({unit} == 'k' ? 'k' : {unit} == 'kb' ? 'Ki' : {unit} == 'm' ? 'M' : {unit} == 'mb' ? 'Mi' : {unit} == 'g' ? 'G' : {unit} == 'gb' ? 'Gi' : '')"
    );
    let limit = "(has(self.kubernetes) && has(self.kubernetes.resources) && has(self.kubernetes.resources.memory) ? self.kubernetes.resources.memory : '1Gi')";
    Rule::new(format!(
        "!has(self.redis) || !has({m}) || size({m}) > {SIZE_MAX} || !{size} || size({digits}) > 18 || !isQuantity({limit}) || quantity({digits} + {suffix}).isLessThan(quantity({limit}))",
        size = size_test(m),
    ))
    .message(Message::Expression(format!(
        "'`' + {m} + \"` is not below the pods' memory limit spec.kubernetes.resources.memory (`\" + {limit} + '`): the kernel would kill Redis for memory before maxmemory ever made it evict or refuse a write'"
    )))
    .field_path(".redis.maxmemory")
}

/// The spec's rules across its sections (on `RedisStretchClusterSpec`).
pub fn spec_rules(schema: &mut Schema) {
    add(schema, pod_spec_rules());
    add(schema, [maxmemory_below_limit()]);
}
