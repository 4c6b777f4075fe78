//! The server flavour: which Redis-protocol server a cluster runs. The one place that names the
//! server and CLI binaries; everything that starts a server, renders a command line for one or
//! reads what a server says it is (`INFO server`) goes through [`ServerFlavour`].
//!
//! Only Redis is deployed today (there is no spec field yet); Valkey is here so that adding it
//! is a matter of choosing the flavour, not of finding every place that names a binary.

use serde::{Deserialize, Serialize};

/// A server that speaks the Redis Cluster protocol. `Redis` by default.
///
/// In a manifest (`spec.redis.server`) it is spelt like the spec's other choices: `Redis`,
/// `Valkey`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub enum ServerFlavour {
    #[default]
    Redis,
    /// Valkey (7.2 and later): reports `server_name:valkey` and `valkey_version` in
    /// `INFO server`, and also `redis_version:7.2.4` for compatibility.
    Valkey,
}

impl ServerFlavour {
    /// Every flavour, e.g. to recognise any of their processes.
    pub const ALL: [ServerFlavour; 2] = [ServerFlavour::Redis, ServerFlavour::Valkey];

    /// The server executable: `redis-server`, `valkey-server`.
    pub const fn server_binary(self) -> &'static str {
        match self {
            ServerFlavour::Redis => "redis-server",
            ServerFlavour::Valkey => "valkey-server",
        }
    }

    /// The environment variable that names this flavour's server binary, overriding the PATH:
    /// `REDIS_SERVER`, `VALKEY_SERVER`. How the suite runs the same flavour at several versions
    /// (`scripts/server-path.sh --env valkey-9.1`).
    pub const fn server_env_var(self) -> &'static str {
        match self {
            ServerFlavour::Redis => "REDIS_SERVER",
            ServerFlavour::Valkey => "VALKEY_SERVER",
        }
    }

    /// The container image used when the spec names none.
    pub const fn default_image(self) -> &'static str {
        match self {
            ServerFlavour::Redis => "redis:7.4",
            ServerFlavour::Valkey => "valkey/valkey:8.1",
        }
    }

    /// Parse what a person types (`redis`, `Valkey`): case ignored.
    pub fn parse(s: &str) -> Option<Self> {
        Self::from_server_name(s)
    }

    /// The command-line client: `redis-cli`, `valkey-cli`.
    pub const fn cli_binary(self) -> &'static str {
        match self {
            ServerFlavour::Redis => "redis-cli",
            ServerFlavour::Valkey => "valkey-cli",
        }
    }

    /// The name for people: `Redis`, `Valkey`.
    pub const fn display_name(self) -> &'static str {
        match self {
            ServerFlavour::Redis => "Redis",
            ServerFlavour::Valkey => "Valkey",
        }
    }

    /// The serialized name, which is also what `INFO server` reports as `server_name`:
    /// `redis`, `valkey`.
    pub const fn as_str(self) -> &'static str {
        match self {
            ServerFlavour::Redis => "redis",
            ServerFlavour::Valkey => "valkey",
        }
    }

    /// The `INFO server` field that carries this flavour's own version: `redis_version`,
    /// `valkey_version` (Valkey's `redis_version` is a fixed compatibility value).
    pub const fn version_field(self) -> &'static str {
        match self {
            ServerFlavour::Redis => "redis_version",
            ServerFlavour::Valkey => "valkey_version",
        }
    }

    /// The flavour an `INFO server` `server_name` value names (case and surrounding blanks
    /// ignored); `None` for a server this project does not know. Redis itself has no
    /// `server_name` field: its absence means Redis.
    pub fn from_server_name(name: &str) -> Option<Self> {
        let name = name.trim();
        Self::ALL
            .into_iter()
            .find(|f| f.as_str().eq_ignore_ascii_case(name))
    }
}

impl std::fmt::Display for ServerFlavour {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.display_name())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
    use super::*;

    #[test]
    fn binaries_and_names() {
        assert_eq!(ServerFlavour::default(), ServerFlavour::Redis);
        assert_eq!(ServerFlavour::Redis.server_binary(), "redis-server");
        assert_eq!(ServerFlavour::Redis.cli_binary(), "redis-cli");
        assert_eq!(ServerFlavour::Valkey.server_binary(), "valkey-server");
        assert_eq!(ServerFlavour::Valkey.cli_binary(), "valkey-cli");
        assert_eq!(ServerFlavour::Valkey.server_env_var(), "VALKEY_SERVER");
        assert_eq!(ServerFlavour::Valkey.to_string(), "Valkey");
        assert_eq!(ServerFlavour::Redis.version_field(), "redis_version");
    }

    #[test]
    fn server_names() {
        assert_eq!(
            ServerFlavour::from_server_name("valkey"),
            Some(ServerFlavour::Valkey)
        );
        assert_eq!(
            ServerFlavour::from_server_name(" Redis\r"),
            Some(ServerFlavour::Redis)
        );
        assert_eq!(ServerFlavour::from_server_name("keydb"), None);
        assert_eq!(ServerFlavour::from_server_name(""), None);
    }

    #[test]
    fn serde_spells_it_like_the_spec() {
        for f in ServerFlavour::ALL {
            let json = serde_json::to_string(&f).unwrap();
            assert_eq!(json, format!("\"{}\"", f.display_name()));
            assert_eq!(serde_json::from_str::<ServerFlavour>(&json).unwrap(), f);
        }
        assert!(serde_json::from_str::<ServerFlavour>("\"redis\"").is_err());
    }
}
