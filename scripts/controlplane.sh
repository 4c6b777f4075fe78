#!/usr/bin/env bash
# A real Kubernetes control plane on loopback, for the end-to-end tests (crates/e2e).
#
#   scripts/controlplane.sh build         build e2e/controlplane once (cached), print the binary
#   scripts/controlplane.sh start DIR     start etcd, kube-apiserver, kube-controller-manager and
#                                         kube-scheduler on free loopback ports; state in DIR
#   scripts/controlplane.sh stop DIR      stop exactly the processes recorded in DIR
#   scripts/controlplane.sh env DIR       print KUBECONFIG=... for the cluster in DIR
#
# The binary is built from Go modules (k8s.io/kubernetes v1.37.2, go.etcd.io/etcd/server/v3
# v3.7.3, helm.sh/helm/v4 v4.3.2 for the chart test; `controlplane helm ...` is helm): no
# container image, no release download. A cold build takes a few minutes of downloads and about
# 10-20 minutes of compiling on two cores (~1 GB module cache, ~4-7 GB build cache); afterwards
# `build` is a no-op until e2e/controlplane changes. Override the output directory with
# REDIS_STRETCH_CONTROLPLANE_DIR.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
src="$root/e2e/controlplane"
out_dir="${REDIS_STRETCH_CONTROLPLANE_DIR:-$root/target/controlplane}"
bin="$out_dir/controlplane"
k8s_version="v1.37.2"
# Where the official Go tarball installs itself, which a non-login PATH may lack.
PATH="$PATH:/usr/local/go/bin"

die() { echo "controlplane.sh: $*" >&2; exit 1; }

