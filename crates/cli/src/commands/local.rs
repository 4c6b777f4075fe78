//! `redis-stretch local up|status|down`.

use std::path::{Path, PathBuf};
use std::time::Duration;

use redis_stretch_api::ServerFlavour;
use redis_stretch_local::{
    find_server, is_running, run_engine, server_binary_for, EngineLock, FaultSignal, LocalError,
    ProcessStatus, State, StateDir, UpOptions, UpOutcome, ENGINE_PATIENCE,
};
use serde::Serialize;

use crate::args::{FaultSignalArg, Output};
use crate::detached;
use crate::error::CliError;
use crate::manifest::read_manifest_on;
use crate::print::print_snapshot;
use crate::signal::shutdown_signal;
use crate::table::Table;
use crate::target::{observe_local, state_dir};

pub async fn up(
    file: &Path,
    detach: bool,
    no_engine: bool,
    server: Option<ServerFlavour>,
    dir: Option<PathBuf>,
) -> Result<(), CliError> {
    let (cluster, yaml) = read_manifest_on(file, server)?;
    let opts = UpOptions {
        state_dir: state_dir(dir),
        redis_server: find_server(cluster.spec().redis.server)?,
        ready_timeout: Duration::from_secs(30),
        manifest_yaml: yaml,
    };
    let dir_shown = opts.state_dir.path().display().to_string();
    let outcome = redis_stretch_local::up(&cluster, &opts).await;
    if outcome.is_err() {
        // A namespace created for this `--netns` start goes with it.
        crate::place::cleanup_failed_up(&opts.state_dir);
    }
    match outcome? {
        UpOutcome::Started { state, report } => {
            if let Some(ns) = &state.netns {
                println!("network namespace {ns} (created; `local down` removes it)");
            }
            println!(
                "started {} instances of `{}` in {dir_shown}; meshed after {:.2}s, failover-ready after {:.2}s",
                state.instances.len(),
                state.cluster,
                report.meshed_after.as_secs_f64(),
                report.ready_after.as_secs_f64()
            );
        }
        UpOutcome::Adopted { state } => {
            println!(
                "`{}` already runs in {dir_shown}; adopted it",
                state.cluster
            );
        }
    }
    let snap = observe_local(&opts.state_dir).await?;
    print_snapshot(&snap, Some(&cluster_header(&opts.state_dir)));
    if detach && no_engine {
        println!("\nno engine (Redis alone); left running; stop it with: redis-stretch local down --state-dir {dir_shown}");
        return Ok(());
    }
    if detach {
        let engine = detached::ensure(&opts.state_dir).await?;
        println!(
            "\n{}; left running; stop it all with: redis-stretch local down --state-dir {dir_shown}",
            detached::describe(&engine)
        );
        return Ok(());
    }
    if no_engine {
        println!("\nno engine (Redis alone); Ctrl-C stops every instance");
        shutdown_signal().await;
    } else {
        match EngineLock::acquire(&opts.state_dir, "local up", ENGINE_PATIENCE).await {
            Ok(lock) => {
                println!("\nengine running in the foreground; Ctrl-C stops it and every instance");
                run_engine(lock, shutdown_signal()).await?;
            }
            Err(LocalError::EngineBusy { holder, .. }) => {
                println!("\nan engine already runs: {holder}; Ctrl-C stops every instance");
                shutdown_signal().await;
            }
            Err(e) => return Err(e.into()),
        }
    }
    let report = redis_stretch_local::down(&opts.state_dir, false)?;
    print_down(&report);
    Ok(())
}

/// `local apply`: the manifest in `file` for the running cluster (see
/// [`redis_stretch_local::apply`]). Invalid manifests fail as `validate` does (exit 2).
pub fn apply(
    file: &Path,
    server: Option<ServerFlavour>,
    dir: Option<PathBuf>,
) -> Result<(), CliError> {
    // As `local up --server` started it: the server is not a change.
    let (cluster, yaml) = read_manifest_on(file, server)?;
    let dir = state_dir(dir);
    let report = redis_stretch_local::apply(&dir, &cluster, &yaml)?;
    if report.unchanged() {
        println!("nothing the cluster runs with changed; manifest saved");
        return Ok(());
    }
    for line in &report.live {
        println!("live: {line}");
    }
    if report.engine_changed {
        println!("engine: failover policy, preferred layout or node timeout changed");
    }
    println!(
        "redis.conf rewritten for {} instances (a restart keeps the new values)",
        report.rewritten.len()
    );
    match redis_stretch_local::live_engine(&dir) {
        Some(pid) => println!(
            "the engine (pid {pid}) takes the new spec on its next pass and sets the live settings on every instance"
        ),
        None => println!(
            "no engine runs: the live settings are set when one starts (`redis-stretch local engine --state-dir {}`)",
            dir.path().display()
        ),
    }
    Ok(())
}

