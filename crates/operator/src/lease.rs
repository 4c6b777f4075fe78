//! Leader election with a short `coordination.k8s.io/v1` Lease: only the holder runs the
//! controller and the engines, so exactly one authority may ever send `TAKEOVER`.
//!
//! Timing (client-go's scheme, with its margins made explicit):
//! - the holder renews every `duration / 4`; each Lease call is bounded by a timeout, since a
//!   silent API server must not stall the decision;
//! - the holder may act until `renew_deadline` (`duration / 2`) after the *start* of its last
//!   successful renewal ([`Leadership::may_act`], checked by every engine right before it acts,
//!   and by a timer here) — not until the next call happens to return;
//! - another candidate takes the Lease only after seeing its record unchanged for a whole
//!   `duration` on its own clock (no clock-skew assumption). The record it saw was written after
//!   the holder's renewal started, so the holder stopped acting at least `duration / 2` earlier:
//!   room for one engine action already under way.
//!
//! Where the leader runs matters (design note, point 5): when the zone holding the majority of
//! masters is lost, the engine must act in the *other* zone. With a `handicap`, a candidate
//! outside the preferred zone waits that much longer before taking a free lease, so the
//! preferred zone's candidate wins whenever it is alive.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::MicroTime;
use k8s_openapi::jiff::Timestamp;
use kube::api::{ObjectMeta, PostParams};
use kube::Api;
use tokio::sync::watch;
use tokio::time::Instant;

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
        self.duration / 2
    }
    fn duration_secs(&self) -> i32 {
        i32::try_from(self.duration.as_millis().div_ceil(1000)).unwrap_or(i32::MAX)
    }
}

/// Until when this replica may act as the leader, shared with every engine, and which term of
/// holding the Lease that is.
#[derive(Clone, Debug, Default)]
pub struct Leadership {
    until: Arc<Mutex<Option<Instant>>>,
    /// Bumped each time this replica takes the Lease from nobody or from somebody else (not
    /// when it renews its own record, even late): the same term after a lapse means nobody
    /// else held the Lease meanwhile, so the state kept through the lapse is still the truth.
    term: Arc<AtomicU64>,
}

