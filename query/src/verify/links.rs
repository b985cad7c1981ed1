//! The fast path of `verify`: archive rows to chain links, hashed without decoding bodies.
//!
//! For each row the hashed bytes are written straight from the columns with the stored
//! canonical body spliced in (`schemas::event::HashedEnvelope`), hashed, and compared with the
//! stored hash; the promoted columns are compared with the body's top-level members, read
//! without building the typed body; a `session.ended` seal is checked here too
//! (`PublicKeys::check`), so the costly signature checks run on every core. A row that passes
//! becomes a [`Checked::Link`] for `ChainVerifier::push_hashed`.
//!
//! Invariants: the fast path only ever *accepts*. Every row it cannot vouch for — a hash that
//! does not match, a promoted column that differs, a seal where there should be none or none
//! where there should be one, an `archive.pruned` event, any unparsable column — is decoded in full by `rows::event` and
//! judged by the typed path exactly as before, so findings are the same with or without it. A
//! matching SHA-256 means the spliced bytes are the ones the proxy hashed, so the typed path
//! would have rebuilt the same bytes and accepted the row too.

use std::borrow::Cow;
use std::str::FromStr;

use datafusion::arrow::array::{
    Array, AsArray, BinaryArray, FixedSizeBinaryArray, GenericListArray, Int64Array, RecordBatch,
    StringArray, UInt16Array, UInt64Array,
};
use schemas::chain::Link;
use schemas::event::HashedEnvelope;
use schemas::seal::SealCheck;
use schemas::{Digest, EventKind, PublicKeys, Seal, Timestamp};
use serde::Deserialize;
use uuid::Uuid;

use crate::Error;
use crate::rows::{Columns, RowEvent};

/// One archived row, checked as far as the fast path can.
#[derive(Debug)]
pub(crate) enum Checked {
    /// The row's hash and promoted columns verified: what the chain still has to check.
    Link(HashedLink),
    /// The row decoded in full, for the typed path to judge.
    Event(Box<RowEvent>),
}

/// A row whose stored hash equals the hash of its columns, with its seal checked if it has one.
#[derive(Debug, Clone)]
pub(crate) struct HashedLink {
    pub(crate) session_id: Uuid,
    pub(crate) seq: u64,
    pub(crate) schema_version: u16,
    pub(crate) kind: EventKind,
    pub(crate) prev: Option<Digest>,
    pub(crate) hash: Digest,
    /// The seal of a `session.ended`, checked here, off the chain's thread.
    pub(crate) seal: Option<Box<SealCheck>>,
}

impl HashedLink {
    /// The members the chain checks. The computed hash is `hash`: they were found equal.
    pub(crate) fn link(&self) -> Link<'_> {
        Link {
            session_id: self.session_id,
            seq: self.seq,
            schema_version: self.schema_version,
            kind: self.kind,
            prev: self.prev,
            hash: self.hash,
            seal: self.seal.as_deref().map(SealCheck::seal),
        }
    }
}

/// The columns of a batch, downcast once.
struct Typed<'a> {
    schema_version: &'a UInt16Array,
    event_id: &'a StringArray,
    session_id: &'a StringArray,
    seq: &'a UInt64Array,
    time: &'a Int64Array,
    kind: &'a StringArray,
    actor_subject: &'a StringArray,
    actor_agents: &'a GenericListArray<i32>,
    actor_groups: &'a GenericListArray<i32>,
    actor_issuer: &'a StringArray,
    actor_token_id: &'a StringArray,
    target_name: &'a StringArray,
    target_protocol: &'a StringArray,
    client_addr: &'a StringArray,
    body: &'a StringArray,
    prev: &'a FixedSizeBinaryArray,
    hash: &'a FixedSizeBinaryArray,
    seal_key_id: &'a StringArray,
    seal_signature: &'a BinaryArray,
    command_text: &'a StringArray,
    verdict: &'a StringArray,
    row_count: &'a UInt64Array,
    terminal_data: &'a BinaryArray,
    /// `None` in files written before the column was added.
    command_reads: Option<&'a GenericListArray<i32>>,
    /// `None` in files written before the column was added.
    command_writes: Option<&'a GenericListArray<i32>>,
    /// `None` in files written before the column was added.
    command_seq: Option<&'a UInt64Array>,
}

