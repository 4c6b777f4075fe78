//! `CLUSTER INFO` and `INFO replication`.

use serde::{Deserialize, Serialize};

use redis_stretch_model::ClusterState;

use super::key_values;
use crate::ParseError;

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClusterInfo {
    pub state: ClusterState,
    pub slots_assigned: u32,
    pub slots_ok: u32,
    pub slots_pfail: u32,
    pub slots_fail: u32,
    pub known_nodes: u32,
    /// Masters serving at least one slot: the voters of an election.
    pub size: u32,
    pub current_epoch: u64,
    pub my_epoch: u64,
}

fn number<T: std::str::FromStr>(line: usize, key: &str, v: &str) -> Result<T, ParseError> {
    v.trim()
        .parse()
        .map_err(|_| ParseError::new(line, format!("{key} `{v}` is not a number")))
}

impl ClusterInfo {
    pub fn parse(text: &str) -> Result<Self, ParseError> {
        let mut state = None;
        let mut info = ClusterInfo {
            state: ClusterState::Fail,
            slots_assigned: 0,
            slots_ok: 0,
            slots_pfail: 0,
            slots_fail: 0,
            known_nodes: 0,
            size: 0,
            current_epoch: 0,
            my_epoch: 0,
        };
        for (line, k, v) in key_values(text) {
            match k {
                "cluster_state" => {
                    state = Some(match v.trim() {
                        "ok" => ClusterState::Ok,
                        "fail" => ClusterState::Fail,
                        other => {
                            return Err(ParseError::new(
                                line,
                                format!("cluster_state `{other}` is unknown"),
                            ))
                        }
                    })
                }
                "cluster_slots_assigned" => info.slots_assigned = number(line, k, v)?,
                "cluster_slots_ok" => info.slots_ok = number(line, k, v)?,
                "cluster_slots_pfail" => info.slots_pfail = number(line, k, v)?,
                "cluster_slots_fail" => info.slots_fail = number(line, k, v)?,
                "cluster_known_nodes" => info.known_nodes = number(line, k, v)?,
                "cluster_size" => info.size = number(line, k, v)?,
                "cluster_current_epoch" => info.current_epoch = number(line, k, v)?,
                "cluster_my_epoch" => info.my_epoch = number(line, k, v)?,
                _ => {}
            }
        }
        info.state = state.ok_or_else(|| ParseError::new(0, "no cluster_state line"))?;
        Ok(info)
    }
}

/// One replica as its master reports it (`slave0:ip=...,port=...,state=online,offset=...,lag=...`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReplicaInfo {
    pub ip: String,
    pub port: u16,
    pub state: String,
    pub offset: u64,
    /// Seconds since the replica last acknowledged; `None` when it never has (Valkey reports
    /// `lag=-1` for a replica that connected but sent no `REPLCONF ACK` yet).
    pub lag: Option<u64>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "role", rename_all = "lowercase")]
pub enum ReplicationInfo {
    Master {
        master_repl_offset: u64,
        replicas: Vec<ReplicaInfo>,
    },
    Replica {
        master_host: String,
        master_port: u16,
        /// `master_link_status:up`: only a replica whose link is up can be elected without
        /// losing what its master acknowledged.
        link_up: bool,
        sync_in_progress: bool,
        /// `master_link_down_since_seconds` while the link is down; `None` when it is up, or
        /// when it never was (Redis reports -1): such a replica holds no usable copy.
        link_down_since_s: Option<u64>,
        /// `slave_repl_offset`: how far this replica has read its master's stream; the
        /// engine takes over on the replica with the highest one.
        repl_offset: u64,
    },
}

impl ReplicationInfo {
    pub fn parse(text: &str) -> Result<Self, ParseError> {
        let mut role = None;
        let (mut offset, mut replicas) = (0u64, Vec::new());
        let (mut host, mut port, mut link_up, mut syncing, mut slave_offset) =
            (None, None, false, false, 0u64);
        let mut down_since = None;
        for (line, k, v) in key_values(text) {
            match k {
                "role" => role = Some((line, v.trim().to_owned())),
                "master_repl_offset" => offset = number(line, k, v)?,
                "master_host" => host = Some(v.trim().to_owned()),
                "master_port" => port = Some(number(line, k, v)?),
                "master_link_status" => link_up = v.trim() == "up",
                "master_sync_in_progress" => syncing = v.trim() == "1",
                "master_link_down_since_seconds" => down_since = v.trim().parse::<u64>().ok(),
                "slave_repl_offset" => slave_offset = number(line, k, v)?,
                k if k.len() > 5
                    && k.starts_with("slave")
                    && k[5..].bytes().all(|b| b.is_ascii_digit()) =>
                {
                    replicas.push(parse_replica(line, v)?);
                }
                _ => {}
            }
        }
        match role {
            Some((_, r)) if r == "master" => Ok(ReplicationInfo::Master {
                master_repl_offset: offset,
                replicas,
            }),
            Some((line, r)) if r == "slave" => Ok(ReplicationInfo::Replica {
                master_host: host
                    .ok_or_else(|| ParseError::new(line, "replica without master_host"))?,
                master_port: port
                    .ok_or_else(|| ParseError::new(line, "replica without master_port"))?,
                link_up,
                sync_in_progress: syncing,
                link_down_since_s: if link_up { None } else { down_since },
                repl_offset: slave_offset,
            }),
            Some((line, r)) => Err(ParseError::new(line, format!("role `{r}` is unknown"))),
            None => Err(ParseError::new(0, "no role line")),
        }
    }

    /// The offset to compare replicas by (for a master, its own stream position).
    pub fn offset(&self) -> u64 {
        match self {
            ReplicationInfo::Master {
                master_repl_offset, ..
            } => *master_repl_offset,
            ReplicationInfo::Replica { repl_offset, .. } => *repl_offset,
        }
    }
}

fn parse_replica(line: usize, v: &str) -> Result<ReplicaInfo, ParseError> {
    let (mut ip, mut port, mut state, mut offset, mut lag) = (None, None, None, 0, Some(0));
    for kv in v.trim().split(',') {
        let Some((k, val)) = kv.split_once('=') else {
            return Err(ParseError::new(line, format!("`{kv}` is not key=value")));
        };
        match k {
            "ip" => ip = Some(val.to_owned()),
            "port" => port = Some(number(line, k, val)?),
            "state" => state = Some(val.to_owned()),
            "offset" => offset = number(line, k, val)?,
            // A negative lag is no acknowledgement yet, not a malformed reply.
            "lag" if val.starts_with('-') => {
                number::<i64>(line, k, val)?;
                lag = None;
            }
            "lag" => lag = Some(number(line, k, val)?),
            _ => {}
        }
    }
    Ok(ReplicaInfo {
        ip: ip.ok_or_else(|| ParseError::new(line, "replica without ip"))?,
        port: port.ok_or_else(|| ParseError::new(line, "replica without port"))?,
        state: state.unwrap_or_default(),
        offset,
        lag,
    })
}
