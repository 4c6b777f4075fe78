//! The network lab: partitions and blips between the zones of a local cluster that runs in its
//! own network namespace (`local up --netns`, see [`crate::netns`]).
//!
//! A fault is one nft table, `inet redis_stretch_lab`, inside that namespace (never in the
//! host's): a chain on the `output` hook whose rules `drop` packets between two /24s on `lo`.
//! `drop`, not `reject`: a dark link is silence and timeouts, not refused connections. Every
//! instance binds its outgoing links to its own address (`bind-source-addr`), so traffic
//! between instances carries its zone's /24; the engine and the CLI connect from 127.0.0.1,
//! a third site reaching both zones unless `--engine-with` puts them inside one.
//!
//! The faults in force are recorded in `fault.json` in the state dir, for `heal` and `status`.

use std::collections::BTreeMap;
use std::fmt;
use std::future::Future;
use std::time::{Duration, Instant};

use nix::sys::signal::Signal;
use serde::{Deserialize, Serialize};

use crate::netns;
use crate::process;
use crate::state::{write_atomic, State, StateDir};
use crate::LocalError;

/// The one nft table the lab uses, inside the cluster's namespace.
pub const LAB_TABLE: &str = "redis_stretch_lab";
/// The faults in force, in the state dir.
pub const FAULT_FILE: &str = "fault.json";
/// Where the engine and the CLI connect from: the kernel's source address for 127.0.0.0/8.
pub const THIRD_SITE: &str = "127.0.0.1";

/// A network fault between zones.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum NetFault {
    /// Traffic between two zones dropped, both ways; with `engine_with`, also between
    /// 127.0.0.1 (engine, CLI, anything not bound to a zone) and the other zone.
    Cut {
        zones: [String; 2],
        #[serde(default)]
        engine_with: Option<String>,
    },
    /// One zone cut off from everything else: the other zone and 127.0.0.1.
    Isolate { zone: String },
}

impl fmt::Display for NetFault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NetFault::Cut {
                zones: [a, b],
                engine_with: None,
            } => write!(f, "cut {a} | {b}"),
            NetFault::Cut {
                zones: [a, b],
                engine_with: Some(z),
            } => write!(f, "cut {a} | {b}, engine inside {z}"),
            NetFault::Isolate { zone } => write!(f, "{zone} isolated"),
        }
    }
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
struct FaultRecord {
    faults: Vec<NetFault>,
}

/// Each zone's /24 (`127.0.<i>.0/24`), from its instances' addresses.
pub fn zone_subnets(state: &State) -> Result<BTreeMap<String, String>, LocalError> {
    let mut out = BTreeMap::new();
    for zone in &state.zones {
        let mut nets = state
            .instances
            .iter()
            .filter(|i| &i.zone == zone)
            .map(|i| match i.host.rsplit_once('.') {
                Some((net, _)) => Ok(format!("{net}.0/24")),
                None => Err(LocalError::Usage(format!(
                    "{}: host {} is not IPv4",
                    i.name, i.host
                ))),
            })
            .collect::<Result<Vec<_>, _>>()?;
        nets.dedup();
        match nets.as_slice() {
            [one] => {
                out.insert(zone.clone(), one.clone());
            }
            _ => {
                return Err(LocalError::Usage(format!(
                    "zone {zone} does not sit in exactly one /24 ({})",
                    nets.join(", ")
                )))
            }
        }
    }
    Ok(out)
}

fn subnet<'a>(subnets: &'a BTreeMap<String, String>, zone: &str) -> Result<&'a str, LocalError> {
    subnets.get(zone).map(String::as_str).ok_or_else(|| {
        LocalError::Usage(format!(
            "no zone `{zone}` in this cluster (zones: {})",
            subnets.keys().cloned().collect::<Vec<_>>().join(", ")
        ))
    })
}

/// Drop both ways between `from` and `to` (each an address or prefix; `!=` negates `to`).
fn drop_pair(out: &mut String, from: &str, to: &str, negate: bool) {
    let op = if negate { "!= " } else { "" };
    out.push_str(&format!(
        "\t\toifname \"lo\" ip saddr {from} ip daddr {op}{to} drop\n"
    ));
    out.push_str(&format!(
        "\t\toifname \"lo\" ip saddr {op}{to} ip daddr {from} drop\n"
    ));
}

