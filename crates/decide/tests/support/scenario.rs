//! One scenario of the model check: a case (layout, policy, faults) and the run that drives
//! the engine's loop over the model through it, checking the properties on every pass and
//! tick (`properties.rs`), then judging whether decide settled where the end state says it
//! must, and stays settled.

use redis_stretch_api::{Detection, FailbackPolicy, FailoverPolicy};
use redis_stretch_decide::{ActionKind, Intent, Memory, Policy, Waiting};
use redis_stretch_model::{Role, ServerFlavour};

use super::cluster::{Cluster, Dark, ShardLayout, START_MS, TICK_MS, ZONES};
use super::engine::{Engine, EngineConfig, Pass};

/// The live setting every case starts with a different value of than the spec's.
pub const LIVE_SETTING: &str = "maxmemory";
/// `cluster-node-timeout` of the generated cases (the spec's default).
pub const NODE_TIMEOUT_MS: u64 = 2000;
/// Settling must take no longer than this after the last fault (50 passes of a second): two
/// hold-downs of a flapping zone (10 s), a graceful failover Redis gave up on (8.5 s before it
/// is asked again), a full resync, and one failback per shard fit in it.
pub const BOUND_MS: u64 = 50_000;
/// Settled means settled for this long while Redis ticks on: longer than node-timeout plus an
/// election's delay, so anything Redis would still do on its own shows first.
const STEADY_MS: u64 = 5_000;

#[derive(Clone, Debug)]
pub enum Fault {
    Dark {
        zone: usize,
        how: Dark,
    },
    Return {
        zone: usize,
    },
    ReturnAll,
    Cut,
    Heal,
    /// The instance with this index (modulo the instance count) crashes.
    Crash(usize),
    RestartAll,
    /// A new revision: every instance outdated, for the rollout to restart.
    Rollout,
    /// The replica with this index (modulo the replica count) starts failing its link: its
    /// copy falls behind.
    BreakLink(usize),
    FixLinks,
    /// The zone of the master of the replica whose link broke last goes dark.
    DarkMasterZone {
        how: Dark,
    },
}

#[derive(Clone, Debug)]
pub struct Case {
    pub layout: Vec<ShardLayout>,
    pub preferred_a: u32,
    pub flavour: ServerFlavour,
    pub failover: FailoverPolicy,
    pub failback: FailbackPolicy,
    pub detection: Detection,
    pub fencing: bool,
    pub preferred_side: Option<usize>,
    pub interval_ms: u64,
    pub node_timeout_ms: u64,
    pub fenced_at_start: bool,
    /// Each fault after so many engine passes.
    pub faults: Vec<(u32, Fault)>,
}

impl Case {
    pub fn policy(&self) -> Policy {
        let replicas = self
            .layout
            .iter()
            .map(|s| s.replica_zones.len())
            .max()
            .unwrap_or(1);
        let shards = self.layout.len() as u32;
        Policy {
            failover: self.failover,
            failback: self.failback,
            fencing: self.fencing,
            fence_min_replicas: replicas as u32 / 2 + 1,
            fence_max_lag_s: 2,
            preferred: vec![
                (ZONES[0].to_owned(), self.preferred_a),
                (ZONES[1].to_owned(), shards - self.preferred_a),
            ],
            detection: self.detection,
            node_timeout_ms: self.node_timeout_ms,
            preferred_side: self.preferred_side.map(|z| ZONES[z].to_owned()),
            server: self.flavour,
            // A spec edit every instance has yet to take (see `Run::new`): the config rule
            // runs through every case, faults and all.
            live_config: vec![(LIVE_SETTING.to_owned(), "1gb".to_owned())],
            shards,
        }
    }

    /// Every master's first replica in the other zone (what the topology plans).
    pub fn valid(&self) -> bool {
        self.layout
            .iter()
            .all(|s| s.replica_zones.first().is_some_and(|z| *z != s.master_zone))
    }
}

/// What the faults left standing when the last one is injected.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum End {
    Healthy,
    OneDark {
        lost: usize,
    },
    BothDark,
    Cut,
    /// Instances down or links broken while both zones answer.
    Degraded,
}

pub(super) enum Verdict {
    Settled,
    Operator(Intent),
    NotYet,
}

