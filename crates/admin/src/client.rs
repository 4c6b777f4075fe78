//! One admin connection to one Redis instance.

use std::time::Duration;

use redis::aio::MultiplexedConnection;
use redis::{AsyncConnectionConfig, Client, ConnectionAddr, FromRedisValue, IntoConnectionInfo};
use redis_stretch_model::SlotRange;

use crate::parse::{ClusterInfo, ClusterNodes, ReplicationInfo, ServerInfo};
use crate::{AdminError, Dial, NodeAddr, ParseError, Secret};

/// Every call is bounded: a frozen (SIGSTOPped) or dark node must cost a timeout, never a hang.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_millis(1000);

/// `CLUSTER FAILOVER` flavours (https://redis.io/commands/cluster-failover/).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FailoverMode {
    /// Coordinated with the master: no data loss; needs the master reachable.
    Graceful,
    /// No handshake with the master; still needs a majority of masters to vote.
    Force,
    /// No vote at all: bumps the epoch and claims the slots. For a lost majority.
    Takeover,
}

#[derive(Clone)]
pub struct AdminClient {
    addr: NodeAddr,
    conn: MultiplexedConnection,
    timeout: Duration,
}

impl std::fmt::Debug for AdminClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AdminClient")
            .field("addr", &self.addr)
            .finish()
    }
}

impl AdminClient {
    /// Plain TCP to `addr`.
    pub async fn connect(
        addr: &NodeAddr,
        password: Option<&Secret>,
        timeout: Duration,
    ) -> Result<Self, AdminError> {
        Self::connect_via(addr, Dial::default(), password, timeout).await
    }

    /// To `addr`, over TLS when `dial` says so (at `dial.server_name` when given). Errors
    /// name `addr`, the identity the cluster knows the node by.
    pub async fn connect_via(
        addr: &NodeAddr,
        dial: Dial<'_>,
        password: Option<&Secret>,
        timeout: Duration,
    ) -> Result<Self, AdminError> {
        let connect_err = |source| AdminError::Connect {
            node: addr.clone(),
            source,
        };
        let mut redis = redis::RedisConnectionInfo::default().set_skip_set_lib_name();
        if let Some(p) = password {
            redis = redis.set_password(p.expose());
        }
        let client = match dial.tls {
            None => {
                let info = ConnectionAddr::Tcp(addr.host.clone(), addr.port)
                    .into_connection_info()
                    .map_err(connect_err)?
                    .set_redis_settings(redis);
                Client::open(info).map_err(connect_err)?
            }
            Some(tls) => {
                let host = dial.server_name.unwrap_or(&addr.host).to_owned();
                let info = ConnectionAddr::TcpTls {
                    host,
                    port: addr.port,
                    insecure: false,
                    tls_params: None,
                }
                .into_connection_info()
                .map_err(connect_err)?
                .set_redis_settings(redis);
                Client::build_with_tls(
                    info,
                    redis::TlsCertificates {
                        client_tls: None,
                        root_cert: Some(tls.ca_pem().to_vec()),
                    },
                )
                .map_err(connect_err)?
            }
        };
        let config = AsyncConnectionConfig::new()
            .set_connection_timeout(Some(timeout))
            .set_response_timeout(Some(timeout));
        // The outer timeout also bounds the AUTH handshake against a frozen node.
        let conn = tokio::time::timeout(
            timeout + Duration::from_millis(100),
            client.get_multiplexed_async_connection_with_config(&config),
        )
        .await
        .map_err(|_| AdminError::Timeout {
            node: addr.clone(),
            command: "connect".to_owned(),
            timeout,
        })?
        .map_err(connect_err)?;
        Ok(Self {
            addr: addr.clone(),
            conn,
            timeout,
        })
    }

    pub fn addr(&self) -> &NodeAddr {
        &self.addr
    }

    /// Run one command with the client's timeout; errors name the node and the command.
    pub(crate) async fn call<T: FromRedisValue>(&self, cmd: &redis::Cmd) -> Result<T, AdminError> {
        let mut conn = self.conn.clone();
        let reply = tokio::time::timeout(self.timeout, cmd.query_async::<T>(&mut conn)).await;
        match reply {
            Ok(Ok(v)) => Ok(v),
            Ok(Err(source)) if source.is_timeout() => Err(self.timeout_error(cmd)),
            Ok(Err(source)) => Err(AdminError::Command {
                node: self.addr.clone(),
                command: describe(cmd),
                source,
            }),
            Err(_) => Err(self.timeout_error(cmd)),
        }
    }

