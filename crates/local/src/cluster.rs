//! `local up` / `local down`: start, bootstrap and stop a local cluster.

use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use redis_stretch_admin::{AdminClient, Secret};
use redis_stretch_api::redis_config::{cluster_settings, render_conf, Setting};
use redis_stretch_api::{ServerFlavour, ValidatedCluster};
use redis_stretch_engine::formation::{form_within, Formation};
use redis_stretch_engine::{BootstrapReport, Instance, Pool};

use crate::LocalPlatform;
use redis_stretch_topology::{hosts_needed, plan, Plan};

use crate::ports::{free_port_pair, lock_ports, reserve, reserved_on, FIRST_PORT};
use crate::process::{self, ProcessStatus};
use crate::state::{write_atomic, LocalInstance, State, StateDir};
use crate::LocalError;

pub struct UpOptions {
    pub state_dir: StateDir,
    pub redis_server: PathBuf,
    /// Budget for bootstrap to reach failover-ready.
    pub ready_timeout: Duration,
    /// The manifest as given, kept in the state dir for later commands.
    pub manifest_yaml: String,
}

#[derive(Debug)]
pub enum UpOutcome {
    Started {
        state: State,
        report: BootstrapReport,
    },
    /// The state dir already had this cluster running; nothing was started.
    Adopted { state: State },
}

#[derive(Debug)]
pub struct DownReport {
    /// `name (host:port, pid N)` of every process stopped.
    pub stopped: Vec<String>,
    pub removed: bool,
}

/// Loopback address of host `k` of zone `zi`: each zone on its own /24, so a zone can be cut
/// off or filtered as a unit.
pub(crate) fn host_ip(zi: usize, k: usize) -> Option<Ipv4Addr> {
    let zone = u8::try_from(zi + 1).ok()?;
    let host = u8::try_from(k + 1).ok().filter(|h| *h < 255)?;
    Some(Ipv4Addr::new(127, 0, zone, host))
}

pub async fn up(cluster: &ValidatedCluster, opts: &UpOptions) -> Result<UpOutcome, LocalError> {
    let dir = &opts.state_dir;
    if dir.exists() {
        return adopt(cluster, dir);
    }
    let result = start(cluster, opts).await;
    if result.is_err() {
        // A failed start leaves nothing behind: stop what started, forget the state.
        if let Ok(state) = dir.load() {
            let _ = process::stop_all(&state.instances, Duration::from_secs(2));
        }
        let _ = dir.remove();
        if let Some(ns) = crate::netns::inside() {
            let _ = crate::netns::delete(&ns);
        }
    }
    result
}

fn adopt(cluster: &ValidatedCluster, dir: &StateDir) -> Result<UpOutcome, LocalError> {
    let state = dir.load()?;
    if state.cluster != cluster.name() {
        return Err(LocalError::Refused(format!(
            "{} holds local cluster `{}`, not `{}`; pick another --state-dir",
            dir.path().display(),
            state.cluster,
            cluster.name()
        )));
    }
    let alive = state
        .instances
        .iter()
        .filter(|i| process::is_running(i) != ProcessStatus::Gone)
        .count();
    if alive == 0 {
        return Err(LocalError::Refused(format!(
            "{} holds a stopped cluster `{}` whose data would be overwritten; remove it with `redis-stretch local down --state-dir {}`",
            dir.path().display(),
            state.cluster,
            dir.path().display()
        )));
    }
    Ok(UpOutcome::Adopted { state })
}

async fn start(cluster: &ValidatedCluster, opts: &UpOptions) -> Result<UpOutcome, LocalError> {
    let empty = spawn_empty(cluster, opts).await?;
    let instances: Vec<Instance> = empty
        .state
        .instances
        .iter()
        .map(LocalInstance::as_instance)
        .collect();
    // The same formation as the operator's engines: empty instances → the planned cluster.
    let pool = Pool::new(empty.password.clone(), redis_stretch_admin::DEFAULT_TIMEOUT);
    let platform = LocalPlatform {
        dir: opts.state_dir.clone(),
    };
    match form_within(cluster, &instances, &pool, &platform, opts.ready_timeout).await {
        Formation::Bootstrapped { report, .. } => Ok(UpOutcome::Started {
            state: empty.state,
            report,
        }),
        Formation::Formed => Err(LocalError::Bootstrap(
            "the new instances already serve slots: not the empty cluster just started".into(),
        )),
        Formation::Waiting(why) | Formation::Failed(why) => Err(LocalError::Bootstrap(why)),
    }
}

/// Instances started and answering, not yet a cluster.
pub struct EmptyCluster {
    pub plan: Plan,
    pub state: State,
    pub password: Option<Secret>,
}

