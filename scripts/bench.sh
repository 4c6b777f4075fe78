#!/usr/bin/env bash
# Benchmarks, re-runnable: each section of docs/BENCHMARKS.md is produced by one benchmark
# into docs/bench/<name>.md, then the document is assembled from the sections.
#   scripts/bench.sh                # every benchmark
#   scripts/bench.sh bootstrap      # just one section (others are kept as committed)
#   scripts/bench.sh footprint      # the operator on the e2e control plane (not in the default set)
#   scripts/bench.sh plan           # `redis-stretch plan` on 100 to 5,000 nodes, before and after
#                                   # the incremental scheduler (not in the default set: it builds
#                                   # the old commit once, minutes, and the old 5,000-node runs take
#                                   # 15-25 s each; PLAN_BEFORE=none measures only the current one)
#   scripts/bench.sh rollout        # every instance restarted under writes: the engine's rollout,
#                                   # Redis 7 → Valkey, and today's StatefulSet RollingUpdate
#                                   # (ROLLOUT_RUNS, default 3), then on the e2e control plane
#                                   # (ROLLOUT_E2E=0 skips it); also its rows in docs/RELIABILITY.md
#   scripts/bench.sh scale          # 3 → 6 → 3 shards under writes with SCALE_KEYS keys (default
#                                   # 1,000,000) on each tested server (SCALE_SERVERS, default
#                                   # redis-7.0 valkey-8.1 valkey-9.1 redis-8.2), then dc-a killed
#                                   # halfway through the scale-out (SCALE_LOSS_SERVERS, default
#                                   # redis-7.0 valkey-9.1); also its rows in docs/RELIABILITY.md
#   RUNS=9 scripts/bench.sh         # more runs per figure (default 7)
# Takes minutes; not part of scripts/test.sh. Only loopback traffic.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
scripts/deps.sh
runs="${RUNS:-7}"
sections=("$@")
[ ${#sections[@]} -gt 0 ] || sections=(bootstrap rto detection servers)
command -v jq >/dev/null 2>&1 || { sudo=""; [ "$(id -u)" -eq 0 ] || sudo=sudo; $sudo apt-get install -y -qq jq >/dev/null; }
target="${CARGO_TARGET_DIR:-$root/target}"
bin="$target/release/redis-stretch"

# One drill on a fresh local cluster; prints "rto_ms acked_lost plain_lost failed_plain".
rto_run() {
  local timeout_ms=$1 zone=$2 signal=$3 mode=$4 server=${5:-redis} detection=${6:-Safe}
  local work; work=$(mktemp -d)
  sed -e "s/clusterNodeTimeoutMs: 2000/clusterNodeTimeoutMs: $timeout_ms/" \
    -e "s/^    fencing: true$/    fencing: true\n    detection: $detection/" examples/seed-two-dc.yaml > "$work/m.yaml"
  local engine_flag=""
  [ "$mode" = engine ] || engine_flag="--no-engine"
  "$bin" local up -f "$work/m.yaml" --detach $engine_flag --server "$server" --state-dir "$work/s" >/dev/null
  local json
  json=$("$bin" drill --zone "$zone" --signal "$signal" --mode "$mode" --rto-only --output json --state-dir "$work/s" 2>/dev/null || true)
  "$bin" local down --state-dir "$work/s" >/dev/null 2>&1 || true
  rm -rf "$work"
  if [ -z "$json" ]; then echo "nan nan nan nan"; return; fi
  echo "$json" | jq -r '[(.rto_ms // "nan"), .acked_writes_lost, .plain_writes_lost, ([.writers[] | select(.writer=="plain") | .failed] | add)] | map(tostring) | join(" ")'
}

median() { tr ' ' '\n' | grep -v '^$' | grep -v nan | sort -g | awk '{a[NR]=$1} END {if (NR==0) {print "nan"} else if (NR%2) {print a[(NR+1)/2]} else {print (a[NR/2]+a[NR/2+1])/2}}'; }

# One rollout drill on a fresh seed cluster (Redis 7); prints
# "acked_lost plain_lost longest_outage_ms total_ms samples_fully_down samples".
rollout_run() {
  local by=$1 server=${2:-}
  local work; work=$(mktemp -d)
  "$bin" local up -f examples/seed-two-dc.yaml --detach --server redis --state-dir "$work/s" >/dev/null
  local json extra=""
  [ -z "$server" ] || extra="--server $server"
  json=$("$bin" drill --rollout "$by" $extra --output json --state-dir "$work/s" 2>/dev/null || true)
  "$bin" local down --state-dir "$work/s" >/dev/null 2>&1 || true
  rm -rf "$work"
  if [ -z "$json" ]; then echo "nan nan nan nan nan nan"; return; fi
  echo "$json" | jq -r '[.report.acked_writes_lost, .report.plain_writes_lost, .rollout.longest_shard_outage_ms, .rollout.total_ms, .rollout.samples_shard_fully_down, .rollout.samples] | map(tostring) | join(" ")'
}

# The rollout section, and its rows for docs/RELIABILITY.md (docs/reliability-rollout.md).
rollout_section() {
  local runs=$1
  local rows=""
  declare -A acked=() plain=() outage=() total=()
  for _ in $(seq "$runs"); do
    for c in rolling-update engine engine-valkey; do
      local by=$c server=""
      if [ "$c" = engine-valkey ]; then by=engine; server=valkey; fi
      read -r a p o t _ _ < <(rollout_run "$by" "$server")
      acked[$c]="${acked[$c]:-} $a"; plain[$c]="${plain[$c]:-} $p"
      outage[$c]="${outage[$c]:-} $o"; total[$c]="${total[$c]:-} $t"
      echo "  rollout $c: acked lost $a, plain lost $p, longest outage $o ms, total $t ms" >&2
    done
  done
  sum() { tr ' ' '\n' | grep -v '^$' | grep -v nan | awk '{s+=$1} END {print s+0}'; }
  echo "## Rollouts: every instance restarted under writes"
  echo
  echo "\`drill --rollout\` on a fresh seed cluster (3 shards, Redis 7.0, persistence off, node-timeout"
  echo "2000 ms) per run, the drill's writers running (a plain and a \`WAIT 1\` writer, 500 writes/s"
  echo "each, over every slot): every instance restarted. *RollingUpdate* is today's StatefulSet"
  echo "default, emulated on local mode: each zone's instances from the highest ordinal down, both"
  echo "zones at once, the next as soon as the last answers (the engine runs, but restarts nothing)."
  echo "*engine* is the engine's rollout (OnDelete on Kubernetes): one instance at a time, replicas"
  echo "first, each master after a graceful failover, the layout restored at the end. *engine → Valkey*"
  echo "is the same with \`--server valkey\`: Redis 7.0 to Valkey 8.1 in place. Longest outage: the"
  echo "longest run of 100 ms buckets in which one shard's probe (every 20 ms) failed. Medians of"
  echo "$runs runs; writes lost summed over all runs. Machine: $(nproc) cores, $(uname -m)."
  echo
  echo "| rollout | total (s) | longest outage of one shard (ms) | WAIT-acked writes lost (all runs) | plain writes lost (all runs) |"
  echo "|---|---|---|---|---|"
  for c in rolling-update engine engine-valkey; do
    local label=$c
    case $c in rolling-update) label="RollingUpdate (today)";; engine) label="engine";; engine-valkey) label="engine → Valkey";; esac
    awk -v l="$label" -v t="$(echo "${total[$c]}" | median)" -v o="$(echo "${outage[$c]}" | median)" \
      -v a="$(echo "${acked[$c]}" | sum)" -v p="$(echo "${plain[$c]}" | sum)" \
      'BEGIN { printf "| %s | %.1f | %.0f | %d | %d |\n", l, t/1000, o, a, p }'
  done
}

