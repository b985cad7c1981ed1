//! `approval.requested` and `approval.decided`: holding a command for a human.
//!
//! The proxy emits `approval.requested` when a verdict is `approval_required`, holds the
//! command, and resumes when an `approval.decided` for the same `approval_id` arrives on the
//! control topic (from the web UI, the CLI or the API); the proxy then records that decision in
//! the session's own chain too.
//!
//! With a policy asking for N approvers, each approver's vote is one `approval.decided`; the
//! command runs once N distinct members of the group approved, and any deny refuses it.
//!
//! Invariants: `approver` is `None` exactly when the decision is `expired` or `cancelled`;
//! `grant_for_secs` is only ever set on an `approve`.
//!
//! Not here: holding and resuming (proxy `approvals/`), the approval queue UI (replay-ui).

use std::time::Duration;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::actor::Actor;
use crate::body::CommandSummary;
use crate::time::Timestamp;

/// Body of `approval.requested`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ApprovalRequested {
    /// Identifies this request across proxies and UIs.
    pub approval_id: Uuid,
    /// The `seq` of the `command.received` event being held.
    pub command_seq: u64,
    /// The group whose members may decide.
    pub approver_group: String,
    /// The id of the policy that asked for approval.
    pub policy: String,
    /// When the request lapses (and the command is refused).
    pub expires_at: Timestamp,
    /// How many distinct members of the group must approve.
    pub approvers_required: u32,
    /// The command held, as the client sent it.
    pub command: String,
    /// What the parser understood of it, or `None` when it could not parse it.
    #[serde(deserialize_with = "crate::nullable::deserialize")]
    pub summary: Option<CommandSummary>,
    /// The command with its literals normalised: what a time-boxed grant covers.
    pub fingerprint: String,
}

/// Body of `approval.decided`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ApprovalDecided {
    /// The `approval_id` of the request decided.
    pub approval_id: Uuid,
    /// The decision.
    pub decision: ApprovalDecision,
    /// The approver's stated reason, if any.
    #[serde(deserialize_with = "crate::nullable::deserialize")]
    pub reason: Option<String>,
    /// Who decided; `None` when the request expired.
    #[serde(deserialize_with = "crate::nullable::deserialize")]
    pub approver: Option<Actor>,
    /// For an approval: how many seconds the same actor may repeat the same action without
    /// asking again. `None` approves this one command only.
    #[serde(deserialize_with = "crate::nullable::deserialize")]
    pub grant_for_secs: Option<u64>,
}

impl ApprovalDecided {
    /// [`ApprovalDecided::grant_for_secs`] as a `Duration`.
    pub fn grant_for(&self) -> Option<Duration> {
        self.grant_for_secs.map(Duration::from_secs)
    }
}

/// How an approval request was resolved.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum ApprovalDecision {
    /// Approved: the command is forwarded.
    Approve,
    /// Denied: the command is refused.
    Deny,
    /// Nobody decided before `expires_at`, or the proxy holding it stopped: the command is
    /// refused.
    Expired,
    /// The client went away while the command was held: nothing is left to run.
    Cancelled,
}