impl<'a> Typed<'a> {
    fn of(c: &'a Columns) -> Option<Self> {
        Some(Typed {
            schema_version: c.schema_version.as_primitive_opt()?,
            event_id: c.event_id.as_string_opt()?,
            session_id: c.session_id.as_string_opt()?,
            seq: c.seq.as_primitive_opt()?,
            time: c.time.as_primitive_opt()?,
            kind: c.kind.as_string_opt()?,
            actor_subject: c.actor_subject.as_string_opt()?,
            actor_agents: c.actor_agents.as_list_opt()?,
            actor_groups: c.actor_groups.as_list_opt()?,
            actor_issuer: c.actor_issuer.as_string_opt()?,
            actor_token_id: c.actor_token_id.as_string_opt()?,
            target_name: c.target_name.as_string_opt()?,
            target_protocol: c.target_protocol.as_string_opt()?,
            client_addr: c.client_addr.as_string_opt()?,
            body: c.body.as_string_opt()?,
            prev: c.prev.as_fixed_size_binary_opt()?,
            hash: c.hash.as_fixed_size_binary_opt()?,
            seal_key_id: c.seal_key_id.as_string_opt()?,
            seal_signature: c.seal_signature.as_binary_opt()?,
            command_text: c.command_text.as_string_opt()?,
            verdict: c.verdict.as_string_opt()?,
            row_count: c.row_count.as_primitive_opt()?,
            terminal_data: c.terminal_data.as_binary_opt()?,
            command_reads: match &c.command_reads {
                Some(array) => Some(array.as_list_opt()?),
                None => None,
            },
            command_writes: match &c.command_writes {
                Some(array) => Some(array.as_list_opt()?),
                None => None,
            },
            command_seq: match &c.command_seq {
                Some(array) => Some(array.as_primitive_opt()?),
                None => None,
            },
        })
    }
}

/// Scratch space reused from row to row.
#[derive(Default)]
struct Scratch<'a> {
    canonical: String,
    base64: String,
    agents: Vec<&'a str>,
    groups: Vec<&'a str>,
    /// The last session id parsed: rows come sorted by session.
    session: Option<(&'a str, Uuid)>,
}

/// Every row of `batch`, in row order: a hashed link where the fast path verifies it, the
/// fully decoded event otherwise.
pub(crate) fn checked(batch: &RecordBatch, keys: &PublicKeys) -> Result<Vec<Checked>, Error> {
    let columns = Columns::of(batch)?;
    let rows = batch.num_rows();
    let Some(typed) = Typed::of(&columns) else {
        // Not the types `Columns::of` casts to: let the typed path say what is wrong.
        return Ok((0..rows)
            .map(|row| Checked::Event(Box::new(crate::rows::event(&columns, row))))
            .collect());
    };
    let mut scratch = Scratch::default();
    Ok((0..rows)
        .map(|row| match fast(&typed, row, keys, &mut scratch) {
            Some(link) => Checked::Link(link),
            None => Checked::Event(Box::new(crate::rows::event(&columns, row))),
        })
        .collect())
}

fn text(array: &StringArray, row: usize) -> Option<&str> {
    (!array.is_null(row)).then(|| array.value(row))
}

fn digest(array: &FixedSizeBinaryArray, row: usize) -> Option<Digest> {
    if array.is_null(row) {
        return None;
    }
    <[u8; 32]>::try_from(array.value(row))
        .ok()
        .map(Digest::from_bytes)
}

/// The items of a list cell; `None` if null or holding a null item (the typed path decides).
fn items<'a>(lists: &'a GenericListArray<i32>, row: usize, out: &mut Vec<&'a str>) -> Option<()> {
    if lists.is_null(row) {
        return None;
    }
    let offsets = lists.value_offsets();
    let (start, end) = (
        usize::try_from(*offsets.get(row)?).ok()?,
        usize::try_from(*offsets.get(row + 1)?).ok()?,
    );
    let values = lists.values().as_string_opt::<i32>()?;
    for index in start..end {
        if values.is_null(index) {
            return None;
        }
        out.push(values.value(index));
    }
    Some(())
}

