//! Leader election with a short `coordination.k8s.io/v1` Lease: only the holder runs the
//! controller and the engines, so exactly one authority may ever send `TAKEOVER`.
//!
//! Timing (client-go's scheme): the holder renews every `duration / 4` and stops acting once it
//! has not renewed for `duration * 3 / 4`; another candidate takes the lease only after it has
//! seen the record unchanged for a whole `duration` on its own clock (no clock-skew
//! assumptions). So the old leader has stopped before a new one can start.
//!
//! Where the leader runs matters (design note, point 5): when the zone holding the majority of
//! masters is lost, the engine must act in the *other* zone. With `preferred_zone` set, a
//! candidate elsewhere waits one more `duration` before taking a free lease, so the preferred
//! zone's candidate wins whenever it is alive.

use std::time::{Duration, Instant};

use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::MicroTime;
use k8s_openapi::jiff::Timestamp;
use kube::api::{ObjectMeta, PostParams};
use kube::Api;
use tokio::sync::watch;

#[derive(Clone, Debug)]
pub struct LeaseConfig {
    pub name: String,
    pub namespace: String,
    /// This candidate: the pod name.
    pub identity: String,
    pub duration: Duration,
    /// Extra wait before taking a free lease: zero in the preferred zone.
    pub handicap: Duration,
}

impl LeaseConfig {
    pub fn renew_every(&self) -> Duration {
        self.duration / 4
    }
    pub fn renew_deadline(&self) -> Duration {
        self.duration * 3 / 4
    }
    fn duration_secs(&self) -> i32 {
        i32::try_from(self.duration.as_millis().div_ceil(1000)).unwrap_or(i32::MAX)
    }
}

/// What a candidate remembers of someone else's lease: the record, and when it last changed by
/// this candidate's own clock.
struct Observed {
    record: (Option<String>, Option<String>),
    since: Instant,
}

pub struct Elector {
    api: Api<Lease>,
    cfg: LeaseConfig,
    observed: Option<Observed>,
    last_renew: Option<Instant>,
}

impl Elector {
    pub fn new(client: kube::Client, cfg: LeaseConfig) -> Self {
        Self {
            api: Api::namespaced(client, &cfg.namespace),
            cfg,
            observed: None,
            last_renew: None,
        }
    }

    /// Campaign forever, publishing leadership on `leader`.
    pub async fn run(mut self, leader: watch::Sender<bool>) {
        loop {
            let now = Instant::now();
            match self.try_acquire_or_renew(now).await {
                Ok(true) => self.last_renew = Some(now),
                Ok(false) => self.last_renew = None,
                Err(e) => tracing::warn!(lease = %self.cfg.name, "lease: {e}"),
            }
            let holding = self
                .last_renew
                .is_some_and(|t| now.duration_since(t) < self.cfg.renew_deadline());
            if holding != *leader.borrow() {
                if holding {
                    tracing::info!(identity = %self.cfg.identity, "became leader");
                } else {
                    tracing::warn!(identity = %self.cfg.identity, "not the leader any more: engines stop");
                }
                let _ = leader.send(holding);
            }
            tokio::time::sleep(self.cfg.renew_every()).await;
        }
    }

    /// Hand the lease over at shutdown, so the other replica need not wait for it to expire.
    pub async fn release(&self) {
        if let Ok(Some(mut lease)) = self.api.get_opt(&self.cfg.name).await {
            let spec = lease.spec.get_or_insert_with(LeaseSpec::default);
            if spec.holder_identity.as_deref() == Some(self.cfg.identity.as_str()) {
                spec.holder_identity = None;
                let _ = self
                    .api
                    .replace(&self.cfg.name, &PostParams::default(), &lease)
                    .await;
            }
        }
    }

    async fn try_acquire_or_renew(&mut self, now: Instant) -> Result<bool, kube::Error> {
        let stamp = MicroTime(Timestamp::now());
        let Some(mut lease) = self.api.get_opt(&self.cfg.name).await? else {
            let lease = Lease {
                metadata: ObjectMeta {
                    name: Some(self.cfg.name.clone()),
                    namespace: Some(self.cfg.namespace.clone()),
                    ..Default::default()
                },
                spec: Some(LeaseSpec {
                    holder_identity: Some(self.cfg.identity.clone()),
                    lease_duration_seconds: Some(self.cfg.duration_secs()),
                    acquire_time: Some(stamp.clone()),
                    renew_time: Some(stamp),
                    lease_transitions: Some(0),
                    ..Default::default()
                }),
            };
            return conflict_is_false(self.api.create(&PostParams::default(), &lease).await);
        };
        let spec = lease.spec.get_or_insert_with(LeaseSpec::default);
        let holder = spec.holder_identity.clone().filter(|h| !h.is_empty());
        if holder.as_deref() == Some(self.cfg.identity.as_str()) {
            spec.renew_time = Some(stamp);
            spec.lease_duration_seconds = Some(self.cfg.duration_secs());
            return conflict_is_false(
                self.api
                    .replace(&self.cfg.name, &PostParams::default(), &lease)
                    .await,
            );
        }
        let record = (
            holder.clone(),
            spec.renew_time.as_ref().map(|t| t.0.to_string()),
        );
        let since = match &self.observed {
            Some(o) if o.record == record => o.since,
            _ => now,
        };
        self.observed = Some(Observed { record, since });
        let their_duration = spec
            .lease_duration_seconds
            .and_then(|s| u64::try_from(s).ok())
            .map_or(self.cfg.duration, Duration::from_secs);
        // A released lease (no holder) is free at once; a held one after it went unrenewed
        // for its whole duration, as seen from here.
        let wait = if holder.is_some() {
            their_duration
        } else {
            Duration::ZERO
        } + self.cfg.handicap;
        if now.duration_since(since) < wait {
            return Ok(false);
        }
        spec.holder_identity = Some(self.cfg.identity.clone());
        spec.acquire_time = Some(stamp.clone());
        spec.renew_time = Some(stamp);
        spec.lease_duration_seconds = Some(self.cfg.duration_secs());
        spec.lease_transitions = Some(spec.lease_transitions.unwrap_or(0) + 1);
        tracing::info!(previous = ?holder, "taking the lease");
        conflict_is_false(
            self.api
                .replace(&self.cfg.name, &PostParams::default(), &lease)
                .await,
        )
    }
}

/// A 409 means another candidate wrote first (optimistic concurrency on resourceVersion): not
/// an error, just not ours this round.
fn conflict_is_false(r: Result<Lease, kube::Error>) -> Result<bool, kube::Error> {
    match r {
        Ok(_) => Ok(true),
        Err(kube::Error::Api(s)) if s.code == 409 => Ok(false),
        Err(e) => Err(e),
    }
}
