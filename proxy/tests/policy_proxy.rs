//! The policy corpus through the gateway, against a real PostgreSQL: every statement in the
//! simple protocol (psql) and in the extended protocol (tokio-postgres), with the default pack.
//! Allowed statements run; refused ones get the deciding policy in their error and never
//! reach PostgreSQL — the database is unchanged (tables, rows, grants, roles, files) and its
//! log (`log_statement = 'all'`) never shows them executed. Policy reload is proven here too:
//! a good change applies to the next statement of an open session, a bad one keeps the old
//! policies in force.

#![cfg(feature = "e2e")]
// A panic in a test is a failed test, not a crashed gateway.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;
#[path = "policy_support/corpus.rs"]
mod corpus;
#[path = "policy_support/gateway.rs"]
mod gateway;

use std::path::Path;
use std::time::{Duration, Instant};

use corpus::Case;
use gateway::{PolicyGateway, SCHEMA};
use proxy::policy::PolicyConfig;

/// Files the refused corpus statements would write on the database server.
const SERVER_FILES: [&str; 3] = ["/tmp/accounts.csv", "/tmp/a.gz", "/tmp/x"];

/// What must not change while refused statements are sent.
const FINGERPRINT: &str = "
SELECT string_agg(format('%s.%s:%s:%s', n.nspname, c.relname, c.relkind, coalesce(c.relacl::text, '')), ','
                  ORDER BY n.nspname, c.relname)
  FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
 WHERE n.nspname NOT IN ('pg_catalog', 'information_schema', 'pg_toast');
SELECT (SELECT count(*) || '/' || sum(balance) || '/' || string_agg(owner, ',' ORDER BY id) FROM accounts),
       (SELECT count(*) || '/' || sum(total) FROM orders),
       (SELECT count(*) FROM customers), (SELECT count(*) FROM secrets),
       (SELECT count(*) FROM audit.events),
       (SELECT string_agg(rolname || ':' || rolsuper, ',' ORDER BY rolname) FROM pg_roles),
       (SELECT string_agg(extname, ',' ORDER BY extname) FROM pg_extension),
       (SELECT count(*) FROM pg_proc WHERE pronamespace = 'public'::regnamespace),
       (SELECT count(*) FROM pg_largeobject_metadata),
       current_setting('log_statement'), current_setting('fsync');
";

struct Tokens {
    agent: String,
    dba: String,
}

impl Tokens {
    fn new(gateway: &PolicyGateway) -> Tokens {
        let token = |name| {
            let who = corpus::principal(name);
            gateway.token(who.subject, &who.agents, &who.groups)
        };
        Tokens {
            agent: token(None),
            dba: token(Some("dba")),
        }
    }

    fn for_case(&self, case: &Case) -> &str {
        match case.principal.as_deref() {
            Some("dba") => &self.dba,
            _ => &self.agent,
        }
    }
}

fn is_refusal(message: &str) -> bool {
    message.contains("blocked by policy") || message.contains("the statement was not run")
}

/// What running a case in one protocol gave.
struct Outcome {
    /// What went wrong, if anything.
    problem: Option<String>,
    /// Whether PostgreSQL ran it without error (so its log must show it).
    ran: bool,
}

/// Through psql: a simple Query.
fn simple(gateway: &PolicyGateway, tokens: &Tokens, case: &Case) -> Outcome {
    let out = gateway.psql(tokens.for_case(case), &case.sql);
    let problem = match (case.allowed(), is_refusal(&out.stderr)) {
        (true, false) => None,
        (true, true) => Some(format!(
            "simple: allowed but refused: {}",
            out.stderr.trim()
        )),
        (false, _) if out.stderr.contains(&case.refusal()) => None,
        (false, _) => Some(format!(
            "simple: expected {:?}, got ok={} {}",
            case.refusal(),
            out.ok,
            out.stderr.trim()
        )),
    };
    Outcome {
        problem,
        ran: out.ok && out.stderr.is_empty(),
    }
}

