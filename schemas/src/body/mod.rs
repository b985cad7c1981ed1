//! The kinds of event: [`EventBody`], one variant per kind, and [`EventKind`], their names.
//!
//! The proxy builds a body for each thing that happens and hands it to the chain builder,
//! which wraps it in the envelope (`event`). Each kind's body is a struct in a submodule
//! named for the concept (`session`, `authentication`, `command`, ...).
//!
//! Invariants: variant names read `<Noun><PastVerb>`; the wire name (`kind`) is the dotted
//! lowercase form (`command.received`) and [`EventKind::as_str`] returns exactly what serde
//! writes. Bodies carry no floats, so every event has an exact canonical encoding. Changing a
//! body's serialized shape changes hashes: it bumps [`crate::SCHEMA_VERSION`].
//!
//! Not here: the envelope fields shared by all kinds (`event`), hashing (`canonical`, `chain`).

mod approval;
mod archive;
mod authentication;
mod command;
mod failure;
mod policy;
mod result;
mod session;
mod terminal;

use std::fmt;
use std::str::FromStr;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

pub use approval::{ApprovalDecided, ApprovalDecision, ApprovalRequested};
pub use archive::ArchivePruned;
pub use authentication::{
    AuthFailureReason, AuthMethod, AuthenticationFailed, AuthenticationSucceeded,
};
pub use command::{CommandReceived, CommandSummary};
pub use failure::{Fault, OperationFailed, Stage};
pub use policy::{PolicyDecided, Verdict};
pub use result::{Column, MaskCount, ResultError, ResultReturned};
pub use session::{EndReason, SessionCounters, SessionEnded, SessionStarted};
pub use terminal::{TerminalData, TerminalResized};

/// What happened: the kind-specific part of an event.
///
/// Serialized adjacently tagged, `{"kind": "command.received", "body": {...}}`; inside an
/// [`crate::Event`] those two members sit at the top level beside the envelope's.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "kind", content = "body")]
#[non_exhaustive]
pub enum EventBody {
    /// A client connected and its startup was understood.
    #[serde(rename = "session.started")]
    SessionStarted(SessionStarted),
    /// The session ended; the last event of every complete session, and the sealed one.
    #[serde(rename = "session.ended")]
    SessionEnded(SessionEnded),
    /// The client's token was accepted.
    #[serde(rename = "authentication.succeeded")]
    AuthenticationSucceeded(AuthenticationSucceeded),
    /// The client's credential was refused.
    #[serde(rename = "authentication.failed")]
    AuthenticationFailed(AuthenticationFailed),
    /// A command arrived, before any decision.
    #[serde(rename = "command.received")]
    CommandReceived(CommandReceived),
    /// Policy judged a command.
    #[serde(rename = "policy.decided")]
    PolicyDecided(PolicyDecided),
    /// A command is held for a human decision.
    #[serde(rename = "approval.requested")]
    ApprovalRequested(ApprovalRequested),
    /// A held command was approved, denied or expired.
    #[serde(rename = "approval.decided")]
    ApprovalDecided(ApprovalDecided),
    /// A command completed; its masked result.
    #[serde(rename = "result.returned")]
    ResultReturned(ResultReturned),
    /// Bytes from the upstream to the client's terminal.
    #[serde(rename = "terminal.output")]
    TerminalOutput(TerminalData),
    /// Bytes from the client's keyboard to the upstream.
    #[serde(rename = "terminal.input")]
    TerminalInput(TerminalData),
    /// The client's terminal changed size.
    #[serde(rename = "terminal.resized")]
    TerminalResized(TerminalResized),
    /// A step of the data path failed.
    #[serde(rename = "operation.failed")]
    OperationFailed(OperationFailed),
    /// The recorder removed a day of the archive under the retention setting.
    #[serde(rename = "archive.pruned")]
    ArchivePruned(ArchivePruned),
}

