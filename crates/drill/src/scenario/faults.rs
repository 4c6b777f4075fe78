//! What a drill needs from the platform it breaks: the cluster as it runs now, a way to take a
//! zone down and bring it back, and the engine. Local mode implements it
//! (`redis_stretch_local::LocalFaults`); the scenario knows nothing else about the platform.

use std::future::Future;

use redis_stretch_admin::Secret;
use redis_stretch_api::RedisStretchClusterSpec;
use redis_stretch_engine::{EngineStatus, Instance};
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

/// Faults on the network between zones, and clients placed in a zone: the network lab.
pub trait NetFaults: Faults {
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
}
