//! The redis.conf settings every instance of a cluster gets, derived from the spec. One list
//! for local mode and the Kubernetes ConfigMap, so the two platforms never drift apart.
//! Instance-specific lines (port, bind, dir, announce addresses, passwords) are the
//! platform's. Each setting says why it differs from Redis's default.

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
