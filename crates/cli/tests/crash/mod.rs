//! The crash-point harness (issue 16): a scenario on a fresh seed cluster, its engine a
//! `local engine` child started with `REDIS_STRETCH_CRASH_AFTER=POINT` (it exits with code 86
//! right after the step in which its POINTth action completed), then restarted without it; the
//! run passes when the restarted engine settles, every write a `WAIT 1` acknowledged reads back,
//! and the cluster checks clean.
//!
//! Only the scenario's own phase runs under the crash point: what leads up to it (fencing the
//! healthy cluster; for a failback, the takeover; for a heal, the cut and its decision) runs
//! under an engine without it, stopped before the crash engine starts.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::io::Write;
use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use redis_stretch_admin::{NodeAddr, Secret};
use redis_stretch_drill::{check_cluster, verify, DrillConfig, Workload, WriteOutcome, WriterKind};
use redis_stretch_engine::decide::FENCE_SHUT;
use redis_stretch_engine::{EngineStatus, Waiting, CRASH_AFTER_ENV};
use redis_stretch_local::testing::{on_thread, test_server, unique_state_dir};
use redis_stretch_local::{engine_status, netns, StateDir, EVENTS_FILE};
use serde_json::Value;

use crate::support::{root, run, text, BIN};

/// `full`: walk every crash point `any:1`, `any:2`, ... until a run ends without reaching it
/// (scripts/crash-points.sh); a list (`any:3,takeover:1`): those points, to reproduce one.
/// Unset: the trimmed points each test names.
pub const WALK_ENV: &str = "REDIS_STRETCH_CRASH_WALK";
/// A file each run appends its row to (tab-separated; scripts/crash-points.sh makes the table).
pub const TABLE_ENV: &str = "REDIS_STRETCH_CRASH_TABLE";

/// The exit code of an engine stopped at its crash point.
const CRASHED: i32 = 86;
/// How long a phase gets to settle (a failback waits out its hold-down, 5 s, first).
const SETTLE_LIMIT: Duration = Duration::from_secs(60);
/// Settled: the expected state reported, and no action for this long.
const QUIET: Duration = Duration::from_millis(1500);
/// More crash points than any scenario has actions: a walk that gets here is broken.
const MAX_POINTS: u32 = 80;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scenario {
    /// dc-a (2 of 3 masters) killed: unfence and take over its shards in dc-b.
    Takeover,
    /// The same with dc-a frozen (SIGSTOP): its masters still hold their slots, silent.
    TakeoverFrozen,
    /// dc-a frozen, taken over, then back: failback to the preferred layout.
    Failback,
    /// dc-a killed, taken over, then restarted from nodes.conf without its data (persistence
    /// off): its instances resync in full before failback may use them.
    FailbackAfterKill,
    /// The zones cut from each other, the engine at a third site: the majority side chosen.
    Partition,
    /// The same with `failover.preferredSide: dc-b`: the minority side chosen.
    PartitionPreferredB,
    /// A cut decided, then healed: fences reopened, failback.
    Heal,
    /// `local roll`: every instance restarted by the engine, one at a time.
    Rollout,
    /// `local scale --shards 6`: new masters and replicas, then slots moved batch by batch.
    ScaleOut,
}

impl Scenario {
    pub fn name(self) -> &'static str {
        match self {
            Scenario::Takeover => "takeover",
            Scenario::TakeoverFrozen => "takeover, dc-a frozen",
            Scenario::Failback => "failback",
            Scenario::FailbackAfterKill => "failback, dc-a killed",
            Scenario::Partition => "partition",
            Scenario::PartitionPreferredB => "partition, preferredSide dc-b",
            Scenario::Heal => "heal",
            Scenario::Rollout => "rollout",
            Scenario::ScaleOut => "scale out",
        }
    }

    /// How long a phase gets to settle: a scale-out moves half the slots (about 30 s on an idle
    /// machine, several times that beside the rest of the suite on two cores).
    fn settle_limit(self) -> Duration {
        match self {
            Scenario::ScaleOut => Duration::from_secs(420),
            _ => SETTLE_LIMIT,
        }
    }

    /// Cuts need the network lab: the cluster in a namespace of its own.
    pub fn netns(self) -> bool {
        matches!(
            self,
            Scenario::Partition | Scenario::PartitionPreferredB | Scenario::Heal
        )
    }

    fn manifest(self) -> String {
        let seed = std::fs::read_to_string(root().join("examples/seed-two-dc.yaml")).unwrap();
        match self {
            Scenario::PartitionPreferredB => {
                let m = seed.replace(
                    "    policy: Automatic\n",
                    "    policy: Automatic\n    preferredSide: dc-b\n",
                );
                assert_ne!(
                    m, seed,
                    "examples/seed-two-dc.yaml changed: no failover.policy"
                );
                m
            }
            _ => seed,
        }
    }

    /// Where the scenario's engine ends up when nothing stops it.
    fn end(self) -> Expect {
        match self {
            Scenario::Takeover | Scenario::TakeoverFrozen => Expect::ZoneReturn,
            Scenario::Partition | Scenario::PartitionPreferredB => Expect::Partition,
            Scenario::Failback
            | Scenario::FailbackAfterKill
            | Scenario::Heal
            | Scenario::Rollout
            | Scenario::ScaleOut => Expect::AsPreferred,
        }
    }
}