    /// A pipeline (`ASKING` and the command it applies to), bounded like `call`.
    pub(crate) async fn call_pipe<T: FromRedisValue>(
        &self,
        pipe: &redis::Pipeline,
        what: &str,
    ) -> Result<T, AdminError> {
        let mut conn = self.conn.clone();
        match tokio::time::timeout(self.timeout, pipe.query_async::<T>(&mut conn)).await {
            Ok(Ok(v)) => Ok(v),
            Ok(Err(source)) if !source.is_timeout() => Err(AdminError::Command {
                node: self.addr.clone(),
                command: what.to_owned(),
                source,
            }),
            _ => Err(AdminError::Timeout {
                node: self.addr.clone(),
                command: what.to_owned(),
                timeout: self.timeout,
            }),
        }
    }

    fn timeout_error(&self, cmd: &redis::Cmd) -> AdminError {
        AdminError::Timeout {
            node: self.addr.clone(),
            command: describe(cmd),
            timeout: self.timeout,
        }
    }

    fn parse_error(&self, cmd: &redis::Cmd, source: ParseError) -> AdminError {
        AdminError::Parse {
            node: self.addr.clone(),
            command: describe(cmd),
            source,
        }
    }

    async fn ok(&self, cmd: redis::Cmd) -> Result<(), AdminError> {
        self.call::<redis::Value>(&cmd).await.map(|_| ())
    }

    pub async fn ping(&self) -> Result<(), AdminError> {
        self.ok(redis::cmd("PING")).await
    }

    pub async fn cluster_nodes(&self) -> Result<ClusterNodes, AdminError> {
        let cmd = cluster(&["NODES"]);
        let text: String = self.call(&cmd).await?;
        ClusterNodes::parse(&text).map_err(|e| self.parse_error(&cmd, e))
    }

    pub async fn cluster_info(&self) -> Result<ClusterInfo, AdminError> {
        let cmd = cluster(&["INFO"]);
        let text: String = self.call(&cmd).await?;
        ClusterInfo::parse(&text).map_err(|e| self.parse_error(&cmd, e))
    }

    pub async fn info_replication(&self) -> Result<ReplicationInfo, AdminError> {
        let mut cmd = redis::cmd("INFO");
        cmd.arg("replication");
        let text: String = self.call(&cmd).await?;
        ReplicationInfo::parse(&text).map_err(|e| self.parse_error(&cmd, e))
    }

    /// `INFO server`: which server this is (Redis, Valkey) and its version.
    pub async fn info_server(&self) -> Result<ServerInfo, AdminError> {
        let mut cmd = redis::cmd("INFO");
        cmd.arg("server");
        let text: String = self.call(&cmd).await?;
        ServerInfo::parse(&text).map_err(|e| self.parse_error(&cmd, e))
    }

    /// Whether the server knows a command, or a subcommand spelt `container|sub`
    /// (`cluster|migrateslots`): `COMMAND INFO` answers nil for an unknown one (Redis 7.0+,
    /// every Valkey).
    pub async fn has_command(&self, name: &str) -> Result<bool, AdminError> {
        let mut cmd = redis::cmd("COMMAND");
        cmd.arg("INFO").arg(name);
        let reply: Vec<redis::Value> = self.call(&cmd).await?;
        Ok(matches!(reply.first(), Some(v) if *v != redis::Value::Nil))
    }

    /// `TIME`: the server's own wall clock, in Unix ms. Redis's `pong-recv` and `ping-sent`
    /// are on that clock, so silences are measured against it, never against the engine's.
    pub async fn time_ms(&self) -> Result<u64, AdminError> {
        let (secs, micros): (u64, u64) = self.call(&redis::cmd("TIME")).await?;
        Ok(secs.saturating_mul(1000).saturating_add(micros / 1000))
    }

    pub async fn myid(&self) -> Result<String, AdminError> {
        self.call(&cluster(&["MYID"])).await
    }