impl Leadership {
    /// True while the last successful renewal is recent enough: engines check it right before
    /// every action, so a leader that lost the Lease stops at once, not when its loop notices.
    pub fn may_act(&self) -> bool {
        self.valid_until().is_some_and(|v| Instant::now() < v)
    }
    pub fn valid_until(&self) -> Option<Instant> {
        *self
            .until
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
    /// Which term of holding the Lease this is (see the field).
    pub fn term(&self) -> u64 {
        self.term.load(Ordering::SeqCst)
    }
    /// Stop acting now (shutdown, tests).
    pub fn revoke(&self) {
        self.set(None);
    }
    fn set(&self, until: Option<Instant>) {
        *self
            .until
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = until;
    }
    fn new_term(&self) {
        self.term.fetch_add(1, Ordering::SeqCst);
    }
    /// Always true: for local mode and tests, where nothing else competes.
    pub fn always() -> Self {
        let l = Self::default();
        l.set(Some(
            Instant::now() + Duration::from_secs(100 * 365 * 86_400),
        ));
        l
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
    /// The Lease as this replica last wrote it while holding it: the next renewal replaces it
    /// directly (its resourceVersion makes a stale copy fail with 409), one request instead of
    /// a read and a write — client-go's fast path for the leader.
    held: Option<Lease>,
    leadership: Leadership,
}

impl Elector {
    pub fn new(client: kube::Client, cfg: LeaseConfig, leadership: Leadership) -> Self {
        Self {
            api: Api::namespaced(client, &cfg.namespace),
            cfg,
            observed: None,
            held: None,
            leadership,
        }
    }

    /// Campaign until dropped, publishing leadership changes on `leader` (for the controller;
    /// engines read [`Leadership`] directly).
    pub async fn run(mut self, leader: watch::Sender<bool>) {
        loop {
            let started = Instant::now();
            let valid = self.leadership.valid_until();
            // A call may take at most until the next renewal is due, and never past the end of
            // the current validity: leadership must lapse on time even if the API hangs.
            let mut bound = self.cfg.renew_every();
            if let Some(v) = valid.filter(|v| *v > started) {
                bound = bound.min(v - started);
            }
            let attempt = tokio::time::timeout(bound, self.try_acquire_or_renew()).await;
            match attempt {
                Ok(Ok(true)) => self
                    .leadership
                    .set(Some(started + self.cfg.renew_deadline())),
                Ok(Ok(false)) => self.leadership.set(None),
                Ok(Err(e)) => tracing::warn!(lease = %self.cfg.name, "lease: {e}"),
                Err(_) => {
                    tracing::warn!(lease = %self.cfg.name, "lease: no answer within {bound:?}")
                }
            }
            self.publish(&leader);
            // Wake for the next renewal, or when the validity ends (to publish the loss on time).
            let next = started + self.cfg.renew_every();
            let wake = match self.leadership.valid_until() {
                Some(v) if v > Instant::now() => next.min(v),
                _ => next,
            };
            tokio::time::sleep_until(wake.max(Instant::now() + Duration::from_millis(10))).await;
            self.publish(&leader);
        }
    }

    fn publish(&self, leader: &watch::Sender<bool>) {
        let holding = self.leadership.may_act();
        if holding != *leader.borrow() {
            if holding {
                tracing::info!(identity = %self.cfg.identity, "became leader");
            } else {
                tracing::warn!(identity = %self.cfg.identity, "not the leader any more: engines stop");
            }
            let _ = leader.send(holding);
        }
    }

    /// Hand the lease over at shutdown, so the other replica need not wait for it to expire.
    /// Call only after the campaign has stopped and every engine has stopped.
    pub async fn release(&self) {
        self.leadership.set(None);
        let Ok(Ok(Some(mut lease))) =
            tokio::time::timeout(self.cfg.renew_every(), self.api.get_opt(&self.cfg.name)).await
        else {
            return;
        };
        let spec = lease.spec.get_or_insert_with(LeaseSpec::default);
        if spec.holder_identity.as_deref() == Some(self.cfg.identity.as_str()) {
            spec.holder_identity = None;
            let _ = tokio::time::timeout(
                self.cfg.renew_every(),
                self.api
                    .replace(&self.cfg.name, &PostParams::default(), &lease),
            )
            .await;
        }
    }

    /// One round: `Ok(true)` when this candidate holds the lease after it.
    pub async fn try_acquire_or_renew(&mut self) -> Result<bool, kube::Error> {
        let stamp = MicroTime(Timestamp::now());
        if let Some(mut lease) = self.held.take() {
            let spec = lease.spec.get_or_insert_with(LeaseSpec::default);
            spec.renew_time = Some(stamp.clone());
            spec.lease_duration_seconds = Some(self.cfg.duration_secs());
            match self
                .api
                .replace(&self.cfg.name, &PostParams::default(), &lease)
                .await
            {
                Ok(written) => {
                    self.held = Some(written);
                    return Ok(true);
                }
                // Someone wrote since (409), or the call failed: read the record as it is.
                Err(e) => {
                    tracing::debug!(lease = %self.cfg.name, "lease: renewal from the held copy failed ({e}); reading it")
                }
            }
        }
        let found = self.api.get_opt(&self.cfg.name).await?;
        // When this candidate saw the record: after the read returned, never before (an early
        // time would shorten the wait for someone else's lease to expire).
        let now = Instant::now();
        let Some(mut lease) = found else {
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
            let created = self.api.create(&PostParams::default(), &lease).await;
            let held = self.hold(created);
            if matches!(held, Ok(true)) {
                self.leadership.new_term();
            }
            return held;
        };
        let spec = lease.spec.get_or_insert_with(LeaseSpec::default);
        let holder = spec.holder_identity.clone().filter(|h| !h.is_empty());
        if holder.as_deref() == Some(self.cfg.identity.as_str()) {
            spec.renew_time = Some(stamp);
            spec.lease_duration_seconds = Some(self.cfg.duration_secs());
            let renewed = self
                .api
                .replace(&self.cfg.name, &PostParams::default(), &lease)
                .await;
            return self.hold(renewed);
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
        let taken = self
            .api
            .replace(&self.cfg.name, &PostParams::default(), &lease)
            .await;
        let held = self.hold(taken);
        if matches!(held, Ok(true)) {
            self.leadership.new_term();
        }
        held
    }

    /// The outcome of a write of the Lease as its holder: keep what the server stored for the
    /// next renewal.
    fn hold(&mut self, written: Result<Lease, kube::Error>) -> Result<bool, kube::Error> {
        match written {
            Ok(lease) => {
                self.held = Some(lease);
                Ok(true)
            }
            other => conflict_is_false(other),
        }
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
