//! The forensic commands as an auditor runs them: `query`, `sessions`, `show`, `who-touched`,
//! `replay` and `verify` over an archive recorded from known sessions.

// A panic in a test is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "../query/tests/common/mod.rs"]
mod common;

use std::process::{Command, Output};

fn blastwall(fixture: &common::Fixture, args: &[&str]) -> Output {
    let config = fixture.dir.path().join("config.toml");
    std::fs::write(&config, "[recorder]\ndir = \"archive\"\n").unwrap();
    Command::new(env!("CARGO_BIN_EXE_blastwall"))
        .args(args)
        .env("BLASTWALL_CONFIG", &config)
        .env("BLASTWALL_DATA_DIR", fixture.dir.path())
        .env("RUST_LOG", "warn")
        .output()
        .expect("run blastwall")
}

fn stdout(output: &Output) -> String {
    assert!(
        output.status.success(),
        "exit {:?}: {}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout.clone()).unwrap()
}

fn keys(fixture: &common::Fixture) -> &str {
    fixture.keys_file.to_str().unwrap()
}

#[tokio::test]
async fn query_prints_rows_as_table_csv_and_json() {
    let fixture = common::record(50).await;
    let sql = "SELECT human, count(*) AS commands FROM commands GROUP BY human ORDER BY human";
    let json = stdout(&blastwall(&fixture, &["query", "--json", sql]));
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&json).unwrap(),
        serde_json::json!([
            {"human": "alice", "commands": 2},
            {"human": "bob", "commands": 1},
            {"human": "dave", "commands": 1}
        ])
    );
    let csv = stdout(&blastwall(&fixture, &["query", "--csv", sql]));
    assert_eq!(csv, "human,commands\nalice,2\nbob,1\ndave,1\n");
    let table = stdout(&blastwall(&fixture, &["query", sql]));
    assert!(table.contains("| human | commands |"), "{table}");
    let archive = fixture.archive.to_str().unwrap();
    let elsewhere = blastwall(
        &fixture,
        &[
            "query",
            "--archive",
            archive,
            "--csv",
            "SELECT count(*) AS n FROM sessions",
        ],
    );
    assert_eq!(stdout(&elsewhere), "n\n4\n");
    let bad = blastwall(&fixture, &["query", "SELECT nope FROM nowhere"]);
    assert_eq!(bad.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("nowhere"));
}

#[tokio::test]
async fn sessions_show_and_who_touched_answer_the_auditors_questions() {
    let fixture = common::record(50).await;
    let (a, b, s, d) = (
        common::ALICE_SQL,
        common::BOB_APPROVED,
        common::ALICE_SSH,
        common::DAVE_OPEN,
    );
    let agent = stdout(&blastwall(
        &fixture,
        &["sessions", "--agent", "claude-code", "--csv"],
    ));
    let ids: Vec<&str> = agent
        .lines()
        .skip(1)
        .map(|l| l.split(',').next().unwrap())
        .collect();
    assert_eq!(ids, [a.to_string(), s.to_string()]);
    let blocked = stdout(&blastwall(
        &fixture,
        &[
            "sessions",
            "--verdict",
            "block",
            "--since",
            "2026-11-01",
            "--csv",
        ],
    ));
    assert_eq!(blocked.lines().count(), 2, "{blocked}");
    assert!(blocked.contains(&a.to_string()));
    let none = stdout(&blastwall(
        &fixture,
        &["sessions", "--since", "1h", "--csv"],
    ));
    assert_eq!(
        none.lines().count(),
        1,
        "a header and no session in the last hour: {none}"
    );
    let all = stdout(&blastwall(&fixture, &["sessions"]));
    for id in [a, b, s, d] {
        assert!(all.contains(&id.to_string()));
    }

    let show = stdout(&blastwall(&fixture, &["show", &a.to_string()]));
    assert!(
        show.contains("command   DELETE FROM orders WHERE id = 1"),
        "{show}"
    );
    assert!(
        show.contains("verdict   block (command 5, by no-delete: deleting orders is not allowed)"),
        "{show}"
    );

    let writes = stdout(&blastwall(
        &fixture,
        &[
            "who-touched",
            "orders-db.public.orders",
            "--writes",
            "--since",
            "30d",
            "--csv",
        ],
    ));
    let who: Vec<(&str, &str)> = writes
        .lines()
        .skip(1)
        .map(|l| {
            let cells: Vec<&str> = l.split(',').collect();
            (cells[1], cells[4])
        })
        .collect();
    assert_eq!(who, [("alice", "block"), ("bob", "approval_required")]);
}

