//! [`Event`]: the envelope every event shares, and its hash.
//!
//! The chain builder creates events; the event log carries them as JSON; the recorder
//! flattens them into archive rows; the verifier recomputes their hashes. JSON looks like
//! `{"schema_version":1,"id":…,"session_id":…,"seq":0,"time":…,"actor":{…},"target":{…},
//! "client_addr":…,"kind":"session.started","body":{…},"prev":null,"hash":…,"seal":null}`.
//! The proxy writes the same members in canonical order, `hash` and `seal` last
//! (`chain::Linked::into_json`); member order carries no meaning to a reader.
//!
//! Invariants: every member is always present (`null` when empty) and unknown members are
//! rejected, so what a reader verifies is exactly what was written. `hash` is SHA-256 of the
//! canonical encoding of the event without `hash` and `seal` ([`Event::canonical_bytes`]);
//! `prev` is inside the hashed text. `seq` counts from 0 without gaps within a session.
//!
//! Not here: assigning `seq`, `prev` and `hash` (`chain::ChainBuilder`), checking them
//! (`chain::verify_session`), the encoding rules (`canonical`).

use schemars::JsonSchema;
use serde::{Deserialize, Deserializer, Serialize};
use uuid::Uuid;

use crate::actor::Actor;
use crate::body::{EventBody, EventKind};
use crate::canonical::{self, CanonicalError};
use crate::digest::Digest;
use crate::seal::Seal;
use crate::target::Target;
use crate::time::Timestamp;

/// The version of the event format this crate writes. It changes whenever the serialized
/// shape of any event changes, because that changes hashes.
pub const SCHEMA_VERSION: u16 = 1;

/// Names of the two envelope members left out of the hashed text.
pub const UNHASHED_MEMBERS: [&str; 2] = ["hash", "seal"];

/// One thing that happened in a session: the envelope, the kind-specific body, and the links
/// of the hash chain.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Event {
    /// The format version, [`SCHEMA_VERSION`] for events this crate writes.
    pub schema_version: u16,
    /// This event's id, a UUIDv7 (time-ordered).
    pub id: Uuid,
    /// The session this event belongs to.
    pub session_id: Uuid,
    /// Position in the session: 0, 1, 2, ... without gaps.
    pub seq: u64,
    /// When it happened.
    pub time: Timestamp,
    /// Who acted.
    pub actor: Actor,
    /// What was reached.
    pub target: Target,
    /// The client's socket address as text (`192.0.2.7:51234`, `[2001:db8::7]:51234`).
    #[serde(deserialize_with = "crate::nullable::deserialize")]
    pub client_addr: Option<String>,
    /// What happened: `kind` and `body` at the top level of the JSON.
    #[serde(flatten)]
    pub body: EventBody,
    /// The previous event's `hash`; `None` only at seq 0.
    #[serde(deserialize_with = "crate::nullable::deserialize")]
    pub prev: Option<Digest>,
    /// SHA-256 of the canonical encoding of this event without `hash` and `seal`.
    pub hash: Digest,
    /// The seal, on a session's `session.ended` event only.
    #[serde(deserialize_with = "crate::nullable::deserialize")]
    pub seal: Option<Seal>,
}

impl Event {
    /// This event's kind.
    pub const fn kind(&self) -> EventKind {
        self.body.kind()
    }

    /// The wire name of this event's kind, e.g. `command.received`.
    pub const fn kind_name(&self) -> &'static str {
        self.body.kind().as_str()
    }

    /// The bytes that are hashed: RFC 8785 canonical JSON of this event without the
    /// members in [`UNHASHED_MEMBERS`].
    pub fn canonical_bytes(&self) -> Result<Vec<u8>, CanonicalError> {
        canonical::to_canonical_vec(self, &UNHASHED_MEMBERS)
    }

    /// Recomputes what `hash` should be from the rest of the event.
    pub fn compute_hash(&self) -> Result<Digest, CanonicalError> {
        self.canonical_bytes().map(|bytes| Digest::sha256(&bytes))
    }
}

// Read through `wire::EventWire`: `kind` and `body` side by side, the body decoded once its
// kind is known, without buffering the whole event as the flattened member would.
impl<'de> Deserialize<'de> for Event {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let wire = wire::EventWire::deserialize(deserializer)?;
        wire.into_event().map_err(serde::de::Error::custom)
    }
}

mod hashed;
mod wire;

pub use hashed::HashedEnvelope;

#[cfg(test)]
mod tests;
