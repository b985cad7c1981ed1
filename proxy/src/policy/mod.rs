//! Deciding: facts about a request in, a verdict out. Pure: no sockets, no clocks it does not
//! get passed, so a backtest can replay recorded commands through the same code.
//!
//! The listeners ask the configured [`Policy`] for a message's facts ([`Policy::facts`]:
//! sqlparser's reading of each statement, cached by text), resolve session state into them
//! (SQL-level PREPARE), and ask it to [`Policy::decide`] the [`Request`]. Three verdicts
//! exist: allow, block (with the deciding policy and a message for the client), and require
//! approval (the session holds the command; see the approvals design). Fails closed: text
//! the parser cannot read is a statement of kind `unparsed`, which no default policy allows.
//!
//! # Layout
//!
//! - [`decision`]: the [`Policy`] trait, [`Request`], [`Decision`].
//! - [`facts`]: SQL in, [`facts::MessageFacts`] out.
//! - [`cedar`]: Cedar policy packs, their schema, loading and reloading, the engine.
//! - [`ssh`]: the `ssh:*` actions and their facts.
//! - [`config`]: `[policy]` and [`config::PolicyConfig::open`].
//! - [`backtest`]: recorded commands decided again by a candidate policy.

pub mod backtest;
pub mod cedar;
pub mod config;
pub mod decision;
pub mod facts;
pub mod ssh;

pub use cedar::CedarPolicy;
pub use config::{PolicyConfig, PolicyError};
pub use decision::{Decision, Policy, Request};
pub use facts::{MessageFacts, PreparedStatements, StatementFacts, StatementKind, fingerprint};
pub use ssh::{SshAction, SshFacts};
