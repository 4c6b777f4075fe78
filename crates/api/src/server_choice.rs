//! Choosing the server outside the manifest (`--server`, `REDIS_STRETCH_SERVER`): the manifest
//! text is rewritten with `spec.redis.server` set, so that what is saved beside a local
//! cluster says what actually runs.

use redis_stretch_model::ServerFlavour;
use serde_yaml::{Mapping, Value};

/// `yaml` with `spec.redis.server` set to `server` (other fields untouched).
pub fn with_server(yaml: &str, server: ServerFlavour) -> Result<String, String> {
    let mut doc: Value =
        serde_yaml::from_str(yaml).map_err(|e| format!("the manifest is not YAML: {e}"))?;
    let spec = child(&mut doc, "spec")?;
    let redis = child(spec, "redis")?;
    let Value::Mapping(m) = redis else {
        return Err("spec.redis is not a mapping".to_owned());
    };
    m.insert(
        Value::String("server".to_owned()),
        Value::String(server.display_name().to_owned()),
    );
    serde_yaml::to_string(&doc).map_err(|e| e.to_string())
}

fn child<'a>(v: &'a mut Value, key: &str) -> Result<&'a mut Value, String> {
    let Value::Mapping(m) = v else {
        return Err(format!("the manifest has no mapping around `{key}`"));
    };
    Ok(m.entry(Value::String(key.to_owned()))
        .or_insert_with(|| Value::Mapping(Mapping::new())))
}

/// The server named by `REDIS_STRETCH_SERVER` (`redis` or `valkey`, any case), if set.
pub fn server_from_env() -> Result<Option<ServerFlavour>, String> {
    match std::env::var("REDIS_STRETCH_SERVER") {
        Ok(v) if !v.trim().is_empty() => ServerFlavour::parse(&v)
            .map(Some)
            .ok_or_else(|| format!("REDIS_STRETCH_SERVER=`{v}`: name `redis` or `valkey`")),
        _ => Ok(None),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::load_manifest;

    #[test]
    fn sets_the_server_and_keeps_the_rest() {
        let yaml = "apiVersion: redis-stretch.io/v1alpha1
kind: RedisStretchCluster
metadata:
  name: seed
spec:
  shards: 3
  zones:
    - name: dc-a
      preferredMasters: 2
    - name: dc-b
      preferredMasters: 1
";
        let out = with_server(yaml, ServerFlavour::Valkey).unwrap();
        let c = load_manifest(&out).unwrap();
        assert_eq!(c.spec().redis.server, ServerFlavour::Valkey);
        assert_eq!(c.spec().shards, 3);
        let back = with_server(&out, ServerFlavour::Redis).unwrap();
        assert_eq!(
            load_manifest(&back).unwrap().spec().redis.server,
            ServerFlavour::Redis
        );
    }
}
