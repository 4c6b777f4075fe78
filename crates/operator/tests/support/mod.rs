//! A scripted Kubernetes API server for reconcile tests (tower-test): each expected request is
//! checked — method, path, query, body — and answered in order; anything unexpected fails the
//! test with what was asked.

#![allow(dead_code)]

use std::sync::Arc;
use std::time::Duration;

use http::{Method, Request, Response, StatusCode};
use k8s_openapi::api::core::v1::{Node, Pod};
use kube::client::Body;
use kube::core::PartialObjectMeta;
use kube::runtime::events::{Recorder, Reporter};
use kube::runtime::reflector::{self, store::Writer};
use kube::Client;
use redis_stretch_operator::engines::{EngineDeps, Engines};
use redis_stretch_operator::metrics::Metrics;
use redis_stretch_operator::owned::{Owned, OwnedWriters, SecretReads};
use redis_stretch_operator::Context;
use serde_json::{json, Value};
use tokio::sync::mpsc;
use tower_test::mock::{self, Handle};

pub type Check = Box<dyn Fn(&Value) + Send>;

pub struct Expect {
    pub method: Method,
    /// The path must start with this (query excluded).
    pub path: String,
    /// Every one of these must appear in the query string.
    pub query: Vec<&'static str>,
    pub check: Option<Check>,
    pub status: StatusCode,
    /// Reply body; `None` echoes the request body back (what apply and create return).
    pub reply: Option<Value>,
    /// Events: the recorder POSTs a new one and PATCHes a repeat (a series).
    pub post_or_patch: bool,
}

impl Expect {
    pub fn new(method: Method, path: &str) -> Self {
        Self {
            method,
            path: path.to_owned(),
            query: Vec::new(),
            check: None,
            status: StatusCode::OK,
            reply: None,
            post_or_patch: false,
        }
    }
    pub fn post_or_patch(mut self) -> Self {
        self.post_or_patch = true;
        self
    }
    pub fn query(mut self, q: &'static str) -> Self {
        self.query.push(q);
        self
    }
    pub fn check(mut self, f: impl Fn(&Value) + Send + 'static) -> Self {
        self.check = Some(Box::new(f));
        self
    }
    pub fn reply(mut self, status: StatusCode, body: Value) -> Self {
        self.status = status;
        self.reply = Some(body);
        self
    }
    pub fn not_found(self) -> Self {
        self.reply(
            StatusCode::NOT_FOUND,
            json!({"kind": "Status", "apiVersion": "v1", "status": "Failure", "reason": "NotFound", "code": 404, "message": "not found"}),
        )
    }
}

pub const NS: &str = "redis";
pub const CORE: &str = "/api/v1/namespaces/redis";
pub const APPS: &str = "/apis/apps/v1/namespaces/redis";
pub const POLICY: &str = "/apis/policy/v1/namespaces/redis";
pub const NETWORKING: &str = "/apis/networking.k8s.io/v1/namespaces/redis";
pub const EVENTS: &str = "/apis/events.k8s.io/v1/namespaces/redis/events";
pub const RSC: &str = "/apis/redis-stretch.io/v1alpha1/namespaces/redis/redisstretchclusters";

pub struct ApiServer {
    handle: Handle<Request<Body>, Response<Body>>,
}

/// Everything a reconcile reads or writes, with the API replaced by the script.
pub struct Harness {
    pub ctx: Arc<Context>,
    pub server: ApiServer,
    pub pods: Writer<Pod>,
    pub nodes: Writer<Node>,
    /// The watch caches of owned objects and Secrets, synced and empty: what a test puts here
    /// is what the server "holds".
    pub stateful_sets: Writer<k8s_openapi::api::apps::v1::StatefulSet>,
    pub owned: OwnedWriters,
    pub secrets: Writer<PartialObjectMeta<k8s_openapi::api::core::v1::Secret>>,
    pub triggers: mpsc::UnboundedReceiver<
        kube::runtime::reflector::ObjectRef<redis_stretch_api::RedisStretchCluster>,
    >,
}

/// A cache after its initial (empty) list.
fn synced<K>(w: &mut Writer<K>)
where
    K: kube::Resource + Clone,
    K::DynamicType: Eq + std::hash::Hash + Clone,
{
    w.apply_watcher_event(&kube::runtime::watcher::Event::Init);
    w.apply_watcher_event(&kube::runtime::watcher::Event::InitDone);
}

pub fn harness() -> Harness {
    harness_with(None)
}

