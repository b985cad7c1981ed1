//! The engine against the default pack and against small packs written for the test.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::SystemTime;

use super::*;
use crate::policy::facts::{DangerousFunctions, Names, PreparedStatements};

fn analyzer() -> Analyzer {
    Analyzer::new(Names::new(
        vec!["public".into()],
        DangerousFunctions::new(&crate::policy::config::DEFAULT_DANGEROUS_FUNCTIONS),
    ))
}

fn default_policy() -> CedarPolicy {
    let store = PolicyStore::open(PackSource::Builtin).expect("default pack");
    CedarPolicy::new(analyzer(), Arc::new(store))
}

fn pack(files: &[(&str, &str)]) -> Result<(tempfile::TempDir, CedarPolicy), LoadError> {
    let dir = tempfile::tempdir().expect("tempdir");
    for (name, text) in files {
        std::fs::write(dir.path().join(name), text).expect("write");
    }
    let store = PolicyStore::open(PackSource::Dir(dir.path().to_owned()))?;
    Ok((dir, CedarPolicy::new(analyzer(), Arc::new(store))))
}

struct Who {
    subject: &'static str,
    agents: Vec<String>,
    groups: Vec<String>,
}

fn agent() -> Who {
    Who {
        subject: "dev@example.com",
        agents: vec!["coding-agent".into()],
        groups: vec!["agents".into()],
    }
}

fn dba() -> Who {
    Who {
        subject: "dba@example.com",
        agents: Vec::new(),
        groups: vec!["dba".into()],
    }
}

fn decide_as(policy: &CedarPolicy, who: &Who, text: &str) -> Decision {
    let facts = policy.facts(text);
    policy.decide(&Request {
        subject: who.subject,
        agents: &who.agents,
        groups: &who.groups,
        target: "app",
        protocol: schemas::Protocol::Postgres,
        text,
        facts: &facts,
        client: None,
        time: SystemTime::now(),
    })
}

fn decide(policy: &CedarPolicy, text: &str) -> Decision {
    decide_as(policy, &agent(), text)
}

fn blocked_by(decision: &Decision) -> Option<&str> {
    match decision {
        Decision::Block { policy, .. } => Some(policy),
        _ => None,
    }
}

#[test]
fn the_default_pack_reads_freely_and_guards_the_rest() {
    let policy = default_policy();
    assert!(matches!(
        decide(&policy, "SELECT * FROM accounts"),
        Decision::Allow { .. }
    ));
    assert!(matches!(
        decide(&policy, "UPDATE a SET x = 1 WHERE id = 2"),
        Decision::Allow { .. }
    ));
    assert_eq!(
        blocked_by(&decide(&policy, "DELETE FROM a")),
        Some("update-delete-need-where")
    );
    assert_eq!(
        blocked_by(&decide(
            &policy,
            "WITH d AS (DELETE FROM a RETURNING *) SELECT * FROM d"
        )),
        Some("update-delete-need-where")
    );
    assert_eq!(
        blocked_by(&decide(&policy, "COPY a TO PROGRAM 'sh'")),
        Some("no-copy-program")
    );
    assert_eq!(
        blocked_by(&decide(&policy, "SELECT pg_read_file('/etc/passwd')")),
        Some("no-dangerous-functions")
    );
    assert_eq!(
        blocked_by(&decide(&policy, "ALTER SYSTEM SET work_mem = '1GB'")),
        Some("no-alter-system")
    );
    assert_eq!(
        blocked_by(&decide(&policy, "SET ROLE postgres")),
        Some("no-set-role")
    );
    assert_eq!(
        blocked_by(&decide(&policy, "SET SESSION AUTHORIZATION postgres")),
        Some("no-session-authorization")
    );
    assert_eq!(
        blocked_by(&decide(&policy, "this is not sql")),
        Some("no-unparsed")
    );
    assert_eq!(
        blocked_by(&decide(&policy, "CHECKPOINT")),
        Some(DEFAULT_DENY)
    );
    match decide(&policy, "DROP TABLE a") {
        Decision::RequireApproval { policy, group, .. } => {
            assert_eq!(
                (policy.as_str(), group.as_str()),
                ("ddl-needs-approval", "dba")
            );
        }
        other => panic!("{other:?}"),
    }
    assert!(matches!(
        decide_as(&policy, &dba(), "DROP TABLE a"),
        Decision::Allow { .. }
    ));
}

#[test]
fn the_most_restrictive_verdict_decides_the_whole_message() {
    let policy = default_policy();
    let decision = decide(&policy, "SELECT 1; TRUNCATE a; SET ROLE x; SELECT 2");
    assert_eq!(blocked_by(&decision), Some("no-set-role"));
    match decide(&policy, "SELECT 1; TRUNCATE a; GRANT SELECT ON a TO b") {
        Decision::RequireApproval { policy, .. } => assert_eq!(policy, "truncate-needs-approval"),
        other => panic!("{other:?}"),
    }
    assert_eq!(
        decide(&policy, ""),
        Decision::Allow {
            policies: Vec::new()
        }
    );
}