# One scale drill on a fresh seed cluster of server VERSION (scripts/server-path.sh names);
# prints the drill's JSON (empty on failure).
scale_run() {
  local version=$1 lose=${2:-}
  local work; work=$(mktemp -d)
  local envs; envs=$(scripts/server-path.sh --env "$version") || { echo ""; return; }
  local flavour=${version%%-*}
  local extra=""
  [ -z "$lose" ] || extra="--lose-zone $lose --down-for 5s"
  # shellcheck disable=SC2086
  env $envs "$bin" local up -f examples/seed-two-dc.yaml --detach --server "$flavour" --state-dir "$work/s" >/dev/null
  # shellcheck disable=SC2086
  env $envs "$bin" drill --scale 6,3 --preload "${SCALE_KEYS:-1000000}" $extra --output json --state-dir "$work/s" 2>"$work/err" || true
  env $envs "$bin" local down --state-dir "$work/s" >/dev/null 2>&1 || true
  [ ! -s "$work/err" ] || tail -3 "$work/err" >&2
  rm -rf "$work"
}

scale_section() {
  local servers=${SCALE_SERVERS:-redis-7.0 valkey-8.1 valkey-9.1 redis-8.2}
  local loss=${SCALE_LOSS_SERVERS:-redis-7.0 valkey-9.1}
  local keys=${SCALE_KEYS:-1000000}
  echo "## Scaling: 3 → 6 → 3 shards under writes"
  echo
  echo "\`drill --scale 6,3 --preload $keys\` on a fresh seed cluster per row (Redis Cluster over two zones,"
  echo "persistence off, node-timeout 2000 ms, fencing on): $keys keys written over every slot first, then"
  echo "the drill's writers (a plain and a \`WAIT 1\` writer, 500 writes/s each, over every slot) while"
  echo "\`local scale\` takes the cluster to 6 shards (3 new masters in the preferred zones, their replicas"
  echo "across, half the slots moved to them) and back to 3 (the new shards emptied and retired). A step"
  echo "ends when the cluster holds that many shards, settled and as preferred. *with dc-a lost*: dc-a"
  echo "(2 of 3 masters, and 2 of the 3 new ones) killed when half of the scale-out's slots had moved,"
  echo "restored 5 s after the takeover; the migration resumes once it is back. Longest outage: the"
  echo "longest run of 100 ms buckets in which one shard's probe (every 20 ms) failed. One run per row;"
  echo "machine: $(nproc) cores, $(uname -m); release build."
  echo
  echo "| server | slots moved by | 3 → 6 (s) | 6 → 3 (s) | longest outage of one shard (ms) | writes failed | plain writes lost | WAIT-acked writes lost |"
  echo "|---|---|---|---|---|---|---|---|"
  local v json
  for run in plain loss; do
    local list=$servers lose=""
    if [ $run = loss ]; then list=$loss; lose=dc-a; fi
    for v in $list; do
      json=$(scale_run "$v" "$lose")
      local label="$v"
      [ -z "$lose" ] || label="$v, with dc-a lost"
      if [ -z "$json" ]; then
        echo "| $label | (the drill failed) | | | | | | |"
        echo "  scale $label: failed" >&2
        continue
      fi
      echo "$json" | jq -r --arg l "$label" '"| \($l) | \(.scale.steps[0].methods | join(" + ")) | \(.scale.steps[0].total_ms/1000*10|round/10) | \(.scale.steps[1].total_ms/1000*10|round/10) | \(.scale.longest_shard_outage_ms|round) | \(.scale.failed_writes) | \(.report.plain_writes_lost) | \(.report.acked_writes_lost) |"'
      echo "  scale $label: done" >&2
    done
  done
}

