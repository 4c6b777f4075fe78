//! What a drill needs from the platform it breaks: the cluster as it runs now, a way to take a
//! zone down and bring it back, and the engine. Local mode implements it
//! (`redis_stretch_local::LocalFaults`); the scenario knows nothing else about the platform.

use std::future::Future;

use redis_stretch_admin::Secret;
use redis_stretch_api::RedisStretchClusterSpec;
use redis_stretch_engine::{EngineEvent, EngineStatus, Instance};
use tokio::sync::oneshot;

/// How a zone goes down.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ZoneFault {
    /// A crash (SIGKILL): connections are refused at once.
    Kill,
    /// Frozen (SIGSTOP): silence and timeouts, as a dark data center looks from outside.
    Stop,
}

impl ZoneFault {
    /// `kill` | `stop`, as in file names.
    pub fn as_str(self) -> &'static str {
        match self {
            ZoneFault::Kill => "kill",
            ZoneFault::Stop => "stop",
        }
    }
}

/// The cluster as the platform runs it now (addresses change when a zone comes back on new
/// ones).
#[derive(Clone, Debug)]
pub struct Layout {
    pub zones: Vec<String>,
    pub instances: Vec<Instance>,
}

/// Stops an engine the platform started for the drill; dropping it stops the engine too.
pub struct EngineStop(oneshot::Sender<()>);

impl EngineStop {
    /// The engine runs until `stop` (or this value) is dropped or fired; the platform passes
    /// the receiver to the engine loop as its stop signal.
    pub fn channel() -> (Self, oneshot::Receiver<()>) {
        let (tx, rx) = oneshot::channel();
        (Self(tx), rx)
    }

    pub fn stop(self) {
        let _ = self.0.send(());
    }
}

/// Fault injection and engine control over one cluster.
pub trait Faults {
    type Error: std::error::Error + Send + Sync + 'static;

    /// The zones and instances running now.
    fn layout(&self) -> Result<Layout, Self::Error>;
    /// The cluster's spec: zones and their preferred masters.
    fn spec(&self) -> Result<RedisStretchClusterSpec, Self::Error>;
    fn password(&self) -> Result<Option<Secret>, Self::Error>;
    /// Take every instance of `zone` down; returns what was hit, in words.
    fn take_down(&self, zone: &str, fault: ZoneFault) -> Result<Vec<String>, Self::Error>;
    /// Take one instance down, by name; returns what was hit.
    fn take_down_instance(&self, name: &str, fault: ZoneFault) -> Result<Vec<String>, Self::Error>;
    /// Bring `zone` back (on new addresses when `new_addresses`); returns what was done.
    fn bring_back(
        &self,
        zone: &str,
        new_addresses: bool,
    ) -> impl Future<Output = Result<Vec<String>, Self::Error>>;
    /// The pid of a live engine in charge of this cluster in another process.
    fn engine_live(&self) -> Option<u32>;
    /// The engine's last published status.
    fn engine_status(&self) -> Option<EngineStatus>;
    /// Start an engine over this cluster, in this process, until the returned value stops it.
    fn start_engine(&self) -> EngineStop;
}

/// How a zone is taken away for a moment (`local blip`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BlipKind {
    /// Its processes frozen (SIGSTOP), then thawed.
    Stop,
    /// Cut off from everything on the network, then reconnected.
    Cut,
}

/// How an engine in a process of its own is started ([`NetFaults::spawn_engine`]).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct EngineProcessOptions {
    /// A crash point (`REDIS_STRETCH_CRASH_AFTER`, e.g. `takeover:1`): the process exits
    /// after the step with that action, as a SIGKILL there would.
    pub crash_after: Option<String>,
    /// Its wall clock can be stepped by [`NetFaults::step_engine_clock`], its monotonic clock
    /// left alone; nothing else on the host sees the step.
    pub steppable_clock: bool,
}

/// An engine the platform started in a process of its own.
pub trait EngineProcess: Send {
    fn pid(&self) -> u32;
    /// Its exit code once it has ended (a signal: `None` inside `Some`), `None` while it runs.
    fn exited(&mut self) -> Option<Option<i32>>;
    /// Stop it (SIGTERM: it finishes its pass; SIGKILL after a grace period) and reap it.
    fn stop(self);
}

/// Faults on the network between zones, and clients placed in a zone: the network lab.
pub trait NetFaults: Faults {
    type EngineProcess: EngineProcess;

    /// Drop traffic between zones `a` and `b`; with `engine_with`, the engine (and anything
    /// else at the third site's default address) loses the other zone too.
    fn cut(&self, a: &str, b: &str, engine_with: Option<&str>) -> Result<(), Self::Error>;
    /// Remove every network fault.
    fn heal(&self) -> Result<(), Self::Error>;
    /// Take `zone` away for `duration`, then bring it back.
    fn blip(
        &self,
        zone: &str,
        duration: std::time::Duration,
        kind: BlipKind,
    ) -> impl Future<Output = Result<(), Self::Error>>;
    /// The source address of a client inside `zone`, or at a third site that no fault cuts
    /// off (`None`).
    fn client_source(&self, zone: Option<&str>) -> Result<std::net::IpAddr, Self::Error>;
    /// Start an engine over this cluster in a process of its own (it may crash, or have its
    /// clock stepped, without touching the drill).
    fn spawn_engine(&self, opts: &EngineProcessOptions)
        -> Result<Self::EngineProcess, Self::Error>;
    /// Step the wall clock of engine processes started with `steppable_clock` to
    /// `offset_secs` from the real time (0: back to it). Takes effect within a second.
    fn step_engine_clock(&self, offset_secs: i64) -> Result<(), Self::Error>;
    /// Every action any engine of this cluster carried out, oldest first.
    fn engine_events(&self) -> Vec<EngineEvent>;
    /// Remove what the instance `name` keeps on disk of its data (not its cluster
    /// configuration): restarted, it comes back empty, as a new pod or a lost volume would.
    fn wipe_data(&self, name: &str) -> Result<(), Self::Error>;
    /// The servers' password, as the platform hands it to instances it (re)starts and to
    /// engines it starts from now on (a Secret fixed by an operator).
    fn set_password(&self, password: &Secret) -> Result<(), Self::Error>;
}