/// A harness whose operator runs with `--network-policy` (`Some`) or without.
pub fn harness_with(network: Option<redis_stretch_k8s::NetworkAccess>) -> Harness {
    let (service, handle) = mock::pair::<Request<Body>, Response<Body>>();
    let client = Client::new(service, "default");
    let (pods_store, pods) = reflector::store::<Pod>();
    let (nodes_store, nodes) = reflector::store::<Node>();
    let recorder = Recorder::new(
        client.clone(),
        Reporter {
            controller: "redis-stretch".into(),
            instance: Some("test".into()),
        },
    );
    let metrics = Arc::new(Metrics::default());
    let (trigger, triggers) = mpsc::unbounded_channel();
    let engines = Arc::new(Engines::new(EngineDeps {
        pods: pods_store.clone(),
        nodes: nodes_store.clone(),
        // Engine events would be API calls the script does not expect; the engines of these
        // tests have no pods and do nothing anyway.
        recorder: None,
        metrics: Arc::clone(&metrics),
        trigger,
        leadership: redis_stretch_operator::lease::Leadership::always(),
        stateful_sets: kube::runtime::reflector::store().0,
        client: None,
    }));
    let (sets_store, mut stateful_sets) = reflector::store();
    let (owned, mut owned_writers) = Owned::new(sets_store);
    let (secrets, mut secrets_writer) = SecretReads::new();
    synced(&mut stateful_sets);
    synced(&mut owned_writers.services);
    synced(&mut owned_writers.config_maps);
    synced(&mut owned_writers.pdbs);
    synced(&mut owned_writers.network_policies);
    synced(&mut secrets_writer);
    let ctx = Arc::new(Context {
        client,
        recorder,
        metrics,
        pods: pods_store,
        nodes: nodes_store,
        engines,
        applied: Default::default(),
        owned,
        secrets,
        leadership: redis_stretch_operator::lease::Leadership::always(),
        network,
    });
    Harness {
        ctx,
        server: ApiServer { handle },
        pods,
        nodes,
        stateful_sets,
        owned: owned_writers,
        secrets: secrets_writer,
        triggers,
    }
}

impl ApiServer {
    /// Answer `script` in order, then fail if anything else is asked within a short while.
    pub fn run(self, script: Vec<Expect>) -> tokio::task::JoinHandle<Vec<Value>> {
        self.serve(script, false)
    }

    /// Answer `script` in order, then take every further request and never answer it: an API
    /// server that went silent (a DC loss took its etcd quorum).
    pub fn run_then_hang(self, script: Vec<Expect>) -> tokio::task::JoinHandle<Vec<Value>> {
        self.serve(script, true)
    }

    fn serve(mut self, script: Vec<Expect>, hang: bool) -> tokio::task::JoinHandle<Vec<Value>> {
        tokio::spawn(async move {
            let mut bodies = Vec::new();
            for (i, e) in script.into_iter().enumerate() {
                let next =
                    tokio::time::timeout(Duration::from_secs(5), self.handle.next_request()).await;
                let (req, send) = match next {
                    Ok(Some(r)) => r,
                    _ => panic!("request #{i} never came: expected {} {}", e.method, e.path),
                };
                let method = req.method().clone();
                let path = req.uri().path().to_owned();
                let query = req.uri().query().unwrap_or_default().to_owned();
                let bytes = req.into_body().collect_bytes().await.unwrap();
                let body: Value = if bytes.is_empty() {
                    Value::Null
                } else {
                    serde_json::from_slice(&bytes).unwrap()
                };
                let method_ok = method == e.method
                    || (e.post_or_patch && (method == Method::POST || method == Method::PATCH));
                assert!(
                    method_ok && path.starts_with(&e.path),
                    "request #{i}: got {method} {path}?{query}, expected {} {}",
                    e.method,
                    e.path
                );
                for q in &e.query {
                    assert!(
                        query.contains(q),
                        "request #{i} {method} {path}: query `{query}` lacks `{q}`"
                    );
                }
                if let Some(check) = &e.check {
                    check(&body);
                }
                let reply = e.reply.clone().unwrap_or_else(|| body.clone());
                bodies.push(body);
                send.send_response(
                    Response::builder()
                        .status(e.status)
                        .body(Body::from(serde_json::to_vec(&reply).unwrap()))
                        .unwrap(),
                );
            }
            if hang {
                let mut held = Vec::new();
                while let Some(pending) = self.handle.next_request().await {
                    held.push(pending);
                }
                return bodies;
            }
            if let Ok(Some((req, _))) =
                tokio::time::timeout(Duration::from_millis(300), self.handle.next_request()).await
            {
                panic!("unexpected request: {} {}", req.method(), req.uri());
            }
            bodies
        })
    }
}

pub fn empty_list(kind: &str) -> Value {
    json!({"kind": format!("{kind}List"), "apiVersion": "v1", "metadata": {}, "items": []})
}

/// The seed cluster as a custom resource, with our finalizer already set.
pub fn seed_cr() -> Value {
    json!({
        "apiVersion": "redis-stretch.io/v1alpha1",
        "kind": "RedisStretchCluster",
        "metadata": {
            "name": "seed",
            "namespace": NS,
            "uid": "11111111-2222-3333-4444-555555555555",
            "generation": 1,
            "resourceVersion": "100",
            "finalizers": ["redis-stretch.io/cleanup"],
        },
        "spec": {
            "shards": 3,
            "zones": [
                {"name": "dc-a", "preferredMasters": 2},
                {"name": "dc-b", "preferredMasters": 1},
            ],
            "placement": {"mode": "SeedCompatible"},
        }
    })
}
