//! TLS to Redis: trust the CA that signed the instances' certificates, and name the server the
//! certificate is checked against.
//!
//! On Kubernetes instances are reached at pod IPs, while their certificates name the pods' DNS
//! names (`<pod>.<headless service>.<namespace>.svc`): the connection goes to that name, which
//! the headless Service resolves to the same pod, so the certificate is checked for real —
//! chain *and* name — with no "accept any host name" switch.

use std::fmt;

/// The CA certificate(s), PEM. Instances present no client certificate to the engine: Redis
/// runs with `tls-auth-clients optional` and the password guards access.
#[derive(Clone, PartialEq, Eq)]
pub struct Tls {
    ca_pem: Vec<u8>,
}

impl Tls {
    pub fn new(ca_pem: impl Into<Vec<u8>>) -> Self {
        Self {
            ca_pem: ca_pem.into(),
        }
    }
    pub fn ca_pem(&self) -> &[u8] {
        &self.ca_pem
    }
}

impl fmt::Debug for Tls {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Tls(CA: {} bytes of PEM)", self.ca_pem.len())
    }
}

/// How to reach one instance beyond its address: over TLS or not, and under which name.
#[derive(Clone, Copy, Debug, Default)]
pub struct Dial<'a> {
    pub tls: Option<&'a Tls>,
    /// The name its certificate carries, connected to instead of the address's host.
    pub server_name: Option<&'a str>,
}