# The rows of docs/bench/NAME.md in docs/RELIABILITY.md, between its NAME markers (its
# `## ` heading one level down there).
splice_reliability() {
  python3 - "$1" <<'PY'
import re, sys
name = sys.argv[1]
rows = re.sub(r"^## ", "### ", open(f"docs/bench/{name}.md").read(), count=1)
doc = open("docs/RELIABILITY.md").read()
begin, end = f"<!-- {name}:begin -->", f"<!-- {name}:end -->"
block = f"{begin}\n{rows.rstrip()}\n{end}"
if begin in doc:
    doc = re.sub(re.escape(begin) + ".*?" + re.escape(end), lambda _: block, doc, flags=re.S)
else:
    doc = doc.rstrip() + "\n\n" + block + "\n"
open("docs/RELIABILITY.md", "w").write(doc)
PY
}

rto_section() {
  local runs=$1
  echo "## Recovery time after losing a zone"
  echo
  echo "RTO: from the moment the zone's processes are killed (SIGKILL) or frozen (SIGSTOP: silence"
  echo "and timeouts, as a dark DC looks) until every shard accepts writes again and keeps doing so,"
  echo "measured by a cluster client probing one key per shard every 20 ms (single tries, 200 ms"
  echo "timeout; the figure includes the client noticing the new topology). Seed layout, fresh"
  echo "cluster per run, a plain and a WAIT-1 writer running throughout. Medians of $runs runs."
  echo
  echo "- *majority loss* (dc-a, 2 of 3 masters): Redis alone never recovers. Baseline: the seed's"
  echo "  manual procedure at machine speed (TAKEOVER on one replica of dc-b the moment a"
  echo "  survivor reports \`cluster_state:fail\`, polled every 10 ms)."
  echo "- *minority loss* (dc-b, 1 of 3 masters): baseline is Redis's own failover (no engine, no fencing)."
  echo "- *ours*: the engine with fencing on and \`detection: Fast\` (the \`Safe\` default is in the"
  echo "  detection section)."
  echo
  echo "| node-timeout | signal | case | ours (s) | baseline | baseline (s) | ours / baseline | acked writes lost (ours, all runs) |"
  echo "|---|---|---|---|---|---|---|---|"
  for t in 1000 2000 5000; do
    for sig in kill stop; do
      for case in majority minority; do
        local zone=dc-a base=seed-manual label="seed manual"
        if [ "$case" = minority ]; then zone=dc-b; base=native; label="Redis native"; fi
        local ours="" theirs="" lost=0
        for _ in $(seq "$runs"); do
          read -r r a p f < <(rto_run "$t" "$zone" "$sig" engine redis Fast)
          ours="$ours $r"; [ "$a" = nan ] || lost=$((lost + a))
          read -r r2 _ _ _ < <(rto_run "$t" "$zone" "$sig" "$base")
          theirs="$theirs $r2"
          echo "  $t ms $sig $case: ours ${r} ms, $label ${r2} ms" >&2
        done
        local mo mt
        mo=$(echo "$ours" | median); mt=$(echo "$theirs" | median)
        awk -v t="$t" -v s="$sig" -v c="$case" -v mo="$mo" -v mt="$mt" -v l="$label" -v lost="$lost" 'BEGIN {
          printf "| %d ms | %s | %s | %.2f | %s | %.2f | %.2f | %d |\n", t, s, c, mo/1000, l, mt/1000, (mt > 0 ? mo/mt : 0), lost }'
      done
    done
  done
  echo
  machine
  echo "Produced by \`scripts/bench.sh rto\` (\`redis-stretch drill --rto-only --output json\` per run)."
}

