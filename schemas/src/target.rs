//! [`Target`] and [`Protocol`]: what was reached — the upstream named on every event.
//!
//! A target is one configured upstream (a database, a host, a cluster, an HTTP service); the
//! proxy resolves it when a session starts and the chain builder stamps it on every event.
//!
//! Invariants: `name` is the configured target name, not an address (addresses change; names
//! are what policies and queries refer to). `Protocol` serializes lowercase.
//!
//! Not here: target configuration and upstream addresses (proxy `config/`).

use std::fmt;
use std::str::FromStr;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// The upstream a session reaches.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Target {
    /// The configured target name, e.g. `orders-db`.
    pub name: String,
    /// The protocol spoken to it.
    pub protocol: Protocol,
}

/// A protocol blastwall speaks.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum Protocol {
    /// The PostgreSQL frontend/backend protocol.
    Postgres,
    /// SSH (shells, exec, scp, sftp).
    Ssh,
    /// The Kubernetes API (HTTP underneath, with Kubernetes verbs and resources).
    Kubernetes,
    /// Plain HTTP services.
    Http,
    /// blastwall's own archive: the recorder's maintenance of it (retention).
    Archive,
}

/// An unknown protocol name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown protocol `{0}`: expected postgres, ssh, kubernetes, http or archive")]
pub struct UnknownProtocol(pub String);

impl Protocol {
    /// Every protocol, in declaration order.
    pub const ALL: [Protocol; 5] = [
        Protocol::Postgres,
        Protocol::Ssh,
        Protocol::Kubernetes,
        Protocol::Http,
        Protocol::Archive,
    ];

    /// The wire name: `postgres`, `ssh`, `kubernetes`, `http` or `archive`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Protocol::Postgres => "postgres",
            Protocol::Ssh => "ssh",
            Protocol::Kubernetes => "kubernetes",
            Protocol::Http => "http",
            Protocol::Archive => "archive",
        }
    }
}

impl fmt::Display for Protocol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Protocol {
    type Err = UnknownProtocol;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        Protocol::ALL
            .into_iter()
            .find(|p| p.as_str() == text)
            .ok_or_else(|| UnknownProtocol(text.to_owned()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wire_names_match_serde() {
        for protocol in Protocol::ALL {
            let json = serde_json::to_string(&protocol).unwrap();
            assert_eq!(json, format!("\"{}\"", protocol.as_str()));
            assert_eq!(protocol.as_str().parse::<Protocol>(), Ok(protocol));
            assert_eq!(serde_json::from_str::<Protocol>(&json).unwrap(), protocol);
        }
        assert!("Postgres".parse::<Protocol>().is_err());
    }
}