    pub async fn meet(&self, peer: &NodeAddr) -> Result<(), AdminError> {
        let mut cmd = cluster(&["MEET", &peer.host]);
        cmd.arg(peer.port);
        self.ok(cmd).await
    }

    pub async fn add_slots_range(&self, ranges: &[SlotRange]) -> Result<(), AdminError> {
        let mut cmd = cluster(&["ADDSLOTSRANGE"]);
        for r in ranges {
            cmd.arg(r.start).arg(r.end);
        }
        self.ok(cmd).await
    }

    pub async fn replicate(&self, master_id: &str) -> Result<(), AdminError> {
        self.ok(cluster(&["REPLICATE", master_id])).await
    }

    pub async fn failover(&self, mode: FailoverMode) -> Result<(), AdminError> {
        let cmd = match mode {
            FailoverMode::Graceful => cluster(&["FAILOVER"]),
            FailoverMode::Force => cluster(&["FAILOVER", "FORCE"]),
            FailoverMode::Takeover => cluster(&["FAILOVER", "TAKEOVER"]),
        };
        self.ok(cmd).await
    }

    /// `CLUSTER SET-CONFIG-EPOCH`: only on a fresh node; distinct epochs at bootstrap avoid
    /// the epoch-collision round trips Redis would otherwise need.
    pub async fn set_config_epoch(&self, epoch: u64) -> Result<(), AdminError> {
        let mut cmd = cluster(&["SET-CONFIG-EPOCH"]);
        cmd.arg(epoch);
        self.ok(cmd).await
    }

    pub async fn bump_epoch(&self) -> Result<String, AdminError> {
        self.call(&cluster(&["BUMPEPOCH"])).await
    }

    /// `CLUSTER RESET HARD`: forget every peer, new node id, epochs to 0. Redis refuses it on a
    /// master that holds keys, so it can only undo a bootstrap that never assigned slots.
    pub async fn reset_hard(&self) -> Result<(), AdminError> {
        self.ok(cluster(&["RESET", "HARD"])).await
    }

    pub async fn forget(&self, node_id: &str) -> Result<(), AdminError> {
        self.ok(cluster(&["FORGET", node_id])).await
    }

    pub async fn config_set(&self, param: &str, value: &str) -> Result<(), AdminError> {
        let mut cmd = redis::cmd("CONFIG");
        cmd.arg("SET").arg(param).arg(value);
        self.ok(cmd).await
    }

    pub async fn config_get(&self, param: &str) -> Result<Option<String>, AdminError> {
        let mut cmd = redis::cmd("CONFIG");
        cmd.arg("GET").arg(param);
        let pairs: Vec<String> = self.call(&cmd).await?;
        Ok(pairs.into_iter().nth(1))
    }

    /// `CONFIG SET p1 v1 p2 v2 ...`: applied together (Redis 7+), so a certificate and its
    /// key are re-read as one.
    pub async fn config_set_many(&self, pairs: &[(&str, &str)]) -> Result<(), AdminError> {
        let mut cmd = redis::cmd("CONFIG");
        cmd.arg("SET");
        for (k, v) in pairs {
            cmd.arg(*k).arg(*v);
        }
        self.ok(cmd).await
    }

    /// `CONFIG GET p1 p2 ...` in one round trip (Redis 7+): the parameters the server knows,
    /// by name. One that it does not know (Redis has no `availability-zone`) is absent.
    pub async fn config_get_many(
        &self,
        params: &[&str],
    ) -> Result<std::collections::BTreeMap<String, String>, AdminError> {
        let mut cmd = redis::cmd("CONFIG");
        cmd.arg("GET");
        for p in params {
            cmd.arg(*p);
        }
        let pairs: Vec<String> = self.call(&cmd).await?;
        let mut out = std::collections::BTreeMap::new();
        let mut it = pairs.into_iter();
        while let (Some(k), Some(v)) = (it.next(), it.next()) {
            out.insert(k, v);
        }
        Ok(out)
    }
}

