//! Reading a manifest file.

use std::path::Path;

use redis_stretch_api::{load_manifest, with_server, ServerFlavour, ValidatedCluster};

use crate::error::CliError;

/// Read and validate a manifest file; all problems at once, exit code 2.
pub fn read_manifest(file: &Path) -> Result<(ValidatedCluster, String), CliError> {
    let text = std::fs::read_to_string(file)
        .map_err(|e| CliError::Usage(format!("cannot read {}: {e}", file.display())))?;
    let cluster = load_manifest(&text).map_err(|problems| CliError::Manifest {
        file: file.display().to_string(),
        problems,
    })?;
    Ok((cluster, text))
}

/// [`read_manifest`], with `spec.redis.server` set to `server` when given (`--server`).
pub fn read_manifest_on(
    file: &Path,
    server: Option<ServerFlavour>,
) -> Result<(ValidatedCluster, String), CliError> {
    let (cluster, yaml) = read_manifest(file)?;
    let Some(server) = server.filter(|s| *s != cluster.spec().redis.server) else {
        return Ok((cluster, yaml));
    };
    let yaml = with_server(&yaml, server).map_err(CliError::Usage)?;
    let cluster = load_manifest(&yaml).map_err(|problems| CliError::Manifest {
        file: file.display().to_string(),
        problems,
    })?;
    Ok((cluster, yaml))
}
