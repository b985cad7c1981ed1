use std::collections::BTreeMap;

use arrow_array::Array;
use arrow_array::cast::AsArray;
use arrow_array::types::UInt64Type;
use bytes::Bytes;
use eventlog::{Entry, Position};
use schemas::body::{CommandReceived, PolicyDecided, SessionStarted, TerminalData, Verdict};
use schemas::{Actor, ChainBuilder, EventBody, Protocol, SessionContext, Target, Timestamp};

use super::*;

fn session() -> Vec<Event> {
    let mut chain = ChainBuilder::new(SessionContext {
        session_id: uuid::Uuid::now_v7(),
        actor: Actor::unauthenticated("alice"),
        target: Target {
            name: "orders-db".into(),
            protocol: Protocol::Postgres,
        },
        client_addr: Some("192.0.2.7:51234".into()),
    });
    let bodies = [
        EventBody::SessionStarted(SessionStarted {
            application_name: Some("psql".into()),
            tls: true,
            parameters: BTreeMap::new(),
        }),
        EventBody::CommandReceived(CommandReceived {
            protocol: Protocol::Postgres,
            text: "DELETE FROM orders".into(),
            summary: None,
            parameters: vec![],
        }),
        EventBody::PolicyDecided(PolicyDecided {
            command_seq: 1,
            verdict: Verdict::Block,
            policies: vec!["no-delete".into()],
            message: None,
        }),
        EventBody::TerminalOutput(TerminalData {
            channel: 0,
            data: vec![0, 159, 255, b'\n'],
            offset_ns: 5,
        }),
    ];
    bodies
        .into_iter()
        .map(|body| chain.next(Timestamp::now(), body).expect("chains"))
        .collect()
}

fn entry(offset: u64, value: impl Into<Bytes>) -> Entry {
    Entry {
        position: Position {
            partition: 0,
            offset,
        },
        timestamp_ms: 1_795_670_472_123,
        key: Bytes::from_static(b"key"),
        value: value.into(),
    }
}

fn rows(events: &[Event]) -> Vec<EventRow> {
    events
        .iter()
        .enumerate()
        .map(|(i, event)| {
            let value = serde_json::to_vec(event).expect("encodes");
            match decode(&entry(i as u64, value)) {
                Decoded::Event(row) => *row,
                Decoded::Rejected(why) => panic!("rejected: {why}"),
            }
        })
        .collect()
}

#[test]
fn events_decode_with_their_canonical_body() {
    let events = session();
    let rows = rows(&events);
    for (row, event) in rows.iter().zip(&events) {
        assert_eq!(&row.event, event);
        assert_eq!(
            schemas::arrow::decode_body(event.kind_name(), &row.body).expect("canonical"),
            event.body
        );
    }
}

#[test]
fn a_future_schema_version_is_rejected_as_such() {
    let mut json = serde_json::to_value(&session()[0]).expect("json");
    json["schema_version"] = 2.into();
    json["brand_new_member"] = "x".into();
    let value = serde_json::to_vec(&json).expect("bytes");
    match decode(&entry(0, value)) {
        Decoded::Rejected(why) => {
            assert_eq!(why, Rejection::UnknownSchemaVersion { version: 2 });
            assert_eq!(why.code(), "unknown_schema_version");
        }
        Decoded::Event(_) => panic!("a version-2 event was read as version 1"),
    }
    let mut json = serde_json::to_value(&session()[0]).expect("json");
    json["schema_version"] = 7.into();
    let value = serde_json::to_vec(&json).expect("bytes");
    assert!(matches!(
        decode(&entry(0, value)),
        Decoded::Rejected(Rejection::UnknownSchemaVersion { version: 7 })
    ));
}

