use std::path::Path;

use redis_stretch_api::to_manifest;

use crate::args::ManifestOutput;
use crate::error::CliError;
use crate::manifest::read_manifest;

pub fn run(file: &Path, output: ManifestOutput) -> Result<(), CliError> {
    let (cluster, _) = read_manifest(file)?;
    let manifest = to_manifest(&cluster);
    let text = match output {
        ManifestOutput::Yaml => {
            serde_saphyr::to_string(&manifest).map_err(|e| CliError::Runtime(e.to_string()))?
        }
        ManifestOutput::Json => {
            serde_json::to_string_pretty(&manifest).map_err(|e| CliError::Runtime(e.to_string()))?
        }
    };
    print!("{text}");
    if output == ManifestOutput::Json {
        println!();
    }
    Ok(())
}