/// A state the engine reports (`waiting_for` in engine.json) once a phase is done.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Expect {
    AsPreferred,
    /// dc-a lost; dc-b serves every slot.
    ZoneReturn,
    /// A cut, a side chosen and enforced.
    Partition,
}

impl Expect {
    fn holds(self, w: Option<&Waiting>) -> bool {
        matches!(
            (self, w),
            (Expect::AsPreferred, Some(Waiting::AsPreferred))
                | (Expect::ZoneReturn, Some(Waiting::ZoneReturn { .. }))
                | (Expect::Partition, Some(Waiting::Partition { .. }))
        )
    }
}

/// The points a test walks: every `any:N` (full walk), or the trimmed list.
pub fn points(trimmed: &[&str]) -> Walk {
    match std::env::var(WALK_ENV) {
        Ok(w) if w == "full" => Walk::Full,
        Ok(w) if !w.trim().is_empty() => {
            Walk::Points(w.split(',').map(|p| p.trim().to_owned()).collect())
        }
        _ => Walk::Points(trimmed.iter().map(|p| (*p).to_owned()).collect()),
    }
}

pub enum Walk {
    Full,
    Points(Vec<String>),
}

/// What one run found.
#[derive(Debug)]
pub struct RunResult {
    pub scenario: Scenario,
    pub point: String,
    /// The actions of the step the engine died after; `None`: it never reached the point.
    pub died_after: Option<Vec<String>>,
    /// Actions of the point's kind completed when it died (the step's included).
    pub done_at_crash: u32,
    /// Actions the scenario's engine completed when it never reached the point.
    pub actions_done: Vec<String>,
    /// From the restart (or, uncrashed, from the fault) until settled.
    pub settled_in: Option<Duration>,
    pub acked: u64,
    pub acked_lost: u64,
    pub check: String,
    /// Empty when the run passed.
    pub problems: Vec<String>,
}

impl RunResult {
    pub fn crashed(&self) -> bool {
        self.died_after.is_some()
    }

    fn died_after_summary(&self) -> String {
        match &self.died_after {
            Some(step) => summarize(step),
            None => format!(
                "not reached: the scenario ended after {} actions",
                self.actions_done.len()
            ),
        }
    }

    pub fn line(&self) -> String {
        format!(
            "crash point {} / {}: died after {}; settled in {}; {} WAIT-acknowledged writes, {} lost; check: {}{}",
            self.scenario.name(),
            self.point,
            self.died_after_summary(),
            self.settled_in
                .map_or("-".to_owned(), |d| format!("{:.1} s", d.as_secs_f64())),
            self.acked,
            self.acked_lost,
            self.check,
            if self.problems.is_empty() {
                String::new()
            } else {
                format!("\n  PROBLEMS: {}", self.problems.join("\n  "))
            }
        )
    }

    /// One row for scripts/crash-points.sh: scenario, server, point, died after, settled in s,
    /// acked, lost, check, problems.
    fn record(&self) {
        let Ok(path) = std::env::var(TABLE_ENV) else {
            return;
        };
        let row = [
            self.scenario.name().to_owned(),
            test_server().display_name().to_owned(),
            self.point.clone(),
            self.died_after_summary(),
            self.settled_in
                .map_or("-".to_owned(), |d| format!("{:.1}", d.as_secs_f64())),
            self.acked.to_string(),
            self.acked_lost.to_string(),
            self.check.clone(),
            self.problems.join("; "),
        ]
        .map(|c| c.replace(['\t', '\n'], " "))
        .join("\t");
        // One write per row, appended: the tests of several scenarios share the file.
        let mut f = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .unwrap();
        f.write_all(format!("{row}\n").as_bytes()).unwrap();
    }
}

