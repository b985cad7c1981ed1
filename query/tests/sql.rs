//! The archive's tables and views, and the canned questions, over an archive of known content.

// A panic in a test is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use query::forensics::{SessionFilter, Touch};
use query::output::{Format, render};

async fn csv(ctx: &datafusion::prelude::SessionContext, sql: &str) -> String {
    let rows = query::context::run(ctx, sql).await.unwrap();
    render(&rows, Format::Csv).unwrap()
}

#[tokio::test]
async fn every_view_returns_exactly_the_recorded_rows() {
    let fixture = common::record(7).await;
    let ctx = query::context::open(&fixture.archive()).await.unwrap();
    let total: usize = fixture.events.iter().map(Vec::len).sum();
    assert_eq!(
        csv(&ctx, "SELECT count(*) AS n FROM events").await,
        format!("n\n{total}\n")
    );
    assert_eq!(
        csv(
            &ctx,
            "SELECT human, agent, target, text, action, writes FROM commands ORDER BY time"
        )
        .await,
        "human,agent,target,text,action,writes\n\
         alice,claude-code,orders-db,\"SELECT id, email FROM public.orders\",sql:select,[]\n\
         alice,claude-code,orders-db,DELETE FROM orders WHERE id = 1,sql:delete,[public.orders]\n\
         bob,cursor,orders-db,UPDATE public.orders SET status = 'shipped' WHERE id = 2,sql:update,[public.orders]\n\
         dave,,orders-db,SELECT count(*) FROM customers,sql:select,[]\n"
    );
    assert_eq!(
        csv(
            &ctx,
            "SELECT human, command_seq, verdict, policies, message FROM verdicts ORDER BY time, seq"
        )
        .await,
        "human,command_seq,verdict,policies,message\n\
         alice,2,allow,[allow-reads],\n\
         alice,5,block,[no-delete],deleting orders is not allowed\n\
         bob,2,approval_required,[approve-writes],\n\
         dave,2,allow,[allow-reads],\n"
    );
    assert_eq!(
        csv(&ctx, "SELECT human, kind, command_seq, approver_group, decision, approver, reason FROM approvals ORDER BY seq").await,
        "human,kind,command_seq,approver_group,decision,approver,reason\n\
         bob,approval.requested,2,dba,,,\n\
         bob,approval.decided,,,approve,carol,ticket OPS-7\n"
    );
    assert_eq!(
        csv(&ctx, "SELECT human, command_seq, command_tag, row_count, duration_ns, truncated FROM results ORDER BY time").await,
        "human,command_seq,command_tag,row_count,duration_ns,truncated\n\
         alice,2,SELECT 2,2,1500000,false\n\
         bob,2,UPDATE 1,0,2000000,false\n"
    );
    assert_eq!(
        csv(&ctx, "SELECT direction, count(*) AS n, sum(length(data)) > 0 AS some FROM terminal GROUP BY direction ORDER BY direction").await,
        "direction,n,some\ninput,1,true\noutput,33,true\n"
    );
}

#[tokio::test]
async fn the_session_index_has_one_row_per_session_with_its_counts() {
    let fixture = common::record(5).await;
    let ctx = query::context::open(&fixture.archive()).await.unwrap();
    // Several snapshots were written (the refresh is zero), yet each session is seen once.
    let snapshots = csv(&ctx, "SELECT count(*) > 4 AS many FROM session_snapshots").await;
    assert_eq!(snapshots, "many\ntrue\n");
    assert_eq!(
        csv(&ctx, "SELECT session_id, human, agent, target, protocol, events, commands, blocked, held, approved, masked_values, bytes, end_reason, ended IS NOT NULL AS ended, seal_key_id IS NOT NULL AS sealed FROM sessions ORDER BY session_id").await,
        format!(
            "session_id,human,agent,target,protocol,events,commands,blocked,held,approved,masked_values,bytes,end_reason,ended,sealed\n\
             {},alice,claude-code,orders-db,postgres,8,2,1,0,0,2,2100,client_closed,true,true\n\
             {},bob,cursor,orders-db,postgres,8,1,0,1,1,0,2100,client_closed,true,true\n\
             {},alice,claude-code,web-1,ssh,38,0,0,0,0,0,2100,client_closed,true,true\n\
             {},dave,,orders-db,postgres,4,1,0,0,0,0,0,,false,false\n",
            common::ALICE_SQL, common::BOB_APPROVED, common::ALICE_SSH, common::DAVE_OPEN
        )
    );
    let hashes = csv(
        &ctx,
        "SELECT encode(final_hash, 'hex') AS h FROM sessions WHERE human = 'bob'",
    )
    .await;
    let head = fixture.events[1].last().unwrap().hash.to_hex();
    assert_eq!(hashes, format!("h\n{head}\n"));
}