/// Start one empty redis-server per planned host and wait until each answers. The caller
/// owns them: `down` stops them. (Also the benchmark's starting point: six empty nodes.)
pub async fn spawn_empty(
    cluster: &ValidatedCluster,
    opts: &UpOptions,
) -> Result<EmptyCluster, LocalError> {
    let dir = &opts.state_dir;
    dir.create()?;
    dir.save_manifest(&opts.manifest_yaml)?;
    let password = if cluster.spec().auth.enabled {
        dir.password(true)?
    } else {
        None
    };
    let port_lock = lock_ports().await?;
    let (hosts, mut state) = allocate(cluster, dir)?;
    let the_plan = plan(cluster, &hosts)?;
    dir.save(&state)?;
    // Held until the state dir goes, also while a zone is down (see `reserve`).
    let held: Vec<(String, u16)> = state
        .instances
        .iter()
        .flat_map(|i| [(i.host.clone(), i.port), (i.host.clone(), i.port + 10000)])
        .collect();
    reserve(dir.path(), &held)?;
    for i in 0..state.instances.len() {
        let inst = &state.instances[i];
        std::fs::create_dir_all(&inst.data_dir).map_err(LocalError::io(&inst.data_dir))?;
        let conf = inst.data_dir.join("redis.conf");
        write_atomic(
            &conf,
            instance_conf(cluster, inst, password.as_ref()).as_bytes(),
            0o600,
        )?;
        let pid = process::spawn(&opts.redis_server, &conf, &inst.data_dir.join("redis.log"))?;
        state.instances[i].pid = Some(pid);
        // Saved after every spawn: a crash here still lets `local down` find each PID.
        dir.save(&state)?;
    }
    wait_listening(&state, password.as_ref()).await?;
    drop(port_lock);
    Ok(EmptyCluster {
        plan: the_plan,
        state,
        password,
    })
}

type Hosts = std::collections::BTreeMap<String, Vec<String>>;

/// Name, address and ports for every planned host.
fn allocate(cluster: &ValidatedCluster, dir: &StateDir) -> Result<(Hosts, State), LocalError> {
    let mut hosts = Hosts::new();
    let mut instances = Vec::new();
    let mut taken = Vec::new();
    for (zi, (zone, need)) in hosts_needed(cluster).into_iter().enumerate() {
        for k in 0..need {
            let ip = host_ip(zi, k).ok_or_else(|| {
                LocalError::Refused(format!(
                    "zone {zone} needs {need} hosts; local mode has 254 per zone"
                ))
            })?;
            let mut avoid = taken.clone();
            avoid.extend(reserved_on(&ip.to_string(), dir.path()));
            let port = free_port_pair(ip, FIRST_PORT, &avoid)?;
            taken.extend([port, port + 10000]);
            let name = format!("{zone}-{k}");
            hosts.entry(zone.clone()).or_default().push(name.clone());
            instances.push(LocalInstance {
                data_dir: dir.instance_dir(&name),
                name,
                zone: zone.clone(),
                host: ip.to_string(),
                port,
                pid: None,
                server: Some(cluster.spec().redis.server),
                revision: 0,
            });
        }
    }
    let state = State {
        cluster: cluster.name().to_owned(),
        zones: cluster.zone_names().iter().map(|z| z.to_string()).collect(),
        instances,
        engine_pid: None,
        held_zone: None,
        // Set when this process was re-executed inside the cluster's namespace (`--netns`):
        // the instances it spawns inherit it.
        netns: crate::netns::inside(),
        revision: 0,
    };
    Ok((hosts, state))
}

/// redis.conf of one instance: the cluster-wide settings plus what is its own.
pub fn instance_conf(
    cluster: &ValidatedCluster,
    inst: &LocalInstance,
    password: Option<&Secret>,
) -> String {
    let own = |d: &'static str, v: String, why: &'static str| Setting {
        directive: d,
        value: v,
        why,
    };
    let mut settings = vec![
        own("port", inst.port.to_string(), "this instance's port"),
        own("bind", inst.host.clone(), "this instance's own loopback address, one /24 per zone"),
        own("dir", inst.data_dir.display().to_string(), "data, nodes.conf"),
        own("cluster-config-file", "nodes.conf".into(), "cluster state across restarts"),
        own(
            "cluster-announce-ip",
            inst.host.clone(),
            "peers must learn this address, not the 127.0.0.1 our packets leave from",
        ),
        own("replica-announce-ip", inst.host.clone(), "same, for INFO replication"),
        own(
            "bind-source-addr",
            inst.host.clone(),
            "outgoing links leave from this instance's address, so a cut between zones can be modelled by address",
        ),
        own("daemonize", "no".into(), "local mode supervises the process itself"),
        own("logfile", String::new(), "stdout, which local mode sends to redis.log"),
    ];
    if let Some(p) = password {
        settings.push(own(
            "requirepass",
            p.expose().to_owned(),
            "auth on by default",
        ));
        settings.push(own(
            "masterauth",
            p.expose().to_owned(),
            "replicas authenticate to masters",
        ));
    }
    if cluster.spec().redis.server == ServerFlavour::Valkey {
        settings.push(own(
            "availability-zone",
            inst.zone.clone(),
            "Valkey 8: clients (HELLO, CLUSTER SHARDS) can prefer replicas in their own zone",
        ));
    }
    settings.extend(cluster_settings(cluster.spec()));
    format!(
        "# Generated by redis-stretch for instance {} of cluster {}. Mode 0600: holds the password.\n{}",
        inst.name,
        cluster.name(),
        render_conf(&settings)
    )
}

