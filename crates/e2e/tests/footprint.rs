//! The operator's footprint against the real control plane: resident memory idle with no
//! cluster, one cluster, 50, and 500 without pods, reconcile latency, and API requests per
//! minute as the API server itself counts them (its audit log records every finished request of the operator's
//! user, and nobody else's).
//!
//! A benchmark, not a check: ignored by `cargo test`; `scripts/bench.sh footprint` runs it with
//! the image's binary (`REDIS_STRETCH_BIN`, the `operator` profile) and writes the section of docs/BENCHMARKS.md to
//! `FOOTPRINT_OUT`. The only assertions are that the clusters form.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::time::{Duration, Instant};

use redis_stretch_e2e::{init_tracing, Env};
use serde_json::{json, Value};

const NS: &str = "redis";
/// The 1-shard clusters added to the first: 50 resources in all (`FOOTPRINT_EXTRA` to change).
fn extra() -> usize {
    std::env::var("FOOTPRINT_EXTRA")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(49)
}

/// The clusters of the row without pods (`FOOTPRINT_MANY` to change).
fn many() -> usize {
    std::env::var("FOOTPRINT_MANY")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(500)
}

fn idle_secs() -> u64 {
    std::env::var("FOOTPRINT_IDLE_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(60)
}

/// examples/k8s/zone-aware.yaml (3 shards, 6 pods) without persistence (no storage provisioner
/// runs) and with small requests, so that 50 clusters fit on the six nodes.
fn orders() -> Value {
    let path = redis_stretch_e2e::repo_root().join("examples/k8s/zone-aware.yaml");
    let mut m: Value = serde_saphyr::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    m["spec"]["redis"]["persistence"] = json!({"enabled": false});
    m["spec"]["auth"] = json!({"enabled": true});
    m["spec"]["kubernetes"]["resources"] = json!({"cpu": "10m", "memory": "64Mi"});
    // The example's 512mb would not fit the 64Mi limit (refused): derived from the limit.
    m["spec"]["redis"]
        .as_object_mut()
        .unwrap()
        .remove("maxmemory");
    m
}

/// A 1-shard cluster: its master in dc-a, the replica in dc-b (2 pods).
fn small(name: &str) -> Value {
    let mut m = orders();
    m["metadata"]["name"] = json!(name);
    m["spec"]["shards"] = json!(1);
    m["spec"]["zones"] = json!([
        {"name": "dc-a", "preferredMasters": 1},
        {"name": "dc-b", "preferredMasters": 0},
    ]);
    m
}

/// A cumulative histogram: (upper bound `le`, observations up to it).
type Buckets = Vec<(f64, u64)>;

/// What one idle window showed.
struct Window {
    secs: f64,
    rss_kib: Vec<u64>,
    /// Audit events (finished requests of the operator) during the window.
    requests: Vec<Value>,
    /// Reconcile-duration histogram, cumulative (le, count), at the start and the end.
    hist: (Buckets, Buckets),
}

/// `le` buckets of the reconcile-duration histogram in a /metrics text.
fn reconcile_buckets(metrics: &str) -> Buckets {
    metrics
        .lines()
        .filter_map(|l| l.strip_prefix("redis_stretch_reconcile_duration_seconds_bucket{le=\""))
        .filter_map(|rest| {
            let (le, count) = rest.split_once("\"} ")?;
            let le = if le == "+Inf" {
                f64::INFINITY
            } else {
                le.parse().ok()?
            };
            Some((le, count.split_whitespace().next()?.parse().ok()?))
        })
        .collect()
}

/// Buckets of `after` minus `before` (the reconciles in between).
fn delta(before: &[(f64, u64)], after: &[(f64, u64)]) -> Buckets {
    after
        .iter()
        .map(|(le, n)| {
            let b = before
                .iter()
                .find(|(l, _)| l == le)
                .map(|(_, c)| *c)
                .unwrap_or(0);
            (*le, n.saturating_sub(b))
        })
        .collect()
}

/// The q-quantile of a cumulative histogram, interpolated within its bucket as Prometheus's
/// `histogram_quantile` does; seconds. `None` without observations.
fn quantile(q: f64, buckets: &[(f64, u64)]) -> Option<f64> {
    let total = buckets.last()?.1;
    if total == 0 {
        return None;
    }
    let rank = q * total as f64;
    let (mut prev_le, mut prev_n) = (0.0, 0u64);
    for (le, n) in buckets {
        if *n as f64 >= rank {
            if le.is_infinite() {
                return Some(prev_le);
            }
            let within = (*n - prev_n) as f64;
            let frac = if within > 0.0 {
                (rank - prev_n as f64) / within
            } else {
                1.0
            };
            return Some(prev_le + (le - prev_le) * frac);
        }
        (prev_le, prev_n) = (*le, *n);
    }
    None
}

fn median(v: &[u64]) -> u64 {
    let mut s = v.to_vec();
    s.sort_unstable();
    s.get(s.len() / 2).copied().unwrap_or(0)
}

async fn idle_window(env: &Env, secs: u64) -> Window {
    let op = env.operator.as_ref().unwrap();
    let before_req = env.cp.operator_requests().unwrap().len();
    let before_hist = reconcile_buckets(&op.metrics().unwrap());
    let start = Instant::now();
    let mut rss = Vec::new();
    while start.elapsed() < Duration::from_secs(secs) {
        if let Some(k) = op.rss_kib() {
            rss.push(k);
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    let elapsed = start.elapsed().as_secs_f64();
    let requests = env.cp.operator_requests().unwrap().split_off(before_req);
    let after_hist = reconcile_buckets(&op.metrics().unwrap());
    Window {
        secs: elapsed,
        rss_kib: rss,
        requests,
        hist: (before_hist, after_hist),
    }
}

fn mib(kib: u64) -> f64 {
    kib as f64 / 1024.0
}

fn ms(s: Option<f64>) -> String {
    s.map(|s| format!("{:.1}", s * 1000.0))
        .unwrap_or_else(|| "–".into())
}

/// "verb resource[/subresource]" counts per minute, busiest first.
fn per_minute(w: &Window) -> String {
    let mut by: BTreeMap<String, usize> = BTreeMap::new();
    for r in &w.requests {
        let verb = r["verb"].as_str().unwrap_or("?");
        let res = r["objectRef"]["resource"].as_str().unwrap_or("?");
        let key = match r["objectRef"]["subresource"].as_str() {
            Some(sub) => format!("{verb} {res}/{sub}"),
            None => format!("{verb} {res}"),
        };
        *by.entry(key).or_default() += 1;
    }
    let mut v: Vec<(String, usize)> = by.into_iter().collect();
    v.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    v.iter()
        .map(|(k, n)| format!("{k} {:.1}", *n as f64 * 60.0 / w.secs))
        .collect::<Vec<_>>()
        .join(", ")
}

fn row(out: &mut String, label: &str, w: &Window) {
    let d = delta(&w.hist.0, &w.hist.1);
    let reconciles = d.last().map(|(_, n)| *n).unwrap_or(0);
    let _ = writeln!(
        out,
        "| {label} | {:.1} | {:.1} | {:.1} | {:.1} | {} / {} | {} |",
        mib(median(&w.rss_kib)),
        mib(w.rss_kib.iter().copied().max().unwrap_or(0)),
        w.requests.len() as f64 * 60.0 / w.secs,
        reconciles as f64 * 60.0 / w.secs,
        ms(quantile(0.5, &d)),
        ms(quantile(0.99, &d)),
        per_minute(w),
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[ignore = "a benchmark: scripts/bench.sh footprint"]
async fn operator_footprint() {
    init_tracing();
    let Some(mut env) = Env::start("footprint", NS).await.unwrap() else {
        return;
    };
    env.start_kubelet().await.unwrap();
    env.start_operator().unwrap();
    let idle = idle_secs();
    let extra = extra();
    tokio::time::sleep(Duration::from_secs(5)).await;
    let none = idle_window(&env, idle.min(30)).await;

    // One cluster, from apply to Ready, then idle.
    let h0 = reconcile_buckets(&env.operator.as_ref().unwrap().metrics().unwrap());
    let t = Instant::now();
    env.apply(&orders()).await.unwrap();
    env.wait_condition(NS, "orders", "Ready", "True", Duration::from_secs(300))
        .await
        .unwrap();
    let one_ready = t.elapsed();
    tokio::time::sleep(Duration::from_secs(10)).await;
    let h1 = reconcile_buckets(&env.operator.as_ref().unwrap().metrics().unwrap());
    let one = idle_window(&env, idle).await;

    // 49 more, applied at once, until every one is Ready, then idle.
    let names: Vec<String> = (1..=extra).map(|i| format!("fp-{i:02}")).collect();
    let t = Instant::now();
    for n in &names {
        env.apply(&small(n)).await.unwrap();
    }
    for n in &names {
        let left = Duration::from_secs(1200).saturating_sub(t.elapsed());
        env.wait_condition(NS, n, "Ready", "True", left)
            .await
            .unwrap();
    }
    let all_ready = t.elapsed();
    tokio::time::sleep(Duration::from_secs(10)).await;
    let h2 = reconcile_buckets(&env.operator.as_ref().unwrap().metrics().unwrap());
    let fifty = idle_window(&env, idle).await;

    // The operator's log, for a look at why it reconciled (REDIS_STRETCH_E2E_OPERATOR_LOG
    // sets its filter).
    if let Some(path) = std::env::var_os("FOOTPRINT_KEEP_LOG") {
        std::fs::copy(env.operator.as_ref().unwrap().log(), path).unwrap();
    }
    drop(env);

    // Many clusters and no pods, on a control plane without the StatefulSet controller: what
    // idle costs in API requests when the count of clusters, not of pods, grows.
    let many_n = many();
    let Some(mut env) = Env::start_without_pods("footprint-many", NS).await.unwrap() else {
        return;
    };
    env.start_operator().unwrap();
    let t = Instant::now();
    for i in 1..=many_n {
        env.apply(&small(&format!("fp-many-{i:03}"))).await.unwrap();
    }
    let api = redis_stretch_e2e::api::clusters(&env.client, NS);
    redis_stretch_e2e::wait::until(
        &format!("{many_n} clusters applied"),
        Duration::from_secs(1800),
        Duration::from_secs(2),
        || async {
            let list = api.list(&Default::default()).await.unwrap();
            let applied = list
                .items
                .iter()
                .filter(|c| {
                    redis_stretch_e2e::api::condition(c, "Applied")
                        .is_some_and(|(s, _, _)| s == "True")
                })
                .count();
            Ok(if applied == many_n {
                redis_stretch_e2e::wait::Step::Done(())
            } else {
                redis_stretch_e2e::wait::Step::Pending(format!("{applied} of {many_n} applied"))
            })
        },
    )
    .await
    .unwrap();
    let many_applied = t.elapsed();
    tokio::time::sleep(Duration::from_secs(10)).await;
    let many_window = idle_window(&env, idle).await;

    let forming_one = delta(&h0, &h1);
    let forming_rest = delta(&h1, &h2);
    let mut out = String::new();
    let _ = writeln!(out, "## Operator footprint on a real control plane");
    let _ = writeln!(out);
    let _ = writeln!(
        out,
        "`redis-stretch operator` (the image's build: the `operator` profile, release with LTO) outside the cluster against the e2e control \
         plane (Kubernetes v1.37.2 from Go modules, the test kubelet running every pod as a real \
         `redis-server`). RSS is `VmRSS`, sampled every second of an idle window of {idle} s \
         (30 s with no cluster); API requests are the operator user's finished requests in the \
         API server's audit log (a watch counts when it ends); reconcile latency is \
         interpolated within the buckets of `redis_stretch_reconcile_duration_seconds`, as \
         `histogram_quantile` does. The first cluster is `examples/k8s/zone-aware.yaml` (3 \
         shards, 6 pods); the other {extra} have 1 shard (2 pods each) to keep 100 pods within \
         two cores."
    );
    let _ = writeln!(out);
    let _ = writeln!(
        out,
        "| idle with | RSS median (MiB) | RSS max (MiB) | API requests/min | reconciles/min | reconcile p50 / p99 (ms) | requests/min by kind |"
    );
    let _ = writeln!(out, "|---|---|---|---|---|---|---|");
    row(&mut out, "no cluster", &none);
    row(&mut out, "1 cluster (6 pods)", &one);
    row(
        &mut out,
        &format!("{} clusters ({} pods)", extra + 1, 6 + 2 * extra),
        &fifty,
    );
    row(
        &mut out,
        &format!("{many_n} clusters (no pods)"),
        &many_window,
    );
    let per_extra = (median(&fifty.rss_kib) as f64 - median(&one.rss_kib) as f64) / extra as f64;
    let _ = writeln!(out);
    let _ = writeln!(
        out,
        "- Per extra cluster: {:.2} MiB of RSS (median with {} clusters minus median with 1, over {extra}). Goal: < 20 MiB idle, < 1 MiB per extra cluster.",
        per_extra / 1024.0,
        extra + 1
    );
    let _ = writeln!(
        out,
        "- Forming: the first cluster Ready {:.1} s after `apply` ({} reconciles, p50 {} ms, p99 {} ms); the {extra} others, applied at once, all Ready after {:.1} s ({} reconciles, p50 {} ms, p99 {} ms).",
        one_ready.as_secs_f64(),
        forming_one.last().map(|b| b.1).unwrap_or(0),
        ms(quantile(0.5, &forming_one)),
        ms(quantile(0.99, &forming_one)),
        all_ready.as_secs_f64(),
        forming_rest.last().map(|b| b.1).unwrap_or(0),
        ms(quantile(0.5, &forming_rest)),
        ms(quantile(0.99, &forming_rest)),
    );
    let _ = writeln!(
        out,
        "- {many_n} clusters without pods: a second control plane without the StatefulSet controller (StatefulSets stored, no pod ever created), the same 1-shard spec; every one applied (`Applied=True`) {:.0} s after the first `apply`. Goal: ≤ 100 API requests/min idle with 50 clusters, ≤ 150 with 500 (the Lease's renewals are most of it).",
        many_applied.as_secs_f64()
    );
    eprintln!("{out}");
    if let Some(path) = std::env::var_os("FOOTPRINT_OUT") {
        std::fs::write(&path, &out).unwrap();
    }
}

#[test]
fn quantiles_interpolate_within_the_bucket() {
    let b = [(0.001, 0), (0.005, 50), (0.01, 100), (f64::INFINITY, 100)];
    assert_eq!(quantile(0.5, &b), Some(0.005));
    let p75 = quantile(0.75, &b).unwrap();
    assert!((p75 - 0.0075).abs() < 1e-9, "{p75}");
    assert_eq!(quantile(0.5, &[(0.001, 0), (f64::INFINITY, 0)]), None);
    let text = "redis_stretch_reconcile_duration_seconds_bucket{le=\"0.005\"} 7\nredis_stretch_reconcile_duration_seconds_bucket{le=\"+Inf\"} 9\n";
    assert_eq!(
        reconcile_buckets(text),
        vec![(0.005, 7), (f64::INFINITY, 9)]
    );
}
