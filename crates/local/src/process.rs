//! redis-server processes: start them in their own process group (so a detached cluster
//! outlives the command, and a Ctrl-C in the terminal does not reach it), and stop only what
//! we started — by PID, after checking the PID still belongs to that instance.

use std::fs;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use redis_stretch_api::ServerFlavour;

use crate::state::LocalInstance;
use crate::LocalError;

/// Start `redis-server conf` with output to `log`; returns the PID.
pub fn spawn(redis_server: &Path, conf: &Path, log: &Path) -> Result<u32, LocalError> {
    spawn_detached(redis_server, &[&conf.to_string_lossy()], log)
}

/// Start `program args` in its own process group with output to `log`; returns the PID.
/// Not waited for here: the child is reaped by us if we live long enough (see `reap`), else by
/// init once we exit. Liveness is read from /proc, which tells a zombie from a live one.
pub fn spawn_detached(program: &Path, args: &[&str], log: &Path) -> Result<u32, LocalError> {
    use std::os::unix::process::CommandExt;
    let out = fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(log)
        .map_err(LocalError::io(log))?;
    let err = out.try_clone().map_err(LocalError::io(log))?;
    let child = Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .stdout(out)
        .stderr(err)
        .process_group(0)
        .spawn()
        .map_err(LocalError::io(program))?;
    Ok(child.id())
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ProcessStatus {
    Running,
    /// SIGSTOPped (a frozen zone).
    Stopped,
    Gone,
}

/// Is `inst`'s recorded PID still that server? Redis rewrites its title to
/// `redis-server <host>:<port> [cluster]`; before that it is `redis-server <data dir>/redis.conf`
/// (another flavour's binary in its place, see [`ServerFlavour::server_binary`]). Either guards
/// against PID reuse.
pub fn is_running(inst: &LocalInstance) -> ProcessStatus {
    let Some(pid) = inst.pid else {
        return ProcessStatus::Gone;
    };
    let Ok(stat) = fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return ProcessStatus::Gone;
    };
    // Field 3, after the parenthesised command name (which may contain spaces).
    let state = stat
        .rsplit_once(')')
        .and_then(|(_, rest)| rest.split_whitespace().next())
        .unwrap_or("X");
    if matches!(state, "Z" | "X" | "x") {
        return ProcessStatus::Gone;
    }
    let cmdline = fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
    let cmdline = String::from_utf8_lossy(&cmdline);
    // Before Redis rewrites its title, the command line still names our config file.
    // Whole words: port 7001 is not 70010, dc-a-1's directory not dc-a-10's.
    let addr = format!("{}:{}", inst.host, inst.port);
    let conf = format!("{}/", inst.data_dir.to_string_lossy());
    let ours = cmdline.split(['\0', ' ']).any(|w| w == addr) || cmdline.contains(&conf);
    let server = ServerFlavour::ALL
        .iter()
        .any(|f| cmdline.contains(f.server_binary()));
    if !server || !ours {
        return ProcessStatus::Gone;
    }
    if state == "T" || state == "t" {
        ProcessStatus::Stopped
    } else {
        ProcessStatus::Running
    }
}

fn signal(pid: u32, sig: Signal) -> Result<(), LocalError> {
    let raw = i32::try_from(pid).map_err(|_| LocalError::Signal {
        pid,
        source: nix::Error::EINVAL,
    })?;
    match kill(Pid::from_raw(raw), sig) {
        Ok(()) | Err(nix::Error::ESRCH) => Ok(()),
        Err(source) => Err(LocalError::Signal { pid, source }),
    }
}

/// Send `sig` to `inst` if it is still ours.
pub fn send(inst: &LocalInstance, sig: Signal) -> Result<bool, LocalError> {
    match (is_running(inst), inst.pid) {
        (ProcessStatus::Gone, _) | (_, None) => Ok(false),
        (_, Some(pid)) => signal(pid, sig).map(|()| true),
    }
}

/// Stop every instance in `insts` that is still ours: SIGCONT (a frozen process cannot act on
/// SIGTERM), SIGTERM, then SIGKILL after `grace`. Returns the names it stopped.
pub fn stop_all(insts: &[LocalInstance], grace: Duration) -> Result<Vec<String>, LocalError> {
    let mut stopped = Vec::new();
    for i in insts {
        if send(i, Signal::SIGCONT)? && send(i, Signal::SIGTERM)? {
            stopped.push(i.name.clone());
        }
    }
    let deadline = Instant::now() + grace;
    while Instant::now() < deadline && insts.iter().any(|i| is_running(i) != ProcessStatus::Gone) {
        reap(insts);
        std::thread::sleep(Duration::from_millis(20));
    }
    for i in insts {
        send(i, Signal::SIGKILL)?;
    }
    let deadline = Instant::now() + Duration::from_secs(2);
    while Instant::now() < deadline && insts.iter().any(|i| is_running(i) != ProcessStatus::Gone) {
        reap(insts);
        std::thread::sleep(Duration::from_millis(10));
    }
    reap(insts);
    Ok(stopped)
}

/// Collect these instances if they are exited children of this process, without blocking,
/// so they do not linger as zombies. Only their PIDs: other children are not ours to reap.
pub fn reap(insts: &[LocalInstance]) {
    use nix::sys::wait::{waitpid, WaitPidFlag};
    for pid in insts.iter().filter_map(|i| i.pid) {
        if let Ok(raw) = i32::try_from(pid) {
            let _ = waitpid(Pid::from_raw(raw), Some(WaitPidFlag::WNOHANG));
        }
    }
}

/// Stop a process of ours that is not a redis-server (the engine): SIGTERM, then SIGKILL.
pub fn stop_pid(pid: u32, grace: Duration) -> Result<(), LocalError> {
    signal(pid, Signal::SIGTERM)?;
    let deadline = Instant::now() + grace;
    while Instant::now() < deadline && crate::engine_process_alive(pid) {
        if let Ok(raw) = i32::try_from(pid) {
            use nix::sys::wait::{waitpid, WaitPidFlag};
            let _ = waitpid(Pid::from_raw(raw), Some(WaitPidFlag::WNOHANG));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    if crate::engine_process_alive(pid) {
        signal(pid, Signal::SIGKILL)?;
    }
    Ok(())
}