pub(super) struct Run {
    pub(super) case: Case,
    pub(super) cluster: Cluster,
    pub(super) engine: Engine,
    /// The break-glass CLI's own engine while a person's command runs.
    pub(super) operator: Option<Engine>,
    pub(super) log: Vec<String>,
    pub(super) broken: Option<usize>,
    /// Takeovers the engine loop (not a person) sent since the last fault.
    pub(super) takeovers_since_fault: usize,
    /// The zone the engine keeps serving: the side chosen in a cut, the survivor of a lost
    /// zone once decide acted for it (or the one a person took over for), until masters sit
    /// as preferred again.
    pub(super) serving: Option<usize>,
    pub(super) forced: Option<usize>,
    pub(super) serving_since_ms: u64,
    /// A pass with promotions just ran: the next one is decide's chance to bump epochs.
    pub(super) bump_due: bool,
    /// That chance came too late (a known decide bug, see `properties.rs`); sticky.
    pub(super) bump_missed: bool,
    /// Per instance: its offset when it last acknowledged a write while its zone was served.
    pub(super) served_up_to: Vec<u64>,
    /// Per zone: the last moment it was dark.
    pub(super) last_dark_ms: [u64; 2],
    /// decide called a standing cut healed (a known bug): what it then decides may undo
    /// what it served, for the rest of the run.
    pub(super) forgot_cut: bool,
    /// Fail on known decide bugs too (the regression tests); the property test lets them
    /// pass so that it keeps looking for others.
    pub(super) strict: bool,
}

impl Run {
    pub(super) fn new(case: &Case) -> Self {
        let mut cluster = Cluster::new(&case.layout, case.flavour, case.node_timeout_ms);
        let policy = case.policy();
        if case.fenced_at_start && case.fencing {
            for n in &mut cluster.nodes {
                n.fence = policy.fence_min_replicas;
            }
        }
        for n in &mut cluster.nodes {
            n.live_config
                .insert(LIVE_SETTING.to_owned(), "0".to_owned());
        }
        let cfg = EngineConfig::for_policy(&policy, case.interval_ms);
        let engine = Engine::new(policy, cfg, Memory::default(), cluster.now_ms);
        Self {
            case: case.clone(),
            cluster,
            engine,
            operator: None,
            log: Vec::new(),
            broken: None,
            takeovers_since_fault: 0,
            serving: None,
            forced: None,
            serving_since_ms: 0,
            bump_due: false,
            bump_missed: false,
            forgot_cut: false,
            last_dark_ms: [0; 2],
            served_up_to: vec![0; case.layout.iter().map(|s| 1 + s.replica_zones.len()).sum()],
            strict: true,
        }
    }

    pub(super) fn t(&self) -> f64 {
        (self.cluster.now_ms - START_MS) as f64 / 1000.0
    }

    pub(super) fn fail(&self, why: String) -> String {
        let tail = self.log.len().saturating_sub(60);
        format!(
            "{why}\n--- last passes ---\n{}",
            self.log[tail..].join("\n")
        )
    }

