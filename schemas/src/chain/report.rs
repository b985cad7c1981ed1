//! What a verifier concludes: a [`SessionReport`] for a sound chain, a [`ChainBreak`] for the
//! first link that is not.
//!
//! `blastwall verify` prints these; the query crate stores them. Invariants: a break names the
//! session and the seq from which the chain no longer holds (everything before it verified), and
//! its `Display` says what was found and what it likely means (modified, deleted, reordered,
//! forged), without event contents.

use std::fmt;

use uuid::Uuid;

use crate::body::EventKind;
use crate::canonical::CanonicalError;
use crate::digest::Digest;
use crate::seal::KeyId;

/// A session whose chain verified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionReport {
    /// The session.
    pub session_id: Uuid,
    /// How many events it has (its last seq plus one).
    pub events: u64,
    /// The hash of its last event.
    pub head: Digest,
    /// Whether the session is sealed (complete) or still open.
    pub status: SessionStatus,
}

/// Whether a verified session is provably complete.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SessionStatus {
    /// Ended with a valid seal: complete and unmodified.
    Sealed {
        /// The key that sealed it.
        key_id: KeyId,
    },
    /// No `session.ended` yet: the events present are intact, but a cut tail would look the
    /// same, so completeness is not proven.
    Open,
}

/// The first broken link of a session's chain.
///
/// Every event with a seq below `seq` verified; `seq` is where the chain stops holding.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChainBreak {
    /// The session (the nil UUID when there were no events at all).
    pub session_id: Uuid,
    /// The position at which the chain breaks: the seq expected there.
    pub seq: u64,
    /// What is wrong.
    pub kind: BreakKind,
}

/// What is wrong at a broken link.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum BreakKind {
    /// There are no events to verify.
    Empty,
    /// The event belongs to another session.
    MixedSession {
        /// The session the event names.
        found: Uuid,
    },
    /// A seq larger than expected: events are missing (deleted), or — if only a streaming
    /// verifier saw it — possibly reordered.
    SeqGap {
        /// The seq found.
        found: u64,
    },
    /// A seq larger than expected, with the expected one appearing later: events swapped.
    SeqOutOfOrder {
        /// The seq found.
        found: u64,
    },
    /// The seq of the previous event again, or an earlier one: an event was inserted,
    /// duplicated or moved back.
    SeqRepeated {
        /// The seq found.
        found: u64,
    },
    /// The event was written by a newer (or unknown) version of the format.
    UnsupportedVersion {
        /// The version found.
        found: u16,
    },
    /// The stored hash is not the hash of the event: the event was modified.
    HashMismatch {
        /// The `hash` member as stored.
        stored: Digest,
        /// The hash of the event's content.
        computed: Digest,
    },
    /// `prev` is not the previous event's hash: an event was inserted, removed or replaced.
    PrevMismatch {
        /// The previous event's hash (`None` at seq 0).
        expected: Option<Digest>,
        /// The `prev` member as stored.
        found: Option<Digest>,
    },
    /// An event follows `session.ended`.
    EventAfterEnd {
        /// The trailing event's kind.
        kind: EventKind,
    },
    /// `session.ended` carries no seal.
    SealMissing,
    /// A seal on an event other than `session.ended`.
    UnexpectedSeal {
        /// The sealed event's kind.
        kind: EventKind,
    },
    /// The seal names a key that is not trusted.
    UnknownKey {
        /// The key named.
        key_id: KeyId,
    },
    /// The seal's signature does not verify: forged, or the sealed hash was altered.
    SealInvalid {
        /// The key named.
        key_id: KeyId,
    },
    /// The event has no canonical encoding (it holds a non-integer number).
    Unencodable(CanonicalError),
}

impl fmt::Display for ChainBreak {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ChainBreak {
            session_id,
            seq,
            kind,
        } = self;
        if matches!(kind, BreakKind::Empty) {
            return write!(f, "session {session_id}: no events to verify");
        }
        write!(f, "session {session_id}: chain broken at seq {seq}: ")?;
        match kind {
            BreakKind::Empty => Ok(()),
            BreakKind::MixedSession { found } => {
                write!(f, "the event belongs to session {found}")
            }
            BreakKind::SeqGap { found } => write!(
                f,
                "expected seq {seq}, found seq {found}: events are missing (deleted) or out of order"
            ),
            BreakKind::SeqOutOfOrder { found } => write!(
                f,
                "expected seq {seq}, found seq {found}, and seq {seq} comes later: events were reordered"
            ),
            BreakKind::SeqRepeated { found } => write!(
                f,
                "expected seq {seq}, found seq {found} again: an event was inserted or duplicated"
            ),
            BreakKind::UnsupportedVersion { found } => write!(
                f,
                "schema version {found} is not one this verifier knows ({})",
                crate::event::SCHEMA_VERSION
            ),
            BreakKind::HashMismatch { stored, computed } => write!(
                f,
                "the event was modified: stored hash {stored}, content hashes to {computed}"
            ),
            BreakKind::PrevMismatch { expected, found } => write!(
                f,
                "prev is {}, but the previous event's hash is {}: an event was inserted, removed or replaced",
                display_link(found),
                display_link(expected)
            ),
            BreakKind::EventAfterEnd { kind } => write!(f, "{kind} follows session.ended"),
            BreakKind::SealMissing => write!(f, "session.ended is not sealed"),
            BreakKind::UnexpectedSeal { kind } => {
                write!(f, "{kind} carries a seal; only session.ended may")
            }
            BreakKind::UnknownKey { key_id } => {
                write!(
                    f,
                    "sealed with key {key_id}, which is not among the trusted public keys"
                )
            }
            BreakKind::SealInvalid { key_id } => write!(
                f,
                "the seal by key {key_id} does not verify: it is forged or the session was altered"
            ),
            BreakKind::Unencodable(err) => write!(f, "the event cannot be encoded: {err}"),
        }
    }
}

impl std::error::Error for ChainBreak {}

fn display_link(link: &Option<Digest>) -> String {
    link.map_or_else(|| "null".to_owned(), |digest| digest.to_string())
}
