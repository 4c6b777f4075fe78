//! The workload and measurement half of `redis-stretch drill`: writers that cover every slot
//! (one plain, one confirming each write with `WAIT 1 <ms>`), a per-shard writability probe,
//! readback of every acknowledged write, and a report (table, JSON, SVG timeline).
//!
//! Usage: [`Workload::start`], then mark faults and milestones while the caller breaks and heals
//! the cluster ([`Workload::mark_fault`], [`Workload::mark`], [`Workload::wait_all_writable`]),
//! [`Workload::stop`], [`verify`], fill [`DrillReport::cluster_check`] with [`cluster_check`],
//! print the report and [`svg::render`] it.
//!
//! [`scenario`] is the whole drill over any platform that implements [`scenario::Faults`]:
//! settle, take a zone down under load, wait for every slot to take writes, bring it back,
//! wait for failback, verify and draw; `redis-stretch drill` and `demo` run it on local mode.
//!
//! Definitions live where they are computed: the retry policy and what a failed write is in
//! [`writer`], RTO and "all slots writable" in [`probe`], loss in [`verify`], key placement in
//! [`slots`], and why we rebuild the client's topology ourselves in [`connection`].

mod check;
mod config;
pub mod connection;
mod error;
mod outcome;
pub mod probe;
pub mod report;
pub mod scenario;
pub mod sides;
pub mod slots;
pub mod svg;
pub mod verify;
mod workload;
pub mod writer;

pub use check::{
    check_cluster, cluster_check, judge as judge_cluster_check, ClusterCheck, NodeReport,
};
pub use config::DrillConfig;
pub use error::DrillError;
pub use outcome::{ErrorClass, WriteOutcome};
pub use probe::{ProbeRecord, ShardInfo};
pub use report::DrillReport;
pub use scenario::{run_drill, DrillResult, Faults, Recovery, Scenario, ScenarioError, ZoneFault};
pub use verify::verify;
pub use workload::{Phase, PhaseKind, Recorded, Workload, HOLD};
pub use writer::{WriteRecord, WriterKind};
