//! The policy corpus through the binary: `blastwall policy test --json` must print, for every
//! statement, the facts and verdict the corpus says, and exit 0 (allow), 1 (block) or
//! 2 (approval); `policy check` must accept the default pack and name a bad file's line.

// A panic in a test is a failed test, not a crashed gateway.
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "../proxy/tests/policy_support/corpus.rs"]
mod corpus;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Instant;

fn blastwall(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_blastwall"))
        .args(args)
        .env("RUST_LOG", "warn")
        .output()
        .expect("run blastwall")
}

fn examples() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/policies")
}

fn as_principal(case: &corpus::Case) -> Vec<String> {
    let who = case.principal();
    let mut args = vec!["--as".to_owned(), who.subject.to_owned()];
    for agent in who.agents {
        args.extend(["--act".to_owned(), agent]);
    }
    for group in who.groups {
        args.extend(["--group".to_owned(), group]);
    }
    args
}

#[test]
fn every_corpus_statement_through_policy_test() {
    let cases = corpus::load(&Path::new(env!("CARGO_MANIFEST_DIR")).join("proxy"));
    let policies = examples();
    let started = Instant::now();
    let mut failures = Vec::new();
    for case in &cases {
        let mut args = vec!["policy", "test", "--json", "--target", "app", "--policies"];
        args.push(policies.to_str().expect("utf-8 path"));
        let principal = as_principal(case);
        args.extend(principal.iter().map(String::as_str));
        args.extend(["--", case.sql.as_str()]);
        let out = blastwall(&args);
        let wanted = match case.verdict.as_str() {
            "allow" => 0,
            "block" => 1,
            _ => 2,
        };
        let report: serde_json::Value = match serde_json::from_slice(&out.stdout) {
            Ok(report) => report,
            Err(e) => {
                let stderr = String::from_utf8_lossy(&out.stderr);
                failures.push(format!("{:?}\n  no JSON ({e}): {stderr}", case.sql));
                continue;
            }
        };
        let mut differences = corpus::Observed::from_json(&report).differences(case);
        if out.status.code() != Some(wanted) {
            differences.push(format!(
                "  exit: expected {wanted}, got {:?}",
                out.status.code()
            ));
        }
        if !differences.is_empty() {
            failures.push(format!("{:?}\n{}", case.sql, differences.join("\n")));
        }
    }
    eprintln!(
        "{} statements through `policy test` in {:?}",
        cases.len(),
        started.elapsed()
    );
    corpus::assert_all(failures, cases.len());
}

#[test]
fn policy_test_prints_facts_verdict_and_deciding_policy() {
    let out = blastwall(&[
        "policy",
        "test",
        "--as",
        "dev@example.com",
        "--act",
        "coding-agent",
        "--target",
        "app",
        "WITH d AS (DELETE FROM accounts RETURNING *) SELECT * FROM d",
    ]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    for wanted in [
        "statement 1 of 1: select",
        "writes     public.accounts",
        "has where  no (public.accounts)",
        "sql:delete on Table public.accounts: block (update-delete-need-where)",
        "verdict: block",
        "deciding policy: update-delete-need-where",
        "message: UPDATE and DELETE need a WHERE clause",
    ] {
        assert!(stdout.contains(wanted), "{wanted:?} in\n{stdout}");
    }
    let approval = blastwall(&[
        "policy",
        "test",
        "--as",
        "a",
        "--act",
        "b",
        "--target",
        "app",
        "DROP TABLE t",
    ]);
    let stdout = String::from_utf8_lossy(&approval.stdout);
    assert_eq!(approval.status.code(), Some(2), "{stdout}");
    assert!(
        stdout.contains("verdict: approval required from dba"),
        "{stdout}"
    );
}

#[test]
fn policy_test_usage_and_load_errors_have_their_own_exit_codes() {
    let usage = blastwall(&[
        "policy", "test", "--as", "a", "--target", "app", "--bogus", "SELECT 1",
    ]);
    assert_eq!(
        usage.status.code(),
        Some(64),
        "{}",
        String::from_utf8_lossy(&usage.stderr)
    );
    let missing = blastwall(&["policy", "test", "--target", "app", "SELECT 1"]);
    assert_eq!(missing.status.code(), Some(64));
    let help = blastwall(&["policy", "test", "--help"]);
    assert_eq!(help.status.code(), Some(0));
    let help = String::from_utf8_lossy(&help.stdout);
    assert!(
        help.contains("2   approval required") && help.contains("64  invalid usage"),
        "{help}"
    );

    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(
        dir.path().join("bad.cedar"),
        "permit (principal, action, resource) when { context.nope };",
    )
    .expect("write");
    let bad = dir.path().to_str().expect("utf-8");
    let out = blastwall(&[
        "policy",
        "test",
        "--policies",
        bad,
        "--as",
        "a",
        "--target",
        "app",
        "SELECT 1",
    ]);
    assert_eq!(out.status.code(), Some(3));
}

#[test]
fn policy_check_accepts_the_default_pack_and_names_a_bad_line() {
    let good = blastwall(&["policy", "check", examples().to_str().expect("utf-8")]);
    let stdout = String::from_utf8_lossy(&good.stdout);
    assert!(
        good.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&good.stderr)
    );
    assert!(stdout.contains("valid"), "{stdout}");

    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::copy(
        examples().join("10-permits.cedar"),
        dir.path().join("10-permits.cedar"),
    )
    .expect("copy");
    std::fs::write(
        dir.path().join("20-typo.cedar"),
        "// one line\n@id(\"typo\")\nforbid (principal, action == Action::\"sql:delte\", resource);\n",
    )
    .expect("write");
    let bad = blastwall(&["policy", "check", dir.path().to_str().expect("utf-8")]);
    let stderr = String::from_utf8_lossy(&bad.stderr);
    assert_eq!(bad.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("20-typo.cedar:3:"), "{stderr}");
    assert!(stderr.contains("sql:delte"), "{stderr}");
}

#[test]
fn policy_schema_prints_the_schema() {
    let out = blastwall(&["policy", "schema"]);
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).contains("entity Table in [Target]"));
}