/// Start `inst` again from its data dir: redis.conf written for `cluster` now, the `server`
/// binary spawned, what it runs (pid, server, the cluster's `revision`) recorded on `inst`.
/// The caller saves the state.
pub(crate) fn respawn(
    cluster: &ValidatedCluster,
    inst: &mut LocalInstance,
    password: Option<&Secret>,
    server: &Path,
    revision: u64,
) -> Result<(), LocalError> {
    let conf = inst.data_dir.join("redis.conf");
    write_atomic(
        &conf,
        instance_conf(cluster, inst, password).as_bytes(),
        0o600,
    )?;
    inst.pid = Some(process::spawn(
        server,
        &conf,
        &inst.data_dir.join("redis.log"),
    )?);
    inst.server = Some(cluster.spec().redis.server);
    inst.revision = revision;
    Ok(())
}

/// Wait until every instance answers PING; a process that died is reported with its log.
pub(crate) async fn wait_listening(
    state: &State,
    password: Option<&Secret>,
) -> Result<(), LocalError> {
    let deadline = Instant::now() + Duration::from_secs(10);
    for inst in &state.instances {
        loop {
            let ok = match AdminClient::connect(&inst.addr(), password, Duration::from_millis(300))
                .await
            {
                Ok(c) => c.ping().await.is_ok(),
                Err(_) => false,
            };
            if ok {
                break;
            }
            let dead = process::is_running(inst) == ProcessStatus::Gone;
            if dead || Instant::now() >= deadline {
                let log = inst.data_dir.join("redis.log");
                return Err(LocalError::StartFailed {
                    name: inst.name.clone(),
                    addr: inst.addr().to_string(),
                    why: if dead {
                        "the process exited".into()
                    } else {
                        "no answer within 10 s".into()
                    },
                    tail: log_tail(&log, 10),
                    log,
                });
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
    Ok(())
}

pub(crate) fn log_tail(path: &Path, lines: usize) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

/// Stop every process of the local cluster in `dir` (by recorded PID) and, unless
/// `keep_data`, remove the state directory.
pub fn down(dir: &StateDir, keep_data: bool) -> Result<DownReport, LocalError> {
    if !dir.exists() {
        return Ok(DownReport {
            stopped: Vec::new(),
            removed: false,
        });
    }
    let mut state = dir.load()?;
    // The engine first: it must not mistake this shutdown for a zone loss.
    let mut stopped_engine = None;
    if let Some(pid) = state
        .engine_pid
        .filter(|p| crate::detached_engine_of(*p, dir.path()))
    {
        process::stop_pid(pid, Duration::from_secs(3))?;
        stopped_engine = Some(format!("engine (pid {pid})"));
    }
    let names = process::stop_all(&state.instances, Duration::from_secs(5))?;
    let stopped = stopped_engine
        .into_iter()
        .chain(
            state
                .instances
                .iter()
                .filter(|i| names.contains(&i.name))
                .map(|i| {
                    format!(
                        "{} ({}, pid {})",
                        i.name,
                        i.addr(),
                        i.pid.unwrap_or_default()
                    )
                }),
        )
        .collect();
    // Nothing of ours runs in the namespace any more: remove it (its nft table goes with it),
    // also when the data is kept.
    if let Some(ns) = state.netns.take() {
        crate::netns::delete(&ns)?;
    }
    if keep_data {
        for i in &mut state.instances {
            i.pid = None;
        }
        state.engine_pid = None;
        let _ = std::fs::remove_file(dir.file(crate::lab::FAULT_FILE));
        dir.save(&state)?;
    } else {
        dir.remove()?;
        crate::ports::release(dir.path());
    }
    Ok(DownReport {
        stopped,
        removed: !keep_data,
    })
}

/// The local cluster's instances (as the engine sees them) and its password.
pub fn instances(dir: &StateDir) -> Result<(State, Vec<Instance>, Option<Secret>), LocalError> {
    let state = dir.load()?;
    let inst = state
        .instances
        .iter()
        .map(LocalInstance::as_instance)
        .collect();
    let password = dir.password(false)?;
    Ok((state, inst, password))
}
