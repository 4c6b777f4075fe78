//! `CLUSTER NODES`: one line per node as this node sees it.
//! `<id> <ip:port@cport[,hostname]> <flags> <master> <ping-sent> <pong-recv> <config-epoch>
//! <link-state> <slot> <slot> ...` (https://redis.io/commands/cluster-nodes/).

use redis_stretch_model::SlotRange;
use serde::{Deserialize, Serialize};

use crate::{NodeAddr, ParseError};

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodeFlags {
    pub myself: bool,
    pub master: bool,
    pub replica: bool,
    /// `fail?`: this node suspects the peer (PFAIL).
    pub pfail: bool,
    /// `fail`: a majority of masters agreed the peer is down.
    pub fail: bool,
    pub handshake: bool,
    pub noaddr: bool,
    pub nofailover: bool,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClusterNode {
    pub id: String,
    /// `None` for `:0` (a node whose address is not known yet).
    pub addr: Option<NodeAddr>,
    pub bus_port: Option<u16>,
    pub hostname: Option<String>,
    pub flags: NodeFlags,
    pub master_id: Option<String>,
    pub ping_sent_ms: u64,
    pub pong_recv_ms: u64,
    pub config_epoch: u64,
    pub link_connected: bool,
    pub slots: Vec<SlotRange>,
    /// Slots being migrated to or imported from another node (`[slot->-id]`, `[slot-<-id]`).
    pub migrating_slots: Vec<u16>,
    /// The same, with their direction and the other node: what a migration left open.
    #[serde(default)]
    pub open_slots: Vec<OpenSlot>,
}

/// A slot this node migrates to, or imports from, another node (only on its own line).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct OpenSlot {
    pub slot: u16,
    /// `true`: `[slot-<-id]`, importing from `peer`; `false`: `[slot->-id]`, migrating to it.
    pub importing: bool,
    pub peer: String,
}

impl ClusterNode {
    pub fn slot_count(&self) -> usize {
        self.slots.iter().map(SlotRange::len).sum()
    }
}

/// The whole reply, in the order Redis wrote it.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClusterNodes {
    pub nodes: Vec<ClusterNode>,
}

impl ClusterNodes {
    pub fn myself(&self) -> Option<&ClusterNode> {
        self.nodes.iter().find(|n| n.flags.myself)
    }
    pub fn by_id(&self, id: &str) -> Option<&ClusterNode> {
        self.nodes.iter().find(|n| n.id == id)
    }
    pub fn parse(text: &str) -> Result<Self, ParseError> {
        let nodes = text
            .lines()
            .enumerate()
            .filter(|(_, l)| !l.trim().is_empty())
            .map(|(i, l)| parse_line(i + 1, l))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Self { nodes })
    }
}

fn parse_line(line: usize, text: &str) -> Result<ClusterNode, ParseError> {
    let err = |m: String| ParseError::new(line, m);
    let fields: Vec<&str> = text.split_whitespace().collect();
    let [id, address, flags, master, ping, pong, epoch, link, slots @ ..] = fields.as_slice()
    else {
        return Err(err(format!(
            "expected at least 8 fields, found {}",
            fields.len()
        )));
    };
    if id.len() != 40 || !id.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(err(format!("`{id}` is not a 40-character node id")));
    }
    let (addr, bus_port, hostname) = parse_address(address).map_err(err)?;
    let num = |name: &str, v: &str| -> Result<u64, ParseError> {
        v.parse()
            .map_err(|_| err(format!("{name} `{v}` is not a number")))
    };
    let (slots, open_slots) = parse_slots(slots).map_err(err)?;
    let migrating_slots = open_slots.iter().map(|o| o.slot).collect();
    Ok(ClusterNode {
        id: (*id).to_owned(),
        addr,
        bus_port,
        hostname,
        flags: parse_flags(flags).map_err(err)?,
        master_id: (*master != "-").then(|| (*master).to_owned()),
        ping_sent_ms: num("ping-sent", ping)?,
        pong_recv_ms: num("pong-recv", pong)?,
        config_epoch: num("config-epoch", epoch)?,
        link_connected: match *link {
            "connected" => true,
            "disconnected" => false,
            other => return Err(err(format!("link state `{other}` is unknown"))),
        },
        slots,
        migrating_slots,
        open_slots,
    })
}

type Address = (Option<NodeAddr>, Option<u16>, Option<String>);

fn parse_address(s: &str) -> Result<Address, String> {
    let (addr, hostname) = match s.split_once(',') {
        Some((a, h)) => (a, (!h.is_empty()).then(|| h.to_owned())),
        None => (s, None),
    };
    let (hostport, bus) = match addr.split_once('@') {
        Some((hp, b)) => (hp, Some(b)),
        None => (addr, None),
    };
    let bus_port = bus
        .map(|b| {
            b.parse::<u16>()
                .map_err(|_| format!("bus port `{b}` is not a number"))
        })
        .transpose()?;
    let (host, port) = hostport
        .rsplit_once(':')
        .ok_or_else(|| format!("address `{s}` is not ip:port@cport"))?;
    let port: u16 = port
        .parse()
        .map_err(|_| format!("port `{port}` in `{s}` is not a number"))?;
    let addr = (!host.is_empty() && port != 0).then(|| NodeAddr::new(host, port));
    Ok((addr, bus_port, hostname))
}

fn parse_flags(s: &str) -> Result<NodeFlags, String> {
    let mut f = NodeFlags::default();
    for flag in s.split(',') {
        match flag {
            "myself" => f.myself = true,
            "master" => f.master = true,
            "slave" => f.replica = true,
            "fail?" => f.pfail = true,
            "fail" => f.fail = true,
            "handshake" => f.handshake = true,
            "noaddr" => f.noaddr = true,
            "nofailover" => f.nofailover = true,
            "noflags" => {}
            other => return Err(format!("flag `{other}` is unknown")),
        }
    }
    Ok(f)
}

fn parse_slots(items: &[&str]) -> Result<(Vec<SlotRange>, Vec<OpenSlot>), String> {
    let slot = |s: &str| -> Result<u16, String> {
        match s.parse::<u16>() {
            Ok(n) if n < redis_stretch_model::SLOT_COUNT => Ok(n),
            _ => Err(format!("`{s}` is not a slot number")),
        }
    };
    let mut ranges = Vec::new();
    let mut moving = Vec::new();
    for item in items {
        if let Some(inner) = item.strip_prefix('[').and_then(|s| s.strip_suffix(']')) {
            let (n, importing) = match inner.split_once("->-") {
                Some(n) => (n, false),
                None => (
                    inner
                        .split_once("-<-")
                        .ok_or_else(|| format!("`{item}` is not a migrating or importing slot"))?,
                    true,
                ),
            };
            moving.push(OpenSlot {
                slot: slot(n.0)?,
                importing,
                peer: n.1.to_owned(),
            });
        } else if let Some((a, b)) = item.split_once('-') {
            let (start, end) = (slot(a)?, slot(b)?);
            if end < start {
                return Err(format!("slot range `{item}` runs backwards"));
            }
            ranges.push(SlotRange { start, end });
        } else {
            let s = slot(item)?;
            ranges.push(SlotRange { start: s, end: s });
        }
    }
    Ok((ranges, moving))
}
