//! `redis-stretch`: run a Redis Cluster stretched over two data centers.

mod commands;
mod error;
mod table;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};

use crate::error::CliError;

#[derive(Parser)]
#[command(
    name = "redis-stretch",
    version,
    about = "Run a Redis Cluster stretched across two data centers, and keep it serving when either goes dark"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, ValueEnum)]
pub enum Output {
    #[default]
    Table,
    Json,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum ManifestOutput {
    Yaml,
    Json,
}

#[derive(Subcommand)]
enum Command {
    /// Local mode: real redis-server processes on this machine, grouped into two zones.
    Local {
        #[command(subcommand)]
        command: LocalCommand,
    },
    /// Show a cluster grouped by zone, with what the loss of each zone would mean.
    Status(commands::status::StatusArgs),
    /// Print the RedisStretchCluster CustomResourceDefinition (committed as deploy/crd.yaml).
    Crd,
    /// Print every Kubernetes manifest a RedisStretchCluster becomes.
    Render {
        #[arg(short = 'f', long = "file")]
        file: PathBuf,
    },
    /// Predict where the scheduler puts each pod (nodes as `kubectl get nodes -o json`), and
    /// what the loss of each zone would mean.
    Plan {
        #[arg(short = 'f', long = "file")]
        file: PathBuf,
        #[arg(long)]
        nodes: PathBuf,
        #[arg(long, value_enum, default_value = "table")]
        output: Output,
    },
    /// Check a manifest and print it with every default filled in.
    Validate {
        #[arg(short = 'f', long = "file")]
        file: PathBuf,
        #[arg(long, value_enum, default_value = "yaml")]
        output: ManifestOutput,
    },
}

#[derive(Subcommand)]
enum LocalCommand {
    /// Start the cluster in FILE and wait until it is failover-ready.
    Up {
        #[arg(short = 'f', long = "file")]
        file: PathBuf,
        /// Return once ready and leave the cluster running (default: run until Ctrl-C, then
        /// stop everything).
        #[arg(long)]
        detach: bool,
        #[arg(long, env = "REDIS_STRETCH_STATE_DIR")]
        state_dir: Option<PathBuf>,
    },
    /// Every instance of the local cluster: zone, address, role, state, pid.
    Status {
        #[arg(long, env = "REDIS_STRETCH_STATE_DIR")]
        state_dir: Option<PathBuf>,
        #[arg(long, value_enum, default_value = "table")]
        output: Output,
    },
    /// Stop every process of the local cluster and remove its state (data included).
    Down {
        #[arg(long, env = "REDIS_STRETCH_STATE_DIR")]
        state_dir: Option<PathBuf>,
        /// Keep the state directory and data.
        #[arg(long)]
        keep_data: bool,
    },
}

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("REDIS_STRETCH_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .init();
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::from(1);
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(e.exit_code())
        }
    }
}

async fn run(cli: Cli) -> Result<(), CliError> {
    match cli.command {
        Command::Local { command } => match command {
            LocalCommand::Up {
                file,
                detach,
                state_dir,
            } => commands::local::up(&file, detach, state_dir).await,
            LocalCommand::Status { state_dir, output } => {
                commands::local::status(state_dir, output).await
            }
            LocalCommand::Down {
                state_dir,
                keep_data,
            } => commands::local::down(state_dir, keep_data),
        },
        Command::Status(args) => commands::status::run(args).await,
        Command::Validate { file, output } => commands::validate::run(&file, output),
        Command::Crd => commands::k8s::crd(),
        Command::Render { file } => commands::k8s::render_cmd(&file),
        Command::Plan {
            file,
            nodes,
            output,
        } => commands::k8s::plan_cmd(&file, &nodes, output),
    }
}
