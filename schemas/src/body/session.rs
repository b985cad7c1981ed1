//! `session.started` and `session.ended`: the bounds of a session.
//!
//! The proxy emits [`SessionStarted`] once the client's startup is understood (first event,
//! seq 0, unless authentication failed first) and [`SessionEnded`] last; the chain builder's
//! `end` is the only way to emit `session.ended`, because that event carries the seal.
//!
//! Not here: the session state machine (proxy), the seal itself (`seal`).

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Body of `session.started`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SessionStarted {
    /// The client's self-reported application (Postgres `application_name`, SSH client
    /// version string, HTTP `User-Agent`).
    #[serde(deserialize_with = "crate::nullable::deserialize")]
    pub application_name: Option<String>,
    /// Whether the client connection is encrypted: TLS for Postgres and HTTP; always true for
    /// SSH, whose transport is encrypted.
    pub tls: bool,
    /// Protocol-specific startup parameters: Postgres startup parameters (`database`,
    /// `user`, ...), the SSH channel request, HTTP host. Never secrets.
    pub parameters: BTreeMap<String, String>,
}

/// Body of `session.ended`: why the session ended and what happened in it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SessionEnded {
    /// Why the session ended.
    pub reason: EndReason,
    /// Totals over the session.
    pub counters: SessionCounters,
}

/// Why a session ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum EndReason {
    /// The client disconnected or said goodbye (Postgres `Terminate`, SSH disconnect).
    ClientClosed,
    /// The upstream closed the connection.
    UpstreamClosed,
    /// An operator killed the session (a control-topic kill).
    Killed,
    /// A failure ended it; the preceding `operation.failed` says which.
    Error,
    /// The proxy shut down.
    Shutdown,
}

/// Totals over one session.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SessionCounters {
    /// Commands received (one per `command.received`).
    pub commands: u64,
    /// Commands blocked by policy or by a denied or expired approval.
    pub blocked: u64,
    /// Bytes received from the client.
    pub bytes_in: u64,
    /// Bytes sent to the client.
    pub bytes_out: u64,
}
