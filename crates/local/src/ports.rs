//! Free ports. Redis Cluster listens on `port` and its bus on `port + 10000`, so both must be
//! free on the instance's address. Probing by binding is racy against other programs, but a
//! lost race only makes `redis-server` exit at start, which `up` reports and cleans up.

use std::net::{Ipv4Addr, SocketAddrV4, TcpListener};

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
