//! Choosing the server outside the manifest (`--server`, `REDIS_STRETCH_SERVER`): the manifest
//! text is rewritten with `spec.redis.server` set, so that what is saved beside a local
//! cluster says what actually runs.

use indexmap::IndexMap;
use redis_stretch_model::ServerFlavour;
use serde::{Deserialize, Serialize};

/// A YAML document kept in its order, so that a rewritten manifest reads like the original
/// (serde_json's map sorts its keys).
#[derive(Debug, Deserialize, Serialize)]
#[serde(untagged)]
enum Node {
    Mapping(IndexMap<String, Node>),
    Sequence(Vec<Node>),
    Scalar(serde_json::Value),
}

fn parse(yaml: &str) -> Result<Node, String> {
    serde_saphyr::from_str(yaml)
        .map_err(|e| format!("the manifest is not YAML: {}", e.without_snippet()))
}

fn print(doc: &Node) -> Result<String, String> {
    serde_saphyr::to_string(doc).map_err(|e| e.to_string())
}

/// `yaml` with `spec.redis.server` set to `server` (other fields untouched).
pub fn with_server(yaml: &str, server: ServerFlavour) -> Result<String, String> {
    let mut doc = parse(yaml)?;
    let spec = child(&mut doc, "spec")?;
    let redis = child(spec, "redis")?;
    let Node::Mapping(m) = redis else {
        return Err("spec.redis is not a mapping".to_owned());
    };
    m.insert(
        "server".to_owned(),
        Node::Scalar(server.display_name().into()),
    );
    print(&doc)
}

/// `yaml` with `spec.shards` set to `shards` and each zone's `preferredMasters` to the count
/// `preferred` gives it (other fields untouched): `local scale`.
pub fn with_shards(yaml: &str, shards: u32, preferred: &[(String, u32)]) -> Result<String, String> {
    let mut doc = parse(yaml)?;
    let spec = child(&mut doc, "spec")?;
    let Node::Mapping(m) = spec else {
        return Err("spec is not a mapping".to_owned());
    };
    m.insert("shards".to_owned(), Node::Scalar(shards.into()));
    let Some(Node::Sequence(zones)) = m.get_mut("zones") else {
        return Err("spec.zones is not a list".to_owned());
    };
    for z in zones.iter_mut() {
        let Node::Mapping(z) = z else { continue };
        let name = match z.get("name") {
            Some(Node::Scalar(serde_json::Value::String(n))) => Some(n.clone()),
            _ => None,
        };
        if let Some((_, n)) = preferred
            .iter()
            .find(|(zone, _)| Some(zone) == name.as_ref())
        {
            z.insert("preferredMasters".to_owned(), Node::Scalar((*n).into()));
        }
    }
    print(&doc)
}

/// Preferred masters per zone for `shards` shards, in the proportion `now` has them (the
/// first zone's share rounded half up, the rest to the second).
pub fn preferred_for(now: &[(String, u32)], shards: u32) -> Vec<(String, u32)> {
    let total: u32 = now.iter().map(|(_, n)| n).sum();
    match now {
        [(a, na), (b, _)] if total > 0 => {
            let first = (u64::from(*na) * u64::from(shards) * 2 + u64::from(total))
                / (2 * u64::from(total));
            let first = u32::try_from(first).unwrap_or(shards).min(shards);
            vec![(a.clone(), first), (b.clone(), shards - first)]
        }
        _ => now.to_vec(),
    }
}

fn child<'a>(v: &'a mut Node, key: &str) -> Result<&'a mut Node, String> {
    let Node::Mapping(m) = v else {
        return Err(format!("the manifest has no mapping around `{key}`"));
    };
    Ok(m.entry(key.to_owned())
        .or_insert_with(|| Node::Mapping(IndexMap::new())))
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
    fn preferred_masters_scale_in_proportion() {
        let seed = vec![("dc-a".to_owned(), 2), ("dc-b".to_owned(), 1)];
        assert_eq!(
            preferred_for(&seed, 6),
            vec![("dc-a".to_owned(), 4), ("dc-b".to_owned(), 2)]
        );
        let six = preferred_for(&seed, 6);
        assert_eq!(preferred_for(&six, 3), seed);
        assert_eq!(
            preferred_for(&seed, 4),
            vec![("dc-a".to_owned(), 3), ("dc-b".to_owned(), 1)]
        );
    }

    #[test]
    fn sets_shards_and_preferred_masters_and_keeps_the_rest() {
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
  redis:
    maxmemory: 256mb
";
        let out = with_shards(yaml, 6, &[("dc-a".to_owned(), 4), ("dc-b".to_owned(), 2)]).unwrap();
        let c = load_manifest(&out).unwrap();
        assert_eq!(c.spec().shards, 6);
        assert_eq!(c.spec().zones[0].preferred_masters, 4);
        assert_eq!(c.spec().zones[1].preferred_masters, 2);
        assert!(out.contains("256mb"));
    }

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

/// Whether a cluster running `from` at `version` (its `INFO server` version) can be rolled to
/// `to` in place, instance by instance: each new instance loads its predecessor's data and
/// syncs from masters of the other server. Err says why not, and what to do instead.
///
/// Valkey loads Redis's RDB up to format 11 (Redis 7.2 and older; Valkey 8.x `rdb.c`,
/// 9.x `rdbIsVersionAccepted`); Redis 7.4 and later write format 12. The other way, Valkey
/// writes RDB 11 (8.x) or 80 (9.x), which Redis 7.0 cannot load, and moving back is not
/// documented by either project: refused.
pub fn migration_allowed(
    from: ServerFlavour,
    version: Option<&str>,
    to: ServerFlavour,
) -> Result<(), String> {
    match (from, to) {
        (a, b) if a == b => Ok(()),
        (ServerFlavour::Redis, ServerFlavour::Valkey) => {
            let Some(v) = version else {
                return Err("the running Redis version is unknown (no instance reported INFO server): Valkey loads only the data of Redis 7.2 and older, so the rollout waits for a version it can check".to_owned());
            };
            let mut parts = v.split('.').map(|p| p.parse::<u32>().unwrap_or(u32::MAX));
            let (major, minor) = (parts.next().unwrap_or(u32::MAX), parts.next().unwrap_or(0));
            if (major, minor) <= (7, 2) {
                Ok(())
            } else {
                Err(format!("Redis {v} writes RDB format 12 or later, which Valkey does not load (it loads Redis's format up to 11: Redis 7.2 and older). Keep Redis, or move the data into a new Valkey cluster"))
            }
        }
        (ServerFlavour::Valkey, ServerFlavour::Redis) => Err("Valkey to Redis in place is refused: Valkey writes RDB formats Redis 7.0 cannot load, and neither project documents the move back. Keep Valkey, or migrate the data into a new Redis cluster".to_owned()),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod migration_tests {
    use super::*;

    #[test]
    fn redis_up_to_7_2_moves_to_valkey_and_nothing_moves_back() {
        let (r, v) = (ServerFlavour::Redis, ServerFlavour::Valkey);
        assert!(migration_allowed(r, Some("7.0.15"), v).is_ok());
        assert!(migration_allowed(r, Some("7.2.4"), v).is_ok());
        let later = migration_allowed(r, Some("7.4.1"), v).unwrap_err();
        assert!(later.contains("RDB format 12"), "{later}");
        assert!(migration_allowed(r, Some("8.2.3"), v).is_err());
        assert!(migration_allowed(r, None, v).is_err());
        assert!(migration_allowed(v, Some("8.1.1"), r).is_err());
        assert!(migration_allowed(v, Some("8.1.1"), v).is_ok());
    }
}
