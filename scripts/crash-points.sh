#!/usr/bin/env bash
# The crash points of issue 16, walked in full: for each scenario (a takeover, a failback, a
# partition decision — majority side and `preferredSide: dc-b` —, a heal, and variants) the
# engine is stopped after the first step of actions it runs, then on a fresh cluster after its
# second, ... until the scenario ends first; each time it is restarted at once, and the run
# passes when the engine settles, every WAIT-acknowledged write reads back and the cluster
# checks clean. The suite (scripts/test.sh) runs a few points per scenario; this runs them all
# (crates/cli/tests/crash_points.rs with REDIS_STRETCH_CRASH_WALK=full), on Redis and on
# Valkey, and writes the table to docs/CRASH-POINTS.md.
#   scripts/crash-points.sh                  # both servers (about 20 minutes), rewrites the doc
#   SERVERS=redis scripts/crash-points.sh    # one server (the doc then holds that one only)
# Needs root (the cuts run in the network lab: namespaces, nftables). Only loopback traffic.
# scripts/reliability.sh runs it in full mode.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
scripts/deps.sh

# Every run's row stays in target/crash-points/rows.tsv (the table can be rebuilt from it with
# `python3 scripts/crash_points_table.py target/crash-points/rows.tsv docs/CRASH-POINTS.md COMMIT`).
out_dir="${CARGO_TARGET_DIR:-$root/target}/crash-points"
rm -rf "$out_dir"
mkdir -p "$out_dir"
rows="$out_dir/rows.tsv"
: >"$rows"
export REDIS_STRETCH_NETLAB=1 REDIS_STRETCH_CRASH_WALK=full REDIS_STRETCH_CRASH_TABLE="$rows"

failed=0
for server in ${SERVERS:-redis valkey}; do
  echo "== crash points on $server" >&2
  # The `crash-walk` profile: the walk's binary only, and room for a walk of half an hour.
  if REDIS_STRETCH_SERVER="$server" cargo nextest run --workspace --profile crash-walk \
    --cargo-quiet --no-fail-fast --status-level pass --success-output immediate --failure-output immediate 2>&1 |
    tee "$out_dir/$server.log" | grep -E '^ *crash point|^ +(PASS|FAIL) \[' | awk '!seen[$0]++' >&2; then :; fi
  if grep -qE '^\s+FAIL ' "$out_dir/$server.log"; then failed=1; fi
done

python3 scripts/crash_points_table.py "$rows" docs/CRASH-POINTS.md "$(git rev-parse --short HEAD)"
exit "$failed"
