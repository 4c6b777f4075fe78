//! The `reason` of every Kubernetes Event the reconcile publishes, as one type: alerting rules
//! and `kubectl get events --field-selector reason=…` match on these strings, so they are
//! defined once and never spelt inline.

use std::fmt;

use kube::runtime::events::EventType;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reason {
    /// The spec failed validation: nothing was applied, the engine keeps the last valid spec.
    InvalidSpec,
    /// The rendered objects were applied for a new generation of the spec.
    Applied,
    /// The API server refused to apply a rendered object: the `Applied` condition says why.
    ApplyFailed,
    /// An object the cluster owned is no longer rendered and was deleted.
    Pruned,
    /// The cluster is being deleted: its engine stopped, owned objects go by owner reference.
    Deleted,
    // A reconcile step failed: `Ready=False` carries the same reason and the error's message.
    /// The password Secret (or its key) named by the spec is missing.
    SecretMissing,
    /// The TLS Secret (or one of its keys) named by the spec is missing.
    TlsSecretMissing,
    /// The password changed again before the previous rotation was done.
    PasswordRotating,
    /// A Secret could not be read, or a password not generated.
    SecretUnavailable,
    /// The manifests could not be rendered from a spec that validated.
    RenderFailed,
    /// The API server refused or failed a request other than applying the objects.
    KubeApiError,
    /// The resource lacks what every object has (a namespace), or the finalizer failed.
    ReconcileFailed,
}

impl Reason {
    /// The Event's `reason` field: CamelCase, as Kubernetes' own reasons.
    pub const fn as_str(self) -> &'static str {
        match self {
            Reason::InvalidSpec => "InvalidSpec",
            Reason::Applied => "Applied",
            Reason::ApplyFailed => "ApplyFailed",
            Reason::Pruned => "Pruned",
            Reason::Deleted => "Deleted",
            Reason::SecretMissing => "SecretMissing",
            Reason::TlsSecretMissing => "TlsSecretMissing",
            Reason::PasswordRotating => "PasswordRotating",
            Reason::SecretUnavailable => "SecretUnavailable",
            Reason::RenderFailed => "RenderFailed",
            Reason::KubeApiError => "KubeApiError",
            Reason::ReconcileFailed => "ReconcileFailed",
        }
    }

    /// `Warning` for what a human must look at, `Normal` for the rest.
    pub fn event_type(self) -> EventType {
        match self {
            Reason::Applied | Reason::Pruned | Reason::Deleted => EventType::Normal,
            Reason::InvalidSpec
            | Reason::ApplyFailed
            | Reason::SecretMissing
            | Reason::TlsSecretMissing
            | Reason::PasswordRotating
            | Reason::SecretUnavailable
            | Reason::RenderFailed
            | Reason::KubeApiError
            | Reason::ReconcileFailed => EventType::Warning,
        }
    }
}

/// The reason of an Event for one engine action: the action's name in CamelCase
/// (`takeover` → `Takeover`, `graceful-failover` → `GracefulFailover`, `bootstrap` →
/// `Bootstrap`), with `Failed` appended when it failed (`FenceFailed`).
pub fn engine_action(kind: &str, ok: bool) -> String {
    let camel: String = kind
        .split('-')
        .map(|w| {
            let mut c = w.chars();
            c.next()
                .map(|f| f.to_uppercase().chain(c).collect::<String>())
                .unwrap_or_default()
        })
        .collect();
    if ok {
        camel
    } else {
        format!("{camel}Failed")
    }
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn engine_action_reasons_are_camel_case() {
        assert_eq!(engine_action("takeover", true), "Takeover");
        assert_eq!(engine_action("graceful-failover", true), "GracefulFailover");
        assert_eq!(engine_action("fence", false), "FenceFailed");
        // A rollout's step: `kubectl get events --field-selector reason=Restart` lists them.
        assert_eq!(engine_action("restart", true), "Restart");
        assert_eq!(engine_action("restart", false), "RestartFailed");
    }

    /// Alerts and `kubectl get events` filters match these strings: they never change.
    #[test]
    fn reasons_are_stable_strings() {
        let all = [
            (Reason::InvalidSpec, "InvalidSpec"),
            (Reason::Applied, "Applied"),
            (Reason::Pruned, "Pruned"),
            (Reason::Deleted, "Deleted"),
            (Reason::SecretMissing, "SecretMissing"),
            (Reason::TlsSecretMissing, "TlsSecretMissing"),
            (Reason::RenderFailed, "RenderFailed"),
        ];
        for (reason, text) in all {
            assert_eq!(reason.as_str(), text);
            assert_eq!(reason.to_string(), text);
        }
        assert_eq!(Reason::InvalidSpec.event_type(), EventType::Warning);
        assert_eq!(Reason::SecretMissing.event_type(), EventType::Warning);
    }
}
