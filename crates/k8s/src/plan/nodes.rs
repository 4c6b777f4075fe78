//! Nodes as `kubectl get nodes -o json` prints them, read leniently: only what scheduling
//! needs, so that a list from any Kubernetes version (or hand-written for a what-if) parses.

use std::collections::BTreeMap;

use serde::Deserialize;

use crate::error::Error;
use crate::quantity;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Node {
    pub name: String,
    pub labels: BTreeMap<String, String>,
    /// Cordoned (`kubectl cordon`).
    pub unschedulable: bool,
    pub taints: Vec<Taint>,
    /// Allocatable millicores, bytes and pod slots; absent counts as none, as the scheduler does.
    pub cpu_millis: u128,
    pub memory_bytes: u128,
    pub pods: u128,
    /// The Ready condition, if reported.
    pub ready: Option<bool>,
}

#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
pub struct Taint {
    pub key: String,
    #[serde(default)]
    pub value: Option<String>,
    pub effect: String,
}

impl std::fmt::Display for Taint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.value {
            Some(v) if !v.is_empty() => write!(f, "{}={}:{}", self.key, v, self.effect),
            _ => write!(f, "{}:{}", self.key, self.effect),
        }
    }
}

#[derive(Deserialize)]
struct RawList {
    #[serde(default)]
    items: Vec<RawNode>,
}

#[derive(Deserialize)]
struct RawNode {
    metadata: RawMeta,
    #[serde(default)]
    spec: RawSpec,
    #[serde(default)]
    status: RawStatus,
}

#[derive(Deserialize)]
struct RawMeta {
    name: String,
    #[serde(default)]
    labels: BTreeMap<String, String>,
}

#[derive(Default, Deserialize)]
struct RawSpec {
    #[serde(default)]
    unschedulable: bool,
    #[serde(default)]
    taints: Vec<Taint>,
}

#[derive(Default, Deserialize)]
struct RawStatus {
    #[serde(default)]
    allocatable: BTreeMap<String, String>,
    #[serde(default)]
    conditions: Vec<RawCondition>,
}

#[derive(Deserialize)]
struct RawCondition {
    #[serde(rename = "type")]
    type_: String,
    status: String,
}

/// Parse a `List`/`NodeList` of nodes (JSON or YAML), sorted by name so that every report and
/// every tie-break is the same for the same input.
pub fn parse_nodes(text: &str) -> Result<Vec<Node>, Error> {
    // `kubectl get nodes -o json` is the usual input, and a YAML reader takes it with many times
    // the instructions serde_json needs: at 1,000 nodes, more than all the rest of the plan.
    // Anything serde_json rejects (YAML, or JSON it is stricter about) goes to the YAML reader,
    // which reads JSON too and reports the error with its line and column.
    let list: RawList = match serde_json::from_str(text) {
        Ok(list) => list,
        // A key given twice: the last one wins, as with serde_json (and kubectl).
        Err(_) => serde_saphyr::from_str_with_options(
            text,
            serde_saphyr::options! { duplicate_keys: serde_saphyr::DuplicateKeyPolicy::PassThrough },
        )
        .map_err(|e| Error::Nodes(e.without_snippet().to_string()))?,
    };
    if list.items.is_empty() {
        return Err(Error::Nodes("the list has no items".to_owned()));
    }
    let mut nodes = list
        .items
        .into_iter()
        .map(|raw| {
            let name = raw.metadata.name;
            let alloc = |key: &str, parse: fn(&str) -> Result<u128, String>| match raw
                .status
                .allocatable
                .get(key)
            {
                None => Ok(0),
                Some(q) => parse(q).map_err(|why| {
                    Error::Nodes(format!("node `{name}`: allocatable {key} `{q}`: {why}"))
                }),
            };
            let cpu_millis = alloc("cpu", quantity::cpu_millis)?;
            let memory_bytes = alloc("memory", quantity::bytes)?;
            let pods = alloc("pods", quantity::bytes)?;
            let ready = raw
                .status
                .conditions
                .iter()
                .find(|c| c.type_ == "Ready")
                .map(|c| c.status == "True");
            Ok(Node {
                labels: raw.metadata.labels,
                unschedulable: raw.spec.unschedulable,
                taints: raw.spec.taints,
                cpu_millis,
                memory_bytes,
                pods,
                ready,
                name,
            })
        })
        .collect::<Result<Vec<_>, Error>>()?;
    nodes.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(nodes)
}
