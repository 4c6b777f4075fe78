//! The CEL rules of the CRD that repeat `validate`'s checks, so that the API server refuses at
//! `kubectl apply` what the operator would refuse later, with the same words: each message
//! (or `messageExpression`) builds exactly the `problem` text `validate` gives for that field;
//! where the schema says it with a maxLength, `validate` uses the API server's words.
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
    let part = "[a-z]([-a-z0-9]{0,61}[a-z0-9])?";
    let name = "[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?";
    add(
        schema,
        [Rule::new(format!(
            "self.matches('^({part}(\\\\.{part})*/)?{name}$') && (!self.contains('/') || self.lastIndexOf('/') <= 253)"
        ))
        .message(quoted("self", " is not a label key"))],
    );
}

/// The leading digits of a Redis size, and its unit in lower case (`parse_memory`).
const DIGITS: &str = "self.trim().find('^[0-9]+')";
const UNIT: &str = "self.trim().lowerAscii().substring(size(self.trim().find('^[0-9]+')))";
const SIZE: &str = "self.trim().lowerAscii().matches('^[0-9]+(b|k|kb|m|mb|g|gb)?$')";

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
