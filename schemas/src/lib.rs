//! The blastwall event model: what every part of blastwall says to every other.
//!
//! Everything that happens in a session — a connection, a token check, a command, a verdict,
//! an approval, a masked result, terminal bytes — is an [`Event`]: a shared envelope (who,
//! what target, when, which session, which position) around a kind-specific [`EventBody`].
//! A session's events form a SHA-256 hash chain whose last event, `session.ended`, is sealed
//! with Ed25519, so an archive can be proven complete and unmodified. The proxy builds events
//! with a [`ChainBuilder`]; the event log carries them as JSON; the recorder writes them as
//! Arrow rows; the query crate re-verifies them with [`verify_session`].
//!
//! This crate is pure: no async, no file or network I/O. It parses and formats strings and
//! bytes; callers do the reading and writing. `CHAIN.md` beside this crate specifies the
//! canonical encoding, the chain and the seal for implementers in other languages.
//!
//! # Layout
//!
//! | module | concept |
//! | --- | --- |
//! | [`event`] | the envelope [`Event`], [`SCHEMA_VERSION`], the hashed bytes |
//! | [`archive`] | the archive's file names and which files a reader uses |
//! | [`body`] | [`EventBody`]: one struct per kind; [`EventKind`]: their names |
//! | [`actor`], [`target`] | who acted ([`Actor`]), what was reached ([`Target`], [`Protocol`]) |
//! | [`time`] | [`Timestamp`]: UTC nanoseconds, canonical RFC 3339 on the wire |
//! | [`digest`] | [`Digest`]: SHA-256, lowercase hex on the wire |
//! | [`canonical`] | RFC 8785 canonical JSON (integers only) |
//! | [`chain`] | [`ChainBuilder`] and the verifiers, [`ChainBreak`] |
//! | [`control`] | [`control::ControlEvent`]: requests, decisions and grants for every proxy |
//! | [`seal`] | [`SealingKey`], [`PublicKeys`], [`Seal`]: Ed25519 seals and key files |
//! | [`arrow`] | the archive's `events` and `sessions` tables: Arrow schemas, column names, body column |
//! | [`summary`] | [`summary::SessionSummary`]: a session folded into its session-index row |
//! | [`json_schema`] | the JSON Schema of events (`event.schema.json`) |
//!
//! # Example
//!
//! Build a three-event sealed session, then verify it:
//!
//! ```
//! use std::collections::BTreeMap;
//! use schemas::body::{CommandReceived, EndReason, SessionCounters, SessionEnded, SessionStarted};
//! use schemas::{
//!     Actor, ChainBuilder, EventBody, Protocol, PublicKeys, SealingKey, SessionContext,
//!     SessionStatus, Target, Timestamp, verify_session,
//! };
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let key = SealingKey::generate();
//! let mut chain = ChainBuilder::new(SessionContext {
//!     session_id: uuid::Uuid::now_v7(),
//!     actor: Actor::unauthenticated("alice"),
//!     target: Target { name: "orders-db".into(), protocol: Protocol::Postgres },
//!     client_addr: Some("192.0.2.7:51234".into()),
//! });
//! let started = chain.next(
//!     Timestamp::now(),
//!     EventBody::SessionStarted(SessionStarted {
//!         application_name: Some("psql".into()),
//!         tls: true,
//!         parameters: BTreeMap::new(),
//!     }),
//! )?;
//! let command = chain.next(
//!     Timestamp::now(),
//!     EventBody::CommandReceived(CommandReceived {
//!         protocol: Protocol::Postgres,
//!         text: "SELECT 1".into(),
//!         summary: None,
//!         parameters: vec![],
//!     }),
//! )?;
//! let ended = chain.end(
//!     Timestamp::now(),
//!     SessionEnded { reason: EndReason::ClientClosed, counters: SessionCounters::default() },
//!     &key,
//! )?;
//!
//! let events = [started, command, ended];
//! let report = verify_session(&events, &PublicKeys::from(&key))?;
//! assert_eq!(report.events, 3);
//! assert_eq!(report.status, SessionStatus::Sealed { key_id: key.key_id().clone() });
//!
//! let mut tampered = events.clone();
//! tampered[1].time = Timestamp::UNIX_EPOCH;
//! let broken = verify_session(&tampered, &PublicKeys::from(&key)).unwrap_err();
//! assert_eq!(broken.seq, 1);
//! # Ok(())
//! # }
//! ```

pub mod actor;
pub mod archive;
pub mod arrow;
pub mod body;
pub mod canonical;
pub mod chain;
pub mod control;
pub mod digest;
pub mod event;
pub mod json_schema;
pub mod seal;
pub mod summary;
pub mod target;
pub mod time;

mod base64_bytes;
mod nullable;

pub use actor::Actor;
pub use body::{EventBody, EventKind};
pub use chain::{
    BreakKind, ChainBreak, ChainBuilder, ChainError, ChainVerifier, Linked, SessionContext,
    SessionReport, SessionStatus, verify_session,
};
pub use digest::Digest;
pub use event::{Event, SCHEMA_VERSION};
pub use seal::{KeyId, PublicKeys, Seal, SealingKey};
pub use target::{Protocol, Target};
pub use time::Timestamp;