/// `local engine`: the engine over the local cluster, in the foreground, until SIGINT/SIGTERM.
/// Refused (exit 3) while anything else holds the cluster's engine lock.
pub async fn engine(dir: Option<PathBuf>) -> Result<(), CliError> {
    let lock = EngineLock::acquire(&state_dir(dir), "local engine", ENGINE_PATIENCE).await?;
    Ok(run_engine(lock, shutdown_signal()).await?)
}

/// `local rotate-password`: stands in for the detached engine (stops it, rotates alone,
/// starts it again with the new password); refused (exit 3) beside an engine in the
/// foreground of another command.
pub async fn rotate_password(
    dir: Option<PathBuf>,
    password_file: Option<PathBuf>,
) -> Result<(), CliError> {
    let dir = state_dir(dir);
    let new = match &password_file {
        Some(f) => {
            let text = std::fs::read_to_string(f)
                .map_err(|e| CliError::Usage(format!("--password-file {}: {e}", f.display())))?;
            Some(redis_stretch_admin::Secret::new(text.trim_end().to_owned()))
        }
        None => None,
    };
    let recorded = dir.load()?.engine_pid;
    let detached = redis_stretch_local::engine_lock_holder(&dir)
        .and_then(|h| h.pid)
        .filter(|pid| recorded == Some(*pid));
    if let Some(pid) = detached {
        println!("stopping the detached engine (pid {pid}): this command rotates in its place and starts it again when done");
    }
    let lock = redis_stretch_local::stand_in(&dir, "local rotate-password").await?;
    let outcome = tokio::select! {
        r = redis_stretch_local::rotate_password(&lock, new, Duration::from_secs(60), |pass| {
            for r in &pass.results {
                let mark = if r.ok { "done" } else { "FAILED" };
                println!("{mark}: {} ({} ms) -> {}", r.action, r.took_ms, r.detail);
            }
        }) => r.map_err(CliError::from),
        () = shutdown_signal() => Err(CliError::Runtime("interrupted: both passwords still work; run `local rotate-password` again to finish".into())),
    };
    drop(lock);
    if let Ok(r) = &outcome {
        println!(
            "{} instances accept only the new password ({}: {:.1}s); it is in {}",
            r.instances,
            if r.resumed {
                "finished a rotation left unfinished"
            } else {
                "rotated"
            },
            r.took.as_secs_f64(),
            dir.file("password").display()
        );
    }
    if detached.is_some() {
        match detached::ensure(&dir).await {
            Ok(d) => println!("{}", detached::describe(&d)),
            Err(e) => return outcome.and(Err(e)),
        }
    }
    outcome.map(|_| ())
}

fn cluster_header(dir: &StateDir) -> String {
    format!("local cluster in {}", dir.path().display())
}

/// One instance in `local status --output json` (schema in docs/CLI.md).
#[derive(Serialize)]
struct InstanceJson {
    name: String,
    zone: String,
    host: String,
    port: u16,
    /// `master` | `replica`, as Redis reports it now (its peers' word when it is down);
    /// `null` when nobody knows.
    role: Option<&'static str>,
    /// `up` when it answers, `down` otherwise.
    state: &'static str,
    /// `running` | `stopped` (SIGSTOP) | `gone`.
    process: &'static str,
    pid: Option<u32>,
    id: Option<String>,
    master: Option<String>,
    slots: Vec<String>,
    /// Replica only: `up` | `down` (`master_link_status`).
    link: Option<&'static str>,
    /// What it says it runs (`INFO server`): `redis 7.0.15`, `valkey 8.1.8`.
    server: Option<String>,
    /// Outdated: why the rollout restarts it (another server, `local roll`).
    #[serde(skip_serializing_if = "Option::is_none")]
    restart_for: Option<String>,
    /// The spec has fewer shards: the engine empties it and retires it (`local scale`).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    leaving: bool,
}

#[derive(Serialize)]
struct LocalStatusJson {
    cluster: String,
    state_dir: String,
    /// The network namespace the cluster runs in (`local up --netns`), else absent.
    #[serde(skip_serializing_if = "Option::is_none")]
    netns: Option<String>,
    /// Network faults in force (`local cut`, a blip's isolation), as in `fault.json`.
    network_faults: Vec<redis_stretch_local::NetFault>,
    instances: Vec<InstanceJson>,
}

