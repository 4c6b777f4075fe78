use std::path::{Path, PathBuf};

use crate::LocalError;

/// `redis-server` from `$REDIS_SERVER` or the PATH.
pub fn find_redis_server() -> Result<PathBuf, LocalError> {
    if let Some(p) = std::env::var_os("REDIS_SERVER") {
        let p = PathBuf::from(p);
        return if p.is_file() {
            Ok(p)
        } else {
            Err(LocalError::RedisServerMissing)
        };
    }
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .map(|d| d.join("redis-server"))
        .find(|p| is_executable(p))
        .ok_or(LocalError::RedisServerMissing)
}

fn is_executable(p: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    p.metadata()
        .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}
