//! pgbench through the gateway: `pgbench -i` (DDL and a 100,000-row COPY), then the default
//! TPC-B-like script over the simple, extended and prepared protocols, with every statement
//! recorded as a command event with its result.

#![cfg(feature = "e2e")]
// A panic in a test is a failed test, not a crashed gateway.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::process::Command;

use common::{Gateway, allow_all, commands, results_of};
use schemas::{Event, verify_session};

const CLIENTS: usize = 2;
const TRANSACTIONS: usize = 200;
/// BEGIN, three UPDATEs, a SELECT, an INSERT and END.
const STATEMENTS_PER_TRANSACTION: usize = 7;

/// The default script's statements, as they start whatever the protocol.
const SCRIPT: [&str; STATEMENTS_PER_TRANSACTION] = [
    "BEGIN",
    "UPDATE pgbench_accounts",
    "SELECT abalance FROM pgbench_accounts",
    "UPDATE pgbench_tellers",
    "UPDATE pgbench_branches",
    "INSERT INTO pgbench_history",
    "END",
];

fn pgbench(gateway: &Gateway, args: &[&str]) -> String {
    let out = Command::new(gateway.program("pgbench"))
        .args(args)
        .args(["-h", "127.0.0.1", "-p", &gateway.addr.port().to_string()])
        .args(["-U", "agent", common::TARGET])
        .env("PGPASSWORD", gateway.token())
        .env("PGSSLMODE", "require")
        .env("PGCONNECT_TIMEOUT", "10")
        .output()
        .expect("pgbench runs");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(
        out.status.success(),
        "pgbench {args:?} failed:\n{stdout}\n{stderr}"
    );
    format!("{stdout}{stderr}")
}

/// Which statement of the default script `text` is, if any.
fn script_statement(text: &str) -> Option<usize> {
    let text = text.trim_start();
    SCRIPT.iter().position(|s| text.starts_with(s))
}

/// Initialises, runs `mode`, and checks pgbench's report and the events of its sessions.
async fn run_mode(mode: &str) {
    let gateway = Gateway::start(allow_all()).await;
    let init = pgbench(&gateway, &["-i", "-s", "1"]);
    assert!(init.contains("done in"), "{init}");
    assert_eq!(
        gateway
            .direct("SELECT count(*) FROM pgbench_accounts")
            .trim(),
        "100000",
        "pgbench -i loaded its rows through the gateway"
    );
    let initialised = gateway.ended_sessions(1).await;
    let copy = initialised
        .iter()
        .flat_map(|events| commands(events).into_iter().map(move |c| (events, c)))
        .find(|(_, (_, c))| c.text.starts_with("copy pgbench_accounts"))
        .map(|(events, (seq, _))| results_of(events, seq)[0].command_tag.clone());
    assert_eq!(copy, Some(Some("COPY 100000".to_owned())));

    let report = pgbench(
        &gateway,
        &[
            "-M",
            mode,
            "-c",
            &CLIENTS.to_string(),
            "-t",
            &TRANSACTIONS.to_string(),
        ],
    );
    let processed = format!(
        "number of transactions actually processed: {0}/{0}",
        CLIENTS * TRANSACTIONS
    );
    assert!(report.contains(&processed), "{report}");
    assert!(
        report.contains("number of failed transactions: 0 (0.000%)"),
        "{report}"
    );
    assert!(report.contains(&format!("query mode: {mode}")), "{report}");

    // pgbench -i's session, pgbench's own setup connection and one session per client.
    let sessions = gateway.ended_sessions(CLIENTS + 2).await;
    let mut per_statement = [0usize; STATEMENTS_PER_TRANSACTION];
    let mut client_sessions = 0;
    for events in &sessions {
        verify_session(events, &gateway.keys).expect("every session verifies");
        let script: Vec<_> = commands(events)
            .into_iter()
            .filter_map(|(seq, c)| script_statement(&c.text).map(|i| (seq, i, c)))
            .collect();
        if script.is_empty() {
            continue;
        }
        client_sessions += 1;
        assert_eq!(
            script.len(),
            commands(events).len(),
            "a client session runs nothing but the script"
        );
        for (seq, index, command) in script {
            per_statement[index] += 1;
            assert_ok_result(events, seq, &command.text);
            if mode != "simple" && command.text.contains("pgbench_accounts") {
                assert!(
                    !command.parameters.is_empty(),
                    "bind parameters are recorded: {command:?}"
                );
            }
        }
    }
    assert_eq!(client_sessions, CLIENTS);
    assert_eq!(
        per_statement,
        [CLIENTS * TRANSACTIONS; STATEMENTS_PER_TRANSACTION],
        "a command event per statement run"
    );
    gateway.stop().await;
}

fn assert_ok_result(events: &[Event], seq: u64, text: &str) {
    let results = results_of(events, seq);
    assert_eq!(results.len(), 1, "one result for {text}");
    assert!(results[0].error.is_none(), "{text}: {:?}", results[0].error);
    assert!(results[0].command_tag.is_some(), "{text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pgbench_initialises_and_runs_over_the_simple_protocol() {
    run_mode("simple").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pgbench_runs_over_the_extended_protocol() {
    run_mode("extended").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pgbench_runs_with_prepared_statements() {
    run_mode("prepared").await;
}
