//! Checking a chain: [`ChainVerifier`] for a stream of events, [`verify_session`] for a slice.
//!
//! `blastwall verify` and the query crate feed archived sessions through these; the streaming
//! form holds only the last hash, so a session read from Parquet batch by batch never has to fit
//! in memory. Invariants: checks run in the order of CHAIN.md §4 and the first failure is
//! reported; after a break the verifier never reports success. [`ChainVerifier::push_hashed`]
//! takes a hash the caller recomputed (from archive columns, without a typed event) and runs
//! the very same checks.

use uuid::Uuid;

use super::report::{BreakKind, ChainBreak, SessionReport, SessionStatus};
use crate::body::EventKind;
use crate::canonical::CanonicalError;
use crate::digest::Digest;
use crate::event::{Event, SCHEMA_VERSION};
use crate::seal::{KeyId, PublicKeys, Seal, SealCheck, SealError};

/// Verifies one session's events as they arrive, in seq order, without holding them.
///
/// After the first break every call returns that same break.
#[derive(Debug, Clone)]
pub struct ChainVerifier<'k> {
    session_id: Uuid,
    keys: &'k PublicKeys,
    next_seq: u64,
    head: Option<Digest>,
    sealed_by: Option<KeyId>,
    broken: Option<ChainBreak>,
}

impl<'k> ChainVerifier<'k> {
    /// A verifier for session `session_id`, trusting seals by `keys`.
    pub fn new(session_id: Uuid, keys: &'k PublicKeys) -> Self {
        ChainVerifier {
            session_id,
            keys,
            next_seq: 0,
            head: None,
            sealed_by: None,
            broken: None,
        }
    }

    /// Checks the next event.
    pub fn push(&mut self, event: &Event) -> Result<(), ChainBreak> {
        self.push_link(&Link::of(event), || event.compute_hash(), None)
    }

    /// Checks the next event, given as its links and the hash already recomputed from its
    /// canonical bytes (e.g. with [`HashedEnvelope`](crate::event::HashedEnvelope)), and,
    /// for a sealed event, optionally its seal checked ahead ([`PublicKeys::check`]; used only
    /// if taken over this very seal, event and key, else the seal is verified here). The checks
    /// are those of [`ChainVerifier::push`], in the same order.
    pub fn push_hashed(
        &mut self,
        link: &Link<'_>,
        computed: Digest,
        seal_check: Option<&SealCheck>,
    ) -> Result<(), ChainBreak> {
        self.push_link(link, || Ok(computed), seal_check)
    }

    fn push_link(
        &mut self,
        link: &Link<'_>,
        compute_hash: impl FnOnce() -> Result<Digest, CanonicalError>,
        seal_check: Option<&SealCheck>,
    ) -> Result<(), ChainBreak> {
        if let Some(broken) = &self.broken {
            return Err(broken.clone());
        }
        match self.check(link, compute_hash, seal_check) {
            Ok(()) => {
                // Saturation needs 2^64 - 1 verified events; it only keeps this panic-free.
                self.next_seq = self.next_seq.saturating_add(1);
                self.head = Some(link.hash);
                // `check` accepts a seal only on `session.ended`: a seal means the end.
                if let Some(seal) = link.seal {
                    self.sealed_by = Some(seal.key_id.clone());
                }
                Ok(())
            }
            Err(kind) => Err(self.fail(kind)),
        }
    }

    /// The verdict once all events were pushed.
    pub fn finish(self) -> Result<SessionReport, ChainBreak> {
        if let Some(broken) = self.broken {
            return Err(broken);
        }
        let Some(head) = self.head else {
            return Err(ChainBreak {
                session_id: self.session_id,
                seq: 0,
                kind: BreakKind::Empty,
            });
        };
        Ok(SessionReport {
            session_id: self.session_id,
            events: self.next_seq,
            head,
            status: match self.sealed_by {
                Some(key_id) => SessionStatus::Sealed { key_id },
                None => SessionStatus::Open,
            },
        })
    }

    fn fail(&mut self, kind: BreakKind) -> ChainBreak {
        let broken = ChainBreak {
            session_id: self.session_id,
            seq: self.next_seq,
            kind,
        };
        self.broken = Some(broken.clone());
        broken
    }

