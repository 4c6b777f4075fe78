//! `redis-cli --cluster check`, the verdict operators already trust.

use std::process::Stdio;
use std::time::Duration;

use redis_stretch_admin::{NodeAddr, Secret};

const CHECK_TIMEOUT: Duration = Duration::from_secs(20);

/// Runs `redis-cli --cluster check <addr>` (password through `REDISCLI_AUTH`, never on the
/// command line) and judges it clean when it reports both `[OK] All nodes agree about slots
/// configuration.` and `[OK] All 16384 slots covered.` and no `[ERR]`. The summary is a short
/// line for a table: the OK lines, or the first error/warning lines.
pub async fn cluster_check(addr: &NodeAddr, password: Option<&Secret>) -> (bool, String) {
    let mut cmd = tokio::process::Command::new("redis-cli");
    cmd.arg("--cluster")
        .arg("check")
        .arg(addr.to_string())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    match password {
        Some(p) => cmd.env("REDISCLI_AUTH", p.expose()),
        None => cmd.env_remove("REDISCLI_AUTH"),
    };
    let out = match tokio::time::timeout(CHECK_TIMEOUT, cmd.output()).await {
        Ok(Ok(out)) => out,
        Ok(Err(e)) => return (false, format!("cannot run redis-cli: {e}")),
        Err(_) => {
            return (
                false,
                format!("redis-cli --cluster check timed out after {CHECK_TIMEOUT:?}"),
            )
        }
    };
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    judge(&text)
}

/// The verdict on `redis-cli --cluster check` output.
pub fn judge(output: &str) -> (bool, String) {
    let agree = output.contains("[OK] All nodes agree about slots configuration");
    let covered = output.contains("[OK] All 16384 slots covered");
    let problems: Vec<&str> = output
        .lines()
        .map(str::trim)
        .filter(|l| l.starts_with("[ERR]") || l.starts_with("[WARNING]") || l.starts_with("*** "))
        .collect();
    let has_err = output.lines().any(|l| l.trim_start().starts_with("[ERR]"));
    let clean = agree && covered && !has_err;
    let summary = if clean {
        "all 16384 slots covered; all nodes agree".to_owned()
    } else if problems.is_empty() {
        let last = output
            .lines()
            .rev()
            .find(|l| !l.trim().is_empty())
            .unwrap_or("no output");
        format!("not confirmed: {}", last.trim())
    } else {
        problems
            .iter()
            .take(3)
            .copied()
            .collect::<Vec<_>>()
            .join("; ")
    };
    (clean, summary)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
    use super::*;

    #[test]
    fn a_clean_check_is_clean() {
        let out = ">>> Performing Cluster Check (using node 127.0.0.1:7000)\n\
M: abc 127.0.0.1:7000\n   slots:[0-5460] (5461 slots) master\n\
[OK] All nodes agree about slots configuration.\n>>> Check for open slots...\n\
>>> Check slots coverage...\n[OK] All 16384 slots covered.\n";
        assert_eq!(
            judge(out),
            (true, "all 16384 slots covered; all nodes agree".to_owned())
        );
    }

    #[test]
    fn uncovered_or_disagreeing_is_not_clean() {
        let out = "[ERR] Nodes don't agree about configuration!\n>>> Check slots coverage...\n\
[ERR] Not all 16384 slots are covered by nodes.\n";
        let (clean, summary) = judge(out);
        assert!(!clean);
        assert!(summary.contains("don't agree"), "{summary}");
        let (clean, summary) =
            judge("Could not connect to Redis at 127.0.0.1:1: Connection refused\n");
        assert!(!clean);
        assert!(summary.contains("Connection refused"), "{summary}");
    }
}
