//! Live config: every reachable instance gets the spec's live settings by `CONFIG SET`, where
//! its own value differs (a spec edit, an instance restarted from an older redis.conf, a
//! person's `CONFIG SET`). Redis applies these at once and keeps them until restart; the
//! platforms also write them into redis.conf, so a restart keeps them too.
//!
//! Runs only once no zone is lost and no cut stands (decide returns before it then): a
//! setting can wait, a takeover cannot.

use redis_stretch_api::redis_config::normalize;

use super::Input;
use crate::{Action, ActionKind, NodeState, Snapshot};

pub(super) fn live_config(input: &Input<'_>) -> Vec<Action> {
    config_drift(input.snapshot, &input.policy.live_config)
        .into_iter()
        .filter_map(|d| {
            Action::on(
                d.node,
                ActionKind::SetConfig {
                    name: d.name.to_owned(),
                    value: d.want.to_owned(),
                },
                format!(
                    "the spec sets {} to {:?}; this instance has {:?}",
                    d.name, d.want, d.have
                ),
            )
        })
        .collect()
}

/// A live setting a reachable instance holds at another value than the spec's.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Drift<'a> {
    pub node: &'a NodeState,
    pub name: &'a str,
    pub want: &'a str,
    pub have: &'a str,
}

/// Every live setting of `live` (directive, the spec's value) that a reachable instance holds
/// at another value: what the engine sets next, and what status reports as not applied yet.
pub fn config_drift<'a>(snapshot: &'a Snapshot, live: &'a [(String, String)]) -> Vec<Drift<'a>> {
    let mut out = Vec::new();
    for node in snapshot.nodes.iter().filter(|n| n.reachable) {
        for (name, want) in live {
            // Absent: not observed, or a parameter this server does not know. Either way
            // there is nothing to compare, and setting it blind would only fail every pass.
            let Some(have) = node.live_config.get(name) else {
                continue;
            };
            if normalize(name, have) != normalize(name, want) {
                out.push(Drift {
                    node,
                    name,
                    want,
                    have,
                });
            }
        }
    }
    out
}
