#!/usr/bin/env bash
# The whole test suite, as CI runs it (.ci/run calls exactly this): installs what is missing,
# checks formatting and lints, runs every test (unit, property, and integration tests against
# real redis-server processes). Long drills are not part of it: see scripts/bench.sh.
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
}
trap cleanup EXIT

echo "== cargo fmt --check"
cargo fmt --all -- --check
echo "== cargo clippy"
cargo clippy --quiet --all-targets -- -D warnings
echo "== cargo test (Redis)"
cargo test --workspace
# The same suite against Valkey: every test that starts a server starts the one
# REDIS_STRETCH_SERVER names (the TLS test stays on Redis: the Valkey binaries deps.sh fetches
# are built without TLS).
if command -v valkey-server >/dev/null 2>&1; then
  echo "== cargo test (Valkey: $(valkey-server --version | cut -d' ' -f3))"
  REDIS_STRETCH_SERVER=valkey cargo test --workspace
else
  echo "== cargo test (Valkey): skipped, valkey-server not found (scripts/deps.sh fetches it on x86_64)"
fi
