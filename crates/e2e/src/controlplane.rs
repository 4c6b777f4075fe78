//! The control plane of one test: `scripts/controlplane.sh start DIR` on free loopback ports,
//! and `stop DIR` (exactly the recorded PIDs) when the guard drops — also when the test panics,
//! in which case DIR and its logs are kept and named on stderr.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};

use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::{Client, Config};

use crate::error::{Error, Result};
use crate::repo_root;

pub struct ControlPlane {
    dir: PathBuf,
    kubeconfig: PathBuf,
}

/// Set to build the control plane when it is missing (scripts/test.sh sets it): a cold build
/// takes 10-25 minutes on two cores, so a plain `cargo test` skips the e2e tests until it is built.
pub const REQUIRE_ENV: &str = "REDIS_STRETCH_E2E";

fn script() -> PathBuf {
    repo_root().join("scripts/controlplane.sh")
}

fn run(args: &[&str]) -> Result<String> {
    run_with(args, &[])
}

fn run_with(args: &[&str], envs: &[(&str, &str)]) -> Result<String> {
    let out = Command::new("bash")
        .arg(script())
        .args(args)
        .envs(envs.iter().copied())
        .output()
        .map_err(Error::io("running scripts/controlplane.sh"))?;
    if !out.status.success() {
        return Err(Error::ControlPlane {
            command: args.join(" "),
            message: String::from_utf8_lossy(&out.stderr).trim().to_owned(),
        });
    }
    Ok(String::from_utf8_lossy(&out.stdout).trim().to_owned())
}

/// The built binary: built (or found up to date) by the script when it exists or when
/// `REDIS_STRETCH_E2E` asks for it; `Error::NotBuilt` otherwise.
pub fn binary() -> Result<PathBuf> {
    let default = std::env::var_os("REDIS_STRETCH_CONTROLPLANE_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo_root().join("target/controlplane"))
        .join("controlplane");
    if !default.exists() && std::env::var_os(REQUIRE_ENV).is_none() {
        return Err(Error::NotBuilt);
    }
    run(&["build"]).map(PathBuf::from)
}

impl ControlPlane {
    /// Start a control plane for the test `name`. `Ok(None)` when it is not built and not
    /// required: the caller skips, saying so.
    pub fn start(name: &str) -> Result<Option<Self>> {
        Self::start_opts(name, false)
    }

    /// As [`ControlPlane::start`]; with `no_pods` the StatefulSet controller does not run, so
    /// StatefulSets never get pods (the footprint benchmark's many clusters).
    pub fn start_opts(name: &str, no_pods: bool) -> Result<Option<Self>> {
        match binary() {
            Ok(_) => {}
            Err(Error::NotBuilt) => {
                eprintln!(
                    "SKIPPED {name}: the control plane is not built; run scripts/controlplane.sh build \
                     or set {REQUIRE_ENV}=1 (scripts/test.sh does)"
                );
                return Ok(None);
            }
            Err(e) => return Err(e),
        }
        static SEQ: AtomicU32 = AtomicU32::new(0);
        let base = std::env::temp_dir().join("redis-stretch-e2e");
        let dir = base.join(format!(
            "{name}-{}-{}",
            std::process::id(),
            SEQ.fetch_add(1, Ordering::SeqCst)
        ));
        std::fs::create_dir_all(&dir).map_err(Error::io(format!("creating {}", dir.display())))?;
        let dir_s = dir.display().to_string();
        // `start` stops what it started when it fails; the guard exists only once it succeeded.
        let envs: &[(&str, &str)] = if no_pods {
            &[("REDIS_STRETCH_CP_NO_PODS", "1")]
        } else {
            &[]
        };
        run_with(&["start", &dir_s], envs)?;
        Ok(Some(Self {
            kubeconfig: dir.join("admin.kubeconfig"),
            dir,
        }))
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// An admin kubeconfig (client certificate in `system:masters`).
    pub fn kubeconfig(&self) -> &Path {
        &self.kubeconfig
    }

    /// The operator's kubeconfig: admin rights (`system:masters`) as the user
    /// `redis-stretch-operator`, whose requests, and only those, the API server's audit log
    /// (`audit.log` in `dir`) records.
    pub fn operator_kubeconfig(&self) -> PathBuf {
        self.dir.join("operator.kubeconfig")
    }

    /// API requests of the operator's user that have finished so far, as the audit log lines
    /// (JSON) of the API server.
    pub fn operator_requests(&self) -> Result<Vec<serde_json::Value>> {
        let path = self.dir.join("audit.log");
        let text = match std::fs::read_to_string(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
            Err(e) => return Err(Error::io(format!("reading {}", path.display()))(e)),
        };
        Ok(text
            .lines()
            .filter_map(|l| serde_json::from_str(l).ok())
            .collect())
    }

    /// Write a kubeconfig that authenticates with `token` (a service account's, from the
    /// TokenRequest API) to `path`: what a pod with that service account would use.
    pub fn token_kubeconfig(&self, token: &str, path: &Path) -> Result<()> {
        let env = std::fs::read_to_string(self.dir.join("controlplane.env"))
            .map_err(Error::io("reading controlplane.env"))?;
        let server = env
            .lines()
            .find_map(|l| l.strip_prefix("APISERVER="))
            .ok_or_else(|| Error::Invalid("controlplane.env has no APISERVER".into()))?;
        let ca = self.dir.join("pki/ca.crt");
        let text = format!(
            "apiVersion: v1\nkind: Config\nclusters:\n- name: e2e\n  cluster:\n    server: {server}\n    certificate-authority: {}\nusers:\n- name: token\n  user:\n    token: {token}\ncontexts:\n- name: e2e\n  context: {{cluster: e2e, user: token}}\ncurrent-context: e2e\n",
            ca.display()
        );
        std::fs::write(path, text).map_err(Error::io(format!("writing {}", path.display())))
    }

    /// A client with the admin kubeconfig.
    pub async fn client(&self) -> Result<Client> {
        let bad = |message: String| Error::Kubeconfig {
            path: self.kubeconfig.clone(),
            message,
        };
        let kc = Kubeconfig::read_from(&self.kubeconfig).map_err(|e| bad(e.to_string()))?;
        let config = Config::from_custom_kubeconfig(kc, &KubeConfigOptions::default())
            .await
            .map_err(|e| bad(e.to_string()))?;
        Client::try_from(config).map_err(Error::kube("building a client"))
    }
}

impl Drop for ControlPlane {
    fn drop(&mut self) {
        let dir = self.dir.display().to_string();
        if let Err(e) = run(&["stop", &dir]) {
            eprintln!("stopping the control plane in {dir}: {e}");
        }
        if std::thread::panicking() {
            eprintln!("control plane logs kept in {dir}");
        } else {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}