# Safe against Fast detection, and both against the baselines, in one run; and what a freeze
# shorter than node-timeout costs with each.
detection_section() {
  local runs=$1
  echo "## Detection: \`Safe\` (default) and \`Fast\`"
  echo
  echo "\`failover.detection\` sets how long a DC must be silent before the engine acts: \`Safe\`,"
  echo "node-timeout (what Redis itself tolerates); \`Fast\`, about a third of it. Node-timeout"
  echo "2000 ms, the DC frozen (SIGSTOP), seed layout, a fresh cluster per run, RTO as above,"
  echo "baselines as above, all in one run. Medians of $runs runs."
  echo
  echo "| case | Safe (s) | Fast (s) | baseline | baseline (s) | Safe / baseline | acked writes lost (Safe + Fast, all runs) |"
  echo "|---|---|---|---|---|---|---|"
  for case in majority minority; do
    local zone=dc-a base=seed-manual label="seed manual"
    if [ "$case" = minority ]; then zone=dc-b; base=native; label="Redis native"; fi
    local safe="" fast="" theirs="" lost=0
    for _ in $(seq "$runs"); do
      read -r r a _ _ < <(rto_run 2000 "$zone" stop engine redis Safe)
      safe="$safe $r"; [ "$a" = nan ] || lost=$((lost + a))
      read -r r1 a _ _ < <(rto_run 2000 "$zone" stop engine redis Fast)
      fast="$fast $r1"; [ "$a" = nan ] || lost=$((lost + a))
      read -r r2 _ _ _ < <(rto_run 2000 "$zone" stop "$base")
      theirs="$theirs $r2"
      echo "  detection $case: Safe ${r} ms, Fast ${r1} ms, $label ${r2} ms" >&2
    done
    local ms mf mt
    ms=$(echo "$safe" | median); mf=$(echo "$fast" | median); mt=$(echo "$theirs" | median)
    awk -v c="$case" -v ms="$ms" -v mf="$mf" -v mt="$mt" -v l="$label" -v lost="$lost" 'BEGIN {
      printf "| %s | %.2f | %.2f | %s | %.2f | %.2f | %d |\n", c, ms/1000, mf/1000, l, mt/1000, (mt > 0 ? ms/mt : 0), lost }'
  done
  echo
  echo "The price of \`Fast\`: dc-a (2 of 3 masters) frozen for less than node-timeout, which Redis"
  echo "rides out (\`redis-stretch drill --fault blip\`, engine running; $runs runs each, totals)."
  echo
  echo "| freeze | detection | failovers + failbacks | plain writes lost | WAIT-acked writes lost |"
  echo "|---|---|---|---|---|"
  for blip in 1s 1.5s; do
    for detection in Safe Fast; do
      local changes=0 plain=0 waited=0
      for _ in $(seq "$runs"); do
        local work; work=$(mktemp -d)
        sed "s/^    fencing: true$/    fencing: true\n    detection: $detection/" examples/seed-two-dc.yaml > "$work/m.yaml"
        "$bin" local up -f "$work/m.yaml" --detach --no-engine --state-dir "$work/s" >/dev/null
        local json
        json=$("$bin" drill --fault blip --zone dc-a --for "$blip" --output json --state-dir "$work/s" 2>/dev/null || true)
        "$bin" local down --state-dir "$work/s" >/dev/null 2>&1 || true
        rm -rf "$work"
        [ -n "$json" ] || continue
        read -r c p w < <(echo "$json" | jq -r '[([.figures.shards[].master_changes] | add), ([.figures.sides[].lost] | add), ([.figures.sides[].wait_lost] | add)] | map(tostring) | join(" ")')
        changes=$((changes + c)); plain=$((plain + p)); waited=$((waited + w))
      done
      echo "| $blip | $detection | $changes | $plain | $waited |"
    done
  done
  echo
  machine
  echo "Produced by \`scripts/bench.sh detection\`."
}

