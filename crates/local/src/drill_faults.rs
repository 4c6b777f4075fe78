//! Drills on local mode: [`redis_stretch_drill::Faults`] over a state dir — zones go down by
//! SIGKILL or SIGSTOP and come back from their data (`kill_zone`, `restore_zone`), and the
//! engine is the local controller.

use redis_stretch_admin::Secret;
use redis_stretch_api::RedisStretchClusterSpec;
use redis_stretch_drill::scenario::{EngineStop, Layout};
use redis_stretch_drill::{Faults, ZoneFault};
use redis_stretch_engine::EngineStatus;

use crate::{
    controller, engine_status, instances, kill_zone, live_engine, restore_zone, server_binary_for,
    FaultSignal, LocalError, StateDir,
};

/// The local cluster in a state dir, as a drill's platform.
#[derive(Clone, Debug)]
pub struct LocalFaults {
    pub dir: StateDir,
}

impl Faults for LocalFaults {
    type Error = LocalError;

    fn layout(&self) -> Result<Layout, LocalError> {
        let (state, instances, _) = instances(&self.dir)?;
        Ok(Layout {
            zones: state.zones,
            instances,
        })
    }

    fn spec(&self) -> Result<RedisStretchClusterSpec, LocalError> {
        Ok(self.dir.load_manifest()?.spec().clone())
    }

    fn password(&self) -> Result<Option<Secret>, LocalError> {
        self.dir.password(false)
    }

    fn take_down(&self, zone: &str, fault: ZoneFault) -> Result<Vec<String>, LocalError> {
        let sig = match fault {
            ZoneFault::Kill => FaultSignal::Kill,
            ZoneFault::Stop => FaultSignal::Stop,
        };
        kill_zone(&self.dir, zone, sig)
    }

    async fn bring_back(&self, zone: &str, new_addresses: bool) -> Result<Vec<String>, LocalError> {
        restore_zone(
            &self.dir,
            zone,
            new_addresses,
            &server_binary_for(&self.dir)?,
        )
        .await
    }

    fn engine_live(&self) -> Option<u32> {
        live_engine(&self.dir)
    }

    fn engine_status(&self) -> Option<EngineStatus> {
        engine_status(&self.dir)
    }

    fn start_engine(&self) -> EngineStop {
        let (stop, rx) = EngineStop::channel();
        let dir = self.dir.clone();
        tokio::spawn(async move {
            let _ = controller::run_engine(&dir, async {
                let _ = rx.await;
            })
            .await;
        });
        stop
    }
}
