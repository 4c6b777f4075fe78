#!/usr/bin/env bash
# Benchmarks, re-runnable: each section of docs/BENCHMARKS.md is produced by one benchmark
# into docs/bench/<name>.md, then the document is assembled from the sections.
#   scripts/bench.sh                # every benchmark
#   scripts/bench.sh bootstrap      # just one section (others are kept as committed)
#   RUNS=9 scripts/bench.sh         # more runs per figure (default 7)
# Takes minutes; not part of scripts/test.sh. Only loopback traffic.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
scripts/deps.sh
runs="${RUNS:-7}"
sections=("$@")
[ ${#sections[@]} -gt 0 ] || sections=(bootstrap)

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
        echo "  the operator bootstraps them)."
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
    *)
      echo "unknown benchmark section: $s (known: bootstrap)" >&2
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
