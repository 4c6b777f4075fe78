//! The cluster check at the end of a drill, on our own admin layer: every node the cluster
//! knows is asked for `CLUSTER NODES` and `CLUSTER INFO` (and a replica for its replication
//! link), and their answers are compared. Clean means:
//!
//! - every node answers, except nodes the seed flags `fail` (the cluster agreed they are down;
//!   they are noted, not counted as a fault);
//! - every node reports `cluster_state:ok`;
//! - all 16384 slots are assigned, and every node sees the same owner for every slot;
//! - every node agrees with each other node about its role (master, or replica of which
//!   master): no two views of who is master;
//! - no node has open slots (importing or migrating);
//! - every replica's replication link is up (`INFO replication`).
//!
//! Stricter than `redis-cli --cluster check`, which only warns about open slots and does not
//! look at roles, `cluster_state` or replication links.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::time::Duration;

use redis_stretch_admin::{
    AdminClient, ClusterInfo, ClusterNode, ClusterNodes, ClusterState, NodeAddr, ReplicationInfo,
    Secret, DEFAULT_TIMEOUT,
};
use redis_stretch_topology::SLOT_COUNT;

/// The bound on the whole check: a frozen node costs one call timeout, not a hang.
const CHECK_TIMEOUT: Duration = Duration::from_secs(20);

/// More than any cluster we run: a bound on discovery in case of a corrupt table.
const MAX_NODES: usize = 1000;

/// The one-line summary of a clean check.
const CLEAN: &str = "all 16384 slots covered; all nodes agree";

/// What one node said about the cluster.
#[derive(Clone, Debug)]
pub struct NodeReport {
    pub addr: NodeAddr,
    pub nodes: ClusterNodes,
    pub info: ClusterInfo,
    /// For a node that is a replica, whether `INFO replication` says its link is up.
    pub replica_link_up: Option<bool>,
}

impl NodeReport {
    fn myself(&self) -> Option<&ClusterNode> {
        self.nodes.myself()
    }
}

/// The verdict of [`check_cluster`].
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ClusterCheck {
    /// Nodes that answered.
    pub nodes_checked: usize,
    /// Why the cluster is not healthy; empty when it is.
    pub problems: Vec<String>,
    /// Worth knowing, not a fault: unreachable nodes the cluster itself flags failed.
    pub notes: Vec<String>,
}

impl ClusterCheck {
    pub fn is_clean(&self) -> bool {
        self.problems.is_empty()
    }

    /// A short line for a table: the clean verdict, or the first problems.
    pub fn summary(&self) -> String {
        if self.is_clean() {
            let mut s = CLEAN.to_owned();
            for n in &self.notes {
                s.push_str("; ");
                s.push_str(n);
            }
            s
        } else {
            let mut s = self
                .problems
                .iter()
                .take(3)
                .cloned()
                .collect::<Vec<_>>()
                .join("; ");
            if self.problems.len() > 3 {
                s.push_str(&format!(" (and {} more)", self.problems.len() - 3));
            }
            s
        }
    }
}

/// Checks the cluster `addr` belongs to (see the module docs for what clean means), with the
/// password if any. Returns `(clean, summary)` for [`crate::DrillReport::cluster_check`].
pub async fn cluster_check(addr: &NodeAddr, password: Option<&Secret>) -> (bool, String) {
    let check = check_cluster(addr, password).await;
    (check.is_clean(), check.summary())
}

/// Checks the cluster `addr` belongs to, bounded by 20 s in all.
pub async fn check_cluster(addr: &NodeAddr, password: Option<&Secret>) -> ClusterCheck {
    match tokio::time::timeout(CHECK_TIMEOUT, collect(addr, password)).await {
        Ok(check) => check,
        Err(_) => ClusterCheck {
            problems: vec![format!("cluster check timed out after {CHECK_TIMEOUT:?}")],
            ..ClusterCheck::default()
        },
    }
}

