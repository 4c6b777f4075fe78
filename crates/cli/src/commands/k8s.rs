//! `redis-stretch crd | render | plan`: the Kubernetes side that needs no cluster.

use std::path::Path;

use redis_stretch_k8s::{cluster, crd_yaml, predict, render};

use crate::args::Output;
use crate::error::CliError;

fn k8s_err(e: redis_stretch_k8s::Error) -> CliError {
    // Every k8s-crate error here comes from the input files: bad input, exit code 2.
    CliError::Usage(e.to_string())
}

fn read(file: &Path) -> Result<String, CliError> {
    std::fs::read_to_string(file)
        .map_err(|e| CliError::Usage(format!("cannot read {}: {e}", file.display())))
}

pub fn crd() -> Result<(), CliError> {
    print!(
        "{}",
        crd_yaml().map_err(|e| CliError::Runtime(e.to_string()))?
    );
    Ok(())
}

pub fn render_cmd(file: &Path) -> Result<(), CliError> {
    let cr = cluster::parse(&read(file)?).map_err(k8s_err)?;
    let rendered = render(&cr).map_err(k8s_err)?;
    print!("{}", rendered.to_yaml().map_err(k8s_err)?);
    Ok(())
}

pub fn plan_cmd(file: &Path, nodes: &Path, output: Output) -> Result<(), CliError> {
    let cr = cluster::parse(&read(file)?).map_err(k8s_err)?;
    let report = predict(&cr, &read(nodes)?).map_err(k8s_err)?;
    match output {
        Output::Json => println!(
            "{}",
            serde_json::to_string_pretty(&report).map_err(|e| CliError::Runtime(e.to_string()))?
        ),
        Output::Table => print!("{report}"),
    }
    Ok(())
}