/// Through tokio-postgres: Parse (prepare), then Bind and Execute. A statement PostgreSQL
/// rejects at Parse never executes either; one it accepts must then be refused by policy.
async fn extended(gateway: &PolicyGateway, tokens: &Tokens, case: &Case) -> Outcome {
    let client = gateway.connect(tokens.for_case(case)).await;
    let run = async {
        let statement = match client.prepare(&case.sql).await {
            Ok(statement) => statement,
            Err(e) => return (false, Some(e.to_string())),
        };
        match client.query(&statement, &[]).await {
            Ok(_) => (true, None),
            Err(e) => (true, Some(db_message(&e))),
        }
    };
    let (parsed, error) = match tokio::time::timeout(Duration::from_secs(20), run).await {
        Ok(outcome) => outcome,
        Err(_) => {
            return Outcome {
                problem: Some("extended: timed out".into()),
                ran: false,
            };
        }
    };
    let refused = error.as_deref().is_some_and(is_refusal);
    let problem = match (case.allowed(), parsed, refused) {
        (true, _, false) => None,
        (true, _, true) => Some(format!("extended: allowed but refused: {error:?}")),
        (false, false, _) => None,
        (false, true, _)
            if error
                .as_deref()
                .is_some_and(|e| e.contains(&case.refusal())) =>
        {
            None
        }
        (false, true, _) => Some(format!(
            "extended: expected {:?}, got {error:?}",
            case.refusal()
        )),
    };
    Outcome {
        problem,
        ran: parsed && error.is_none(),
    }
}

fn db_message(error: &tokio_postgres::Error) -> String {
    match error.as_db_error() {
        Some(db) => format!("{}: {}", db.code().code(), db.message()),
        None => error.to_string(),
    }
}

fn files() -> Vec<Option<std::time::SystemTime>> {
    SERVER_FILES
        .iter()
        .map(|f| std::fs::metadata(f).and_then(|m| m.modified()).ok())
        .collect()
}

/// How `log_statement = 'all'` shows a statement run in each protocol.
#[derive(Clone, Copy, Debug)]
enum Logged {
    /// `LOG:  statement: <text>`.
    Simple,
    /// `LOG:  execute <name>: <text>`.
    Extended,
}

/// Whether the log shows `text` executed in that protocol.
fn executed(log: &str, text: &str, how: Logged) -> bool {
    let marker = match how {
        Logged::Simple => "LOG:  statement",
        Logged::Extended => "LOG:  execute",
    };
    // The log indents a statement's continuation lines with a tab. The rest of the line after
    // the text must be blank, so that a statement is not found inside a longer one.
    let needle = format!(": {}", text.trim_end().replace('\n', "\n\t"));
    log.match_indices(&needle).any(|(at, found)| {
        let line_start = log[..at].rfind('\n').map_or(0, |i| i + 1);
        let rest = log[at + found.len()..].split('\n').next().unwrap_or("");
        log[line_start..at].contains(marker) && rest.trim().is_empty()
    })
}

