use std::collections::BTreeMap;
use std::time::Duration;

use schemas::body::{
    CommandReceived, EndReason, PolicyDecided, SessionCounters, SessionEnded, SessionStarted,
    Verdict,
};
use schemas::{
    Actor, ChainBuilder, Event, EventBody, Protocol, SealingKey, SessionContext, Target, Timestamp,
};

use super::{SessionIndex, read};
use crate::archive::PartName;

fn session(commands: u64, end: bool) -> Vec<Event> {
    let mut chain = ChainBuilder::new(SessionContext {
        session_id: uuid::Uuid::now_v7(),
        actor: Actor::unauthenticated("alice"),
        target: Target {
            name: "db".into(),
            protocol: Protocol::Postgres,
        },
        client_addr: None,
    });
    let t = Timestamp::from_unix_nanos(1_795_651_190_000_000_000);
    let mut events = vec![
        chain
            .next(
                t,
                EventBody::SessionStarted(SessionStarted {
                    application_name: None,
                    tls: false,
                    parameters: BTreeMap::new(),
                }),
            )
            .unwrap(),
    ];
    for n in 0..commands {
        let seq = chain.next_seq();
        events.push(
            chain
                .next(
                    t,
                    EventBody::CommandReceived(CommandReceived {
                        protocol: Protocol::Postgres,
                        text: format!("SELECT {n}"),
                        summary: None,
                        parameters: vec![],
                    }),
                )
                .unwrap(),
        );
        let verdict = if n % 2 == 0 {
            Verdict::Allow
        } else {
            Verdict::Block
        };
        events.push(
            chain
                .next(
                    t,
                    EventBody::PolicyDecided(PolicyDecided {
                        command_seq: seq,
                        verdict,
                        policies: vec![],
                        message: None,
                    }),
                )
                .unwrap(),
        );
    }
    if end {
        let ended = SessionEnded {
            reason: EndReason::ClientClosed,
            counters: SessionCounters::default(),
        };
        events.push(chain.end(t, ended, &SealingKey::generate()).unwrap());
    }
    events
}

fn name(first: u64, last: u64) -> PartName {
    PartName {
        partition: 0,
        first,
        last,
    }
}

#[test]
fn ended_sessions_are_written_and_forgotten_open_ones_wait_for_the_refresh() {
    let dir = tempfile::tempdir().unwrap();
    let mut index = SessionIndex::open(dir.path(), Duration::from_secs(3600)).unwrap();
    let (ended, open) = (session(2, true), session(1, false));
    for event in ended.iter().chain(&open) {
        index.observe(event);
    }
    let written = index.write_due(name(0, 9)).unwrap().unwrap();
    assert!(written.ends_with("sessions/part-0-0-9.parquet"));
    assert_eq!(
        index.tracked(),
        1,
        "the ended session is written and dropped"
    );
    assert_eq!(
        index.write_due(name(10, 10)).unwrap(),
        None,
        "the open one waits"
    );
    let file = std::fs::File::open(&written).unwrap();
    let rows: Vec<_> = parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(file)
        .unwrap()
        .build()
        .unwrap()
        .flat_map(|batch| read::summaries(&batch.unwrap()).unwrap())
        .collect();
    assert_eq!(rows.len(), 1);
    assert_eq!(
        (rows[0].events, rows[0].commands, rows[0].blocked),
        (6, 2, 1)
    );
    assert_eq!(rows[0].final_hash, ended.last().unwrap().hash);
    let leftovers: Vec<_> = std::fs::read_dir(dir.path().join("sessions"))
        .unwrap()
        .collect();
    assert_eq!(leftovers.len(), 1, "no temporary file is left");
}

#[test]
fn an_open_session_resumes_its_counts_after_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let events = session(3, true);
    let (before, after) = events.split_at(4);
    let mut index = SessionIndex::open(dir.path(), Duration::ZERO).unwrap();
    for event in before {
        index.observe(event);
    }
    index.write_due(name(0, 3)).unwrap().unwrap();
    drop(index);

    let leftover = dir.path().join("sessions/.part-0-4-5.parquet.tmp");
    std::fs::write(&leftover, b"half a file").unwrap();
    let mut restarted = SessionIndex::open(dir.path(), Duration::ZERO).unwrap();
    assert!(!leftover.exists(), "a crash's half-written file is removed");
    assert_eq!(
        restarted.tracked(),
        1,
        "the open session is seeded from its snapshot"
    );
    for event in after {
        restarted.observe(event);
    }
    restarted.write_due(name(4, 7)).unwrap().unwrap();
    assert_eq!(restarted.tracked(), 0);
    assert!(
        read::open_sessions(&dir.path().join("sessions"))
            .unwrap()
            .is_empty()
    );
    let file = std::fs::File::open(dir.path().join("sessions/part-0-4-7.parquet")).unwrap();
    let rows: Vec<_> = parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(file)
        .unwrap()
        .build()
        .unwrap()
        .flat_map(|batch| read::summaries(&batch.unwrap()).unwrap())
        .collect();
    assert_eq!(
        (rows[0].events, rows[0].commands, rows[0].blocked),
        (8, 3, 1)
    );
    assert!(rows[0].is_ended());
}