/// The nft table for `faults` over zones at `subnets`: a pure function, checked by unit tests.
/// An empty list gives a table with no rules.
pub fn ruleset(
    faults: &[NetFault],
    subnets: &BTreeMap<String, String>,
) -> Result<String, LocalError> {
    let mut rules = String::new();
    for fault in faults {
        rules.push_str(&format!("\t\t# {fault}\n"));
        match fault {
            NetFault::Cut {
                zones: [a, b],
                engine_with,
            } => {
                if a == b {
                    return Err(LocalError::Usage(format!(
                        "cut between {a} and itself: name two different zones"
                    )));
                }
                let (na, nb) = (subnet(subnets, a)?, subnet(subnets, b)?);
                drop_pair(&mut rules, na, nb, false);
                if let Some(z) = engine_with {
                    let far = if z == a {
                        nb
                    } else if z == b {
                        na
                    } else {
                        return Err(LocalError::Usage(format!(
                            "--engine-with {z}: must be one of the two zones cut ({a}, {b})"
                        )));
                    };
                    drop_pair(&mut rules, THIRD_SITE, far, false);
                }
            }
            NetFault::Isolate { zone } => {
                let n = subnet(subnets, zone)?;
                drop_pair(&mut rules, n, n, true);
            }
        }
    }
    Ok(format!(
        "table inet {LAB_TABLE} {{\n\
         \tchain output {{\n\
         \t\ttype filter hook output priority 0; policy accept;\n\
         {rules}\
         \t}}\n\
         }}\n"
    ))
}

/// One nft transaction that replaces the lab table atomically: create it (a no-op when it
/// exists), delete it, and, unless `table` is `None`, define it anew.
fn transaction(table: Option<&str>) -> String {
    format!(
        "table inet {LAB_TABLE} {{\n}}\ndelete table inet {LAB_TABLE}\n{}",
        table.unwrap_or_default()
    )
}

/// The cluster's namespace, which must exist: the lab needs `local up --netns`.
fn lab_netns(dir: &StateDir, state: &State) -> Result<String, LocalError> {
    let Some(ns) = state.netns.clone() else {
        return Err(LocalError::Usage(format!(
            "the local cluster in {} does not run in its own network namespace; network faults \
             need one: `redis-stretch local up --netns` (as root)",
            dir.path().display()
        )));
    };
    netns::check_prerequisites()?;
    if !netns::exists(&ns) {
        return Err(LocalError::Refused(format!(
            "the cluster's network namespace {ns} is gone; bring the cluster down and up again"
        )));
    }
    Ok(ns)
}

/// The faults in force (none when `fault.json` is absent).
pub fn active_faults(dir: &StateDir) -> Result<Vec<NetFault>, LocalError> {
    let path = dir.file(FAULT_FILE);
    match std::fs::read_to_string(&path) {
        Ok(text) => serde_json::from_str::<FaultRecord>(&text)
            .map(|r| r.faults)
            .map_err(|e| LocalError::BadState {
                path,
                why: e.to_string(),
            }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Vec::new()),
        Err(e) => Err(LocalError::Io { path, source: e }),
    }
}

/// Put exactly `faults` in force inside the cluster's namespace, and record them.
pub fn apply(dir: &StateDir, faults: &[NetFault]) -> Result<(), LocalError> {
    let state = dir.load()?;
    let ns = lab_netns(dir, &state)?;
    let table = if faults.is_empty() {
        None
    } else {
        Some(ruleset(faults, &zone_subnets(&state)?)?)
    };
    netns::exec_in(
        &ns,
        "nft",
        &["-f", "-"],
        Some(&transaction(table.as_deref())),
    )?;
    let path = dir.file(FAULT_FILE);
    if faults.is_empty() {
        match std::fs::remove_file(&path) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(LocalError::Io { path, source: e }),
        }
    } else {
        let text = serde_json::to_string_pretty(&FaultRecord {
            faults: faults.to_vec(),
        })
        .map_err(|e| LocalError::BadState {
            path: path.clone(),
            why: e.to_string(),
        })?;
        write_atomic(&path, text.as_bytes(), 0o644)
    }
}

