//! Printing a cluster snapshot for people: one block per zone, then the verdicts.

use redis_stretch_engine::{NodeState, Snapshot};
use redis_stretch_topology::{format_ranges, summary_line, SLOT_COUNT};

use crate::table::Table;

fn short_id(id: Option<&str>) -> String {
    id.map_or_else(|| "?".to_owned(), |i| i.chars().take(8).collect())
}

/// The server's own words in an error (`WRONGPASS …`, `LOADING …`), without the node and
/// command the admin layer puts before them.
fn refusal(e: &str) -> String {
    let words = e.rsplit(": ").next().unwrap_or(e);
    words.chars().take(60).collect()
}

fn master_of(snap: &Snapshot, n: &NodeState) -> String {
    match n.master_id.as_deref() {
        None => "-".to_owned(),
        Some(id) => snap
            .node_by_id(id)
            .and_then(|m| m.addr.as_ref())
            .map_or_else(|| short_id(Some(id)), ToString::to_string),
    }
}

/// The status table: one block per zone, then the verdicts.
pub fn print_snapshot(snap: &Snapshot, header: Option<&str>) {
    if let Some(h) = header {
        let ok = snap
            .nodes
            .iter()
            .filter(|n| n.cluster_state == Some(redis_stretch_admin::ClusterState::Ok))
            .count();
        let twice = snap.slots_claimed_twice();
        println!(
            "{h}: {} nodes, cluster_state ok on {ok}, {} of {SLOT_COUNT} slots served ({} writable){}",
            snap.nodes.len(),
            snap.slots_covered(),
            snap.slots_writable(),
            if twice > 0 {
                format!(", {twice} claimed by two masters (a partition: the higher configEpoch wins at the heal)")
            } else {
                String::new()
            }
        );
        // Redis's own peer tables tell a cut between the zones, engine or not.
        let now = redis_stretch_engine::unix_ms();
        if let Some(ms) =
            redis_stretch_engine::decide::cut_silence_ms(snap, now, 1000).filter(|ms| *ms >= 1000)
        {
            println!(
                "partition: the zones have not heard each other for {:.1} s (every pair across silent, pings pending)",
                ms as f64 / 1000.0
            );
        }
    }
    let mut zones = snap.zones.clone();
    for n in &snap.nodes {
        if !zones.contains(&n.zone) {
            zones.push(n.zone.clone());
        }
    }
    for zone in &zones {
        let nodes: Vec<&NodeState> = snap.nodes.iter().filter(|n| &n.zone == zone).collect();
        let masters = nodes.iter().filter(|n| n.owns_slots()).count();
        println!("\n{zone} ({} instances, {masters} masters)", nodes.len());
        let mut t = Table::new(&[
            "ID", "ADDRESS", "ROLE", "MASTER", "SLOTS", "LINK", "STATE", "WRITES", "SERVER", "AZ",
        ]);
        for n in nodes {
            t.row(vec![
                short_id(n.id.as_deref()),
                n.addr
                    .as_ref()
                    .map_or_else(|| "?".to_owned(), ToString::to_string),
                n.role.map_or("?", |r| r.as_str()).to_owned(),
                master_of(snap, n),
                format_ranges(&n.slots),
                match n.link_up {
                    Some(true) => "up".to_owned(),
                    Some(false) => "down".to_owned(),
                    None => "-".to_owned(),
                },
                match (&n.error, n.reachable) {
                    (_, true) => "up".to_owned(),
                    // Alive, but it would not tell the engine anything: say what it said.
                    (Some(e), false) if n.refuses => format!("refuses: {}", refusal(e)),
                    (Some(e), false) if e.contains("timed out") => "down (timeout)".to_owned(),
                    _ => "down".to_owned(),
                },
                n.write_state()
                    .map_or_else(|| "-".to_owned(), |w| w.to_string()),
                match (n.server, &n.version) {
                    (Some(s), Some(v)) => format!("{} {v}", s.as_str()),
                    (Some(s), None) => s.as_str().to_owned(),
                    _ => "-".to_owned(),
                },
                n.availability_zone
                    .clone()
                    .unwrap_or_else(|| "-".to_owned()),
            ]);
        }
        print!("{}", t.render(2));
    }
    let verdicts = snap.verdicts();
    println!("\nverdict: {}", summary_line(&verdicts));
    for v in &verdicts {
        println!("  loss of {}: {} ({})", v.zone, v.verdict, v.reason);
    }
}
