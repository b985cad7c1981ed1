//! Hostile and broken input against the gateway: bad tokens, unknown targets, plaintext,
//! malformed and oversized messages, an unknown message type, a client that vanishes
//! mid-query, an upstream that is down or refuses blastwall's credentials.
//!
//! Each case proves four things: the client gets a clear ErrorResponse (SQLSTATE and
//! message), the attempt is recorded (`authentication.failed` with its reason, or
//! `operation.failed`) in a sealed, verifiable session, the gateway does not crash, and other
//! sessions, one already open and one started afterwards, go on unaffected.

#![cfg(feature = "e2e")]
// A panic in a test is a failed test, not a crashed gateway.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::{Duration, SystemTime};

use bytesize::ByteSize;
use common::raw::RawClient;
use common::{Gateway, HOUR, allow_plaintext, commands, kinds, no_drop};
use proxy::config::SecretSource;
use proxy::identity::{LocalIssuer, MintRequest};
use schemas::body::{AuthFailureReason, EndReason, Fault, OperationFailed, Stage};
use schemas::{Event, EventBody, verify_session};
use tokio_postgres::error::{DbError, Severity};

/// Connects with tokio-postgres and returns the gateway's refusal.
async fn refused(gateway: &Gateway, token: &str) -> DbError {
    let error = gateway
        .tokio_config(token)
        .connect(tokio_postgres::NoTls)
        .await
        .err()
        .expect("the login is refused");
    error
        .as_db_error()
        .cloned()
        .unwrap_or_else(|| panic!("an ErrorResponse, not {error}"))
}

/// A session that was open before the bad input still works, and a new one can start.
async fn still_serving(gateway: &Gateway, open: &tokio_postgres::Client) {
    let row = open
        .query_one("SELECT 'unaffected'::text", &[])
        .await
        .expect("the open session is unaffected");
    assert_eq!(row.get::<_, &str>(0), "unaffected");
    gateway.assert_serves_a_healthy_session();
}

