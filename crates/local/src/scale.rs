//! Local mode's side of scaling (`local scale --shards N`), what the StatefulSets do on
//! Kubernetes: the manifest takes the new shard count, instances the count needs are started
//! empty beside the running ones (the engine makes them masters of new shards or their
//! replicas and moves slots to them), and instances it no longer needs are reported
//! `leaving` ([`leaving`]) until the engine, having moved their slots away and made the
//! cluster forget them, asks the platform to retire them ([`retire_instance`]).

use std::collections::BTreeMap;
use std::time::Duration;

use redis_stretch_api::{preferred_for, with_shards, ValidatedCluster};
use redis_stretch_topology::hosts_needed;

use crate::cluster::{host_ip, instance_conf, wait_listening};
use crate::ports::{free_port_pair, lock_ports, reserve, reserved_on, FIRST_PORT};
use crate::process;
use crate::state::{write_atomic, LocalInstance, State, StateDir};
use crate::{find_server, LocalError};

/// What `scale` changed.
#[derive(Debug)]
pub struct ScaleReport {
    pub from: u32,
    pub to: u32,
    pub preferred: Vec<(String, u32)>,
    /// Instances started for the new shards.
    pub started: Vec<String>,
    /// Instances the engine empties and retires.
    pub leaving: Vec<String>,
}

/// Set the local cluster in `dir` to `shards` shards (`preferred`: masters per zone, by
/// default in the proportion the manifest has them) and start the instances that needs.
pub async fn scale(
    dir: &StateDir,
    shards: u32,
    preferred: Option<Vec<(String, u32)>>,
) -> Result<ScaleReport, LocalError> {
    let before = dir.load_manifest()?;
    let now: Vec<(String, u32)> = before
        .spec()
        .zones
        .iter()
        .map(|z| (z.name.clone(), z.preferred_masters))
        .collect();
    let preferred = preferred.unwrap_or_else(|| preferred_for(&now, shards));
    let path = dir.file("manifest.yaml");
    let yaml = std::fs::read_to_string(&path).map_err(LocalError::io(&path))?;
    let changed = with_shards(&yaml, shards, &preferred).map_err(LocalError::Usage)?;
    // Validated as any manifest: a count the zones cannot hold is refused here, unchanged.
    let after = redis_stretch_api::load_manifest(&changed)
        .map_err(|p| LocalError::Usage(format!("the scaled manifest is refused: {p}")))?;
    // The manifest first: a running engine that saw the new instances under the old count
    // would take them for leaving ones and retire them.
    dir.save_manifest(&changed)?;
    let started = start_needed(dir, &after).await?;
    let state = dir.load()?;
    Ok(ScaleReport {
        from: before.spec().shards,
        to: shards,
        preferred,
        started,
        leaving: leaving(&after, &state),
    })
}

/// The instance's index in its zone (`dc-a-4` → 4).
fn index(inst: &LocalInstance) -> Option<usize> {
    inst.name
        .strip_prefix(inst.zone.as_str())?
        .strip_prefix('-')?
        .parse()
        .ok()
}

/// Instances `cluster` no longer needs: in each zone, those from the index it needs on.
pub fn leaving(cluster: &ValidatedCluster, state: &State) -> Vec<String> {
    let need: BTreeMap<String, usize> = hosts_needed(cluster).into_iter().collect();
    state
        .instances
        .iter()
        .filter(|i| {
            let n = need.get(&i.zone).copied().unwrap_or(0);
            index(i).is_some_and(|k| k >= n)
        })
        .map(|i| i.name.clone())
        .collect()
}

/// Start, empty, every instance `cluster` needs that the state lacks (`dc-a-3`, … on the
/// zone's next addresses), under the port lock as `local up` does.
async fn start_needed(
    dir: &StateDir,
    cluster: &ValidatedCluster,
) -> Result<Vec<String>, LocalError> {
    let password = dir.password(false)?;
    let server = find_server(cluster.spec().redis.server)?;
    let _lock = lock_ports().await?;
    let mut state = dir.load()?;
    let mut started = Vec::new();
    for (zi, (zone, need)) in hosts_needed(cluster).into_iter().enumerate() {
        for k in 0..need {
            let name = format!("{zone}-{k}");
            if state.instances.iter().any(|i| i.name == name) {
                continue;
            }
            let ip = host_ip(zi, k).ok_or_else(|| {
                LocalError::Refused(format!(
                    "zone {zone} needs {need} hosts; local mode has 254 per zone"
                ))
            })?;
            let mut avoid: Vec<u16> = state
                .instances
                .iter()
                .flat_map(|i| [i.port, i.port + 10000])
                .collect();
            avoid.extend(reserved_on(&ip.to_string(), dir.path()));
            let port = free_port_pair(ip, FIRST_PORT, &avoid)?;
            let mut inst = LocalInstance {
                data_dir: dir.instance_dir(&name),
                name: name.clone(),
                zone: zone.clone(),
                host: ip.to_string(),
                port,
                pid: None,
                server: Some(cluster.spec().redis.server),
                revision: state.revision,
            };
            std::fs::create_dir_all(&inst.data_dir).map_err(LocalError::io(&inst.data_dir))?;
            let conf = inst.data_dir.join("redis.conf");
            write_atomic(
                &conf,
                instance_conf(cluster, &inst, password.as_ref()).as_bytes(),
                0o600,
            )?;
            inst.pid = Some(process::spawn(
                &server,
                &conf,
                &inst.data_dir.join("redis.log"),
            )?);
            state.instances.push(inst);
            // Saved after every spawn: `local down` finds each PID whatever happens next.
            dir.save(&state)?;
            started.push(name);
        }
    }
    let held: Vec<(String, u16)> = state
        .instances
        .iter()
        .flat_map(|i| [(i.host.clone(), i.port), (i.host.clone(), i.port + 10000)])
        .collect();
    reserve(dir.path(), &held)?;
    let mut fresh = state.clone();
    fresh.instances.retain(|i| started.contains(&i.name));
    wait_listening(&fresh, password.as_ref()).await?;
    Ok(started)
}

/// Stop instance `name` (by its recorded PID) and drop it from the state with its data: the
/// engine has moved its slots away and made the cluster forget it.
pub async fn retire_instance(dir: &StateDir, name: &str) -> Result<String, LocalError> {
    let _lock = lock_ports().await?;
    let mut state = dir.load()?;
    let cluster = dir.load_manifest()?;
    let Some(inst) = state.instances.iter().find(|i| i.name == name).cloned() else {
        return Ok(format!("{name} is already gone"));
    };
    if !leaving(&cluster, &state).contains(&inst.name) {
        return Err(LocalError::Refused(format!(
            "{name} is one the spec's {} shards need: not retired",
            cluster.spec().shards
        )));
    }
    let stopping = inst.clone();
    tokio::task::spawn_blocking(move || process::stop_all(&[stopping], Duration::from_secs(5)))
        .await
        .map_err(|e| LocalError::Usage(format!("stopping {name}: {e}")))??;
    state.instances.retain(|i| i.name != name);
    dir.save(&state)?;
    let _ = std::fs::remove_dir_all(&inst.data_dir);
    Ok(format!(
        "{name} stopped (pid {}) and removed",
        inst.pid.map_or_else(|| "-".to_owned(), |p| p.to_string())
    ))
}
