//! Which cluster a command talks to, resolved in one place: a local cluster (`--state-dir`,
//! the default), any reachable node plus a zone map (`--node H:P --zone-map ...`: a cluster
//! we did not start, reached by bare addresses), or a RedisStretchCluster on Kubernetes
//! (`--cluster NAME -n NS`, through the API; Redis then at the pod IPs).

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use clap::Args;
use redis_stretch_admin::{NodeAddr, Secret};
use redis_stretch_engine::{discover, observe, Instance, Pool, Snapshot};
use redis_stretch_local::{default_state_dir, StateDir};

use crate::error::CliError;
use crate::kube_target::{self, KubeTarget, Where};

/// How long one observation waits for each node.
pub const OBSERVE_TIMEOUT: Duration = Duration::from_millis(500);

/// Which cluster: a local one (state dir), any reachable node plus a zone map, or a
/// RedisStretchCluster on Kubernetes.
#[derive(Args, Clone)]
pub struct TargetArgs {
    /// Local cluster (default: the default state dir), unless --node or --cluster is given.
    #[arg(long, env = "REDIS_STRETCH_STATE_DIR")]
    state_dir: Option<PathBuf>,
    /// Any reachable node of a cluster we did not start: host:port (instead of a local state
    /// dir).
    #[arg(long)]
    node: Option<String>,
    /// With --node: zone membership, `ZONE=host:port,host:port`; once per zone.
    #[arg(long = "zone-map", value_name = "ZONE=ADDRS")]
    zone_map: Vec<String>,
    /// With --node: file holding the password (else $REDISCLI_AUTH, else none).
    #[arg(long)]
    password_file: Option<PathBuf>,
    #[command(flatten)]
    pub kube: KubeArgs,
}

/// A cluster on Kubernetes, found through the API (kubeconfig); Redis is then reached at the
/// pod IPs, so run where the pod network is routable.
#[derive(Args, Clone)]
pub struct KubeArgs {
    /// The RedisStretchCluster's name (instead of --state-dir or --node).
    #[arg(long)]
    pub cluster: Option<String>,
    /// With --cluster: its namespace.
    #[arg(short = 'n', long = "namespace", default_value = "default")]
    pub namespace: String,
    /// With --cluster: the operator's namespace, where its Lease shows whether a leader is live.
    #[arg(long, default_value = "redis-stretch")]
    pub operator_namespace: String,
    #[arg(long, default_value = "redis-stretch-operator")]
    pub lease_name: String,
}

impl KubeArgs {
    /// The cluster on Kubernetes, when `--cluster` is given.
    pub fn target(&self) -> Option<Where<'_>> {
        self.cluster.as_deref().map(|cluster| Where {
            cluster,
            namespace: &self.namespace,
            lease_namespace: &self.operator_namespace,
            lease_name: &self.lease_name,
        })
    }
}

/// The cluster a command talks to.
pub enum Target<'a> {
    /// A local cluster: its state dir.
    Local(StateDir),
    /// A cluster reached by bare addresses.
    Node(NodeTarget),
    /// A RedisStretchCluster, as the API server describes it now.
    Kube(Where<'a>, Box<KubeTarget>),
}

/// A cluster found from one node and a zone map.
pub struct NodeTarget {
    pub seed: NodeAddr,
    pub zones: Vec<String>,
    pub instances: Vec<Instance>,
    pub password: Option<Secret>,
}

impl NodeTarget {
    pub async fn observe(&self) -> Snapshot {
        let pool = Pool::new(self.password.clone(), OBSERVE_TIMEOUT);
        observe(&self.instances, &self.zones, &pool).await
    }
}

impl TargetArgs {
    /// A local cluster's state dir (`None`: the default one), as `--state-dir` names it.
    pub fn local(state_dir: Option<PathBuf>) -> Self {
        Self {
            state_dir,
            node: None,
            zone_map: Vec::new(),
            password_file: None,
            kube: KubeArgs {
                cluster: None,
                namespace: "default".to_owned(),
                operator_namespace: "redis-stretch".to_owned(),
                lease_name: "redis-stretch-operator".to_owned(),
            },
        }
    }

