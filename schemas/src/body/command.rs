//! `command.received`: what a client asked for, before anything is decided.
//!
//! The proxy emits it for every statement, exec request or API call, before policy runs; in
//! `durable` mode the command is not forwarded until this event is on disk. The `policy.decided`,
//! `approval.requested` and `result.returned` events that follow refer to it by its `seq`.
//!
//! Invariants: `text` is the command as the client sent it; `summary` is `None` exactly when
//! the proxy could not parse it (and then policy does not allow it by default).
//!
//! Not here: SQL parsing and fact extraction (proxy `postgres/sql`), policy (proxy `policy/`).

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::target::Protocol;

/// Body of `command.received`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CommandReceived {
    /// The protocol the command arrived in.
    pub protocol: Protocol,
    /// The command text: SQL, an SSH exec command line, `VERB /path` for HTTP.
    pub text: String,
    /// What the parser understood, or `None` when it could not parse the command.
    #[serde(deserialize_with = "crate::nullable::deserialize")]
    pub summary: Option<CommandSummary>,
    /// Bind parameters (Postgres extended protocol), in order; `None` is SQL NULL.
    pub parameters: Vec<Option<String>>,
}

/// The facts the parser extracted from a command, as the policy sees them.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CommandSummary {
    /// The policy action, e.g. `sql:select`, `sql:ddl`, `ssh:exec`, `k8s:delete`, `http:POST`;
    /// `ssh:typed-line` marks a line reconstructed, best effort, from a shell's keystrokes
    /// (recorded, not decided: the shell was).
    pub action: String,
    /// Objects read: tables, paths, Kubernetes resources.
    pub reads: Vec<String>,
    /// Objects written (inserted, updated, deleted, altered).
    pub writes: Vec<String>,
    /// Functions called.
    pub functions: Vec<String>,
    /// How many statements the text contains.
    pub statements: u32,
}
