//! Admin connections kept across engine passes. A pass every ~100 ms must not pay a TCP
//! connect and AUTH per node; a client that failed is dropped and reconnected next time.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use redis_stretch_admin::{AdminClient, AdminError, Dial, NodeAddr, Secret, Tls};

use redis_stretch_decide::PasswordRef;
use redis_stretch_model::Instance;

pub struct Pool {
    password: Option<Secret>,
    /// During a password rotation, the password the current one replaces: instances that do
    /// not accept the current one yet are reached with it.
    previous: Option<Secret>,
    /// Which password each cached client authenticated with.
    uses: Mutex<HashMap<NodeAddr, PasswordRef>>,
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
            previous: None,
            uses: Mutex::new(HashMap::new()),
            tls: None,
            timeout,
            clients: Mutex::new(HashMap::new()),
            names: Mutex::new(HashMap::new()),
        }
    }

    /// Also try `previous` where the password is refused (a rotation under way).
    pub fn with_previous(mut self, previous: Option<Secret>) -> Self {
        self.previous = previous.filter(|p| Some(p) != self.password.as_ref());
        self
    }

    pub fn previous(&self) -> Option<&Secret> {
        self.previous.as_ref()
    }

    /// The password `which` names, if the engine has it.
    pub fn secret(&self, which: PasswordRef) -> Option<&Secret> {
        match which {
            PasswordRef::Current => self.password.as_ref(),
            PasswordRef::Previous => self.previous.as_ref(),
        }
    }

    /// Which password the cached client of `addr` authenticated with.
    pub fn uses(&self, addr: &NodeAddr) -> Option<PasswordRef> {
        self.uses.lock().ok().and_then(|m| m.get(addr).copied())
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
        let (c, used) = match AdminClient::connect_via(
            addr,
            dial,
            self.password.as_ref(),
            self.timeout,
        )
        .await
        {
            Ok(c) => (c, PasswordRef::Current),
            // Mid-rotation the instance may accept only the previous password yet.
            Err(e) if e.is_auth_failure() && self.previous.is_some() => {
                let c = AdminClient::connect_via(addr, dial, self.previous.as_ref(), self.timeout)
                    .await
                    .map_err(|_| e)?;
                (c, PasswordRef::Previous)
            }
            Err(e) => return Err(e),
        };
        if let Ok(mut m) = self.clients.lock() {
            m.insert(addr.clone(), c.clone());
        }
        if let Ok(mut m) = self.uses.lock() {
            m.insert(addr.clone(), used);
        }
        Ok(c)
    }

    /// Forget the client of a node that failed, so the next call reconnects.
    pub fn discard(&self, addr: &NodeAddr) {
        if let Ok(mut m) = self.clients.lock() {
            m.remove(addr);
        }
        if let Ok(mut m) = self.uses.lock() {
            m.remove(addr);
        }
    }
}
