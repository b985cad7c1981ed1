//! The policy interface the listeners call: a [`Request`] (who, where, and the facts of what)
//! in, a [`Decision`] out, through the [`Policy`] trait.
//!
//! A listener asks [`Policy::facts`] for a message's facts (cached by text), resolves session
//! state into them (SQL-level PREPARE: `facts::PreparedStatements`), records them in
//! `command.received`, and asks [`Policy::decide`]. Pure: the time and the client address
//! come in the request, so a backtest can replay recorded commands through the same code.
//! Fails closed: whatever cannot be read or evaluated is blocked.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::SystemTime;

use schemas::Protocol;
use schemas::body::{PolicyDecided, Verdict};

use super::facts::MessageFacts;
use super::ssh::SshFacts;

/// What is asked, by whom, where.
#[derive(Clone, Copy, Debug)]
pub struct Request<'a> {
    /// The human (or service) the request is made for: the token's `sub`.
    pub subject: &'a str,
    /// The agents acting, outermost (the one connected) first; empty for a human acting
    /// directly.
    pub agents: &'a [String],
    /// The token's groups.
    pub groups: &'a [String],
    /// The target's name.
    pub target: &'a str,
    /// The protocol.
    pub protocol: Protocol,
    /// The command's text.
    pub text: &'a str,
    /// The facts of the command's statements (from [`Policy::facts`], session state resolved).
    pub facts: &'a Arc<MessageFacts>,
    /// The client's address, when known.
    pub client: Option<IpAddr>,
    /// When the request is decided.
    pub time: SystemTime,
}

/// A policy's answer for a whole message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Decision {
    /// Forward the command.
    Allow {
        /// The policies that allowed it, in order.
        policies: Vec<String>,
    },
    /// Refuse the command; `message` goes to the client.
    Block {
        /// The deciding policy.
        policy: String,
        /// What the client is told.
        message: String,
    },
    /// Hold the command until a member of `group` approves it.
    RequireApproval {
        /// The deciding policy.
        policy: String,
        /// Who may approve.
        group: String,
        /// What the client is told.
        message: String,
        /// How many distinct members of `group` must approve (`@approvers`, at least 1).
        approvers: u32,
        /// How long the statement may wait (`@expires`); `None` for the configured default.
        expires: Option<std::time::Duration>,
    },
}

impl Decision {
    /// The `policy.decided` body that records this decision on the command at `command_seq`.
    pub fn recorded(&self, command_seq: u64) -> PolicyDecided {
        let (verdict, policies, message) = match self {
            Decision::Allow { policies } => (Verdict::Allow, policies.clone(), None),
            Decision::Block { policy, message } => {
                (Verdict::Block, vec![policy.clone()], Some(message.clone()))
            }
            Decision::RequireApproval {
                policy, message, ..
            } => (
                Verdict::ApprovalRequired,
                vec![policy.clone()],
                Some(message.clone()),
            ),
        };
        PolicyDecided {
            command_seq,
            verdict,
            policies,
            message,
        }
    }
}

/// Reads commands and decides on them.
pub trait Policy: Send + Sync {
    /// The facts of a message's text, as this policy reads SQL (cached by text).
    fn facts(&self, text: &str) -> Arc<MessageFacts>;

    /// The verdict for one request.
    fn decide(&self, request: &Request<'_>) -> Decision;

    /// The verdict for an SSH request (`ssh:exec`, `ssh:shell`, `ssh:sftp`, `ssh:forward`):
    /// `request.text` is the command line and `request.facts` holds no statements.
    fn decide_ssh(&self, request: &Request<'_>, ssh: &SshFacts) -> Decision;
}