#[test]
fn execute_is_decided_on_what_was_prepared() {
    let policy = default_policy();
    let mut session = PreparedStatements::new();
    let prepare = policy.facts("PREPARE wipe AS DELETE FROM accounts");
    session.apply(&prepare);
    let facts = session.resolve(&policy.facts("EXECUTE wipe"));
    let who = agent();
    let decision = policy.decide(&Request {
        subject: who.subject,
        agents: &who.agents,
        groups: &who.groups,
        target: "app",
        protocol: schemas::Protocol::Postgres,
        text: "EXECUTE wipe",
        facts: &facts,
        client: None,
        time: SystemTime::now(),
    });
    assert_eq!(blocked_by(&decision), Some("update-delete-need-where"));
    assert_eq!(
        blocked_by(&decide(&policy, "EXECUTE wipe")),
        Some("no-unparsed"),
        "unknown here"
    );
}

#[test]
fn table_policies_see_tables_wherever_they_are_named() {
    let (_dir, policy) = pack(&[(
        "p.cedar",
        r#"permit (principal, action, resource);
           @id("no-secrets") @message("secrets are off limits")
           forbid (principal, action, resource == Table::"public.secrets");
           @id("no-payments-writes")
           forbid (principal, action == Action::"sql:update", resource)
           when { context.writes.contains("billing.payments") };"#,
    )])
    .expect("valid");
    for text in [
        "SELECT * FROM secrets",
        "SELECT * FROM public.\"secrets\"",
        "SELECT 1 WHERE EXISTS (SELECT 1 FROM Secrets)",
        "WITH s AS (SELECT * FROM secrets) SELECT * FROM s",
        "COPY secrets TO STDOUT",
        "INSERT INTO x SELECT * FROM /* hi */ secrets",
        "EXPLAIN ANALYZE SELECT * FROM secrets",
    ] {
        assert_eq!(
            blocked_by(&decide(&policy, text)),
            Some("no-secrets"),
            "{text}"
        );
    }
    assert!(matches!(
        decide(&policy, "EXPLAIN SELECT * FROM secrets"),
        Decision::Allow { .. }
    ));
    assert_eq!(
        blocked_by(&decide(
            &policy,
            "UPDATE billing.payments SET x = 1 WHERE id = 1"
        )),
        Some("no-payments-writes")
    );
    match decide(&policy, "SELECT * FROM secrets") {
        Decision::Block { message, .. } => assert_eq!(message, "secrets are off limits"),
        other => panic!("{other:?}"),
    }
}

