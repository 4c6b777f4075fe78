//! `redis-stretch`: run a Redis Cluster stretched over two data centers.

mod args;
mod commands;
mod detached;
mod error;
mod kube_target;
mod logging;
mod manifest;
mod place;
mod print;
mod signal;
mod table;
mod target;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::args::{FaultSignalArg, ManifestOutput, Output, ServerArg};
use crate::commands::breakglass::BreakGlassArgs;
use crate::commands::lab::BlipSignal;
use crate::error::CliError;
use crate::place::Place;
use crate::target::state_dir;

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

#[derive(Subcommand)]
enum Command {
    /// The whole story in about a minute, on this machine: start the recipe's two-DC cluster,
    /// take each DC down under load, report what clients saw, clean up.
    Demo {
        /// Where the drill reports (JSON) and SVG timelines go.
        #[arg(long, default_value = "redis-stretch-demo")]
        out: PathBuf,
        /// The server to run: Redis or Valkey (`valkey-server` on PATH or at $VALKEY_SERVER).
        #[arg(
            long,
            value_enum,
            env = "REDIS_STRETCH_SERVER",
            default_value = "redis"
        )]
        server: ServerArg,
    },
    /// Local mode: real redis-server processes on this machine, grouped into two zones.
    Local {
        #[command(subcommand)]
        command: LocalCommand,
    },
    /// Show a cluster grouped by zone, with what the loss of each zone would mean, and what
    /// the engine is doing.
    Status(commands::status::StatusArgs),
    /// Break-glass: promote, in ZONE, a replica of every shard whose master is unreachable.
    /// Refuses (exit 3) while the other zone answers or a live engine is in charge.
    Takeover {
        /// The surviving zone.
        #[arg(long)]
        zone: String,
        #[command(flatten)]
        target: BreakGlassArgs,
    },
    /// Restore the preferred masters per zone with graceful failovers (no write lost).
    Failback {
        #[command(flatten)]
        target: BreakGlassArgs,
    },
    /// Planned maintenance: move every master out of ZONE with graceful failovers, and hold
    /// the engine from failing back into it until `resume`.
    Evacuate {
        #[arg(long)]
        zone: String,
        #[command(flatten)]
        target: BreakGlassArgs,
    },
    /// Drill on a local cluster: take a zone down under continuous writes, bring it back, and
    /// report RTO, failed-write window, acknowledged writes lost, and an SVG timeline.
    Drill(commands::drill::DrillArgs),
    /// Release the hold set by `evacuate`.
    Resume {
        #[command(flatten)]
        target: BreakGlassArgs,
    },
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
    /// Run the Kubernetes operator: reconcile RedisStretchClusters and run the engine of each
    /// on the replica that holds the Lease.
    Operator(commands::operator::OperatorArgs),
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
        /// Start no engine: Redis alone (the baseline for benchmarks).
        #[arg(long)]
        no_engine: bool,
        /// Run the whole cluster in its own network namespace (needs root, `ip` and `nft`),
        /// so that `local cut|heal|blip` can fault the network without touching the host's.
        #[arg(long)]
        netns: bool,
        /// Run this server instead of the manifest's `spec.redis.server`.
        #[arg(long, value_enum, env = "REDIS_STRETCH_SERVER")]
        server: Option<ServerArg>,
        #[arg(long, env = "REDIS_STRETCH_STATE_DIR")]
        state_dir: Option<PathBuf>,
    },
    /// Change a running local cluster to the manifest in FILE: Redis settings, failover policy
    /// and preferred layout are applied live by the engine (detached or in the foreground) and
    /// kept in every redis.conf; shards, zones, replicas, server and auth are refused (exit 2).
    Apply {
        #[arg(long = "manifest", short = 'f', visible_alias = "file")]
        manifest: PathBuf,
        /// The server the cluster was started with by `local up --server`, if any.
        #[arg(long, value_enum, env = "REDIS_STRETCH_SERVER")]
        server: Option<ServerArg>,
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
    /// Run the engine over a local cluster in the foreground (`local up --detach` starts one).
    /// Refused (exit 3) while another process holds the cluster's engine lock.
    Engine {
        #[arg(long, env = "REDIS_STRETCH_STATE_DIR")]
        state_dir: Option<PathBuf>,
    },
    /// Give the running cluster a new password without restarting anything: every instance
    /// accepts both, replicas switch to the new one, then the old one is refused. The
    /// password comes from --password-file (or is generated into the state dir's `password`);
    /// stands in for the detached engine while it runs, as the break-glass commands do.
    RotatePassword {
        /// A file holding the new password (trailing whitespace ignored).
        #[arg(long)]
        password_file: Option<PathBuf>,
        #[arg(long, env = "REDIS_STRETCH_STATE_DIR")]
        state_dir: Option<PathBuf>,
    },
    /// Make a zone go dark: SIGKILL its processes, or freeze them with SIGSTOP (silence and
    /// timeouts, as a dark data center looks from outside).
    KillZone {
        zone: String,
        #[arg(long, value_enum, default_value = "kill")]
        signal: FaultSignalArg,
        #[arg(long, env = "REDIS_STRETCH_STATE_DIR")]
        state_dir: Option<PathBuf>,
    },
    /// Bring a zone back: resume frozen processes, restart killed ones from their data and
    /// nodes.conf (on new addresses with --new-addresses, like pods with new IPs).
    RestoreZone {
        zone: String,
        #[arg(long)]
        new_addresses: bool,
        #[arg(long, env = "REDIS_STRETCH_STATE_DIR")]
        state_dir: Option<PathBuf>,
    },
    /// Network lab (`local up --netns`): silently drop all traffic between two zones, and,
    /// with --engine-with, between the engine (127.0.0.1) and the zone that is not ZONE.
    /// Replaces any fault in force until `local heal`.
    Cut {
        zone_a: String,
        zone_b: String,
        /// Put the engine (and this CLI) inside this zone: it loses the other zone too.
        #[arg(long, value_name = "ZONE")]
        engine_with: Option<String>,
        #[arg(long, env = "REDIS_STRETCH_STATE_DIR")]
        state_dir: Option<PathBuf>,
    },
    /// Network lab: remove every network fault (`cut`, a blip's isolation).
    Heal {
        #[arg(long, env = "REDIS_STRETCH_STATE_DIR")]
        state_dir: Option<PathBuf>,
    },
    /// Take a zone away for a short while, then bring it back (also on Ctrl-C): freeze its
    /// processes (`--signal stop`) or cut it off the network (`--signal cut`, needs --netns).
    Blip {
        zone: String,
        /// How long: `1.5s`, `500ms`, `3s`, `2m`.
        #[arg(long = "for", value_name = "DURATION", value_parser = commands::lab::parse_duration)]
        duration: std::time::Duration,
        #[arg(long, value_enum, default_value = "stop")]
        signal: BlipSignal,
        #[arg(long, env = "REDIS_STRETCH_STATE_DIR")]
        state_dir: Option<PathBuf>,
    },
    /// Restart every instance at the manifest's revision, one at a time under the engine's
    /// rules (replicas first, each master after a graceful failover to an in-sync replica in
    /// the other zone, the preferred layout restored at the end). With --server, switch the
    /// cluster to that server in place (Redis 7.2 and older to Valkey; refused otherwise).
    Roll {
        #[arg(long, value_enum)]
        server: Option<ServerArg>,
        /// Only mark every instance for the rollout and return: the cluster's running engine
        /// (detached, or in the foreground of `local up`/`local engine`) restarts them.
        #[arg(long)]
        no_wait: bool,
        #[arg(long, env = "REDIS_STRETCH_STATE_DIR")]
        state_dir: Option<PathBuf>,
    },
    /// Change the number of shards under load: new instances start empty and become masters
    /// of new shards (replicas across), then slots move until every shard holds an even share;
    /// fewer shards: the instances that go give their slots away first, then leave. Slots move
    /// with CLUSTER MIGRATESLOTS on Valkey 9, with SETSLOT/MIGRATE elsewhere.
    Scale {
        #[arg(long)]
        shards: u32,
        /// Masters each zone should hold, `ZONE=N` (repeat per zone); by default in the
        /// proportion the manifest has them.
        #[arg(long = "preferred-masters", value_name = "ZONE=N", value_parser = parse_zone_count)]
        preferred_masters: Vec<(String, u32)>,
        /// Only change the manifest and start the new instances: the cluster's running engine
        /// moves the slots.
        #[arg(long)]
        no_wait: bool,
        #[arg(long, env = "REDIS_STRETCH_STATE_DIR")]
        state_dir: Option<PathBuf>,
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

/// Die quietly on a closed stdout (`redis-stretch status | head`), as command-line tools do,
/// instead of panicking in `println!`. Not by restoring SIGPIPE's default action: that would
/// also kill a drill or an engine that writes to a socket or a child's pipe the other end just
/// closed (a server being killed), where the write's error is the answer.
fn quiet_on_closed_stdout() {
    let default = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let payload = info.payload();
        let msg = payload
            .downcast_ref::<String>()
            .map(String::as_str)
            .or_else(|| payload.downcast_ref::<&str>().copied())
            .unwrap_or("");
        if msg.starts_with("failed printing to stdout") && msg.contains("Broken pipe") {
            // 128 + SIGPIPE, what a shell reports for a tool the pipe's end stopped.
            std::process::exit(141);
        }
        default(info);
    }));
}

