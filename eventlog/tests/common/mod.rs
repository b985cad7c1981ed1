//! Shared by the event log's integration tests: synthetic events and the checks every
//! transport must pass.

#![allow(dead_code)]

use std::collections::{BTreeMap, HashSet};
use std::time::{Duration, Instant};

use bytes::Bytes;
use eventlog::{Entry, Record, Subscription};

/// About the size of a real command event.
pub const EVENT_SIZE: usize = 300;

/// Record `n` of a run: `sessions` sessions of that run interleaved, each value unique and
/// self-describing (session and seq), padded to `EVENT_SIZE` bytes.
pub fn event(run: &str, n: u64, sessions: u64) -> Record {
    let session = format!("{run}-s{:04}", n % sessions);
    let seq = n / sessions;
    let mut value = format!("{{\"session\":\"{session}\",\"seq\":{seq},\"pad\":\"");
    while value.len() < EVENT_SIZE - 2 {
        value.push('x');
    }
    value.push_str("\"}");
    Record::new(session, value)
}

/// `(session, seq)` back out of a value made by `event`.
pub fn parse(value: &[u8]) -> (String, u64) {
    let text = std::str::from_utf8(value).expect("utf-8 value");
    let json: serde_json::Value = serde_json::from_str(text).expect("json value");
    (
        json["session"].as_str().expect("session").to_owned(),
        json["seq"].as_u64().expect("seq"),
    )
}

/// Reads until `count` entries arrived or `deadline` passed.
pub async fn read(sub: &mut Box<dyn Subscription>, count: usize, deadline: Duration) -> Vec<Entry> {
    let until = Instant::now() + deadline;
    let mut out = Vec::with_capacity(count);
    while out.len() < count && Instant::now() < until {
        let want = (count - out.len()).min(10_000);
        let batch = sub
            .poll(want, Duration::from_millis(500))
            .await
            .expect("poll");
        out.extend(batch);
    }
    out
}

/// Every expected value arrived exactly once, byte for byte, and each session's events are
/// in their order.
pub fn assert_exactly_once_in_order(expected: &[Record], got: &[Entry]) {
    let mut seen = HashSet::with_capacity(got.len());
    for entry in got {
        assert!(
            seen.insert(entry.value.clone()),
            "delivered twice: {:?}",
            parse(&entry.value)
        );
    }
    let wanted: HashSet<Bytes> = expected.iter().map(|r| r.value.clone()).collect();
    let missing = wanted.difference(&seen).count();
    let extra = seen.difference(&wanted).count();
    assert_eq!(
        (missing, extra),
        (0, 0),
        "{missing} events missing, {extra} unexpected"
    );

    let mut last: BTreeMap<String, u64> = BTreeMap::new();
    for entry in got {
        let (session, seq) = parse(&entry.value);
        assert_eq!(
            entry.key,
            Bytes::from(session.clone()),
            "key is the session"
        );
        if let Some(previous) = last.insert(session.clone(), seq) {
            assert!(
                seq > previous,
                "session {session}: seq {seq} after {previous}"
            );
        }
    }
}

/// Reads until at least `count` entries arrived and then nothing more for `quiet`, so that a
/// record delivered twice after the expected ones is seen too; gives up at `deadline`.
pub async fn read_until_quiet(
    sub: &mut Box<dyn Subscription>,
    count: usize,
    quiet: Duration,
    deadline: Duration,
) -> Vec<Entry> {
    let until = Instant::now() + deadline;
    let mut out = Vec::with_capacity(count);
    let mut last_arrival = Instant::now();
    while Instant::now() < until {
        let batch = sub
            .poll(10_000, Duration::from_millis(250))
            .await
            .expect("poll");
        if !batch.is_empty() {
            last_arrival = Instant::now();
            out.extend(batch);
        } else if out.len() >= count && last_arrival.elapsed() >= quiet {
            break;
        }
    }
    out
}