# Redis and Valkey on the same drills, in the same run, and what the Kubernetes render differs by.
servers_section() {
  local runs=$1
  echo "## Redis and Valkey side by side"
  echo
  echo "The same drills on both servers, alternating, in one run: node-timeout 2000 ms, the zone"
  echo "frozen (SIGSTOP), seed layout, a fresh cluster per run, RTO as in the section above."
  echo "Baselines as there: the seed's manual TAKEOVER at machine speed for the majority loss,"
  echo "the server's own failover for the minority loss. Medians of $runs runs."
  echo
  echo "| case | server | ours (s) | baseline | baseline (s) | ours / baseline | acked writes lost (ours, all runs) |"
  echo "|---|---|---|---|---|---|---|"
  for case in majority minority; do
    local zone=dc-a base=seed-manual label="seed manual"
    if [ "$case" = minority ]; then zone=dc-b; base=native; label="server alone"; fi
    declare -A ours=() theirs=() lost=()
    for _ in $(seq "$runs"); do
      for server in redis valkey; do
        read -r r a _ _ < <(rto_run 2000 "$zone" stop engine "$server" Fast)
        ours[$server]="${ours[$server]:-} $r"; [ "$a" = nan ] || lost[$server]=$(( ${lost[$server]:-0} + a ))
        read -r r2 _ _ _ < <(rto_run 2000 "$zone" stop "$base" "$server")
        theirs[$server]="${theirs[$server]:-} $r2"
        echo "  $server $case: ours ${r} ms, $label ${r2} ms" >&2
      done
    done
    for server in redis valkey; do
      local mo mt
      mo=$(echo "${ours[$server]}" | median); mt=$(echo "${theirs[$server]}" | median)
      awk -v c="$case" -v sv="$server" -v mo="$mo" -v mt="$mt" -v l="$label" -v lost="${lost[$server]:-0}" 'BEGIN {
        printf "| %s | %s | %.2f | %s | %.2f | %.2f | %d |\n", c, sv, mo/1000, l, mt/1000, (mt > 0 ? mo/mt : 0), lost }'
    done
    unset ours theirs lost
  done
  echo
  echo "Servers: $(redis-server --version | awk '{print $1, $3}' | tr -d 'v='), $(valkey-server --version | awk '{print $1, $3}' | tr -d 'v=')."
  echo
  echo "### The Kubernetes render for both"
  echo
  echo "\`redis-stretch render\` of \`examples/k8s/zone-aware.yaml\` (Redis) and"
  echo "\`examples/k8s/valkey.yaml\` (the same cluster with \`redis.server: Valkey\` and no image):"
  echo
  echo "| server | objects | image | server command | probe and preStop CLI | redis.conf lines |"
  echo "|---|---|---|---|---|---|"
  for ex in zone-aware valkey; do
    local out; out=$("$bin" render -f "examples/k8s/$ex.yaml")
    local server=Redis; [ "$ex" = valkey ] && server=Valkey
    local objects image cmd cli conf
    objects=$(echo "$out" | grep -c '^kind:')
    image=$(echo "$out" | awk '/^ *image: /{print $2; exit}')
    cmd=$(echo "$out" | grep -o 'exec [a-z-]*-server' | head -1 | cut -d' ' -f2)
    cli=$(echo "$out" | grep -o '[a-z]*-cli -h 127.0.0.1' | head -1 | cut -d' ' -f1)
    conf=$(echo "$out" | awk '/redis.conf: \|/{f=1; next} f && /^[^ ]/{f=0} f && /^    [a-z]/{n++} END {print n+0}')
    echo "| $server | $objects | \`$image\` | \`$cmd\` | \`$cli\` | $conf |"
  done
  echo
  echo "One configuration for both: the ConfigMap is identical; Valkey instances get their"
  echo "zone as \`availability-zone\` from the engine at run time (docs/CONFIGURATION.md)."
  echo
  machine
  echo "Produced by \`scripts/bench.sh servers\`."
}

