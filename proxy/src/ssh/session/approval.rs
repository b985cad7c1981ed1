//! The one place an SSH request that needs approval goes: [`hold`].
//!
//! This is the seam for `proxy::approvals`: when it lands, `hold` asks it for an approval
//! (`Approvals::request(..) -> Held`), tells the client on stderr that approval `Held::id()`
//! was requested, and awaits `Held::outcome()`: `Approved` runs the request, `Denied` and
//! `Expired` refuse it. Until then every such request is refused with a message naming the
//! policy and the group that would approve it. Callers need not change: they act on
//! [`Held`] alone.

use super::Session;

/// What became of a request held for approval.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Held {
    /// Approved: the request runs.
    Approved,
    /// Not run; `message` goes to the client's stderr.
    Refused {
        /// What the client is told.
        message: String,
    },
}

/// What the policy said about a request that needs approval.
#[derive(Debug, Clone)]
pub struct ApprovalNeeded<'a> {
    /// The `seq` of the request's `command.received`.
    pub command_seq: u64,
    /// The deciding policy.
    pub policy: &'a str,
    /// The group that approves.
    pub group: &'a str,
    /// The policy's message.
    pub message: &'a str,
}

/// Holds a request for approval and returns what became of it.
pub async fn hold(_session: &Session, needed: ApprovalNeeded<'_>) -> Held {
    Held::Refused {
        message: format!(
            "blastwall: policy {} requires approval by {}: {}. Approvals are not available on this \
             gateway yet, so the request was not run.",
            needed.policy, needed.group, needed.message
        ),
    }
}