    /// One engine pass (the loop's, or the person's command's), then `fault`, then Redis ticks
    /// until the next pass.
    pub(super) fn step(
        &mut self,
        operator: bool,
        intent: Intent,
        fault: Option<&Fault>,
    ) -> Result<Pass, String> {
        let engine = match (&mut self.operator, operator) {
            (Some(e), true) => e,
            _ => &mut self.engine,
        };
        let remembered = engine.memory.partition.is_some();
        let pass = engine.pass(&mut self.cluster, intent.clone());
        // Known: see `a_standing_cut_is_not_declared_healed_when_a_zone_answers_again`.
        let c = &self.cluster;
        if !operator
            && remembered
            && self.engine.memory.partition.is_none()
            && c.cut
            && c.dark == [None, None]
        {
            if self.strict {
                self.record(&pass, operator);
                return Err(self.fail("the cut still stands, yet decide called it healed".into()));
            }
            self.forgot_cut = true;
        }
        self.record(&pass, operator);
        let takeovers = pass
            .decision
            .actions()
            .filter(|a| matches!(a.kind, ActionKind::Takeover { .. }))
            .count();
        if !operator {
            self.takeovers_since_fault += takeovers;
            // Policy Manual: only a person's command ever runs TAKEOVER (decide uses it only
            // where the survivors are below quorum, which is the person's call).
            if takeovers > 0 && self.case.failover == FailoverPolicy::Manual {
                return Err(self.fail("policy Manual, yet the engine loop took over".into()));
            }
        }
        self.track_serving(&pass, operator, &intent);
        // decide asks for a graceful failover only when Redis will elect the candidate (a lost
        // election pauses the master's writers for 5 s): it must complete.
        // Known: see `a_persons_failback_right_after_a_return_asks_no_refused_failover`.
        let known = operator && !self.strict && intent == Intent::Failback;
        if let Some((a, _)) = pass.results.iter().find(|(a, r)| {
            matches!(a.kind, ActionKind::GracefulFailover { .. })
                && r.as_ref().is_ok_and(|d| d.contains("still a replica"))
                && !known
        }) {
            return Err(self.fail(format!("a graceful failover did not complete: {a}")));
        }
        // The rollout restarts a replica whose master serves, never while a zone is dark or a
        // cut is known (one that began a moment ago shows nowhere yet): a shard never has both
        // copies down at once.
        for a in pass.decision.actions() {
            let ActionKind::Restart { instance, .. } = &a.kind else {
                continue;
            };
            let c = &self.cluster;
            let Some(i) = c.nodes.iter().position(|n| &n.name == instance) else {
                return Err(self.fail(format!("restarted an unknown instance: {a}")));
            };
            // Its master, or the one its master follows since a failover.
            let up = |j: usize| {
                c.nodes[j]
                    .master
                    .filter(|_| c.nodes[j].role == Role::Replica)
            };
            let top = up(i).map(|m| up(m).unwrap_or(m));
            let master_serves = c.nodes[i].role == Role::Replica
                && top.is_some_and(|m| c.reachable(m) && c.nodes[m].role == Role::Master);
            let cut_known = self.engine.memory.partition.is_some();
            if !master_serves || !pass.zones.dark().is_empty() || cut_known {
                return Err(self.fail(format!(
                    "restarted {instance} while its shard had no other serving copy or a zone was lost: {a}"
                )));
            }
        }
        for p in &pass.promotions {
            if p.repointed {
                return Err(self.fail(format!(
                    "promoted a replica re-pointed to another master before its first sync there: {}",
                    p.action
                )));
            }
            if p.never_synced {
                return Err(self.fail(format!("promoted a never-synced replica: {}", p.action)));
            }
            if !p.current {
                return Err(self.fail(format!("promoted a stale replica: {}", p.action)));
            }
        }
        self.split_brain("right after the pass's actions")?;
        if let Some(f) = fault {
            self.inject(f);
        }
        for _ in 0..self.case.interval_ms / TICK_MS {
            self.cluster.tick();
            for z in 0..2 {
                if self.cluster.dark[z].is_some() {
                    self.last_dark_ms[z] = self.cluster.now_ms;
                }
            }
            self.split_brain("on a tick")?;
            self.discarded()?;
        }
        Ok(pass)
    }

    pub(super) fn record(&mut self, pass: &Pass, operator: bool) {
        let c = &self.cluster;
        let name = |id: &str| c.by_id(id).map_or("?", |i| c.nodes[i].name.as_str());
        let actions: Vec<String> = pass
            .results
            .iter()
            .map(|(a, r)| {
                let what = match &a.kind {
                    ActionKind::Replicate { master_id } => format!("replicate→{}", name(master_id)),
                    ActionKind::Fence { min_replicas, .. } => format!("fence{min_replicas}"),
                    k => k.name().to_owned(),
                };
                let err = r
                    .as_ref()
                    .err()
                    .map_or(String::new(), |e| format!(" ({e})"));
                format!("{what}@{}{err}", name(&a.node_id))
            })
            .collect();
        let zones: Vec<String> = pass
            .zones
            .iter()
            .map(|z| format!("{}={}", z.zone, z.state.name()))
            .collect();
        let masters: Vec<String> = c
            .nodes
            .iter()
            .enumerate()
            .filter(|(i, n)| n.role == Role::Master && !c.own_shards(*i).is_empty())
            .map(|(i, n)| {
                format!(
                    "{}{}e{}{}",
                    n.name,
                    if c.reachable(i) { "" } else { "(dark)" },
                    n.config_epoch,
                    if c.accepts_writes(i) { "w" } else { "" }
                )
            })
            .collect();
        self.log.push(format!(
            "{:>6.1}s {}{} | {} | {} | waiting: {}",
            self.t(),
            if operator { "[cli] " } else { "" },
            zones.join(" "),
            masters.join(" "),
            if actions.is_empty() {
                "-".to_owned()
            } else {
                actions.join(" ")
            },
            pass.decision
                .waiting_for
                .as_ref()
                .map_or("-".to_owned(), ToString::to_string),
        ));
    }