/// The node a promotion ("takeover: takeover on ADDR (...)", "force-failover: failover force
/// on ADDR (...)") was for; `None` for any other action.
fn promotion(action: &str) -> Option<&str> {
    let rest = action
        .strip_prefix("takeover: takeover on ")
        .or_else(|| action.strip_prefix("force-failover: failover force on "))?;
    rest.split_whitespace().next()
}

/// "takeover ×2" from the step's actions ("takeover: takeover on ...").
fn summarize(step: &[String]) -> String {
    let mut kinds: Vec<(String, usize)> = Vec::new();
    for a in step {
        let kind = a.split(':').next().unwrap_or(a).trim().to_owned();
        match kinds.iter_mut().find(|(k, _)| *k == kind) {
            Some((_, n)) => *n += 1,
            None => kinds.push((kind, 1)),
        }
    }
    kinds
        .iter()
        .map(|(k, n)| {
            if *n > 1 {
                format!("{k} ×{n}")
            } else {
                k.clone()
            }
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// Walk `scenario`'s crash points; every run is printed (and recorded for the table). Fails
/// listing every run that did not converge cleanly.
pub fn walk(scenario: Scenario, walk: Walk) {
    let mut failed = Vec::new();
    let mut report = |r: &RunResult| {
        eprintln!("{}", r.line());
        r.record();
        if !r.problems.is_empty() {
            failed.push(r.line());
        }
    };
    match walk {
        Walk::Points(points) => {
            for p in points {
                let mut r = run_point(scenario, &p);
                if !r.crashed() {
                    r.problems.push(format!(
                        "crash point {p} never reached: the trimmed points no longer match the scenario's actions ({})",
                        r.actions_done.join("; ")
                    ));
                }
                report(&r);
            }
        }
        Walk::Full => {
            // One point per step: the next point is the first action after the step the last
            // run died after (the actions of a step run at once; any of them ends the same).
            let mut n = 1;
            loop {
                let r = run_point(scenario, &format!("any:{n}"));
                report(&r);
                if !r.crashed() {
                    break;
                }
                n = r.done_at_crash.max(n) + 1;
                assert!(
                    n <= MAX_POINTS,
                    "{}: still crashing at any:{n}",
                    scenario.name()
                );
            }
        }
    }
    assert!(
        failed.is_empty(),
        "{}: {} run(s) did not converge cleanly:\n{}",
        scenario.name(),
        failed.len(),
        failed.join("\n")
    );
}

/// The lab prerequisites, when the scenario needs them.
pub fn lab_available() -> Result<(), String> {
    netns::check_prerequisites().map_err(|e| e.to_string())
}

/// One run: `scenario` with its engine stopped at `point`, restarted, checked.
pub fn run_point(scenario: Scenario, point: &str) -> RunResult {
    let lab = Lab::up(scenario);
    let mut result = RunResult {
        scenario,
        point: point.to_owned(),
        died_after: None,
        done_at_crash: 0,
        actions_done: Vec::new(),
        settled_in: None,
        acked: 0,
        acked_lost: 0,
        check: String::new(),
        problems: Vec::new(),
    };

    // Before the scenario: an engine without a crash point fences the healthy cluster (and,
    // for a failback or a heal, brings about the loss or the cut the scenario ends).
    let mut pre = lab.engine(None);
    lab.settle(&mut pre, Expect::AsPreferred, "the formed cluster")
        .unwrap();
    let writer = Writer::start(&lab);
    match scenario {
        Scenario::Failback | Scenario::FailbackAfterKill => {
            let signal = if scenario == Scenario::Failback {
                "stop"
            } else {
                "kill"
            };
            lab.cli(&["local", "kill-zone", "dc-a", "--signal", signal]);
            lab.settle(&mut pre, Expect::ZoneReturn, "dc-a frozen")
                .unwrap();
        }
        Scenario::Heal => {
            lab.cli(&["local", "cut", "dc-a", "dc-b"]);
            lab.settle(&mut pre, Expect::Partition, "the cut").unwrap();
        }
        _ => {}
    }
    pre.stop();

    // The scenario, under the crash point. Its engine first settles on what the last one left
    // (loading its memory), so that the fault starts from a quiet engine.
    let mut eng = lab.engine(Some(point));
    let before = match scenario {
        Scenario::Failback | Scenario::FailbackAfterKill => Expect::ZoneReturn,
        Scenario::Heal => Expect::Partition,
        _ => Expect::AsPreferred,
    };
    let events_before = lab.events();
    match lab.settle(&mut eng, before, "the scenario's engine starting") {
        Ok(_) => {}
        Err(Settle::Exited(_)) => {}
        Err(e) => panic!("{}: {e:?}", scenario.name()),
    }
    // (An engine that died before the fault died at a crash point all the same.)
    match scenario {
        Scenario::Takeover => lab.cli(&["local", "kill-zone", "dc-a", "--signal", "kill"]),
        Scenario::TakeoverFrozen => lab.cli(&["local", "kill-zone", "dc-a", "--signal", "stop"]),
        Scenario::Failback | Scenario::FailbackAfterKill => {
            lab.cli(&["local", "restore-zone", "dc-a"]);
        }
        Scenario::Partition | Scenario::PartitionPreferredB => {
            lab.cli(&["local", "cut", "dc-a", "dc-b"]);
        }
        Scenario::Heal => lab.cli(&["local", "heal"]),
        Scenario::Rollout => lab.cli(&["local", "roll", "--no-wait"]),
        Scenario::ScaleOut => lab.cli(&["local", "scale", "--shards", "6", "--no-wait"]),
    }
    let fault_at = Instant::now();
    let end = scenario.end();
    let mut eng = match lab.settle(&mut eng, end, "the scenario") {
        Ok(at) => {
            // Never reached the point: the scenario ended first.
            result.actions_done = lab.events_since(events_before);
            result.settled_in = Some(at.duration_since(fault_at));
            // What follows (a heal) is no longer the scenario: an engine without the point.
            eng.stop();
            let mut next = lab.engine(None);
            if let Err(e) = lab.settle(&mut next, end, "the engine after the scenario") {
                result.problems.push(format!(
                    "the engine after the scenario did not settle: {e:?}"
                ));
            }
            next
        }
        Err(Settle::Exited(status)) if status.code() == Some(CRASHED) => {
            let (done, step) = eng.died_after();
            result.done_at_crash = done;
            let restarted = Instant::now();
            let events_at_restart = lab.events();
            let mut again = lab.engine(None);
            match lab.settle(&mut again, end, "the restarted engine") {
                Ok(at) => result.settled_in = Some(at.duration_since(restarted)),
                Err(e) => result
                    .problems
                    .push(format!("the restarted engine did not settle: {e:?}")),
            }
            // Nothing done twice with harm: a replica the killed engine promoted (and saw
            // master) is never promoted again, which would raise its epoch once more.
            let again_promoted: Vec<String> = lab
                .events_since(events_at_restart)
                .into_iter()
                .filter(|a| {
                    step.iter()
                        .filter(|s| !s.ends_with("(failed)"))
                        .any(|s| promotion(s).is_some() && promotion(s) == promotion(a))
                })
                .collect();
            if !again_promoted.is_empty() {
                result.problems.push(format!(
                    "promoted again after the restart: {}",
                    again_promoted.join("; ")
                ));
            }
            // While a cut stands, fences are only shut (or chosen-side masters unfenced): an
            // ordinary one means the restarted engine took the cut for healed and reopened
            // the side its predecessor shut.
            if end == Expect::Partition {
                let shut = format!("min-replicas-to-write {FENCE_SHUT},");
                let reopened: Vec<String> = lab
                    .events_since(events_at_restart)
                    .into_iter()
                    .filter(|a| a.starts_with("fence: ") && !a.contains(&shut))
                    .collect();
                if !reopened.is_empty() {
                    result.problems.push(format!(
                        "fences reopened during the cut after the restart: {}",
                        reopened.join("; ")
                    ));
                }
            }
            result.died_after = Some(step);
            again
        }
        Err(Settle::Exited(status)) => panic!(
            "{}: the engine exited with {status} instead of {CRASHED}:\n{}",
            scenario.name(),
            eng.stderr_tail()
        ),
        Err(e) => {
            result
                .problems
                .push(format!("the scenario's engine did not settle: {e:?}"));
            eng
        }
    };

    // A cut decided: heal it, and the same engine reopens and fails back.
    if result.problems.is_empty() && end == Expect::Partition {
        lab.cli(&["local", "heal"]);
        if let Err(e) = lab.settle(&mut eng, Expect::AsPreferred, "the heal") {
            result
                .problems
                .push(format!("not as preferred after the heal: {e:?}"));
        }
    }
    let settled_at = Instant::now();
    let both_zones = end != Expect::ZoneReturn;
    if both_zones && result.problems.is_empty() {
        // A little traffic on the converged cluster: WAIT must be acknowledged again.
        std::thread::sleep(Duration::from_secs(1));
    }
    let verdict = writer.stop(settled_at);
    result.acked = verdict.acked;
    result.acked_lost = verdict.acked_lost;
    result.check = if verdict.check_clean {
        "clean".to_owned()
    } else {
        verdict.check.clone()
    };
    if verdict.acked == 0 {
        result
            .problems
            .push("no write was WAIT-acknowledged".into());
    }
    if verdict.acked_lost > 0 {
        result.problems.push(format!(
            "{} WAIT-acknowledged writes lost, e.g. {:?}",
            verdict.acked_lost, verdict.lost_sample
        ));
    }
    if let Some(e) = &verdict.error {
        result.problems.push(e.clone());
    }
    if !verdict.check_clean {
        result
            .problems
            .push(format!("cluster check: {}", verdict.check));
    }
    if both_zones && result.problems.is_empty() && verdict.acked_after == 0 {
        result
            .problems
            .push("no write WAIT-acknowledged on the converged cluster".into());
    }
    // redis-cli's check asks every node, and waits on a frozen one forever: with dc-a frozen,
    // the drill's check (bounded, frozen nodes noted) is the one.
    if scenario != Scenario::TakeoverFrozen {
        if let Err(e) = lab.cli_check() {
            result.problems.push(format!(
                "{} --cluster check: {e}",
                test_server().cli_binary()
            ));
        }
    }
    if both_zones {
        if let Err(e) = lab.replicas_across() {
            result.problems.push(e);
        }
    }
    eng.stop();
    if !result.problems.is_empty() {
        eprintln!("engine log:\n{}", lab.events_text());
        lab.keep();
    }
    result
}

/// Why a phase did not settle.
#[derive(Debug)]
enum Settle {
    /// The engine process ended (at its crash point, or failing).
    Exited(ExitStatus),
    TimedOut {
        what: String,
        waiting_for: Option<Waiting>,
        notes: Vec<String>,
    },
}

/// A seed cluster for one run, brought down (namespace included) when dropped.
struct Lab {
    dir: StateDir,
    sd: String,
    ns: Option<String>,
    logs: tempfile::TempDir,
    password: Option<Secret>,
    keep: std::cell::Cell<bool>,
    /// How long a phase gets to settle ([`Scenario::settle_limit`]).
    settle_limit: Duration,
}

impl Lab {
    fn up(scenario: Scenario) -> Self {
        let dir = unique_state_dir("crash");
        let sd = dir.path().display().to_string();
        let logs = tempfile::tempdir().unwrap();
        let manifest = logs.path().join("manifest.yaml");
        std::fs::write(&manifest, scenario.manifest()).unwrap();
        let manifest = manifest.display().to_string();
        let mut args = vec!["local", "up", "-f", &manifest, "--detach", "--no-engine"];
        if scenario.netns() {
            args.push("--netns");
        }
        args.extend(["--state-dir", &sd]);
        let o = run(&args);
        let ns = dir.load().ok().and_then(|s| s.netns);
        let lab = Self {
            password: dir.password(false).unwrap(),
            dir,
            sd,
            ns,
            logs,
            keep: std::cell::Cell::new(false),
            settle_limit: scenario.settle_limit(),
        };
        assert!(o.status.success(), "local up: {}", text(&o));
        lab
    }

    /// Keep the state dir (logs, data) for a post-mortem.
    fn keep(&self) {
        self.keep.set(true);
    }

    /// `redis-stretch ARGS --state-dir DIR`, which must succeed.
    fn cli(&self, args: &[&str]) {
        let mut all = args.to_vec();
        all.extend(["--state-dir", &self.sd]);
        let o = run(&all);
        assert!(o.status.success(), "{}: {}", all.join(" "), text(&o));
    }

    /// `local engine` as a child, at crash point `point` if any.
    fn engine(&self, point: Option<&str>) -> EngineChild {
        let log = self.logs.path().join(format!(
            "engine-{}.log",
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_nanos()
        ));
        let mut c = Command::new(BIN);
        c.args(["local", "engine", "--state-dir", &self.sd])
            .env_remove("REDIS_STRETCH_STATE_DIR")
            .env_remove("REDIS_STRETCH_NETNS")
            .env_remove(CRASH_AFTER_ENV)
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap());
        if let Some(p) = point {
            c.env(CRASH_AFTER_ENV, p);
        }
        EngineChild {
            child: c.spawn().unwrap(),
            log,
        }
    }

    /// Wait until `eng` reports `expect` and has done nothing for [`QUIET`]; returns when the
    /// quiet stretch began.
    fn settle(&self, eng: &mut EngineChild, expect: Expect, what: &str) -> Result<Instant, Settle> {
        let start = Instant::now();
        let mut quiet_since: Option<(Instant, usize)> = None;
        let mut last: Option<EngineStatus> = None;
        loop {
            if let Some(status) = eng.child.try_wait().unwrap() {
                return Err(Settle::Exited(status));
            }
            let status = engine_status(&self.dir).filter(|s| s.pid == eng.child.id());
            let events = self.events();
            match (&status, quiet_since) {
                (Some(s), Some((since, n)))
                    if expect.holds(s.waiting_for.as_ref()) && n == events =>
                {
                    if since.elapsed() >= QUIET {
                        return Ok(since);
                    }
                }
                (Some(s), _) if expect.holds(s.waiting_for.as_ref()) => {
                    quiet_since = Some((Instant::now(), events));
                }
                _ => quiet_since = None,
            }
            if status.is_some() {
                last = status;
            }
            if start.elapsed() > self.settle_limit {
                return Err(Settle::TimedOut {
                    what: format!("{what}: not {expect:?} after {:?}", self.settle_limit),
                    waiting_for: last.as_ref().and_then(|s| s.waiting_for.clone()),
                    notes: last.map(|s| s.notes).unwrap_or_default(),
                });
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Lines in events.jsonl: one per action any engine completed or failed.
    fn events(&self) -> usize {
        self.events_text().lines().count()
    }

    fn events_text(&self) -> String {
        std::fs::read_to_string(self.dir.file(EVENTS_FILE)).unwrap_or_default()
    }

    /// The actions logged after the first `n` lines ("kind: summary", failed ones marked).
    fn events_since(&self, n: usize) -> Vec<String> {
        self.events_text()
            .lines()
            .skip(n)
            .filter_map(|l| serde_json::from_str::<Value>(l).ok())
            .map(|e| {
                format!(
                    "{}: {}{}",
                    e["kind"].as_str().unwrap_or("?"),
                    e["summary"].as_str().unwrap_or("?"),
                    if e["ok"] == true { "" } else { " (failed)" }
                )
            })
            .collect()
    }

    fn status(&self) -> Value {
        let o = run(&[
            "local",
            "status",
            "--output",
            "json",
            "--state-dir",
            &self.sd,
        ]);
        assert!(o.status.success(), "{}", text(&o));
        serde_json::from_slice(&o.stdout).unwrap()
    }

    /// Every master that answers has a replica in the other zone with its link up.
    fn replicas_across(&self) -> Result<(), String> {
        let doc = self.status();
        let all = doc["instances"].as_array().unwrap();
        let addr = |i: &Value| format!("{}:{}", i["host"].as_str().unwrap(), i["port"]);
        let mut missing = Vec::new();
        for m in all
            .iter()
            .filter(|i| i["role"] == "master" && i["state"] == "up")
        {
            let across = all.iter().any(|r| {
                r["role"] == "replica"
                    && r["zone"] != m["zone"]
                    && r["link"] == "up"
                    && r["master"].as_str() == Some(addr(m).as_str())
            });
            if !across {
                missing.push(format!("{} ({})", m["name"], m["zone"]));
            }
        }
        if missing.is_empty() {
            Ok(())
        } else {
            Err(format!(
                "masters without a linked replica in the other zone: {}; status: {doc}",
                missing.join(", ")
            ))
        }
    }

    /// `redis-cli --cluster check` (or valkey-cli) through an instance that answers, until
    /// clean or 10 s: right after a failover the last nodes may not have heard the new epoch
    /// yet. Clean: every slot covered, all nodes agree, no open slot, no error.
    fn cli_check(&self) -> Result<(), String> {
        let state = self.dir.load().unwrap();
        let status = self.status();
        let up: Vec<String> = status["instances"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|i| i["state"] == "up" && i["role"] == "master")
            .map(|i| format!("{}:{}", i["host"].as_str().unwrap(), i["port"]))
            .collect();
        let Some(addr) = up.first() else {
            return Err(format!("no master answers: {status}"));
        };
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let mut cmd = match &state.netns {
                Some(ns) => {
                    let mut c = Command::new("ip");
                    c.args(["netns", "exec", ns, "timeout"]);
                    c
                }
                None => Command::new("timeout"),
            };
            // The CLI has no timeout of its own: a frozen node would hold it forever.
            cmd.args(["10", test_server().cli_binary()]).args([
                "--no-auth-warning",
                "--cluster",
                "check",
                addr,
            ]);
            if let Some(p) = &self.password {
                cmd.env("REDISCLI_AUTH", p.expose());
            }
            let o = cmd.output().unwrap();
            let out = String::from_utf8_lossy(&o.stdout).into_owned();
            let clean = out.contains("[OK] All nodes agree about slots configuration.")
                && out.contains("[OK] All 16384 slots covered.")
                && !out.contains("[ERR]")
                && !out.contains("[WARNING]");
            if clean {
                return Ok(());
            }
            if Instant::now() >= deadline {
                return Err(format!("{out}{}", String::from_utf8_lossy(&o.stderr)));
            }
            std::thread::sleep(Duration::from_millis(300));
        }
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        let keep = self.keep.get() || std::thread::panicking();
        let mut args = vec!["local", "down", "--state-dir", &self.sd];
        if keep {
            args.push("--keep-data");
        }
        let o = run(&args);
        if !o.status.success() {
            eprintln!("cleanup: local down: {}", text(&o));
        }
        if keep {
            eprintln!("kept for inspection: {}", self.sd);
            let logs = self.logs.path().to_path_buf();
            let kept = self.dir.path().join("engine-logs");
            let _ = std::fs::create_dir_all(&kept);
            for e in std::fs::read_dir(&logs).into_iter().flatten().flatten() {
                let _ = std::fs::copy(e.path(), kept.join(e.file_name()));
            }
        }
        if let Some(ns) = &self.ns {
            if netns::exists(ns) {
                eprintln!("cleanup: namespace {ns} left by down; deleting it");
                let _ = Command::new("ip").args(["netns", "delete", ns]).status();
            }
        }
    }
}

/// A `local engine` child of the test, killed when dropped (its lock dies with it).
struct EngineChild {
    child: Child,
    log: PathBuf,
}

impl EngineChild {
    fn running(&mut self) -> bool {
        self.child.try_wait().unwrap().is_none()
    }

    /// SIGTERM: the engine finishes its pass, saves its memory and exits.
    fn stop(&mut self) {
        if self.running() {
            let pid = nix::unistd::Pid::from_raw(i32::try_from(self.child.id()).unwrap());
            let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM);
            let start = Instant::now();
            while self.running() {
                if start.elapsed() > Duration::from_secs(10) {
                    let _ = self.child.kill();
                }
                std::thread::sleep(Duration::from_millis(20));
            }
        }
    }

    /// What the engine said when it stopped at its crash point: how many actions of the
    /// point's kind had completed, and the step it died after ("kind: what" per action).
    fn died_after(&self) -> (u32, Vec<String>) {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let Some(line) = text.lines().find(|l| l.starts_with(CRASH_AFTER_ENV)) else {
            panic!(
                "exited {CRASHED} without saying why:\n{}",
                self.stderr_tail()
            );
        };
        let (head, step) = line.split_once("; the step: ").unwrap_or((line, ""));
        let done = head
            .rsplit_once(" (")
            .and_then(|(_, n)| n.strip_suffix(" so far)"))
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| panic!("no count of actions in `{line}`"));
        (done, step.split(" | ").map(str::to_owned).collect())
    }

    fn stderr_tail(&self) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(30)..].join("\n")
    }
}

