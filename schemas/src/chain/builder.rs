//! [`ChainBuilder`]: assigns `seq`, `prev`, `hash` (and the final seal) to a session's events.
//!
//! The proxy's audit layer holds one builder per session, sets the actor once authentication
//! succeeds, and passes each body with its time. Invariants: seq counts from 0 without gaps,
//! every event links to the one before, and `session.ended` is produced only by `end`, which
//! seals it and consumes the builder — so the proxy cannot emit an unsealed end or anything after
//! it. The builder does no I/O; making events durable is the event log's job.

use uuid::{NoContext, Uuid};

use crate::actor::Actor;
use crate::body::{EventBody, SessionEnded};
use crate::canonical::CanonicalError;
use crate::digest::Digest;
use crate::event::{Event, SCHEMA_VERSION};
use crate::seal::SealingKey;
use crate::target::Target;
use crate::time::Timestamp;

/// The envelope fields shared by every event of a session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionContext {
    /// The session's id (a UUIDv7 is a good choice).
    pub session_id: Uuid,
    /// Who acts; [`Actor::unauthenticated`] until authentication succeeds.
    pub actor: Actor,
    /// What is reached.
    pub target: Target,
    /// The client's socket address as text.
    pub client_addr: Option<String>,
}

/// Builds one session's chain: each call returns the next event, linked and hashed.
///
/// `end` consumes the builder, so nothing can follow `session.ended`, and it is the only way to
/// emit `session.ended`, so every ended session is sealed.
#[derive(Debug, Clone)]
pub struct ChainBuilder {
    context: SessionContext,
    next_seq: u64,
    head: Option<Digest>,
}

/// Why the builder could not produce an event.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ChainError {
    /// `session.ended` was passed to `next`; it must go through `end`, which seals it.
    #[error("session.ended must be emitted with ChainBuilder::end, which seals it")]
    EndWithoutSeal,
    /// The session already has 2^64 events.
    #[error("session {session_id} has exhausted its sequence numbers")]
    SeqExhausted {
        /// The session.
        session_id: Uuid,
    },
    /// The event has no canonical encoding (a bug: events carry no floats).
    #[error("event {seq} of session {session_id} cannot be encoded: {error}")]
    Encoding {
        /// The session.
        session_id: Uuid,
        /// The event's seq.
        seq: u64,
        /// The encoder's complaint.
        error: CanonicalError,
    },
}

impl ChainBuilder {
    /// A builder for a new session: the first event gets seq 0.
    pub fn new(context: SessionContext) -> Self {
        ChainBuilder {
            context,
            next_seq: 0,
            head: None,
        }
    }

    /// The envelope fields stamped on each event.
    pub fn context(&self) -> &SessionContext {
        &self.context
    }

    /// Changes the actor for later events (after authentication succeeds).
    pub fn set_actor(&mut self, actor: Actor) {
        self.context.actor = actor;
    }

    /// The seq the next event will get.
    pub fn next_seq(&self) -> u64 {
        self.next_seq
    }

    /// The hash of the last event built, or `None` before the first.
    pub fn head(&self) -> Option<Digest> {
        self.head
    }

    /// The next event, with a fresh UUIDv7 id carrying `time`.
    pub fn next(&mut self, time: Timestamp, body: EventBody) -> Result<Event, ChainError> {
        self.next_with_id(event_id(time), time, body)
    }

    /// The next event, with the given id (for deterministic test vectors and replays).
    pub fn next_with_id(
        &mut self,
        id: Uuid,
        time: Timestamp,
        body: EventBody,
    ) -> Result<Event, ChainError> {
        if matches!(body, EventBody::SessionEnded(_)) {
            return Err(ChainError::EndWithoutSeal);
        }
        let following = self
            .next_seq
            .checked_add(1)
            .ok_or(ChainError::SeqExhausted {
                session_id: self.context.session_id,
            })?;
        let event = self.link(id, time, body)?;
        self.next_seq = following;
        self.head = Some(event.hash);
        Ok(event)
    }

    /// The sealed `session.ended` event that closes the session.
    pub fn end(
        self,
        time: Timestamp,
        ended: SessionEnded,
        key: &SealingKey,
    ) -> Result<Event, ChainError> {
        self.end_with_id(event_id(time), time, ended, key)
    }

    /// [`ChainBuilder::end`] with the given id.
    pub fn end_with_id(
        self,
        id: Uuid,
        time: Timestamp,
        ended: SessionEnded,
        key: &SealingKey,
    ) -> Result<Event, ChainError> {
        let mut event = self.link(id, time, EventBody::SessionEnded(ended))?;
        event.seal = Some(key.seal(event.session_id, event.seq, &event.hash));
        Ok(event)
    }

    fn link(&self, id: Uuid, time: Timestamp, body: EventBody) -> Result<Event, ChainError> {
        let mut event = Event {
            schema_version: SCHEMA_VERSION,
            id,
            session_id: self.context.session_id,
            seq: self.next_seq,
            time,
            actor: self.context.actor.clone(),
            target: self.context.target.clone(),
            client_addr: self.context.client_addr.clone(),
            body,
            prev: self.head,
            hash: Digest::from_bytes([0; 32]),
            seal: None,
        };
        event.hash = event.compute_hash().map_err(|error| ChainError::Encoding {
            session_id: event.session_id,
            seq: event.seq,
            error,
        })?;
        Ok(event)
    }
}

/// A UUIDv7 whose timestamp is the event's time (the Unix epoch for earlier times).
fn event_id(time: Timestamp) -> Uuid {
    let nanos = u64::try_from(time.unix_nanos()).unwrap_or(0);
    let seconds = nanos / 1_000_000_000;
    // The remainder is below 10^9, so it fits a u32.
    let subsec_nanos = u32::try_from(nanos % 1_000_000_000).unwrap_or(0);
    Uuid::new_v7(uuid::Timestamp::from_unix(NoContext, seconds, subsec_nanos))
}