#[tokio::test]
async fn the_date_partition_prunes_days() {
    let fixture = common::record(50).await;
    let ctx = query::context::open(&fixture.archive()).await.unwrap();
    let days = csv(
        &ctx,
        "SELECT date, count(*) AS n FROM events GROUP BY date ORDER BY date",
    )
    .await;
    let first_day: usize = fixture
        .events
        .iter()
        .flatten()
        .filter(|e| e.time.to_string().starts_with("2026-11-25"))
        .count();
    let total: usize = fixture.events.iter().map(Vec::len).sum();
    assert_eq!(
        days,
        format!(
            "date,n\n2026-11-25,{first_day}\n2026-11-26,{}\n",
            total - first_day
        )
    );
    let plan = csv(
        &ctx,
        "EXPLAIN SELECT kind FROM events WHERE date = '2026-11-26'",
    )
    .await;
    assert!(plan.contains("date=2026-11-26"), "{plan}");
    assert!(
        !plan.contains("date=2026-11-25"),
        "the other day is pruned: {plan}"
    );
}

#[tokio::test]
async fn session_lists_filter_by_human_agent_target_time_and_verdict() {
    let fixture = common::record(50).await;
    let ctx = query::context::open(&fixture.archive()).await.unwrap();
    let ids = |batches: Vec<datafusion::arrow::array::RecordBatch>| -> String {
        let text = render(&batches, Format::Csv).unwrap();
        text.lines()
            .skip(1)
            .map(|l| l.split(',').next().unwrap().to_owned())
            .collect::<Vec<_>>()
            .join(" ")
    };
    let list = |filter: SessionFilter| {
        let ctx = ctx.clone();
        async move { ids(query::forensics::sessions(&ctx, &filter).await.unwrap()) }
    };
    let (a, b, s, d) = (
        common::ALICE_SQL,
        common::BOB_APPROVED,
        common::ALICE_SSH,
        common::DAVE_OPEN,
    );
    assert_eq!(
        list(SessionFilter::default()).await,
        format!("{a} {b} {s} {d}")
    );
    assert_eq!(
        list(SessionFilter {
            agent: Some("claude-code".into()),
            ..Default::default()
        })
        .await,
        format!("{a} {s}")
    );
    assert_eq!(
        list(SessionFilter {
            human: Some("bob".into()),
            ..Default::default()
        })
        .await,
        format!("{b}")
    );
    assert_eq!(
        list(SessionFilter {
            target: Some("web-1".into()),
            ..Default::default()
        })
        .await,
        format!("{s}")
    );
    assert_eq!(
        list(SessionFilter {
            verdict: Some("block".into()),
            ..Default::default()
        })
        .await,
        format!("{a}")
    );
    assert_eq!(
        list(SessionFilter {
            verdict: Some("approval_required".into()),
            ..Default::default()
        })
        .await,
        format!("{b}")
    );
    let since = schemas::Timestamp::from_unix_nanos(common::BASE_NANOS + 30 * common::SECOND);
    let until = schemas::Timestamp::from_unix_nanos(common::BASE_NANOS + 100 * common::SECOND);
    assert_eq!(
        list(SessionFilter {
            since: Some(since),
            until: Some(until),
            ..Default::default()
        })
        .await,
        format!("{s}")
    );
    assert_eq!(
        list(SessionFilter {
            human: Some("nobody' OR '1'='1".into()),
            ..Default::default()
        })
        .await,
        ""
    );
}

