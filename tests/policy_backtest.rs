//! `blastwall policy backtest` over the archive of real proxied psql sessions: a candidate
//! pack's changed verdicts are listed exactly, session state (a PREPARE before its EXECUTE)
//! is rebuilt as the gateway kept it, the recorded pack changes nothing, and bad input ends
//! in a clear error with its own exit status.

#![cfg(feature = "e2e")]
// A panic in a test is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod archiving;
#[path = "../proxy/tests/common/mod.rs"]
mod gateway;

use std::path::Path;
use std::process::{Command, Output};

/// The pack the gateway ran with: everything but DROP and TRUNCATE.
const RECORDED: &str = "@id(\"allow\") permit (principal, action, resource);\n\
     @id(\"no-drop\") @message(\"dropping and truncating tables is not allowed here\")\n\
     forbid (principal, action, resource) when { context.kind == \"drop\" || context.kind == \"truncate\" };\n";

/// The candidate: DROP allowed, DELETE forbidden, INSERT held for the dba group.
const CANDIDATE: &str = "@id(\"allow\") permit (principal, action, resource);\n\
     @id(\"no-delete\") @message(\"no deletes\")\n\
     forbid (principal, action == Action::\"sql:delete\", resource);\n\
     @id(\"insert-approval\") @approval(\"dba\") @message(\"inserts need a DBA\")\n\
     permit (principal, action == Action::\"sql:insert\", resource);\n";

fn pack(dir: &Path, name: &str, policies: &str) -> std::path::PathBuf {
    let pack = dir.join(name);
    std::fs::create_dir_all(&pack).unwrap();
    std::fs::write(pack.join("policies.cedar"), policies).unwrap();
    pack
}

fn backtest(archive: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_blastwall"))
        .args(["policy", "backtest"])
        .args(args)
        .arg("--archive")
        .arg(archive)
        .env_remove("BLASTWALL_CONFIG")
        .env("RUST_LOG", "warn")
        .output()
        .expect("run blastwall")
}

#[tokio::test(flavor = "multi_thread")]
async fn a_candidate_pack_lists_each_recorded_verdict_it_would_change() {
    let gw = gateway::Gateway::start(gateway::policy_dir(RECORDED)).await;
    gw.direct("CREATE TABLE orders (id int PRIMARY KEY, note text)");
    let token = gw.token();
    let run = |sql: &str| {
        let out = gw.psql(&token, &["-c", sql]);
        (out.ok, out.stderr)
    };
    assert!(run("SELECT count(*) FROM orders").0);
    assert!(run("INSERT INTO orders VALUES (1, 'a'), (2, 'b')").0);
    // One session: the EXECUTE is a DELETE only through the PREPARE before it.
    let out = gw.psql(
        &token,
        &[
            "-c",
            "PREPARE wipe(int) AS DELETE FROM orders WHERE id = $1",
            "-c",
            "EXECUTE wipe(1)",
        ],
    );
    assert!(out.ok, "{}", out.stderr);
    let (ok, stderr) = run("DROP TABLE orders");
    assert!(
        !ok && stderr.contains("dropping and truncating"),
        "{stderr}"
    );
    let sessions = gw.ended_sessions(4).await;
    let total: usize = sessions.iter().map(Vec::len).sum();
    let archive = archiving::archive_log(gw.data.path(), total).await;

    let packs = tempfile::tempdir().unwrap();
    let candidate = pack(packs.path(), "candidate", CANDIDATE);
    let out = backtest(&archive, &[candidate.to_str().unwrap(), "--json"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    let rows: Vec<serde_json::Value> = serde_json::from_slice(&out.stdout).unwrap();
    let changes: Vec<(&str, &str, &str, &str)> = rows
        .iter()
        .map(|r| {
            (
                r["command"].as_str().unwrap(),
                r["recorded"].as_str().unwrap(),
                r["now"].as_str().unwrap(),
                r["policy"].as_str().unwrap(),
            )
        })
        .collect();
    let mut expected = vec![
        (
            "INSERT INTO orders VALUES (1, 'a'), (2, 'b')",
            "allow",
            "approval_required",
            "insert-approval",
        ),
        ("EXECUTE wipe(1)", "allow", "block", "no-delete"),
        ("DROP TABLE orders", "block", "allow", "allow"),
    ];
    let mut found = changes.clone();
    found.sort();
    expected.sort();
    assert_eq!(found, expected, "{stderr}");
    for row in &rows {
        assert_eq!(row["human"], "dev@example.com");
        assert_eq!(row["agent"], "coding-agent");
        assert_eq!(row["target"], gateway::TARGET);
    }
    assert!(
        stderr.contains("commands in 4 sessions decided again: 3 verdicts would change")
            && stderr.contains("1 allow → block, 1 allow → approval_required, 1 block → allow"),
        "{stderr}"
    );

    // The pack the gateway ran with decides every command as recorded.
    let recorded = pack(packs.path(), "recorded", RECORDED);
    let out = backtest(&archive, &[recorded.to_str().unwrap(), "--csv"]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let csv = String::from_utf8(out.stdout).unwrap();
    assert_eq!(csv.lines().count(), 1, "only the header: {csv}");
    assert!(String::from_utf8_lossy(&out.stderr).contains(": 0 verdicts would change"));

    // A window after every command: nothing to decide, nothing changes.
    let out = backtest(
        &archive,
        &[candidate.to_str().unwrap(), "--since", "2200-01-01"],
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(stderr.contains("0 commands in 0 sessions"), "{stderr}");
}

#[test]
fn bad_packs_and_times_end_in_a_clear_error_with_status_3() {
    let dir = tempfile::tempdir().unwrap();
    let archive = dir.path().join("archive");
    std::fs::create_dir_all(&archive).unwrap();
    let broken = pack(dir.path(), "broken", "permit (principal, action, resource")
        .to_str()
        .unwrap()
        .to_owned();
    let missing = dir.path().join("missing").to_str().unwrap().to_owned();
    let good = pack(dir.path(), "good", RECORDED)
        .to_str()
        .unwrap()
        .to_owned();
    for (args, message) in [
        (vec![missing.as_str()], "policies from"),
        (vec![broken.as_str()], "policies.cedar"),
        (vec![good.as_str(), "--since", "soon"], "soon"),
    ] {
        let out = backtest(&archive, &args);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(3), "{args:?}: {stderr}");
        assert!(
            stderr.starts_with("error: ") && stderr.contains(message),
            "{args:?}: {stderr}"
        );
    }
}
