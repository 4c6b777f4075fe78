#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! TLS to a real `redis-server` (tls-port only, as the operator renders it), with a CA and a
//! certificate made by `openssl` for this test: the engine's connections check the chain *and*
//! the name. The certificate names `localhost` only, as a pod's names its DNS name but not its
//! IP: reached under that name it is trusted; at its IP, with another CA, or without TLS, not.

use std::net::TcpListener;
use std::path::Path;
use std::process::{Child, Command};
use std::time::{Duration, Instant};

use redis_stretch_admin::{NodeAddr, Tls};
use redis_stretch_engine::{Instance, Pool};

fn openssl(dir: &Path, args: &[&str]) {
    let out = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .expect("openssl not found: run scripts/deps.sh");
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A CA, and a server certificate for `localhost` signed by it.
fn certificates(dir: &Path, ca: &str) {
    openssl(
        dir,
        &[
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "1",
            "-subj",
            &format!("/CN={ca}"),
            "-keyout",
            &format!("{ca}.key"),
            "-out",
            &format!("{ca}.crt"),
        ],
    );
    openssl(
        dir,
        &[
            "req",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-subj",
            "/CN=localhost",
            "-keyout",
            "server.key",
            "-out",
            "server.csr",
        ],
    );
    std::fs::write(dir.join("san.ext"), "subjectAltName=DNS:localhost\n").unwrap();
    openssl(
        dir,
        &[
            "x509",
            "-req",
            "-in",
            "server.csr",
            "-CA",
            &format!("{ca}.crt"),
            "-CAkey",
            &format!("{ca}.key"),
            "-CAcreateserial",
            "-days",
            "1",
            "-extfile",
            "san.ext",
            "-out",
            "server.crt",
        ],
    );
}

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

async fn ping(pool: &Pool, addr: &NodeAddr) -> Result<(), String> {
    let c = pool.get(addr).await.map_err(|e| e.to_string())?;
    c.ping().await.map_err(|e| e.to_string())
}

#[tokio::test]
async fn tls_connections_check_the_chain_and_the_name() {
    let dir = tempfile::tempdir().unwrap();
    certificates(dir.path(), "ca");
    let other = tempfile::tempdir().unwrap();
    certificates(other.path(), "other-ca");
    let port = free_port();
    let d = dir.path().display().to_string();
    let _server = Server(
        Command::new("redis-server")
            .args([
                "--port",
                "0",
                "--tls-port",
                &port.to_string(),
                "--bind",
                "127.0.0.1",
            ])
            .args([
                "--tls-cert-file",
                &format!("{d}/server.crt"),
                "--tls-key-file",
                &format!("{d}/server.key"),
            ])
            .args([
                "--tls-ca-cert-file",
                &format!("{d}/ca.crt"),
                "--tls-auth-clients",
                "optional",
            ])
            .args([
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                &d,
                "--logfile",
                &format!("{d}/redis.log"),
            ])
            .spawn()
            .expect("redis-server not found: run scripts/deps.sh"),
    );
    let addr = NodeAddr::new("127.0.0.1", port);
    let ca = Tls::new(std::fs::read(dir.path().join("ca.crt")).unwrap());
    let as_pod = Instance {
        name: "seed-dc-a-0".into(),
        zone: "dc-a".into(),
        addr: addr.clone(),
        server_name: Some("localhost".into()),
        restart_for: None,
        leaving: false,
    };

    let pool = Pool::new(None, Duration::from_secs(1)).with_tls(Some(ca.clone()));
    pool.learn(std::slice::from_ref(&as_pod));
    let start = Instant::now();
    loop {
        match ping(&pool, &addr).await {
            Ok(()) => break,
            Err(e) if start.elapsed() > Duration::from_secs(10) => panic!("TLS by name: {e}"),
            Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
        }
    }

    // Each refusal for its own reason: not merely an error, but the check that failed.
    let by_ip = Pool::new(None, Duration::from_secs(1)).with_tls(Some(ca));
    let e = ping(&by_ip, &addr).await.unwrap_err();
    assert!(
        e.contains("certificate not valid for name \"127.0.0.1\""),
        "the certificate does not name 127.0.0.1: {e}"
    );

    let wrong = Tls::new(std::fs::read(other.path().join("other-ca.crt")).unwrap());
    let untrusted = Pool::new(None, Duration::from_secs(1)).with_tls(Some(wrong));
    untrusted.learn(std::slice::from_ref(&as_pod));
    let e = ping(&untrusted, &addr).await.unwrap_err();
    assert!(e.contains("UnknownIssuer"), "signed by another CA: {e}");

    let plain = Pool::new(None, Duration::from_secs(1));
    // Plain text to the TLS port: the server drops the connection at the first bytes that
    // are no TLS handshake (`--port 0`: there is no plain-text port).
    let e = ping(&plain, &addr).await.unwrap_err();
    assert!(
        ["reset", "closed", "broken pipe", "end of file", "EOF"]
            .iter()
            .any(|m| e.to_lowercase().contains(&m.to_lowercase())),
        "no plain-text port: {e}"
    );
}

struct NoPlatform;
impl redis_stretch_engine::Platform for NoPlatform {
    fn instances(&self) -> Result<Vec<Instance>, String> {
        Ok(Vec::new())
    }
    fn held_zone(&self) -> Option<String> {
        None
    }
}

/// A renewed certificate (here: one from another CA, so that which one a server presents is
/// plain to see) written over the files a running server uses: the server keeps presenting the
/// old one until the engine's `ReloadTls` (`CONFIG SET tls-cert-file <same path>` ..., Redis
/// 7.0.1+), then new connections get the new one, and a connection opened before keeps its
/// session.
#[tokio::test]
async fn reload_tls_loads_renewed_certificate_files_for_new_connections() {
    let old = tempfile::tempdir().unwrap();
    certificates(old.path(), "ca");
    let new = tempfile::tempdir().unwrap();
    certificates(new.path(), "other-ca");
    let live = tempfile::tempdir().unwrap();
    let put = |from: &Path, ca: &str| {
        for (src, dst) in [
            ("server.crt", "server.crt"),
            ("server.key", "server.key"),
            (&format!("{ca}.crt") as &str, "ca.crt"),
        ] {
            // As the kubelet does: new files renamed into place.
            let tmp = live.path().join(format!("{dst}.tmp"));
            std::fs::copy(from.join(src), &tmp).unwrap();
            std::fs::rename(&tmp, live.path().join(dst)).unwrap();
        }
    };
    put(old.path(), "ca");
    let port = free_port();
    let d = live.path().display().to_string();
    let _server = Server(
        Command::new("redis-server")
            .args(["--port", "0", "--tls-port", &port.to_string()])
            .args(["--bind", "127.0.0.1"])
            .args(["--tls-cert-file", &format!("{d}/server.crt")])
            .args(["--tls-key-file", &format!("{d}/server.key")])
            .args(["--tls-ca-cert-file", &format!("{d}/ca.crt")])
            .args(["--tls-auth-clients", "optional", "--save", ""])
            .args(["--appendonly", "no", "--dir", &d])
            .args(["--logfile", &format!("{d}/redis.log")])
            .spawn()
            .expect("redis-server not found: run scripts/deps.sh"),
    );
    let addr = NodeAddr::new("127.0.0.1", port);
    let inst = Instance {
        name: "seed-dc-a-0".into(),
        zone: "dc-a".into(),
        addr: addr.clone(),
        server_name: Some("localhost".into()),
        restart_for: None,
        leaving: false,
    };
    let trusting = |dir: &Path, ca: &str| {
        let p = Pool::new(None, Duration::from_secs(1)).with_tls(Some(Tls::new(
            std::fs::read(dir.join(format!("{ca}.crt"))).unwrap(),
        )));
        p.learn(std::slice::from_ref(&inst));
        p
    };
    let before = trusting(old.path(), "ca");
    let start = Instant::now();
    while let Err(e) = ping(&before, &addr).await {
        assert!(start.elapsed() < Duration::from_secs(10), "{e}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    put(new.path(), "other-ca");
    let e = ping(&trusting(new.path(), "other-ca"), &addr)
        .await
        .unwrap_err();
    assert!(
        e.contains("UnknownIssuer"),
        "the files alone change nothing: {e}"
    );

    let reload = redis_stretch_engine::decide::Decision {
        steps: vec![vec![redis_stretch_engine::Action {
            node: addr.clone(),
            node_id: "0".repeat(40),
            why: "test".into(),
            kind: redis_stretch_engine::ActionKind::ReloadTls,
        }]],
        ..Default::default()
    };
    let results = redis_stretch_engine::act(&reload, &before, &NoPlatform).await;
    assert!(results.iter().all(|r| r.ok), "{results:?}");

    ping(&trusting(new.path(), "other-ca"), &addr)
        .await
        .expect("a new connection gets the renewed certificate");
    let e = ping(&trusting(old.path(), "ca"), &addr).await.unwrap_err();
    assert!(e.contains("UnknownIssuer"), "{e}");
    ping(&before, &addr)
        .await
        .expect("the connection opened before keeps its session");
}
