#!/usr/bin/env bash
# The whole test suite, as CI runs it (.ci/run calls exactly this): installs what is missing,
# checks formatting and lints, runs every test (unit, property, and integration tests against
# real redis-server processes), then the end-to-end tests on a real Kubernetes control plane
# built from Go modules (scripts/controlplane.sh; cached after the first build, 10-25 min on two cores).
# Long drills are not part of it: see scripts/bench.sh.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
scripts/deps.sh

# Test clusters live in state dirs under $TMPDIR/redis-stretch-tests. Each test stops its own
# (Drop guards; a failing test keeps its dir and logs); this catches a test binary that was
# killed outright, stopping its processes by recorded PID and keeping the data for a post-mortem.
cleanup() {
  local bin="$root/target/debug/redis-stretch"
  [ -x "$bin" ] || return 0
  for d in "${TMPDIR:-/tmp}"/redis-stretch-tests/*/; do
    [ -d "$d" ] && "$bin" local down --keep-data --state-dir "$d" >/dev/null 2>&1 || true
  done
  # Control planes of e2e tests killed outright: stopped by their recorded PIDs.
  for d in "${TMPDIR:-/tmp}"/redis-stretch-e2e/*/; do
    [ -f "$d/.redis-stretch-controlplane" ] && scripts/controlplane.sh stop "$d" >/dev/null 2>&1 || true
  done
}
trap cleanup EXIT

echo "== cargo fmt --check"
cargo fmt --all -- --check
echo "== cargo clippy"
cargo clippy --quiet --all-targets -- -D warnings
# The e2e crate runs once, last, on its own (below).
echo "== cargo test (Redis)"
cargo test --workspace --exclude redis-stretch-e2e
# The same suite against Valkey: every test that starts a server starts the one
# REDIS_STRETCH_SERVER names (the TLS test stays on Redis: the Valkey binaries deps.sh fetches
# are built without TLS).
if command -v valkey-server >/dev/null 2>&1; then
  echo "== cargo test (Valkey: $(valkey-server --version | cut -d' ' -f3))"
  REDIS_STRETCH_SERVER=valkey cargo test --workspace --exclude redis-stretch-e2e
else
  echo "== cargo test (Valkey): skipped, valkey-server not found (scripts/deps.sh fetches it on x86_64)"
fi

# End to end: etcd, kube-apiserver, kube-controller-manager and kube-scheduler v1.37.2 built from
# Go modules (no images, no release downloads), the test kubelet of crates/e2e running pods as
# real redis-servers, and the `redis-stretch operator` binary outside the cluster.
echo "== e2e: control plane build (cached)"
scripts/controlplane.sh build >/dev/null
echo "== cargo test (e2e on a real control plane)"
cargo build --quiet -p redis-stretch
REDIS_STRETCH_E2E=1 cargo test -p redis-stretch-e2e