    pub(super) fn inject(&mut self, fault: &Fault) {
        let c = &mut self.cluster;
        let n = c.nodes.len();
        match fault {
            Fault::Dark { zone, how } => c.go_dark(*zone, *how),
            Fault::Return { zone } => c.come_back(*zone),
            Fault::ReturnAll => {
                c.come_back(0);
                c.come_back(1);
            }
            // A cut needs instances on both sides.
            Fault::Cut => c.cut = (0..2).all(|z| c.nodes.iter().any(|n| n.zone == z)),
            Fault::Heal => c.cut = false,
            Fault::Crash(ix) => c.crash(ix % n),
            Fault::Rollout => {
                for node in &mut c.nodes {
                    node.outdated = true;
                }
            }
            Fault::RestartAll => {
                for i in 0..n {
                    if c.dark[c.nodes[i].zone].is_none() {
                        c.restart(i);
                    }
                }
            }
            Fault::BreakLink(ix) => {
                let replicas: Vec<usize> = (0..n)
                    .filter(|i| c.nodes[*i].role == Role::Replica)
                    .collect();
                if !replicas.is_empty() {
                    let r = replicas[ix % replicas.len()];
                    c.break_link(r, true);
                    self.broken = Some(r);
                }
            }
            Fault::FixLinks => {
                for i in 0..n {
                    c.break_link(i, false);
                }
            }
            Fault::DarkMasterZone { how } => {
                if let Some(m) = self.broken.and_then(|r| c.nodes[r].master) {
                    c.go_dark(c.nodes[m].zone, *how);
                }
            }
        }
        self.takeovers_since_fault = 0;
        let t = self.t();
        self.log.push(format!("{t:>6.1}s *** {fault:?}"));
    }

    pub(super) fn end_state(&self) -> End {
        let c = &self.cluster;
        match c.dark {
            [Some(_), Some(_)] => End::BothDark,
            [Some(_), None] => End::OneDark { lost: 0 },
            [None, Some(_)] => End::OneDark { lost: 1 },
            [None, None] if c.cut => End::Cut,
            [None, None] => {
                if c.nodes.iter().all(|n| n.alive && !n.link_broken) {
                    End::Healthy
                } else {
                    End::Degraded
                }
            }
        }
    }

    pub(super) fn expect(&self, end: End, w: &Waiting, operator_ran: bool) -> Verdict {
        let manual = self.case.failover == FailoverPolicy::Manual;
        match (end, w) {
            (End::Healthy, Waiting::AsPreferred) => Verdict::Settled,
            (End::Healthy, Waiting::Human { command, .. })
                if self.case.failback == FailbackPolicy::Manual
                    && command == "redis-stretch failback" =>
            {
                Verdict::Operator(Intent::Failback)
            }
            (End::OneDark { lost }, Waiting::ZoneReturn { lost: l, .. }) if l == ZONES[lost] => {
                Verdict::Settled
            }
            // Known: see `after_a_persons_takeover_manual_policy_stops_asking_for_one`.
            (End::OneDark { .. }, Waiting::Human { .. })
                if manual && operator_ran && !self.strict =>
            {
                Verdict::Settled
            }
            (End::OneDark { lost }, Waiting::Human { command, .. })
                if manual
                    && *command == format!("redis-stretch takeover --zone {}", ZONES[1 - lost]) =>
            {
                Verdict::Operator(Intent::Takeover {
                    survivor: ZONES[1 - lost].to_owned(),
                })
            }
            (End::OneDark { lost }, Waiting::ChosenSideDark { zone }) if zone == ZONES[lost] => {
                Verdict::Operator(Intent::Takeover {
                    survivor: ZONES[1 - lost].to_owned(),
                })
            }
            (End::BothDark, Waiting::EngineCutOff { .. }) => Verdict::Settled,
            (End::Cut, Waiting::Partition { .. }) => Verdict::Settled,
            (End::Cut, Waiting::Human { .. }) if manual => Verdict::Settled,
            (End::Degraded, w) if !transitional(w) => Verdict::Settled,
            _ => Verdict::NotYet,
        }
    }