/// The name of an event kind, without its body.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum EventKind {
    /// `session.started`
    SessionStarted,
    /// `session.ended`
    SessionEnded,
    /// `authentication.succeeded`
    AuthenticationSucceeded,
    /// `authentication.failed`
    AuthenticationFailed,
    /// `command.received`
    CommandReceived,
    /// `policy.decided`
    PolicyDecided,
    /// `approval.requested`
    ApprovalRequested,
    /// `approval.decided`
    ApprovalDecided,
    /// `result.returned`
    ResultReturned,
    /// `terminal.output`
    TerminalOutput,
    /// `terminal.input`
    TerminalInput,
    /// `terminal.resized`
    TerminalResized,
    /// `operation.failed`
    OperationFailed,
    /// `archive.pruned`
    ArchivePruned,
}

/// A kind name that this version of the schema does not know.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown event kind `{0}`")]
pub struct UnknownKind(pub String);

impl EventKind {
    /// Every kind, in declaration order.
    pub const ALL: [EventKind; 14] = [
        EventKind::SessionStarted,
        EventKind::SessionEnded,
        EventKind::AuthenticationSucceeded,
        EventKind::AuthenticationFailed,
        EventKind::CommandReceived,
        EventKind::PolicyDecided,
        EventKind::ApprovalRequested,
        EventKind::ApprovalDecided,
        EventKind::ResultReturned,
        EventKind::TerminalOutput,
        EventKind::TerminalInput,
        EventKind::TerminalResized,
        EventKind::OperationFailed,
        EventKind::ArchivePruned,
    ];

    /// The wire name, e.g. `command.received`.
    pub const fn as_str(self) -> &'static str {
        match self {
            EventKind::SessionStarted => "session.started",
            EventKind::SessionEnded => "session.ended",
            EventKind::AuthenticationSucceeded => "authentication.succeeded",
            EventKind::AuthenticationFailed => "authentication.failed",
            EventKind::CommandReceived => "command.received",
            EventKind::PolicyDecided => "policy.decided",
            EventKind::ApprovalRequested => "approval.requested",
            EventKind::ApprovalDecided => "approval.decided",
            EventKind::ResultReturned => "result.returned",
            EventKind::TerminalOutput => "terminal.output",
            EventKind::TerminalInput => "terminal.input",
            EventKind::TerminalResized => "terminal.resized",
            EventKind::OperationFailed => "operation.failed",
            EventKind::ArchivePruned => "archive.pruned",
        }
    }
}

impl fmt::Display for EventKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for EventKind {
    type Err = UnknownKind;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        EventKind::ALL
            .into_iter()
            .find(|kind| kind.as_str() == text)
            .ok_or_else(|| UnknownKind(text.to_owned()))
    }
}

impl EventBody {
    /// This body's kind.
    pub const fn kind(&self) -> EventKind {
        match self {
            EventBody::SessionStarted(_) => EventKind::SessionStarted,
            EventBody::SessionEnded(_) => EventKind::SessionEnded,
            EventBody::AuthenticationSucceeded(_) => EventKind::AuthenticationSucceeded,
            EventBody::AuthenticationFailed(_) => EventKind::AuthenticationFailed,
            EventBody::CommandReceived(_) => EventKind::CommandReceived,
            EventBody::PolicyDecided(_) => EventKind::PolicyDecided,
            EventBody::ApprovalRequested(_) => EventKind::ApprovalRequested,
            EventBody::ApprovalDecided(_) => EventKind::ApprovalDecided,
            EventBody::ResultReturned(_) => EventKind::ResultReturned,
            EventBody::TerminalOutput(_) => EventKind::TerminalOutput,
            EventBody::TerminalInput(_) => EventKind::TerminalInput,
            EventBody::TerminalResized(_) => EventKind::TerminalResized,
            EventBody::OperationFailed(_) => EventKind::OperationFailed,
            EventBody::ArchivePruned(_) => EventKind::ArchivePruned,
        }
    }
}

#[cfg(test)]
pub(crate) mod tests;