/// The row as a verified link, or `None` for the typed path.
fn fast<'a>(
    c: &Typed<'a>,
    row: usize,
    keys: &PublicKeys,
    scratch: &mut Scratch<'a>,
) -> Option<HashedLink> {
    let kind_name = text(c.kind, row)?;
    let kind = EventKind::from_str(kind_name).ok()?;
    // Exactly the ended events carry a seal; anything else is for the typed path to name.
    let sealed = !c.seal_key_id.is_null(row);
    if kind == EventKind::ArchivePruned || sealed != (kind == EventKind::SessionEnded) {
        return None;
    }
    let session_text = text(c.session_id, row)?;
    let session_id = match scratch.session {
        Some((last, id)) if last == session_text => id,
        _ => {
            let id = Uuid::from_str(session_text).ok()?;
            scratch.session = Some((session_text, id));
            id
        }
    };
    let hash = digest(c.hash, row)?;
    let prev = digest(c.prev, row);
    if !c.prev.is_null(row) && prev.is_none() {
        return None;
    }
    scratch.agents.clear();
    items(c.actor_agents, row, &mut scratch.agents)?;
    scratch.groups.clear();
    items(c.actor_groups, row, &mut scratch.groups)?;
    let body = text(c.body, row)?;
    let (seq, schema_version) = (c.seq.value(row), c.schema_version.value(row));
    let envelope = HashedEnvelope {
        schema_version,
        id: text(c.event_id, row)?,
        session_id: session_text,
        seq,
        time: Timestamp::from_unix_nanos(c.time.value(row)),
        actor_subject: text(c.actor_subject, row)?,
        actor_agents: &scratch.agents,
        actor_groups: &scratch.groups,
        actor_issuer: text(c.actor_issuer, row)?,
        actor_token_id: text(c.actor_token_id, row),
        target_name: text(c.target_name, row)?,
        target_protocol: text(c.target_protocol, row)?,
        client_addr: text(c.client_addr, row),
        kind: kind_name,
        prev,
    };
    if envelope.hash(body, &mut scratch.canonical) != hash {
        return None;
    }
    if !promoted_match(c, row, kind, body, scratch) {
        return None;
    }
    let seal = if sealed {
        if c.seal_signature.is_null(row) {
            return None;
        }
        let key_id = text(c.seal_key_id, row)?.parse().ok()?;
        let seal = Seal::from_signature_bytes(key_id, c.seal_signature.value(row))?;
        Some(Box::new(keys.check(&seal, session_id, seq, &hash)))
    } else {
        None
    };
    Some(HashedLink {
        session_id,
        seq,
        schema_version,
        kind,
        prev,
        hash,
        seal,
    })
}

/// The top-level body members the promoted columns copy (`schemas::arrow::Promoted`).
#[derive(Deserialize)]
struct PromotedMembers<'a> {
    #[serde(borrow, default)]
    text: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    verdict: Option<Cow<'a, str>>,
    #[serde(default)]
    row_count: Option<u64>,
    #[serde(default)]
    command_seq: Option<u64>,
    #[serde(borrow, default)]
    data: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    summary: Option<SummaryLists<'a>>,
}

/// The lists of a command's summary that `command_reads` and `command_writes` copy.
#[derive(Deserialize)]
struct SummaryLists<'a> {
    #[serde(borrow)]
    reads: Vec<Cow<'a, str>>,
    #[serde(borrow)]
    writes: Vec<Cow<'a, str>>,
}

