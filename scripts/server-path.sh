#!/usr/bin/env bash
# Where the server binary of one tested version is, for the suite's runs and for trying a version
# by hand. redis-stretch takes its server from REDIS_SERVER / VALKEY_SERVER when set
# (crates/local/src/binary.rs, `server_env_var`), else from the PATH.
#
#   scripts/server-path.sh valkey-9.1          # prints the binary's path
#   scripts/server-path.sh --env redis-8.2     # prints REDIS_STRETCH_SERVER=redis REDIS_SERVER=PATH
#   env $(scripts/server-path.sh --env valkey-9.1) scripts/redis-stretch demo
#
# Versions: redis-7.0 (Debian's redis-server), valkey-8.1, valkey-9.1, redis-8.2 (scripts/deps.sh
# installs the last three under $XDG_DATA_HOME/redis-stretch/<name>-<version>/bin). Any
# `<redis|valkey>-<major>.<minor>` is looked up there, then on the PATH; the binary found must
# say it is that version (`--version`). Exit 1 when there is none.
set -euo pipefail

env=0
if [ "${1:-}" = --env ]; then
  env=1
  shift
fi
want="${1:-}"
case "$want" in
  redis-[0-9]*.[0-9]*) flavour=redis ;;
  valkey-[0-9]*.[0-9]*) flavour=valkey ;;
  *)
    echo "usage: $0 [--env] redis-7.0|redis-8.2|valkey-8.1|valkey-9.1" >&2
    exit 2
    ;;
esac
minor="${want#*-}"
binary="$flavour-server"
data="${XDG_DATA_HOME:-$HOME/.local/share}/redis-stretch"

candidates=()
# Side-by-side installs of that minor version, newest patch first.
while IFS= read -r d; do
  [ -n "$d" ] && candidates+=("$d/bin/$binary")
done < <(compgen -G "$data/$flavour-$minor.*" | sort -rV || true)
if on_path="$(command -v "$binary" 2>/dev/null)"; then
  candidates+=("$on_path")
fi

for b in "${candidates[@]}"; do
  [ -x "$b" ] || continue
  case "$("$b" --version 2>/dev/null || true)" in
    *" v=$minor."*)
      b="$(cd "$(dirname "$b")" && pwd)/$(basename "$b")"
      if [ "$env" = 1 ]; then
        var=REDIS_SERVER
        [ "$flavour" = valkey ] && var=VALKEY_SERVER
        echo "REDIS_STRETCH_SERVER=$flavour $var=$b"
      else
        echo "$b"
      fi
      exit 0
      ;;
  esac
done
echo "no $binary $minor.x in $data/$flavour-$minor.*/bin or on the PATH: scripts/deps.sh installs the tested versions" >&2
exit 1