/// `local cut A B [--engine-with Z]`: this cut replaces whatever fault was in force.
pub fn cut(
    dir: &StateDir,
    a: &str,
    b: &str,
    engine_with: Option<&str>,
) -> Result<NetFault, LocalError> {
    let fault = NetFault::Cut {
        zones: [a.to_owned(), b.to_owned()],
        engine_with: engine_with.map(str::to_owned),
    };
    apply(dir, std::slice::from_ref(&fault))?;
    Ok(fault)
}

/// `local heal`: remove every network fault; returns those that were in force.
pub fn heal(dir: &StateDir) -> Result<Vec<NetFault>, LocalError> {
    let was = active_faults(dir)?;
    apply(dir, &[])?;
    Ok(was)
}

/// How a blip takes a zone away.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BlipKind {
    /// SIGSTOP its processes, SIGCONT after.
    Stop,
    /// Isolate it on the network (nft), heal after.
    Cut,
}

#[derive(Debug)]
pub struct BlipReport {
    /// What was hit (processes frozen, or the fault applied).
    pub hit: Vec<String>,
    pub lasted: Duration,
    /// Ended early by `stop` (Ctrl-C); the zone was brought back all the same.
    pub interrupted: bool,
}

/// `local blip ZONE --for D`: take `zone` away for `duration` (or until `stop` resolves), then
/// bring it back — always, also when interrupted. A cut blip restores the faults in force
/// before it.
pub async fn blip(
    dir: &StateDir,
    zone: &str,
    duration: Duration,
    kind: BlipKind,
    stop: impl Future<Output = ()>,
) -> Result<BlipReport, LocalError> {
    let state = dir.load()?;
    if !state.zones.iter().any(|z| z == zone) {
        return Err(LocalError::Usage(format!(
            "no zone `{zone}` in this cluster (zones: {})",
            state.zones.join(", ")
        )));
    }
    let before = active_faults(dir)?;
    let hit = match kind {
        BlipKind::Stop => crate::kill_zone(dir, zone, crate::FaultSignal::Stop)?,
        BlipKind::Cut => {
            let isolate = NetFault::Isolate {
                zone: zone.to_owned(),
            };
            let mut with = before.clone();
            with.push(isolate.clone());
            apply(dir, &with)?;
            vec![isolate.to_string()]
        }
    };
    let started = Instant::now();
    let interrupted = tokio::select! {
        () = tokio::time::sleep(duration) => false,
        () = stop => true,
    };
    let lasted = started.elapsed();
    match kind {
        BlipKind::Stop => {
            for i in state.instances.iter().filter(|i| i.zone == zone) {
                if process::is_running(i) == process::ProcessStatus::Stopped {
                    process::send(i, Signal::SIGCONT)?;
                }
            }
        }
        BlipKind::Cut => apply(dir, &before)?,
    }
    Ok(BlipReport {
        hit,
        lasted,
        interrupted,
    })
}

