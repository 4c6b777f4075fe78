//! What the engine knows of each instance's passwords, without the passwords: which of the
//! engine's own it holds (compared by SHA-256, the form `ACL GETUSER` shows), which one the
//! engine authenticated with, and which one the instance sends its master (`masterauth`).
//! Actions name a password by its role ([`PasswordRef`]); act resolves it from the engine's
//! connection pool, so no password ever reaches a decision, an event or the status.

use std::fmt;

use serde::{Deserialize, Serialize};

/// One of the engine's passwords: the one the spec names now, or, during a rotation, the one
/// it replaced.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum PasswordRef {
    Current,
    Previous,
}

impl fmt::Display for PasswordRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            PasswordRef::Current => "the current password",
            PasswordRef::Previous => "the previous password",
        })
    }
}

/// An instance's credentials as the engine observed them (only when the engine has a
/// password and the instance answers).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AuthSeen {
    /// Which password the engine's connection to it authenticated with.
    pub engine_uses: PasswordRef,
    /// The `default` user accepts the current password.
    pub holds_current: bool,
    /// The `default` user accepts the previous password; `None` when the engine has none
    /// (no rotation under way).
    pub holds_previous: Option<bool>,
    /// Passwords of the `default` user that are neither of the engine's (left alone).
    #[serde(default)]
    pub others: u32,
    /// Which of the engine's passwords `masterauth` is; `None`: neither (empty, or another).
    pub masterauth: Option<PasswordRef>,
}

impl AuthSeen {
    /// Nothing of a rotation left on this instance.
    pub fn settled(&self) -> bool {
        self.holds_current
            && self.holds_previous != Some(true)
            && self.masterauth == Some(PasswordRef::Current)
            && self.engine_uses == PasswordRef::Current
    }
}

impl crate::Snapshot {
    /// Every instance answers and holds the current password only, sends it as masterauth,
    /// and the engine uses it: a rotation is over, the previous password can be forgotten.
    /// False while any instance is silent or refuses: it may still need the previous one.
    pub fn rotation_done(&self) -> bool {
        self.nodes
            .iter()
            .filter(|n| n.name.is_some())
            .all(|n| n.reachable && n.auth.as_ref().is_some_and(AuthSeen::settled))
    }
}

impl crate::Snapshot {
    /// While the engine rotates (it has a previous password) and is not done: how many of the
    /// instances are done, of how many. For status.
    pub fn rotation_progress(&self) -> Option<(usize, usize)> {
        let named: Vec<&crate::NodeState> =
            self.nodes.iter().filter(|n| n.name.is_some()).collect();
        let rotating = named
            .iter()
            .any(|n| n.auth.as_ref().is_some_and(|a| a.holds_previous.is_some()));
        if !rotating || self.rotation_done() {
            return None;
        }
        let done = named
            .iter()
            .filter(|n| n.reachable && n.auth.as_ref().is_some_and(AuthSeen::settled))
            .count();
        Some((done, named.len()))
    }
}
