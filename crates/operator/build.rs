//! The commit the operator is built from, for `redis_stretch_build_info`: the environment's
//! `REDIS_STRETCH_GIT_COMMIT` when set (a build without `.git`), else `git rev-parse`, else
//! nothing (the metric says `unknown`).

use std::process::Command;

fn git(args: &[&str]) -> Option<String> {
    let out = Command::new("git").args(args).output().ok()?;
    if !out.status.success() {
        return None;
    }
    let s = String::from_utf8(out.stdout).ok()?.trim().to_owned();
    (!s.is_empty()).then_some(s)
}

fn main() {
    println!("cargo:rerun-if-env-changed=REDIS_STRETCH_GIT_COMMIT");
    let commit = std::env::var("REDIS_STRETCH_GIT_COMMIT")
        .ok()
        .filter(|c| !c.is_empty())
        .or_else(|| {
            // Rebuild when HEAD moves: HEAD itself (a checkout) and the branch it names (a commit).
            if let Some(dir) = git(&["rev-parse", "--absolute-git-dir"]) {
                println!("cargo:rerun-if-changed={dir}/HEAD");
                // A ref that is not a file (packed) would make Cargo rerun this on every build.
                let branch = git(&["symbolic-ref", "-q", "HEAD"])
                    .map(|r| format!("{dir}/{r}"))
                    .into_iter()
                    .chain([format!("{dir}/packed-refs")])
                    .find(|p| std::path::Path::new(p).is_file());
                if let Some(b) = branch {
                    println!("cargo:rerun-if-changed={b}");
                }
            }
            git(&["rev-parse", "--short=12", "HEAD"])
        });
    if let Some(c) = commit {
        println!("cargo:rustc-env=REDIS_STRETCH_GIT_COMMIT={c}");
    }
}
