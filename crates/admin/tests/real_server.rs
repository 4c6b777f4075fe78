//! `INFO server` from a real server on loopback: the binary named by the flavour seam, stopped
//! when the guard drops (even when the test fails).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use redis_stretch_admin::{AdminClient, MigrationMethod, NodeAddr, ServerFlavour};

/// Kills and reaps the server it holds on drop: only the process this test started.
struct Server(Child);
impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

#[tokio::test]
async fn info_server_reports_the_server_and_its_version() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    // The server under test (scripts/test.sh runs the suite once per server).
    let flavour = std::env::var("REDIS_STRETCH_SERVER")
        .ok()
        .and_then(|s| ServerFlavour::parse(&s))
        .unwrap_or_default();
    // Its binary: the flavour's variable (REDIS_SERVER, VALKEY_SERVER: the suite's runs on
    // other versions set it, scripts/server-path.sh), else the PATH's.
    let binary = std::env::var(flavour.server_env_var())
        .unwrap_or_else(|_| flavour.server_binary().to_owned());
    let _server = Server(
        Command::new(&binary)
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no"])
            .arg("--dir")
            .arg(dir.path())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("{binary} not found ({e}): run scripts/deps.sh")),
    );
    let addr = NodeAddr::new("127.0.0.1", port);
    let deadline = Instant::now() + Duration::from_secs(10);
    let client = loop {
        match AdminClient::connect(&addr, None, Duration::from_secs(1)).await {
            Ok(c) if c.ping().await.is_ok() => break c,
            _ if Instant::now() < deadline => tokio::time::sleep(Duration::from_millis(50)).await,
            other => panic!("{binary} on {addr} never answered: {other:?}"),
        }
    };
    let info = client.info_server().await.unwrap();
    assert_eq!(info.flavour, flavour, "{info:?}");
    assert!(
        info.version.starts_with(|c: char| c.is_ascii_digit()),
        "{info:?}"
    );
    assert!(info.major().is_some_and(|m| m >= 6), "{info:?}");
    // The slot-migration method its version implies is the one whose commands it has
    // (docs/REDIS-FACTS.md, "Slot migration by server version"): checked on each of the
    // suite's four versions.
    let atomic = client.has_command("cluster|migrateslots").await.unwrap();
    let import = client.has_command("cluster|migration").await.unwrap();
    assert!(client.has_command("cluster|setslot").await.unwrap());
    assert!(!client.has_command("cluster|nosuchthing").await.unwrap());
    let expected = match (atomic, import) {
        (true, false) => MigrationMethod::Atomic,
        (false, true) => MigrationMethod::RedisImport,
        (false, false) => MigrationMethod::Classic,
        (true, true) => panic!("{info:?} has both atomic migrations"),
    };
    assert_eq!(info.migration_method(), expected, "{info:?}");
}