#[test]
fn nothing_permitted_is_blocked_and_the_message_says_what() {
    let (_dir, policy) = pack(&[(
        "p.cedar",
        r#"permit (principal, action == Action::"sql:select", resource);"#,
    )])
    .expect("valid");
    match decide(&policy, "DELETE FROM t WHERE id = 1") {
        Decision::Block { policy, message } => {
            assert_eq!(policy, DEFAULT_DENY);
            assert_eq!(message, "no policy permits sql:delete on public.t");
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn principals_and_groups() {
    let (_dir, policy) = pack(&[(
        "p.cedar",
        r#"@id("humans") permit (principal is Human, action, resource);
           @id("agents-for-alice") permit (principal is Agent, action, resource)
           when { principal.on_behalf_of == Human::"alice" && principal in Group::"team" };"#,
    )])
    .expect("valid");
    let alice_agent = Who {
        subject: "alice",
        agents: vec!["bot".into()],
        groups: vec!["team".into()],
    };
    let bob_agent = Who {
        subject: "bob",
        agents: vec!["bot".into()],
        groups: vec!["team".into()],
    };
    let bob = Who {
        subject: "bob",
        agents: Vec::new(),
        groups: Vec::new(),
    };
    assert!(
        matches!(decide_as(&policy, &alice_agent, "SELECT 1"), Decision::Allow { policies } if policies == ["agents-for-alice"])
    );
    assert_eq!(
        blocked_by(&decide_as(&policy, &bob_agent, "SELECT 1")),
        Some(DEFAULT_DENY)
    );
    assert!(matches!(
        decide_as(&policy, &bob, "SELECT 1"),
        Decision::Allow { .. }
    ));
}

#[test]
fn a_bad_file_is_refused_with_its_line_and_reason() {
    let error = pack(&[
        ("a.cedar", "permit (principal, action, resource);\n"),
        (
            "b.cedar",
            "// a comment\n\n@id(\"typo\")\nforbid (principal, action, resource)\nwhen { context.has_wehre };\n",
        ),
    ])
    .expect_err("refused");
    let LoadError::Invalid { problems } = &error else {
        panic!("{error}");
    };
    assert_eq!(problems.len(), 1, "{error}");
    assert!(problems[0].file.ends_with("b.cedar"));
    assert_eq!(problems[0].line, 5, "{error}");
    assert!(problems[0].reason.contains("has_wehre"), "{error}");

    let syntax = pack(&[(
        "c.cedar",
        "permit (principal, action, resource);\n\npermit (principal action);\n",
    )])
    .expect_err("refused");
    let LoadError::Invalid { problems } = &syntax else {
        panic!("{syntax}");
    };
    assert_eq!(problems[0].line, 3, "{syntax}");
}

#[test]
fn annotations_are_checked() {
    for (text, wanted) in [
        (
            "@aproval(\"dba\") permit (principal, action, resource);",
            "unknown annotation @aproval",
        ),
        (
            "@approval(\"dba\") forbid (principal, action, resource);",
            "@approval belongs on a permit",
        ),
        (
            "@id(\"a b\") permit (principal, action, resource);",
            "must be a word",
        ),
        (
            "@id(\"x\") permit (principal, action, resource);\n@id(\"x\") permit (principal, action, resource);",
            "already used",
        ),
        (
            "@approvers(\"2\") permit (principal, action, resource);",
            "belong beside @approval",
        ),
        (
            "@approval(\"dba\") @approvers(\"none\") permit (principal, action, resource);",
            "@approvers must be a number",
        ),
        (
            "@approval(\"dba\") @approvers(\"0\") permit (principal, action, resource);",
            "@approvers must be a number",
        ),
        (
            "@approval(\"dba\") @expires(\"soon\") permit (principal, action, resource);",
            "@expires must be a duration",
        ),
    ] {
        let error = pack(&[("p.cedar", text)]).expect_err("refused").to_string();
        assert!(error.contains(wanted), "{text}: {error}");
    }
    assert!(matches!(pack(&[]).err(), Some(LoadError::Empty { .. })));
}

#[test]
fn approvers_and_expiry_come_from_the_annotations() {
    let (_dir, policy) = pack(&[(
        "p.cedar",
        "@id(\"two\") @approval(\"dba\") @approvers(\"2\") @expires(\"15m\")\n\
         permit (principal, action, resource);",
    )])
    .expect("loads");
    let decision = decide(&policy, "DROP TABLE t");
    let Decision::RequireApproval {
        approvers, expires, ..
    } = decision
    else {
        panic!("{decision:?}");
    };
    assert_eq!(approvers, 2);
    assert_eq!(expires, Some(std::time::Duration::from_secs(900)));
}

#[test]
fn a_good_change_applies_and_a_bad_one_keeps_the_old_pack() {
    let (dir, policy) = pack(&[(
        "p.cedar",
        r#"@id("reads") permit (principal, action == Action::"sql:select", resource);"#,
    )])
    .expect("valid");
    assert!(matches!(
        decide(&policy, "SELECT 1"),
        Decision::Allow { .. }
    ));
    assert_eq!(policy.reload().expect("unchanged"), Reloaded::Unchanged);

    std::fs::write(
        dir.path().join("p.cedar"),
        "@id(\"nothing\") forbid (principal, action, resource);",
    )
    .expect("write");
    assert_eq!(
        policy.reload().expect("applied"),
        Reloaded::Applied { policies: 1 }
    );
    assert_eq!(blocked_by(&decide(&policy, "SELECT 1")), Some("nothing"));

    std::fs::write(
        dir.path().join("p.cedar"),
        "permit (principal, action, resource) when { context.nope };",
    )
    .expect("write");
    assert!(policy.reload().is_err());
    assert_eq!(
        blocked_by(&decide(&policy, "SELECT 1")),
        Some("nothing"),
        "the old pack stays"
    );
    assert_eq!(policy.reload().expect("not retried"), Reloaded::Unchanged);
}

#[test]
fn builtin_files_are_named_as_such() {
    let files = default_pack();
    assert!(
        files
            .iter()
            .all(|f| f.path.starts_with(PathBuf::from("builtin")))
    );
}

#[test]
fn a_policy_that_fails_to_evaluate_blocks() {
    let (_dir, policy) = pack(&[(
        "p.cedar",
        r#"@id("all") permit (principal, action, resource);
           @id("overflows") forbid (principal, action, resource)
           when { context.statement_count * 9223372036854775807 < 0 };"#,
    )])
    .expect("valid: the overflow only shows at evaluation");
    assert!(matches!(
        decide(&policy, "SELECT 1"),
        Decision::Allow { .. }
    ));
    match decide(&policy, "SELECT 1; SELECT 2") {
        Decision::Block { policy, message } => {
            assert_eq!(policy, "overflows");
            assert!(message.contains("could not be evaluated"), "{message}");
        }
        other => panic!("{other:?}"),
    }
}