fn main() -> ExitCode {
    quiet_on_closed_stdout();
    logging::init();
    let cli = Cli::parse();
    // A cluster in its own network namespace is only reachable from inside it: re-run there.
    if let Err(e) = place::enter(place_of(&cli.command)) {
        eprintln!("error: {e}");
        return ExitCode::from(e.exit_code());
    }
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

/// Where a command runs: inside the namespace of the local cluster it talks to, if any.
/// `down`, `kill-zone` and the lab's own commands only signal PIDs and run nft through
/// `ip netns exec`, so they run anywhere.
fn place_of(command: &Command) -> Place {
    let local = |dir: &Option<PathBuf>| Place::ClusterOf(state_dir(dir.clone()));
    match command {
        Command::Local { command } => match command {
            LocalCommand::Up {
                file,
                netns: true,
                state_dir: dir,
                ..
            } => Place::NewFor {
                dir: state_dir(dir.clone()),
                manifest: file.clone(),
            },
            LocalCommand::Up { state_dir, .. }
            | LocalCommand::Status { state_dir, .. }
            | LocalCommand::Engine { state_dir }
            | LocalCommand::RestoreZone { state_dir, .. }
            | LocalCommand::RotatePassword { state_dir, .. }
            | LocalCommand::Roll { state_dir, .. }
            | LocalCommand::Scale { state_dir, .. } => local(state_dir),
            LocalCommand::KillZone { .. }
            | LocalCommand::Apply { .. }
            | LocalCommand::Down { .. }
            | LocalCommand::Cut { .. }
            | LocalCommand::Heal { .. }
            | LocalCommand::Blip { .. } => Place::Anywhere,
        },
        Command::Status(args) => args
            .target
            .local_dir()
            .map_or(Place::Anywhere, Place::ClusterOf),
        Command::Takeover { target, .. }
        | Command::Failback { target }
        | Command::Evacuate { target, .. }
        | Command::Resume { target } => target
            .target
            .local_dir()
            .map_or(Place::Anywhere, Place::ClusterOf),
        Command::Drill(args) => local(&args.state_dir),
        Command::Demo { .. }
        | Command::Crd
        | Command::Render { .. }
        | Command::Plan { .. }
        | Command::Operator(_)
        | Command::Validate { .. } => Place::Anywhere,
    }
}

async fn run(cli: Cli) -> Result<(), CliError> {
    match cli.command {
        Command::Local { command } => match command {
            LocalCommand::Up {
                file,
                detach,
                no_engine,
                netns: _,
                server,
                state_dir,
            } => {
                commands::local::up(&file, detach, no_engine, server.map(Into::into), state_dir)
                    .await
            }
            LocalCommand::Apply {
                manifest,
                server,
                state_dir,
            } => commands::local::apply(&manifest, server.map(Into::into), state_dir),
            LocalCommand::Status { state_dir, output } => {
                commands::local::status(state_dir, output).await
            }
            LocalCommand::Down {
                state_dir,
                keep_data,
            } => commands::local::down(state_dir, keep_data),
            LocalCommand::Engine { state_dir } => commands::local::engine(state_dir).await,
            LocalCommand::KillZone {
                zone,
                signal,
                state_dir,
            } => commands::local::kill_zone(state_dir, &zone, signal),
            LocalCommand::RotatePassword {
                password_file,
                state_dir,
            } => commands::local::rotate_password(state_dir, password_file).await,
            LocalCommand::RestoreZone {
                zone,
                new_addresses,
                state_dir,
            } => commands::local::restore_zone(state_dir, &zone, new_addresses).await,
            LocalCommand::Cut {
                zone_a,
                zone_b,
                engine_with,
                state_dir,
            } => commands::lab::cut(state_dir, &zone_a, &zone_b, engine_with.as_deref()),
            LocalCommand::Heal { state_dir } => commands::lab::heal(state_dir),
            LocalCommand::Roll {
                server,
                no_wait,
                state_dir,
            } => commands::breakglass::roll(server.map(Into::into), no_wait, state_dir).await,
            LocalCommand::Scale {
                shards,
                preferred_masters,
                no_wait,
                state_dir,
            } => commands::breakglass::scale(shards, preferred_masters, no_wait, state_dir).await,
            LocalCommand::Blip {
                zone,
                duration,
                signal,
                state_dir,
            } => commands::lab::blip(state_dir, &zone, duration, signal).await,
        },
        Command::Takeover { zone, target } => commands::breakglass::takeover(&zone, &target).await,
        Command::Failback { target } => commands::breakglass::failback(&target).await,
        Command::Evacuate { zone, target } => commands::breakglass::evacuate(&zone, &target).await,
        Command::Resume { target } => commands::breakglass::resume(&target).await,
        Command::Drill(args) => commands::drill::run(args).await,
        Command::Demo { out, server } => commands::demo::run(out, server.into()).await,
        Command::Status(args) => commands::status::run(args).await,
        Command::Operator(args) => commands::operator::run(args).await,
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

/// `ZONE=N`, as `--preferred-masters` takes it.
fn parse_zone_count(s: &str) -> Result<(String, u32), String> {
    let (zone, n) = s
        .split_once('=')
        .ok_or_else(|| format!("`{s}`: write ZONE=N, e.g. dc-a=4"))?;
    let n = n
        .parse()
        .map_err(|_| format!("`{s}`: {n} is not a number of masters"))?;
    Ok((zone.to_owned(), n))
}
