//! Just-in-time approval end to end: statements held by policy while psql or tokio-postgres
//! waits, decided through the approvals HTTP API by people with their own tokens, and the
//! events each outcome leaves in the session and on the control stream.

#![cfg(feature = "e2e")]
// A panic in a test is a failed test, not a crashed gateway.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::process::Stdio;
use std::time::{Duration, Instant};

use common::approvals::{decided, requested, start, table_exists, waiting_for};
use common::{Gateway, kinds};
use proxy::approvals::client::ClientError;
use schemas::body::{ApprovalDecision, Verdict};
use schemas::control::ControlBody;
use schemas::{EventBody, verify_session};

/// psql running `sql` in the background, its output collected when it ends.
fn psql_background(gateway: &Gateway, token: &str, sql: &str) -> tokio::process::Child {
    tokio::process::Command::new(gateway.program("psql"))
        .arg(gateway.dsn("require"))
        .args(["-X", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-c", sql])
        .env("PGPASSWORD", token)
        .env("PGCONNECT_TIMEOUT", "10")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("psql starts")
}

async fn session_with_approval(gateway: &Gateway) -> Vec<schemas::Event> {
    let events = gateway
        .ended_session(1, |events| !requested(events).is_empty())
        .await;
    verify_session(&events, &gateway.keys).expect("the session's record verifies");
    events
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_held_drop_waits_for_a_dba_and_runs_when_approved() {
    let gateway = start("10m").await;
    gateway.direct_async("CREATE TABLE doomed (id int)").await;
    let psql = psql_background(&gateway, &gateway.token(), "DROP TABLE doomed");

    let bob = gateway.approver("bob@example.com", &["dba"]);
    let view = waiting_for(&bob, "DROP TABLE doomed").await;
    assert_eq!(view.group, "dba");
    assert_eq!(view.policy, "drop-needs-a-dba");
    assert_eq!(view.subject, "dev@example.com");
    assert_eq!(view.agents, ["coding-agent"]);
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(table_exists(&gateway, "doomed").await, "held, not run");

    let approved = bob
        .approve(view.id, Some("planned cleanup".into()), None)
        .await
        .expect("bob approves");
    assert_eq!(approved.status, "approved");
    let out = psql.wait_with_output().await.unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(
        stderr.contains(&format!("blastwall approvals approve {}", view.id)),
        "the notice tells how to approve: {stderr}"
    );
    assert!(
        !table_exists(&gateway, "doomed").await,
        "dropped once approved"
    );

    let events = session_with_approval(&gateway).await;
    let k = kinds(&events);
    let at = k.iter().position(|k| *k == "approval.requested").unwrap();
    assert_eq!(
        &k[at - 2..at + 3],
        [
            "command.received",
            "policy.decided",
            "approval.requested",
            "approval.decided",
            "result.returned"
        ]
    );
    let EventBody::PolicyDecided(policy) = &events[at - 1].body else {
        unreachable!()
    };
    assert_eq!(policy.verdict, Verdict::ApprovalRequired);
    let request = requested(&events)[0];
    assert_eq!(request.approval_id, view.id);
    assert_eq!(request.command, "DROP TABLE doomed");
    assert_eq!(request.approver_group, "dba");
    assert_eq!(request.approvers_required, 1);
    assert_eq!(request.command_seq, events[at - 2].seq);
    let vote = decided(&events)[0];
    assert_eq!(vote.decision, ApprovalDecision::Approve);
    assert_eq!(vote.reason.as_deref(), Some("planned cleanup"));
    assert_eq!(vote.approver.as_ref().unwrap().subject, "bob@example.com");

    let control = gateway.control_events().await;
    let control_kinds: Vec<&str> = control
        .iter()
        .map(|e| match &e.body {
            ControlBody::ApprovalRequested(_) => "approval.requested",
            ControlBody::ApprovalDecided(_) => "approval.decided",
            ControlBody::GrantIssued(_) => "grant.issued",
            _ => "other",
        })
        .collect();
    assert_eq!(control_kinds, ["approval.requested", "approval.decided"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn inside_a_transaction_an_extended_protocol_statement_is_held_and_the_transaction_goes_on() {
    let gateway = start("10m").await;
    gateway
        .direct_async("CREATE TABLE kept (id int); CREATE TABLE doomed (id int)")
        .await;
    let mut client = gateway.connect(&gateway.token()).await;
    let bob = gateway.approver("bob@example.com", &["dba"]);
    let waiter = tokio::spawn(async move {
        let tx = client.transaction().await.unwrap();
        tx.execute("INSERT INTO kept VALUES ($1)", &[&7i32])
            .await
            .unwrap();
        let dropped = tx.execute("DROP TABLE doomed", &[]).await;
        let count: i64 = tx
            .query_one("SELECT count(*) FROM kept", &[])
            .await
            .unwrap()
            .get(0);
        tx.commit().await.unwrap();
        (dropped.map(|_| ()), count)
    });
    let view = waiting_for(&bob, "DROP TABLE doomed").await;
    // The transaction is open upstream (mid-batch: the DROP's Parse and Bind went ahead), with
    // the insert not yet visible outside it.
    let mut open = String::new();
    for _ in 0..50 {
        open = gateway
            .direct_async(
                "SELECT count(*) FROM pg_stat_activity WHERE xact_start IS NOT NULL \
                 AND backend_type = 'client backend' AND pid <> pg_backend_pid()",
            )
            .await;
        if open.trim() == "1" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(open.trim(), "1");
    assert_eq!(
        gateway
            .direct_async("SELECT count(*) FROM kept")
            .await
            .trim(),
        "0"
    );
    bob.approve(view.id, None, None).await.unwrap();
    let (dropped, count) = waiter.await.unwrap();
    dropped.expect("the approved DROP ran inside the transaction");
    assert_eq!(count, 1, "the same transaction went on after the hold");
    assert_eq!(
        gateway
            .direct_async("SELECT count(*) FROM kept")
            .await
            .trim(),
        "1"
    );
    assert!(!table_exists(&gateway, "doomed").await);
    let events = session_with_approval(&gateway).await;
    assert_eq!(decided(&events).len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_denied_statement_fails_with_42501_and_the_reason() {
    let gateway = start("10m").await;
    gateway.direct_async("CREATE TABLE precious (id int)").await;
    let client = gateway.connect(&gateway.token()).await;
    let waiter = tokio::spawn(async move {
        let result = client.simple_query("DROP TABLE precious").await;
        // The session goes on after the refusal.
        let after = client.simple_query("SELECT 1").await.map(|_| ());
        (result.map(|_| ()), after)
    });
    let bob = gateway.approver("bob@example.com", &["dba"]);
    let view = waiting_for(&bob, "DROP TABLE precious").await;
    let denied = bob
        .deny(view.id, "not during the sale".into())
        .await
        .unwrap();
    assert_eq!(denied.status, "denied");
    let (result, after) = waiter.await.unwrap();
    let error = result.expect_err("denied");
    let db = error.as_db_error().expect("an ErrorResponse");
    assert_eq!(db.code().code(), "42501");
    assert!(
        db.message().contains("not during the sale"),
        "{}",
        db.message()
    );
    assert!(db.message().contains("bob@example.com"), "{}", db.message());
    after.expect("the session goes on");
    assert!(table_exists(&gateway, "precious").await);

    let events = session_with_approval(&gateway).await;
    let vote = decided(&events)[0];
    assert_eq!(vote.decision, ApprovalDecision::Deny);
    assert_eq!(vote.reason.as_deref(), Some("not during the sale"));
    let EventBody::SessionEnded(ended) = &events.last().unwrap().body else {
        unreachable!()
    };
    assert_eq!(ended.counters.blocked, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_nobody_decides_expires_with_a_timeout_error() {
    let gateway = start("2s").await;
    gateway
        .direct_async("CREATE TABLE lingering (id int)")
        .await;
    let client = gateway.connect(&gateway.token()).await;
    let started = Instant::now();
    let error = client
        .simple_query("DROP TABLE lingering")
        .await
        .expect_err("expired");
    let waited = started.elapsed();
    assert!(
        waited >= Duration::from_secs(2) && waited < Duration::from_secs(10),
        "{waited:?}"
    );
    let db = error.as_db_error().expect("an ErrorResponse");
    assert_eq!(db.code().code(), "57014");
    assert!(db.message().contains("expired"), "{}", db.message());
    assert!(table_exists(&gateway, "lingering").await);
    drop(client);

    let events = session_with_approval(&gateway).await;
    let end = decided(&events)[0];
    assert_eq!(end.decision, ApprovalDecision::Expired);
    assert!(end.approver.is_none());
    let bob = gateway.approver("bob@example.com", &["dba"]);
    let late = bob.approve(end.approval_id, None, None).await.unwrap_err();
    assert!(
        matches!(&late, ClientError::Refused { status, .. } if status.as_u16() == 409),
        "{late}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn outsiders_agents_and_the_requester_cannot_decide() {
    let gateway = start("10m").await;
    gateway.direct_async("CREATE TABLE guarded (id int)").await;
    let client = gateway.connect(&gateway.token()).await;
    let waiter = tokio::spawn(async move { client.simple_query("DROP TABLE guarded").await });
    let bob = gateway.approver("bob@example.com", &["dba"]);
    let view = waiting_for(&bob, "DROP TABLE guarded").await;

    let refusals = [
        (
            gateway.approver("carol@example.com", &["developers"]),
            "only members of group",
        ),
        // The requester, as a person in the group: no approving one's own agent's request.
        (
            gateway.approver("dev@example.com", &["dba"]),
            "your own request",
        ),
        // The agent's own token.
        (gateway.api_as(&gateway.token()), "an agent cannot"),
    ];
    for (api, wanted) in refusals {
        let refused = api.approve(view.id, None, None).await.unwrap_err();
        match &refused {
            ClientError::Refused { status, message } => {
                assert_eq!(status.as_u16(), 403, "{message}");
                assert!(message.contains(wanted), "{message}");
            }
            other => panic!("{other}"),
        }
    }
    let no_token = gateway.api_as("not-a-token").list().await.unwrap_err();
    assert!(
        matches!(&no_token, ClientError::Refused { status, .. } if status.as_u16() == 401),
        "{no_token}"
    );
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(!waiter.is_finished(), "still held after the refused votes");
    assert!(table_exists(&gateway, "guarded").await);
    bob.deny(view.id, "cleaning up the test".into())
        .await
        .unwrap();
    assert!(waiter.await.unwrap().is_err());

    let events = session_with_approval(&gateway).await;
    let votes = decided(&events);
    assert_eq!(votes.len(), 1, "only bob's vote is recorded");
    assert_eq!(
        votes[0].approver.as_ref().unwrap().subject,
        "bob@example.com"
    );
    let control = gateway.control_events().await;
    assert_eq!(
        control.len(),
        2,
        "the refused votes never reached the control stream"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_policy_can_ask_for_two_distinct_approvers() {
    let gateway = start("10m").await;
    gateway
        .direct_async("CREATE TABLE ledger (id int); INSERT INTO ledger VALUES (1)")
        .await;
    let client = gateway.connect(&gateway.token()).await;
    let waiter = tokio::spawn(async move { client.simple_query("TRUNCATE ledger").await });
    let bob = gateway.approver("bob@example.com", &["dba"]);
    let view = waiting_for(&bob, "TRUNCATE ledger").await;
    assert_eq!(view.approvers_required, 2);

    let first = bob.approve(view.id, None, None).await.unwrap();
    assert_eq!(first.status, "waiting");
    assert_eq!(first.approved_by, ["bob@example.com"]);
    let again = bob.approve(view.id, None, None).await.unwrap_err();
    assert!(
        matches!(&again, ClientError::Refused { status, .. } if status.as_u16() == 409),
        "{again}"
    );
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(!waiter.is_finished(), "one approval of two is not enough");
    assert_eq!(
        gateway
            .direct_async("SELECT count(*) FROM ledger")
            .await
            .trim(),
        "1"
    );

    let alice = gateway.approver("alice@example.com", &["dba"]);
    let second = alice.approve(view.id, None, None).await.unwrap();
    assert_eq!(second.status, "approved");
    waiter.await.unwrap().expect("truncated once two approved");
    assert_eq!(
        gateway
            .direct_async("SELECT count(*) FROM ledger")
            .await
            .trim(),
        "0"
    );

    let events = session_with_approval(&gateway).await;
    let approvers: Vec<&str> = decided(&events)
        .iter()
        .map(|d| d.approver.as_ref().unwrap().subject.as_str())
        .collect();
    assert_eq!(approvers, ["bob@example.com", "alice@example.com"]);
    assert_eq!(requested(&events)[0].approvers_required, 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_timeboxed_grant_lets_the_same_statement_through_until_it_expires() {
    let gateway = start("10m").await;
    gateway
        .direct_async("CREATE TABLE jobs (id int); INSERT INTO jobs SELECT generate_series(1, 5)")
        .await;
    let client = std::sync::Arc::new(gateway.connect(&gateway.token()).await);
    let bob = gateway.approver("bob@example.com", &["dba"]);

    let first = {
        let client = client.clone();
        tokio::spawn(async move { client.simple_query("DELETE FROM jobs WHERE id = 1").await })
    };
    let view = waiting_for(&bob, "DELETE FROM jobs WHERE id = 1").await;
    bob.approve(
        view.id,
        Some("batch cleanup".into()),
        Some(Duration::from_secs(5)),
    )
    .await
    .unwrap();
    first.await.unwrap().expect("the approved delete ran");

    // Same fingerprint (another literal, other spacing): no hold.
    let started = Instant::now();
    client
        .simple_query("delete from jobs where id=2")
        .await
        .expect("covered by the grant");
    assert!(started.elapsed() < Duration::from_secs(4));
    assert!(bob.list().await.unwrap().is_empty(), "nothing was held");

    tokio::time::sleep(Duration::from_secs(5)).await;
    let third = {
        let client = client.clone();
        tokio::spawn(async move { client.simple_query("DELETE FROM jobs WHERE id = 3").await })
    };
    let view3 = waiting_for(&bob, "DELETE FROM jobs WHERE id = 3").await;
    bob.deny(view3.id, "the grant is over".into())
        .await
        .unwrap();
    assert!(third.await.unwrap().is_err());
    assert_eq!(
        gateway
            .direct_async("SELECT count(*) FROM jobs")
            .await
            .trim(),
        "3"
    );
    drop(client);

    let events = session_with_approval(&gateway).await;
    assert_eq!(requested(&events).len(), 2, "the first and third were held");
    let decisions = decided(&events);
    assert_eq!(decisions.len(), 3);
    assert_eq!(decisions[0].grant_for_secs, Some(5));
    assert_eq!(
        decisions[1].approval_id, view.id,
        "the second ran on the grant"
    );
    assert!(decisions[1].reason.as_deref().unwrap().contains("grant"));
    assert_eq!(decisions[2].decision, ApprovalDecision::Deny);
    let grants = gateway
        .control_events()
        .await
        .into_iter()
        .filter_map(|e| match e.body {
            ControlBody::GrantIssued(g) => Some(g),
            _ => None,
        })
        .collect::<Vec<_>>();
    assert_eq!(grants.len(), 1);
    assert_eq!(grants[0].fingerprint, "DELETE FROM jobs WHERE id = ?");
    assert_eq!(grants[0].agents, ["coding-agent"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_disconnects_while_held_cancels_its_request() {
    let gateway = start("10m").await;
    gateway
        .direct_async("CREATE TABLE abandoned (id int)")
        .await;
    let mut psql = psql_background(&gateway, &gateway.token(), "DROP TABLE abandoned");
    let bob = gateway.approver("bob@example.com", &["dba"]);
    let view = waiting_for(&bob, "DROP TABLE abandoned").await;
    psql.kill().await.unwrap();

    let mut status = String::new();
    for _ in 0..100 {
        status = bob.show(view.id).await.unwrap().status;
        if status != "waiting" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(status, "cancelled");
    let late = bob.approve(view.id, None, None).await.unwrap_err();
    assert!(matches!(&late, ClientError::Refused { status, .. } if status.as_u16() == 409));
    assert!(table_exists(&gateway, "abandoned").await);

    let events = session_with_approval(&gateway).await;
    let end = decided(&events)[0];
    assert_eq!(end.decision, ApprovalDecision::Cancelled);
    assert_eq!(kinds(&events).last(), Some(&"session.ended"));
    gateway.assert_serves_a_healthy_session();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_proxy_that_stops_answers_its_held_clients_and_marks_their_requests_expired() {
    let gateway = start("10m").await;
    gateway.direct_async("CREATE TABLE pending (id int)").await;
    let client = gateway.connect(&gateway.token()).await;
    let waiter = tokio::spawn(async move { client.simple_query("DROP TABLE pending").await });
    let bob = gateway.approver("bob@example.com", &["dba"]);
    let view = waiting_for(&bob, "DROP TABLE pending").await;
    let keys = gateway.keys.clone();
    let (cluster, data) = gateway.stop_keeping_data().await;

    let error = tokio::time::timeout(Duration::from_secs(10), waiter)
        .await
        .expect("answered, not left hanging")
        .unwrap()
        .expect_err("an error");
    assert!(
        error.as_db_error().is_some() || error.is_closed(),
        "{error}"
    );
    drop(cluster);

    let control = common::read_control(data.path()).await;
    let ended = control.iter().find_map(|e| match &e.body {
        ControlBody::ApprovalDecided(d) if d.approval_id == view.id => Some(d.decision),
        _ => None,
    });
    assert_eq!(ended, Some(ApprovalDecision::Expired));
    let sessions = common::read_sessions(data.path()).await;
    let events = sessions
        .values()
        .find(|events| !requested(events).is_empty())
        .unwrap();
    verify_session(events, &keys).unwrap();
    assert_eq!(decided(events)[0].decision, ApprovalDecision::Expired);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cancel_request_withdraws_a_held_statement_and_the_session_goes_on() {
    let gateway = start("10m").await;
    gateway.direct_async("CREATE TABLE spared (id int)").await;
    let client = std::sync::Arc::new(gateway.connect(&gateway.token()).await);
    let cancel = client.cancel_token();
    let waiter = {
        let client = client.clone();
        tokio::spawn(async move { client.simple_query("DROP TABLE spared").await })
    };
    let bob = gateway.approver("bob@example.com", &["dba"]);
    let view = waiting_for(&bob, "DROP TABLE spared").await;
    cancel.cancel_query(tokio_postgres::NoTls).await.unwrap();

    let error = tokio::time::timeout(Duration::from_secs(20), waiter)
        .await
        .expect("the cancel request withdrew the held statement")
        .unwrap()
        .expect_err("cancelled");
    let db = error.as_db_error().expect("an ErrorResponse");
    assert_eq!(db.code().code(), "57014");
    assert!(
        db.message()
            .contains("canceling statement due to user request"),
        "{}",
        db.message()
    );
    client
        .simple_query("SELECT 1")
        .await
        .expect("the session goes on");
    assert_eq!(bob.show(view.id).await.unwrap().status, "cancelled");
    assert!(table_exists(&gateway, "spared").await);
    drop(client);

    let events = session_with_approval(&gateway).await;
    let end = decided(&events)[0];
    assert_eq!(end.decision, ApprovalDecision::Cancelled);
    assert_eq!(
        end.reason.as_deref(),
        Some("the client cancelled the statement")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pipelined_statement_behind_a_held_one_waits_its_turn() {
    let gateway = start("10m").await;
    gateway
        .direct_async("CREATE TABLE doomed (id int); CREATE TABLE log (what text)")
        .await;
    let client = gateway.connect(&gateway.token()).await;
    let bob = gateway.approver("bob@example.com", &["dba"]);
    // Prepared first, then pipelined: Bind/Execute/Sync of the DROP, then of the INSERT, sent
    // back to back on the one connection.
    let drop = client.prepare("DROP TABLE doomed").await.unwrap();
    let insert = client
        .prepare("INSERT INTO log VALUES ('after the drop')")
        .await
        .unwrap();
    let both = tokio::spawn(async move {
        let (dropped, inserted) =
            tokio::join!(client.execute(&drop, &[]), client.execute(&insert, &[]));
        (dropped.map(|_| ()), inserted.unwrap())
    });
    let view = waiting_for(&bob, "DROP TABLE doomed").await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        gateway
            .direct_async("SELECT count(*) FROM log")
            .await
            .trim(),
        "0",
        "what follows the held statement waits behind it"
    );
    bob.approve(view.id, None, None).await.unwrap();
    let (dropped, inserted) = both.await.unwrap();
    dropped.expect("the DROP ran once approved");
    assert_eq!(inserted, 1);
    assert!(!table_exists(&gateway, "doomed").await);
    let events = session_with_approval(&gateway).await;
    let texts: Vec<String> = common::commands(&events)
        .iter()
        .map(|(_, c)| c.text.clone())
        .collect();
    assert_eq!(
        texts,
        [
            "DROP TABLE doomed",
            "INSERT INTO log VALUES ('after the drop')"
        ],
        "recorded in the client's order"
    );
}

/// Every file under `dir`, recursively.
fn files_under(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        let path = entry.path();
        match path.is_dir() {
            true => files.extend(files_under(&path)),
            false => files.push(path),
        }
    }
    files
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_held_statement_is_requested_and_recorded_with_its_values_masked() {
    const CARD: &str = "4111111111111111";
    let gateway = start("10m").await;
    gateway
        .direct_async(&format!(
            "CREATE TABLE cards (id int, card text); INSERT INTO cards VALUES (1, '{CARD}')"
        ))
        .await;
    let sql = format!("DELETE FROM cards WHERE card = '{CARD}'");
    let psql = psql_background(&gateway, &gateway.token(), &sql);

    // The approver judges the statement as the record keeps it.
    let bob = gateway.approver("bob@example.com", &["dba"]);
    let masked = "DELETE FROM cards WHERE card = '[masked:card]'";
    let view = waiting_for(&bob, masked).await;
    bob.approve(view.id, None, None)
        .await
        .expect("bob approves");
    let out = psql.wait_with_output().await.unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        gateway
            .direct_async("SELECT count(*) FROM cards")
            .await
            .trim(),
        "0",
        "the statement as sent ran, with its real value"
    );

    let events = session_with_approval(&gateway).await;
    assert_eq!(requested(&events)[0].command, masked);
    let session = serde_json::to_string(&events).unwrap();
    let control = serde_json::to_string(&gateway.control_events().await).unwrap();
    for (what, text) in [("the session", session), ("the control stream", control)] {
        assert!(text.contains("[masked:card]"), "{what}");
        assert!(!text.contains(CARD), "{what} holds the card number");
    }
    for file in files_under(gateway.data.path()) {
        let bytes = std::fs::read(&file).unwrap();
        let found = bytes.windows(CARD.len()).any(|w| w == CARD.as_bytes());
        assert!(!found, "{} holds the card number", file.display());
    }
}
