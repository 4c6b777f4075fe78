//! The redis.conf settings every instance of a cluster gets, derived from the spec. One list
//! for local mode and the Kubernetes ConfigMap, so the two platforms never drift apart.
//! Instance-specific lines (port, bind, dir, announce addresses, passwords) are the
//! platform's. Each setting says why it differs from Redis's default.

use crate::memory::parse_memory;
use crate::spec::RedisStretchClusterSpec;

/// One `directive value` line and the reason for it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Setting {
    pub directive: &'static str,
    pub value: String,
    pub why: &'static str,
}

fn s(directive: &'static str, value: impl Into<String>, why: &'static str) -> Setting {
    Setting {
        directive,
        value: value.into(),
        why,
    }
}

pub fn cluster_settings(spec: &RedisStretchClusterSpec) -> Vec<Setting> {
    let r = &spec.redis;
    let mut out = vec![
        s("cluster-enabled", "yes", "Redis Cluster mode"),
        s(
            "cluster-node-timeout",
            r.cluster_node_timeout_ms.to_string(),
            "seconds, not Redis's 15 s, to detect a dead master",
        ),
        s(
            "cluster-require-full-coverage",
            "no",
            "one uncovered shard must not stop writes to all shards (measured: 0.7-1.2 s of total write failure per failover with `yes`)",
        ),
        s(
            "cluster-replica-validity-factor",
            "0",
            "a replica whose master link has been down longer than node-timeout x 10 refuses election; with two DCs the other DC's replica is the only copy, so it must always be electable",
        ),
        s(
            "cluster-replica-no-failover",
            "yes",
            "with validity factor 0 Redis would elect even an empty replica (one restarted, or in its first sync); every instance starts unelectable and the engine lets a replica be elected once its copy is current",
        ),
        s(
            "cluster-allow-replica-migration",
            "no",
            "Redis would move replicas between shards regardless of zones; the engine owns cross-DC pairing",
        ),
        s(
            "repl-diskless-sync",
            "yes",
            "stream the first copy to a replica without writing an RDB to disk",
        ),
        s(
            "repl-diskless-sync-delay",
            "0",
            "Redis waits 5 s for more replicas before a full sync; a returning or new replica is not failover-ready until its link is up",
        ),
        s(
            "repl-backlog-size",
            r.repl_backlog_size.clone(),
            "lets a replica cut off for tens of seconds resume with a partial sync instead of a full copy over the inter-DC link",
        ),
        s(
            "maxmemory-policy",
            r.maxmemory_policy.clone(),
            "noeviction by default: a data store must not drop keys silently",
        ),
        s(
            "appendonly",
            if r.persistence.enabled { "yes" } else { "no" },
            "persistence per spec",
        ),
        s(
            "appendfsync",
            "everysec",
            "at most one second of writes lost on a crash with persistence on",
        ),
        s(
            "save",
            "",
            "no RDB snapshots: with persistence off the other DC's replica is the copy, with it on AOF is",
        ),
        s(
            "shutdown-timeout",
            "3",
            "a stopping master waits for its replicas to catch up, but not Redis's 10 s",
        ),
    ];
    if let Some(m) = &r.maxmemory {
        out.push(s("maxmemory", m.clone(), "per spec"));
    }
    out
}

/// On Kubernetes, `maxmemory` without one in the spec is this share of the container's memory
/// limit (`ValidatedCluster::with_memory_limit`). The rest of the limit is for what maxmemory
/// does not bound: replica output buffers beyond the backlog and the AOF buffer (Redis leaves
/// them out of the memory it compares with maxmemory), allocator fragmentation (RSS above
/// `used_memory`, commonly 10-20%), and the copy-on-write pages of a fork — a full sync to a
/// replica forks even with `repl-diskless-sync`, as does an AOF rewrite, and every page the
/// parent writes while the child runs is copied. 30% of headroom keeps a write-heavy full sync
/// of a full instance clear of the OOM killer in the common case; a workload that rewrites most
/// of its data during a sync needs a lower `maxmemory`, set explicitly.
pub const MAXMEMORY_SHARE_PERCENT: u64 = 70;

/// [`MAXMEMORY_SHARE_PERCENT`] of `limit_bytes`, rounded down to whole megabytes (`716mb`
/// for `1Gi`) so that redis.conf reads as a person would write it.
pub fn derived_maxmemory(limit_bytes: u64) -> String {
    const MB: u64 = 1024 * 1024;
    let share = u64::try_from(u128::from(limit_bytes) * u128::from(MAXMEMORY_SHARE_PERCENT) / 100)
        .unwrap_or(u64::MAX);
    if share >= MB {
        format!("{}mb", share / MB)
    } else {
        share.max(1).to_string()
    }
}

/// How a running instance takes a new value of a setting.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Change {
    /// `CONFIG SET` on every instance, by the engine's config rule: no restart.
    Live,
    /// Read only at start (`IMMUTABLE_CONFIG` in Redis's `config.c`): a restart (the rollout).
    Restart,
    /// The engine sets it at run time for its own reasons (elections, takeovers); the config
    /// rule never touches it, or the two would undo each other.
    Engine,
}

