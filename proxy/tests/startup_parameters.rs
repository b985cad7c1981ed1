//! What a client's StartupMessage may and may not change upstream: `search_path` and
//! `client_encoding` stay blastwall's, so policy reads each statement as the server will.

#![cfg(feature = "e2e")]
// A panic in a test is a failed test, not a crashed gateway.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::raw::RawClient;
use common::{Gateway, allow_plaintext, policy_dir};

/// The text values of the first DataRow of a simple query's response.
async fn first_row(client: &mut RawClient, sql: &str) -> Result<Vec<String>, String> {
    client.query(sql).await;
    let mut row = None;
    loop {
        let message = client.read().await;
        match message.tag {
            b'D' if row.is_none() => row = Some(values(&message.body)),
            b'E' => error_then_ready(client, message.error().2.clone()).await?,
            b'Z' => return row.ok_or_else(|| "no row".to_owned()),
            _ => {}
        }
    }
}

async fn error_then_ready(client: &mut RawClient, message: String) -> Result<(), String> {
    while client.read().await.tag != b'Z' {}
    Err(message)
}

fn values(body: &[u8]) -> Vec<String> {
    let count = i16::from_be_bytes([body[0], body[1]]) as usize;
    let mut at = 2;
    let mut out = Vec::with_capacity(count);
    for _ in 0..count {
        let len = i32::from_be_bytes(body[at..at + 4].try_into().unwrap());
        at += 4;
        let len = usize::try_from(len).unwrap_or(0);
        out.push(String::from_utf8_lossy(&body[at..at + len]).into_owned());
        at += len;
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_cannot_move_search_path_or_encoding_past_policy() {
    let policy = policy_dir(
        "@id(\"allow\") permit (principal, action, resource);\n\
         @id(\"hr-private\") @message(\"hr is private\")\n\
         forbid (principal, action, resource == Table::\"hr.salaries\");\n",
    );
    let gateway = Gateway::start_with(policy, allow_plaintext).await;
    gateway.direct("CREATE SCHEMA hr; CREATE TABLE hr.salaries (amount int); INSERT INTO hr.salaries VALUES (100)");

    let mut client = RawClient::connect(gateway.addr).await;
    client
        .startup(&[
            ("user", "agent"),
            ("database", common::TARGET),
            ("search_path", "hr"),
            ("client_encoding", "LATIN1"),
        ])
        .await;
    let _ = client.read().await; // the password request
    client.password(&gateway.token()).await;
    while client.read().await.tag != b'Z' {}

    let settings = first_row(
        &mut client,
        "SELECT current_setting('search_path'), current_setting('client_encoding')",
    )
    .await
    .unwrap();
    assert_eq!(
        settings,
        ["\"$user\", public", "UTF8"],
        "the upstream session keeps blastwall's settings"
    );

    // The unqualified name resolves as policy resolved it: to public, where there is no such table.
    let unqualified = first_row(&mut client, "SELECT amount FROM salaries")
        .await
        .unwrap_err();
    assert!(unqualified.contains("does not exist"), "{unqualified}");
    // Named outright, the table is refused by the policy that protects it.
    let qualified = first_row(&mut client, "SELECT amount FROM hr.salaries")
        .await
        .unwrap_err();
    assert!(
        qualified.contains("blocked by policy hr-private: hr is private"),
        "{qualified}"
    );
    gateway.stop().await;
}
