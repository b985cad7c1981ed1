//! The hash chain: building a session's events ([`ChainBuilder`]) and verifying them
//! ([`verify_session`], [`ChainVerifier`]).
//!
//! The proxy's audit layer owns one `ChainBuilder` per session and gets every event from it;
//! `blastwall verify` and the query crate run the verifier over archived sessions.
//!
//! Invariants (CHAIN.md states them for other languages): within a session `seq` runs 0, 1,
//! 2, ... without gaps; `prev` is `None` at seq 0 and the previous event's `hash` after; `hash`
//! is SHA-256 of the event's canonical bytes; `session.ended` is the last event, is the only
//! sealed one, and must be sealed. A verifier reports the *first* broken link: every event
//! before [`ChainBreak::seq`] verified.
//!
//! Not here: transport and durability (eventlog), key storage (the binary), the signed bytes
//! (`seal`). An unsealed session whose tail was cut cannot be told from one still open: only
//! the seal proves completeness, which is why [`SessionStatus`] says which it is.

mod builder;
mod report;
mod verifier;

pub use builder::{ChainBuilder, ChainError, Linked, SessionContext};
pub use report::{BreakKind, ChainBreak, SessionReport, SessionStatus};
pub use verifier::{ChainVerifier, Link, verify_session};

#[cfg(test)]
mod tests;
