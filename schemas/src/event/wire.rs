//! How an [`Event`] is read: every member side by side, `body` kept as raw JSON text until
//! `kind` says what it is.
//!
//! A flattened `kind`/`body` pair (the shape [`Event`] writes) makes serde buffer the whole
//! event into an untyped tree before it can pick the body's type, and canonical JSON puts
//! `body` before `kind`, so the buffering would happen for every event. Reading `body` as
//! [`RawValue`] costs one slice of the input; the body is then decoded straight into its type.
//!
//! Invariants: exactly the members [`Event`] writes are accepted, all of them required
//! (nullable ones as `null`), unknown members refused — the same rules as the derived reader
//! this replaces, which the tests in `event::tests` pin.

use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::value::RawValue;
use uuid::Uuid;

use super::Event;
use crate::actor::Actor;
use crate::body::{EventBody, EventKind};
use crate::digest::Digest;
use crate::seal::Seal;
use crate::target::Target;
use crate::time::Timestamp;

/// An event as it sits in JSON, before its body is typed.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct EventWire {
    schema_version: u16,
    id: Uuid,
    session_id: Uuid,
    seq: u64,
    time: Timestamp,
    actor: Actor,
    target: Target,
    #[serde(deserialize_with = "crate::nullable::deserialize")]
    client_addr: Option<String>,
    kind: String,
    body: Box<RawValue>,
    #[serde(deserialize_with = "crate::nullable::deserialize")]
    prev: Option<Digest>,
    hash: Digest,
    #[serde(deserialize_with = "crate::nullable::deserialize")]
    seal: Option<Seal>,
}

impl EventWire {
    /// The typed event, or why its body does not fit its kind.
    pub(super) fn into_event(self) -> Result<Event, String> {
        let kind: EventKind = self.kind.parse().map_err(|e| format!("{e}"))?;
        let body = decode_body(kind, self.body.get())
            .map_err(|e| format!("the body of a `{kind}` event: {e}"))?;
        Ok(Event {
            schema_version: self.schema_version,
            id: self.id,
            session_id: self.session_id,
            seq: self.seq,
            time: self.time,
            actor: self.actor,
            target: self.target,
            client_addr: self.client_addr,
            body,
            prev: self.prev,
            hash: self.hash,
            seal: self.seal,
        })
    }
}

/// Decodes `json` as the body of `kind`.
fn decode_body(kind: EventKind, json: &str) -> Result<EventBody, serde_json::Error> {
    fn typed<T: DeserializeOwned>(
        json: &str,
        variant: fn(T) -> EventBody,
    ) -> Result<EventBody, serde_json::Error> {
        serde_json::from_str(json).map(variant)
    }
    match kind {
        EventKind::SessionStarted => typed(json, EventBody::SessionStarted),
        EventKind::SessionEnded => typed(json, EventBody::SessionEnded),
        EventKind::AuthenticationSucceeded => typed(json, EventBody::AuthenticationSucceeded),
        EventKind::AuthenticationFailed => typed(json, EventBody::AuthenticationFailed),
        EventKind::CommandReceived => typed(json, EventBody::CommandReceived),
        EventKind::PolicyDecided => typed(json, EventBody::PolicyDecided),
        EventKind::ApprovalRequested => typed(json, EventBody::ApprovalRequested),
        EventKind::ApprovalDecided => typed(json, EventBody::ApprovalDecided),
        EventKind::ResultReturned => typed(json, EventBody::ResultReturned),
        EventKind::TerminalOutput => typed(json, EventBody::TerminalOutput),
        EventKind::TerminalInput => typed(json, EventBody::TerminalInput),
        EventKind::TerminalResized => typed(json, EventBody::TerminalResized),
        EventKind::OperationFailed => typed(json, EventBody::OperationFailed),
        EventKind::ArchivePruned => typed(json, EventBody::ArchivePruned),
    }
}
