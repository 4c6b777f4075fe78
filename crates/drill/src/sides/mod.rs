//! Writers placed on the sides of a network fault. A cut between two DCs is seen differently
//! by a client in dc-a, one in dc-b and one at a third site that reaches both, so the lab runs
//! one writer per side and shard, each connecting from its own source address (the lab drops
//! packets by address: a writer with a dc-a source is cut off exactly like dc-a's instances).
//!
//! Each writer sends 50 writes/s to its shard (one key per write, in the shard's slots), every
//! second write followed by `WAIT 1 100` on the same connection; it follows `MOVED`, and on a
//! timeout or a refused connection tries the next instance, as a cluster client refreshing its
//! slot map would. [`figures`] turns what they saw into the lab's numbers: per side and shard,
//! the fraction of the fault during which writes were accepted, plain and WAIT-acknowledged
//! writes lost at readback; per shard, the *dual-write window* (time during which instances in
//! both zones acknowledged writes for the same slots).

mod figures;
mod resp;
pub mod svg;
mod writer;

pub use figures::{figures, Gap, LabFigures, ShardFigures, SideFigures};
pub use resp::{moved_to, Reply, RespConn, RespError};
pub use writer::{read_back, LabShard, Side, SideLoad, SideWrite, WriteResult};
