//! Reading a manifest file.

use std::path::Path;

use redis_stretch_api::{load_manifest, ValidatedCluster};

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