#[tokio::test]
async fn who_touched_names_readers_and_writers_with_their_statements() {
    let fixture = common::record(50).await;
    let ctx = query::context::open(&fixture.archive()).await.unwrap();
    let ask = |spec: &str, writes_only: bool| {
        let mut touch = Touch::parse(spec).unwrap();
        touch.writes_only = writes_only;
        let ctx = ctx.clone();
        async move {
            let rows = query::forensics::who_touched(&ctx, &touch).await.unwrap();
            let text = render(&rows, Format::Csv).unwrap();
            // Drop the time column, which the other assertions cover.
            text.lines()
                .map(|l| l.split_once(',').unwrap().1.to_owned())
                .collect::<Vec<_>>()
                .join("\n")
        }
    };
    let (a, b) = (common::ALICE_SQL, common::BOB_APPROVED);
    assert_eq!(
        ask("orders-db.public.orders", false).await,
        format!(
            "human,agent,access,verdict,text,session_id,seq\n\
             alice,claude-code,read,allow,\"SELECT id, email FROM public.orders\",{a},2\n\
             alice,claude-code,write,block,DELETE FROM orders WHERE id = 1,{a},5\n\
             bob,cursor,write,approval_required,UPDATE public.orders SET status = 'shipped' WHERE id = 2,{b},2"
        )
    );
    assert_eq!(ask("orders-db.orders", true).await.lines().count(), 3);
    assert_eq!(ask("orders-db", false).await.lines().count(), 5);
    assert_eq!(
        ask("orders-db.public.customers", false)
            .await
            .lines()
            .count(),
        2
    );
    assert_eq!(ask("web-1", false).await.lines().count(), 1);
}

/// Rewrites the first `files` events files without `command_reads`, `command_writes` and
/// `command_seq`, as files written before those columns were added.
fn drop_command_lists(archive: &std::path::Path, files: usize) {
    use parquet::arrow::ArrowWriter;
    use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
    for path in common::event_files(archive).into_iter().take(files) {
        let reader =
            ParquetRecordBatchReaderBuilder::try_new(std::fs::File::open(&path).unwrap()).unwrap();
        let schema = reader.schema().clone();
        let keep: Vec<usize> = (0..schema.fields().len())
            .filter(|&i| {
                !["command_reads", "command_writes", "command_seq"]
                    .contains(&schema.field(i).name().as_str())
            })
            .collect();
        let batches: Vec<_> = reader.build().unwrap().map(Result::unwrap).collect();
        let projected = std::sync::Arc::new(schema.project(&keep).unwrap());
        let mut writer =
            ArrowWriter::try_new(std::fs::File::create(&path).unwrap(), projected, None).unwrap();
        for batch in batches {
            writer.write(&batch.project(&keep).unwrap()).unwrap();
        }
        writer.close().unwrap();
    }
}

