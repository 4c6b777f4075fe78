//! `redis-stretch operator` as users run it outside the cluster: the real binary, a kubeconfig,
//! its own metrics port; killed (by its PID, via the child handle) when the guard drops.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use crate::error::{Error, Result};

pub struct Operator {
    child: Child,
    log: PathBuf,
    metrics_port: u16,
}

/// The `redis-stretch` binary of this build: `$REDIS_STRETCH_BIN`, else next to the test
/// executable's directory (target/debug/redis-stretch; `cargo build -p redis-stretch` makes it).
pub fn redis_stretch_bin() -> Result<PathBuf> {
    if let Some(p) = std::env::var_os("REDIS_STRETCH_BIN") {
        return Ok(PathBuf::from(p));
    }
    let exe = std::env::current_exe().map_err(Error::io("locating the test executable"))?;
    // target/debug/deps/<test> -> target/debug/redis-stretch
    let bin = exe
        .parent()
        .and_then(Path::parent)
        .map(|d| d.join("redis-stretch"))
        .ok_or_else(|| Error::Invalid(format!("no target dir above {}", exe.display())))?;
    if !bin.exists() {
        return Err(Error::Invalid(format!(
            "{} not found: run `cargo build -p redis-stretch` first (scripts/test.sh does)",
            bin.display()
        )));
    }
    Ok(bin)
}

impl Operator {
    /// Start an operator replica named `identity` against the cluster of `kubeconfig`, logging
    /// to `dir/operator-<identity>.log` (the operator at debug: reconcile errors, such as an
    /// RBAC denial, are logged at that level). `extra` are more `redis-stretch operator` flags.
    pub fn start(kubeconfig: &Path, dir: &Path, identity: &str, extra: &[&str]) -> Result<Self> {
        Self::start_with_env(kubeconfig, dir, identity, extra, &[])
    }

    /// As `start`, with more environment variables (a crash point, say).
    pub fn start_with_env(
        kubeconfig: &Path,
        dir: &Path,
        identity: &str,
        extra: &[&str],
        env: &[(&str, &str)],
    ) -> Result<Self> {
        let log = dir.join(format!("operator-{identity}.log"));
        let out = File::create(&log).map_err(Error::io(format!("creating {}", log.display())))?;
        let err = out
            .try_clone()
            .map_err(Error::io(format!("opening {}", log.display())))?;
        // A free port for /metrics, so that several operators (and tests) run side by side.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map_err(Error::io("finding a free port"))?
            .port();
        let bin = redis_stretch_bin()?;
        let child = Command::new(&bin)
            .arg("operator")
            .args(["--identity", identity])
            .args(["--metrics-addr", &format!("127.0.0.1:{port}")])
            .args(extra)
            .env("KUBECONFIG", kubeconfig)
            // The binary's log filter (not RUST_LOG).
            .env(
                "REDIS_STRETCH_LOG",
                std::env::var("REDIS_STRETCH_E2E_OPERATOR_LOG")
                    .unwrap_or_else(|_| "info,redis_stretch_operator=debug".to_owned()),
            )
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .spawn()
            .map_err(Error::io(format!("starting {} operator", bin.display())))?;
        Ok(Self {
            child,
            log,
            metrics_port: port,
        })
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Resident memory now, KiB (`VmRSS` of /proc/PID/status).
    pub fn rss_kib(&self) -> Option<u64> {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id())).ok()?;
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.split_whitespace().next())
            .and_then(|v| v.parse().ok())
    }

    /// The port of its `/metrics`, `/healthz` and `/readyz` on 127.0.0.1.
    pub fn metrics_port(&self) -> u16 {
        self.metrics_port
    }

    /// The text of its `/metrics` (Prometheus exposition format).
    pub fn metrics(&self) -> Result<String> {
        use std::io::{Read, Write};
        let addr = format!("127.0.0.1:{}", self.metrics_port);
        let io = |source| Error::Io {
            what: format!("reading http://{addr}/metrics"),
            source,
        };
        let mut s = std::net::TcpStream::connect(&addr).map_err(io)?;
        s.set_read_timeout(Some(std::time::Duration::from_secs(5)))
            .map_err(io)?;
        s.write_all(b"GET /metrics HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
            .map_err(io)?;
        let mut body = String::new();
        s.read_to_string(&mut body).map_err(io)?;
        Ok(body
            .split_once("\r\n\r\n")
            .map(|(_, b)| b.to_owned())
            .unwrap_or(body))
    }

    pub fn log(&self) -> &Path {
        &self.log
    }

    /// Whether the process has ended (by itself: a crash point, say), and how.
    pub fn exited(&mut self) -> Option<std::process::ExitStatus> {
        self.child.try_wait().ok().flatten()
    }

    /// Kill it now (SIGKILL): an operator that dies mid-action.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Operator {
    fn drop(&mut self) {
        self.kill();
    }
}
