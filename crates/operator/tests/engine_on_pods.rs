#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! The engine on its Kubernetes platform, against real `redis-server`s: six "pods" whose IPs
//! are loopback addresses (each listening on 6379, as pods do), in two zones by their nodes'
//! labels, configured with the redis.conf the operator renders. The engine forms the cluster
//! from empty pods, takes over when the zone holding most masters freezes (SIGSTOP: silence, as
//! a dark data center looks), and fails back when it returns.

use std::process::{Child, Command};
use std::sync::Arc;
use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::{Node, Pod};
use kube::runtime::reflector;
use kube::runtime::watcher::Event;
use redis_stretch_api::{
    load_manifest, server_from_env, RedisStretchCluster, ServerFlavour, ValidatedCluster,
};
use redis_stretch_operator::engines::{EngineDeps, EngineReport, EngineSpec, Engines};
use redis_stretch_operator::lease::Leadership;
use redis_stretch_operator::metrics::Metrics;
use serde_json::json;
use tokio::sync::mpsc;

const MANIFEST: &str = "apiVersion: redis-stretch.io/v1alpha1
kind: RedisStretchCluster
metadata: {name: seed, namespace: redis}
spec:
  shards: 3
  zones: [{name: dc-a, preferredMasters: 2}, {name: dc-b, preferredMasters: 1}]
  auth: {enabled: false}
";

/// The server under test (scripts/test.sh runs the suite once per server).
fn test_server() -> ServerFlavour {
    server_from_env().ok().flatten().unwrap_or_default()
}

/// Six redis-servers, stopped (and thawed first) when dropped, whatever the test did.
struct Pods {
    children: Vec<(String, String, Child)>,
    _dir: tempfile::TempDir,
}

