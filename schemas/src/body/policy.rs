//! `policy.decided`: the verdict on one command.
//!
//! The proxy's policy engine emits it right after the `command.received` it judges (named by
//! `command_seq`). A verdict of `approval_required` is followed by `approval.requested`.
//!
//! Invariants: `policies` lists the ids of the policies that decided (the matching `forbid`s
//! for a block, the `permit`s for an allow); it is empty when nothing matched (a default block).
//!
//! Not here: the Cedar engine and policy store (proxy `policy/`).

use std::fmt;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Body of `policy.decided`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PolicyDecided {
    /// The `seq` of the `command.received` event this verdict is about.
    pub command_seq: u64,
    /// The verdict.
    pub verdict: Verdict,
    /// Ids of the deciding policies; empty for a default block.
    pub policies: Vec<String>,
    /// The message shown to the client, if any.
    #[serde(deserialize_with = "crate::nullable::deserialize")]
    pub message: Option<String>,
}

/// What the policy decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Verdict {
    /// Forward the command.
    Allow,
    /// Refuse the command with a message.
    Block,
    /// Hold the command until a human decides.
    ApprovalRequired,
}

impl Verdict {
    /// The wire name: `allow`, `block` or `approval_required`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Verdict::Allow => "allow",
            Verdict::Block => "block",
            Verdict::ApprovalRequired => "approval_required",
        }
    }
}

impl fmt::Display for Verdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}
