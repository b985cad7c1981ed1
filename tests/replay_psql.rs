//! A real proxied psql session — PostgreSQL, the gateway, the recorder — replayed from the
//! archive as a transcript: the statements, their verdicts and the rows psql was shown, with
//! the values masking rewrote masked in the transcript too, never raw.

#![cfg(feature = "e2e")]
// A panic in a test is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod archiving;
#[path = "../proxy/tests/common/mod.rs"]
mod gateway;

#[tokio::test(flavor = "multi_thread")]
async fn a_proxied_psql_session_replays_with_its_statements_verdicts_and_results() {
    let gw = gateway::Gateway::start(gateway::no_drop()).await;
    gw.direct(
        "CREATE TABLE orders (id int PRIMARY KEY, email text); \
         INSERT INTO orders VALUES (1, 'ann@example.com'), (2, 'bo@example.com');",
    );
    let token = gw.token();
    let shown = gw.psql(&token, &["-c", "SELECT id, email FROM orders ORDER BY id"]);
    assert!(shown.ok, "{}", shown.stderr);
    // Masking is on by default: the email detector rewrites the values on the wire.
    assert_eq!(shown.stdout, "1|[masked:email]\n2|[masked:email]\n");
    let refused = gw.psql(&token, &["-c", "DROP TABLE orders"]);
    assert!(!refused.ok);
    let sessions = gw.ended_sessions(2).await;
    let total: usize = sessions.iter().map(Vec::len).sum();

    let archive = archiving::archive_log(gw.data.path(), total).await;
    let archive = query::Archive::new(&archive);
    let report = query::verify::verify(&archive, &gw.keys, None).unwrap();
    assert!(report.is_clean(), "{:#?}", report.findings);
    assert_eq!(report.sealed, 2);

    let ctx = query::context::open(&archive).await.unwrap();
    let select = sessions
        .iter()
        .find(|s| s.iter().any(|e| e.kind_name() == "result.returned"))
        .unwrap();
    let events = query::replay::load_session(&ctx, &select[0].session_id.to_string())
        .await
        .unwrap();
    assert_eq!(
        &events, select,
        "the archive holds exactly what the log did"
    );
    let transcript = query::replay::sql::transcript(&events);
    let expected = "app=> SELECT id, email FROM orders ORDER BY id\n\
                    -- verdict: allow (allow)\n\
                    \x20id |     email      \n\
                    ----+----------------\n\
                    \x201  | [masked:email]\n\
                    \x202  | [masked:email]\n\
                    (2 rows)\n\
                    Time: ";
    assert!(transcript.contains(expected), "{transcript}");
    for raw in ["ann@example.com", "bo@example.com"] {
        assert!(!transcript.contains(raw), "{raw} in the transcript");
    }
    assert!(
        transcript.starts_with("-- session ")
            && transcript.contains("by dev@example.com (agent coding-agent)")
    );

    let drop = sessions.iter().find(|s| !std::ptr::eq(*s, select)).unwrap();
    let events = query::replay::load_session(&ctx, &drop[0].session_id.to_string())
        .await
        .unwrap();
    let transcript = query::replay::sql::transcript(&events);
    assert!(
        transcript.contains("app=> DROP TABLE orders\n-- verdict: block (no-drop)\nERROR:  dropping and truncating tables is not allowed here\n"),
        "{transcript}"
    );

    let who = query::forensics::who_touched(
        &ctx,
        &query::forensics::Touch::parse("app.public.orders").unwrap(),
    )
    .await
    .unwrap();
    let rows = query::output::render(&who, query::output::Format::Csv).unwrap();
    assert_eq!(rows.lines().count(), 3, "{rows}");
    assert!(
        rows.contains("dev@example.com,coding-agent,write,block,DROP TABLE orders"),
        "{rows}"
    );
}
