//! One engine per local cluster: whatever runs the engine loop over a state dir (`local
//! engine`, a foreground `local up`, a drill, a break-glass command) holds an exclusive
//! `flock(2)` on `engine.lock` for as long as it acts. The kernel drops the lock when the
//! holder dies, SIGKILL included, so a killed engine leaves nothing behind that a successor
//! must clean up. The file also says who holds it (pid and what it is doing), for messages.
//!
//! The file is never removed while a cluster lives: a new file at the same path would be a
//! new lock that the old holder does not hold. It goes with the state dir (`local down`).

use std::fmt;
use std::fs::{self, File, OpenOptions};
use std::io::{Seek, SeekFrom, Write};
use std::time::{Duration, Instant};

use nix::fcntl::{Flock, FlockArg};
use serde::{Deserialize, Serialize};

use crate::{LocalError, StateDir};

pub const LOCK_FILE: &str = "engine.lock";

/// How long an engine waits for the lock before it gives up: a probe ([`holder`]) holds it
/// for microseconds, and an engine stopped in this process a moment ago finishes its pass.
pub const ENGINE_PATIENCE: Duration = Duration::from_secs(2);

/// What the holder wrote into the lock file.
#[derive(Serialize, Deserialize)]
struct Said {
    pid: u32,
    what: String,
}

/// Who holds the engine lock of a state dir.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Holder {
    /// `None` when it has not written the file yet (it does so right after locking).
    pub pid: Option<u32>,
    /// What it is doing, as it said: `local engine`, `evacuate --zone dc-a`, …
    pub what: String,
}

impl fmt::Display for Holder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.pid {
            Some(pid) => write!(f, "pid {pid} (`{}`)", self.what),
            None => f.write_str("another process (it has not said which yet)"),
        }
    }
}

/// The engine lock of one state dir, held until dropped (or the process dies).
#[derive(Debug)]
pub struct EngineLock {
    dir: StateDir,
    _file: Flock<File>,
}

impl EngineLock {
    /// Take the lock of the cluster in `dir` for `what`, waiting up to `patience` while it is
    /// held; [`LocalError::EngineBusy`] names the holder when it stays held. Polls a
    /// non-blocking lock: a blocking `flock` would stall the async runtime it runs on.
    pub async fn acquire(
        dir: &StateDir,
        what: &str,
        patience: Duration,
    ) -> Result<EngineLock, LocalError> {
        if !dir.exists() {
            return Err(LocalError::NoCluster(dir.path().to_path_buf()));
        }
        let path = dir.file(LOCK_FILE);
        // Opened without truncating: the holder's name stays readable to whoever loses.
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(LocalError::io(&path))?;
        let deadline = Instant::now() + patience;
        let mut locked = loop {
            match Flock::lock(file, FlockArg::LockExclusiveNonblock) {
                Ok(locked) => break locked,
                Err((f, nix::Error::EWOULDBLOCK)) if Instant::now() < deadline => {
                    file = f;
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
                Err((_, nix::Error::EWOULDBLOCK)) => {
                    return Err(LocalError::EngineBusy {
                        dir: dir.path().to_path_buf(),
                        holder: read_holder(dir),
                    })
                }
                Err((_, errno)) => {
                    return Err(LocalError::Io {
                        path,
                        source: std::io::Error::from(errno),
                    })
                }
            }
        };
        let said = serde_json::to_vec(&Said {
            pid: std::process::id(),
            what: what.to_owned(),
        })
        .map_err(|e| LocalError::Io {
            path: path.clone(),
            source: std::io::Error::other(e),
        })?;
        locked.set_len(0).map_err(LocalError::io(&path))?;
        locked
            .seek(SeekFrom::Start(0))
            .map_err(LocalError::io(&path))?;
        locked.write_all(&said).map_err(LocalError::io(&path))?;
        Ok(EngineLock {
            dir: dir.clone(),
            _file: locked,
        })
    }

    pub fn dir(&self) -> &StateDir {
        &self.dir
    }
}

/// Who holds the engine lock of `dir` now, if anyone (this process included). Probes with a
/// shared lock, released at once, so a probe never blocks an engine for longer than
/// [`ENGINE_PATIENCE`].
pub fn holder(dir: &StateDir) -> Option<Holder> {
    let file = File::open(dir.file(LOCK_FILE)).ok()?;
    match Flock::lock(file, FlockArg::LockSharedNonblock) {
        // Free: the probe's own lock goes when `_free` drops.
        Ok(_free) => None,
        Err(_) => Some(read_holder(dir)),
    }
}

/// What the holder wrote; a moment after locking, it has written it.
fn read_holder(dir: &StateDir) -> Holder {
    for _ in 0..5 {
        if let Some(said) = fs::read(dir.file(LOCK_FILE))
            .ok()
            .and_then(|b| serde_json::from_slice::<Said>(&b).ok())
        {
            return Holder {
                pid: Some(said.pid),
                what: said.what,
            };
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    Holder {
        pid: None,
        what: String::new(),
    }
}