/// Asks `addr`, then every node it or any other node knows (by id), and judges the answers.
async fn collect(seed: &NodeAddr, password: Option<&Secret>) -> ClusterCheck {
    let mut problems = Vec::new();
    let mut notes = Vec::new();
    let first = match ask(seed, password).await {
        Ok(r) => r,
        Err(e) => {
            return ClusterCheck {
                problems: vec![format!("cannot check via {seed}: {e}")],
                ..ClusterCheck::default()
            }
        }
    };
    let mut seen: BTreeSet<String> = first.myself().map(|m| m.id.clone()).into_iter().collect();
    let mut queue: VecDeque<(String, NodeAddr, bool)> = VecDeque::new();
    let mut reports = vec![first];
    enqueue(&reports[0], &mut seen, &mut queue);
    while let Some((id, addr, flagged_fail)) = queue.pop_front() {
        if reports.len() >= MAX_NODES {
            problems.push(format!("more than {MAX_NODES} nodes: not all were checked"));
            break;
        }
        match ask(&addr, password).await {
            Ok(r) => {
                if let Some(me) = r.myself().filter(|m| m.id != id) {
                    problems.push(format!(
                        "{addr} is {} but the cluster knows {} there",
                        short(&me.id),
                        short(&id)
                    ));
                }
                enqueue(&r, &mut seen, &mut queue);
                reports.push(r);
            }
            Err(e) if flagged_fail => notes.push(format!(
                "{addr} ({}) flagged failed and unreachable: {e}",
                short(&id)
            )),
            Err(e) => problems.push(format!("{addr} ({}) unreachable: {e}", short(&id))),
        }
    }
    problems.extend(judge(&reports));
    ClusterCheck {
        nodes_checked: reports.len(),
        problems,
        notes,
    }
}

/// Queue the nodes `r` knows that are not queued yet: those with an address, past the
/// handshake. `flagged_fail` is how `r` sees them.
fn enqueue(
    r: &NodeReport,
    seen: &mut BTreeSet<String>,
    queue: &mut VecDeque<(String, NodeAddr, bool)>,
) {
    for n in &r.nodes.nodes {
        if n.flags.handshake || n.flags.noaddr {
            continue;
        }
        if let Some(addr) = &n.addr {
            if seen.insert(n.id.clone()) {
                queue.push_back((n.id.clone(), addr.clone(), n.flags.fail));
            }
        }
    }
}

/// One node's answers.
async fn ask(addr: &NodeAddr, password: Option<&Secret>) -> Result<NodeReport, String> {
    let client = AdminClient::connect(addr, password, DEFAULT_TIMEOUT)
        .await
        .map_err(|e| e.to_string())?;
    let nodes = client.cluster_nodes().await.map_err(|e| e.to_string())?;
    let info = client.cluster_info().await.map_err(|e| e.to_string())?;
    let replica_link_up = match nodes.myself() {
        Some(me) if me.flags.replica => match client.info_replication().await {
            Ok(ReplicationInfo::Replica { link_up, .. }) => Some(link_up),
            Ok(ReplicationInfo::Master { .. }) => Some(false),
            Err(e) => return Err(e.to_string()),
        },
        _ => None,
    };
    Ok(NodeReport {
        addr: addr.clone(),
        nodes,
        info,
        replica_link_up,
    })
}