#[test]
fn garbage_and_foreign_json_are_rejected() {
    assert!(matches!(
        decode(&entry(0, &b"\xff\x00garbage"[..])),
        Decoded::Rejected(Rejection::NotJson { .. })
    ));
    assert!(matches!(
        decode(&entry(0, &br#"{"schema_version":1,"hello":"world"}"#[..])),
        Decoded::Rejected(Rejection::NotAnEvent { .. })
    ));
    let mut json = serde_json::to_value(&session()[0]).expect("json");
    json["kind"] = "session.teleported".into();
    let value = serde_json::to_vec(&json).expect("bytes");
    assert!(matches!(
        decode(&entry(0, value)),
        Decoded::Rejected(Rejection::NotAnEvent { .. })
    ));
}

#[test]
fn the_events_batch_has_the_archive_schema_and_promoted_columns() {
    let events = session();
    let rows = rows(&events);
    let order: Vec<&EventRow> = rows.iter().collect();
    let batch = events::batch(&order).expect("batch");
    assert_eq!(batch.schema(), schemas::arrow::events_schema());
    assert_eq!(batch.num_rows(), 4);
    let column = |name: &str| batch.column_by_name(name).expect(name).clone();
    let command = column(schemas::arrow::columns::COMMAND_TEXT);
    let command = command.as_string::<i32>();
    assert!(command.is_null(0));
    assert_eq!(command.value(1), "DELETE FROM orders");
    let verdict = column(schemas::arrow::columns::VERDICT);
    assert_eq!(verdict.as_string::<i32>().value(2), "block");
    let command_seq = column(schemas::arrow::columns::COMMAND_SEQ);
    let command_seq = command_seq.as_primitive::<UInt64Type>();
    assert_eq!(command_seq.value(2), 1);
    assert_eq!(command_seq.null_count(), 3);
    let terminal = column(schemas::arrow::columns::TERMINAL_DATA);
    assert_eq!(terminal.as_binary::<i32>().value(3), &[0, 159, 255, b'\n']);
    let seq = column(schemas::arrow::columns::SEQ);
    let seq: Vec<u64> = seq.as_primitive::<UInt64Type>().values().to_vec();
    assert_eq!(seq, vec![0, 1, 2, 3]);
    let prev = column(schemas::arrow::columns::PREV);
    assert!(prev.is_null(0) && !prev.is_null(1));
}

#[test]
fn the_quarantine_batch_keeps_the_bytes() {
    let garbage = entry(9, &b"\xff\x00garbage"[..]);
    let Decoded::Rejected(why) = decode(&garbage) else {
        panic!("garbage decoded");
    };
    let batch = quarantine::batch(&[(&garbage, why)]).expect("batch");
    assert_eq!(batch.schema(), quarantine::quarantine_schema());
    let value = batch
        .column_by_name(quarantine::columns::VALUE)
        .expect("value");
    assert_eq!(value.as_binary::<i32>().value(0), b"\xff\x00garbage");
    let reason = batch
        .column_by_name(quarantine::columns::REASON)
        .expect("reason");
    assert_eq!(reason.as_string::<i32>().value(0), "not_json");
}

#[test]
fn a_commands_reads_and_writes_are_lists_and_null_elsewhere() {
    let mut events = session();
    let EventBody::CommandReceived(command) = &mut events[1].body else {
        panic!("seq 1 is the command");
    };
    command.summary = Some(schemas::body::CommandSummary {
        action: "sql:insert".into(),
        reads: vec!["public.customers".into()],
        writes: vec!["public.orders".into(), "audit".into()],
        functions: vec![],
        statements: 1,
    });
    let mut unsummarised = events[1].clone();
    let EventBody::CommandReceived(bare) = &mut unsummarised.body else {
        panic!("a command");
    };
    bare.summary = None;
    events.push(unsummarised);
    let rows = rows(&events);
    let order: Vec<&EventRow> = rows.iter().collect();
    let batch = events::batch(&order).expect("batch");
    let list = |name: &str, row: usize| -> Option<Vec<String>> {
        let lists = batch.column_by_name(name).expect(name).as_list::<i32>();
        (!lists.is_null(row)).then(|| {
            let items = lists.value(row);
            let items = items.as_string::<i32>();
            (0..items.len())
                .map(|i| items.value(i).to_owned())
                .collect()
        })
    };
    use schemas::arrow::columns::{COMMAND_READS, COMMAND_WRITES};
    assert_eq!(
        list(COMMAND_READS, 1),
        Some(vec!["public.customers".into()])
    );
    assert_eq!(
        list(COMMAND_WRITES, 1),
        Some(vec!["public.orders".into(), "audit".into()])
    );
    for row in [0, 2, 3, 4] {
        assert_eq!(list(COMMAND_READS, row), None, "row {row}");
        assert_eq!(list(COMMAND_WRITES, row), None, "row {row}");
    }
}