#[tokio::test]
async fn replay_plays_transcribes_exports_and_seeks() {
    let fixture = common::record(50).await;
    let ssh = common::ALICE_SSH.to_string();
    let played = blastwall(
        &fixture,
        &["replay", &ssh, "--speed", "1000", "--max-idle", "10ms"],
    );
    let recorded: Vec<u8> = common::ssh_output()
        .into_iter()
        .flat_map(|(_, data)| data)
        .collect();
    assert!(played.status.success());
    assert_eq!(played.stdout, recorded);

    let cast = stdout(&blastwall(
        &fixture,
        &["replay", &ssh, "--format", "asciicast"],
    ));
    let header: serde_json::Value = serde_json::from_str(cast.lines().next().unwrap()).unwrap();
    assert_eq!(
        (header["version"].as_u64(), header["width"].as_u64()),
        (Some(2), Some(100))
    );
    assert_eq!(cast.lines().count(), 1 + 1 + common::ssh_output().len() + 1);

    let screen = stdout(&blastwall(&fixture, &["replay", &ssh, "--at", "00:01:02"]));
    assert!(screen.starts_with("top - load average: 0.42"), "{screen}");
    let earlier = stdout(&blastwall(&fixture, &["replay", &ssh, "--at", "0:04"]));
    assert!(
        earlier.contains("app2.log  size 200") && !earlier.contains("app3.log"),
        "{earlier}"
    );

    let sql = stdout(&blastwall(
        &fixture,
        &["replay", &common::ALICE_SQL.to_string()],
    ));
    assert!(
        sql.contains("orders-db=> SELECT id, email FROM public.orders\n-- verdict: allow"),
        "{sql}"
    );
    let json = stdout(&blastwall(
        &fixture,
        &["replay", &common::ALICE_SQL.to_string(), "--format", "json"],
    ));
    let events: Vec<schemas::Event> = json
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(events, fixture.events[0]);

    for (args, message) in [
        (vec!["replay", "not-a-session"], "is not a session id"),
        (
            vec!["replay", &ssh, "--speed", "0"],
            "--speed must be a positive number",
        ),
        (vec!["replay", &ssh, "--at", "soon"], "is not HH:MM:SS"),
        (
            vec!["replay", "0193ffff-0000-7000-8000-000000000000"],
            "is not in the archive",
        ),
    ] {
        let out = blastwall(&fixture, &args);
        assert_eq!(out.status.code(), Some(1), "{args:?}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains(message), "{args:?}: {stderr}");
    }
}

#[tokio::test]
async fn verify_exits_zero_on_a_clean_archive_and_one_on_tampering() {
    let fixture = common::record(5).await;
    let clean = blastwall(&fixture, &["verify", "--keys", keys(&fixture)]);
    let text = stdout(&clean);
    assert!(
        text.contains(
            "3 sessions sealed, 1 open, 0 not judged, 0 removed by retention: 0 findings"
        ),
        "{text}"
    );

    let victim = common::event_files(&fixture.archive).remove(2);
    std::fs::remove_file(&victim).unwrap();
    let tampered = blastwall(&fixture, &["verify", "--keys", keys(&fixture)]);
    assert_eq!(tampered.status.code(), Some(1));
    let text = String::from_utf8_lossy(&tampered.stdout);
    assert!(
        text.contains("FINDING") && text.contains("a file was removed"),
        "{text}"
    );

    let no_keys = blastwall(&fixture, &["verify", "--keys", "/nonexistent/keys.json"]);
    assert_eq!(no_keys.status.code(), Some(1));
}

#[test]
fn every_forensic_command_explains_itself() {
    for (command, phrase) in [
        ("query", "json_text(body"),
        ("sessions", "--verdict"),
        ("show", "SESSION"),
        ("who-touched", "TARGET[.SCHEMA.TABLE]"),
        ("replay", "--max-idle"),
        ("verify", "Exit status"),
    ] {
        let out = Command::new(env!("CARGO_BIN_EXE_blastwall"))
            .args([command, "--help"])
            .output()
            .unwrap();
        let help = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success() && help.contains(phrase),
            "{command}: {help}"
        );
        assert!(help.contains("--archive"), "{command}: {help}");
    }
}

#[test]
fn a_missing_archive_is_an_error_not_an_empty_answer() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("no-such-archive");
    let missing = missing.to_str().unwrap();
    for args in [
        vec!["query", "SELECT count(*) FROM events"],
        vec!["sessions"],
        vec!["who-touched", "app"],
        vec!["show", "0193ffff-0000-7000-8000-000000000000"],
    ] {
        let out = Command::new(env!("CARGO_BIN_EXE_blastwall"))
            .args(&args)
            .args(["--archive", missing])
            .env("RUST_LOG", "warn")
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{args:?}: {stderr}");
        assert!(
            stderr.contains(&format!("no archive at {missing} (--archive)")),
            "{args:?}: {stderr}"
        );
        assert!(out.stdout.is_empty(), "{args:?}");
    }
}