impl Drop for Pods {
    fn drop(&mut self) {
        for (_, _, c) in &mut self.children {
            let _ = Command::new("kill")
                .args(["-CONT", &c.id().to_string()])
                .status();
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

impl Pods {
    fn signal(&self, zone: &str, sig: &str) {
        for (z, _, c) in &self.children {
            if z == zone {
                let ok = Command::new("kill")
                    .args([sig, &c.id().to_string()])
                    .status()
                    .unwrap();
                assert!(ok.success());
            }
        }
    }
}

/// A /16 of loopback of our own: several test runs at once must not share 127.x.y.z:6379, so
/// pick one at random whose six addresses are all free.
fn subnet() -> u8 {
    for _ in 0..50 {
        let mut b = [0u8; 1];
        getrandom::fill(&mut b).unwrap();
        let net = 100 + b[0] % 100;
        let free = (1..=2).all(|z| {
            (1..=3).all(|i| std::net::TcpListener::bind(format!("127.{net}.{z}.{i}:6379")).is_ok())
        });
        if free {
            return net;
        }
    }
    panic!("no free loopback /16 for the test pods");
}

fn start(cluster: &ValidatedCluster, net: u8) -> Pods {
    start_with(cluster, net, None)
}

/// With `password`: the auth include the pod's start script writes from the Secret.
fn start_with(cluster: &ValidatedCluster, net: u8, password: Option<&str>) -> Pods {
    let dir = tempfile::tempdir().unwrap();
    let conf = redis_stretch_k8s::render::redis_conf(cluster);
    let mut children = Vec::new();
    for (zi, zone) in ["dc-a", "dc-b"].iter().enumerate() {
        for i in 0..3 {
            let ip = format!("127.{net}.{}.{}", zi + 1, i + 1);
            let data = dir.path().join(format!("{zone}-{i}"));
            std::fs::create_dir_all(&data).unwrap();
            let text = conf
                .replace("bind * -::*", &format!("bind {ip}"))
                .replace("dir /data", &format!("dir {}", data.display()))
                .replace(
                    "/data/nodes.conf",
                    &format!("{}/nodes.conf", data.display()),
                );
            let text = match password {
                Some(p) => {
                    let auth = data.join("auth.conf");
                    std::fs::write(&auth, format!("requirepass \"{p}\"\nmasterauth \"{p}\"\n"))
                        .unwrap();
                    // The include the rendered config names (`render/config.rs`).
                    text.replace("/run/redis/auth.conf", &auth.display().to_string())
                }
                None => text,
            };
            let path = data.join("redis.conf");
            // What the pod's start command adds: the pod IP to announce, and the log.
            std::fs::write(
                &path,
                format!(
                    "{text}\ncluster-announce-ip {ip}\nlogfile {}/redis.log\n",
                    data.display()
                ),
            )
            .unwrap();
            // The flavour's variable (REDIS_SERVER, VALKEY_SERVER) names another version.
            let flavour = test_server();
            let binary = std::env::var(flavour.server_env_var())
                .unwrap_or_else(|_| flavour.server_binary().to_owned());
            let child = Command::new(binary)
                .arg(&path)
                .spawn()
                .expect("server not found: run scripts/deps.sh");
            children.push((zone.to_string(), ip, child));
        }
    }
    Pods {
        children,
        _dir: dir,
    }
}

fn pod(name: &str, zone: &str, ip: &str, node: &str) -> Pod {
    serde_json::from_value(json!({
        "metadata": {"name": name, "namespace": "redis", "labels": {
            "app.kubernetes.io/name": "redis-stretch", "app.kubernetes.io/instance": "seed", "app.kubernetes.io/component": "redis",
            "redis-stretch.io/zone": zone}},
        "spec": {"containers": [], "nodeName": node},
        "status": {"podIP": ip, "phase": "Running"}
    }))
    .unwrap()
}

fn node(name: &str, zone: &str) -> Node {
    serde_json::from_value(json!({
        "metadata": {"name": name, "labels": {"topology.kubernetes.io/zone": zone}},
        "status": {"conditions": [{"type": "Ready", "status": "True"}]}
    }))
    .unwrap()
}

async fn wait_for(
    engines: &Engines,
    what: &str,
    limit: Duration,
    ok: impl Fn(&EngineReport) -> bool,
) -> EngineReport {
    let start = Instant::now();
    loop {
        let r = engines.report("redis", "seed").unwrap();
        if ok(&r) {
            return r;
        }
        assert!(
            start.elapsed() < limit,
            "{what}: not after {limit:?}; forming: {:?}; waiting for: {:?}; last actions: {:?}",
            r.forming,
            r.status.as_ref().and_then(|s| s.waiting_for.clone()),
            r.status.as_ref().map(|s| s
                .last_actions
                .iter()
                .map(|a| a.summary.clone())
                .collect::<Vec<_>>())
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn masters_in(r: &EngineReport, zone: &str) -> usize {
    r.snapshot.as_ref().map_or(0, |s| {
        s.masters()
            .iter()
            .filter(|m| m.zone == zone && m.reachable)
            .count()
    })
}

fn served(r: &EngineReport) -> usize {
    r.snapshot.as_ref().map_or(0, |s| s.slots_covered())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn engine_forms_takes_over_and_fails_back_on_pods() {
    let cluster = load_manifest(MANIFEST).unwrap();
    let cr: RedisStretchCluster = serde_saphyr::from_str(MANIFEST).unwrap();
    let net = subnet();
    let pods = start(&cluster, net);

    let (pod_store, mut pw) = reflector::store::<Pod>();
    let (node_store, mut nw) = reflector::store::<Node>();
    for (zone, ip, _) in &pods.children {
        let i = ip.rsplit('.').next().unwrap().parse::<u32>().unwrap() - 1;
        let node_name = format!("k8s-{zone}-{i}");
        nw.apply_watcher_event(&Event::Apply(node(&node_name, zone)));
        pw.apply_watcher_event(&Event::Apply(pod(
            &format!("seed-{zone}-{i}"),
            zone,
            ip,
            &node_name,
        )));
    }
    let metrics = Arc::new(Metrics::default());
    let (trigger, mut triggers) = mpsc::unbounded_channel();
    let leadership = Leadership::always();
    let engines = Engines::new(EngineDeps {
        pods: pod_store,
        nodes: node_store,
        recorder: None,
        metrics: Arc::clone(&metrics),
        trigger,
        leadership: leadership.clone(),
        stateful_sets: kube::runtime::reflector::store().0,
        client: None,
    });
    engines
        .ensure(EngineSpec {
            cr: &cr,
            cluster: &cluster,
            password: None,
            previous_password: None,
            tls: None,
            tls_files: None,
            zone_label: "topology.kubernetes.io/zone".into(),
            held_zone: None,
            memory: None,
        })
        .await;

    // Formed from empty pods, as preferred, every replica across the zone boundary.
    let r = wait_for(
        &engines,
        "formed and failover-ready",
        Duration::from_secs(60),
        |r| {
            r.formed
                && served(r) == 16384
                && masters_in(r, "dc-a") == 2
                && r.snapshot.as_ref().is_some_and(|s| {
                    s.masters().iter().all(|m| {
                        s.replicas_of(m.id.as_deref().unwrap())
                            .any(|x| x.zone != m.zone && x.link_up == Some(true))
                    })
                })
        },
    )
    .await;
    assert_eq!(masters_in(&r, "dc-b"), 1);
    assert!(
        triggers.try_recv().is_ok(),
        "the engine asks the controller for a status update"
    );

    // dc-a (2 of 3 masters) goes dark: the engine takes over in dc-b.
    pods.signal("dc-a", "-STOP");
    let lost = Instant::now();
    wait_for(&engines, "takeover in dc-b", Duration::from_secs(30), |r| {
        served(r) == 16384 && masters_in(r, "dc-b") == 3
    })
    .await;
    eprintln!(
        "every slot served in dc-b {:.2} s after dc-a froze",
        lost.elapsed().as_secs_f64()
    );
    let text = metrics.render();
    assert!(text.contains("action=\"takeover\",ok=\"true\""), "{text}");
    // The survivors were unfenced before the takeover: no master refuses writes.
    assert!(
        text.lines()
            .any(|l| l.starts_with("redis_stretch_write_blocked_masters{") && l.ends_with(" 0")),
        "{text}"
    );

    // dc-a returns: its old masters rejoin as replicas, then the engine fails back to 2 + 1.
    pods.signal("dc-a", "-CONT");
    wait_for(&engines, "failback to dc-a", Duration::from_secs(60), |r| {
        masters_in(r, "dc-a") == 2 && masters_in(r, "dc-b") == 1 && served(r) == 16384
    })
    .await;

    // The Lease is gone (another replica leads now): this engine still sees dc-a go dark, and
    // does nothing about it.
    leadership.revoke();
    pods.signal("dc-a", "-STOP");
    let r = wait_for(&engines, "dc-a dark again", Duration::from_secs(10), |r| {
        r.zones
            .iter()
            .any(|z| z.zone == "dc-a" && z.state.is_dark())
    })
    .await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let after = engines.report("redis", "seed").unwrap();
    assert_eq!(
        masters_in(&after, "dc-b"),
        1,
        "no takeover without the Lease"
    );
    let last = |r: &EngineReport| {
        r.status
            .as_ref()
            .and_then(|s| s.last_actions.last().map(|a| (a.at_ms, a.summary.clone())))
    };
    assert_eq!(last(&after), last(&r), "no action at all without the Lease");
    pods.signal("dc-a", "-CONT");
    engines.stop_all().await;
}

const AUTH_MANIFEST: &str = "apiVersion: redis-stretch.io/v1alpha1
kind: RedisStretchCluster
metadata: {name: seed, namespace: redis}
spec:
  shards: 3
  zones: [{name: dc-a, preferredMasters: 2}, {name: dc-b, preferredMasters: 1}]
";

/// Issue 17 on the Kubernetes platform: the password Secret changes; the operator restarts the
/// engine with [new, old] (`reconcile/rotation.rs`), which rotates every pod with no restart;
/// once it reports the rotation done, the engine runs with the new password alone, and still
/// takes over when dc-a goes dark.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_password_rotation_on_pods_then_a_dc_loss() {
    let cluster = load_manifest(AUTH_MANIFEST).unwrap();
    let cr: RedisStretchCluster = serde_saphyr::from_str(AUTH_MANIFEST).unwrap();
    let net = subnet();
    let pods = start_with(&cluster, net, Some("old-pw"));
    let (pod_store, mut pw) = reflector::store::<Pod>();
    let (node_store, mut nw) = reflector::store::<Node>();
    for (zone, ip, _) in &pods.children {
        let i = ip.rsplit('.').next().unwrap().parse::<u32>().unwrap() - 1;
        let node_name = format!("k8s-{zone}-{i}");
        nw.apply_watcher_event(&Event::Apply(node(&node_name, zone)));
        pw.apply_watcher_event(&Event::Apply(pod(
            &format!("seed-{zone}-{i}"),
            zone,
            ip,
            &node_name,
        )));
    }
    let (trigger, _triggers) = mpsc::unbounded_channel();
    let engines = Engines::new(EngineDeps {
        pods: pod_store,
        nodes: node_store,
        recorder: None,
        metrics: Arc::new(Metrics::default()),
        trigger,
        leadership: Leadership::always(),
        stateful_sets: kube::runtime::reflector::store().0,
        client: None,
    });
    let spec = |password: &str, previous: Option<&str>| EngineSpec {
        cr: &cr,
        cluster: &cluster,
        password: Some(redis_stretch_admin::Secret::new(password)),
        previous_password: previous.map(redis_stretch_admin::Secret::new),
        tls: None,
        tls_files: None,
        zone_label: "topology.kubernetes.io/zone".into(),
        held_zone: None,
        memory: None,
    };
    engines.ensure(spec("old-pw", None)).await;
    wait_for(&engines, "formed", Duration::from_secs(60), |r| {
        r.formed
            && served(r) == 16384
            && r.snapshot.as_ref().is_some_and(|s| {
                s.nodes
                    .iter()
                    .filter(|n| n.role.is_some() && !n.is_master())
                    .count()
                    == 3
                    && s.nodes.iter().all(|n| n.link_up != Some(false))
            })
    })
    .await;

    engines.ensure(spec("new-pw", Some("old-pw"))).await;
    let r = wait_for(&engines, "rotation done", Duration::from_secs(30), |r| {
        r.snapshot
            .as_ref()
            .is_some_and(redis_stretch_engine::Snapshot::rotation_done)
    })
    .await;
    assert!(r
        .status
        .iter()
        .flat_map(|s| &s.last_actions)
        .any(|a| a.kind == "drop-password"));
    for (_, ip, _) in &pods.children {
        let addr = redis_stretch_admin::NodeAddr::new(ip.as_str(), 6379);
        let old = redis_stretch_admin::Secret::new("old-pw");
        let e =
            redis_stretch_admin::AdminClient::connect(&addr, Some(&old), Duration::from_secs(1))
                .await
                .unwrap_err();
        assert!(e.is_auth_failure(), "{ip}: {e}");
    }
    // What the reconcile does once the engine reports it done.
    engines.ensure(spec("new-pw", None)).await;
    pods.signal("dc-a", "-STOP");
    wait_for(&engines, "takeover in dc-b", Duration::from_secs(30), |r| {
        served(r) == 16384 && masters_in(r, "dc-b") == 3
    })
    .await;
    pods.signal("dc-a", "-CONT");
}
