#!/usr/bin/env bash
# Installs what redis-stretch and its tests need and a fresh machine may lack:
# redis-server, redis-cli, openssl, iproute2 and nftables (Debian/Ubuntu packages), rustfmt and
# clippy.
# Idempotent and quiet when everything is already there.
set -euo pipefail

need_apt=()
command -v redis-server >/dev/null 2>&1 || need_apt+=(redis-server)
command -v redis-cli >/dev/null 2>&1 || need_apt+=(redis-tools)
# The TLS tests make their own CA and certificates.
command -v openssl >/dev/null 2>&1 || need_apt+=(openssl)
# The network lab (`local up --netns`, `local cut|heal|blip`, docs/LAB.md): namespaces and nft.
# Root-only tools often live in sbin, which a non-root PATH may lack.
PATH="$PATH:/usr/sbin:/sbin" command -v ip >/dev/null 2>&1 || need_apt+=(iproute2)
PATH="$PATH:/usr/sbin:/sbin" command -v nft >/dev/null 2>&1 || need_apt+=(nftables)
if [ ${#need_apt[@]} -gt 0 ]; then
  if ! command -v apt-get >/dev/null 2>&1; then
    echo "missing: ${need_apt[*]}; install Redis 7 (redis-server and redis-cli) with your package manager" >&2
    exit 1
  fi
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  echo "installing ${need_apt[*]} (apt)" >&2
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${need_apt[@]}" >/dev/null
fi

if ! command -v cargo >/dev/null 2>&1; then
  echo "cargo not found: install Rust (https://rustup.rs) first" >&2
  exit 1
fi
if command -v rustup >/dev/null 2>&1; then
  for c in rustfmt clippy; do
    rustup component list --installed 2>/dev/null | grep -q "^$c" || rustup component add "$c" >/dev/null 2>&1 || true
  done
fi
