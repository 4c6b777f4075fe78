//! `local rotate-password`: a new password for a running local cluster, with no instance
//! restarted and no moment in which the engine or a client that switches in time is locked
//! out (docs/OPERATIONS.md, "Rotating the password").
//!
//! The state dir keeps the old password in `password.previous` and the new one in `password`
//! until every instance accepts only the new one; every redis.conf says the new one at once
//! (an instance restarted mid-way starts with the new password only, which the engine can
//! reach and the rule finishes). The rotation itself is the engine's: the caller holds the
//! cluster's engine lock, and this runs engine passes with [current, previous] until the
//! snapshot shows it done ([`redis_stretch_engine::Snapshot::rotation_done`]). A detached
//! engine started while `password.previous` exists finishes it too.

use std::time::{Duration, Instant};

use redis_stretch_admin::Secret;
use redis_stretch_engine::decide::Intent;
use redis_stretch_engine::{Engine, EngineConfig, Pass, Reporter};

use crate::cluster::instance_conf;
use crate::platform::{FileReporter, LocalPlatform};
use crate::state::write_atomic;
use crate::{EngineLock, LocalError, StateDir};

/// The old password, kept while a rotation is under way.
pub const PREVIOUS_PASSWORD_FILE: &str = "password.previous";

/// What a rotation did.
#[derive(Clone, Debug)]
pub struct RotateReport {
    /// A rotation a previous run left unfinished was finished (its new password kept).
    pub resumed: bool,
    pub instances: usize,
    pub took: Duration,
}

impl StateDir {
    /// The password being rotated away from, while a rotation is under way.
    pub fn previous_password(&self) -> Result<Option<Secret>, LocalError> {
        let path = self.file(PREVIOUS_PASSWORD_FILE);
        match std::fs::read_to_string(&path) {
            Ok(p) => Ok(Some(Secret::new(p.trim().to_owned()))),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(LocalError::Io { path, source: e }),
        }
    }
}

/// Rotate the password of the cluster whose engine lock the caller holds: to `new`, or to a
/// generated one; first finishes a rotation left unfinished. `on_pass` sees every engine pass.
pub async fn rotate_password(
    lock: &EngineLock,
    new: Option<Secret>,
    limit: Duration,
    mut on_pass: impl FnMut(&Pass),
) -> Result<RotateReport, LocalError> {
    let dir = lock.dir();
    let cluster = dir.load_manifest()?;
    if !cluster.spec().auth.enabled {
        return Err(LocalError::Usage(
            "this cluster runs without a password (spec.auth.enabled: false): nothing to rotate"
                .into(),
        ));
    }
    let Some(old) = dir.password(false)? else {
        return Err(LocalError::Refused(format!(
            "{} has no password file: the engine would not know what the instances require",
            dir.path().display()
        )));
    };
    let (current, previous, resumed) = match dir.previous_password()? {
        // A run that stopped before it wrote the new password: start over.
        Some(p) if p == old => (new_or_generated(new)?, old, false),
        Some(p) => {
            if new.as_ref().is_some_and(|n| *n != old) {
                return Err(LocalError::Refused(format!(
                    "a password rotation is under way in {} ({PREVIOUS_PASSWORD_FILE} exists): run `local rotate-password` without --password-file to finish it first",
                    dir.path().display()
                )));
            }
            (old, p, true)
        }
        None => (new_or_generated(new)?, old, false),
    };
    if current == previous {
        return Err(LocalError::Usage(
            "the new password is the password the cluster has".into(),
        ));
    }
    // The old one first: a crash between the two writes leaves both files, never only the new.
    write_atomic(
        &dir.file(PREVIOUS_PASSWORD_FILE),
        previous.expose().as_bytes(),
        0o600,
    )?;
    write_atomic(&dir.file("password"), current.expose().as_bytes(), 0o600)?;
    let state = dir.load()?;
    for inst in &state.instances {
        // What a restart reads: the new password only.
        write_atomic(
            &inst.data_dir.join("redis.conf"),
            instance_conf(&cluster, inst, Some(&current)).as_bytes(),
            0o600,
        )?;
    }
    let start = Instant::now();
    let mut engine = Engine::new(
        cluster.spec(),
        Some(current),
        EngineConfig::for_spec(cluster.spec()),
    )
    .with_previous_password(Some(previous));
    run_rotation(&mut engine, dir, limit, &mut on_pass).await?;
    remove_previous(dir)?;
    Ok(RotateReport {
        resumed,
        instances: state.instances.len(),
        took: start.elapsed(),
    })
}

async fn run_rotation(
    engine: &mut Engine,
    dir: &StateDir,
    limit: Duration,
    on_pass: &mut impl FnMut(&Pass),
) -> Result<(), LocalError> {
    let platform = LocalPlatform { dir: dir.clone() };
    let reporter = FileReporter { dir: dir.clone() };
    let start = Instant::now();
    loop {
        let pass = engine
            .pass(&platform, Intent::Auto)
            .await
            .map_err(|e| LocalError::Rotation(e.to_string()))?;
        let events = engine.events(&pass.results);
        if !events.is_empty() {
            reporter.events(&events);
        }
        reporter.status(&engine.status(&pass), &pass);
        on_pass(&pass);
        if pass.snapshot.rotation_done() {
            return Ok(());
        }
        if start.elapsed() > limit {
            return Err(LocalError::Rotation(format!(
                "not done after {}s (waiting for: {}); every instance must answer. Both passwords still work; run `local rotate-password` again to finish it",
                limit.as_secs(),
                pass.decision
                    .waiting_for
                    .as_ref()
                    .map_or_else(|| "instances to accept the new password".to_owned(), ToString::to_string)
            )));
        }
        if pass.results.is_empty() {
            tokio::time::sleep(engine.config().interval).await;
        }
    }
}

fn remove_previous(dir: &StateDir) -> Result<(), LocalError> {
    let path = dir.file(PREVIOUS_PASSWORD_FILE);
    match std::fs::remove_file(&path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(LocalError::Io { path, source: e }),
    }
}

fn new_or_generated(new: Option<Secret>) -> Result<Secret, LocalError> {
    if let Some(n) = new {
        if n.expose().is_empty() || n.expose().chars().any(char::is_whitespace) {
            return Err(LocalError::Usage(
                "the new password must be non-empty and without whitespace (redis.conf and ACL rules split on it)".into(),
            ));
        }
        return Ok(n);
    }
    let mut bytes = [0u8; 24];
    getrandom::fill(&mut bytes).map_err(|e| LocalError::Rotation(format!("no randomness: {e}")))?;
    Ok(Secret::new(
        bytes.iter().map(|b| format!("{b:02x}")).collect::<String>(),
    ))
}
