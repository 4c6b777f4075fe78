//! Drills on local mode: [`redis_stretch_drill::Faults`] over a state dir — zones go down by
//! SIGKILL or SIGSTOP and come back from their data (`kill_zone`, `restore_zone`), and the
//! engine is the local controller.

use redis_stretch_admin::Secret;
use redis_stretch_api::RedisStretchClusterSpec;
use redis_stretch_drill::scenario::{BlipKind as DrillBlip, EngineStop, Layout, NetFaults};
use redis_stretch_drill::{Faults, ZoneFault};
use redis_stretch_engine::EngineStatus;

use crate::{
    controller, engine_status, instances, kill_zone, lab, live_engine, restore_zone,
    server_binary_for, EngineLock, FaultSignal, LocalError, StateDir, ENGINE_PATIENCE,
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

    fn take_down_instance(&self, name: &str, fault: ZoneFault) -> Result<Vec<String>, LocalError> {
        let sig = match fault {
            ZoneFault::Kill => FaultSignal::Kill,
            ZoneFault::Stop => FaultSignal::Stop,
        };
        crate::faults::kill_instance(&self.dir, name, sig)
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
            let run = async {
                let lock = EngineLock::acquire(&dir, "drill", ENGINE_PATIENCE).await?;
                controller::run_engine(lock, async {
                    let _ = rx.await;
                })
                .await
            };
            // The drill goes on and reports what the cluster did: with another engine in
            // charge, that engine's recovery.
            if let Err(e) = run.await {
                tracing::error!("the drill's engine did not run: {e}");
            }
        });
        stop
    }
}

/// A client at the third site: outside every zone's /24, and not 127.0.0.1 (which
/// `cut --engine-with` places inside a zone with the engine).
const THIRD_SITE_CLIENT: std::net::Ipv4Addr = std::net::Ipv4Addr::new(127, 0, 100, 250);

impl NetFaults for LocalFaults {
    fn cut(&self, a: &str, b: &str, engine_with: Option<&str>) -> Result<(), LocalError> {
        lab::cut(&self.dir, a, b, engine_with).map(|_| ())
    }

    fn heal(&self) -> Result<(), LocalError> {
        lab::heal(&self.dir).map(|_| ())
    }

    async fn blip(
        &self,
        zone: &str,
        duration: std::time::Duration,
        kind: DrillBlip,
    ) -> Result<(), LocalError> {
        let kind = match kind {
            DrillBlip::Stop => lab::BlipKind::Stop,
            DrillBlip::Cut => lab::BlipKind::Cut,
        };
        lab::blip(&self.dir, zone, duration, kind, std::future::pending())
            .await
            .map(|_| ())
    }

    fn client_source(&self, zone: Option<&str>) -> Result<std::net::IpAddr, LocalError> {
        let Some(zone) = zone else {
            return Ok(THIRD_SITE_CLIENT.into());
        };
        let state = self.dir.load()?;
        let nets = lab::zone_subnets(&state)?;
        let net = nets
            .get(zone)
            .ok_or_else(|| LocalError::Usage(format!("no zone `{zone}` in this cluster")))?;
        // `127.0.1.0/24` → 127.0.1.250: in the zone, never an instance's address.
        let base = net.trim_end_matches("0/24");
        format!("{base}250")
            .parse()
            .map_err(|_| LocalError::Usage(format!("zone {zone}: {net} is not an IPv4 /24")))
    }
}
