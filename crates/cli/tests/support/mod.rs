//! What the binary's end-to-end tests share: running `redis-stretch` and reading its output.
#![allow(dead_code, clippy::unwrap_used)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

pub const BIN: &str = env!("CARGO_BIN_EXE_redis-stretch");

/// The repository's root (for `examples/`).
pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// `redis-stretch args`, with no state dir or namespace inherited from the environment.
pub fn run(args: &[&str]) -> Output {
    Command::new(BIN)
        .args(args)
        .env_remove("REDIS_STRETCH_STATE_DIR")
        .env_remove("REDIS_STRETCH_NETNS")
        .output()
        .unwrap()
}

/// Stdout then stderr, for assertion messages.
pub fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// Stops the cluster in its state dir when the test ends, passed or failed.
pub struct Down(pub PathBuf);

impl Drop for Down {
    fn drop(&mut self) {
        let _ = run(&[
            "local",
            "down",
            "--state-dir",
            &self.0.display().to_string(),
        ]);
    }
}

/// Set by scripts/test.sh: the network lab's tests must run, and a missing prerequisite
/// (root, `ip`, `nft`, `redis-cli`) fails them instead of skipping them.
pub const REQUIRE_NETLAB_ENV: &str = "REDIS_STRETCH_NETLAB";

/// Whether a network-lab test runs here. `Err(why)` of `available` skips it with a message, or,
/// where the suite is meant to run the lab (`REDIS_STRETCH_NETLAB=1`), fails it.
pub fn netlab_runs(test: &str, available: Result<(), String>) -> bool {
    match available {
        Ok(()) => true,
        Err(why) if std::env::var_os(REQUIRE_NETLAB_ENV).is_some_and(|v| v != "0") => {
            #[allow(clippy::panic)]
            {
                panic!("{test}: {REQUIRE_NETLAB_ENV} is set but the network lab is not available: {why}")
            }
        }
        Err(why) => {
            eprintln!(
                "SKIPPED {test}: the network lab is not available here: {why} \
                 (set {REQUIRE_NETLAB_ENV}=1 to make this a failure; scripts/test.sh does)"
            );
            false
        }
    }
}
