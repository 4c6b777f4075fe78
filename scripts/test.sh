#!/usr/bin/env bash
# The whole test suite, as CI runs it (.ci/run calls exactly this): installs what is missing,
# checks formatting and lints, runs every test (unit, property, and integration tests against
# real redis-server processes, on Redis 7.0 and again on Valkey 8.1, Valkey 9.1 and Redis 8.2 for
# those that start a server), then
# the end-to-end tests on a real Kubernetes control plane built from Go modules
# (scripts/controlplane.sh; cached after the first build, 10-25 min on two cores, built in the
# background while the Rust tests run).
#
# Tests run under cargo-nextest (.config/nextest.toml): each in its own process, four at a time,
# the network lab's drills alone. Every phase's time goes to target/test-times/phases.tsv and
# each run's per-test times to target/nextest/*/junit.xml; `scripts/test-times.py` turns them
# into the table of docs/TESTING.md.
#
# Mandatory here, skipped with a message elsewhere: the network lab (REDIS_STRETCH_NETLAB=1:
# needs root, `ip` and `nft`), the e2e tests (REDIS_STRETCH_E2E=1) and the runs on other servers
# (valkey-server on the PATH, Valkey 9.1 and Redis 8.2 where scripts/server-path.sh finds them;
# scripts/deps.sh fetches all three on x86_64). Set REDIS_STRETCH_SKIP_VALKEY=1 (Valkey 8.1),
# REDIS_STRETCH_SKIP_VALKEY9=1 or REDIS_STRETCH_SKIP_REDIS8=1 to leave one out on purpose.
# Long drills are not part of it: see scripts/bench.sh and scripts/reliability.sh.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
scripts/deps.sh

# CI builds a fresh clone once: incremental compilation's bookkeeping would only slow that
# build down. A developer's repeated runs keep it.
if [ "${CI:-}" = true ]; then
  export CARGO_INCREMENTAL=0
fi

times="$root/target/test-times"
mkdir -p "$times"
: > "$times/phases.tsv"
suite_start=$SECONDS
# phase NAME CMD...: run CMD as one phase of the suite and record its wall time.
phase() {
  local name=$1 t0=$SECONDS
  shift
  echo "== $name"
  "$@"
  printf '%s\t%s\n' "$name" "$((SECONDS - t0))" >> "$times/phases.tsv"
}

# The e2e control plane builds in the background, niced (scripts/controlplane.sh), while the
# Rust side compiles and tests: a no-op when cached, 10-25 min of compiling when cold.
cp_pid=""
clippy_pid=""
if [ "${REDIS_STRETCH_SKIP_E2E:-0}" != 1 ]; then
  # setsid: a process group to stop on exit. A new session is also a new scheduler autogroup,
  # which nice alone does not reach: the autogroup itself is niced, or the build would take
  # half the machine from the tests whatever its nice value.
  setsid bash -c 'echo 19 > /proc/self/autogroup 2>/dev/null || true; exec scripts/controlplane.sh build' \
    > "$times/controlplane.path" 2> "$times/controlplane-build.log" &
  cp_pid=$!
fi

