use std::time::Duration;

use redis_stretch_admin::{NodeAddr, Secret};

use crate::DrillError;

/// What the drill workload does. `Default` gives the documented defaults with no seeds.
#[derive(Clone, Debug)]
pub struct DrillConfig {
    /// Any reachable instances of the cluster; the client discovers the rest.
    pub seeds: Vec<NodeAddr>,
    pub password: Option<Secret>,
    /// Target writes per second of *each* writer (plain and WAIT).
    pub rate_per_writer: u32,
    /// How long one logical write is retried before it counts as failed (see [`crate::writer`]).
    pub retry_window: Duration,
    /// Bound of one try of one command against one node. A frozen (SIGSTOPped) node answers
    /// nothing, so this is what a dark zone costs per try.
    pub attempt_timeout: Duration,
    /// Bound of opening one connection (TCP connect + AUTH) to one node. Kept short and apart
    /// from `attempt_timeout`: every topology rebuild opens connections to all known nodes, and
    /// a frozen node holds the rebuild for this long.
    pub connect_timeout: Duration,
    /// `WAIT 1 <ms>` timeout of the WAIT writer.
    pub wait_timeout_ms: u64,
    /// Independent connections of the WAIT writer. `WAIT` blocks its connection until it returns,
    /// so with a replica gone every try on a connection takes `wait_timeout_ms`; separate
    /// connections keep one blocked WAIT from queueing every other write behind it.
    pub wait_connections: usize,
    /// Probe period per shard.
    pub probe_interval: Duration,
    /// Bound of one probe write (one try, never retried).
    pub probe_timeout: Duration,
    /// The workload stops by itself after this long even if nobody calls `stop`.
    pub duration_limit: Duration,
    /// Readback connects and reads with this bound per try.
    pub readback_timeout: Duration,
}

impl Default for DrillConfig {
    fn default() -> Self {
        Self {
            seeds: Vec::new(),
            password: None,
            rate_per_writer: 500,
            retry_window: Duration::from_millis(1000),
            attempt_timeout: Duration::from_millis(250),
            connect_timeout: Duration::from_millis(200),
            wait_timeout_ms: 100,
            wait_connections: 8,
            probe_interval: Duration::from_millis(20),
            probe_timeout: Duration::from_millis(200),
            duration_limit: Duration::from_secs(600),
            readback_timeout: Duration::from_millis(2000),
        }
    }
}

impl DrillConfig {
    pub fn new(seeds: Vec<NodeAddr>, password: Option<Secret>) -> Self {
        Self {
            seeds,
            password,
            ..Self::default()
        }
    }

    pub(crate) fn validate(&self) -> Result<(), DrillError> {
        let bad = |why: &str| Err(DrillError::Config(why.to_owned()));
        if self.seeds.is_empty() {
            return bad("seeds: at least one instance address is needed");
        }
        if self.rate_per_writer == 0 || self.rate_per_writer > 20_000 {
            return bad("rate_per_writer: must be 1..=20000 writes/s");
        }
        if self.wait_connections == 0 || self.wait_connections > 64 {
            return bad("wait_connections: must be 1..=64");
        }
        if self.attempt_timeout.is_zero()
            || self.probe_timeout.is_zero()
            || self.connect_timeout.is_zero()
        {
            return bad("attempt_timeout, probe_timeout and connect_timeout must be > 0");
        }
        if self.probe_interval < Duration::from_millis(5) {
            return bad("probe_interval: must be at least 5 ms");
        }
        if self.duration_limit.is_zero() {
            return bad("duration_limit must be > 0");
        }
        Ok(())
    }

    pub(crate) fn seeds_display(&self) -> String {
        self.seeds
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join(",")
    }
}
