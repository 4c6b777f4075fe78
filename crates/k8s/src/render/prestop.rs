//! The Redis container's `preStop` hook: a master that serves slots hands them to one of its
//! replicas with a graceful `CLUSTER FAILOVER` before Kubernetes sends SIGTERM.
//!
//! Why: a master pod deleted by a drain or a rollout otherwise leaves its shard unwritable for
//! `cluster-node-timeout` (PFAIL → FAIL) plus the election (500-1000 ms + rank × 1 s). A graceful
//! failover is coordinated with the master — the replica catches up to the master's offset
//! while the master holds writes, then takes the slots — so clients see one MOVED and lose
//! nothing. The engine fails back to the preferred layout once the pod returns.
//!
//! The script needs only `sh` and `redis-cli` (plus `sleep` and `date`, which every image with
//! a shell has), as the official redis image provides. It never blocks a drain for long: every
//! call is bounded, the whole wait is bounded, and with no healthy replica it returns at once
//! (on stderr, which the kubelet records with the hook's outcome).
//!
//! Environment it reads (all optional):
//! - `REDIS_HOST`, `REDIS_PORT`: this instance (default `127.0.0.1:6379`), so that the tests can
//!   run the very same script against a local cluster;
//! - `REDISCLI_AUTH`, or else `REDIS_PASSWORD`: the password, which redis-cli takes from the
//!   environment so that it never appears on a command line (`ps`, `/proc/*/cmdline`);
//! - `REDIS_TLS_CA_FILE`: when set, every call uses `--tls --cacert` with it;
//! - `HANDOVER_TIMEOUT_SECONDS`: the bound on the whole hook (default 20).
//!
//! The CLI binary is the server flavour's ([`ServerFlavour::cli_binary`]); the rest of the
//! script is the same for every flavour.

use std::sync::LazyLock;

use redis_stretch_api::ServerFlavour;

/// How long the hook may wait for the handover, at most. Redis aborts a graceful failover that
/// has not finished in 5 s (`CLUSTER_MF_TIMEOUT`); 20 s leaves room for a slow election.
pub const HANDOVER_TIMEOUT_SECONDS: i64 = 20;

/// The pod's grace period: the handover bound, one bounded call still in flight (2 s), Redis's
/// own `shutdown-timeout` (3 s) after SIGTERM, and a margin. Kubernetes counts the preStop hook
/// against this period, so it must stay comfortably above the hook's bound.
pub const TERMINATION_GRACE_SECONDS: i64 = 40;

/// The hook for Redis, run as `sh -c PRE_STOP_SCRIPT`: [`pre_stop_script`] of
/// [`ServerFlavour::Redis`], built once.
pub static PRE_STOP_SCRIPT: PreStopScript =
    PreStopScript(LazyLock::new(|| pre_stop_script(ServerFlavour::Redis)));

/// The hook for `flavour`, run as `sh -c <script>`.
pub fn pre_stop_script(flavour: ServerFlavour) -> String {
    TEMPLATE.replace(CLI, flavour.cli_binary())
}

/// A rendered hook script: reads as a `str`, serializes as a string.
pub struct PreStopScript(LazyLock<String>);

impl std::ops::Deref for PreStopScript {
    type Target = str;
    fn deref(&self) -> &str {
        self.0.as_str()
    }
}

impl AsRef<str> for PreStopScript {
    fn as_ref(&self) -> &str {
        self
    }
}

impl std::fmt::Display for PreStopScript {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self)
    }
}

impl std::fmt::Debug for PreStopScript {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Debug::fmt(&**self, f)
    }
}

impl serde::Serialize for PreStopScript {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self)
    }
}

/// Where [`TEMPLATE`] runs the CLI binary.
const CLI: &str = "{cli}";

/// The hook with [`CLI`] for the CLI binary.
const TEMPLATE: &str = r#"# redis-stretch preStop: hand this master's slots to a healthy replica before SIGTERM.
set -u
# No globbing: slot fields such as [5461->-<node-id>] are split into words below.
set -f
host="${REDIS_HOST:-127.0.0.1}"
port="${REDIS_PORT:-6379}"
limit="${HANDOVER_TIMEOUT_SECONDS:-20}"
if [ -z "${REDISCLI_AUTH:-}" ] && [ -n "${REDIS_PASSWORD:-}" ]; then
  # redis-cli reads the password from its environment: never on argv.
  REDISCLI_AUTH="$REDIS_PASSWORD"
  export REDISCLI_AUTH
fi
# fd 3 is the hook's stderr; cli() silences fd 2 to drop the shell's own job notices.
exec 3>&2
log() { echo "redis-stretch preStop: $*" >&3; }
deadline=$(( $(date +%s) + limit ))
cr=$(printf '\r')