# Test clusters live in state dirs under $TMPDIR/redis-stretch-tests. Each test stops its own
# (Drop guards; a failing test keeps its dir and logs); this catches a test binary that was
# killed outright, stopping its processes by recorded PID and keeping the data for a post-mortem.
cleanup() {
  for pid in "$cp_pid" "${clippy_pid:-}"; do
    if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
      kill -- "-$pid" 2>/dev/null || true
    fi
  done
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

if [ "${REDIS_STRETCH_SKIP_VALKEY:-0}" != 1 ] && ! command -v valkey-server >/dev/null 2>&1; then
  echo "valkey-server not found: the suite runs every server test on Valkey too. scripts/deps.sh fetches it on x86_64; install Valkey 8+ yourself elsewhere, or set REDIS_STRETCH_SKIP_VALKEY=1 to skip that run on purpose" >&2
  exit 1
fi
# The two other tested versions, side by side with the PATH's servers (scripts/deps.sh): each
# run's server binary, or nothing when skipped on purpose.
valkey9=""
redis8=""
if [ "${REDIS_STRETCH_SKIP_VALKEY9:-0}" != 1 ]; then
  valkey9="$(scripts/server-path.sh valkey-9.1)" || {
    echo "the suite runs the server tests on Valkey 9.1 too; scripts/deps.sh fetches it on x86_64, or set REDIS_STRETCH_SKIP_VALKEY9=1 to skip that run on purpose" >&2
    exit 1
  }
fi
if [ "${REDIS_STRETCH_SKIP_REDIS8:-0}" != 1 ]; then
  redis8="$(scripts/server-path.sh redis-8.2)" || {
    echo "the suite runs the server tests on Redis 8.2 too; scripts/deps.sh fetches it on x86_64, or set REDIS_STRETCH_SKIP_REDIS8=1 to skip that run on purpose" >&2
    exit 1
  }
fi
# The version a server binary reports (`v=9.1.2` of `--version`).
version_of() { "$1" --version | tr ' ' '\n' | sed -n 's/^v=//p'; }
# The network lab's tests fail, not skip, when root, ip or nft are missing.
export REDIS_STRETCH_NETLAB=1

phase "cargo fmt --check" cargo fmt --all -- --check
# One build of every test binary (e2e included), shared by all the runs below.
phase "build tests" cargo nextest run --workspace --no-run --cargo-quiet
# Lints in the background, niced, in a target dir of their own (no lock shared with the test
# runs' cargo): the real-server tests below mostly wait on Redis, and clippy takes the idle
# cores. Its verdict is awaited at the end, and fails the suite like any test.
echo "== cargo clippy (in the background)"
CARGO_TARGET_DIR="$root/target/clippy" setsid bash -c \
  'echo 19 > /proc/self/autogroup 2>/dev/null || true; t=$SECONDS; nice -n 19 cargo clippy --quiet --all-targets -- -D warnings; rc=$?; echo $((SECONDS - t)) > "$1"; exit $rc' \
  clippy "$times/clippy.secs" > "$times/clippy.log" 2>&1 &
clippy_pid=$!
# Doc examples: nextest does not run them, and the crates have none today (examples live in
# tests); compiling every library for doc tests costs a minute, so only when one exists.
if grep -rqE '^\s*//[/!]\s*```' crates/*/src; then
  phase "doc tests" cargo test --quiet --workspace --doc
fi
# Every run names the whole workspace and picks its tests with a filter: `--exclude` or `-p`
# would resolve dependency features differently and rebuild half the workspace.
phase "tests (Redis)" cargo nextest run --workspace -E 'not package(redis-stretch-e2e)' --cargo-quiet
if [ "${REDIS_STRETCH_SKIP_VALKEY:-0}" = 1 ]; then
  echo "== tests (Valkey): skipped on purpose (REDIS_STRETCH_SKIP_VALKEY=1)"
else
  # The tests that start servers (the `valkey` profile's filter), against Valkey.
  phase "tests (Valkey $(valkey-server --version | cut -d' ' -f3 | cut -d= -f2))" \
    env REDIS_STRETCH_SERVER=valkey cargo nextest run --profile valkey --workspace --cargo-quiet
fi
# The same tests on Valkey 9.1 and Redis 8.2 (profiles `valkey-9` and `redis-8`: the `valkey`
# profile's filter, their own JUnit reports), each binary named by its flavour's variable
# (`server_env_var` in crates/local/src/binary.rs).
if [ -z "$valkey9" ]; then
  echo "== tests (Valkey 9.1): skipped on purpose (REDIS_STRETCH_SKIP_VALKEY9=1)"
else
  phase "tests (Valkey $(version_of "$valkey9"))" \
    env REDIS_STRETCH_SERVER=valkey VALKEY_SERVER="$valkey9" \
    cargo nextest run --profile valkey-9 --workspace --cargo-quiet
fi
if [ -z "$redis8" ]; then
  echo "== tests (Redis 8.2): skipped on purpose (REDIS_STRETCH_SKIP_REDIS8=1)"
else
  phase "tests (Redis $(version_of "$redis8"))" \
    env REDIS_STRETCH_SERVER=redis REDIS_SERVER="$redis8" \
    cargo nextest run --profile redis-8 --workspace --cargo-quiet
fi

if [ "${REDIS_STRETCH_SKIP_E2E:-0}" = 1 ]; then
  echo "== e2e: skipped on purpose (REDIS_STRETCH_SKIP_E2E=1)"
else
  # End to end: etcd, kube-apiserver, kube-controller-manager and kube-scheduler v1.37.2 built
  # from Go modules (no images, no release downloads), the test kubelet of crates/e2e running
  # pods as real redis-servers, and the `redis-stretch operator` binary outside the cluster.
  echo "== e2e: waiting for the control plane build"
  t0=$SECONDS
  if ! wait "$cp_pid"; then
    cat "$times/controlplane-build.log" >&2
    echo "scripts/controlplane.sh build failed" >&2
    exit 1
  fi
  cp_pid=""
  cat "$times/controlplane-build.log" >&2
  printf '%s\t%s\n' "control plane build (waited for)" "$((SECONDS - t0))" >> "$times/phases.tsv"
  phase "tests (e2e on a real control plane)" \
    env REDIS_STRETCH_E2E=1 cargo nextest run --profile e2e --workspace --cargo-quiet
fi
echo "== cargo clippy: waiting for its verdict"
if ! wait "$clippy_pid"; then
  clippy_pid=""
  cat "$times/clippy.log" >&2
  echo "cargo clippy --all-targets -D warnings failed" >&2
  exit 1
fi
clippy_pid=""
cat "$times/clippy.log"
printf '%s\t%s\n' "cargo clippy (in the background, niced)" "$(cat "$times/clippy.secs")" >> "$times/phases.tsv"

printf '%s\t%s\n' "whole suite" "$((SECONDS - suite_start))" >> "$times/phases.tsv"
echo "== suite done in $((SECONDS - suite_start)) s (phases: target/test-times/phases.tsv; per test: python3 scripts/test-times.py)"
