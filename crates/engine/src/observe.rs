//! Observe: ask every instance what it knows, concurrently and with timeouts, and merge the
//! answers into a [`Snapshot`]. A node that does not answer is described by its peers.

use std::collections::BTreeMap;
use std::time::Duration;

use redis_stretch_admin::{
    AdminClient, AdminError, ClusterInfo, ClusterNode, ClusterNodes, NodeAddr, ReplicationInfo,
    Secret, ServerInfo,
};

use redis_stretch_api::redis_config;
use redis_stretch_decide::{NodeState, OpenSlot, Seen, Snapshot};
use redis_stretch_model::{Instance, Role, UNKNOWN_ZONE};

use crate::pool::Pool;

struct Report {
    nodes: ClusterNodes,
    info: ClusterInfo,
    replication: ReplicationInfo,
    fence: Option<u32>,
    fence_max_lag_s: Option<u32>,
    node_timeout_ms: Option<u64>,
    no_failover: Option<bool>,
    clock_ms: Option<u64>,
    server: Option<ServerInfo>,
    availability_zone: Option<String>,
    live_config: BTreeMap<String, String>,
}

async fn report(addr: &NodeAddr, pool: &Pool) -> Result<Report, AdminError> {
    let c = pool.get(addr).await?;
    // One CONFIG GET for the fence, the zone and the spec's live settings (a pass runs every
    // 100 ms; Redis 7 takes several names at once). What the server is only feeds status and
    // one repair: a server we cannot name is still a node.
    let mut params: Vec<&str> = vec![
        "min-replicas-to-write",
        "min-replicas-max-lag",
        "availability-zone",
        "cluster-node-timeout",
        "cluster-replica-no-failover",
    ];
    params.extend(redis_config::live_directives());
    let (essential, server, clock) = tokio::join!(
        async {
            tokio::try_join!(
                c.cluster_nodes(),
                c.cluster_info(),
                c.info_replication(),
                c.config_get_many(&params)
            )
        },
        c.info_server(),
        c.time_ms(),
    );
    let (nodes, info, replication, config) = essential?;
    let number = |k: &str| config.get(k).and_then(|v| v.parse().ok());
    Ok(Report {
        nodes,
        info,
        replication,
        fence: number("min-replicas-to-write"),
        fence_max_lag_s: number("min-replicas-max-lag"),
        node_timeout_ms: config
            .get("cluster-node-timeout")
            .and_then(|v| v.parse().ok()),
        no_failover: config
            .get("cluster-replica-no-failover")
            .map(|v| v == "yes"),
        server: server.ok(),
        clock_ms: clock.ok(),
        availability_zone: config
            .get("availability-zone")
            .filter(|z| !z.is_empty())
            .cloned(),
        live_config: redis_config::live_directives()
            .filter_map(|d| Some((d.to_owned(), config.get(d)?.clone())))
            .collect(),
    })
}

fn role_of(n: &ClusterNode) -> Option<Role> {
    if n.flags.master {
        Some(Role::Master)
    } else if n.flags.replica {
        Some(Role::Replica)
    } else {
        None
    }
}

/// Observe `instances` (zone names in spec order in `zones`), all at once: a pass costs one
/// timeout at most, however many nodes are frozen.
pub async fn observe(instances: &[Instance], zones: &[String], pool: &Pool) -> Snapshot {
    pool.learn(instances);
    let reports = futures_util::future::join_all(instances.iter().map(|inst| async move {
        let r = report(&inst.addr, pool).await;
        if r.is_err() {
            pool.discard(&inst.addr);
        }
        Some(r.map_err(|e| Failure {
            answered: !e.is_unreachable(),
            error: e.to_string(),
        }))
    }))
    .await;
    let mut snapshot = merge(instances, zones, reports);
    crate::credentials::annotate(&mut snapshot, pool).await;
    snapshot
}

/// Why an instance gave no report: silence, or an answer that was an error.
struct Failure {
    answered: bool,
    error: String,
}

fn merge(
    instances: &[Instance],
    zones: &[String],
    reports: Vec<Option<Result<Report, Failure>>>,
) -> Snapshot {
    // Peers' views of every node id, from every node that answered, freshest first (the
    // reporter with the highest current epoch has heard the latest takeovers; a stale view
    // would show a taken-over master still owning its slots).
    let mut reporters: Vec<&Report> = reports.iter().flatten().flatten().collect();
    reporters.sort_by_key(|r| std::cmp::Reverse(r.info.current_epoch));
    let mut peer_lines: BTreeMap<String, Vec<&ClusterNode>> = BTreeMap::new();
    for r in reporters {
        for n in r.nodes.nodes.iter().filter(|n| !n.flags.myself) {
            peer_lines.entry(n.id.clone()).or_default().push(n);
        }
    }
    let mut nodes: Vec<NodeState> = Vec::new();
    for (inst, rep) in instances.iter().zip(&reports) {
        let state = match rep {
            Some(Ok(r)) => own_view(inst, r),
            Some(Err(f)) => {
                let mut s = peers_view(inst, f.error.clone(), &peer_lines);
                s.refuses = f.answered;
                s
            }
            None => peers_view(inst, "observer task failed".to_owned(), &peer_lines),
        };
        nodes.push(state);
    }
    // Nodes the cluster knows but the platform does not (strays, or `status --node` peers
    // without a zone mapping).
    for (id, lines) in &peer_lines {
        if nodes.iter().any(|n| n.id.as_deref() == Some(id)) {
            continue;
        }
        if let Some(line) = lines.first() {
            let mut s = from_line(line, UNKNOWN_ZONE, None);
            s.error = Some("not a known instance of this cluster".to_owned());
            nodes.push(s);
        }
    }
    for n in &mut nodes {
        if let Some(lines) = n.id.as_ref().and_then(|id| peer_lines.get(id)) {
            n.flagged_fail_by = lines.iter().filter(|l| l.flags.fail).count();
            n.flagged_pfail_by = lines.iter().filter(|l| l.flags.pfail).count();
        }
    }
    Snapshot {
        zones: zones.to_vec(),
        nodes,
    }
}