build() {
  local fresh=1 f
  if [ -x "$bin" ]; then
    for f in "$src/go.mod" "$src/go.sum" "$src"/*.go; do
      [ "$f" -nt "$bin" ] && fresh=0
    done
  else
    fresh=0
  fi
  if [ "$fresh" = 1 ]; then
    echo "$bin"
    return 0
  fi
  command -v go >/dev/null 2>&1 || die "go not found: install Go 1.26 or later (scripts/deps.sh does on Debian/Ubuntu)"
  mkdir -p "$out_dir"
  echo "building the control plane ($k8s_version) into $bin: ~5 min of module downloads and ~20 min of compiling when cold" >&2
  local start=$SECONDS ldflags="-s -w" pkg key val
  # What upstream's hack/lib/version.sh stamps, so that /version says v1.37.2.
  for pkg in k8s.io/client-go/pkg/version k8s.io/component-base/version; do
    for key in gitVersion=$k8s_version gitMajor=1 gitMinor=37 gitTreeState=clean; do
      ldflags="$ldflags -X $pkg.$key"
    done
  done
  # The machine is shared: stay out of the way of timing-sensitive tests.
  ( cd "$src" && GOMAXPROCS="${GOMAXPROCS:-2}" GOFLAGS="${GOFLAGS:-} -mod=readonly" \
      nice -n 19 go build -trimpath -ldflags "$ldflags" -o "$bin.tmp" . ) \
    || die "go build failed in $src"
  mv -f "$bin.tmp" "$bin"
  echo "built $bin in $((SECONDS - start))s" >&2
  echo "$bin"
}

# ---------------------------------------------------------------------------------------------
# start / stop / env

# Components, in start order; `stop` goes in reverse.
components=(etcd kube-apiserver kube-controller-manager kube-scheduler)

# The controllers the tests need and a real cluster runs; the rest (replicaset, deployment, job,
# volumes, ...) stay off to save two busy cores. Timings stay at their upstream defaults, which
# the e2e tests measure against: node-monitor-grace-period 50s (NotReady 50 s after the last
# heartbeat), node-startup-grace-period 60s, and the unreachable/not-ready NoExecute taints
# evicting pods after the 300 s that DefaultTolerationSeconds admission gives every pod.
controllers=node-lifecycle-controller,taint-eviction-controller,statefulset-controller,serviceaccount-controller,serviceaccount-token-controller,garbage-collector-controller,endpoints-controller,endpointslice-controller,namespace-controller,disruption-controller,pod-garbage-collector-controller,root-ca-certificate-publisher-controller
# REDIS_STRETCH_CP_NO_PODS=1 leaves the StatefulSet controller out: StatefulSets are stored but
# no pod is ever created (the footprint benchmark's 500 clusters, which two cores could not run).
if [ "${REDIS_STRETCH_CP_NO_PODS:-}" = 1 ]; then
  controllers="${controllers/statefulset-controller,/}"
fi

# Free loopback TCP ports: bound together (so they differ) and released just before use.
free_ports() {
  python3 - "$1" <<'PY'
import socket, sys
socks = []
for _ in range(int(sys.argv[1])):
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    socks.append(s)
print(" ".join(str(s.getsockname()[1]) for s in socks))
PY
}

# A key (ECDSA P-256, PKCS#8) and a certificate signed by the CA in $dir/pki.
# cert NAME SUBJECT EXTENSIONS
cert() {
  local pki="$dir/pki" name="$1" subject="$2" ext="$3"
  openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$pki/$name.key" 2>/dev/null
  openssl req -new -key "$pki/$name.key" -subj "$subject" -out "$pki/$name.csr" 2>/dev/null
  printf '%s\n' "$ext" > "$pki/$name.ext"
  openssl x509 -req -in "$pki/$name.csr" -CA "$pki/ca.crt" -CAkey "$pki/ca.key" -CAcreateserial \
    -days 30 -sha256 -extfile "$pki/$name.ext" -out "$pki/$name.crt" 2>/dev/null
  rm -f "$pki/$name.csr" "$pki/$name.ext"
}

# kubeconfig NAME CLIENT-CERT: a kubeconfig with everything embedded.
kubeconfig() {
  local pki="$dir/pki"
  cat > "$dir/$1.kubeconfig" <<KC
apiVersion: v1
kind: Config
clusters:
- name: e2e
  cluster:
    server: https://127.0.0.1:$apiserver_port
    certificate-authority-data: $(base64 -w0 < "$pki/ca.crt")
users:
- name: $1
  user:
    client-certificate-data: $(base64 -w0 < "$pki/$2.crt")
    client-key-data: $(base64 -w0 < "$pki/$2.key")
contexts:
- name: e2e
  context: {cluster: e2e, user: $1}
current-context: e2e
KC
  chmod 600 "$dir/$1.kubeconfig"
}

# spawn NAME ARGS...: start a component in the background, its own session (a test's Ctrl-C
# must not reach it half-way), and record its PID.
spawn() {
  local name="$1"
  shift
  setsid "$bin" "$name" "$@" > "$dir/$name.log" 2>&1 < /dev/null &
  echo $! > "$dir/$name.pid"
}

# wait_for NAME SECONDS COMMAND...: until COMMAND succeeds, or fail with the component's log.
wait_for() {
  local name="$1" limit="$2" t0=$SECONDS
  shift 2
  until "$@" >/dev/null 2>&1; do
    if ! kill -0 "$(cat "$dir/$name.pid")" 2>/dev/null; then
      tail -n 30 "$dir/$name.log" >&2
      die "$name exited during start (log: $dir/$name.log)"
    fi
    if [ $((SECONDS - t0)) -ge "$limit" ]; then
      tail -n 30 "$dir/$name.log" >&2
      die "$name not healthy after ${limit}s (log: $dir/$name.log)"
    fi
    sleep 0.5
  done
}

https_ok() {
  curl -sf --max-time 5 --cacert "$dir/pki/ca.crt" --cert "$dir/pki/admin.crt" --key "$dir/pki/admin.key" "$1"
}

start() {
  dir="$1"
  mkdir -p "$dir"
  dir="$(cd "$dir" && pwd)"
  local c
  for c in "${components[@]}"; do
    if [ -f "$dir/$c.pid" ] && kill -0 "$(cat "$dir/$c.pid")" 2>/dev/null; then
      die "$c already runs from $dir (pid $(cat "$dir/$c.pid")): stop it first"
    fi
  done
  bin="$(build)"
  touch "$dir/.redis-stretch-controlplane"
  # Whatever fails from here (a failed command or `die`) stops what was started.
  trap 'rc=$?; [ "$rc" -eq 0 ] || stop "$dir" >/dev/null 2>&1 || true' EXIT

  local ports
  read -r etcd_port peer_port apiserver_port cm_port sched_port <<< "$(free_ports 5)"
  ports="$etcd_port $peer_port $apiserver_port $cm_port $sched_port"

  mkdir -p "$dir/pki"
  local pki="$dir/pki"
  openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$pki/ca.key" 2>/dev/null
  openssl req -x509 -new -key "$pki/ca.key" -subj "/CN=redis-stretch-e2e-ca" -days 30 -sha256 \
    -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" \
    -out "$pki/ca.crt" 2>/dev/null
  local client="basicConstraints=CA:FALSE
keyUsage=critical,digitalSignature
extendedKeyUsage=clientAuth"
  cert apiserver "/CN=kube-apiserver" "basicConstraints=CA:FALSE
keyUsage=critical,digitalSignature,keyEncipherment
extendedKeyUsage=serverAuth
subjectAltName=IP:127.0.0.1,IP:10.96.0.1,DNS:localhost,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc"
  # Users the bootstrap RBAC policy knows: an admin, and the two components' own identities.
  cert admin "/O=system:masters/CN=e2e-admin" "$client"
  cert kube-controller-manager "/CN=system:kube-controller-manager" "$client"
  cert kube-scheduler "/CN=system:kube-scheduler" "$client"
  # The operator's own user (admin rights), so that the audit log below can count its requests.
  cert operator "/O=system:masters/CN=redis-stretch-operator" "$client"
  # Service-account tokens: signed by the API server (TokenRequest), checked with the public key.
  openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$pki/sa.key" 2>/dev/null
  openssl pkey -in "$pki/sa.key" -pubout -out "$pki/sa.pub" 2>/dev/null
  chmod 600 "$pki"/*.key
  kubeconfig admin admin
  kubeconfig kube-controller-manager kube-controller-manager
  kubeconfig kube-scheduler kube-scheduler
  kubeconfig operator operator
  # Audit: one line per finished request of the operator's user and nobody else's (the footprint
  # benchmark counts its API requests per minute from it, as the API server saw them).
  cat > "$dir/audit-policy.yaml" <<'POLICY'
apiVersion: audit.k8s.io/v1
kind: Policy
omitStages: [RequestReceived, ResponseStarted]
rules:
- level: Metadata
  users: [redis-stretch-operator]
- level: None
POLICY

  mkdir -p "$dir/etcd-data"
  # One member, no fsync: a test cluster's etcd need not survive a power cut.
  spawn etcd --name e2e --data-dir "$dir/etcd-data" \
    --listen-client-urls "http://127.0.0.1:$etcd_port" --advertise-client-urls "http://127.0.0.1:$etcd_port" \
    --listen-peer-urls "http://127.0.0.1:$peer_port" --initial-advertise-peer-urls "http://127.0.0.1:$peer_port" \
    --initial-cluster "e2e=http://127.0.0.1:$peer_port" --unsafe-no-fsync --log-level warn
  wait_for etcd 60 curl -sf --max-time 2 "http://127.0.0.1:$etcd_port/health"

  # The `kubernetes` Service's endpoints cannot be a loopback address (validation), so its
  # reconciler is off; nothing in the tests reaches the API server through that Service.
  spawn kube-apiserver --etcd-servers "http://127.0.0.1:$etcd_port" \
    --bind-address 127.0.0.1 --advertise-address 127.0.0.1 --secure-port "$apiserver_port" \
    --cert-dir "$dir/apiserver-certs" --tls-cert-file "$pki/apiserver.crt" --tls-private-key-file "$pki/apiserver.key" \
    --client-ca-file "$pki/ca.crt" \
    --service-account-issuer "https://127.0.0.1:$apiserver_port" \
    --service-account-key-file "$pki/sa.pub" --service-account-signing-key-file "$pki/sa.key" \
    --service-cluster-ip-range 10.96.0.0/16 \
    --authorization-mode Node,RBAC --allow-privileged=true --profiling=false \
    --endpoint-reconciler-type none \
    --audit-policy-file "$dir/audit-policy.yaml" --audit-log-path "$dir/audit.log" --audit-log-format json
  wait_for kube-apiserver 180 https_ok "https://127.0.0.1:$apiserver_port/readyz"

  spawn kube-controller-manager --kubeconfig "$dir/kube-controller-manager.kubeconfig" \
    --authentication-kubeconfig "$dir/kube-controller-manager.kubeconfig" \
    --authorization-kubeconfig "$dir/kube-controller-manager.kubeconfig" \
    --bind-address 127.0.0.1 --secure-port "$cm_port" --cert-dir "$dir/cm-certs" \
    --leader-elect=false --controllers "$controllers" \
    --use-service-account-credentials=true \
    --service-account-private-key-file "$pki/sa.key" --root-ca-file "$pki/ca.crt" \
    --profiling=false
  spawn kube-scheduler --kubeconfig "$dir/kube-scheduler.kubeconfig" \
    --authentication-kubeconfig "$dir/kube-scheduler.kubeconfig" \
    --authorization-kubeconfig "$dir/kube-scheduler.kubeconfig" \
    --bind-address 127.0.0.1 --secure-port "$sched_port" --cert-dir "$dir/scheduler-certs" \
    --leader-elect=false --profiling=false
  wait_for kube-controller-manager 120 curl -skf --max-time 2 "https://127.0.0.1:$cm_port/healthz"
  wait_for kube-scheduler 120 curl -skf --max-time 2 "https://127.0.0.1:$sched_port/healthz"
  trap - EXIT

  cat > "$dir/controlplane.env" <<ENV
KUBECONFIG=$dir/admin.kubeconfig
APISERVER=https://127.0.0.1:$apiserver_port
ETCD=http://127.0.0.1:$etcd_port
PORTS="$ports"
ENV
  echo "control plane up in $dir: $(https_ok "https://127.0.0.1:$apiserver_port/version" | tr -d '\n ' | sed 's/.*"gitVersion":"\([^"]*\)".*/\1/') at https://127.0.0.1:$apiserver_port; KUBECONFIG=$dir/admin.kubeconfig" >&2
}