    /// The checks, in the order that names the most specific cause first.
    fn check(
        &self,
        event: &Link<'_>,
        compute_hash: impl FnOnce() -> Result<Digest, CanonicalError>,
        seal_check: Option<&SealCheck>,
    ) -> Result<(), BreakKind> {
        if event.session_id != self.session_id {
            return Err(BreakKind::MixedSession {
                found: event.session_id,
            });
        }
        if self.sealed_by.is_some() {
            return Err(BreakKind::EventAfterEnd { kind: event.kind });
        }
        if event.seq > self.next_seq {
            return Err(BreakKind::SeqGap { found: event.seq });
        }
        if event.seq < self.next_seq {
            return Err(BreakKind::SeqRepeated { found: event.seq });
        }
        if event.schema_version != SCHEMA_VERSION {
            return Err(BreakKind::UnsupportedVersion {
                found: event.schema_version,
            });
        }
        let computed = compute_hash().map_err(BreakKind::Unencodable)?;
        if computed != event.hash {
            return Err(BreakKind::HashMismatch {
                stored: event.hash,
                computed,
            });
        }
        if event.prev != self.head {
            return Err(BreakKind::PrevMismatch {
                expected: self.head,
                found: event.prev,
            });
        }
        self.check_seal(event, seal_check)
    }

    fn check_seal(
        &self,
        event: &Link<'_>,
        seal_check: Option<&SealCheck>,
    ) -> Result<(), BreakKind> {
        match (event.seal, event.kind) {
            (None, EventKind::SessionEnded) => Err(BreakKind::SealMissing),
            (None, _) => Ok(()),
            (Some(_), kind) if kind != EventKind::SessionEnded => {
                Err(BreakKind::UnexpectedSeal { kind })
            }
            (Some(seal), _) => seal_check
                .and_then(|check| {
                    self.keys
                        .recall(check, seal, event.session_id, event.seq, &event.hash)
                })
                .unwrap_or_else(|| {
                    self.keys
                        .verify(seal, event.session_id, event.seq, &event.hash)
                })
                .map_err(|err| match err {
                    SealError::UnknownKey(key_id) => BreakKind::UnknownKey { key_id },
                    SealError::InvalidSignature(key_id) => BreakKind::SealInvalid { key_id },
                }),
        }
    }
}

/// What the verifier checks of an event besides its hashed bytes: the members that link it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Link<'a> {
    /// `session_id`.
    pub session_id: Uuid,
    /// `seq`.
    pub seq: u64,
    /// `schema_version`.
    pub schema_version: u16,
    /// The kind.
    pub kind: EventKind,
    /// `prev`.
    pub prev: Option<Digest>,
    /// `hash`, as stored.
    pub hash: Digest,
    /// `seal`.
    pub seal: Option<&'a Seal>,
}

impl<'a> Link<'a> {
    /// The links of a typed event.
    pub fn of(event: &'a Event) -> Self {
        Link {
            session_id: event.session_id,
            seq: event.seq,
            schema_version: event.schema_version,
            kind: event.kind(),
            prev: event.prev,
            hash: event.hash,
            seal: event.seal.as_ref(),
        }
    }
}

/// Verifies one whole session, given as its events in stored order.
///
/// The session is the first event's; an empty slice is a [`BreakKind::Empty`] break against
/// the nil session id. Unlike the streaming verifier, this can look ahead, so a seq that skips
/// ahead is reported as [`BreakKind::SeqOutOfOrder`] when the missing seq appears later, and
/// as [`BreakKind::SeqGap`] only when it is truly absent.
pub fn verify_session(events: &[Event], keys: &PublicKeys) -> Result<SessionReport, ChainBreak> {
    let session_id = events.first().map_or(Uuid::nil(), |event| event.session_id);
    let mut verifier = ChainVerifier::new(session_id, keys);
    for (position, event) in events.iter().enumerate() {
        if let Err(mut broken) = verifier.push(event) {
            if let BreakKind::SeqGap { found } = broken.kind {
                let missing = broken.seq;
                let later = events.get(position + 1..).unwrap_or_default();
                if later
                    .iter()
                    .any(|e| e.seq == missing && e.session_id == session_id)
                {
                    broken.kind = BreakKind::SeqOutOfOrder { found };
                }
            }
            return Err(broken);
        }
    }
    verifier.finish()
}
