//! Admin connections kept across engine passes. A pass every ~100 ms must not pay a TCP
//! connect and AUTH per node; a client that failed is dropped and reconnected next time.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use redis_stretch_admin::{AdminClient, AdminError, Dial, NodeAddr, Secret, Tls};

use redis_stretch_model::Instance;

pub struct Pool {
    password: Option<Secret>,
    tls: Option<Tls>,
    timeout: Duration,
    clients: Mutex<HashMap<NodeAddr, AdminClient>>,
    /// The TLS server name of each address, learnt from the platform's instances.
    names: Mutex<HashMap<NodeAddr, String>>,
}

impl Pool {
    pub fn new(password: Option<Secret>, timeout: Duration) -> Self {
        Self {
            password,
            tls: None,
            timeout,
            clients: Mutex::new(HashMap::new()),
            names: Mutex::new(HashMap::new()),
        }
    }

    /// Connect over TLS, trusting `tls`'s CA.
    pub fn with_tls(mut self, tls: Option<Tls>) -> Self {
        self.tls = tls;
        self
    }

    /// Remember under which name each instance's certificate is checked (its address may be
    /// an IP the certificate does not carry).
    pub fn learn(&self, instances: &[Instance]) {
        if self.tls.is_none() {
            return;
        }
        if let Ok(mut m) = self.names.lock() {
            for i in instances {
                if let Some(n) = &i.server_name {
                    m.insert(i.addr.clone(), n.clone());
                }
            }
        }
    }

    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    pub fn password(&self) -> Option<&Secret> {
        self.password.as_ref()
    }

    pub fn tls(&self) -> Option<&Tls> {
        self.tls.as_ref()
    }

    pub async fn get(&self, addr: &NodeAddr) -> Result<AdminClient, AdminError> {
        if let Some(c) = self.clients.lock().ok().and_then(|m| m.get(addr).cloned()) {
            return Ok(c);
        }
        let name = self.names.lock().ok().and_then(|m| m.get(addr).cloned());
        let dial = Dial {
            tls: self.tls.as_ref(),
            server_name: name.as_deref(),
        };
        let c = AdminClient::connect_via(addr, dial, self.password.as_ref(), self.timeout).await?;
        if let Ok(mut m) = self.clients.lock() {
            m.insert(addr.clone(), c.clone());
        }
        Ok(c)
    }

    /// Forget the client of a node that failed, so the next call reconnects.
    pub fn discard(&self, addr: &NodeAddr) {
        if let Ok(mut m) = self.clients.lock() {
            m.remove(addr);
        }
    }
}