    /// The local state dir these arguments name (`--state-dir`, else the default).
    pub fn state_dir(&self) -> StateDir {
        state_dir(self.state_dir.clone())
    }

    /// The local state dir, when these arguments name a local cluster (no --node, no
    /// --cluster).
    pub fn local_dir(&self) -> Option<StateDir> {
        (self.node.is_none() && self.kube.cluster.is_none()).then(|| self.state_dir())
    }

    /// Find the cluster: read it through the Kubernetes API, or discover it from `--node`, or
    /// take the local state dir.
    pub async fn resolve(&self) -> Result<Target<'_>, CliError> {
        if let Some(w) = self.kube.target() {
            if self.node.is_some() {
                return Err(CliError::Usage("give --cluster or --node, not both".into()));
            }
            let t = load_kube(&w).await?;
            return Ok(Target::Kube(w, Box::new(t)));
        }
        let Some(node) = &self.node else {
            return Ok(Target::Local(self.state_dir()));
        };
        let seed: NodeAddr = node
            .parse()
            .map_err(|e| CliError::Usage(format!("--node: {e}")))?;
        let (zones, zone_of) = parse_zone_map(&self.zone_map)?;
        let password = password_from(self.password_file.as_ref())?;
        let instances = discover(&seed, password.as_ref(), OBSERVE_TIMEOUT, |a| {
            zone_of.get(a).cloned()
        })
        .await?;
        Ok(Target::Node(NodeTarget {
            seed,
            zones,
            instances,
            password,
        }))
    }
}

/// The state dir of a local cluster: `--state-dir`, else the default.
pub fn state_dir(arg: Option<PathBuf>) -> StateDir {
    StateDir::new(arg.unwrap_or_else(default_state_dir))
}

/// The local cluster in `dir` as it answers now.
pub async fn observe_local(dir: &StateDir) -> Result<Snapshot, CliError> {
    let (state, instances, password) = redis_stretch_local::instances(dir)?;
    let pool = Pool::new(password, OBSERVE_TIMEOUT);
    Ok(observe(&instances, &state.zones, &pool).await)
}

/// Read a cluster through the Kubernetes API; pods not yet usable are listed on stderr.
async fn load_kube(w: &Where<'_>) -> Result<KubeTarget, CliError> {
    let t = kube_target::load(w)
        .await
        .map_err(|e| CliError::Runtime(e.to_string()))?;
    for u in &t.unplaced {
        eprintln!("note: pod {} is not an instance yet: {}", u.pod, u.why);
    }
    Ok(t)
}

fn password_from(file: Option<&PathBuf>) -> Result<Option<Secret>, CliError> {
    if let Some(f) = file {
        let p = std::fs::read_to_string(f)
            .map_err(|e| CliError::Usage(format!("--password-file {}: {e}", f.display())))?;
        return Ok(Some(Secret::new(p.trim().to_owned())));
    }
    Ok(std::env::var("REDISCLI_AUTH").ok().map(Secret::new))
}

type ZoneMap = (Vec<String>, BTreeMap<NodeAddr, String>);

fn parse_zone_map(specs: &[String]) -> Result<ZoneMap, CliError> {
    let mut names = Vec::new();
    let mut map = BTreeMap::new();
    for s in specs {
        let (zone, addrs) = s.split_once('=').ok_or_else(|| {
            CliError::Usage(format!("--zone-map `{s}`: write ZONE=host:port,host:port"))
        })?;
        names.push(zone.to_owned());
        for a in addrs.split(',').filter(|a| !a.is_empty()) {
            let addr: NodeAddr = a
                .parse()
                .map_err(|e| CliError::Usage(format!("--zone-map {zone}: {e}")))?;
            map.insert(addr, zone.to_owned());
        }
    }
    if names.len() != 2 {
        return Err(CliError::Usage(format!(
            "--node needs the two zones: --zone-map dc-a=host:port,... --zone-map dc-b=host:port,... (got {})",
            names.len()
        )));
    }
    Ok((names, map))
}