    /// Property 1 and 3: settle within the bound, and stay settled.
    pub(super) fn converge(&mut self) -> Result<(), String> {
        let end = self.end_state();
        // A rollout restarts every instance one at a time, each waiting for the last to sync
        // (and each master for its failover): 5 s more per instance.
        let rollout = self.cluster.nodes.iter().filter(|n| n.outdated).count() as u64 * 5_000;
        let bound = BOUND_MS + rollout;
        let passes = bound / self.case.interval_ms;
        let steady = (STEADY_MS / self.case.interval_ms) as usize;
        let mut quiet: Vec<Waiting> = Vec::new();
        // A person may be asked again when Redis changes things after their command (an
        // election it held on its own), but not over and over.
        let mut operator_runs = 0;
        for _ in 0..passes {
            let pass = self.step(false, Intent::Auto, None)?;
            let d = &pass.decision;
            let Some(w) = d
                .waiting_for
                .clone()
                .filter(|_| d.is_empty() && d.partition.is_none())
            else {
                quiet.clear();
                continue;
            };
            match self.expect(end, &w, operator_runs > 0) {
                Verdict::Settled => {
                    if quiet.last().is_some_and(|q| *q != w) {
                        return Err(self.fail(format!(
                            "settled, then waiting for something else: {:?} then {w:?}",
                            quiet.last()
                        )));
                    }
                    quiet.push(w.clone());
                    if quiet.len() > steady {
                        return self.check_settled(end, &w);
                    }
                }
                Verdict::Operator(intent) if operator_runs < 3 => {
                    if matches!(intent, Intent::Takeover { .. }) && self.takeovers_since_fault > 0 {
                        return Err(self.fail(format!(
                            "waits for a person ({w}) after taking over on its own"
                        )));
                    }
                    operator_runs += 1;
                    quiet.clear();
                    self.run_operator(intent)?;
                }
                Verdict::Operator(_) => {
                    return Err(self.fail(format!(
                        "still waits for a person after {operator_runs} of their commands: {w}"
                    )))
                }
                Verdict::NotYet => quiet.clear(),
            }
        }
        Err(self.fail(format!(
            "not settled {} s after the last fault (end state {end:?})",
            bound / 1000
        )))
    }

    /// A person runs the break-glass command decide asked for: its own engine (fresh zone
    /// tracker, the engine's saved memory) until decide says the intent is settled.
    pub(super) fn run_operator(&mut self, intent: Intent) -> Result<(), String> {
        let engine = Engine::new(
            self.engine.policy.clone(),
            self.engine.cfg.clone(),
            self.engine.memory.clone(),
            self.cluster.now_ms,
        );
        self.operator = Some(engine);
        for _ in 0..BOUND_MS / self.case.interval_ms {
            let pass = self.step(true, intent.clone(), None)?;
            if pass.decision.is_settled() {
                // The break-glass command saves its memory where the engine loop reads it
                // (on a local cluster it stands in for the detached engine, which starts
                // again from that memory).
                if let Some(op) = self.operator.take() {
                    self.engine.memory = op.memory;
                }
                return Ok(());
            }
        }
        Err(self.fail(format!("`{intent:?}` did not settle")))
    }
}

/// Waits that end by themselves (time, Redis, gossip): never a settled state.
fn transitional(w: &Waiting) -> bool {
    matches!(
        w,
        Waiting::Confirming { .. }
            | Waiting::ConfirmingCut { .. }
            | Waiting::ConfirmingLost { .. }
            | Waiting::RedisElects { .. }
            | Waiting::Gossip { .. }
            | Waiting::FailoverPending { .. }
            | Waiting::HoldDown { .. }
            | Waiting::PartitionHealing { .. }
    )
}

pub fn run(case: &Case, strict: bool) -> Result<(), String> {
    let mut run = Run::new(case);
    run.strict = strict;
    let outcome = (|| {
        for (gap, fault) in &case.faults {
            for i in 1..=*gap {
                run.step(false, Intent::Auto, (i == *gap).then_some(fault))?;
            }
        }
        run.converge()
    })();
    // `MODEL_LOG=1 cargo test --test model NAME -- --nocapture`: every pass of a named case.
    if std::env::var_os("MODEL_LOG").is_some() {
        eprintln!("{}", run.log.join("\n"));
    }
    outcome
}