# Is PID still the component NAME that `start` spawned from DIR? (A PID can be reused.)
ours() {
  local pid="$1" name="$2" cmd
  cmd="$(tr '\0' ' ' < "/proc/$pid/cmdline" 2>/dev/null)" || return 1
  case "$cmd" in
    *controlplane" $name "*) return 0 ;;
    *) return 1 ;;
  esac
}

stop() {
  dir="$1"
  [ -d "$dir" ] || return 0
  [ -f "$dir/.redis-stretch-controlplane" ] || die "$dir is not a control plane directory"
  local i name pid
  for ((i = ${#components[@]} - 1; i >= 0; i--)); do
    name="${components[$i]}"
    [ -f "$dir/$name.pid" ] || continue
    pid="$(cat "$dir/$name.pid")"
    if ours "$pid" "$name"; then
      kill -TERM "$pid" 2>/dev/null || true
      for _ in $(seq 1 100); do
        ours "$pid" "$name" || break
        sleep 0.1
      done
      ours "$pid" "$name" && kill -KILL "$pid" 2>/dev/null || true
    fi
    rm -f "$dir/$name.pid"
  done
}

case "${1:-}" in
  build) build ;;
  start) [ $# -eq 2 ] || die "usage: $0 start DIR"; start "$2" ;;
  stop) [ $# -eq 2 ] || die "usage: $0 stop DIR"; stop "$2" ;;
  env) [ $# -eq 2 ] || die "usage: $0 env DIR"; [ -f "$2/controlplane.env" ] || die "no control plane in $2"; sed 's/^/export /' "$2/controlplane.env" ;;
  *) echo "usage: $0 build|start DIR|stop DIR|env DIR" >&2; exit 2 ;;
esac
