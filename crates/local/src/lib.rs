//! Local mode, the embedded default platform: one `redis-server` process per planned host on
//! loopback, each zone on its own `127.0.<zone+1>.0/24`, with a state directory recording what
//! runs so that every later command (status, down, and the failure engine) finds it again.
//! `controller` runs the engine over a state dir (foreground or detached), holding that state
//! dir's `engine_lock` (one engine per cluster); `drill_faults` is the drill's fault injection
//! on local mode ([`LocalFaults`]). `netns` and `lab`: the network lab, a cluster in its own
//! network namespace and nft partitions between its zones.

mod apply;
mod binary;
mod cluster;
mod controller;
mod drill_faults;
mod engine_lock;
mod error;
mod faults;
pub mod lab;
pub mod netns;
mod platform;
mod ports;
mod process;
mod restart;
mod rotate;
mod scale;
mod state;
pub mod testing;

pub use apply::{apply, refused_changes, ApplyReport};
pub use binary::{find_redis_server, find_server, server_binary_for, server_env_var};
pub use cluster::{
    down, instances, spawn_empty, up, DownReport, EmptyCluster, UpOptions, UpOutcome,
};
pub use controller::{ensure_detached_engine, run_engine, stand_in, Detached};
pub use drill_faults::{LocalEngineProcess, LocalFaults};
pub use engine_lock::{
    holder as engine_lock_holder, EngineLock, Holder, ENGINE_PATIENCE, LOCK_FILE,
};
pub use error::LocalError;
pub use faults::{kill_instance, kill_zone, restore_zone, FaultSignal};
pub use lab::{BlipKind, NetFault};
pub use platform::{
    detached_engine_of, engine_process_alive, engine_status, live_engine, recent_events,
    FileReporter, LocalPlatform, ENGINE_FILE, EVENTS_FILE, MEMORY_FILE,
};
pub use process::{is_running, spawn_detached, ProcessStatus};
pub use restart::{bump_revision, restart_for, restart_instance};
pub use rotate::{rotate_password, RotateReport, PREVIOUS_PASSWORD_FILE};
pub use scale::{leaving, retire_instance, scale, ScaleReport};
pub use state::{default_state_dir, LocalInstance, State, StateDir};
