//! `operation.failed`: something went wrong that is not a policy decision.
//!
//! Any part of the proxy emits it when a step fails — a malformed message, an unreachable
//! upstream, an internal bug — classified by fault as in STYLE.md (client, upstream, internal),
//! so that queries can tell hostile or broken clients from outages from bugs.
//!
//! Invariants: `message` is for auditors; for internal faults it may be more detailed than what
//! the client was told, but it never holds secrets or unmasked row values.
//!
//! Not here: the client-facing error (the protocol's own reply, built in the proxy).

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Body of `operation.failed`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct OperationFailed {
    /// Whose fault it was.
    pub fault: Fault,
    /// Which step of the data path failed.
    pub stage: Stage,
    /// What happened.
    pub message: String,
}

/// Whose fault a failure was.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Fault {
    /// The client sent something wrong (malformed, oversized, unsupported).
    Client,
    /// The upstream or the environment failed (unreachable, timed out, refused).
    Upstream,
    /// A bug in blastwall.
    Internal,
}

/// The step of the data path at which a failure happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Stage {
    /// Accepting the connection and TLS.
    Connect,
    /// Protocol startup and negotiation (Postgres startup, SSH key exchange).
    Startup,
    /// Checking the token.
    Authentication,
    /// Decoding or parsing a command.
    Parse,
    /// Evaluating policy.
    Policy,
    /// Requesting or awaiting an approval.
    Approval,
    /// Connecting to or exchanging with the upstream.
    Upstream,
    /// Masking a result.
    Masking,
    /// Relaying bytes between client and upstream.
    Relay,
    /// Recording events.
    Recording,
}