# The implementation `plan` had before the incremental scheduler, for the before/after ratio.
# PLAN_BEFORE=none skips it.
plan_before="${PLAN_BEFORE:-a3d7b71fcdf86e5f7c140822325e8b2cf08a2fcc}"

# That commit's binary, built once into the same target directory (its workspace crates sit at
# another path, so they build beside ours and share every registry crate) and kept by commit.
plan_before_bin() {
  local keep="$target/plan-before/$plan_before/redis-stretch"
  if [ ! -x "$keep" ]; then
    local tree; tree=$(mktemp -d)
    git archive "$plan_before" | tar -x -C "$tree"
    echo "building redis-stretch at $plan_before for the before figures (once)" >&2
    CARGO_TARGET_DIR="$target" cargo build --quiet --release -p redis-stretch --manifest-path "$tree/Cargo.toml" >&2
    mkdir -p "$(dirname "$keep")"
    cp "$target/release/redis-stretch" "$keep"
    rm -rf "$tree"
  fi
  echo "$keep"
}

# Wall-clock milliseconds of one `plan --output json` run, the process start included.
plan_ms() {
  local b=$1 spec=$2 nodes=$3 out=$4
  local start end
  start=$(date +%s%N)
  "$b" plan -f "$spec" --nodes "$nodes" --output json > "$out"
  end=$(date +%s%N)
  echo $(( (end - start) / 1000000 ))
}

