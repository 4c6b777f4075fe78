//! Benchmark: six empty nodes to failover-ready, our bootstrap vs
//! `redis-cli --cluster create --cluster-replicas 1`, on the same kind of nodes (same config,
//! same machine), timed to the same point by the same poller. Run through scripts/bench.sh.
//!
//! Two starting points, both measured:
//! - *cold*: the timer starts the moment all six processes answer PING. Redis refuses to let a
//!   master report `cluster_state:ok` until 2 s after it started (`CLUSTER_WRITABLE_DELAY` in
//!   cluster.c), so both tools sit on that floor.
//! - *warm*: the six empty nodes have been up for 3 s (pods that passed readiness before the
//!   operator bootstraps them, the usual case on Kubernetes). This is where the tools differ.
//!
//! Usage: bootstrap_bench [RUNS] — prints a Markdown section on stdout.

use std::process::Command;
use std::time::{Duration, Instant};

use redis_stretch_api::load_manifest;
use redis_stretch_engine::{bootstrap, wait_failover_ready, Instance};
use redis_stretch_local::testing::{unique_state_dir, SEED_MANIFEST};
use redis_stretch_local::{down, find_redis_server, spawn_empty, EmptyCluster, UpOptions};

type Error = Box<dyn std::error::Error>;

async fn empty_nodes(label: &str, warm: bool) -> Result<(EmptyCluster, UpOptions), Error> {
    let opts = UpOptions {
        state_dir: unique_state_dir(label),
        redis_server: find_redis_server()?,
        ready_timeout: Duration::from_secs(60),
        manifest_yaml: SEED_MANIFEST.to_owned(),
    };
    let cluster = load_manifest(SEED_MANIFEST).map_err(|p| p.to_string())?;
    let empty = spawn_empty(&cluster, &opts).await?;
    if warm {
        tokio::time::sleep(Duration::from_secs(3)).await;
    }
    Ok((empty, opts))
}

fn instances(e: &EmptyCluster) -> Vec<Instance> {
    e.state.instances.iter().map(|i| i.as_instance()).collect()
}

async fn ours(warm: bool) -> Result<Duration, Error> {
    let (e, opts) = empty_nodes("bench-ours", warm).await?;
    let start = Instant::now();
    let r = bootstrap(
        &e.plan,
        &instances(&e),
        e.password.as_ref(),
        None,
        Duration::from_secs(60),
    )
    .await;
    let took = start.elapsed();
    down(&opts.state_dir, false)?;
    r?;
    Ok(took)
}

async fn redis_cli(warm: bool) -> Result<Duration, Error> {
    let (e, opts) = empty_nodes("bench-cli", warm).await?;
    let insts = instances(&e);
    let start = Instant::now();
    let mut cmd = Command::new("redis-cli");
    cmd.args(["--cluster", "create"]);
    cmd.args(insts.iter().map(|i| i.addr.to_string()));
    cmd.args(["--cluster-replicas", "1", "--cluster-yes"]);
    if let Some(p) = &e.password {
        cmd.env("REDISCLI_AUTH", p.expose());
    }
    let out = cmd.output()?;
    let ready = wait_failover_ready(&insts, e.password.as_ref(), Duration::from_secs(60)).await;
    let took = start.elapsed();
    down(&opts.state_dir, false)?;
    if !out.status.success() {
        return Err(format!("redis-cli failed: {}", String::from_utf8_lossy(&out.stdout)).into());
    }
    ready?;
    Ok(took)
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

struct Series {
    ours: Vec<f64>,
    cli: Vec<f64>,
}

async fn series(runs: usize, warm: bool) -> Result<Series, Error> {
    let (mut a, mut b) = (Vec::new(), Vec::new());
    for i in 0..runs {
        // Alternate the order so that neither tool always runs on a warmer machine.
        if i % 2 == 0 {
            a.push(ours(warm).await?.as_secs_f64());
            b.push(redis_cli(warm).await?.as_secs_f64());
        } else {
            b.push(redis_cli(warm).await?.as_secs_f64());
            a.push(ours(warm).await?.as_secs_f64());
        }
        eprintln!(
            "{} run {}: ours {:.3}s, redis-cli {:.3}s",
            if warm { "warm" } else { "cold" },
            i + 1,
            a[i],
            b[i]
        );
    }
    Ok(Series { ours: a, cli: b })
}

fn table(name: &str, mut s: Series) {
    let fmt = |v: &[f64]| {
        v.iter()
            .map(|x| format!("{x:.3}"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let (ra, rb) = (fmt(&s.ours), fmt(&s.cli));
    let (ma, mb) = (median(&mut s.ours), median(&mut s.cli));
    println!("| start | tool | median (s) | runs (s) |");
    println!("|---|---|---|---|");
    println!("| {name} | redis-stretch bootstrap | {ma:.3} | {ra} |");
    println!("| {name} | `redis-cli --cluster create --cluster-replicas 1` | {mb:.3} | {rb} |");
    println!();
    println!(
        "{name}: ratio ours / redis-cli (medians) **{:.2}**",
        ma / mb
    );
    println!();
}

#[tokio::main]
async fn main() -> Result<(), Error> {
    let runs: usize = std::env::args()
        .nth(1)
        .map(|a| a.parse())
        .transpose()?
        .unwrap_or(7);
    let warm = series(runs, true).await?;
    let cold = series(runs, false).await?;
    table("warm", warm);
    table("cold", cold);
    Ok(())
}
