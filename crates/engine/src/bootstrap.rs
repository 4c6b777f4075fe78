//! Bootstrap: turn empty instances into the planned cluster, and wait until it is
//! *failover-ready* (every slot served, every replica's link up — a replica that never
//! finished its first sync cannot be elected).
//!
//! Faster than `redis-cli --cluster create` because it never sleeps a whole second between
//! checks: it polls every few milliseconds, meets every pair at once instead of waiting for
//! gossip to spread from one node, and attaches replicas the moment the mesh is complete.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use redis_stretch_admin::{
    AdminClient, AdminError, ClusterState, Dial, ReplicationInfo, Secret, Tls,
};
use redis_stretch_model::{Instance, Role, SLOT_COUNT};
use redis_stretch_topology::Plan;

const POLL: Duration = Duration::from_millis(20);

#[derive(Debug, thiserror::Error)]
pub enum BootstrapError {
    #[error(transparent)]
    Admin(#[from] AdminError),
    #[error("planned host `{host}` has no instance")]
    NoInstance { host: String },
    #[error("{node} is not empty ({why}); bootstrap only builds a cluster from empty instances")]
    NotEmpty { node: String, why: String },
    #[error("cluster not {stage} after {after:?}: {waiting_for}")]
    Timeout {
        stage: &'static str,
        after: Duration,
        waiting_for: String,
    },
}

#[derive(Clone, Debug)]
pub struct BootstrapReport {
    pub meshed_after: Duration,
    pub ready_after: Duration,
}

struct Member {
    client: AdminClient,
    id: String,
    role: Role,
    shard: u32,
}

/// Build the cluster described by `plan` on `instances` (matched by `Instance::name` ==
/// planned host). Every instance must be empty.
pub async fn bootstrap(
    plan: &Plan,
    instances: &[Instance],
    password: Option<&Secret>,
    tls: Option<&Tls>,
    timeout: Duration,
) -> Result<BootstrapReport, BootstrapError> {
    let start = Instant::now();
    let deadline = start + timeout;
    let by_name: BTreeMap<&str, &Instance> =
        instances.iter().map(|i| (i.name.as_str(), i)).collect();
    let mut members = Vec::new();
    for p in plan.instances() {
        let inst = by_name
            .get(p.host.as_str())
            .ok_or_else(|| BootstrapError::NoInstance {
                host: p.host.clone(),
            })?;
        let dial = Dial {
            tls,
            server_name: inst.server_name.as_deref(),
        };
        let client = AdminClient::connect_via(
            &inst.addr,
            dial,
            password,
            redis_stretch_admin::DEFAULT_TIMEOUT,
        )
        .await?;
        let nodes = client.cluster_nodes().await?;
        if nodes.nodes.len() > 1 || nodes.myself().is_some_and(|m| !m.slots.is_empty()) {
            return Err(BootstrapError::NotEmpty {
                node: inst.addr.to_string(),
                why: format!("it knows {} nodes or serves slots", nodes.nodes.len()),
            });
        }
        let id = client.myid().await?;
        members.push(Member {
            client,
            id,
            role: p.role,
            shard: p.shard,
        });
    }

    // A master that was ever in a minority (and a fresh node without slots counts as one:
    // cluster size 0) waits a rejoin delay = cluster-node-timeout (clamped to 0.5..5 s) before
    // it reports `cluster_state:ok`. Bootstrap runs at the 500 ms floor and puts the configured
    // timeout back once the cluster is ready (and on the way out if anything fails).
    let timeouts = try_all(
        members
            .iter()
            .map(|m| m.client.config_get("cluster-node-timeout")),
    )
    .await?;
    let configured = timeouts
        .into_iter()
        .flatten()
        .next()
        .unwrap_or_else(|| "2000".to_owned());
    try_all(members.iter().map(|m| {
        m.client
            .config_set("cluster-node-timeout", BOOTSTRAP_NODE_TIMEOUT)
    }))
    .await?;
    let built = build(plan, &members, deadline, start).await;
    let restored = try_all(
        members
            .iter()
            .map(|m| m.client.config_set("cluster-node-timeout", &configured)),
    )
    .await;
    let meshed_after = built?;
    restored?;
    Ok(BootstrapReport {
        meshed_after,
        ready_after: start.elapsed(),
    })
}

const BOOTSTRAP_NODE_TIMEOUT: &str = "500";

/// Slots, mesh, replicas, and the wait for failover-ready; returns when the mesh was complete.
async fn build(
    plan: &Plan,
    members: &[Member],
    deadline: Instant,
    start: Instant,
) -> Result<Duration, BootstrapError> {
    // Distinct config epochs up front, as redis-cli does: no epoch collisions to resolve.
    let epochs = members
        .iter()
        .zip(1u64..)
        .map(|(m, e)| m.client.set_config_epoch(e));
    try_all(epochs).await?;
    let slots = plan.shards.iter().map(|s| {
        let master = members
            .iter()
            .find(|m| m.role == Role::Master && m.shard == s.index);
        async move {
            match master {
                Some(m) => m.client.add_slots_range(&[s.slots]).await,
                None => Ok(()),
            }
        }
    });
    try_all(slots).await?;
    // Every pair meets once (i meets j > i): a full mesh without waiting for gossip.
    let meets = members.iter().enumerate().flat_map(|(i, a)| {
        members[i + 1..]
            .iter()
            .map(move |b| a.client.meet(b.client.addr()))
    });
    try_all(meets).await?;
    wait_meshed(members, deadline, start).await?;
    let meshed_after = start.elapsed();

    let replicate = members.iter().filter(|m| m.role == Role::Replica).map(|r| {
        let master_id = members
            .iter()
            .find(|m| m.role == Role::Master && m.shard == r.shard)
            .map(|m| m.id.clone())
            .unwrap_or_default();
        async move { r.client.replicate(&master_id).await }
    });
    try_all(replicate).await?;
    let clients: Vec<AdminClient> = members.iter().map(|m| m.client.clone()).collect();
    wait_ready(&clients, members.len(), deadline, start).await?;
    // Every instance starts unelectable (redis.conf); these replicas are linked and synced now.
    try_all(
        members
            .iter()
            .filter(|m| m.role == Role::Replica)
            .map(|r| r.client.config_set("cluster-replica-no-failover", "no")),
    )
    .await?;
    Ok(meshed_after)
}

/// Commands to distinct nodes go out together; the first error wins.
/// All at once, failing on the first error. Not an `async fn`: the iterator (and the closure
/// borrowing the members) is consumed here, so it is not held across an await — which keeps
/// the bootstrap future `Send` for callers that spawn it (the operator's engines).
fn try_all<F, T>(futs: impl IntoIterator<Item = F>) -> futures_util::future::TryJoinAll<F>
where
    F: std::future::Future<Output = Result<T, AdminError>>,
{
    futures_util::future::try_join_all(futs)
}

/// Every node knows every other, none still in handshake, every link connected.
async fn wait_meshed(
    members: &[Member],
    deadline: Instant,
    start: Instant,
) -> Result<(), BootstrapError> {
    loop {
        let mut waiting = None;
        for m in members {
            let nodes = m.client.cluster_nodes().await?;
            let good = nodes
                .nodes
                .iter()
                .filter(|n| !n.flags.handshake && (n.flags.myself || n.link_connected))
                .count();
            if good < members.len() {
                waiting = Some(format!(
                    "{} sees {good} of {} nodes connected",
                    m.client.addr(),
                    members.len()
                ));
                break;
            }
        }
        match waiting {
            None => return Ok(()),
            Some(w) if Instant::now() >= deadline => {
                return Err(BootstrapError::Timeout {
                    stage: "meshed",
                    after: start.elapsed(),
                    waiting_for: w,
                })
            }
            Some(_) => tokio::time::sleep(POLL).await,
        }
    }
}

/// What keeps `clients` from being failover-ready, or `None` when they are: every node in
/// `cluster_state:ok` and knowing `expected` nodes, every replica's master link up.
pub async fn not_ready_reason(
    clients: &[AdminClient],
    expected: usize,
) -> Result<Option<String>, AdminError> {
    for c in clients {
        let info = c.cluster_info().await?;
        // With cluster-require-full-coverage off, `ok` alone does not mean this node has
        // learnt every shard's slots yet: check the count too.
        if info.state != ClusterState::Ok
            || info.known_nodes as usize != expected
            || info.slots_assigned != u32::from(SLOT_COUNT)
        {
            return Ok(Some(format!(
                "{}: cluster_state {:?}, {} of {expected} nodes known, {} slots assigned",
                c.addr(),
                info.state,
                info.known_nodes,
                info.slots_assigned
            )));
        }
        if let ReplicationInfo::Replica { link_up: false, .. } = c.info_replication().await? {
            return Ok(Some(format!("{}: replica link not up yet", c.addr())));
        }
    }
    Ok(None)
}

async fn wait_ready(
    clients: &[AdminClient],
    expected: usize,
    deadline: Instant,
    start: Instant,
) -> Result<(), BootstrapError> {
    loop {
        match not_ready_reason(clients, expected).await? {
            None => return Ok(()),
            Some(w) if Instant::now() >= deadline => {
                return Err(BootstrapError::Timeout {
                    stage: "failover-ready",
                    after: start.elapsed(),
                    waiting_for: w,
                })
            }
            Some(_) => tokio::time::sleep(POLL).await,
        }
    }
}

/// Wait until the instances form a failover-ready cluster (used for adopted clusters and by
/// the benchmark to time `redis-cli --cluster create` to the same point).
pub async fn wait_failover_ready(
    instances: &[Instance],
    password: Option<&Secret>,
    timeout: Duration,
) -> Result<Duration, BootstrapError> {
    let start = Instant::now();
    let mut clients = Vec::new();
    for i in instances {
        clients.push(
            AdminClient::connect(&i.addr, password, redis_stretch_admin::DEFAULT_TIMEOUT).await?,
        );
    }
    wait_ready(&clients, instances.len(), start + timeout, start).await?;
    Ok(start.elapsed())
}
