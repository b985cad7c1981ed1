//! The hashed bytes of an event written from its envelope members and its body's canonical
//! JSON, without a typed event in between.
//!
//! Two places hash events at volume. The chain builder links every event the proxy records:
//! it encodes the body once and writes the envelope around it from the session's context.
//! `blastwall verify` recomputes the hash of every archived event: the archive keeps each
//! body's canonical JSON in the `body` column and every envelope member in a column of its own.
//! Both write the canonical bytes ([`Event::canonical_bytes`](super::Event::canonical_bytes))
//! directly: the envelope members in RFC 8785 order, the body text spliced in verbatim.
//!
//! Invariants: for the members of an event `e`, the bytes written are byte for byte
//! `e.canonical_bytes()` — the tests check this for every kind. Member text is written as
//! given (escaped as RFC 8785 requires), never normalised: a column altered to another
//! spelling of the same value yields other bytes, so its hash no longer matches.
//!
//! Not here: deciding what a mismatch means (`chain`), reading the columns (the query crate).

use sha2::{Digest as _, Sha256};

use crate::canonical::write_string;
use crate::digest::Digest;
use crate::time::Timestamp;

/// An event's hashed envelope members, borrowed (from archive columns, or a session's
/// context); `S` is how a list's items are held.
#[derive(Debug, Clone, Copy)]
pub struct HashedEnvelope<'a, S = &'a str> {
    /// `schema_version`.
    pub schema_version: u16,
    /// `id`, as stored (hyphenated lowercase when sound).
    pub id: &'a str,
    /// `session_id`, as stored.
    pub session_id: &'a str,
    /// `seq`.
    pub seq: u64,
    /// `time`.
    pub time: Timestamp,
    /// `actor.subject`.
    pub actor_subject: &'a str,
    /// `actor.agents`, outermost first.
    pub actor_agents: &'a [S],
    /// `actor.groups`.
    pub actor_groups: &'a [S],
    /// `actor.issuer`.
    pub actor_issuer: &'a str,
    /// `actor.token_id`.
    pub actor_token_id: Option<&'a str>,
    /// `target.name`.
    pub target_name: &'a str,
    /// `target.protocol`, as stored (lowercase when sound).
    pub target_protocol: &'a str,
    /// `client_addr`.
    pub client_addr: Option<&'a str>,
    /// `kind`, the wire name.
    pub kind: &'a str,
    /// `prev`.
    pub prev: Option<Digest>,
}

