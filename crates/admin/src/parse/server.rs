//! `INFO server`: which server this is and its version.

use redis_stretch_model::ServerFlavour;
use serde::{Deserialize, Serialize};

use super::key_values;
use crate::ParseError;

/// What a server says it is. Redis has no `server_name` field; Valkey reports
/// `server_name:valkey` and its own `valkey_version` beside a fixed `redis_version` kept for
/// compatibility, so the version is the flavour's own ([`ServerFlavour::version_field`]).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServerInfo {
    pub flavour: ServerFlavour,
    /// The flavour's own version, e.g. `7.2.4`; always starts with a digit.
    pub version: String,
}

impl ServerInfo {
    /// The flavour comes from `server_name` when present; without it, a `valkey_version` line
    /// means Valkey and anything else Redis. The version line must be there and look like one.
    pub fn parse(text: &str) -> Result<Self, ParseError> {
        let mut name = None;
        let mut versions: Vec<(usize, &str, &str)> = Vec::new();
        for (line, k, v) in key_values(text) {
            if k == "server_name" {
                let flavour = ServerFlavour::from_server_name(v).ok_or_else(|| {
                    ParseError::new(line, format!("server_name `{}` is unknown", v.trim()))
                })?;
                name = Some((line, flavour));
            } else if ServerFlavour::ALL.iter().any(|f| f.version_field() == k) {
                versions.push((line, k, v.trim()));
            }
        }
        let flavour = match name {
            Some((_, f)) => f,
            None if versions
                .iter()
                .any(|(_, k, _)| *k == ServerFlavour::Valkey.version_field()) =>
            {
                ServerFlavour::Valkey
            }
            None => ServerFlavour::Redis,
        };
        let field = flavour.version_field();
        let Some(&(line, _, version)) = versions.iter().find(|(_, k, _)| *k == field) else {
            let at = name.map_or(0, |(line, _)| line);
            return Err(ParseError::new(at, format!("{flavour} without {field}")));
        };
        if !is_version(version) {
            return Err(ParseError::new(
                line,
                format!("{field} `{version}` is not a version"),
            ));
        }
        Ok(Self {
            flavour,
            version: version.to_owned(),
        })
    }

    /// How this server moves slots ([`redis_stretch_model::migration_method`]).
    pub fn migration_method(&self) -> redis_stretch_model::MigrationMethod {
        redis_stretch_model::migration_method(self.flavour, &self.version)
    }

    /// The major version (`7` of `7.2.4`), for feature checks.
    pub fn major(&self) -> Option<u32> {
        self.version.split('.').next()?.parse().ok()
    }
}

/// `7.2.4`, `255.255.255` (unstable builds), `8.0.0-rc1`: a digit first, then digits, letters,
/// dots and dashes.
fn is_version(v: &str) -> bool {
    v.starts_with(|c: char| c.is_ascii_digit())
        && v.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '+' | '_'))
}