fn from_line(line: &ClusterNode, zone: &str, name: Option<String>) -> NodeState {
    NodeState {
        id: Some(line.id.clone()),
        role: role_of(line),
        master_id: line.master_id.clone(),
        slots: line.slots.clone(),
        config_epoch: line.config_epoch,
        ..NodeState::silent(name, zone, line.addr.clone())
    }
}

fn own_view(inst: &Instance, r: &Report) -> NodeState {
    let me = r.nodes.myself();
    let (link_up, link_down_s, repl_offset, syncing) = match &r.replication {
        ReplicationInfo::Master {
            master_repl_offset, ..
        } => (None, None, Some(*master_repl_offset), false),
        ReplicationInfo::Replica {
            link_up,
            link_down_since_s,
            repl_offset,
            sync_in_progress,
            ..
        } => (
            Some(*link_up),
            *link_down_since_s,
            Some(*repl_offset),
            *sync_in_progress,
        ),
    };
    NodeState {
        name: Some(inst.name.clone()),
        zone: inst.zone.clone(),
        addr: Some(inst.addr.clone()),
        id: me.map(|m| m.id.clone()),
        reachable: true,
        failed_probes: 0,
        error: None,
        refuses: false,
        role: me.and_then(role_of),
        master_id: me.and_then(|m| m.master_id.clone()),
        slots: me.map(|m| m.slots.clone()).unwrap_or_default(),
        config_epoch: me.map_or(0, |m| m.config_epoch),
        link_up,
        link_down_s,
        syncing,
        no_failover: r.no_failover,
        restart_for: inst.restart_for.clone(),
        leaving: inst.leaving,
        open_slots: me
            .map(|m| {
                m.open_slots
                    .iter()
                    .map(|o| OpenSlot {
                        slot: o.slot,
                        importing: o.importing,
                        peer: o.peer.clone(),
                    })
                    .collect()
            })
            .unwrap_or_default(),
        repl_offset,
        cluster_state: Some(r.info.state),
        slots_assigned: Some(r.info.slots_assigned),
        fence: r.fence,
        fence_max_lag_s: r.fence_max_lag_s,
        node_timeout_ms: r.node_timeout_ms,
        replica_lags_s: match &r.replication {
            ReplicationInfo::Master { replicas, .. } => replicas
                .iter()
                .filter(|x| x.state == "online")
                // A replica that never acknowledged has no lag to count: it acknowledged nothing.
                .filter_map(|x| x.lag)
                .collect(),
            ReplicationInfo::Replica { .. } => Vec::new(),
        },
        server: r.server.as_ref().map(|s| s.flavour),
        version: r.server.as_ref().map(|s| s.version.clone()),
        availability_zone: r.availability_zone.clone(),
        live_config: r.live_config.clone(),
        current_epoch: Some(r.info.current_epoch),
        clock_ms: r.clock_ms,
        auth: None,
        flagged_fail_by: 0,
        flagged_pfail_by: 0,
        sees: r
            .nodes
            .nodes
            .iter()
            .filter(|n| !n.flags.myself)
            .map(|n| Seen {
                id: n.id.clone(),
                addr: n.addr.clone(),
                handshake: n.flags.handshake,
                fail: n.flags.fail || n.flags.pfail,
                role: role_of(n),
                master_id: n.master_id.clone(),
                config_epoch: n.config_epoch,
                pong_recv_ms: n.pong_recv_ms,
                ping_sent_ms: n.ping_sent_ms,
            })
            .collect(),
    }
}

fn peers_view(
    inst: &Instance,
    error: String,
    peer_lines: &BTreeMap<String, Vec<&ClusterNode>>,
) -> NodeState {
    let seen = peer_lines
        .values()
        .flat_map(|v| v.first())
        .find(|l| l.addr.as_ref() == Some(&inst.addr));
    let mut s = match seen {
        Some(line) => from_line(line, &inst.zone, Some(inst.name.clone())),
        None => NodeState::silent(Some(inst.name.clone()), &inst.zone, Some(inst.addr.clone())),
    };
    s.addr = Some(inst.addr.clone());
    s.error = Some(error);
    s.restart_for = inst.restart_for.clone();
    s.leaving = inst.leaving;
    s
}

/// Find every node of the cluster from one reachable node, placing each in a zone by
/// `zone_of` (address → zone). For `status --node` against a cluster we did not start.
pub async fn discover(
    seed: &NodeAddr,
    password: Option<&Secret>,
    timeout: Duration,
    zone_of: impl Fn(&NodeAddr) -> Option<String>,
) -> Result<Vec<Instance>, AdminError> {
    let c = AdminClient::connect(seed, password, timeout).await?;
    let nodes = c.cluster_nodes().await?;
    Ok(nodes
        .nodes
        .iter()
        .filter_map(|n| n.addr.clone())
        .map(|addr| Instance {
            name: addr.to_string(),
            zone: zone_of(&addr).unwrap_or_else(|| UNKNOWN_ZONE.to_owned()),
            addr,
            server_name: None,
            restart_for: None,
            leaving: false,
        })
        .collect())
}
