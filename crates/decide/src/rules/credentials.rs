//! Password rotation, level-triggered from what every instance holds (docs/OPERATIONS.md,
//! "Rotating the password"). The engine knows the current password and, during a rotation,
//! the previous one; it connects with whichever an instance accepts. On every instance, in
//! this order:
//! 1. `ACL SETUSER default >current`: both passwords work. Never `CONFIG SET requirepass`,
//!    which is `resetpass` then `>p` and would drop the password clients still use.
//! 2. once every instance accepts the current one, `CONFIG SET masterauth current`: a replica
//!    authenticates with it at its next handshake, so its master must accept it first (the
//!    live link is not re-authenticated).
//! 3. once every instance accepts it, sends it as masterauth and the engine itself is
//!    connected with it everywhere, `ACL SETUSER default <previous`.
//!
//! Steps 2 and 3 need every instance: a silent one may still know only the previous password
//! and, back, could neither replicate nor be reached by an engine that dropped it. The rule
//! runs only among the healthy repairs (decide puts zone losses and cuts first): a rotation
//! pauses while a DC is dark and resumes when it is back. Passwords that are neither the
//! engine's current nor its previous one are left alone: a person put them there.

use crate::rules::{Decision, Input, Intent};
use crate::{Action, ActionKind, AuthSeen, NodeState, PasswordRef};

pub(crate) fn rotate(input: &Input<'_>) -> Option<Decision> {
    if input.intent != Intent::Auto {
        return None;
    }
    let named: Vec<&NodeState> = input
        .snapshot
        .nodes
        .iter()
        .filter(|n| n.name.is_some())
        .collect();
    let seen: Vec<(&NodeState, &AuthSeen)> = named
        .iter()
        .filter(|n| n.reachable)
        .filter_map(|n| n.auth.as_ref().map(|a| (*n, a)))
        .collect();
    let step = |f: &dyn Fn(&AuthSeen) -> Option<(ActionKind, &'static str)>| -> Vec<Action> {
        seen.iter()
            .filter_map(|(n, a)| f(a).and_then(|(kind, why)| Action::on(n, kind, why)))
            .collect()
    };
    let add = step(&|a| {
        (!a.holds_current).then_some((
            ActionKind::AddPassword {
                password: PasswordRef::Current,
            },
            "password rotation: the instance accepts the new password beside the old one",
        ))
    });
    if !add.is_empty() {
        return Some(one_step(add));
    }
    if seen.len() < named.len() {
        return None;
    }
    let masterauth = step(&|a| {
        (a.masterauth != Some(PasswordRef::Current)).then_some((
            ActionKind::SetMasterAuth {
                password: PasswordRef::Current,
            },
            "password rotation: every instance accepts the new password, so replicas may authenticate with it",
        ))
    });
    if !masterauth.is_empty() {
        return Some(one_step(masterauth));
    }
    // The engine reconnects with the current password on the pass after it was added; until
    // then dropping the previous one could cut the engine's own connections short.
    if seen
        .iter()
        .any(|(_, a)| a.engine_uses != PasswordRef::Current)
    {
        return None;
    }
    let drop = step(&|a| {
        (a.holds_previous == Some(true)).then_some((
            ActionKind::DropPassword {
                password: PasswordRef::Previous,
            },
            "password rotation: every instance accepts the new password and sends it as masterauth; the old one is removed",
        ))
    });
    (!drop.is_empty()).then(|| one_step(drop))
}

fn one_step(actions: Vec<Action>) -> Decision {
    Decision {
        steps: vec![actions],
        ..Decision::default()
    }
}