impl AdminClient {
    /// The SHA-256 hashes (hex) of `user`'s passwords (`ACL GETUSER`): what it accepts,
    /// compared without the passwords. `None` when the user does not exist; `Some` of an
    /// empty list for a user without passwords, and for a `nopass` user (see the flag).
    pub async fn acl_password_hashes(&self, user: &str) -> Result<Option<AclUser>, AdminError> {
        let mut cmd = redis::cmd("ACL");
        cmd.arg("GETUSER").arg(user);
        let reply: redis::Value = self.call(&cmd).await?;
        let fields: Vec<(String, redis::Value)> = match reply {
            redis::Value::Nil => return Ok(None),
            redis::Value::Map(m) => m
                .into_iter()
                .filter_map(|(k, v)| String::from_redis_value(k).ok().map(|k| (k, v)))
                .collect(),
            redis::Value::Array(items) => items
                .chunks(2)
                .filter_map(|kv| match kv {
                    [k, v] => String::from_redis_value(k.clone())
                        .ok()
                        .map(|k| (k, v.clone())),
                    _ => None,
                })
                .collect(),
            other => {
                return Err(self.parse_error(
                    &cmd,
                    ParseError::new(1, format!("unexpected reply {other:?}")),
                ))
            }
        };
        let strings = |name: &str| -> Vec<String> {
            fields
                .iter()
                .find(|(k, _)| k == name)
                .and_then(|(_, v)| Vec::<String>::from_redis_value(v.clone()).ok())
                .unwrap_or_default()
        };
        Ok(Some(AclUser {
            password_hashes: strings("passwords"),
            nopass: strings("flags").iter().any(|f| f == "nopass"),
        }))
    }

    /// `ACL SETUSER user >password` (`add`) or `<password` (remove). The password never
    /// appears in an error: the command is described without it.
    pub async fn acl_password(
        &self,
        user: &str,
        password: &Secret,
        add: bool,
    ) -> Result<(), AdminError> {
        let op = if add { '>' } else { '<' };
        let mut cmd = redis::cmd("ACL");
        cmd.arg("SETUSER")
            .arg(user)
            .arg(format!("{op}{}", password.expose()));
        let what = format!("ACL SETUSER {user} {op}***");
        self.call_described::<redis::Value>(&cmd, what)
            .await
            .map(|_| ())
    }

    /// `CONFIG SET param secret` for a secret value (`masterauth`), described without it.
    pub async fn config_set_secret(&self, param: &str, value: &Secret) -> Result<(), AdminError> {
        let mut cmd = redis::cmd("CONFIG");
        cmd.arg("SET").arg(param).arg(value.expose());
        let what = format!("CONFIG SET {param} ***");
        self.call_described::<redis::Value>(&cmd, what)
            .await
            .map(|_| ())
    }

    /// `CONFIG GET param` of a secret value, as a [`Secret`].
    pub async fn config_get_secret(&self, param: &str) -> Result<Option<Secret>, AdminError> {
        Ok(self.config_get(param).await?.map(Secret::new))
    }

    /// Like `call`, but errors name the command as `what` (which leaves secrets out).
    pub(crate) async fn call_described<T: FromRedisValue>(
        &self,
        cmd: &redis::Cmd,
        what: String,
    ) -> Result<T, AdminError> {
        self.call(cmd).await.map_err(|e| match e {
            AdminError::Command { node, source, .. } => AdminError::Command {
                node,
                command: what,
                source,
            },
            AdminError::Timeout { node, timeout, .. } => AdminError::Timeout {
                node,
                command: what,
                timeout,
            },
            AdminError::Parse { node, source, .. } => AdminError::Parse {
                node,
                command: what,
                source,
            },
            other => other,
        })
    }
}

/// What `ACL GETUSER` says of a user's passwords.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AclUser {
    /// SHA-256 of each password, lowercase hex.
    pub password_hashes: Vec<String>,
    /// Any password (or none) is accepted.
    pub nopass: bool,
}

pub(crate) fn cluster(args: &[&str]) -> redis::Cmd {
    let mut cmd = redis::cmd("CLUSTER");
    for a in args {
        cmd.arg(*a);
    }
    cmd
}

/// The command as it would be typed, for error messages (admin commands carry no secrets).
fn describe(cmd: &redis::Cmd) -> String {
    cmd.args_iter()
        .map(|a| match a {
            redis::Arg::Simple(b) => String::from_utf8_lossy(b).into_owned(),
            _ => "<arg>".to_owned(),
        })
        .collect::<Vec<_>>()
        .join(" ")
}