/// Whether a list cell holds exactly `expected` (null for `None`); a file without the column
/// has nothing to compare.
fn list_matches(
    lists: Option<&GenericListArray<i32>>,
    row: usize,
    expected: Option<&[Cow<'_, str>]>,
) -> bool {
    let Some(lists) = lists else {
        return true;
    };
    let mut found = Vec::new();
    match expected {
        None => lists.is_null(row),
        Some(expected) => {
            items(lists, row, &mut found).is_some()
                && found.len() == expected.len()
                && found.iter().zip(expected).all(|(a, b)| *a == b.as_ref())
        }
    }
}

/// Whether the promoted columns hold exactly what `Promoted::of` takes from this body.
fn promoted_match(
    c: &Typed<'_>,
    row: usize,
    kind: EventKind,
    body: &str,
    scratch: &mut Scratch<'_>,
) -> bool {
    let command_text = text(c.command_text, row);
    let verdict = text(c.verdict, row);
    let row_count = (!c.row_count.is_null(row)).then(|| c.row_count.value(row));
    let terminal = (!c.terminal_data.is_null(row)).then(|| c.terminal_data.value(row));
    let lists_null = |lists: Option<&GenericListArray<i32>>| lists.is_none_or(|l| l.is_null(row));
    // `None` where the file has no `command_seq` column: nothing to compare.
    let command_seq = c
        .command_seq
        .map(|seqs| (!seqs.is_null(row)).then(|| seqs.value(row)));
    let answers_a_command = matches!(
        kind,
        EventKind::PolicyDecided | EventKind::ApprovalRequested | EventKind::ResultReturned
    );
    if !answers_a_command && command_seq.is_some_and(|seq| seq.is_some()) {
        return false;
    }
    let promoted_kind = matches!(
        kind,
        EventKind::CommandReceived
            | EventKind::ApprovalRequested
            | EventKind::PolicyDecided
            | EventKind::ResultReturned
            | EventKind::TerminalOutput
            | EventKind::TerminalInput
    );
    if kind != EventKind::CommandReceived
        && !(lists_null(c.command_reads) && lists_null(c.command_writes))
    {
        return false;
    }
    if !promoted_kind {
        return command_text.is_none()
            && verdict.is_none()
            && row_count.is_none()
            && terminal.is_none();
    }
    let Ok(members) = serde_json::from_str::<PromotedMembers<'_>>(body) else {
        return false;
    };
    if answers_a_command
        && command_seq.is_some_and(|seq| seq.is_none() || seq != members.command_seq)
    {
        return false;
    }
    match kind {
        EventKind::CommandReceived => {
            let summary = members.summary.as_ref();
            command_text.is_some()
                && command_text == members.text.as_deref()
                && list_matches(c.command_reads, row, summary.map(|s| &s.reads[..]))
                && list_matches(c.command_writes, row, summary.map(|s| &s.writes[..]))
                && verdict.is_none()
                && row_count.is_none()
                && terminal.is_none()
        }
        EventKind::ApprovalRequested => {
            command_text.is_none() && verdict.is_none() && row_count.is_none() && terminal.is_none()
        }
        EventKind::PolicyDecided => {
            verdict.is_some()
                && verdict == members.verdict.as_deref()
                && command_text.is_none()
                && row_count.is_none()
                && terminal.is_none()
        }
        EventKind::ResultReturned => {
            row_count.is_some()
                && row_count == members.row_count
                && command_text.is_none()
                && verdict.is_none()
                && terminal.is_none()
        }
        _ => {
            let (Some(bytes), Some(data)) = (terminal, members.data.as_deref()) else {
                return false;
            };
            use base64::Engine as _;
            scratch.base64.clear();
            base64::engine::general_purpose::STANDARD.encode_string(bytes, &mut scratch.base64);
            scratch.base64 == data
                && command_text.is_none()
                && verdict.is_none()
                && row_count.is_none()
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)] // a failed step is the test's failure

    use std::collections::BTreeMap;
    use std::sync::Arc;

    use datafusion::arrow::array::ArrayRef;
    use recorder::encode::{EventRow, events};
    use schemas::body::{
        CommandReceived, CommandSummary, EndReason, PolicyDecided, SessionCounters, SessionEnded,
        SessionStarted, TerminalData, Verdict,
    };
    use schemas::{
        Actor, ChainBuilder, EventBody, Protocol, SealingKey, SessionContext, Target, Timestamp,
    };

    use super::*;

    fn batch() -> RecordBatch {
        let mut chain = ChainBuilder::new(SessionContext {
            session_id: Uuid::now_v7(),
            actor: Actor::unauthenticated("ann\t\"quoted\""),
            target: Target {
                name: "orders-db".into(),
                protocol: Protocol::Postgres,
            },
            client_addr: None,
        });
        let bodies = [
            EventBody::SessionStarted(SessionStarted {
                application_name: None,
                tls: false,
                parameters: BTreeMap::from([("a\u{1}".into(), "é".into())]),
            }),
            EventBody::CommandReceived(CommandReceived {
                protocol: Protocol::Postgres,
                text: "SELECT \"naïve\"\n FROM t -- \u{1}".into(),
                summary: Some(CommandSummary {
                    action: "sql:select".into(),
                    reads: vec!["public.t".into(), "u\"v".into()],
                    ..CommandSummary::default()
                }),
                parameters: vec![None],
            }),
            EventBody::PolicyDecided(PolicyDecided {
                command_seq: 1,
                verdict: Verdict::ApprovalRequired,
                policies: vec![],
                message: Some("ask".into()),
            }),
            EventBody::TerminalOutput(TerminalData {
                channel: 0,
                data: vec![0, 159, 255, b'\n'],
                offset_ns: 5,
            }),
        ];
        let mut built: Vec<_> = bodies
            .into_iter()
            .map(|body| chain.next(Timestamp::now(), body).unwrap())
            .collect();
        let ended = SessionEnded {
            reason: EndReason::ClientClosed,
            counters: SessionCounters::default(),
        };
        let key = SealingKey::from_seed(&[3; 32]);
        built.push(chain.end(Timestamp::now(), ended, &key).unwrap());
        let rows: Vec<EventRow> = built
            .into_iter()
            .map(|event| {
                let body = schemas::arrow::encode_body(&event.body).unwrap();
                EventRow { event, body }
            })
            .collect();
        events::batch(&rows.iter().collect::<Vec<_>>()).unwrap()
    }

    fn keys() -> PublicKeys {
        PublicKeys::from(&SealingKey::from_seed(&[3; 32]))
    }

    fn fast_rows(batch: &RecordBatch) -> Vec<bool> {
        checked(batch, &keys())
            .unwrap()
            .iter()
            .map(|row| matches!(row, Checked::Link(_)))
            .collect()
    }

    #[test]
    fn sound_rows_and_the_sealed_end_take_the_fast_path() {
        let batch = batch();
        assert_eq!(fast_rows(&batch), [true; 5]);
        let Checked::Link(end) = checked(&batch, &keys()).unwrap().pop().unwrap() else {
            panic!("the end is hashed");
        };
        assert!(end.seal.is_some());
    }

    #[test]
    fn a_row_the_fast_path_cannot_vouch_for_goes_to_the_typed_path() {
        let batch = batch();
        let replace = |name: &str, array: ArrayRef| {
            let index = batch.schema().index_of(name).unwrap();
            let mut columns = batch.columns().to_vec();
            columns[index] = array;
            RecordBatch::try_new(batch.schema(), columns).unwrap()
        };
        let texts = [None, Some("SELECT 1"), None, None, None];
        let altered = replace(
            schemas::arrow::columns::COMMAND_TEXT,
            Arc::new(StringArray::from(texts.to_vec())),
        );
        assert_eq!(fast_rows(&altered), [true, false, true, true, true]);
        let subjects = ["ann", "ann\t\"quoted\"", "ann", "ann\t\"quoted\"", "ann"];
        let altered = replace(
            schemas::arrow::columns::ACTOR_SUBJECT,
            Arc::new(StringArray::from(subjects.to_vec())),
        );
        assert_eq!(fast_rows(&altered), [false, true, false, true, false]);
        let keys = [None, None, None, Some("0123456789abcdef"), None];
        let altered = replace(
            schemas::arrow::columns::SEAL_KEY_ID,
            Arc::new(StringArray::from(keys.to_vec())),
        );
        assert_eq!(fast_rows(&altered), [true, true, true, false, false]);
    }
}