/// Refuses `token` at login with 28P01 and records `reason`; other sessions go on.
async fn assert_token_refused(
    gateway: &Gateway,
    token: &str,
    reason: AuthFailureReason,
    message: &str,
) {
    let open = gateway.connect(&gateway.token()).await;
    let error = refused(gateway, token).await;
    assert_eq!(error.code().code(), "28P01", "{error:?}");
    assert_eq!(error.severity(), "FATAL");
    assert_eq!(error.message(), message);
    assert!(
        !error.message().contains(token.trim()) || token.trim().is_empty(),
        "the token is never echoed"
    );
    still_serving(gateway, &open).await;
    let (recorded, recorded_message) = gateway.failed_login().await;
    assert_eq!(recorded, reason);
    assert_eq!(recorded_message, message);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_empty_password_is_refused_as_a_missing_token() {
    let gateway = Gateway::start_plaintext(no_drop()).await;
    assert_token_refused(
        &gateway,
        "",
        AuthFailureReason::MissingToken,
        "no token received: malformed message: empty password",
    )
    .await;
    gateway.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_garbage_token_is_refused_as_malformed() {
    let gateway = Gateway::start_plaintext(no_drop()).await;
    assert_token_refused(
        &gateway,
        "hunter2-not-a-jwt",
        AuthFailureReason::Malformed,
        "token rejected: the token is not a well-formed JWT: \
         not three base64url segments separated by dots",
    )
    .await;
    gateway.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_from_another_issuer_is_refused_as_an_unknown_key() {
    let gateway = Gateway::start_plaintext(no_drop()).await;
    let stranger = LocalIssuer::generate().unwrap();
    let mut request = MintRequest::new(common::ISSUER, common::AUDIENCE, "dev@example.com", HOUR);
    request.act = vec!["coding-agent".into()];
    let token = stranger.mint(&request).unwrap();
    assert_token_refused(
        &gateway,
        &token,
        AuthFailureReason::UnknownKey,
        "token rejected: the token's signing key is not in the issuer's key set",
    )
    .await;
    gateway.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_whose_signature_does_not_verify_is_refused() {
    let gateway = Gateway::start_plaintext(no_drop()).await;
    // Another issuer's claims and signature under the gateway issuer's header (its `kid`).
    let stranger = LocalIssuer::generate().unwrap();
    let request = MintRequest::new(common::ISSUER, common::AUDIENCE, "admin@example.com", HOUR);
    let foreign = stranger.mint(&request).unwrap();
    let own = gateway.token();
    let header = own.split('.').next().unwrap();
    let (_, claims_and_signature) = foreign.split_once('.').unwrap();
    let forged = format!("{header}.{claims_and_signature}");
    assert_token_refused(
        &gateway,
        &forged,
        AuthFailureReason::InvalidSignature,
        "token rejected: the token's signature was not accepted: the signature does not verify",
    )
    .await;
    gateway.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_expired_token_is_refused_as_expired() {
    let gateway = Gateway::start_plaintext(no_drop()).await;
    let token = gateway.mint(|request| {
        request.issued_at = SystemTime::now() - 2 * HOUR;
        request.ttl = HOUR;
    });
    assert_token_refused(
        &gateway,
        &token,
        AuthFailureReason::Expired,
        "token rejected: the token has expired",
    )
    .await;
    gateway.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_for_another_audience_is_refused() {
    let gateway = Gateway::start_plaintext(no_drop()).await;
    let token = gateway.mint(|request| request.audience = "some-other-service".into());
    assert_token_refused(
        &gateway,
        &token,
        AuthFailureReason::WrongAudience,
        "token rejected: the token is not meant for this gateway (audience mismatch)",
    )
    .await;
    gateway.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn psql_shows_why_its_token_was_refused() {
    let gateway = Gateway::start(no_drop()).await;
    let expired = gateway.mint(|request| request.issued_at = SystemTime::now() - 2 * HOUR);
    let out = gateway.psql(&expired, &["-c", "SELECT 1"]);
    assert!(!out.ok);
    assert!(
        out.stderr
            .contains("FATAL:  token rejected: the token has expired"),
        "{}",
        out.stderr
    );
    gateway.assert_serves_a_healthy_session();
    let (reason, _) = gateway.failed_login().await;
    assert_eq!(reason, AuthFailureReason::Expired);
    gateway.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unknown_target_is_refused_before_a_token_is_asked_for() {
    let gateway = Gateway::start_plaintext(no_drop()).await;
    let open = gateway.connect(&gateway.token()).await;
    let mut client = RawClient::connect(gateway.addr).await;
    client
        .startup(&[("user", "agent"), ("database", "billing")])
        .await;
    let reply = client.read().await;
    assert_eq!(
        reply.error(),
        (
            "FATAL".to_owned(),
            "3D000".to_owned(),
            "blastwall has no target named \"billing\"".to_owned()
        ),
        "no password request comes first"
    );
    assert!(client.closed().await);
    still_serving(&gateway, &open).await;

    let (reason, message) = gateway.failed_login().await;
    assert_eq!(reason, AuthFailureReason::UnknownTarget);
    assert_eq!(message, "blastwall has no target named \"billing\"");
    let events = gateway
        .ended_session(2, |events| kinds(events).contains(&"authentication.failed"))
        .await;
    assert_eq!(events[0].target.name, "billing");
    assert_eq!(events[0].actor.subject, "agent", "the claimed user");
    gateway.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plaintext_is_refused_before_a_token_is_asked_for_unless_allowed() {
    let gateway = Gateway::start(no_drop()).await;
    let mut client = RawClient::connect(gateway.addr).await;
    client
        .startup(&[("user", "agent"), ("database", common::TARGET)])
        .await;
    let reply = client.read().await;
    assert_eq!(
        reply.error(),
        (
            "FATAL".to_owned(),
            "28000".to_owned(),
            "blastwall requires TLS before a token is sent: connect with sslmode=require"
                .to_owned()
        ),
        "no password request comes first"
    );
    assert!(client.closed().await);
    let out = gateway.psql_dsn(
        &gateway.dsn("disable"),
        &gateway.token(),
        &["-c", "SELECT 1"],
    );
    assert!(!out.ok);
    assert!(
        out.stderr.contains("requires TLS before a token is sent"),
        "{}",
        out.stderr
    );
    gateway.assert_serves_a_healthy_session();

    let sessions = gateway.ended_sessions(3).await;
    let refusals: Vec<&Vec<Event>> = sessions
        .iter()
        .filter(|events| kinds(events) == ["authentication.failed", "session.ended"])
        .collect();
    assert_eq!(refusals.len(), 2, "the raw client and psql");
    for events in refusals {
        verify_session(events, &gateway.keys).expect("the record verifies");
        let EventBody::AuthenticationFailed(failed) = &events[0].body else {
            unreachable!()
        };
        assert_eq!(failed.reason, AuthFailureReason::Other);
        assert!(
            failed.message.contains("requires TLS"),
            "{}",
            failed.message
        );
    }
    gateway.stop().await;
}

/// The one session that recorded an `operation.failed`, and that failure.
async fn failed_operation(gateway: &Gateway, sessions: usize) -> (Vec<Event>, OperationFailed) {
    let events = gateway
        .ended_session(sessions, |events| {
            kinds(events).contains(&"operation.failed")
        })
        .await;
    verify_session(&events, &gateway.keys).expect("the record verifies");
    let failed = events
        .iter()
        .find_map(|e| match &e.body {
            EventBody::OperationFailed(failed) => Some(failed.clone()),
            _ => None,
        })
        .unwrap();
    (events, failed)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_malformed_startup_packet_gets_a_protocol_violation() {
    let gateway = Gateway::start_plaintext(no_drop()).await;
    let open = gateway.connect(&gateway.token()).await;

    // An HTTP request: "GET " read as a length is a 1.2 GB startup packet.
    let mut client = RawClient::connect(gateway.addr).await;
    client
        .write(b"GET / HTTP/1.1\r\nHost: blastwall\r\n\r\n")
        .await;
    let (severity, code, message) = client.read().await.error();
    assert_eq!((severity.as_str(), code.as_str()), ("FATAL", "08P01"));
    assert_eq!(
        message,
        "message of 1195725856 bytes exceeds the limit of 10000 bytes"
    );
    assert!(client.closed().await);
    still_serving(&gateway, &open).await;
    let (events, failed) = failed_operation(&gateway, 2).await;
    assert_eq!(kinds(&events), ["operation.failed", "session.ended"]);
    assert_eq!(
        (failed.fault, failed.stage),
        (Fault::Client, Stage::Startup)
    );
    assert_eq!(failed.message, message);
    assert!(!events[0].actor.is_authenticated());

    // A well-sized packet with a protocol version that does not exist.
    let mut client = RawClient::connect(gateway.addr).await;
    client.write(&[0, 0, 0, 8, 0, 9, 0, 0]).await;
    let (severity, code, message) = client.read().await.error();
    assert_eq!((severity.as_str(), code.as_str()), ("FATAL", "08P01"));
    assert_eq!(
        message,
        "malformed message: unsupported protocol or request code 589824"
    );
    assert!(client.closed().await);
    still_serving(&gateway, &open).await;
    gateway.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_message_over_the_size_limit_ends_the_session_with_a_protocol_violation() {
    let gateway = Gateway::start_with(no_drop(), |settings| {
        allow_plaintext(settings);
        settings.postgres.max_message_size = ByteSize::kib(64);
    })
    .await;
    let open = gateway.connect(&gateway.token()).await;
    let client = gateway.connect(&gateway.token()).await;
    let small = format!("SELECT length('{}')", "x".repeat(60 * 1024));
    let rows = client.simple_query(&small).await.expect("under the limit");
    let length = rows.iter().find_map(|m| match m {
        tokio_postgres::SimpleQueryMessage::Row(row) => row.get(0).map(str::to_owned),
        _ => None,
    });
    assert_eq!(length.as_deref(), Some("61440"));
    // The limit is the client's: a result row longer than it still comes back.
    let long = client
        .query_one("SELECT repeat('y', 100000)", &[])
        .await
        .expect("a row over the client's limit");
    assert_eq!(long.get::<_, &str>(0).len(), 100_000);
    let big = format!("SELECT length('{}')", "x".repeat(100 * 1024));
    let error = client.simple_query(&big).await.expect_err("over the limit");
    let error = error.as_db_error().expect("an ErrorResponse");
    assert_eq!(error.severity(), "FATAL");
    assert_eq!(error.parsed_severity(), Some(Severity::Fatal));
    assert_eq!(error.code().code(), "08P01");
    assert_eq!(
        error.message(),
        format!(
            "message of {} bytes exceeds the limit of 65536 bytes",
            big.len() + 5
        )
    );
    assert!(
        client.simple_query("SELECT 1").await.is_err(),
        "the connection is closed"
    );
    assert!(client.is_closed());
    still_serving(&gateway, &open).await;

    let (events, failed) = failed_operation(&gateway, 2).await;
    assert_eq!((failed.fault, failed.stage), (Fault::Client, Stage::Parse));
    assert_eq!(failed.message, error.message());
    assert_eq!(
        commands(&events).len(),
        2,
        "only the queries under the limit"
    );
    assert_ended(&events, EndReason::Error);
    gateway.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unknown_message_type_ends_the_session_with_a_protocol_violation() {
    let gateway = Gateway::start_plaintext(no_drop()).await;
    let open = gateway.connect(&gateway.token()).await;
    let mut client = RawClient::login(gateway.addr, common::TARGET, &gateway.token()).await;
    client.write(b"!\0\0\0\x04").await;
    let (severity, code, message) = client.read_error().await.error();
    assert_eq!((severity.as_str(), code.as_str()), ("FATAL", "08P01"));
    assert!(message.starts_with("malformed message: "), "{message}");
    assert!(client.closed().await);
    still_serving(&gateway, &open).await;

    let (events, failed) = failed_operation(&gateway, 2).await;
    assert_eq!((failed.fault, failed.stage), (Fault::Client, Stage::Parse));
    assert_eq!(failed.message, message);
    assert_eq!(
        kinds(&events),
        [
            "session.started",
            "authentication.succeeded",
            "operation.failed",
            "session.ended"
        ]
    );
    assert_ended(&events, EndReason::Error);
    gateway.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_vanishes_mid_query_has_its_query_cancelled() {
    let gateway = Gateway::start_plaintext(no_drop()).await;
    let open = gateway.connect(&gateway.token()).await;
    let sleeping = "SELECT pg_sleep(30)";
    let mut client = RawClient::login(gateway.addr, common::TARGET, &gateway.token()).await;
    client.query(sleeping).await;
    gateway.wait_until_running(sleeping).await;
    drop(client);

    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while gateway.running(sleeping).await > 0 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the vanished client's query still runs upstream"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    still_serving(&gateway, &open).await;

    let events = gateway
        .ended_session(2, |events| {
            commands(events).iter().any(|(_, c)| c.text == sleeping)
        })
        .await;
    verify_session(&events, &gateway.keys).expect("the record verifies");
    assert_ended(&events, EndReason::ClientClosed);
    gateway.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_upstream_that_is_down_is_reported_as_unreachable() {
    let closed = testkit::net::free_port();
    let gateway = Gateway::start_with(no_drop(), |settings| {
        allow_plaintext(settings);
        settings.targets[0].address = format!("127.0.0.1:{closed}");
    })
    .await;
    let error = refused(&gateway, &gateway.token()).await;
    assert_eq!(error.severity(), "FATAL");
    assert_eq!(error.code().code(), "08006");
    assert_eq!(error.message(), "target app is unreachable");
    // Nothing else is served from this gateway's only target; the listener itself goes on.
    let again = refused(&gateway, &gateway.token()).await;
    assert_eq!(again.code().code(), "08006");

    let sessions = gateway.ended_sessions(2).await;
    for events in &sessions {
        verify_session(events, &gateway.keys).expect("the record verifies");
        assert_eq!(
            kinds(events),
            [
                "session.started",
                "authentication.succeeded",
                "operation.failed",
                "session.ended"
            ]
        );
        let EventBody::OperationFailed(failed) = &events[2].body else {
            unreachable!()
        };
        assert_eq!(
            (failed.fault, failed.stage),
            (Fault::Upstream, Stage::Upstream)
        );
        assert!(
            failed.message.contains("cannot reach the target"),
            "{}",
            failed.message
        );
        assert_ended(events, EndReason::Error);
    }
    gateway.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_upstream_refusing_the_stored_credentials_is_reported_without_its_own_text() {
    let wrong = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(wrong.path(), "not-the-password\n").unwrap();
    let gateway = Gateway::start_with(no_drop(), |settings| {
        allow_plaintext(settings);
        settings.targets[0].password = Some(SecretSource::File(wrong.path().to_owned()));
    })
    .await;
    let error = refused(&gateway, &gateway.token()).await;
    assert_eq!(error.severity(), "FATAL");
    assert_eq!(error.code().code(), "08004");
    assert_eq!(error.message(), "target app refused blastwall's login");
    for upstream_text in ["password authentication failed", "postgres"] {
        assert!(
            !format!("{error:?}").contains(upstream_text),
            "the upstream's own error leaks: {error:?}"
        );
    }

    let events = gateway
        .ended_session(1, |events| kinds(events).contains(&"operation.failed"))
        .await;
    verify_session(&events, &gateway.keys).expect("the record verifies");
    let EventBody::OperationFailed(failed) = &events[2].body else {
        panic!("{:?}", kinds(&events))
    };
    assert_eq!(
        (failed.fault, failed.stage),
        (Fault::Upstream, Stage::Upstream)
    );
    assert_eq!(
        failed.message,
        "the target refused blastwall's login (28P01)"
    );
    assert_ended(&events, EndReason::Error);
    gateway.stop().await;
}

fn assert_ended(events: &[Event], reason: EndReason) {
    let EventBody::SessionEnded(ended) = &events.last().unwrap().body else {
        panic!("not ended: {:?}", kinds(events))
    };
    assert_eq!(ended.reason, reason);
}