pub async fn status(dir: Option<PathBuf>, output: Output) -> Result<(), CliError> {
    let dir = state_dir(dir);
    let state: State = dir.load()?;
    let faults = redis_stretch_local::lab::active_faults(&dir)?;
    let snap = observe_local(&dir).await?;
    let manifest = dir.load_manifest().ok();
    let leaving = manifest
        .as_ref()
        .map(|c| redis_stretch_local::leaving(c, &state))
        .unwrap_or_default();
    let rows: Vec<InstanceJson> = state
        .instances
        .iter()
        .map(|i| {
            let node = snap
                .nodes
                .iter()
                .find(|n| n.name.as_deref() == Some(&i.name));
            let master = node.and_then(|n| n.master_id.as_deref()).map(|id| {
                snap.node_by_id(id)
                    .and_then(|m| m.addr.as_ref())
                    .map_or_else(|| id.to_owned(), ToString::to_string)
            });
            InstanceJson {
                name: i.name.clone(),
                zone: i.zone.clone(),
                host: i.host.clone(),
                port: i.port,
                role: node.and_then(|n| n.role).map(|r| r.as_str()),
                state: node.map_or("down", |n| n.state_str()),
                process: match is_running(i) {
                    ProcessStatus::Running => "running",
                    ProcessStatus::Stopped => "stopped",
                    ProcessStatus::Gone => "gone",
                },
                pid: i.pid,
                id: node.and_then(|n| n.id.clone()),
                master,
                slots: node
                    .map(|n| n.slots.iter().map(ToString::to_string).collect())
                    .unwrap_or_default(),
                link: node
                    .and_then(|n| n.link_up)
                    .map(|up| if up { "up" } else { "down" }),
                server: node.and_then(|n| {
                    n.server
                        .map(|s| format!("{} {}", s.as_str(), n.version.as_deref().unwrap_or("?")))
                }),
                restart_for: manifest
                    .as_ref()
                    .and_then(|c| redis_stretch_local::restart_for(c, state.revision, i)),
                leaving: leaving.contains(&i.name),
            }
        })
        .collect();
    match output {
        Output::Json => {
            let doc = LocalStatusJson {
                cluster: state.cluster.clone(),
                state_dir: dir.path().display().to_string(),
                netns: state.netns.clone(),
                network_faults: faults,
                instances: rows,
            };
            let text =
                serde_json::to_string_pretty(&doc).map_err(|e| CliError::Runtime(e.to_string()))?;
            println!("{text}");
        }
        Output::Table => {
            println!(
                "local cluster `{}` in {}",
                state.cluster,
                dir.path().display()
            );
            if let Some(ns) = &state.netns {
                println!("network namespace {ns}");
            }
            for f in &faults {
                println!("network fault in force: {f} (`local heal` removes it)");
            }
            let mut t = Table::new(&["NAME", "ZONE", "ADDRESS", "ROLE", "STATE", "PROCESS", "PID"]);
            for r in rows {
                t.row(vec![
                    r.name,
                    r.zone,
                    format!("{}:{}", r.host, r.port),
                    if r.leaving {
                        format!("{} (leaving)", r.role.unwrap_or("?"))
                    } else {
                        r.role.unwrap_or("?").to_owned()
                    },
                    r.state.to_owned(),
                    r.process.to_owned(),
                    r.pid.map_or_else(|| "-".to_owned(), |p| p.to_string()),
                ]);
            }
            print!("{}", t.render(0));
        }
    }
    Ok(())
}

pub fn down(dir: Option<PathBuf>, keep_data: bool) -> Result<(), CliError> {
    let dir = state_dir(dir);
    if !dir.exists() {
        println!(
            "no local cluster in {}; nothing to stop",
            dir.path().display()
        );
        return Ok(());
    }
    let report = redis_stretch_local::down(&dir, keep_data)?;
    print_down(&report);
    if report.removed {
        println!("removed {}", dir.path().display());
    }
    Ok(())
}

fn print_down(report: &redis_stretch_local::DownReport) {
    if report.stopped.is_empty() {
        println!("no process of ours was running");
    }
    for s in &report.stopped {
        println!("stopped {s}");
    }
}

pub fn kill_zone(dir: Option<PathBuf>, zone: &str, signal: FaultSignalArg) -> Result<(), CliError> {
    let dir = state_dir(dir);
    let sig = FaultSignal::from(signal);
    let hit = redis_stretch_local::kill_zone(&dir, zone, sig)?;
    let verb = if sig == FaultSignal::Kill {
        "killed"
    } else {
        "froze"
    };
    if hit.is_empty() {
        println!("no running process of ours in {zone}");
    }
    for h in hit {
        println!("{verb} {h}");
    }
    Ok(())
}

pub async fn restore_zone(
    dir: Option<PathBuf>,
    zone: &str,
    new_addresses: bool,
) -> Result<(), CliError> {
    let dir = state_dir(dir);
    let done =
        redis_stretch_local::restore_zone(&dir, zone, new_addresses, &server_binary_for(&dir)?)
            .await?;
    if done.is_empty() {
        println!("every process of {zone} already runs");
    }
    for d in done {
        println!("{d}");
    }
    Ok(())
}
