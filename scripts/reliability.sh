#!/usr/bin/env bash
# The reliability table (docs/RELIABILITY.md): every fault of the network lab, with the engine
# and with plain Redis (no engine, every fence open) on the same fault in the same run, a fresh
# seed-layout cluster (node-timeout 2000 ms, fencing on) per row, one writer in each DC and one
# at a third site (docs/LAB.md).
#   scripts/reliability.sh            # the full set (about 45 minutes), rewrites docs/RELIABILITY.md,
#                                     # then scripts/crash-points.sh (docs/CRASH-POINTS.md,
#                                     # about 30 minutes more; CRASH_POINTS=0 skips it)
#   QUICK=1 scripts/reliability.sh    # a few rows, printed, the document left alone
#   ROWS='sync|password' scripts/reliability.sh   # the rows of the full set whose name matches
#                                     # (grep -E), printed, the document left alone
# Needs root (network namespaces, nftables). Only loopback traffic, inside namespaces it creates
# and removes. Not part of scripts/test.sh: CI runs the trimmed lab tests in
# crates/cli/tests/partition.rs instead.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
scripts/deps.sh
cargo build -q -p redis-stretch
target="${CARGO_TARGET_DIR:-$root/target}"
# Every row's JSON stays in target/reliability/ (the table can be rebuilt from it with
# `python3 scripts/reliability_table.py target/reliability docs/RELIABILITY.md`).
out_dir="$root/target/reliability"
rm -rf "$out_dir"
mkdir -p "$out_dir"
# A copy: a rebuild during the run must not change the binary halfway through the table.
cp "$target/debug/redis-stretch" "$out_dir/redis-stretch"
git rev-parse --short HEAD >"$out_dir/commit"
bin="$out_dir/redis-stretch"

# name | mode | drill arguments [| manifest variant [| table]]
#   variants: persistence (persistence on), maxmemory-1gb (room for a large data set),
#   preferred-dc-b (failover.preferredSide: dc-b: the minority side wins a cut)
#   table: double (the double faults' table: what the engine did, losses per side)
full=(
  "partition 5 s, engine at a third site|engine|--fault partition --for 5s"
  "partition 5 s|native|--fault partition --for 5s"
  "partition 20 s, engine at a third site|engine|--fault partition --for 20s"
  "partition 20 s|native|--fault partition --for 20s"
  "partition 60 s, engine at a third site|engine|--fault partition --for 60s"
  "partition 60 s|native|--fault partition --for 60s"
  "partition 5 s, engine in dc-a|engine|--fault partition --for 5s --engine-at dc-a"
  "partition 20 s, engine in dc-a|engine|--fault partition --for 20s --engine-at dc-a"
  "partition 60 s, engine in dc-a|engine|--fault partition --for 60s --engine-at dc-a"
  "partition 5 s, engine in dc-b|engine|--fault partition --for 5s --engine-at dc-b"
  "partition 20 s, engine in dc-b|engine|--fault partition --for 20s --engine-at dc-b"
  "partition 60 s, engine in dc-b|engine|--fault partition --for 60s --engine-at dc-b"
  "dc-a frozen 0.5 s|engine|--fault blip --zone dc-a --for 500ms"
  "dc-a frozen 0.5 s|native|--fault blip --zone dc-a --for 500ms"
  "dc-a frozen 1.0 s|engine|--fault blip --zone dc-a --for 1s"
  "dc-a frozen 1.0 s|native|--fault blip --zone dc-a --for 1s"
  "dc-a frozen 1.5 s|engine|--fault blip --zone dc-a --for 1.5s"
  "dc-a frozen 1.5 s|native|--fault blip --zone dc-a --for 1.5s"
  "dc-a frozen 3 s|engine|--fault blip --zone dc-a --for 3s"
  "dc-a frozen 3 s|native|--fault blip --zone dc-a --for 3s"
  "dc-a cut off 1.0 s|engine|--fault blip --zone dc-a --for 1s --blip-signal cut"
  "dc-a cut off 1.0 s|native|--fault blip --zone dc-a --for 1s --blip-signal cut"
  "dc-a cut off 1.5 s|engine|--fault blip --zone dc-a --for 1.5s --blip-signal cut"
  "dc-a cut off 1.5 s|native|--fault blip --zone dc-a --for 1.5s --blip-signal cut"
  "flapping link: cut/heal every 3 s for 60 s|engine|--fault flap --period 3s --for 60s"
  "flapping link: cut/heal every 3 s for 60 s|native|--fault flap --period 3s --for 60s"
  "engine down, dc-a killed, engine back 5 s later (dc-a back at 30 s)|engine|--fault engine-restart --zone dc-a --restart-after 5s --for 30s"
  "engine down, dc-a killed (dc-a back at 30 s)|native|--fault engine-restart --zone dc-a --restart-after 5s --for 30s"
  "dc-a killed 20 s|engine|--fault kill --zone dc-a --for 20s"
  "dc-a killed 20 s|native|--fault kill --zone dc-a --for 20s"
  "dc-b frozen 20 s|engine|--fault stop --zone dc-b --for 20s"
  "dc-b frozen 20 s|native|--fault stop --zone dc-b --for 20s"
  "one replica lost 20 s (dc-b-1, M1's only replica)|engine|--fault instance --instance dc-b-1 --for 20s"
  "one replica lost 20 s (dc-b-1, M1's only replica)|native|--fault instance --instance dc-b-1 --for 20s"
  "dc-a killed 10 s; dc-b killed 10 s the moment failback into dc-a starts|engine|--fault lost-during-failback --zone dc-a --for 10s||double"
  "dc-a killed 10 s; dc-b killed 10 s after dc-a is back|native|--fault lost-during-failback --zone dc-a --for 10s||double"
  "M1's replica in dc-b restarted empty; dc-a frozen 10 s during its full sync (300,000 random values of 2 kB, 600 MB: a full sync takes 4–5 s)|engine|--fault lost-during-sync --zone dc-a --for 10s --sync-keys 300000 --sync-value-bytes 2000|maxmemory-1gb|double"
  "M1's replica in dc-b restarted empty; dc-a frozen 10 s during its full sync (300,000 random values of 2 kB, 600 MB: a full sync takes 4–5 s)|native|--fault lost-during-sync --zone dc-a --for 10s --sync-keys 300000 --sync-value-bytes 2000|maxmemory-1gb|double"
  "dc-a frozen; at the engine's first takeover back behind a cut for 10 s|engine|--fault cut-during-takeover --zone dc-a --for 10s||double"
  "dc-a frozen; 3 s later back behind a cut for 10 s|native|--fault cut-during-takeover --zone dc-a --for 10s||double"
  "cut 20 s, dc-b preferred; the engine killed after its first takeover, a new one 5 s later|engine|--fault engine-crash-in-partition --for 20s --restart-after 5s|preferred-dc-b|double"
  "cut 20 s, dc-b preferred (plain Redis: no engine to prefer it)|native|--fault engine-crash-in-partition --for 20s --restart-after 5s|preferred-dc-b|double"
  "password changed on every instance; dc-a killed 20 s; the engine given the password 5 s after the kill|engine|--fault wrong-password --zone dc-a --for 20s --restart-after 5s||double"
  "password changed on every instance; dc-a killed 20 s|native|--fault wrong-password --zone dc-a --for 20s --restart-after 5s||double"
  "the engine host's clock stepped +30 s and back; then dc-a killed 20 s, the clock stepped again|engine|--fault clock-step --zone dc-a --for 20s --clock-step 30s||double"
  "dc-a killed 20 s (no engine: no clock to step)|native|--fault clock-step --zone dc-a --for 20s --clock-step 30s||double"
  "all six killed, back on new addresses 5 s later (persistence on)|engine|--fault all-restarted --for 5s|persistence"
  "all six killed, back on new addresses 5 s later (persistence on)|native|--fault all-restarted --for 5s|persistence"
)
quick=(
  "partition 20 s, engine at a third site|engine|--fault partition --for 20s"
  "partition 20 s|native|--fault partition --for 20s"
  "dc-a frozen 1.5 s|engine|--fault blip --zone dc-a --for 1.5s"
  "dc-a frozen 1.5 s|native|--fault blip --zone dc-a --for 1.5s"
)
partial=""
if [ "${QUICK:-}" = 1 ]; then
  rows=("${quick[@]}")
  partial=1
