//! The smallest RESP client that does what a side's writer needs and redis-rs cannot: connect
//! *from* a chosen source address (a client inside one DC of the lab: the kernel's packet filter
//! cuts it off exactly as it cuts that DC's instances), with every step bounded by a timeout.
//! One command, or a SET + WAIT pipeline, at a time; replies are one line or a bulk string.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use redis_stretch_admin::{NodeAddr, Secret};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpSocket, TcpStream};
use tokio::time::timeout;

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Reply {
    Ok(String),
    Err(String),
    Int(i64),
    Bulk(Option<Vec<u8>>),
}

#[derive(Debug, thiserror::Error)]
pub enum RespError {
    #[error("timed out")]
    Timeout,
    #[error("{0}")]
    Io(#[from] std::io::Error),
    #[error("bad address {0}")]
    Addr(String),
    #[error("protocol: {0}")]
    Protocol(String),
}

pub struct RespConn {
    stream: BufReader<TcpStream>,
    limit: Duration,
}

fn encode(args: &[&str], out: &mut Vec<u8>) {
    out.extend_from_slice(format!("*{}\r\n", args.len()).as_bytes());
    for a in args {
        out.extend_from_slice(format!("${}\r\n", a.len()).as_bytes());
        out.extend_from_slice(a.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
}

impl RespConn {
    /// Connect to `to` from `source` (port chosen by the kernel), authenticate when a password
    /// is given; every step within `limit`.
    pub async fn connect(
        source: IpAddr,
        to: &NodeAddr,
        password: Option<&Secret>,
        limit: Duration,
    ) -> Result<Self, RespError> {
        let ip: IpAddr = to
            .host
            .parse()
            .map_err(|_| RespError::Addr(to.to_string()))?;
        let socket = match ip {
            IpAddr::V4(_) => TcpSocket::new_v4()?,
            IpAddr::V6(_) => TcpSocket::new_v6()?,
        };
        socket.bind(SocketAddr::new(source, 0))?;
        let stream = timeout(limit, socket.connect(SocketAddr::new(ip, to.port)))
            .await
            .map_err(|_| RespError::Timeout)??;
        stream.set_nodelay(true)?;
        let mut c = Self {
            stream: BufReader::new(stream),
            limit,
        };
        if let Some(p) = password {
            match c.call(&[&["AUTH", p.expose()]]).await?.pop() {
                Some(Reply::Ok(_)) => {}
                other => return Err(RespError::Protocol(format!("AUTH: {other:?}"))),
            }
        }
        Ok(c)
    }

    /// Send `commands` as one pipeline and read one reply each, all within the limit.
    pub async fn call(&mut self, commands: &[&[&str]]) -> Result<Vec<Reply>, RespError> {
        let mut buf = Vec::new();
        for c in commands {
            encode(c, &mut buf);
        }
        let limit = self.limit;
        timeout(limit, async {
            self.stream.get_mut().write_all(&buf).await?;
            let mut out = Vec::with_capacity(commands.len());
            for _ in commands {
                out.push(self.read_reply().await?);
            }
            Ok(out)
        })
        .await
        .map_err(|_| RespError::Timeout)?
    }

    async fn read_reply(&mut self) -> Result<Reply, RespError> {
        let mut line = String::new();
        if self.stream.read_line(&mut line).await? == 0 {
            return Err(RespError::Io(std::io::ErrorKind::UnexpectedEof.into()));
        }
        let line = line.trim_end_matches(['\r', '\n']);
        let (kind, rest) = line.split_at(line.len().min(1));
        match kind {
            "+" => Ok(Reply::Ok(rest.to_owned())),
            "-" => Ok(Reply::Err(rest.to_owned())),
            ":" => rest
                .parse()
                .map(Reply::Int)
                .map_err(|_| RespError::Protocol(line.to_owned())),
            "$" => {
                let n: i64 = rest
                    .parse()
                    .map_err(|_| RespError::Protocol(line.to_owned()))?;
                let Ok(n) = usize::try_from(n) else {
                    return Ok(Reply::Bulk(None));
                };
                let mut data = vec![0u8; n + 2];
                self.stream.read_exact(&mut data).await?;
                data.truncate(n);
                Ok(Reply::Bulk(Some(data)))
            }
            _ => Err(RespError::Protocol(line.to_owned())),
        }
    }
}

/// `MOVED 1234 127.0.1.3:7002` → the address.
pub fn moved_to(err: &str) -> Option<NodeAddr> {
    let rest = err.strip_prefix("MOVED ")?;
    let addr = rest.split_whitespace().nth(1)?;
    let (host, port) = addr.rsplit_once(':')?;
    Some(NodeAddr::new(host, port.parse().ok()?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commands_are_encoded_as_resp_arrays() {
        let mut b = Vec::new();
        encode(&["SET", "k", "v"], &mut b);
        assert_eq!(b, b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$1\r\nv\r\n");
    }

    #[test]
    fn moved_errors_name_the_new_owner() {
        assert_eq!(
            moved_to("MOVED 3999 127.0.1.3:7002"),
            Some(NodeAddr::new("127.0.1.3", 7002))
        );
        assert_eq!(moved_to("NOREPLICAS Not enough good replicas"), None);
    }
}