/// Runs a case both ways; records its problems and which protocols ran it.
async fn both(
    gateway: &PolicyGateway,
    tokens: &Tokens,
    case: &Case,
    failures: &mut Vec<String>,
    ran: &mut Vec<(String, Logged)>,
) {
    let outcomes = [
        (simple(gateway, tokens, case), Logged::Simple),
        (extended(gateway, tokens, case).await, Logged::Extended),
    ];
    let mut problems = Vec::new();
    for (outcome, how) in outcomes {
        problems.extend(outcome.problem);
        if outcome.ran {
            ran.push((case.sql.clone(), how));
        }
    }
    if !problems.is_empty() {
        failures.push(format!("{:?}\n  {}", case.sql, problems.join("\n  ")));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_corpus_through_the_gateway_in_both_protocols() {
    let cases = corpus::load(Path::new(env!("CARGO_MANIFEST_DIR")));
    let gateway = PolicyGateway::start(PolicyConfig::default()).await;
    gateway.direct(SCHEMA);
    gateway.direct("ALTER SYSTEM SET log_statement = 'all'");
    gateway.direct("SELECT pg_reload_conf()");
    let tokens = Tokens::new(&gateway);
    let started = Instant::now();
    let mut failures = Vec::new();

    // Allowed statements run (they may still fail in PostgreSQL, but not by policy).
    let mut ran = Vec::new();
    for case in cases.iter().filter(|c| c.allowed()) {
        both(&gateway, &tokens, case, &mut failures, &mut ran).await;
    }

    // Refused ones are refused, and nothing changes.
    let before = (gateway.direct(FINGERPRINT), files());
    let refused: Vec<&Case> = cases.iter().filter(|c| !c.allowed()).collect();
    let mut refused_ran = Vec::new();
    for case in &refused {
        both(&gateway, &tokens, case, &mut failures, &mut refused_ran).await;
    }
    let after = (gateway.direct(FINGERPRINT), files());
    eprintln!(
        "{} statements through the gateway twice in {:?}",
        cases.len(),
        started.elapsed()
    );
    corpus::assert_all(failures, cases.len());
    assert_eq!(
        before, after,
        "refused statements changed the database or its files"
    );

    // And PostgreSQL never saw them run: in their place it saw the harmless replacement
    // (which fails to parse, so it is logged as the statement of a syntax error).
    tokio::time::sleep(Duration::from_millis(300)).await;
    let log = gateway.server_log();
    // The log shows what did run, in both protocols: the check below can see a statement.
    let unseen: Vec<&(String, Logged)> = ran
        .iter()
        .filter(|(sql, how)| !executed(&log, sql, *how))
        .collect();
    assert!(
        ran.len() > cases.len() / 2,
        "only {} allowed runs succeeded",
        ran.len()
    );
    assert!(
        unseen.is_empty(),
        "statements that ran are missing from the log: {unseen:#?}"
    );
    assert!(
        refused_ran.is_empty(),
        "refused statements ran: {refused_ran:#?}"
    );
    let seen: Vec<&str> = refused
        .iter()
        .filter(|c| {
            executed(&log, &c.sql, Logged::Simple) || executed(&log, &c.sql, Logged::Extended)
        })
        .map(|c| c.sql.as_str())
        .collect();
    assert!(
        seen.is_empty(),
        "refused statements reached PostgreSQL: {seen:#?}"
    );
    let replacements = log.matches("STATEMENT:  BLOCKED BY BLASTWALL").count();
    assert!(
        replacements >= refused.len(),
        "{replacements} replacements for {} refused simple queries",
        refused.len()
    );
    gateway.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_good_policy_change_applies_to_the_next_statement_and_a_bad_one_keeps_the_old() {
    let policies = tempfile::tempdir().expect("tempdir");
    let file = policies.path().join("pack.cedar");
    std::fs::write(
        &file,
        "@id(\"everything\") permit (principal, action, resource);\n",
    )
    .expect("write");
    let config = PolicyConfig {
        dir: Some(policies.path().to_owned()),
        reload_interval: Duration::from_millis(100),
        ..PolicyConfig::default()
    };
    let gateway = PolicyGateway::start(config).await;
    gateway.direct(SCHEMA);
    let token = gateway.token(
        "dev@example.com",
        &["coding-agent".into()],
        &["agents".into()],
    );
    let client = gateway.connect(&token).await;
    let read = "SELECT count(*) FROM secrets";
    client.query(read, &[]).await.expect("allowed at first");

    // A good change: the open session's next statement is decided by it.
    std::fs::write(
        &file,
        "@id(\"everything\") permit (principal, action, resource);\n\
         @id(\"no-secrets\") @message(\"secrets are off limits\")\n\
         forbid (principal, action, resource == Table::\"public.secrets\");\n",
    )
    .expect("write");
    let refused = until_refused(&client, read).await;
    assert!(
        refused.contains("blocked by policy no-secrets: secrets are off limits"),
        "{refused}"
    );

    // A bad change (a typo the schema catches): refused, the previous policies stay.
    std::fs::write(
        &file,
        "@id(\"oops\") forbid (principal, action, resource) when { context.nope };\n",
    )
    .expect("write");
    tokio::time::sleep(Duration::from_millis(800)).await;
    let still = client.query(read, &[]).await.expect_err("still refused");
    assert!(
        db_message(&still).contains("no-secrets"),
        "{}",
        db_message(&still)
    );
    client
        .query("SELECT 1", &[])
        .await
        .expect("and the rest still allowed");

    // Fixing the file applies again: the watcher kept going after the bad attempt.
    std::fs::write(
        &file,
        "@id(\"everything\") permit (principal, action, resource);\n",
    )
    .expect("write");
    let started = Instant::now();
    while client.query(read, &[]).await.is_err() {
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "the fix never applied"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    gateway.stop().await;
}

async fn until_refused(client: &tokio_postgres::Client, sql: &str) -> String {
    let started = Instant::now();
    loop {
        if let Err(e) = client.query(sql, &[]).await {
            return db_message(&e);
        }
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "the change never applied"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
