//! Local fault injection: what a data center going dark looks like, and its return.
//! `kill` (SIGKILL) is a crash: connections are refused at once. `stop` (SIGSTOP) freezes the
//! processes, which is what a dark DC looks like from outside: silence and timeouts. Drills
//! use both, so that detection is also measured the hard way.

use std::net::Ipv4Addr;
use std::time::Duration;

use nix::sys::signal::Signal;
use redis_stretch_engine::{observe, Pool};

use crate::cluster::{respawn, wait_listening};
use crate::ports::{free_port_pair, lock_ports, FIRST_PORT};
use crate::process::{self, ProcessStatus};
use crate::state::{LocalInstance, StateDir};
use crate::LocalError;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FaultSignal {
    Kill,
    Stop,
}

/// Kill or freeze every process of `zone`; returns what was signalled.
pub fn kill_zone(dir: &StateDir, zone: &str, sig: FaultSignal) -> Result<Vec<String>, LocalError> {
    let state = dir.load()?;
    if !state.zones.iter().any(|z| z == zone) {
        return Err(LocalError::Usage(format!(
            "no zone `{zone}` in this cluster (zones: {})",
            state.zones.join(", ")
        )));
    }
    let members: Vec<&LocalInstance> = state.instances.iter().filter(|i| i.zone == zone).collect();
    signal_all(&members, sig)
}

/// Send `sig` to each of `instances` (by recorded PID, checked), reap the killed; returns what
/// was signalled, in words.
fn signal_all(instances: &[&LocalInstance], sig: FaultSignal) -> Result<Vec<String>, LocalError> {
    let signal = match sig {
        FaultSignal::Kill => Signal::SIGKILL,
        FaultSignal::Stop => Signal::SIGSTOP,
    };
    let mut hit = Vec::new();
    for i in instances {
        if process::send(i, signal)? {
            hit.push(format!(
                "{} ({}, pid {})",
                i.name,
                i.addr(),
                i.pid.unwrap_or_default()
            ));
        }
    }
    if sig == FaultSignal::Kill {
        let killed: Vec<LocalInstance> = instances.iter().map(|i| (*i).clone()).collect();
        process::reap(&killed);
    }
    Ok(hit)
}

/// `local`'s single-instance fault: SIGKILL or SIGSTOP to one instance, by name.
pub fn kill_instance(
    dir: &StateDir,
    name: &str,
    sig: FaultSignal,
) -> Result<Vec<String>, LocalError> {
    let state = dir.load()?;
    let Some(i) = state.instances.iter().find(|i| i.name == name) else {
        let names: Vec<&str> = state.instances.iter().map(|i| i.name.as_str()).collect();
        return Err(LocalError::Usage(format!(
            "no instance `{name}` in this cluster (instances: {})",
            names.join(", ")
        )));
    };
    signal_all(&[i], sig)
}

/// Bring `zone` back: resume frozen processes, restart killed ones from their data dir and
/// `nodes.conf` — on a new address when `new_addresses` (a pod back with a new IP).
///
/// With persistence off, a killed master restarts *empty*; if the cluster still counts it as
/// the owner of slots (no failover happened), keeping its `nodes.conf` would let it serve an
/// empty shard and its replica resync from it, wiping the data. Such an instance restarts
/// without `nodes.conf`: as a new, empty node that the engine pairs as a replica.
pub async fn restore_zone(
    dir: &StateDir,
    zone: &str,
    new_addresses: bool,
    redis_server: &std::path::Path,
) -> Result<Vec<String>, LocalError> {
    let mut state = dir.load()?;
    if !state.zones.iter().any(|z| z == zone) {
        return Err(LocalError::Usage(format!(
            "no zone `{zone}` in this cluster"
        )));
    }
    let cluster = dir.load_manifest()?;
    let password = dir.password(false)?;
    let persistence = cluster.spec().redis.persistence.enabled;
    let instances: Vec<_> = state.instances.iter().map(|i| i.as_instance()).collect();
    let snap = observe(
        &instances,
        &state.zones,
        &Pool::new(password.clone(), Duration::from_millis(300)),
    )
    .await;
    let _lock = lock_ports().await?;
    let mut taken: Vec<u16> = state
        .instances
        .iter()
        .flat_map(|i| [i.port, i.port + 10000])
        .collect();
    let mut done = Vec::new();
    let mut restarted = Vec::new();
    for idx in 0..state.instances.len() {
        let inst = state.instances[idx].clone();
        if inst.zone != zone {
            continue;
        }
        match process::is_running(&inst) {
            ProcessStatus::Running => continue,
            ProcessStatus::Stopped => {
                process::send(&inst, Signal::SIGCONT)?;
                done.push(format!("{}: resumed", inst.name));
                continue;
            }
            ProcessStatus::Gone => {}
        }
        let mut inst = inst;
        let mut note = String::new();
        if new_addresses {
            let old: Ipv4Addr = inst.host.parse().map_err(|_| {
                LocalError::Usage(format!("{}: host {} is not IPv4", inst.name, inst.host))
            })?;
            let [a, b, c, d] = old.octets();
            let ip = Ipv4Addr::new(a, b, c, if d < 100 { d + 100 } else { d - 100 });
            let port = free_port_pair(ip, FIRST_PORT, &taken)?;
            taken.extend([port, port + 10000]);
            note = format!(" on new address {ip}:{port} (was {})", inst.addr());
            inst.host = ip.to_string();
            inst.port = port;
        }
        let owns_slots = snap
            .nodes
            .iter()
            .find(|n| n.name.as_deref() == Some(inst.name.as_str()))
            .is_some_and(|n| !n.slots.is_empty());
        if !persistence && owns_slots {
            let nodes_conf = inst.data_dir.join("nodes.conf");
            let _ = std::fs::remove_file(&nodes_conf);
            note.push_str(
                ", as a new empty node: it still owned slots and has no data (persistence off)",
            );
        }
        respawn(
            &cluster,
            &mut inst,
            password.as_ref(),
            redis_server,
            state.revision,
        )?;
        done.push(format!("{}: restarted{note}", inst.name));
        state.instances[idx] = inst.clone();
        restarted.push(inst);
        dir.save(&state)?;
    }
    if !restarted.is_empty() {
        let mut only = state.clone();
        only.instances = restarted;
        wait_listening(&only, password.as_ref()).await?;
    }
    Ok(done)
}