/// `1.5s`, `500ms`, `3s`, `2m`: a duration for `--for`.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let t = text.trim();
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let value: f64 = num
        .parse()
        .map_err(|_| format!("`{text}`: write a number and a unit, e.g. 1.5s, 500ms, 3s"))?;
    let secs = match unit.trim() {
        "ms" => value / 1000.0,
        "s" => value,
        "m" => value * 60.0,
        "" => return Err(format!("`{text}`: give a unit (ms, s or m), e.g. 1.5s")),
        u => return Err(format!("`{text}`: unknown unit `{u}` (ms, s or m)")),
    };
    if !secs.is_finite() || secs <= 0.0 || secs > 24.0 * 3600.0 {
        return Err(format!("`{text}`: must be more than 0 and at most 24h"));
    }
    Ok(Duration::from_secs_f64(secs))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nets() -> BTreeMap<String, String> {
        BTreeMap::from([
            ("dc-a".to_owned(), "127.0.1.0/24".to_owned()),
            ("dc-b".to_owned(), "127.0.2.0/24".to_owned()),
        ])
    }

    fn cut(engine_with: Option<&str>) -> NetFault {
        NetFault::Cut {
            zones: ["dc-a".into(), "dc-b".into()],
            engine_with: engine_with.map(Into::into),
        }
    }

    #[test]
    fn a_cut_drops_both_directions_between_the_two_zones_only() {
        let r = ruleset(&[cut(None)], &nets()).unwrap();
        assert_eq!(
            r,
            "table inet redis_stretch_lab {\n\
             \tchain output {\n\
             \t\ttype filter hook output priority 0; policy accept;\n\
             \t\t# cut dc-a | dc-b\n\
             \t\toifname \"lo\" ip saddr 127.0.1.0/24 ip daddr 127.0.2.0/24 drop\n\
             \t\toifname \"lo\" ip saddr 127.0.2.0/24 ip daddr 127.0.1.0/24 drop\n\
             \t}\n\
             }\n"
        );
        assert!(!r.contains("reject"), "a dark link is silence");
        assert!(
            !r.contains("127.0.0.1"),
            "the third site still reaches both"
        );
    }

    #[test]
    fn engine_with_a_zone_also_loses_the_far_zone() {
        let r = ruleset(&[cut(Some("dc-a"))], &nets()).unwrap();
        assert!(
            r.contains("ip saddr 127.0.0.1 ip daddr 127.0.2.0/24 drop"),
            "{r}"
        );
        assert!(
            r.lines()
                .filter(|l| l.contains("127.0.0.1"))
                .all(|l| !l.contains("127.0.1.0/24")),
            "the engine keeps its own zone: {r}"
        );
        assert_eq!(r.matches(" drop\n").count(), 4);
        let r = ruleset(&[cut(Some("dc-b"))], &nets()).unwrap();
        assert!(
            r.contains("ip saddr 127.0.0.1 ip daddr 127.0.1.0/24 drop"),
            "{r}"
        );
        assert!(ruleset(&[cut(Some("dc-c"))], &nets()).is_err());
    }

    #[test]
    fn isolating_a_zone_drops_everything_that_crosses_its_edge() {
        let r = ruleset(
            &[NetFault::Isolate {
                zone: "dc-b".into(),
            }],
            &nets(),
        )
        .unwrap();
        assert!(
            r.contains("ip saddr 127.0.2.0/24 ip daddr != 127.0.2.0/24 drop"),
            "{r}"
        );
        assert!(
            r.contains("ip saddr != 127.0.2.0/24 ip daddr 127.0.2.0/24 drop"),
            "{r}"
        );
        assert_eq!(r.matches(" drop\n").count(), 2);
    }

    #[test]
    fn unknown_or_identical_zones_are_usage_errors() {
        let bad = NetFault::Cut {
            zones: ["dc-a".into(), "dc-x".into()],
            engine_with: None,
        };
        assert!(matches!(
            ruleset(&[bad], &nets()),
            Err(LocalError::Usage(_))
        ));
        let same = NetFault::Cut {
            zones: ["dc-a".into(), "dc-a".into()],
            engine_with: None,
        };
        assert!(matches!(
            ruleset(&[same], &nets()),
            Err(LocalError::Usage(_))
        ));
    }

    #[test]
    fn no_fault_is_an_empty_chain_and_the_transaction_replaces_the_table() {
        let r = ruleset(&[], &nets()).unwrap();
        assert!(!r.contains("drop"));
        let t = transaction(None);
        assert_eq!(
            t,
            "table inet redis_stretch_lab {\n}\ndelete table inet redis_stretch_lab\n"
        );
        assert!(transaction(Some(&r)).ends_with(&r));
    }

    #[test]
    fn fault_records_round_trip() {
        let rec = FaultRecord {
            faults: vec![
                cut(Some("dc-a")),
                NetFault::Isolate {
                    zone: "dc-b".into(),
                },
            ],
        };
        let text = serde_json::to_string(&rec).unwrap();
        assert!(text.contains("\"kind\":\"cut\""), "{text}");
        assert_eq!(serde_json::from_str::<FaultRecord>(&text).unwrap(), rec);
    }

    #[test]
    fn durations_parse_like_the_docs_say() {
        assert_eq!(parse_duration("1.5s"), Ok(Duration::from_millis(1500)));
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("3s"), Ok(Duration::from_secs(3)));
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
        for bad in ["", "3", "s", "1.5h", "0s", "-1s", "1..5s"] {
            assert!(parse_duration(bad).is_err(), "{bad}");
        }
    }
}