# One redis-cli call, killed after 2 s: a frozen peer (a dark zone, a stopped process) still
# completes the TCP handshake in its kernel but never answers, and redis-cli 7.0 has no
# timeout option.
cli() {
  h="$1"; p="$2"; shift 2
  if [ -n "${REDIS_TLS_CA_FILE:-}" ]; then
    {cli} --tls --cacert "$REDIS_TLS_CA_FILE" -h "$h" -p "$p" "$@" 2>&3 &
  else
    {cli} -h "$h" -p "$p" "$@" 2>&3 &
  fi
  pid=$!
  # The watchdog's output goes nowhere so that $(cli ...) does not wait for its sleep.
  ( sleep 2; kill "$pid" ) >/dev/null 2>&1 &
  dog=$!
  wait "$pid"
  rc=$?
  kill "$dog"
  if [ "$rc" -gt 128 ]; then log "no answer from $h:$p within 2 s ($*)"; fi
  return "$rc"
} 2>/dev/null

# Step 1: who am I? CLUSTER NODES lines are
#   <id> <ip:port@cport[,hostname]> <flags> <master-id|-> <ping> <pong> <epoch> <link> [slot...]
nodes=$(cli "$host" "$port" CLUSTER NODES) || {
  log "cannot read CLUSTER NODES from $host:$port; stopping without a handover"
  exit 0
}
myid=""
serving=no
while read -r id addr flags master rest; do
  case ",$flags," in
    *,myself,*)
      myid="$id"
      case ",$flags," in
        *,master,*)
          # shellcheck disable=SC2086 # word splitting is the point
          set -- $rest
          # ping, pong, epoch and link come first; anything after them is a slot range.
          if [ "$#" -gt 4 ]; then serving=yes; fi
          ;;
      esac
      ;;
  esac
done <<EOF
$nodes
EOF
if [ -z "$myid" ] || [ "$serving" != yes ]; then
  # A replica, or a master without slots: nothing would become unwritable.
  exit 0
fi

# Step 2: pick a replica that can take over now: not flagged fail/fail?, its bus link up, its
# replication link up (a replica that never finished its sync cannot be elected), and of those
# the one with the highest replication offset (the least to catch up while writes are held).
best=""
best_offset=-2
while read -r id addr flags master ping pong epoch link rest; do
  [ "$master" = "$myid" ] || continue
  case ",$flags," in
    *,fail,* | *,fail\?,* | *,handshake,* | *,noaddr,*) continue ;;
  esac
  [ "$link" = connected ] || continue
  # ip:port@cport or ip:port@cport,hostname; the port is after the last ':' (IPv6 too).
  hostport="${addr%%@*}"
  rhost="${hostport%:*}"
  rport="${hostport##*:}"
  [ -n "$rhost" ] || continue
  [ "$(date +%s)" -lt "$deadline" ] || break
  info=$(cli "$rhost" "$rport" INFO replication) || continue
  up=no
  offset=-1
  while IFS= read -r line; do
    line="${line%"$cr"}"
    case "$line" in
      master_link_status:up) up=yes ;;
      slave_repl_offset:*) offset="${line#slave_repl_offset:}" ;;
    esac
  done <<EOF
$info
EOF
  case "$offset" in '' | *[!0-9]*) offset=-1 ;; esac
  [ "$up" = yes ] || continue
  if [ "$offset" -gt "$best_offset" ]; then
    best="$rhost $rport"
    best_offset="$offset"
  fi
done <<EOF
$nodes
EOF
if [ -z "$best" ]; then
  log "no healthy replica of master $myid; stopping without a handover (the shard is unwritable until Redis elects a replica)"
  exit 0
fi

# Step 3: ask it for a graceful failover. Without FORCE the master holds writes until the
# replica has its offset, so no acknowledged write is lost.
# shellcheck disable=SC2086 # "host port"
set -- $best
reply=$(cli "$1" "$2" CLUSTER FAILOVER) || reply=""
if [ "$reply" != OK ]; then
  log "replica $1:$2 refused CLUSTER FAILOVER (${reply:-no answer}); stopping without a handover"
  exit 0
fi
log "asked replica $1:$2 (offset $best_offset) to take over the slots of $myid"

# Step 4: wait, bounded, until this instance is a replica; then Kubernetes sends SIGTERM.
while [ "$(date +%s)" -lt "$deadline" ]; do
  role=$(cli "$host" "$port" ROLE) || role=""
  case "$role" in
    slave* | replica*)
      log "handover done: $1:$2 is the master now"
      exit 0
      ;;
  esac
  sleep 0.5
done
log "still a master after ${limit}s; stopping anyway"
exit 0
"#;

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
    use super::*;

    #[test]
    fn the_cli_binary_is_the_flavours() {
        assert_eq!(&*PRE_STOP_SCRIPT, pre_stop_script(ServerFlavour::Redis));
        assert!(!PRE_STOP_SCRIPT.contains(CLI));
        for flavour in ServerFlavour::ALL {
            let script = pre_stop_script(flavour);
            let cli = flavour.cli_binary();
            assert!(script.contains(&format!("    {cli} -h \"$h\" -p \"$p\" \"$@\" 2>&3 &")));
            assert!(script.contains(&format!("    {cli} --tls --cacert \"$REDIS_TLS_CA_FILE\"")));
            assert_eq!(script.lines().count(), TEMPLATE.lines().count());
        }
        assert_eq!(
            serde_json::to_value(&PRE_STOP_SCRIPT).unwrap(),
            serde_json::Value::String(pre_stop_script(ServerFlavour::Redis))
        );
    }
}