plan_section() {
  local runs=$1 before=$2 before_runs=$3
  local work; work=$(mktemp -d)
  for n in 100 300 1000 5000; do
    scripts/plan-nodes.py "$n" > "$work/nodes-$n.json"
  done
  echo "## \`plan\`: where the scheduler puts every pod"
  echo
  echo "\`redis-stretch plan --output json\` (release build) on generated node lists"
  echo "(\`scripts/plan-nodes.py\`: two zones, three machine sizes, 2% cordoned, 3% tainted NoSchedule,"
  echo "5% PreferNoSchedule, the seed's \`az1\`/\`az2\` pools on six nodes) for the example clusters"
  echo "(\`examples/k8s/zone-aware.yaml\`, \`seed.yaml\`) with more shards, one replica each, half the"
  echo "masters preferred in each zone. Wall clock of the whole command, process start, parsing and"
  if [ -n "$before" ]; then
    echo "JSON output included. *Before*: the scheduler that rescanned every placed pod for every node"
    echo "(commit \`${plan_before:0:7}\`), medians of $before_runs runs; *after*: the incremental one, medians"
    echo "of $runs runs, in the same run of the script. *Same plan*: both printed identical JSON."
  else
    echo "JSON output included. Medians of $runs runs (PLAN_BEFORE=none: no before figures)."
  fi
  echo
  echo "| nodes | shards (pods) | mode | before (ms) | after (ms) | before / after | same plan |"
  echo "|---|---|---|---|---|---|---|"
  for shards in 100 10; do
    for mode in zone-aware seed; do
      local spec="$work/$mode-$shards.yaml"
      sed -e "s/^  shards: 3$/  shards: $shards/" -e "s/preferredMasters: [12]$/preferredMasters: $((shards / 2))/" \
        "examples/k8s/$mode.yaml" > "$spec"
      for n in 100 300 1000 5000; do
        # Ten shards: only the large lists, where the node count is all that grows.
        if [ "$shards" = 10 ] && [ "$n" -lt 1000 ]; then continue; fi
        local nodes="$work/nodes-$n.json" after="" old="" same="-"
        for _ in $(seq "$runs"); do
          after="$after $(plan_ms "$bin" "$spec" "$nodes" "$work/after.json")"
        done
        local ma mb ratio="-"
        ma=$(echo "$after" | median)
        mb="-"
        if [ -n "$before" ]; then
          for _ in $(seq "$before_runs"); do
            old="$old $(plan_ms "$before" "$spec" "$nodes" "$work/before.json")"
          done
          mb=$(echo "$old" | median)
          ratio=$(awk -v a="$ma" -v b="$mb" 'BEGIN {r = (a > 0 ? b / a : 0); printf (r < 10 ? "%.1f×" : "%.0f×"), r}')
          if cmp -s "$work/before.json" "$work/after.json"; then same=yes; else same=NO; fi
        fi
        echo "  plan $mode $shards shards on $n nodes: before $mb ms, after $ma ms (runs:$after)" >&2
        echo "| $n | $shards ($((shards * 2))) | $mode | $mb | $ma | $ratio | $same |"
      done
    done
  done
  rm -rf "$work"
  echo
  echo "Machine: $(nproc) cores, $(free -g | awk '/Mem:/{print $2}') GiB, $(rustc --version | awk '{print $1, $2}'), $(date -u +%Y-%m-%d)."
  echo "Produced by \`scripts/bench.sh plan\`."
}

machine() {
  echo "Machine: $(nproc) cores, $(free -g | awk '/Mem:/{print $2}') GiB, $(redis-server --version | awk '{print $3}' | tr -d 'v='), $(date -u +%Y-%m-%d)."
}

