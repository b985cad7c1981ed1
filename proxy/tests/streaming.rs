//! A result far larger than memory should hold streams through the gateway: ten million rows
//! to psql, with the gateway's memory bounded and the result event counting every row while
//! keeping only the first ones.
//!
//! Alone in its file (so its own test binary): the peak resident set it measures is this
//! process's, and no other test may run beside it.

#![cfg(feature = "e2e")]
// A panic in a test is a failed test, not a crashed gateway.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Instant;

use common::{Gateway, commands, no_drop, peak_rss, results_of};
use schemas::verify_session;

const ROWS: u64 = 10_000_000;
/// What the gateway may grow by while relaying: its buffers and the recorded first rows,
/// nowhere near the result's size (about 130 MB on the wire).
const MAX_GROWTH: u64 = 300 * 1024 * 1024;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_million_rows_stream_through_in_bounded_memory() {
    let gateway = Gateway::start(no_drop()).await;
    let sql = format!("SELECT g FROM generate_series(1, {ROWS}) g");
    let before = peak_rss();
    let started = Instant::now();
    let out = gateway.psql(&gateway.token(), &["-o", "/dev/null", "-c", &sql]);
    let elapsed = started.elapsed();
    let growth = peak_rss().saturating_sub(before);
    assert!(out.ok, "{}", out.stderr);
    eprintln!(
        "{ROWS} rows through the gateway in {elapsed:?}; peak RSS grew by {} MiB",
        growth / (1024 * 1024)
    );
    assert!(
        growth < MAX_GROWTH,
        "the gateway's peak RSS grew by {growth} bytes relaying {ROWS} rows"
    );

    let sessions = gateway.ended_sessions(1).await;
    let events = &sessions[0];
    let (seq, command) = commands(events)[0];
    assert_eq!(command.text, sql);
    let results = results_of(events, seq);
    assert_eq!(results.len(), 1);
    let result = results[0];
    assert_eq!(result.command_tag, Some(format!("SELECT {ROWS}")));
    assert_eq!(result.row_count, ROWS);
    assert!(result.truncated, "only the first rows are kept");
    assert!(!result.rows.is_empty());
    assert!((result.rows.len() as u64) < ROWS);
    assert_eq!(result.rows[0], [Some("1".to_owned())]);
    verify_session(events, &gateway.keys).expect("the session verifies");
    gateway.stop().await;
}
