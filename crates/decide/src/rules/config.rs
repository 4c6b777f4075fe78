//! Live config: every reachable instance gets the spec's live settings by `CONFIG SET`, where
//! its own value differs (a spec edit, an instance restarted from an older redis.conf, a
//! person's `CONFIG SET`). Redis applies these at once and keeps them until restart; the
//! platforms also write them into redis.conf, so a restart keeps them too.
//!
//! Runs only once no zone is lost and no cut stands (decide returns before it then): a
//! setting can wait, a takeover cannot.

use redis_stretch_api::redis_config::normalize;

use super::Input;
use crate::{Action, ActionKind};

pub(super) fn live_config(input: &Input<'_>) -> Vec<Action> {
    let mut out = Vec::new();
    for node in input.snapshot.nodes.iter().filter(|n| n.reachable) {
        for (name, want) in &input.policy.live_config {
            // Absent: not observed, or a parameter this server does not know. Either way
            // there is nothing to compare, and setting it blind would only fail every pass.
            let Some(have) = node.live_config.get(name) else {
                continue;
            };
            if normalize(name, have) == normalize(name, want) {
                continue;
            }
            out.extend(Action::on(
                node,
                ActionKind::SetConfig {
                    name: name.clone(),
                    value: want.clone(),
                },
                format!("the spec sets {name} to {want:?}; this instance has {have:?}"),
            ));
        }
    }
    out
}