/// What is wrong with the cluster, from the answers of the nodes that gave them (the first
/// one the seed). Empty when every check passes; pure, so that it is tested without servers.
pub fn judge(reports: &[NodeReport]) -> Vec<String> {
    let mut problems = Vec::new();
    let names = names(reports);
    let name = |id: &str| {
        names
            .get(id)
            .cloned()
            .unwrap_or_else(|| short(id).to_owned())
    };
    let mut selves = Vec::new();
    for r in reports {
        match r.myself() {
            Some(me) => selves.push((r, me)),
            None => problems.push(format!("{}: CLUSTER NODES has no `myself` line", r.addr)),
        }
    }

    // Every node: cluster_state:ok, no open slots, a replica's link up.
    for (r, me) in &selves {
        if r.info.state != ClusterState::Ok {
            problems.push(format!("{}: cluster_state:fail", r.addr));
        }
        let open: Vec<u16> = r
            .nodes
            .nodes
            .iter()
            .flat_map(|n| n.migrating_slots.iter().copied())
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        if !open.is_empty() {
            problems.push(format!(
                "{}: open (importing or migrating) slots {}",
                r.addr,
                list(&open)
            ));
        }
        if me.flags.replica && r.replica_link_up != Some(true) {
            problems.push(format!(
                "{}: replica of {} with its replication link down",
                r.addr,
                me.master_id.as_deref().map_or("?".to_owned(), name)
            ));
        }
    }

    // Who is master: each node's role as it says it, as every other node sees it.
    for (r, me) in &selves {
        let says = role(me);
        for (o, _) in &selves {
            if o.addr == r.addr {
                continue;
            }
            match o.nodes.by_id(&me.id) {
                None => problems.push(format!("{} does not know {}", o.addr, r.addr)),
                Some(seen) if role(seen) != says => problems.push(format!(
                    "{} sees {} as {}, it says {}",
                    o.addr,
                    r.addr,
                    describe(&role(seen), &name),
                    describe(&says, &name)
                )),
                Some(_) => {}
            }
        }
    }

    // Slot owners: the same in every view, and every slot assigned.
    let views: Vec<(&NodeAddr, Vec<Option<&str>>)> = selves
        .iter()
        .map(|(r, _)| (&r.addr, owners(&r.nodes)))
        .collect();
    let mut agree = true;
    if let Some((first_addr, first)) = views.first() {
        for (addr, view) in &views[1..] {
            let differ: Vec<usize> = (0..first.len()).filter(|&s| view[s] != first[s]).collect();
            if let Some(&s) = differ.first() {
                agree = false;
                problems.push(format!(
                    "{addr} and {first_addr} disagree on the owner of {} slots (slot {s}: {} vs {})",
                    differ.len(),
                    view[s].map_or("none".to_owned(), name),
                    first[s].map_or("none".to_owned(), name)
                ));
            }
        }
        // When they agree one view says it for all; otherwise each says its own.
        let covering = if agree { &views[..1] } else { &views[..] };
        for (addr, view) in covering {
            let free: Vec<usize> = (0..view.len()).filter(|&s| view[s].is_none()).collect();
            if let Some(s) = free.first() {
                let whose = if agree {
                    String::new()
                } else {
                    format!(" as {addr} sees it")
                };
                problems.push(format!(
                    "{} of {SLOT_COUNT} slots unassigned{whose} (first: slot {s})",
                    free.len()
                ));
            }
        }
    }
    problems
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum Role<'a> {
    Master,
    Replica(Option<&'a str>),
    Neither,
}

fn role(n: &ClusterNode) -> Role<'_> {
    if n.flags.replica {
        Role::Replica(n.master_id.as_deref())
    } else if n.flags.master {
        Role::Master
    } else {
        Role::Neither
    }
}

fn describe(role: &Role<'_>, name: &impl Fn(&str) -> String) -> String {
    match role {
        Role::Master => "master".to_owned(),
        Role::Replica(Some(m)) => format!("replica of {}", name(m)),
        Role::Replica(None) => "replica of an unknown master".to_owned(),
        Role::Neither => "neither master nor replica".to_owned(),
    }
}

/// The owner id of every slot in one node's view: masters' slot ranges.
fn owners(nodes: &ClusterNodes) -> Vec<Option<&str>> {
    let mut owners = vec![None; usize::from(SLOT_COUNT)];
    for n in nodes.nodes.iter().filter(|n| !n.flags.replica) {
        for r in &n.slots {
            for s in r.start..=r.end {
                if let Some(o) = owners.get_mut(usize::from(s)) {
                    *o = Some(n.id.as_str());
                }
            }
        }
    }
    owners
}

/// `id` → `address (id8)` for messages, from what the nodes say about themselves.
fn names(reports: &[NodeReport]) -> BTreeMap<String, String> {
    let mut names = BTreeMap::new();
    for r in reports {
        for n in &r.nodes.nodes {
            if let Some(addr) = &n.addr {
                names
                    .entry(n.id.clone())
                    .or_insert_with(|| format!("{addr} ({})", short(&n.id)));
            }
        }
    }
    names
}

fn short(id: &str) -> &str {
    id.get(..8).unwrap_or(id)
}

