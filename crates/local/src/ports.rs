//! Free ports. Redis Cluster listens on `port` and its bus on `port + 10000`, so both must be
//! free on the instance's address. Probing by binding is racy against other programs, but a
//! lost race only makes `redis-server` exit at start, which `up` reports and cleans up.

use std::net::{Ipv4Addr, SocketAddrV4, TcpListener};
use std::path::{Path, PathBuf};

use crate::LocalError;

pub const FIRST_PORT: u16 = 7000;
const LAST_PORT: u16 = 55535 - 1;

fn free(host: Ipv4Addr, port: u16) -> bool {
    TcpListener::bind(SocketAddrV4::new(host, port)).is_ok()
}

/// The first port from `from` whose pair is free on `host` and not in `taken`.
pub fn free_port_pair(host: Ipv4Addr, from: u16, taken: &[u16]) -> Result<u16, LocalError> {
    (from..=LAST_PORT)
        .find(|p| {
            !taken.contains(p)
                && !taken.contains(&(p + 10000))
                && free(host, *p)
                && free(host, p + 10000)
        })
        .ok_or(LocalError::NoFreePort {
            host: host.to_string(),
            from,
        })
}

/// Held from choosing ports until the instances listen on them, so that two `local up`s (two
/// test threads, two terminals) never pick the same free port.
pub struct PortLock {
    _lock: nix::fcntl::Flock<std::fs::File>,
}

/// Polls a non-blocking lock: a blocking `flock` would stall every other task of the async
/// runtime it runs on, including the one holding the lock.
pub async fn lock_ports() -> Result<PortLock, LocalError> {
    let path = std::env::temp_dir().join("redis-stretch-ports.lock");
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(LocalError::io(&path))?;
    let mut file = file;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    loop {
        match nix::fcntl::Flock::lock(file, nix::fcntl::FlockArg::LockExclusiveNonblock) {
            Ok(lock) => return Ok(PortLock { _lock: lock }),
            Err((f, nix::Error::EWOULDBLOCK)) if std::time::Instant::now() < deadline => {
                file = f;
                tokio::time::sleep(std::time::Duration::from_millis(10)).await;
            }
            Err((_, errno)) => {
                return Err(LocalError::Io {
                    path,
                    source: std::io::Error::from(errno),
                })
            }
        }
    }
}

/// Ports that clusters hold while some of their instances are down: a zone killed by a drill
/// or a test restarts on the addresses in its state, so another cluster started meanwhile must
/// not take them (a probe by binding sees them free). One file per state dir, written and read
/// under [`lock_ports`]; a reservation whose state dir is gone no longer counts, and goes.
fn reservations_dir() -> PathBuf {
    std::env::temp_dir().join("redis-stretch-ports.d")
}

/// A file name for a state dir: FNV-1a of its path (stable across builds, unlike `Hash`).
fn reservation_file(state_dir: &Path) -> PathBuf {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in state_dir.as_os_str().as_encoded_bytes() {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    reservations_dir().join(format!("{h:016x}.ports"))
}

/// Record that the cluster in `state_dir` holds `ports` (`(host, port)`, bus ports included).
pub fn reserve(state_dir: &Path, ports: &[(String, u16)]) -> Result<(), LocalError> {
    let dir = reservations_dir();
    std::fs::create_dir_all(&dir).map_err(LocalError::io(&dir))?;
    let mut text = format!("{}\n", state_dir.display());
    for (host, port) in ports {
        text.push_str(&format!("{host} {port}\n"));
    }
    crate::state::write_atomic(&reservation_file(state_dir), text.as_bytes(), 0o644)
}

/// The cluster in `state_dir` is gone: its ports are free for others.
pub fn release(state_dir: &Path) {
    let _ = std::fs::remove_file(reservation_file(state_dir));
}

/// Ports held on `host` by clusters other than the one in `state_dir` whose state dirs still
/// exist. Stale reservations (state dir removed without `down`) are deleted on the way.
pub fn reserved_on(host: &str, state_dir: &Path) -> Vec<u16> {
    let Ok(entries) = std::fs::read_dir(reservations_dir()) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for path in entries.flatten().map(|e| e.path()) {
        let Ok(text) = std::fs::read_to_string(&path) else {
            continue;
        };
        let mut lines = text.lines();
        let Some(owner) = lines.next().map(PathBuf::from) else {
            continue;
        };
        if owner == state_dir {
            continue;
        }
        if !crate::StateDir::new(&owner).exists() {
            let _ = std::fs::remove_file(&path);
            continue;
        }
        out.extend(lines.filter_map(|l| {
            let (h, p) = l.split_once(' ')?;
            (h == host).then(|| p.parse::<u16>().ok()).flatten()
        }));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_reservation_holds_while_its_state_dir_exists() {
        let owner = tempfile::tempdir().unwrap();
        let state = crate::StateDir::new(owner.path().join("s"));
        state.create().unwrap();
        state
            .save(&crate::State {
                cluster: "c".into(),
                zones: Vec::new(),
                instances: Vec::new(),
                engine_pid: None,
                held_zone: None,
                netns: None,
                revision: 0,
            })
            .unwrap();
        let me = Path::new("/nonexistent/me");
        reserve(
            state.path(),
            &[("127.0.9.1".into(), 7000), ("127.0.9.1".into(), 17000)],
        )
        .unwrap();
        assert_eq!(reserved_on("127.0.9.1", me), [7000, 17000]);
        assert!(reserved_on("127.0.9.2", me).is_empty());
        // Its own reservation does not stop a cluster from restarting on its ports.
        assert!(reserved_on("127.0.9.1", state.path()).is_empty());
        // A port reserved elsewhere is skipped even though nothing listens on it.
        let taken = reserved_on("127.0.9.1", me);
        let p = free_port_pair(Ipv4Addr::new(127, 0, 9, 1), 7000, &taken).unwrap();
        assert_ne!(p, 7000);
        // The state dir gone: the reservation with it.
        state.remove().unwrap();
        release(Path::new("/nonexistent/never-reserved"));
        assert!(reserved_on("127.0.9.1", me).is_empty());
        assert!(!reservation_file(state.path()).exists());
    }
}
