//! Names and labels of everything rendered for one cluster. One place, so that the renderer,
//! the planner and (later) the reconciler agree on them.

use std::collections::BTreeMap;

use redis_stretch_api::ValidatedCluster;

use crate::error::Error;

pub const LABEL_NAME: &str = "app.kubernetes.io/name";
pub const LABEL_INSTANCE: &str = "app.kubernetes.io/instance";
pub const LABEL_MANAGED_BY: &str = "app.kubernetes.io/managed-by";
pub const LABEL_COMPONENT: &str = "app.kubernetes.io/component";
/// ZoneAware: the zone a pod's StatefulSet is pinned to.
pub const LABEL_ZONE: &str = "redis-stretch.io/zone";
/// The *current* role of a pod (`master`/`replica`), set by the engine as roles change; never
/// part of a selector or of a pod's identity.
pub const LABEL_ROLE: &str = "redis-stretch.io/role";
/// SeedCompatible: the seed's workload label (`redis-leader` / `redis-follower`).
pub const LABEL_SEED_APP: &str = "app";
pub const HOSTNAME_KEY: &str = "kubernetes.io/hostname";

pub const APP: &str = "redis-stretch";
pub const REDIS_PORT: i32 = 6379;
/// Redis Cluster's bus is the client port + 10000.
pub const BUS_PORT: i32 = 16379;
/// Key of the password in the auth Secret.
pub const PASSWORD_KEY: &str = "password";

/// StatefulSet names must leave room for the `controller-revision-hash` label value
/// (`<name>-<10-char hash>`) within the 63-character label limit.
const MAX_STATEFULSET_NAME: usize = 52;

pub struct Names<'a> {
    cluster: &'a ValidatedCluster,
}

impl<'a> Names<'a> {
    pub fn new(cluster: &'a ValidatedCluster) -> Self {
        Self { cluster }
    }

    pub fn cluster(&self) -> &str {
        self.cluster.name()
    }
    pub fn config_map(&self) -> String {
        format!("{}-config", self.cluster())
    }
    /// Stable DNS per pod: `<pod>.<headless>.<namespace>.svc`.
    pub fn headless_service(&self) -> String {
        format!("{}-headless", self.cluster())
    }
    pub fn client_service(&self) -> String {
        self.cluster().to_owned()
    }
    pub fn disruption_budget(&self) -> String {
        self.cluster().to_owned()
    }
    pub fn auth_secret(&self) -> String {
        self.cluster
            .spec()
            .auth
            .secret_name
            .clone()
            .unwrap_or_else(|| format!("{}-auth", self.cluster()))
    }
    pub fn zone_stateful_set(&self, zone: &str) -> Result<String, Error> {
        checked(format!("{}-{zone}", self.cluster()))
    }
    pub fn leader_stateful_set(&self) -> Result<String, Error> {
        checked(format!("{}-leader", self.cluster()))
    }
    pub fn follower_stateful_set(&self) -> Result<String, Error> {
        checked(format!("{}-follower", self.cluster()))
    }

    /// Labels on every object of the cluster.
    pub fn common_labels(&self) -> BTreeMap<String, String> {
        let mut l = self.selector_labels();
        l.insert(LABEL_MANAGED_BY.to_owned(), APP.to_owned());
        l.insert(LABEL_COMPONENT.to_owned(), "redis".to_owned());
        l
    }

    /// What selects every Redis pod of this cluster and nothing else: Services, the
    /// disruption budget and the one-pod-per-node anti-affinity all use it.
    pub fn selector_labels(&self) -> BTreeMap<String, String> {
        BTreeMap::from([
            (LABEL_NAME.to_owned(), APP.to_owned()),
            (LABEL_INSTANCE.to_owned(), self.cluster().to_owned()),
        ])
    }
}

fn checked(name: String) -> Result<String, Error> {
    if name.len() > MAX_STATEFULSET_NAME {
        return Err(Error::NameTooLong {
            len: name.len(),
            name,
            max: MAX_STATEFULSET_NAME,
        });
    }
    Ok(name)
}