elif [ -n "${ROWS:-}" ]; then
  rows=()
  for row in "${full[@]}"; do
    if grep -qE -- "$ROWS" <<<"${row%%|*}"; then rows+=("$row"); fi
  done
  if [ ${#rows[@]} -eq 0 ]; then
    echo "ROWS='$ROWS' matches no row of the full set" >&2
    exit 2
  fi
  partial=1
else
  rows=("${full[@]}")
fi

i=0
for row in "${rows[@]}"; do
  IFS='|' read -r name mode args variant table <<<"$row"
  i=$((i + 1))
  work=$(mktemp -d)
  echo "[$i/${#rows[@]}] $name ($mode)" >&2
  manifest=examples/seed-two-dc.yaml
  case "${variant:-}" in
    persistence) sed '/persistence:/{n;s/enabled: false/enabled: true/}' examples/seed-two-dc.yaml >"$work/m.yaml" ;;
    maxmemory-1gb) sed 's/maxmemory: 256mb/maxmemory: 1gb/' examples/seed-two-dc.yaml >"$work/m.yaml" ;;
    preferred-dc-b) sed 's/^  failover:$/  failover:\n    preferredSide: dc-b/' examples/seed-two-dc.yaml >"$work/m.yaml" ;;
    "") ;;
    *) echo "unknown manifest variant $variant" >&2; exit 2 ;;
  esac
  if [ -n "${variant:-}" ]; then
    if cmp -s examples/seed-two-dc.yaml "$work/m.yaml"; then
      echo "manifest variant $variant changed nothing in examples/seed-two-dc.yaml" >&2
      exit 2
    fi
    manifest="$work/m.yaml"
  fi
  "$bin" local up -f "$manifest" --netns --detach --no-engine --state-dir "$work/s" >/dev/null
  # shellcheck disable=SC2086
  if "$bin" drill $args --mode "$mode" --output json --state-dir "$work/s" >"$out_dir/$i.json" 2>"$out_dir/$i.err"; then :; else
    echo "  drill exited $?: $(tail -1 "$out_dir/$i.err")" >&2
  fi
  "$bin" local down --state-dir "$work/s" >/dev/null 2>&1 || true
  rm -rf "$work"
  printf '%s\t%s\t%s\t%s\n' "$i" "$name" "$mode" "${table:-}" >>"$out_dir/rows.tsv"
done

python3 scripts/reliability_table.py "$out_dir" "$( [ -n "$partial" ] && echo - || echo docs/RELIABILITY.md )"

# The full set also walks every crash point (docs/CRASH-POINTS.md): the engine stopped after
# each step of a takeover, a failback, a partition decision and a heal, on Redis and Valkey.
if [ -z "$partial" ] && [ "${CRASH_POINTS:-1}" != 0 ]; then
  scripts/crash-points.sh
fi