/// How each directive of [`cluster_settings`] changes on a running cluster, and why
/// (day2-facts.md §3: `CONFIG SET` of every parameter on Redis 7.0-8.2 and Valkey 8.1-9.1).
pub const CHANGES: &[(&str, Change, &str)] = &[
    ("cluster-enabled", Change::Restart, "immutable in every Redis and Valkey version"),
    (
        "cluster-node-timeout",
        Change::Engine,
        "lowered on survivors while taking over; the healthy rules put the spec's value back when both zones answer",
    ),
    ("cluster-require-full-coverage", Change::Live, "mutable"),
    ("cluster-replica-validity-factor", Change::Live, "mutable"),
    (
        "cluster-replica-no-failover",
        Change::Engine,
        "cleared on a replica once its copy is current, set while it is not",
    ),
    ("cluster-allow-replica-migration", Change::Live, "mutable"),
    ("repl-diskless-sync", Change::Live, "mutable"),
    ("repl-diskless-sync-delay", Change::Live, "mutable"),
    ("repl-backlog-size", Change::Live, "mutable; Redis resizes the backlog in place"),
    ("maxmemory-policy", Change::Live, "mutable"),
    (
        "appendonly",
        Change::Live,
        "mutable (not while loading): `yes` starts an AOF rewrite; on Kubernetes persistence cannot change (the volumes)",
    ),
    ("appendfsync", Change::Live, "mutable"),
    ("save", Change::Live, "mutable"),
    ("shutdown-timeout", Change::Live, "mutable"),
    (
        "maxmemory",
        Change::Live,
        "mutable; lowered below the data set, the policy evicts or writes are refused",
    ),
];

/// How `directive` changes on a running instance; unknown directives need a restart.
pub fn change_of(directive: &str) -> Change {
    CHANGES
        .iter()
        .find(|(d, _, _)| *d == directive)
        .map_or(Change::Restart, |(_, c, _)| *c)
}

/// The settings the engine keeps equal on every running instance (`CONFIG SET`): every
/// [`Change::Live`] setting of [`cluster_settings`], and `maxmemory 0` (no limit, Redis's
/// default) when the spec has none, so that removing a limit lifts it.
pub fn live_settings(spec: &RedisStretchClusterSpec) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = cluster_settings(spec)
        .into_iter()
        .filter(|st| change_of(st.directive) == Change::Live)
        .map(|st| (st.directive.to_owned(), st.value))
        .collect();
    if spec.redis.maxmemory.is_none() {
        out.push(("maxmemory".to_owned(), "0".to_owned()));
    }
    out
}

/// Every directive that may be live (what the engine reads with `CONFIG GET` each pass).
pub fn live_directives() -> impl Iterator<Item = &'static str> {
    CHANGES
        .iter()
        .filter(|(_, c, _)| *c == Change::Live)
        .map(|(d, _, _)| *d)
}

/// A value as `CONFIG GET` returns it, so that the spec's `1gb` and the server's `1073741824`
/// compare equal and nothing is set again every pass: sizes in bytes, words lowercased,
/// whitespace collapsed (`save ""` is empty both ways).
pub fn normalize(directive: &str, value: &str) -> String {
    if matches!(directive, "maxmemory" | "repl-backlog-size") {
        if let Ok(bytes) = parse_memory(value) {
            return bytes.to_string();
        }
    }
    value
        .trim()
        .trim_matches('"')
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .to_ascii_lowercase()
}

/// Render settings as redis.conf lines, with the reason as a comment above each.
pub fn render_conf(settings: &[Setting]) -> String {
    let mut out = String::new();
    for st in settings {
        out.push_str("# ");
        out.push_str(st.why);
        out.push('\n');
        out.push_str(st.directive);
        out.push(' ');
        if st.value.is_empty() {
            out.push_str("\"\"");
        } else {
            out.push_str(&st.value);
        }
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn spec() -> RedisStretchClusterSpec {
        serde_saphyr::from_str(
            "shards: 2\nzones: [{name: a, preferredMasters: 1}, {name: b, preferredMasters: 1}]\n",
        )
        .unwrap()
    }

    #[test]
    fn every_setting_says_how_it_changes() {
        let mut spec = spec();
        spec.redis.maxmemory = Some("1gb".into());
        for st in cluster_settings(&spec) {
            assert!(
                CHANGES.iter().any(|(d, _, _)| *d == st.directive),
                "{} is not classified in CHANGES",
                st.directive
            );
        }
    }

    #[test]
    fn live_settings_leave_the_engines_own_alone() {
        let spec = spec();
        let live = live_settings(&spec);
        let names: Vec<&str> = live.iter().map(|(n, _)| n.as_str()).collect();
        assert!(names.contains(&"maxmemory-policy"));
        assert!(names.contains(&"maxmemory"), "no limit is a value too: 0");
        for engine in [
            "cluster-node-timeout",
            "cluster-replica-no-failover",
            "cluster-enabled",
        ] {
            assert!(!names.contains(&engine), "{engine} must not be live");
        }
    }

    #[test]
    fn derived_maxmemory_is_seventy_percent_in_whole_megabytes() {
        assert_eq!(derived_maxmemory(1024 * 1024 * 1024), "716mb");
        assert_eq!(derived_maxmemory(4 * 1024 * 1024 * 1024), "2867mb");
        assert_eq!(derived_maxmemory(1000), "700");
        // What the engine compares: the server's bytes.
        assert_eq!(
            normalize("maxmemory", "716mb"),
            (716u64 * 1024 * 1024).to_string()
        );
    }

    #[test]
    fn values_compare_as_the_server_prints_them() {
        assert_eq!(normalize("maxmemory", "1gb"), "1073741824");
        assert_eq!(normalize("maxmemory", "1073741824"), "1073741824");
        assert_eq!(normalize("repl-backlog-size", "64mb"), "67108864");
        assert_eq!(normalize("save", ""), "");
        assert_eq!(normalize("save", "\"\""), "");
        assert_eq!(normalize("save", "3600  1 300 100"), "3600 1 300 100");
        assert_eq!(normalize("appendfsync", "EverySec"), "everysec");
    }
}
