//! The proxy's part of the configuration file: the Postgres listener and the targets.
//!
//! Serde types (`*Config`, `deny_unknown_fields`, a doc comment per field) are read from the
//! file and checked once into runtime types (`Target`, `PostgresListener`) that the data path
//! uses. Secrets are never in the file: a target names the environment variable or the file
//! that holds its password, and the value is read at start and never logged.

pub mod ssh;
pub mod target;

use std::net::SocketAddr;
use std::path::PathBuf;

use bytesize::ByteSize;
use serde::Deserialize;

pub use ssh::{SshListenerConfig, SshSettings, SshTarget};
pub use target::{Secret, SecretSource, Target, TargetConfig, TargetTls, UpstreamTls};

/// `[postgres]`: the Postgres listener.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PostgresListenerConfig {
    /// Address to listen on.
    #[serde(default = "default_postgres_listen")]
    pub listen: SocketAddr,
    /// PEM certificate chain for TLS. Without it blastwall generates a self-signed certificate
    /// in the data directory (fine for local use; clients then need `sslmode=require`).
    #[serde(default)]
    pub tls_cert: Option<PathBuf>,
    /// PEM private key for `tls_cert`.
    #[serde(default)]
    pub tls_key: Option<PathBuf>,
    /// Accept a token over a connection without TLS when the client is on loopback.
    /// For local development only: a token on the wire in clear text is a credential leak.
    #[serde(default)]
    pub allow_plaintext_on_loopback: bool,
    /// The largest message a client may send (a Query, a Bind with its parameters, CopyData).
    #[serde(default = "default_max_message")]
    pub max_message_size: ByteSize,
    /// Response rows recorded per statement; past this the result event is marked truncated.
    #[serde(default = "default_record_rows_limit")]
    pub record_rows_limit: ByteSize,
}

impl Default for PostgresListenerConfig {
    fn default() -> Self {
        PostgresListenerConfig {
            listen: default_postgres_listen(),
            tls_cert: None,
            tls_key: None,
            allow_plaintext_on_loopback: false,
            max_message_size: default_max_message(),
            record_rows_limit: default_record_rows_limit(),
        }
    }
}

fn default_postgres_listen() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 6432))
}

fn default_max_message() -> ByteSize {
    ByteSize::mib(64)
}

fn default_record_rows_limit() -> ByteSize {
    ByteSize::mib(1)
}