#[tokio::test]
async fn an_archive_written_before_the_promoted_command_columns_answers_the_same() {
    let fixture = common::record(50).await;
    let questions = [
        "SELECT session_id, seq, action, reads, writes FROM commands ORDER BY session_id, seq",
        "SELECT count(*) FROM events WHERE command_reads IS NOT NULL OR command_seq IS NOT NULL",
        "SELECT * FROM verdicts ORDER BY session_id, seq",
        "SELECT * FROM approvals ORDER BY session_id, seq",
        "SELECT * FROM results ORDER BY session_id, seq",
    ];
    let touches = [
        "orders-db.public.orders",
        "orders-db",
        "orders-db.public.customers",
    ];
    let answers = |archive: query::Archive| async move {
        let ctx = query::context::open(&archive).await.unwrap();
        let mut out = Vec::new();
        for sql in questions {
            out.push(csv(&ctx, sql).await);
        }
        for spec in touches {
            for writes_only in [false, true] {
                let mut touch = Touch::parse(spec).unwrap();
                touch.writes_only = writes_only;
                let rows = query::forensics::who_touched(&ctx, &touch).await.unwrap();
                out.push(render(&rows, Format::Csv).unwrap());
            }
        }
        out
    };
    let before = answers(fixture.archive()).await;
    assert!(before[0].contains("public.orders"), "{}", before[0]);
    assert!(before[2].contains(",allow,"), "{}", before[2]);
    assert_ne!(before[1], "count(*)\n0\n", "the columns are written");
    // One older file among newer ones, then only older files.
    drop_command_lists(&fixture.archive, 1);
    let mixed = answers(fixture.archive()).await;
    assert_eq!(mixed[0], before[0]);
    assert_eq!(mixed[2..], before[2..]);
    assert_ne!(mixed[1], before[1], "one file was rewritten");
    drop_command_lists(&fixture.archive, usize::MAX);
    let after = answers(fixture.archive()).await;
    assert_eq!(after[1], "count(*)\n0\n", "the columns read as nulls");
    assert_eq!(after[0], before[0]);
    assert_eq!(after[2..], before[2..]);
}

#[tokio::test]
async fn show_prints_the_timeline_of_a_session() {
    let fixture = common::record(50).await;
    let ctx = query::context::open(&fixture.archive()).await.unwrap();
    let events = query::replay::load_session(&ctx, &common::BOB_APPROVED.to_string())
        .await
        .unwrap();
    assert_eq!(events, fixture.events[1]);
    let text = query::forensics::render_show(&events);
    for expected in [
        "human     bob   agent cursor",
        "target    orders-db (postgres)",
        "command   UPDATE public.orders SET status = 'shipped' WHERE id = 2",
        "verdict   approval_required (command 2, by approve-writes)",
        "held      command 2 awaits dba",
        "approval  approve by carol",
        "result    UPDATE 1, 0 rows in 2.000 ms",
        "ended     ClientClosed, 1 commands, 0 blocked, sealed",
    ] {
        assert!(text.contains(expected), "missing `{expected}` in:\n{text}");
    }
    let unknown = query::replay::load_session(&ctx, "0193ffff-0000-7000-8000-000000000000").await;
    assert!(matches!(unknown, Err(query::Error::UnknownSession(_))));
    let bad = query::replay::load_session(&ctx, "not-a-session").await;
    assert!(matches!(bad, Err(query::Error::Invalid(_))));
}

#[tokio::test]
async fn bad_sql_is_an_error_not_a_panic() {
    let fixture = common::record(50).await;
    let ctx = query::context::open(&fixture.archive()).await.unwrap();
    let err = query::context::run(&ctx, "SELEC nonsense")
        .await
        .unwrap_err();
    assert!(matches!(err, query::Error::Query(_)), "{err}");
    let err = query::context::run(&ctx, "SELECT no_such_column FROM events")
        .await
        .unwrap_err();
    assert!(err.to_string().contains("no_such_column"), "{err}");
}

#[tokio::test]
async fn an_empty_archive_has_empty_tables() {
    let dir = tempfile::tempdir().unwrap();
    let ctx = query::context::open(&query::Archive::new(dir.path()))
        .await
        .unwrap();
    assert_eq!(
        csv(&ctx, "SELECT count(*) AS n FROM events").await,
        "n\n0\n"
    );
    assert_eq!(
        csv(&ctx, "SELECT count(*) AS n FROM sessions").await,
        "n\n0\n"
    );
    assert_eq!(
        csv(&ctx, "SELECT count(*) AS n FROM commands").await,
        "n\n0\n"
    );
}
