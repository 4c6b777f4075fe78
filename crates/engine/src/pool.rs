//! Admin connections kept across engine passes. A pass every ~100 ms must not pay a TCP
//! connect and AUTH per node; a client that failed is dropped and reconnected next time.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use redis_stretch_admin::{AdminClient, AdminError, NodeAddr, Secret};

pub struct Pool {
    password: Option<Secret>,
    timeout: Duration,
    clients: Mutex<HashMap<NodeAddr, AdminClient>>,
}

impl Pool {
    pub fn new(password: Option<Secret>, timeout: Duration) -> Self {
        Self {
            password,
            timeout,
            clients: Mutex::new(HashMap::new()),
        }
    }

    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    pub fn password(&self) -> Option<&Secret> {
        self.password.as_ref()
    }

    pub async fn get(&self, addr: &NodeAddr) -> Result<AdminClient, AdminError> {
        if let Some(c) = self.clients.lock().ok().and_then(|m| m.get(addr).cloned()) {
            return Ok(c);
        }
        let c = AdminClient::connect(addr, self.password.as_ref(), self.timeout).await?;
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
