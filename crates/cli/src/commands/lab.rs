//! The network lab on a cluster started with `local up --netns`: `local cut`, `local heal`,
//! `local blip` (docs/LAB.md). Entering the namespace is `crate::place`.

use std::path::PathBuf;
use std::time::Duration;

use clap::ValueEnum;
use redis_stretch_local::lab::{self, BlipKind};

use crate::error::CliError;
use crate::signal::shutdown_signal;
use crate::target::state_dir;

/// `--signal` of `local blip`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum BlipSignal {
    /// SIGSTOP the zone's processes, SIGCONT after: frozen, silence and timeouts.
    Stop,
    /// Cut the zone off the network (nft drop to and from the other zone and 127.0.0.1),
    /// heal after.
    Cut,
}

/// `--for`: `1.5s`, `500ms`, `3s`, `2m`.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    lab::parse_duration(s)
}

pub fn cut(
    dir: Option<PathBuf>,
    a: &str,
    b: &str,
    engine_with: Option<&str>,
) -> Result<(), CliError> {
    let dir = state_dir(dir);
    let fault = lab::cut(&dir, a, b, engine_with)?;
    println!("{fault}: packets between them are dropped (silently) until `local heal`");
    if engine_with.is_none() {
        println!("the engine and this CLI (127.0.0.1) still reach both zones");
    }
    Ok(())
}

pub fn heal(dir: Option<PathBuf>) -> Result<(), CliError> {
    let dir = state_dir(dir);
    let was = lab::heal(&dir)?;
    if was.is_empty() {
        println!("no network fault was in force");
    }
    for f in was {
        println!("healed: {f}");
    }
    Ok(())
}

pub async fn blip(
    dir: Option<PathBuf>,
    zone: &str,
    duration: Duration,
    signal: BlipSignal,
) -> Result<(), CliError> {
    let dir = state_dir(dir);
    let kind = match signal {
        BlipSignal::Stop => BlipKind::Stop,
        BlipSignal::Cut => BlipKind::Cut,
    };
    let r = lab::blip(&dir, zone, duration, kind, shutdown_signal()).await?;
    if r.hit.is_empty() {
        println!("no running process of ours in {zone}");
    }
    for h in &r.hit {
        let verb = if kind == BlipKind::Stop { "froze " } else { "" };
        println!("{verb}{h}");
    }
    println!(
        "{zone} back after {:.2}s{}",
        r.lasted.as_secs_f64(),
        if r.interrupted { " (interrupted)" } else { "" }
    );
    Ok(())
}