impl Drop for EngineChild {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// What the writer found when stopped.
struct Verdict {
    acked: u64,
    acked_lost: u64,
    lost_sample: Vec<String>,
    /// WAIT-acknowledged writes that began once the run had settled.
    acked_after: u64,
    check_clean: bool,
    check: String,
    error: Option<String>,
}

/// The drill's workload (a plain and a `WAIT 1` writer over every slot, a probe) on a thread
/// inside the cluster's namespace; readback and the drill's cluster check when stopped.
struct Writer {
    stop: Option<tokio::sync::oneshot::Sender<Instant>>,
    handle: std::thread::JoinHandle<Result<Verdict, redis_stretch_local::LocalError>>,
}

impl Writer {
    fn start(lab: &Lab) -> Self {
        let state = lab.dir.load().unwrap();
        let seeds: Vec<NodeAddr> = state.instances.iter().map(|i| i.addr()).collect();
        let mut cfg = DrillConfig::new(seeds.clone(), lab.password.clone());
        // Two cores for four tests at a time: a light load is all this needs.
        cfg.rate_per_writer = 100;
        cfg.wait_connections = 4;
        cfg.probe_interval = Duration::from_millis(100);
        let (stop, stop_rx) = tokio::sync::oneshot::channel::<Instant>();
        let (started_tx, started_rx) = std::sync::mpsc::channel::<Result<(), String>>();
        let handle = on_thread(lab.ns.clone(), move || async move {
            let w = match Workload::start(cfg.clone()).await {
                Ok(w) => {
                    let _ = started_tx.send(Ok(()));
                    w
                }
                Err(e) => {
                    let _ = started_tx.send(Err(e.to_string()));
                    return Verdict::failed(format!("writer: {e}"));
                }
            };
            let settled = stop_rx.await.unwrap_or_else(|_| Instant::now());
            let rec = match w.stop().await {
                Ok(r) => r,
                Err(e) => return Verdict::failed(format!("writer: {e}")),
            };
            let after = u64::try_from(settled.saturating_duration_since(rec.epoch).as_micros())
                .unwrap_or(u64::MAX);
            let acked_after = rec
                .writes
                .iter()
                .filter(|w| {
                    w.writer == WriterKind::Wait
                        && w.outcome == WriteOutcome::Acked
                        && w.start_us >= after
                })
                .count() as u64;
            let report = match verify(&rec, &cfg).await {
                Ok(r) => r,
                Err(e) => return Verdict::failed(format!("readback: {e}")),
            };
            let wait = report.writers.iter().find(|w| w.writer == WriterKind::Wait);
            let check = drill_check(&seeds, cfg.password.as_ref()).await;
            Verdict {
                acked: wait.map_or(0, |w| w.acked),
                acked_lost: report.acked_writes_lost,
                lost_sample: wait.map(|w| w.lost_sample.clone()).unwrap_or_default(),
                acked_after,
                check_clean: check.is_clean(),
                check: check.summary(),
                error: None,
            }
        });
        match started_rx.recv() {
            Ok(Ok(())) => {}
            Ok(Err(e)) => panic!("the writer did not start: {e}"),
            Err(_) => panic!(
                "the writer thread ended: {:?}",
                handle.join().map(|r| r.err())
            ),
        }
        Self {
            stop: Some(stop),
            handle,
        }
    }

