//! The node list reader before it tried serde_json first, verbatim but for paths.
//! Nodes as `kubectl get nodes -o json` prints them, read leniently: only what scheduling
//! needs, so that a list from any Kubernetes version (or hand-written for a what-if) parses.

use std::collections::BTreeMap;

use serde::Deserialize;

use redis_stretch_k8s::plan::{Node, Taint};
use redis_stretch_k8s::{quantity, Error};

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
    let list: RawList = serde_saphyr::from_str_with_options(
        text,
        serde_saphyr::options! { duplicate_keys: serde_saphyr::DuplicateKeyPolicy::PassThrough },
    )
    .map_err(|e| Error::Nodes(e.without_snippet().to_string()))?;
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
