//! Deciding: facts about a request in, a verdict out. Pure: no sockets, no clocks it does not
//! get passed, so a backtest can replay recorded commands through the same code.
//!
//! The listeners build a [`Request`] per command and ask the configured [`Policy`]. Three
//! verdicts exist: allow, block (with the deciding rule and a message for the client), and
//! require approval (the session holds the command; see the approvals design). Fails closed:
//! a statement the parser cannot read is its own kind, `unparsed`, which rules can deny.

mod rules;
pub mod sql;

use schemas::Protocol;

pub use rules::{DenyRule, DenyRuleConfig, PolicyConfig, Rules};
pub use sql::StatementKind;

/// What is asked, by whom, where.
#[derive(Debug)]
pub struct Request<'a> {
    /// The human the request is made for.
    pub subject: &'a str,
    /// The agents acting, outermost first (empty for a human acting directly).
    pub agents: &'a [String],
    /// The actor's groups.
    pub groups: &'a [String],
    /// The target's name.
    pub target: &'a str,
    /// The protocol.
    pub protocol: Protocol,
    /// The command's text.
    pub text: &'a str,
    /// The kind of every statement in the command, in order.
    pub statements: &'a [StatementKind],
}

/// A policy's answer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Decision {
    /// Forward the command.
    Allow {
        /// The rules that allowed it (empty for the allow-all default).
        policies: Vec<String>,
    },
    /// Refuse the command; `message` goes to the client.
    Block {
        /// The deciding rule.
        policy: String,
        /// What the client is told.
        message: String,
    },
    /// Hold the command until a member of `group` approves it.
    RequireApproval {
        /// The deciding rule.
        policy: String,
        /// Who may approve.
        group: String,
        /// What the client is told.
        message: String,
    },
}

/// Decides on requests.
pub trait Policy: Send + Sync {
    /// The verdict for one request.
    fn decide(&self, request: &Request<'_>) -> Decision;
}

/// Allows everything: the default when no rule is configured.
#[derive(Clone, Copy, Debug, Default)]
pub struct AllowAll;

impl Policy for AllowAll {
    fn decide(&self, _request: &Request<'_>) -> Decision {
        Decision::Allow {
            policies: Vec::new(),
        }
    }
}
