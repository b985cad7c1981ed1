//! The PostgreSQL gateway end to end: real PostgreSQL, real psql, events read back from the log.

#![cfg(feature = "e2e")]
// A panic in a test is a failed test, not a crashed gateway.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{Gateway, kinds, no_drop};
use schemas::{EventBody, verify_session};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn psql_over_tls_runs_a_query_and_the_session_is_recorded_and_sealed() {
    let gateway = Gateway::start(no_drop()).await;
    let out = gateway.psql(&gateway.token(), &["-c", "SELECT 40 + 2 AS answer"]);
    assert!(out.ok, "{}", out.stderr);
    assert_eq!(out.stdout.trim(), "42");

    let sessions = gateway.ended_sessions(1).await;
    let events = &sessions[0];
    assert_eq!(
        kinds(events),
        [
            "session.started",
            "authentication.succeeded",
            "command.received",
            "policy.decided",
            "result.returned",
            "session.ended"
        ]
    );
    let actor = &events[0].actor;
    assert_eq!(actor.subject, "dev@example.com");
    assert_eq!(actor.agents, ["coding-agent"]);
    assert_eq!(actor.groups, ["agents"]);
    let EventBody::SessionStarted(started) = &events[0].body else {
        panic!("not started")
    };
    assert!(started.tls);
    let EventBody::CommandReceived(command) = &events[2].body else {
        panic!("not a command")
    };
    assert_eq!(command.text, "SELECT 40 + 2 AS answer");
    let EventBody::ResultReturned(result) = &events[4].body else {
        panic!("not a result")
    };
    assert_eq!(result.command_seq, events[2].seq);
    assert_eq!(result.command_tag.as_deref(), Some("SELECT 1"));
    assert_eq!(result.columns[0].name, "answer");
    assert_eq!(result.rows, vec![vec![Some("42".to_owned())]]);
    verify_session(events, &gateway.keys).expect("the chain verifies and is sealed");
    gateway.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_blocked_statement_never_reaches_the_database_and_the_connection_goes_on() {
    let gateway = Gateway::start(no_drop()).await;
    gateway.direct("CREATE TABLE precious (id int); INSERT INTO precious VALUES (1)");
    let out = gateway.psql(
        &gateway.token(),
        &[
            "-c",
            "DROP TABLE precious",
            "-c",
            "SELECT count(*) FROM precious",
        ],
    );
    assert!(
        out.stderr.contains("blocked by policy no-drop"),
        "{}",
        out.stderr
    );
    assert!(
        out.stderr
            .contains("dropping and truncating tables is not allowed here"),
        "{}",
        out.stderr
    );
    assert_eq!(
        out.stdout.trim(),
        "1",
        "the same connection runs the next statement"
    );
    assert_eq!(
        gateway.direct("SELECT count(*) FROM precious").trim(),
        "1",
        "the table is still there"
    );

    let sessions = gateway.ended_sessions(1).await;
    let events = &sessions[0];
    let decided = events.iter().find_map(|e| match &e.body {
        EventBody::PolicyDecided(d) if d.verdict == schemas::body::Verdict::Block => Some(d),
        _ => None,
    });
    let decided = decided.expect("a block verdict was recorded");
    assert_eq!(decided.policies, ["no-drop"]);
    gateway.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_block_inside_a_transaction_fails_it_as_postgres_would() {
    let gateway = Gateway::start(no_drop()).await;
    gateway.direct("CREATE TABLE t (id int)");
    let script = "BEGIN;\nINSERT INTO t VALUES (1);\nTRUNCATE t;\nSELECT 1;\nCOMMIT;\n";
    let out = gateway.psql(&gateway.token(), &["-c", script]);
    assert!(!out.ok);
    let out = gateway.psql(
        &gateway.token(),
        &[
            "-c",
            "BEGIN",
            "-c",
            "INSERT INTO t VALUES (1)",
            "-c",
            "TRUNCATE t",
            "-c",
            "SELECT 1",
            "-c",
            "COMMIT",
        ],
    );
    assert!(out.stderr.contains("blocked by policy"), "{}", out.stderr);
    assert!(
        out.stderr.contains("current transaction is aborted"),
        "{}",
        out.stderr
    );
    assert_eq!(
        gateway.direct("SELECT count(*) FROM t").trim(),
        "0",
        "the transaction was rolled back"
    );
    gateway.stop().await;
}
