//! Pure planning for a Redis Cluster stretched over two zones: slot ranges, which host runs
//! which shard's master or replica, and what the loss of each zone means. No I/O here: the
//! engine, local mode and the operator all call into this with plain data.

mod placement;
mod survivability;

pub use placement::{hosts_needed, plan, Plan, PlanError, PlannedInstance, ShardPlan};
pub use redis_stretch_model::{format_ranges, split_slots, Role, SlotRange, SLOT_COUNT};
pub use survivability::{summary_line, survivability, Copy, ShardLayout, Verdict, ZoneVerdict};