/// `1, 2, 3` for a few slots, the first ones and a count for many.
fn list(slots: &[u16]) -> String {
    let shown: Vec<String> = slots.iter().take(5).map(u16::to_string).collect();
    if slots.len() > 5 {
        format!("{} and {} more", shown.join(", "), slots.len() - 5)
    } else {
        shown.join(", ")
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
    use super::*;

    const M1: &str = "1111111111111111111111111111111111111111";
    const M2: &str = "2222222222222222222222222222222222222222";
    const R1: &str = "3333333333333333333333333333333333333333";

    /// `CLUSTER NODES` of a 2-master/1-replica cluster as the node at `me` (1, 2 or 3) sees it,
    /// with `edit` applied to the text.
    fn nodes_of(me: usize, edit: impl Fn(String) -> String) -> ClusterNodes {
        let mine = |i: usize| if i == me { "myself," } else { "" };
        let text = format!(
            "{M1} 127.0.0.1:7001@17001 {}master - 0 0 1 connected 0-8191\n\
             {M2} 127.0.0.1:7002@17002 {}master - 0 0 2 connected 8192-16383\n\
             {R1} 127.0.0.1:7003@17003 {}slave {M1} 0 0 1 connected\n",
            mine(1),
            mine(2),
            mine(3)
        );
        ClusterNodes::parse(&edit(text)).unwrap()
    }

    fn info(state: &str) -> ClusterInfo {
        ClusterInfo::parse(&format!("cluster_state:{state}\r\n")).unwrap()
    }

    fn healthy(edit: impl Fn(usize, String) -> String) -> Vec<NodeReport> {
        (1..=3)
            .map(|i| NodeReport {
                addr: NodeAddr::new("127.0.0.1", 7000 + i as u16),
                nodes: nodes_of(i, |t| edit(i, t)),
                info: info("ok"),
                replica_link_up: (i == 3).then_some(true),
            })
            .collect()
    }

    fn one_problem(reports: &[NodeReport], needle: &str) {
        let problems = judge(reports);
        assert!(
            problems.iter().any(|p| p.contains(needle)),
            "{needle:?} not in {problems:?}"
        );
    }

    #[test]
    fn a_healthy_cluster_is_clean() {
        assert_eq!(judge(&healthy(|_, t| t)), Vec::<String>::new());
        let c = ClusterCheck {
            nodes_checked: 3,
            ..ClusterCheck::default()
        };
        assert!(c.is_clean());
        assert_eq!(c.summary(), CLEAN);
    }

    #[test]
    fn unassigned_slots_are_found() {
        let r = healthy(|_, t| t.replace("8192-16383", "8192-16382"));
        assert_eq!(
            judge(&r),
            vec!["1 of 16384 slots unassigned (first: slot 16383)".to_owned()]
        );
    }

    #[test]
    fn disagreeing_owners_are_found() {
        // Node 2 believes it also owns slot 5 (a stale view).
        let r = healthy(|i, t| {
            if i == 2 {
                t.replace("0-8191", "0-4 6-8191")
                    .replace("8192-16383", "5 8192-16383")
            } else {
                t
            }
        });
        one_problem(
            &r,
            "127.0.0.1:7002 and 127.0.0.1:7001 disagree on the owner of 1 slots (slot 5",
        );
    }

    #[test]
    fn two_views_of_who_is_master_are_found() {
        // Node 1 still thinks the replica is its replica; the replica says it is a master now.
        let r = healthy(|i, t| {
            if i == 3 {
                t.replace(&format!("myself,slave {M1}"), "myself,master -")
            } else {
                t
            }
        });
        one_problem(&r, "127.0.0.1:7001 sees 127.0.0.1:7003 as replica of");
    }

    #[test]
    fn open_slots_state_and_links_are_found() {
        let r = healthy(|i, t| {
            if i == 1 {
                t.replace("0-8191", &format!("0-8191 [42->-{M2}]"))
            } else {
                t
            }
        });
        one_problem(&r, "127.0.0.1:7001: open (importing or migrating) slots 42");
        let mut r = healthy(|_, t| t);
        r[1].info = info("fail");
        one_problem(&r, "127.0.0.1:7002: cluster_state:fail");
        let mut r = healthy(|_, t| t);
        r[2].replica_link_up = Some(false);
        one_problem(
            &r,
            "127.0.0.1:7003: replica of 127.0.0.1:7001 (11111111) with its",
        );
    }

    #[test]
    fn summaries_are_short() {
        let c = ClusterCheck {
            nodes_checked: 1,
            problems: (0..5).map(|i| format!("p{i}")).collect(),
            notes: vec![],
        };
        assert!(!c.is_clean());
        assert_eq!(c.summary(), "p0; p1; p2 (and 2 more)");
        let c = ClusterCheck {
            nodes_checked: 5,
            problems: vec![],
            notes: vec!["n".into()],
        };
        assert_eq!(c.summary(), format!("{CLEAN}; n"));
    }
}
