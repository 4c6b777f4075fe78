use std::path::{Path, PathBuf};

use redis_stretch_api::ServerFlavour;

use crate::LocalError;

/// The Redis server binary: [`find_server`] for [`ServerFlavour::Redis`].
pub fn find_redis_server() -> Result<PathBuf, LocalError> {
    find_server(ServerFlavour::Redis)
}

/// The server binary of the cluster in `dir`: the flavour its saved manifest names.
pub fn server_binary_for(dir: &crate::StateDir) -> Result<PathBuf, LocalError> {
    let flavour = dir.load_manifest()?.spec().redis.server;
    find_server(flavour)
}

/// The environment variable that points at a flavour's server binary, overriding the PATH
/// ([`ServerFlavour::server_env_var`]).
pub fn server_env_var(flavour: ServerFlavour) -> &'static str {
    flavour.server_env_var()
}

/// The flavour's server binary ([`ServerFlavour::server_binary`]) from its environment variable
/// ([`server_env_var`]) or the PATH.
pub fn find_server(flavour: ServerFlavour) -> Result<PathBuf, LocalError> {
    if let Some(p) = std::env::var_os(server_env_var(flavour)) {
        let p = PathBuf::from(p);
        return if p.is_file() {
            Ok(p)
        } else {
            Err(missing(flavour, p))
        };
    }
    let binary = flavour.server_binary();
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .map(|d| d.join(binary))
        .find(|p| is_executable(p))
        .ok_or_else(|| missing(flavour, PathBuf::from(binary)))
}

/// Redis has its install hint ([`LocalError::RedisServerMissing`]); another flavour says
/// which file it could not find.
fn missing(flavour: ServerFlavour, path: PathBuf) -> LocalError {
    match flavour {
        ServerFlavour::Redis => LocalError::RedisServerMissing,
        ServerFlavour::Valkey => LocalError::Io {
            path,
            source: std::io::Error::new(
                std::io::ErrorKind::NotFound,
                format!("{} not found", flavour.display_name()),
            ),
        },
    }
}

fn is_executable(p: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    p.metadata()
        .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
    use super::*;

    #[test]
    fn a_missing_server_says_how_to_install_it() {
        let redis = missing(ServerFlavour::Redis, PathBuf::from("/nonexistent")).to_string();
        assert!(
            redis.contains("`redis-server` not found on PATH")
                && redis.contains("apt-get install redis-server"),
            "{redis}"
        );
        let valkey = missing(ServerFlavour::Valkey, PathBuf::from("valkey-server")).to_string();
        assert!(valkey.contains("valkey-server"), "{valkey}");
        assert_eq!(server_env_var(ServerFlavour::Redis), "REDIS_SERVER");
    }
}
