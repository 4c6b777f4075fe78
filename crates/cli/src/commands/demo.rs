//! `redis-stretch demo`: the whole story on this machine in about a minute — the recipe's
//! two-DC cluster, the hard case (the DC holding most masters goes dark), the easy one, and
//! what clients saw — then everything is stopped.

use std::path::PathBuf;
use std::time::Instant;

use redis_stretch_api::{load_manifest, with_server, ServerFlavour};
use redis_stretch_drill::scenario::{run_rollout, RolloutBy};
use redis_stretch_drill::{run_drill, Recovery, Scenario, ZoneFault};
use redis_stretch_local::{find_server, LocalFaults, StateDir, UpOptions, UpOutcome};

use crate::error::CliError;
use crate::print::print_snapshot;
use crate::target::observe_local;

const MANIFEST: &str = include_str!("../../../../examples/seed-two-dc.yaml");

/// Stops the demo's cluster however the demo ends.
struct Cleanup(StateDir);

impl Drop for Cleanup {
    fn drop(&mut self) {
        match redis_stretch_local::down(&self.0, false) {
            Ok(r) => println!(
                "\ncleaned up: stopped {} processes, removed {}",
                r.stopped.len(),
                self.0.path().display()
            ),
            Err(e) => eprintln!("cleanup of {}: {e}", self.0.path().display()),
        }
    }
}

fn say(text: &str) {
    println!("\n== {text}");
}

pub async fn run(out: PathBuf, server: ServerFlavour) -> Result<(), CliError> {
    let started = Instant::now();
    std::fs::create_dir_all(&out)
        .map_err(|e| CliError::Usage(format!("--out {}: {e}", out.display())))?;
    let dir = StateDir::new(
        std::env::temp_dir().join(format!("redis-stretch-demo-{}", std::process::id())),
    );
    let manifest = with_server(MANIFEST, server).map_err(CliError::Runtime)?;
    let cluster = load_manifest(&manifest).map_err(|p| CliError::Runtime(p.to_string()))?;
    say(&format!("1/4  The recipe's cluster on {server}: 3 masters and 3 replicas over two data centers (dc-a prefers 2 masters, dc-b 1), every master's replica in the other DC, on loopback (dc-a = 127.0.1.0/24, dc-b = 127.0.2.0/24)"));
    let opts = UpOptions {
        state_dir: dir.clone(),
        redis_server: find_server(server)?,
        ready_timeout: std::time::Duration::from_secs(30),
        manifest_yaml: manifest.clone(),
    };
    let outcome = redis_stretch_local::up(&cluster, &opts).await?;
    let _cleanup = Cleanup(dir.clone());
    if let UpOutcome::Started { report, .. } = outcome {
        println!(
            "bootstrapped by our admin layer, failover-ready after {:.2}s",
            report.ready_after.as_secs_f64()
        );
    }
    print_snapshot(&observe_local(&dir).await?, Some("cluster"));

    let drills = [
        ("dc-a", ZoneFault::Stop, "2/5  dc-a goes dark (frozen with SIGSTOP: silence and timeouts, as a lost DC looks from outside). It holds 2 of 3 masters: plain Redis stays down until a human runs TAKEOVER. The engine confirms the silence, unfences the survivors, takes over both orphaned shards in dc-b before the survivors even declare `fail`, then fails back gracefully when dc-a returns."),
        ("dc-b", ZoneFault::Kill, "3/5  dc-b dies (SIGKILL). It holds 1 master: Redis would elect its replica after node-timeout; the engine forces the failover as soon as the loss is confirmed, keeps dc-a's masters unfenced, and fails back when dc-b returns."),
    ];
    let faults = LocalFaults::new(dir.clone());
    let mut rows = Vec::new();
    for (zone, fault, story) in drills {
        say(story);
        let svg = out.join(format!("drill-{zone}.svg"));
        let scenario = Scenario {
            zone: zone.to_owned(),
            fault,
            recovery: Recovery::Engine,
            new_addresses: false,
            rto_only: false,
            svg,
        };
        let r = run_drill(&faults, &scenario)
            .await
            .map_err(|e| CliError::drill(e, &dir))?;
        print!("{}", r.report);
        let json = out.join(format!("drill-{zone}.json"));
        if let Ok(text) = serde_json::to_string_pretty(&r.report) {
            let _ = std::fs::write(&json, text);
        }
        rows.push((zone, r, None));
    }

    say("4/5  Day 2: every instance restarted under the same writers (a new version, a setting only a restart applies). Today's StatefulSet RollingUpdate restarts a master and its replica together; the engine restarts one instance at a time: replicas first, each back in sync before the next, each master only after a graceful CLUSTER FAILOVER has handed its slots to its replica in the other DC, and the preferred layout restored at the end.");
    let scenario = Scenario {
        zone: String::new(),
        fault: ZoneFault::Stop,
        recovery: Recovery::Engine,
        new_addresses: false,
        rto_only: false,
        svg: out.join("drill-rollout.svg"),
    };
    let (r, figures) = run_rollout(&faults, &scenario, RolloutBy::Engine, None)
        .await
        .map_err(|e| CliError::drill(e, &dir))?;
    print!("{}", r.report);
    println!(
        "rollout: {:.1} s in all; the longest time one shard refused writes: {:.0} ms",
        figures.total_ms / 1000.0,
        figures.longest_shard_outage_ms
    );
    // Its "RTO" is the longest time one shard refused writes: nothing was lost to recover.
    rows.push(("rollout", r, Some(figures.longest_shard_outage_ms)));

    say("5/5  Summary");
    println!(
        "{:<6} {:>9} {:>12} {:>10} {:>12} {:>10}  timeline",
        "what", "RTO", "failed plain", "failed WAIT", "acked lost", "checks"
    );
    for (zone, r, outage) in &rows {
        let rep = &r.report;
        let failed = |k: &str| {
            rep.writers
                .iter()
                .find(|w| format!("{:?}", w.writer).to_lowercase() == k)
                .map_or(0, |w| w.failed)
        };
        println!(
            "{:<6} {:>8.2}s {:>12} {:>10} {:>12} {:>10}  {}",
            zone,
            outage.or(rep.rto_ms).unwrap_or(f64::NAN) / 1000.0,
            failed("plain"),
            failed("wait"),
            rep.acked_writes_lost,
            if rep.cluster_check.iter().all(|c| c.1) {
                "clean"
            } else {
                "NOT CLEAN"
            },
            r.svg.display()
        );
    }
    println!("\nRTO: time from the fault until every slot took writes again (rollout: the longest time one shard refused writes). Failed writes: still failing after 1 s of client retries. Acknowledged = confirmed by WAIT 1: none may be lost.");
    println!("demo finished in {:.0}s", started.elapsed().as_secs_f64());
    Ok(())
}