    /// Stop writing, read everything back, check the cluster.
    fn stop(mut self, settled: Instant) -> Verdict {
        if let Some(s) = self.stop.take() {
            let _ = s.send(settled);
        }
        match self.handle.join() {
            Ok(Ok(v)) => v,
            Ok(Err(e)) => Verdict::failed(format!("writer thread: {e}")),
            Err(_) => Verdict::failed("the writer thread panicked".into()),
        }
    }
}

impl Verdict {
    fn failed(why: String) -> Self {
        Self {
            acked: 0,
            acked_lost: 0,
            lost_sample: Vec::new(),
            acked_after: 0,
            check_clean: false,
            check: why.clone(),
            error: Some(why),
        }
    }
}

/// The drill's cluster check (stricter than redis-cli's: cluster_state, roles, replication
/// links) through the first instance that answers, until clean or 10 s (gossip settling).
async fn drill_check(
    seeds: &[NodeAddr],
    password: Option<&Secret>,
) -> redis_stretch_drill::ClusterCheck {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let mut last = None;
        for s in seeds {
            let c = check_cluster(s, password).await;
            let unreachable = c.problems.iter().any(|p| p.starts_with("cannot check via"));
            if !unreachable {
                last = Some(c);
                break;
            }
            last = Some(c);
        }
        let c = last.unwrap_or_default();
        if c.is_clean() || Instant::now() >= deadline {
            return c;
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
}
