//! The approvals webhook against a real HTTP server started by the test: a held statement is
//! announced as Slack-compatible JSON (id, who, what, link), retried with growing waits while
//! the receiver fails, and not retried when the receiver refuses it outright.

#![cfg(feature = "e2e")]
// A panic in a test is a failed test, not a crashed gateway.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::http::StatusCode;
use common::Gateway;
use common::approvals::{decided, holding_policy, requested, waiting_for, with_admin};
use proxy::approvals::WebhookConfig;
use schemas::body::ApprovalDecision;
use serde_json::Value;

/// A receiver answering with `statuses` in turn (the last one from then on), recording what
/// it got and when.
struct Receiver {
    url: String,
    got: Arc<Mutex<Vec<(Instant, Value)>>>,
}

async fn receiver(statuses: Vec<u16>) -> Receiver {
    let got: Arc<Mutex<Vec<(Instant, Value)>>> = Arc::default();
    let seen = got.clone();
    let app = axum::Router::new().route(
        "/hook",
        axum::routing::post(move |axum::Json(body): axum::Json<Value>| {
            let seen = seen.clone();
            let statuses = statuses.clone();
            async move {
                let mut seen = seen.lock().unwrap();
                let status = statuses[seen.len().min(statuses.len() - 1)];
                seen.push((Instant::now(), body));
                StatusCode::from_u16(status).unwrap()
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    Receiver { url, got }
}

async fn gateway_notifying(url: &str) -> Gateway {
    let url = url.to_owned();
    Gateway::start_with(holding_policy("10m"), move |settings| {
        with_admin(settings);
        settings.approvals.public_url = Some("https://blastwall.example.com".into());
        settings.approvals.webhook = Some(WebhookConfig {
            url,
            attempts: 4,
            first_retry: Duration::from_millis(200),
        });
    })
    .await
}

async fn wait_for_posts(receiver: &Receiver, count: usize) -> Vec<(Instant, Value)> {
    for _ in 0..100 {
        let got = receiver.got.lock().unwrap().clone();
        if got.len() >= count {
            return got;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("fewer than {count} notifications arrived");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_held_statement_is_announced_with_retries_and_back_off() {
    let receiver = receiver(vec![503, 500, 200]).await;
    let gateway = gateway_notifying(&receiver.url).await;
    gateway.direct_async("CREATE TABLE doomed (id int)").await;
    let client = gateway.connect(&gateway.token()).await;
    let waiter = tokio::spawn(async move { client.simple_query("DROP TABLE doomed").await });
    let bob = gateway.approver("bob@example.com", &["dba"]);
    let view = waiting_for(&bob, "DROP TABLE doomed").await;

    let got = wait_for_posts(&receiver, 3).await;
    let first_gap = got[1].0 - got[0].0;
    let second_gap = got[2].0 - got[1].0;
    assert!(first_gap >= Duration::from_millis(200), "{first_gap:?}");
    assert!(
        second_gap >= Duration::from_millis(400),
        "back-off doubles: {second_gap:?}"
    );
    tokio::time::sleep(Duration::from_millis(1000)).await;
    assert_eq!(
        receiver.got.lock().unwrap().len(),
        3,
        "no retry after a success"
    );

    let body = &got[2].1;
    assert_eq!(got[0].1, *body, "every attempt sends the same message");
    let text = body["text"].as_str().unwrap();
    assert!(text.contains("DROP TABLE doomed"), "{text}");
    assert!(
        text.contains(&format!("blastwall approvals approve {}", view.id)),
        "{text}"
    );
    assert_eq!(body["blocks"][0]["type"], "section");
    let facts = &body["blastwall"];
    assert_eq!(facts["id"], view.id.to_string());
    assert_eq!(facts["who"], "dev@example.com (through coding-agent)");
    assert_eq!(facts["what"], "DROP TABLE doomed");
    assert_eq!(
        facts["link"],
        format!("https://blastwall.example.com/v1/approvals/{}", view.id)
    );

    bob.deny(view.id, "test over".into()).await.unwrap();
    assert!(waiter.await.unwrap().is_err());
    let events = gateway
        .ended_session(1, |events| !requested(events).is_empty())
        .await;
    assert_eq!(
        requested(&events)[0].approval_id,
        view.id,
        "the announced request"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_notification_is_not_retried_and_the_hold_goes_on() {
    let receiver = receiver(vec![400]).await;
    let gateway = gateway_notifying(&receiver.url).await;
    gateway.direct_async("CREATE TABLE doomed (id int)").await;
    let client = gateway.connect(&gateway.token()).await;
    let waiter = tokio::spawn(async move { client.simple_query("DROP TABLE doomed").await });
    let bob = gateway.approver("bob@example.com", &["dba"]);
    let view = waiting_for(&bob, "DROP TABLE doomed").await;
    wait_for_posts(&receiver, 1).await;
    tokio::time::sleep(Duration::from_millis(800)).await;
    assert_eq!(receiver.got.lock().unwrap().len(), 1, "a 400 is final");

    bob.approve(view.id, None, None).await.unwrap();
    let dropped = waiter.await.unwrap();
    dropped.expect("approved all the same");
    let events = gateway
        .ended_session(1, |events| !requested(events).is_empty())
        .await;
    assert_eq!(decided(&events)[0].decision, ApprovalDecision::Approve);
}
