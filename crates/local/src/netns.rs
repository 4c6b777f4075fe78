//! The network lab's namespace: a local cluster started with `local up --netns` runs in its own
//! network namespace, so that the faults of `local cut|heal|blip` (nft rules) never touch the
//! host's network. Only the kernel's own tools are used (`ip netns`, `nft`), no `setns`:
//!
//! - `ip netns add NS` + `ip -n NS link set lo up`: a fresh namespace whose loopback, once up,
//!   makes all of 127.0.0.0/8 local, so the per-zone addresses work unchanged inside.
//! - The CLI re-executes itself as `ip netns exec NS <same exe> <same args>` (with
//!   [`NETNS_ENV`] set) for every command that talks to the cluster; `ip` execs the program,
//!   so it is the same process, signals and exit code included. Whatever that process starts
//!   (redis-servers, the detached engine) inherits the namespace, and the PID recorded is the
//!   program's own.
//! - `ip netns delete NS` on `local down` and on a failed `local up`; it works from inside too
//!   (the namespace is freed once its last process exits).

use std::ffi::OsString;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::LocalError;

/// Set by the CLI on its re-exec inside the namespace: names the namespace it runs in.
pub const NETNS_ENV: &str = "REDIS_STRETCH_NETNS";

/// Where `ip netns` keeps its named namespaces.
const NETNS_DIR: &str = "/run/netns";

/// The namespace name for a cluster in `state_dir`: `rs-<cluster>-<8 hex of the absolute
/// path>` (cluster name shortened to 12 characters): stable for one state dir, distinct for two.
pub fn name_for(cluster: &str, state_dir: &Path) -> String {
    let abs = std::path::absolute(state_dir).unwrap_or_else(|_| state_dir.to_path_buf());
    // FNV-1a: a fixed function, unlike std's hasher, so the name never changes between builds.
    let mut h: u32 = 0x811c_9dc5;
    for b in abs.as_os_str().as_encoded_bytes() {
        h ^= u32::from(*b);
        h = h.wrapping_mul(0x0100_0193);
    }
    let short: String = cluster
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || *c == '-')
        .take(12)
        .collect();
    format!("rs-{short}-{h:08x}")
}

/// Is a namespace of that name present (`/run/netns/NS`)?
pub fn exists(ns: &str) -> bool {
    file(ns).exists()
}

/// The file that names namespace `ns` (`/run/netns/NS`).
pub fn file(ns: &str) -> PathBuf {
    Path::new(NETNS_DIR).join(ns)
}

/// The namespace this process runs in, when it is the one [`NETNS_ENV`] names (checked by
/// inode against `/run/netns/NS`, so an inherited variable alone does not count).
pub fn inside() -> Option<String> {
    let ns = std::env::var(NETNS_ENV).ok().filter(|n| !n.is_empty())?;
    is_current(&ns).then_some(ns)
}

/// Does this process run in namespace `ns`?
pub fn is_current(ns: &str) -> bool {
    let (Ok(own), Ok(named)) = (
        std::fs::metadata("/proc/self/ns/net"),
        std::fs::metadata(Path::new(NETNS_DIR).join(ns)),
    ) else {
        return false;
    };
    own.dev() == named.dev() && own.ino() == named.ino()
}

/// Does process `pid` run in namespace `ns`?
pub fn pid_in(pid: u32, ns: &str) -> bool {
    let (Ok(own), Ok(named)) = (
        std::fs::metadata(format!("/proc/{pid}/ns/net")),
        std::fs::metadata(Path::new(NETNS_DIR).join(ns)),
    ) else {
        return false;
    };
    own.dev() == named.dev() && own.ino() == named.ino()
}

/// What the lab needs and lacks here: root, `ip` (iproute2) and `nft` (nftables). `Err` names
/// each missing piece and how to get it.
pub fn check_prerequisites() -> Result<(), LocalError> {
    let mut missing = Vec::new();
    if !is_root() {
        missing.push(
            "root: network namespaces and nft rules need it; run as root (e.g. `sudo -E redis-stretch ...`)"
                .to_owned(),
        );
    }
    for (tool, package) in [("ip", "iproute2"), ("nft", "nftables")] {
        if find_tool(tool).is_none() {
            missing.push(format!(
                "`{tool}`: install it with `sudo apt-get install {package}` (or run scripts/deps.sh)"
            ));
        }
    }
    if missing.is_empty() {
        Ok(())
    } else {
        Err(LocalError::LabUnavailable(missing.join("; ")))
    }
}