impl<S: AsRef<str>> HashedEnvelope<'_, S> {
    /// Writes the canonical bytes of this envelope with `body_json` as its body into `out`
    /// (cleared first). `body_json` must be the stored canonical body: it is not checked here,
    /// the hash it goes into is.
    pub fn write_canonical(&self, body_json: &str, out: &mut String) {
        out.clear();
        self.write_head(out);
        out.push_str(body_json);
        self.write_tail(out);
    }

    /// SHA-256 of [`HashedEnvelope::write_canonical`]'s bytes, fed to the hash in three
    /// pieces so the body is never copied; `scratch` is reused.
    pub fn hash(&self, body_json: &str, scratch: &mut String) -> Digest {
        let mut hasher = Sha256::new();
        scratch.clear();
        self.write_head(scratch);
        hasher.update(scratch.as_bytes());
        hasher.update(body_json.as_bytes());
        scratch.clear();
        self.write_tail(scratch);
        hasher.update(scratch.as_bytes());
        Digest::from_bytes(hasher.finalize().into())
    }

    /// The members before the body, up to `"body":`.
    fn write_head(&self, out: &mut String) {
        // Members sorted by UTF-16 code units (all names are ASCII, so byte order).
        out.push_str(r#"{"actor":{"agents":"#);
        write_list(out, self.actor_agents);
        out.push_str(r#","groups":"#);
        write_list(out, self.actor_groups);
        out.push_str(r#","issuer":"#);
        write_string(out, self.actor_issuer);
        out.push_str(r#","subject":"#);
        write_string(out, self.actor_subject);
        out.push_str(r#","token_id":"#);
        write_optional(out, self.actor_token_id);
        out.push_str(r#"},"body":"#);
    }

    /// The members after the body, to the closing brace.
    fn write_tail(&self, out: &mut String) {
        out.push_str(r#","client_addr":"#);
        write_optional(out, self.client_addr);
        out.push_str(r#","id":"#);
        write_string(out, self.id);
        out.push_str(r#","kind":"#);
        write_string(out, self.kind);
        out.push_str(r#","prev":"#);
        match &self.prev {
            Some(prev) => {
                out.push('"');
                prev.write_hex(out);
                out.push('"');
            }
            None => out.push_str("null"),
        }
        out.push_str(r#","schema_version":"#);
        push_decimal(out, u64::from(self.schema_version));
        out.push_str(r#","seq":"#);
        push_decimal(out, self.seq);
        out.push_str(r#","session_id":"#);
        write_string(out, self.session_id);
        out.push_str(r#","target":{"name":"#);
        write_string(out, self.target_name);
        out.push_str(r#","protocol":"#);
        write_string(out, self.target_protocol);
        out.push_str(r#"},"time":""#);
        self.time.write_canonical(out);
        out.push_str("\"}");
    }
}

fn write_list(out: &mut String, items: &[impl AsRef<str>]) {
    out.push('[');
    for (index, item) in items.iter().enumerate() {
        if index > 0 {
            out.push(',');
        }
        write_string(out, item.as_ref());
    }
    out.push(']');
}

fn write_optional(out: &mut String, text: Option<&str>) {
    match text {
        Some(text) => write_string(out, text),
        None => out.push_str("null"),
    }
}

fn push_decimal(out: &mut String, mut n: u64) {
    let mut digits = [0u8; 20];
    let mut at = digits.len();
    loop {
        at -= 1;
        // `n % 10` is below 10, so the cast cannot truncate.
        digits[at] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    for &digit in &digits[at..] {
        out.push(char::from(digit));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::Event;
    use crate::seal::SealingKey;

    /// The envelope of `event` as the recorder's columns hold it.
    fn columns_of(event: &Event) -> (Vec<&str>, Vec<&str>, String, String, String) {
        (
            event.actor.agents.iter().map(String::as_str).collect(),
            event.actor.groups.iter().map(String::as_str).collect(),
            event.id.hyphenated().to_string(),
            event.session_id.hyphenated().to_string(),
            crate::arrow::encode_body(&event.body).unwrap(),
        )
    }

    fn spliced(event: &Event) -> String {
        let (agents, groups, id, session_id, body) = columns_of(event);
        let envelope = HashedEnvelope {
            schema_version: event.schema_version,
            id: &id,
            session_id: &session_id,
            seq: event.seq,
            time: event.time,
            actor_subject: &event.actor.subject,
            actor_agents: &agents,
            actor_groups: &groups,
            actor_issuer: &event.actor.issuer,
            actor_token_id: event.actor.token_id.as_deref(),
            target_name: &event.target.name,
            target_protocol: event.target.protocol.as_str(),
            client_addr: event.client_addr.as_deref(),
            kind: event.kind_name(),
            prev: event.prev,
        };
        let mut out = String::new();
        assert_eq!(
            envelope.hash(&body, &mut out),
            event.compute_hash().unwrap()
        );
        envelope.write_canonical(&body, &mut out);
        out
    }

    #[test]
    fn splice_is_the_canonical_encoding_for_every_kind() {
        for body in crate::body::tests::samples() {
            let mut event = super::super::tests::golden_event();
            event.body = body;
            event.hash = event.compute_hash().unwrap();
            let expected = String::from_utf8(event.canonical_bytes().unwrap()).unwrap();
            assert_eq!(spliced(&event), expected, "{}", event.kind_name());
        }
    }

    #[test]
    fn splice_is_canonical_for_empty_null_and_escaped_envelopes() {
        let mut event = super::super::tests::golden_event();
        event.prev = None;
        event.seq = 0;
        event.client_addr = None;
        event.actor.agents.clear();
        event.actor.groups = vec!["a\"b".into(), "\u{1}\u{7f}é😀".into(), String::new()];
        event.actor.token_id = None;
        event.actor.issuer = String::new();
        event.actor.subject = "tab\there\\".into();
        event.target.name = "名前\n".into();
        event.time = Timestamp::from_unix_nanos(-1);
        let expected = String::from_utf8(event.canonical_bytes().unwrap()).unwrap();
        assert_eq!(spliced(&event), expected);
        event.seq = u64::MAX;
        event.time = Timestamp::from_unix_nanos(i64::MAX);
        let expected = String::from_utf8(event.canonical_bytes().unwrap()).unwrap();
        assert_eq!(spliced(&event), expected);
    }

    #[test]
    fn splice_is_canonical_for_a_sealed_end() {
        let key = SealingKey::from_seed(&[7; 32]);
        let mut event = super::super::tests::golden_event();
        event.body = crate::body::tests::samples()
            .into_iter()
            .find(|b| b.kind() == crate::body::EventKind::SessionEnded)
            .unwrap();
        event.hash = event.compute_hash().unwrap();
        event.seal = Some(key.seal(event.session_id, event.seq, &event.hash));
        let expected = String::from_utf8(event.canonical_bytes().unwrap()).unwrap();
        assert_eq!(spliced(&event), expected);
    }
}