for s in "${sections[@]}"; do
  case "$s" in
    bootstrap)
      cargo build --quiet --release -p redis-stretch-local --example bootstrap_bench
      {
        echo "## Bootstrap: six empty nodes to failover-ready"
        echo
        echo "Seed layout (3 shards, 1 replica each, two zones), auth on, our redis.conf on every"
        echo "node for both tools. *Failover-ready*: every node \`cluster_state:ok\` and knowing all"
        echo "six nodes, every replica's \`master_link_status:up\`; both tools are timed to that point"
        echo "by the same poller (20 ms). Medians of $runs runs, tools alternating."
        echo
        echo "- *warm*: the six empty nodes have been up for 3 s (pods that passed readiness before"
        echo "  the operator bootstraps them). A fresh master without slots counts as a minority"
        echo "  (cluster size 0), so Redis holds it out of \`cluster_state:ok\` for a rejoin delay of"
        echo "  \`cluster-node-timeout\` (2 s here) after it gets its slots; redis-cli pays that. Our"
        echo "  bootstrap runs at Redis's 500 ms floor for that delay (\`CONFIG SET cluster-node-timeout"
        echo "  500\`) and restores the configured timeout once the cluster is ready."
        echo "- *cold*: timed from the moment all six processes answer PING, as in \`local up\`."
        echo "  Redis keeps a master from reporting \`cluster_state:ok\` until 2 s after it"
        echo "  started (\`CLUSTER_WRITABLE_DELAY\` in cluster.c): both tools sit on that floor."
        echo
        target/release/examples/bootstrap_bench "$runs"
        echo
        machine
        echo "Produced by \`scripts/bench.sh bootstrap\` (\`crates/local/examples/bootstrap_bench.rs\`)."
      } > docs/bench/bootstrap.md.tmp
      mv docs/bench/bootstrap.md.tmp docs/bench/bootstrap.md
      ;;
    rto)
      cargo build --quiet --release -p redis-stretch
      rto_section "$runs" > docs/bench/rto.md.tmp
      mv docs/bench/rto.md.tmp docs/bench/rto.md
      ;;
    detection)
      cargo build --quiet --release -p redis-stretch
      detection_section "${DETECTION_RUNS:-5}" > docs/bench/detection.md.tmp
      mv docs/bench/detection.md.tmp docs/bench/detection.md
      ;;
    servers)
      cargo build --quiet --release -p redis-stretch
      servers_section "${SERVER_RUNS:-5}" > docs/bench/servers.md.tmp
      mv docs/bench/servers.md.tmp docs/bench/servers.md
      ;;
    footprint)
      # The operator against the e2e control plane (built once, cached): release binary, its
      # RSS, reconcile latency and API requests per minute with 1 and 50 clusters, and 500
      # clusters on a control plane that creates no pods.
      # The binary the image ships: the `operator` profile (release + LTO, Cargo.toml).
      scripts/controlplane.sh build >/dev/null
      cargo build --quiet --profile operator -p redis-stretch
      REDIS_STRETCH_E2E=1 REDIS_STRETCH_BIN="$root/target/operator/redis-stretch" FOOTPRINT_OUT="$root/docs/bench/footprint.body" \
        cargo test --quiet -p redis-stretch-e2e --test footprint -- --ignored --nocapture >&2
      {
        cat docs/bench/footprint.body
        echo
        machine
        echo "Produced by \`scripts/bench.sh footprint\` (\`crates/e2e/tests/footprint.rs\`)."
      } > docs/bench/footprint.md.tmp
      rm -f docs/bench/footprint.body
      mv docs/bench/footprint.md.tmp docs/bench/footprint.md
      ;;
    plan)
      before=""
      [ "$plan_before" = none ] || before=$(plan_before_bin)
      cargo build --quiet --release -p redis-stretch
      plan_section "$runs" "$before" "${PLAN_BEFORE_RUNS:-3}" > docs/bench/plan.md.tmp
      mv docs/bench/plan.md.tmp docs/bench/plan.md
      ;;
    rollout)
      cargo build --quiet --release -p redis-stretch
      rollout_section "${ROLLOUT_RUNS:-3}" > docs/bench/rollout.md.tmp
      # The same on the e2e control plane: the seed cluster as pods, its image changed, the
      # engine's rollout and today's RollingUpdate in one run, then the operator killed mid-
      # rollout (crates/e2e/tests/rollout.rs writes its tables to target/rollout/).
      if [ "${ROLLOUT_E2E:-1}" = 1 ]; then
        scripts/controlplane.sh build >/dev/null
        rm -rf target/rollout
        REDIS_STRETCH_E2E=1 cargo nextest run --profile e2e --workspace --cargo-quiet \
          -E 'binary_id(redis-stretch-e2e::rollout)' >&2
        {
          echo
          echo "On the e2e control plane (kube-apiserver, scheduler and controller-manager v1.37.2,"
          echo "the test kubelet running each pod as a redis-server on loopback): the seed cluster in"
          echo "SeedCompatible mode, \`spec.kubernetes.image\` changed under the drill's writers, pods"
          echo "and Redis sampled every 200 ms; one run per row (\`crates/e2e/tests/rollout.rs\`)."
          echo
          cat target/rollout/rollout-e2e.md
          echo
          cat target/rollout/rollout-lease-e2e.md
        } >> docs/bench/rollout.md.tmp
      fi
      mv docs/bench/rollout.md.tmp docs/bench/rollout.md
      splice_reliability rollout
      ;;
    scale)
      cargo build --quiet --release -p redis-stretch
      scale_section > docs/bench/scale.md.tmp
      mv docs/bench/scale.md.tmp docs/bench/scale.md
      splice_reliability scale
      ;;
    *)
      echo "unknown benchmark section: $s (known: bootstrap, rto, detection, servers, footprint, plan, rollout, scale)" >&2
      exit 2
      ;;
  esac
done

{
  echo "# Benchmarks"
  echo
  echo "Every figure here is produced by \`scripts/bench.sh\` on the machine named in its section;"
  echo "re-run it to reproduce. Tests never assert timings; this document quotes them."
  for f in docs/bench/*.md; do
    echo
    cat "$f"
  done
} > docs/BENCHMARKS.md
echo "wrote docs/BENCHMARKS.md" >&2