/// Effective uid 0, read from /proc (no libc call needed).
fn is_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("Uid:"))
                .and_then(|l| l.split_whitespace().nth(2).map(|e| e == "0"))
        })
        .unwrap_or(false)
}

/// `tool` on the PATH, or in the sbin directories a non-login root shell may lack.
pub fn find_tool(tool: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(["/usr/sbin", "/sbin", "/usr/bin", "/bin"].map(PathBuf::from))
        .map(|d| d.join(tool))
        .find(|p| p.is_file())
}

fn tool(name: &str) -> Result<PathBuf, LocalError> {
    find_tool(name).ok_or_else(|| {
        LocalError::LabUnavailable(format!(
            "`{name}` not found; run scripts/deps.sh (Debian packages iproute2, nftables)"
        ))
    })
}

/// Run `program args`, stdin from `input`; an error carries its stderr.
pub(crate) fn run(program: &str, args: &[&str], input: Option<&str>) -> Result<(), LocalError> {
    use std::io::Write;
    use std::process::Stdio;
    let path = tool(program)?;
    let shown = format!("{program} {}", args.join(" "));
    let mut child = Command::new(&path)
        .args(args)
        .stdin(if input.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(LocalError::io(&path))?;
    if let (Some(text), Some(mut stdin)) = (input, child.stdin.take()) {
        stdin
            .write_all(text.as_bytes())
            .map_err(LocalError::io(&path))?;
    }
    let out = child.wait_with_output().map_err(LocalError::io(&path))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(LocalError::Command {
            command: shown,
            why: String::from_utf8_lossy(&out.stderr).trim().to_owned(),
        })
    }
}

/// Create namespace `ns` with its loopback up. Refuses a name already taken: it may be
/// another cluster's.
pub fn create(ns: &str) -> Result<(), LocalError> {
    check_prerequisites()?;
    if exists(ns) {
        return Err(LocalError::Refused(format!(
            "network namespace {ns} already exists (a cluster in this state dir that was not brought down?); \
             stop what runs there, then `ip netns delete {ns}`"
        )));
    }
    run("ip", &["netns", "add", ns], None)?;
    if let Err(e) = run("ip", &["-n", ns, "link", "set", "lo", "up"], None) {
        let _ = delete(ns);
        return Err(e);
    }
    Ok(())
}

/// Remove namespace `ns` (its nft tables go with it). Nothing to do when it is gone.
pub fn delete(ns: &str) -> Result<(), LocalError> {
    if !exists(ns) {
        return Ok(());
    }
    run("ip", &["netns", "delete", ns], None)
}

/// Run `program args` inside `ns` (`ip netns exec NS program args`): how nft is only ever run
/// there, never in the host's namespace.
pub(crate) fn exec_in(
    ns: &str,
    program: &str,
    args: &[&str],
    input: Option<&str>,
) -> Result<(), LocalError> {
    let path = tool(program)?;
    let path = path.to_string_lossy();
    let mut full = vec!["netns", "exec", ns, &path];
    full.extend_from_slice(args);
    run("ip", &full, input)
}

/// The command that re-runs this very program, with the same arguments, inside `ns`:
/// `ip netns exec NS <exe> <args>` with [`NETNS_ENV`] set. The caller `exec`s it (replacing
/// itself, so stdio, signals and the exit code stay the same).
pub fn reexec_command(ns: &str) -> Result<Command, LocalError> {
    if !exists(ns) {
        return Err(LocalError::Refused(format!(
            "the cluster's network namespace {ns} is gone (host rebooted?); \
             its processes cannot be running: remove the state with `local down`"
        )));
    }
    check_prerequisites()?;
    let exe = std::env::current_exe().map_err(LocalError::io("/proc/self/exe"))?;
    let ip = tool("ip")?;
    let mut cmd = Command::new(ip);
    cmd.args(["netns", "exec", ns])
        .arg(exe)
        .args(std::env::args_os().skip(1).collect::<Vec<OsString>>())
        .env(NETNS_ENV, ns);
    Ok(cmd)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_short_stable_and_distinct_per_state_dir() {
        let a = name_for("seed", Path::new("/tmp/a"));
        assert_eq!(a, name_for("seed", Path::new("/tmp/a")));
        assert_ne!(a, name_for("seed", Path::new("/tmp/b")));
        assert!(a.starts_with("rs-seed-"));
        assert_eq!(a.len(), "rs-seed-".len() + 8);
        let long = name_for("a-very-long-cluster-name/../x", Path::new("/tmp/a"));
        assert!(long.starts_with("rs-a-very-long--"), "{long}");
        assert!(!long.contains('/'));
    }
}
