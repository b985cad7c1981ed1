//! Database drivers through the gateway: tokio-postgres (binary results, typed parameters,
//! reused prepared statements, pipelining, cancel) and psycopg 3 from PyPI (server-side
//! binding, COPY both ways), each checked against the events the session left in the log.

#![cfg(feature = "e2e")]
// A panic in a test is a failed test, not a crashed gateway.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant, SystemTime};

use common::{Gateway, column, commands, has_command, no_drop, result_for, results_of};
use schemas::{EventBody, verify_session};

/// A value as the gateway records binary data: bytea's hex form.
fn hex(bytes: &[u8]) -> String {
    bytes.iter().fold("\\x".to_owned(), |mut s, b| {
        s.push_str(&format!("{b:02x}"));
        s
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn typed_parameters_and_binary_results_round_trip_and_are_recorded() {
    let gateway = Gateway::start_plaintext(no_drop()).await;
    let client = gateway.connect(&gateway.token()).await;
    let sql = "SELECT $1::int8 AS big, $2::text AS word, now() AS at";
    let row = client
        .query_one(sql, &[&42i64, &"héllo"])
        .await
        .expect("the query runs");
    assert_eq!(row.get::<_, i64>("big"), 42);
    assert_eq!(row.get::<_, &str>("word"), "héllo");
    let at: SystemTime = row.get("at");
    let skew = SystemTime::now()
        .duration_since(at)
        .unwrap_or_else(|e| e.duration());
    assert!(skew < Duration::from_secs(60), "now() is now: {skew:?}");
    drop(client);

    let sessions = gateway.ended_sessions(1).await;
    let events = &sessions[0];
    let EventBody::SessionStarted(started) = &events[0].body else {
        panic!("not started")
    };
    assert!(!started.tls, "NoTls over loopback, as the listener allows");
    let (seq, command) = commands(events)
        .into_iter()
        .find(|(_, c)| c.text == sql)
        .expect("the statement is recorded");
    // tokio-postgres binds every parameter in binary; the record shows them as hex.
    assert_eq!(
        command.parameters,
        [
            Some(hex(&42i64.to_be_bytes())),
            Some(hex("héllo".as_bytes()))
        ]
    );
    let results = results_of(events, seq);
    assert_eq!(results.len(), 1);
    let result = results[0];
    assert_eq!(result.command_tag.as_deref(), Some("SELECT 1"));
    let columns: Vec<(&str, &str)> = result
        .columns
        .iter()
        .map(|c| (c.name.as_str(), c.type_name.as_str()))
        .collect();
    assert_eq!(
        columns,
        [("big", "int8"), ("word", "text"), ("at", "timestamptz")]
    );
    assert_eq!(result.rows.len(), 1);
    assert_eq!(result.rows[0][0], Some(hex(&42i64.to_be_bytes())));
    assert_eq!(result.rows[0][1], Some(hex("héllo".as_bytes())));
    let at = result.rows[0][2].as_deref().unwrap();
    assert_eq!(at.len(), 2 + 16, "a binary timestamptz is 8 bytes: {at}");
    verify_session(events, &gateway.keys).expect("the session verifies");
    gateway.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_prepared_statement_reused_is_recorded_at_every_execution() {
    let gateway = Gateway::start_plaintext(no_drop()).await;
    let client = gateway.connect(&gateway.token()).await;
    let sql = "SELECT $1::int4 * 2 AS doubled";
    let statement = client.prepare(sql).await.expect("prepare");
    for i in 1..=5i32 {
        let row = client.query_one(&statement, &[&i]).await.expect("execute");
        assert_eq!(row.get::<_, i32>(0), i * 2);
    }
    drop(statement);
    drop(client);

    let sessions = gateway.ended_sessions(1).await;
    let events = &sessions[0];
    let executions: Vec<_> = commands(events)
        .into_iter()
        .filter(|(_, c)| c.text == sql)
        .collect();
    assert_eq!(executions.len(), 5, "one command event per Execute");
    for ((seq, command), i) in executions.into_iter().zip(1..=5i32) {
        assert_eq!(command.parameters, [Some(hex(&i.to_be_bytes()))]);
        let results = results_of(events, seq);
        assert_eq!(results.len(), 1);
        assert_eq!(results[0].columns[0].name, "doubled");
        assert_eq!(results[0].rows, [[Some(hex(&(i * 2).to_be_bytes()))]]);
    }
    verify_session(events, &gateway.keys).expect("the session verifies");
    gateway.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pipelined_queries_on_one_connection_each_get_their_own_result() {
    let gateway = Gateway::start_plaintext(no_drop()).await;
    let client = gateway.connect(&gateway.token()).await;
    let (one, words, series, broken, last) = futures::join!(
        client.query("SELECT 1::int4 AS one", &[]),
        client.query("SELECT $1::text || 'b' AS word", &[&"a"]),
        client.query("SELECT g::int4 FROM generate_series(1, 3) g", &[]),
        client.query("SELECT 1 / $1::int4", &[&0i32]),
        client.query("SELECT 'last'::text", &[]),
    );
    assert_eq!(one.unwrap()[0].get::<_, i32>(0), 1);
    assert_eq!(words.unwrap()[0].get::<_, &str>(0), "ab");
    let series: Vec<i32> = series.unwrap().iter().map(|r| r.get(0)).collect();
    assert_eq!(series, [1, 2, 3]);
    let error = broken.expect_err("division by zero");
    assert_eq!(
        error.code(),
        Some(&tokio_postgres::error::SqlState::DIVISION_BY_ZERO)
    );
    assert_eq!(
        last.unwrap()[0].get::<_, &str>(0),
        "last",
        "an error in one pipelined query does not fail the next"
    );
    drop(client);

    let sessions = gateway.ended_sessions(1).await;
    let events = &sessions[0];
    let int4 = |n: i32| Some(hex(&n.to_be_bytes()));
    assert_eq!(
        result_for(events, "SELECT 1::int4 AS one").rows,
        [[int4(1)]]
    );
    assert_eq!(
        result_for(events, "SELECT $1::text || 'b' AS word").rows,
        [[Some(hex(b"ab"))]]
    );
    let series = result_for(events, "SELECT g::int4 FROM generate_series(1, 3) g");
    assert_eq!(series.rows, [[int4(1)], [int4(2)], [int4(3)]]);
    assert_eq!(series.command_tag.as_deref(), Some("SELECT 3"));
    // PostgreSQL plans (and so folds `1 / 0`) at Bind: the Execute never runs, and its
    // result carries the error that stopped it.
    let broken = result_for(events, "SELECT 1 / $1::int4");
    let error = broken.error.as_ref().expect("recorded as failed");
    assert_eq!(error.code, "22012");
    assert_eq!(error.message, "division by zero");
    assert_eq!(
        result_for(events, "SELECT 'last'::text").rows,
        [[Some(hex(b"last"))]]
    );
    verify_session(events, &gateway.keys).expect("the session verifies");
    gateway.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cancel_request_stops_a_long_query_and_the_connection_goes_on() {
    let gateway = Gateway::start_plaintext(no_drop()).await;
    let client = gateway.connect(&gateway.token()).await;
    let cancel = client.cancel_token();
    let sleeping = "SELECT pg_sleep(30)";
    let started = Instant::now();
    let (result, ()) = tokio::join!(client.simple_query(sleeping), async {
        gateway.wait_until_running(sleeping).await;
        cancel
            .cancel_query(tokio_postgres::NoTls)
            .await
            .expect("the cancel request is accepted");
    });
    let error = result.expect_err("the query was cancelled");
    assert_eq!(
        error.code(),
        Some(&tokio_postgres::error::SqlState::QUERY_CANCELED)
    );
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "cancelled, not finished: {:?}",
        started.elapsed()
    );
    let row = client
        .query_one("SELECT 'still here'::text", &[])
        .await
        .expect("the connection still works");
    assert_eq!(row.get::<_, &str>(0), "still here");
    drop(client);

    let sessions = gateway.ended_sessions(1).await;
    let events = &sessions[0];
    let cancelled = result_for(events, sleeping);
    let error = cancelled.error.as_ref().expect("recorded as failed");
    assert_eq!(error.code, "57014");
    assert!(error.message.contains("canceling statement"), "{error:?}");
    assert!(has_command(events, "SELECT 'still here'::text"));
    verify_session(events, &gateway.keys).expect("the session verifies");
    gateway.stop().await;
}

/// `python3` with psycopg, or a failure that says how to get it.
fn python_with_psycopg() -> Command {
    let found = Command::new("python3")
        .args(["-c", "import psycopg"])
        .output();
    match found {
        Ok(out) if out.status.success() => Command::new("python3"),
        Ok(out) => panic!(
            "psycopg 3 is not installed for python3 ({}): scripts/setup installs it \
             (python3 -m pip install 'psycopg[binary]')",
            String::from_utf8_lossy(&out.stderr).trim()
        ),
        Err(e) => panic!("python3 cannot run ({e}): scripts/setup installs it"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn psycopg_binds_server_side_and_copies_in_and_out() {
    let mut python = python_with_psycopg();
    let gateway = Gateway::start(no_drop()).await;
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/clients/psycopg_session.py");
    let out = python
        .arg(script)
        .arg(gateway.dsn("require"))
        .env("PGPASSWORD", gateway.token())
        .env("PGCONNECT_TIMEOUT", "10")
        .output()
        .expect("python3 runs");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "the psycopg client failed: {stderr}");
    let printed: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON output");
    assert_eq!(
        printed,
        serde_json::json!({
            "tls": true,
            "sums": [3, 42, 101],
            "copied_in": 3,
            "expensive": [["apple", "1.50"], ["cherry", "12.00"]],
            "copied_out": [["1", "apple"], ["2", "banana"], ["3", "cherry"]],
        })
    );
    assert_eq!(
        gateway
            .direct("SELECT string_agg(name, ',' ORDER BY id) FROM fruit")
            .trim(),
        "apple,banana,cherry"
    );

    let sessions = gateway.ended_sessions(1).await;
    let events = &sessions[0];
    // psycopg turns `%s` into `$n` and binds server-side: one event per execution, each
    // with its parameters and its own result.
    let sums: Vec<_> = commands(events)
        .into_iter()
        .filter(|(_, c)| c.text == "SELECT $1::int4 + $2::int4 AS sum")
        .collect();
    assert_eq!(sums.len(), 3, "each execution of the prepared statement");
    for ((seq, command), sum) in sums.into_iter().zip(["3", "42", "101"]) {
        assert_eq!(command.parameters.len(), 2);
        assert!(command.parameters.iter().all(Option::is_some));
        let results = results_of(events, seq);
        assert_eq!(results.len(), 1);
        assert_eq!(column(results[0]), [sum]);
    }
    let expensive = result_for(
        events,
        "SELECT name, price FROM fruit WHERE price > $1 ORDER BY id",
    );
    assert_eq!(expensive.command_tag.as_deref(), Some("SELECT 2"));
    assert_eq!(
        expensive.rows[0][0],
        Some(hex(b"apple")),
        "binary results are recorded as hex"
    );
    assert_eq!(expensive.rows[1][0], Some(hex(b"cherry")));
    let copy_in = result_for(events, "COPY fruit (id, name, price) FROM STDIN");
    assert_eq!(copy_in.command_tag.as_deref(), Some("COPY 3"));
    let copy_out = result_for(
        events,
        "COPY (SELECT id, name FROM fruit ORDER BY id) TO STDOUT",
    );
    assert_eq!(copy_out.command_tag.as_deref(), Some("COPY 3"));
    assert_eq!(column(copy_out), ["1\tapple", "2\tbanana", "3\tcherry"]);
    verify_session(events, &gateway.keys).expect("the session verifies");
    gateway.stop().await;
}
