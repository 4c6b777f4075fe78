//! `local apply`: a new manifest for a running local cluster. What the engine applies live
//! (the spec's Redis settings, failover policy, preferred layout) is taken as the cluster runs:
//! every instance's redis.conf is rewritten so that a restart keeps the new values, then the
//! manifest is replaced, which the running engine (detached or in the foreground) notices on
//! its next pass ([`crate::LocalPlatform`]'s `spec_version`) and `CONFIG SET`s what differs.
//! What a running local cluster cannot take is refused before anything is written.

use redis_stretch_api::redis_config::{live_settings, normalize};
use redis_stretch_api::ValidatedCluster;

use crate::cluster::instance_conf;
use crate::platform::MANIFEST_FILE;
use crate::state::{write_atomic, StateDir};
use crate::LocalError;

/// What `apply` did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ApplyReport {
    /// `directive: old → new` of every live setting that changed.
    pub live: Vec<String>,
    /// Whether anything else the engine reads changed (failover policy, preferred layout,
    /// node timeout).
    pub engine_changed: bool,
    /// Instances whose redis.conf was rewritten.
    pub rewritten: Vec<String>,
}

impl ApplyReport {
    pub fn unchanged(&self) -> bool {
        self.live.is_empty() && !self.engine_changed
    }
}

/// Why each difference between `old` and `new` cannot be applied to a running local cluster;
/// empty when every difference can.
pub fn refused_changes(old: &ValidatedCluster, new: &ValidatedCluster) -> Vec<String> {
    let (o, n) = (old.spec(), new.spec());
    let mut out = Vec::new();
    if old.name() != new.name() {
        out.push(format!(
            "metadata.name: `{}` → `{}`: the state dir holds cluster `{}`; start the new one in another --state-dir",
            old.name(),
            new.name(),
            old.name()
        ));
    }
    if o.shards != n.shards {
        out.push(format!(
            "spec.shards: {} → {}: run `redis-stretch local scale --shards {}` (it starts the instances new shards need, or marks those that go, and the engine moves the slots)",
            o.shards, n.shards, n.shards
        ));
    }
    if o.replicas_per_shard != n.replicas_per_shard {
        out.push(format!(
            "spec.replicasPerShard: {} → {}: adding or removing instances is not supported by apply; start a new cluster",
            o.replicas_per_shard, n.replicas_per_shard
        ));
    }
    let names = |s: &redis_stretch_api::RedisStretchClusterSpec| {
        s.zones.iter().map(|z| z.name.clone()).collect::<Vec<_>>()
    };
    if names(o) != names(n) {
        out.push(format!(
            "spec.zones: names {:?} → {:?}: instances, addresses and the engine's memory are keyed by zone; start a new cluster",
            names(o),
            names(n)
        ));
    }
    if o.redis.server != n.redis.server {
        out.push(format!(
            "spec.redis.server: {:?} → {:?}: another server means restarting every instance, which `apply` does not do (started with `local up --server`? pass the same --server to `local apply`)",
            o.redis.server, n.redis.server
        ));
    }
    if o.auth.enabled != n.auth.enabled {
        out.push(
            "spec.auth.enabled: the password is set when instances start and the engine connects with it; turning it on or off under a running cluster would lock the engine out"
                .to_owned(),
        );
    }
    out
}

/// Apply `new` (its YAML text as given, `yaml`) to the running cluster in `dir`.
pub fn apply(
    dir: &StateDir,
    new: &ValidatedCluster,
    yaml: &str,
) -> Result<ApplyReport, LocalError> {
    if !dir.exists() {
        return Err(LocalError::NoCluster(dir.path().to_path_buf()));
    }
    let old = dir.load_manifest()?;
    let refused = refused_changes(&old, new);
    if !refused.is_empty() {
        return Err(LocalError::CannotApply(refused));
    }
    let mut report = ApplyReport::default();
    let before = live_settings(old.spec());
    for (name, value) in live_settings(new.spec()) {
        let was = before
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v.as_str());
        if was.map(|w| normalize(&name, w)) != Some(normalize(&name, &value)) {
            report.live.push(format!(
                "{name}: {} → {}",
                shown(was.unwrap_or("")),
                shown(&value)
            ));
        }
    }
    let policy = |c: &ValidatedCluster| {
        let s = c.spec();
        (
            s.failover.clone(),
            s.zones.clone(),
            s.redis.cluster_node_timeout_ms,
        )
    };
    report.engine_changed = policy(&old) != policy(new);
    // redis.conf first, the manifest last: once the engine sees the new manifest, a restart
    // of any instance already starts with the new values.
    let password = dir.password(false)?;
    let state = dir.load()?;
    for inst in &state.instances {
        let conf = inst.data_dir.join("redis.conf");
        write_atomic(
            &conf,
            instance_conf(new, inst, password.as_ref()).as_bytes(),
            0o600,
        )?;
        report.rewritten.push(inst.name.clone());
    }
    write_atomic(&dir.file(MANIFEST_FILE), yaml.as_bytes(), 0o644)?;
    Ok(report)
}

fn shown(v: &str) -> String {
    if v.is_empty() {
        "\"\"".to_owned()
    } else {
        v.to_owned()
    }
}
