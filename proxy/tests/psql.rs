//! psql through the gateway: `-c`, `-f` scripts, `\copy` in both directions, errors inside
//! transactions and multi-statement queries, each checked against the database and against
//! the events the session left in the log.

#![cfg(feature = "e2e")]
// A panic in a test is a failed test, not a crashed gateway.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{
    Gateway, column, commands, has_command, kinds, no_drop, result_for, results, results_of,
};
use schemas::{EventBody, verify_session};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_dash_c_is_one_command_with_its_own_result_on_one_session() {
    let gateway = Gateway::start(no_drop()).await;
    let out = gateway.psql(
        &gateway.token(),
        &[
            "-c",
            "CREATE TABLE t (id int)",
            "-c",
            "INSERT INTO t SELECT generate_series(1, 3)",
            "-c",
            "SELECT sum(id) AS total FROM t",
        ],
    );
    assert!(out.ok, "{}", out.stderr);
    assert_eq!(out.stdout.trim(), "6");

    let sessions = gateway.ended_sessions(1).await;
    assert_eq!(sessions.len(), 1, "one connection for all three -c");
    let events = &sessions[0];
    let texts: Vec<&str> = commands(events)
        .iter()
        .map(|(_, c)| c.text.as_str())
        .collect();
    assert_eq!(
        texts,
        [
            "CREATE TABLE t (id int)",
            "INSERT INTO t SELECT generate_series(1, 3)",
            "SELECT sum(id) AS total FROM t"
        ]
    );
    assert_eq!(
        result_for(events, "CREATE TABLE t (id int)")
            .command_tag
            .as_deref(),
        Some("CREATE TABLE")
    );
    let insert = result_for(events, "INSERT INTO t SELECT generate_series(1, 3)");
    assert_eq!(insert.command_tag.as_deref(), Some("INSERT 0 3"));
    assert_eq!(insert.row_count, 3);
    let total = result_for(events, "SELECT sum(id) AS total FROM t");
    assert_eq!(total.columns[0].name, "total");
    assert_eq!(total.columns[0].type_name, "int8");
    assert_eq!(column(total), ["6"]);
    verify_session(events, &gateway.keys).expect("the session verifies");
    gateway.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_script_file_runs_every_statement_including_two_on_one_line() {
    let gateway = Gateway::start(no_drop()).await;
    let script = gateway.data.path().join("script.sql");
    std::fs::write(
        &script,
        "CREATE TABLE notes (id int PRIMARY KEY, body text);\n\
         INSERT INTO notes VALUES (1, 'one'), (2, 'two');\n\
         INSERT INTO notes VALUES (3, 'three'); SELECT count(*) FROM notes;\n\
         SELECT body FROM notes ORDER BY id;\n",
    )
    .unwrap();
    let out = gateway.psql(
        &gateway.token(),
        &["-v", "ON_ERROR_STOP=1", "-f", script.to_str().unwrap()],
    );
    assert!(out.ok, "{}", out.stderr);
    assert_eq!(out.stdout.trim(), "3\none\ntwo\nthree");
    assert_eq!(gateway.direct("SELECT count(*) FROM notes").trim(), "3");

    let sessions = gateway.ended_sessions(1).await;
    let events = &sessions[0];
    // psql splits a script into statements itself: the two on one line go as two Queries.
    let texts: Vec<&str> = commands(events)
        .iter()
        .map(|(_, c)| c.text.as_str())
        .collect();
    assert_eq!(
        texts,
        [
            "CREATE TABLE notes (id int PRIMARY KEY, body text);",
            "INSERT INTO notes VALUES (1, 'one'), (2, 'two');",
            "INSERT INTO notes VALUES (3, 'three');",
            "SELECT count(*) FROM notes;",
            "SELECT body FROM notes ORDER BY id;"
        ]
    );
    for (seq, command) in commands(events) {
        let summary = command.summary.as_ref().expect("a summary");
        assert_eq!(summary.statements, 1, "{}", command.text);
        assert_eq!(results_of(events, seq).len(), 1, "{}", command.text);
    }
    assert_eq!(
        result_for(events, "INSERT INTO notes VALUES (3, 'three');")
            .command_tag
            .as_deref(),
        Some("INSERT 0 1")
    );
    assert_eq!(
        column(result_for(events, "SELECT count(*) FROM notes;")),
        ["3"]
    );
    let bodies = result_for(events, "SELECT body FROM notes ORDER BY id;");
    assert_eq!(column(bodies), ["one", "two", "three"]);
    assert_eq!(bodies.command_tag.as_deref(), Some("SELECT 3"));
    verify_session(events, &gateway.keys).expect("the session verifies");
    gateway.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn copy_from_stdin_and_from_a_file_and_to_a_file_round_trips_the_rows() {
    let gateway = Gateway::start(no_drop()).await;
    gateway.direct("CREATE TABLE items (id int, name text)");
    let dir = gateway.data.path();
    let input = dir.join("input.csv");
    std::fs::write(&input, "3,gamma\n4,delta\n").unwrap();
    let output = dir.join("output.tsv");
    // `\copy ... from stdin` inside a script reads the data that follows it in the script.
    let script = dir.join("copy.sql");
    std::fs::write(
        &script,
        format!(
            "\\copy items from stdin\n1\talpha\n2\tbeta\n\\.\n\
             \\copy items from '{}' with (format csv)\n\
             \\copy (SELECT id, name FROM items ORDER BY id) to '{}'\n",
            input.display(),
            output.display()
        ),
    )
    .unwrap();
    let out = gateway.psql(
        &gateway.token(),
        &["-v", "ON_ERROR_STOP=1", "-f", script.to_str().unwrap()],
    );
    assert!(out.ok, "{}", out.stderr);
    assert_eq!(
        std::fs::read_to_string(&output).unwrap(),
        "1\talpha\n2\tbeta\n3\tgamma\n4\tdelta\n",
        "what went in comes back out"
    );
    assert_eq!(
        gateway
            .direct("SELECT string_agg(id || ':' || name, ',' ORDER BY id) FROM items")
            .trim(),
        "1:alpha,2:beta,3:gamma,4:delta"
    );

    let sessions = gateway.ended_sessions(1).await;
    let events = &sessions[0];
    let copies = commands(events);
    assert_eq!(copies.len(), 3, "{copies:#?}");
    let tags: Vec<Option<&str>> = copies
        .iter()
        .map(|(seq, _)| {
            let results = results_of(events, *seq);
            assert_eq!(results.len(), 1);
            results[0].command_tag.as_deref()
        })
        .collect();
    assert_eq!(tags, [Some("COPY 2"), Some("COPY 2"), Some("COPY 4")]);
    assert!(
        copies[0].1.text.contains("FROM STDIN"),
        "{}",
        copies[0].1.text
    );
    assert!(
        copies[1].1.text.contains("FROM STDIN"),
        "{}",
        copies[1].1.text
    );
    assert!(
        copies[2].1.text.contains("TO STDOUT"),
        "{}",
        copies[2].1.text
    );
    // COPY TO data is recorded line by line, like rows.
    let out_rows = column(results_of(events, copies[2].0)[0]);
    assert_eq!(out_rows, ["1\talpha", "2\tbeta", "3\tgamma", "4\tdelta"]);
    verify_session(events, &gateway.keys).expect("the session verifies");
    gateway.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_error_inside_a_transaction_aborts_it_until_rollback_recovers() {
    let gateway = Gateway::start(no_drop()).await;
    gateway.direct("CREATE TABLE ledger (amount int)");
    let script = gateway.data.path().join("tx.sql");
    std::fs::write(
        &script,
        "BEGIN;\n\
         INSERT INTO ledger VALUES (10);\n\
         SELECT 1 / 0;\n\
         INSERT INTO ledger VALUES (20);\n\
         ROLLBACK;\n\
         SELECT count(*) FROM ledger;\n",
    )
    .unwrap();
    let out = gateway.psql(&gateway.token(), &["-f", script.to_str().unwrap()]);
    assert!(
        out.stderr.contains("division by zero"),
        "the error reaches psql: {}",
        out.stderr
    );
    assert!(
        out.stderr.contains("current transaction is aborted"),
        "the transaction stays failed: {}",
        out.stderr
    );
    assert_eq!(out.stdout.trim(), "0", "after ROLLBACK the session works");
    assert_eq!(gateway.direct("SELECT count(*) FROM ledger").trim(), "0");

    let sessions = gateway.ended_sessions(1).await;
    let events = &sessions[0];
    let error_of = |text: &str| {
        result_for(events, text)
            .error
            .as_ref()
            .map(|e| e.code.clone())
    };
    assert_eq!(error_of("INSERT INTO ledger VALUES (10);"), None);
    assert_eq!(error_of("SELECT 1 / 0;").as_deref(), Some("22012"));
    assert_eq!(
        error_of("INSERT INTO ledger VALUES (20);").as_deref(),
        Some("25P02"),
        "in_failed_sql_transaction"
    );
    assert_eq!(
        result_for(events, "ROLLBACK;").command_tag.as_deref(),
        Some("ROLLBACK")
    );
    assert_eq!(
        column(result_for(events, "SELECT count(*) FROM ledger;")),
        ["0"]
    );
    let failed = result_for(events, "SELECT 1 / 0;");
    assert!(
        failed
            .error
            .as_ref()
            .unwrap()
            .message
            .contains("division by zero")
    );
    verify_session(events, &gateway.keys).expect("the session verifies");
    gateway.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_multi_statement_query_gets_one_result_event_per_statement() {
    let gateway = Gateway::start(no_drop()).await;
    let out = gateway.psql(&gateway.token(), &["-c", "SELECT 1; SELECT 2"]);
    assert!(out.ok, "{}", out.stderr);
    assert_eq!(out.stdout.trim(), "1\n2");
    let out = gateway.psql(
        &gateway.token(),
        &["-c", "SELECT 'a' AS x; SELECT 1 / 0; SELECT 'never'"],
    );
    assert!(out.stderr.contains("division by zero"), "{}", out.stderr);

    let sessions = gateway.ended_sessions(2).await;
    let events = sessions
        .iter()
        .find(|events| has_command(events, "SELECT 1; SELECT 2"))
        .unwrap();
    assert_eq!(
        kinds(events),
        [
            "session.started",
            "authentication.succeeded",
            "command.received",
            "policy.decided",
            "result.returned",
            "result.returned",
            "session.ended"
        ]
    );
    let (seq, command) = commands(events)[0];
    assert_eq!(command.summary.as_ref().unwrap().statements, 2);
    let each = results_of(events, seq);
    assert_eq!(each.len(), 2, "a result per statement");
    assert_eq!(column(each[0]), ["1"]);
    assert_eq!(column(each[1]), ["2"]);
    assert!(
        each.iter()
            .all(|r| r.command_tag.as_deref() == Some("SELECT 1"))
    );

    // The statement that fails ends the Query: the third never runs and has no result.
    let events = sessions
        .iter()
        .find(|events| has_command(events, "SELECT 'a' AS x; SELECT 1 / 0; SELECT 'never'"))
        .unwrap();
    let all = results(events);
    assert_eq!(all.len(), 2, "{all:#?}");
    assert_eq!(column(all[0]), ["a"]);
    assert_eq!(all[1].error.as_ref().unwrap().code, "22012");
    for events in &sessions {
        verify_session(events, &gateway.keys).expect("the session verifies");
        let EventBody::SessionEnded(ended) = &events.last().unwrap().body else {
            panic!("not ended")
        };
        assert_eq!(ended.counters.commands, 1);
    }
    gateway.stop().await;
}
