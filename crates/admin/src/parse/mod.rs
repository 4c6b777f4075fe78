//! Parsers for Redis's text replies. They never panic: malformed input is a [`ParseError`]
//! naming the line (property-tested in `tests/parse_props.rs`).
//!
//! [`ParseError`]: crate::ParseError

mod info;
mod nodes;
mod server;

pub use info::{ClusterInfo, ReplicaInfo, ReplicationInfo};
pub use nodes::{ClusterNode, ClusterNodes, NodeFlags, OpenSlot};
pub use server::ServerInfo;

/// `key:value` lines of INFO-style replies; `#` sections and blank lines skipped.
fn key_values(text: &str) -> impl Iterator<Item = (usize, &str, &str)> {
    text.lines().enumerate().filter_map(|(i, line)| {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            return None;
        }
        let (k, v) = line.split_once(':')?;
        Some((i + 1, k, v))
    })
}
