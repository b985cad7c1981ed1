//! The policy corpus through the facts and the engine, with the default pack: every statement
//! must give exactly the facts and the verdict the corpus says (proxy/tests/policy_corpus.toml).

// A panic in a test is a failed test, not a crashed gateway.
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "policy_support/corpus.rs"]
mod corpus;

use std::path::Path;
use std::time::{Instant, SystemTime};

use proxy::policy::{Policy, PolicyConfig, PreparedStatements, Request};

#[test]
fn every_corpus_statement_gets_its_facts_and_verdict_under_the_default_pack() {
    let cases = corpus::load(Path::new(env!("CARGO_MANIFEST_DIR")));
    assert!(
        cases.len() >= 150,
        "the corpus has {} statements",
        cases.len()
    );
    let policy = PolicyConfig::default()
        .open(Path::new("."))
        .expect("the default pack loads");
    let started = Instant::now();
    let mut failures = Vec::new();
    for case in &cases {
        let who = case.principal();
        let facts = PreparedStatements::new().resolve(&policy.facts(&case.sql));
        let decision = policy.decide(&Request {
            subject: who.subject,
            agents: &who.agents,
            groups: &who.groups,
            target: "app",
            protocol: schemas::Protocol::Postgres,
            text: &case.sql,
            facts: &facts,
            client: None,
            time: SystemTime::now(),
        });
        let differences = corpus::Observed::from_facts(&facts, &decision).differences(case);
        if !differences.is_empty() {
            failures.push(format!("{:?}\n{}", case.sql, differences.join("\n")));
        }
    }
    eprintln!(
        "{} corpus statements decided in {:?}",
        cases.len(),
        started.elapsed()
    );
    corpus::assert_all(failures, cases.len());
}
