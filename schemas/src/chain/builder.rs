//! [`ChainBuilder`]: assigns `seq`, `prev`, `hash` (and the final seal) to a session's events.
//!
//! The proxy's audit layer holds one builder per session, sets the actor once authentication
//! succeeds, and passes each body with its time. Invariants: seq counts from 0 without gaps,
//! every event links to the one before, and `session.ended` is produced only by `end`, which
//! seals it and consumes the builder — so the proxy cannot emit an unsealed end or anything after
//! it. The builder does no I/O; making events durable is the event log's job.
//!
//! An event is encoded once: the canonical bytes that are hashed are kept ([`Linked`]) and
//! become the JSON the log carries, with `hash` and `seal` added, so the proxy never
//! serializes an event twice.

use uuid::{NoContext, Uuid};

use crate::actor::Actor;
use crate::body::{EventBody, SessionEnded};
use crate::canonical::CanonicalError;
use crate::digest::Digest;
use crate::event::{Event, HashedEnvelope, SCHEMA_VERSION};
use crate::seal::{Seal, SealingKey};
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
        let linked = self.link_next(id, time, &body)?;
        let event = self.event(id, time, body, &linked);
        self.advance(&linked);
        Ok(event)
    }

    /// [`ChainBuilder::next`] as the log carries it (see [`Linked::into_json`]), without a
    /// typed event: what the proxy records.
    pub fn next_linked(&mut self, time: Timestamp, body: EventBody) -> Result<Linked, ChainError> {
        let linked = self.link_next(event_id(time), time, &body)?;
        self.advance(&linked);
        Ok(linked)
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
        let body = EventBody::SessionEnded(ended);
        let linked = self.link_end(id, time, &body, key)?;
        Ok(self.event(id, time, body, &linked))
    }

    /// [`ChainBuilder::end`] as the log carries it (see [`Linked::into_json`]).
    pub fn end_linked(
        self,
        time: Timestamp,
        ended: SessionEnded,
        key: &SealingKey,
    ) -> Result<Linked, ChainError> {
        let body = EventBody::SessionEnded(ended);
        self.link_end(event_id(time), time, &body, key)
    }

    /// Links an event that is not the last.
    fn link_next(&self, id: Uuid, time: Timestamp, body: &EventBody) -> Result<Linked, ChainError> {
        if matches!(body, EventBody::SessionEnded(_)) {
            return Err(ChainError::EndWithoutSeal);
        }
        if self.next_seq == u64::MAX {
            return Err(ChainError::SeqExhausted {
                session_id: self.context.session_id,
            });
        }
        self.link(id, time, body)
    }

    /// Links and seals the last event.
    fn link_end(
        &self,
        id: Uuid,
        time: Timestamp,
        body: &EventBody,
        key: &SealingKey,
    ) -> Result<Linked, ChainError> {
        let mut linked = self.link(id, time, body)?;
        linked.seal = Some(key.seal(self.context.session_id, linked.seq, &linked.hash));
        Ok(linked)
    }

    /// The canonical text of the next event and its hash: the body encoded once, the
    /// envelope written around it from the context (see [`HashedEnvelope`]).
    fn link(&self, id: Uuid, time: Timestamp, body: &EventBody) -> Result<Linked, ChainError> {
        let seq = self.next_seq;
        let body_json = crate::arrow::encode_body(body).map_err(|error| ChainError::Encoding {
            session_id: self.context.session_id,
            seq,
            error,
        })?;
        let context = &self.context;
        let mut id_text = Uuid::encode_buffer();
        let mut session_text = Uuid::encode_buffer();
        let envelope = HashedEnvelope {
            schema_version: SCHEMA_VERSION,
            id: id.hyphenated().encode_lower(&mut id_text),
            session_id: context
                .session_id
                .hyphenated()
                .encode_lower(&mut session_text),
            seq,
            time,
            actor_subject: &context.actor.subject,
            actor_agents: &context.actor.agents,
            actor_groups: &context.actor.groups,
            actor_issuer: &context.actor.issuer,
            actor_token_id: context.actor.token_id.as_deref(),
            target_name: &context.target.name,
            target_protocol: context.target.protocol.as_str(),
            client_addr: context.client_addr.as_deref(),
            kind: body.kind().as_str(),
            prev: self.head,
        };
        // Room for the envelope, and for `hash` and `seal` when the text becomes the JSON.
        let mut hashed = String::with_capacity(body_json.len() + 1024);
        envelope.write_canonical(&body_json, &mut hashed);
        Ok(Linked {
            seq,
            hash: Digest::sha256(hashed.as_bytes()),
            seal: None,
            hashed,
        })
    }

    /// The typed event `linked` was linked from (before [`Self::advance`]).
    fn event(&self, id: Uuid, time: Timestamp, body: EventBody, linked: &Linked) -> Event {
        Event {
            schema_version: SCHEMA_VERSION,
            id,
            session_id: self.context.session_id,
            seq: linked.seq,
            time,
            actor: self.context.actor.clone(),
            target: self.context.target.clone(),
            client_addr: self.context.client_addr.clone(),
            body,
            prev: self.head,
            hash: linked.hash,
            seal: linked.seal.clone(),
        }
    }

    fn advance(&mut self, linked: &Linked) {
        self.next_seq = linked.seq + 1;
        self.head = Some(linked.hash);
    }
}

/// An event just linked: its seq, hash and seal, and the canonical text they were computed
/// from.
#[derive(Debug, Clone)]
pub struct Linked {
    seq: u64,
    hash: Digest,
    seal: Option<Seal>,
    /// [`Event::canonical_bytes`] of the event, as text: a JSON object without `hash` and `seal`.
    hashed: String,
}

impl Linked {
    /// The event's seq.
    pub fn seq(&self) -> u64 {
        self.seq
    }

    /// The event's hash.
    pub fn hash(&self) -> Digest {
        self.hash
    }

    /// The event as JSON: the hashed canonical text with `hash` and `seal` added as the last
    /// members. It reads back as the same [`Event`] as `serde_json::to_vec` of it would (a
    /// JSON object's member order carries no meaning), without a second encoding; a reader
    /// holding these bytes can check the hash by taking those two members out.
    pub fn into_json(self) -> Result<Vec<u8>, serde_json::Error> {
        let Linked {
            hash,
            seal,
            mut hashed,
            ..
        } = self;
        // The envelope ends the canonical object (`"time":"…"}`): the new members follow a
        // comma in place of its closing brace.
        hashed.pop();
        hashed.push_str(",\"hash\":\"");
        hash.write_hex(&mut hashed);
        hashed.push_str("\",\"seal\":");
        hashed.push_str(&serde_json::to_string(&seal)?);
        hashed.push('}');
        Ok(hashed.into_bytes())
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
