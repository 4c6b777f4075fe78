use std::fmt;

/// A password. Its `Debug` and `Display` never show it, so it cannot leak into logs, status or
/// JSON output by accident; [`Secret::expose`] is the one explicit way out.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(s: impl Into<String>) -> Self {
        Self(s.into())
    }
    pub fn expose(&self) -> &str {
        &self.0
    }
    /// SHA-256, lowercase hex: how `ACL GETUSER` lists a user's passwords, so the engine can
    /// tell which of its passwords an instance accepts without sending or reading any.
    pub fn sha256_hex(&self) -> String {
        ring::digest::digest(&ring::digest::SHA256, self.0.as_bytes())
            .as_ref()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect()
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_hash_is_the_one_acl_getuser_shows() {
        // `ACL SETUSER u >foo` then `ACL GETUSER u` lists this for "foo".
        assert_eq!(
            super::Secret::new("foo").sha256_hex(),
            "2c26b46b68ffc68ff99b453c1d30413413422d706483bfa0f98a5e886266e7ae"
        );
    }
}
