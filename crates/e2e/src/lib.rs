//! Support for the end-to-end tests (tests/): a real Kubernetes control plane on loopback
//! (`ControlPlane`, built from Go modules by `scripts/controlplane.sh`), a test kubelet that
//! registers the seed's six nodes and runs their pods as real `redis-server`s (`kubelet`), and
//! the `redis-stretch operator` process (`Operator`). Every process is stopped by a guard when
//! it is dropped, also when a test fails.
//!
//! Nothing here is faked: the API server, etcd, the scheduler and the controllers are the
//! upstream ones (k8s.io/kubernetes v1.37.2); only the kubelet is ours, because no container
//! runtime or image is available where these tests run.

pub mod api;
pub mod controlplane;
pub mod drill;
pub mod env;
pub mod error;
pub mod faults;
pub mod kubelet;
pub mod operator;
pub mod rollout;
pub mod scale;
pub mod timeline;
pub mod wait;

pub use controlplane::ControlPlane;
pub use env::Env;
pub use error::{Error, Result};
pub use kubelet::{Kubelet, NodeSpec};
pub use operator::Operator;

/// The workspace root (scripts/, deploy/, examples/).
pub fn repo_root() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// Logs of the support code and of kube-rs, once per test binary (`RUST_LOG` filters).
pub fn init_tracing() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "redis_stretch_e2e=info".into()),
        )
        .with_test_writer()
        .try_init();
}
