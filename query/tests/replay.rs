//! Replays from the archive: asciicast output, the screen at a moment (with keyframes) against
//! the same bytes fed straight into the emulator, and SQL transcripts.

// A panic in a test is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use query::replay::screen::{ScreenIndex, screen_at};
use query::replay::terminal::{Pace, Recording};

async fn recording(fixture: &common::Fixture, session: uuid::Uuid) -> Recording {
    let ctx = query::context::open(&fixture.archive()).await.unwrap();
    let events = query::replay::load_session(&ctx, &session.to_string())
        .await
        .unwrap();
    Recording::from_events(&events)
}

fn asciicast(recording: &Recording, pace: Pace) -> (serde_json::Value, Vec<(f64, String, String)>) {
    let mut out = Vec::new();
    query::replay::asciicast::write(recording, pace, "a title", &mut out).unwrap();
    let text = String::from_utf8(out).unwrap();
    let mut lines = text.lines();
    let header: serde_json::Value = serde_json::from_str(lines.next().unwrap()).unwrap();
    let events = lines
        .map(|line| {
            let event: (f64, String, String) = serde_json::from_str(line).unwrap();
            event
        })
        .collect();
    (header, events)
}

#[tokio::test]
async fn asciicast_has_a_v2_header_and_one_line_per_event() {
    let fixture = common::record(50).await;
    let recording = recording(&fixture, common::ALICE_SSH).await;
    let (header, events) = asciicast(&recording, Pace::default());
    assert_eq!(header["version"], 2);
    assert_eq!(
        (header["width"].as_u64(), header["height"].as_u64()),
        (Some(100), Some(30))
    );
    assert_eq!(
        header["timestamp"].as_i64(),
        Some(common::BASE_NANOS / common::SECOND + 40)
    );
    assert_eq!(header["title"], "a title");
    assert!(header.get("idle_time_limit").is_none());
    let output: String = events
        .iter()
        .filter(|e| e.1 == "o")
        .map(|e| e.2.as_str())
        .collect();
    let recorded: Vec<u8> = common::ssh_output()
        .into_iter()
        .flat_map(|(_, data)| data)
        .collect();
    assert_eq!(output.as_bytes(), recorded.as_slice());
    assert_eq!(
        events
            .iter()
            .filter(|e| e.1 == "i")
            .map(|e| e.2.as_str())
            .collect::<Vec<_>>(),
        ["ls\r"]
    );
    assert_eq!(
        events
            .iter()
            .filter(|e| e.1 == "r")
            .map(|e| e.2.as_str())
            .collect::<Vec<_>>(),
        ["100x30"]
    );
    assert!(
        events.windows(2).all(|w| w[0].0 <= w[1].0),
        "times never go back"
    );
    assert_eq!(events.last().unwrap().0, 63.0);
}

#[tokio::test]
async fn speed_and_max_idle_change_the_timing() {
    let fixture = common::record(50).await;
    let recording = recording(&fixture, common::ALICE_SSH).await;
    let (_, fast) = asciicast(
        &recording,
        Pace {
            speed: 2.0,
            max_idle: None,
        },
    );
    assert_eq!(fast.last().unwrap().0, 31.5);
    let pace = Pace {
        speed: 1.0,
        max_idle: Some(Duration::from_millis(500)),
    };
    let (header, capped) = asciicast(&recording, pace);
    assert_eq!(header["idle_time_limit"], 0.5);
    assert!(capped.windows(2).all(|w| w[1].0 - w[0].0 <= 0.5 + 1e-9));
}

#[tokio::test]
async fn the_screen_at_a_moment_equals_the_bytes_fed_straight_into_the_emulator() {
    let fixture = common::record(50).await;
    let recording = recording(&fixture, common::ALICE_SSH).await;
    let index = ScreenIndex::build(recording.clone(), Duration::from_secs(5));
    assert!(index.keyframes() >= 10, "{} keyframes", index.keyframes());
    for seconds in [0.0, 5.0, 10.5, 33.0, 47.2, 61.9, 62.0, 63.0, 3600.0] {
        let at = Duration::from_secs_f64(seconds);
        // The live capture: the same bytes fed into a fresh emulator of the session's size.
        let mut live = vt100::Parser::new(
            std::num::NonZeroU16::new(30).unwrap(),
            std::num::NonZeroU16::new(100).unwrap(),
            0,
        );
        for (offset, data) in common::ssh_output() {
            if Duration::from_secs(offset) <= at {
                live.process(&data);
            }
        }
        let seeked = index.at(at);
        assert_eq!(
            seeked.screen().contents(),
            live.screen().contents(),
            "at {seconds}s"
        );
        assert_eq!(
            seeked.screen().cursor_position(),
            live.screen().cursor_position(),
            "at {seconds}s"
        );
        assert_eq!(
            screen_at(&recording, at).screen().contents(),
            live.screen().contents()
        );
    }
    assert!(
        index
            .at(Duration::from_secs(62))
            .screen()
            .contents()
            .starts_with("top - load average")
    );
}

#[tokio::test]
async fn a_sql_session_replays_as_a_psql_transcript() {
    let fixture = common::record(50).await;
    let ctx = query::context::open(&fixture.archive()).await.unwrap();
    let events = query::replay::load_session(&ctx, &common::ALICE_SQL.to_string())
        .await
        .unwrap();
    assert!(Recording::from_events(&events).is_empty());
    let text = query::replay::sql::transcript(&events);
    let expected = "\norders-db=> SELECT id, email FROM public.orders\n\
                    -- verdict: allow (allow-reads)\n\
                    \x20id | email \n\
                    ----+-------\n\
                    \x201  | ***\n\
                    \x202  | ***\n\
                    (2 rows)\n\
                    Time: 1.500 ms\n\
                    \n\
                    orders-db=> DELETE FROM orders WHERE id = 1\n\
                    -- verdict: block (no-delete)\n\
                    ERROR:  deleting orders is not allowed\n";
    assert!(text.contains(expected), "{text}");
    assert!(text.starts_with(&format!(
        "-- session {} by alice (agent claude-code) on orders-db",
        common::ALICE_SQL
    )));
    assert!(text.contains("-- session ended (ClientClosed)"));

    let events = query::replay::load_session(&ctx, &common::BOB_APPROVED.to_string())
        .await
        .unwrap();
    let text = query::replay::sql::transcript(&events);
    assert!(text.contains("-- held for approval by dba (policy approve-writes)\n-- approved by carol: ticket OPS-7\nUPDATE 1\nTime: 2.000 ms\n"), "{text}");
}
