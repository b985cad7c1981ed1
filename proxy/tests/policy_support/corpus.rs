//! The policy corpus (`proxy/tests/policy_corpus.toml`) and how a run is compared with it;
//! shared by the engine test, the gateway test (both in proxy/tests) and the CLI test (in the
//! root package's tests, which include this file by path).

#![allow(dead_code)]

use std::collections::BTreeSet;
use std::path::Path;

use proxy::policy::Decision;
use proxy::policy::facts::{MessageFacts, SessionEffect};
use serde::Deserialize;
use serde_json::Value;

#[derive(Debug, Deserialize)]
struct Corpus {
    case: Vec<Case>,
}

/// One statement (message) of the corpus with what it must give.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Case {
    pub sql: String,
    pub kinds: Vec<String>,
    #[serde(default)]
    pub reads: Vec<String>,
    #[serde(default)]
    pub writes: Vec<String>,
    #[serde(default)]
    pub functions: Vec<String>,
    #[serde(default)]
    pub dangerous: Vec<String>,
    #[serde(default)]
    pub flags: Vec<String>,
    pub verdict: String,
    pub policy: Option<String>,
    #[serde(rename = "as", default)]
    pub principal: Option<String>,
    pub note: Option<String>,
}

/// Who a case runs as.
pub struct Principal {
    pub subject: &'static str,
    pub agents: Vec<String>,
    pub groups: Vec<String>,
}

/// The principals cases run as: the agent (default) or a DBA acting directly.
pub fn principal(name: Option<&str>) -> Principal {
    match name {
        Some("dba") => Principal {
            subject: "dba@example.com",
            agents: Vec::new(),
            groups: vec!["dba".into()],
        },
        None | Some("agent") => Principal {
            subject: "dev@example.com",
            agents: vec!["coding-agent".into()],
            groups: vec!["agents".into()],
        },
        Some(other) => panic!("unknown principal {other:?} in the corpus"),
    }
}

impl Case {
    pub fn principal(&self) -> Principal {
        principal(self.principal.as_deref())
    }

    /// Whether the default pack lets it run.
    pub fn allowed(&self) -> bool {
        self.verdict == "allow"
    }

    /// What the client must be told when it is refused.
    pub fn refusal(&self) -> String {
        let policy = self.policy.as_deref().unwrap_or("?");
        match self.verdict.as_str() {
            // Held, and (nobody approving in the tests) expired.
            "approval" => format!("for policy {policy} expired"),
            _ => format!("blocked by policy {policy}:"),
        }
    }
}

/// The corpus, read from `proxy_dir/tests/policy_corpus.toml`.
pub fn load(proxy_dir: &Path) -> Vec<Case> {
    let path = proxy_dir.join("tests/policy_corpus.toml");
    let text = std::fs::read_to_string(&path).expect("the corpus file");
    let corpus: Corpus = toml::from_str(&text).expect("the corpus parses");
    corpus.case
}

/// What a run observed, in the corpus's terms.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Observed {
    pub kinds: Vec<String>,
    pub reads: BTreeSet<String>,
    pub writes: BTreeSet<String>,
    pub functions: BTreeSet<String>,
    pub dangerous: BTreeSet<String>,
    pub flags: BTreeSet<String>,
    pub verdict: String,
    pub policy: Option<String>,
}

impl Observed {
    /// From the facts and the decision of the library.
    pub fn from_facts(facts: &MessageFacts, decision: &Decision) -> Observed {
        let mut observed = Observed::default();
        for s in &facts.statements {
            observed.kinds.push(s.kind.to_string());
            observed
                .reads
                .extend(s.reads.iter().map(ToString::to_string));
            observed
                .writes
                .extend(s.writes.iter().map(ToString::to_string));
            observed.functions.extend(s.functions.iter().cloned());
            observed
                .dangerous
                .extend(s.dangerous_functions.iter().cloned());
            let flags = &mut observed.flags;
            if !s.has_where() {
                flags.insert("no-where".into());
            }
            if s.limit.is_some() {
                flags.insert("limit".into());
            }
            if let Some(copy) = s.copy {
                flags.insert(format!(
                    "copy:{}:{}",
                    copy.direction.name(),
                    copy.endpoint.name()
                ));
            }
            if let Some(role) = s.role_change {
                flags.insert(format!("role:{}", role.name()));
            }
            flags.extend(s.settings.iter().map(|name| format!("setting:{name}")));
            if let Some(explain) = s.explain {
                flags.insert(format!("explain:{}", explain.name()));
            }
            if let Some(SessionEffect::Prepare { name, .. }) = &s.session {
                flags.insert(format!("prepare:{name}"));
            }
        }
        (observed.verdict, observed.policy) = match decision {
            Decision::Allow { .. } => ("allow".into(), None),
            Decision::Block { policy, .. } => ("block".into(), Some(policy.clone())),
            Decision::RequireApproval { policy, .. } => ("approval".into(), Some(policy.clone())),
        };
        observed
    }

    /// From `blastwall policy test --json`.
    pub fn from_json(report: &Value) -> Observed {
        let strings = |v: &Value| -> Vec<String> {
            v.as_array()
                .map(|a| {
                    a.iter()
                        .filter_map(|s| s.as_str().map(str::to_owned))
                        .collect()
                })
                .unwrap_or_default()
        };
        let mut observed = Observed::default();
        for s in report["statements"].as_array().into_iter().flatten() {
            observed
                .kinds
                .push(s["kind"].as_str().unwrap_or("?").to_owned());
            observed.reads.extend(strings(&s["reads"]));
            observed.writes.extend(strings(&s["writes"]));
            observed.functions.extend(strings(&s["functions"]));
            observed
                .dangerous
                .extend(strings(&s["dangerous_functions"]));
            let flags = &mut observed.flags;
            if s["has_where"] == Value::Bool(false) {
                flags.insert("no-where".into());
            }
            if !s["limit"].is_null() {
                flags.insert("limit".into());
            }
            if let Some(copy) = s["copy"].as_object() {
                let part = |k: &str| {
                    copy.get(k)
                        .and_then(Value::as_str)
                        .unwrap_or("?")
                        .to_owned()
                };
                flags.insert(format!("copy:{}:{}", part("direction"), part("endpoint")));
            }
            if let Some(role) = s["role_change"].as_str() {
                flags.insert(format!("role:{role}"));
            }
            flags.extend(
                strings(&s["settings"])
                    .into_iter()
                    .map(|n| format!("setting:{n}")),
            );
            if let Some(explain) = s["explain"].as_str() {
                flags.insert(format!("explain:{explain}"));
            }
            if let Some(name) = s["prepares"].as_str() {
                flags.insert(format!("prepare:{name}"));
            }
        }
        observed.verdict = report["verdict"].as_str().unwrap_or("?").to_owned();
        observed.policy = report["policy"].as_str().map(str::to_owned);
        observed
    }

    /// Differences from what the case expects, one per line; empty when none.
    pub fn differences(&self, case: &Case) -> Vec<String> {
        let set = |v: &[String]| v.iter().cloned().collect::<BTreeSet<_>>();
        let mut out = Vec::new();
        let mut check = |what: &str, expected: String, observed: String| {
            if expected != observed {
                out.push(format!("  {what}: expected {expected}, got {observed}"));
            }
        };
        check(
            "kinds",
            format!("{:?}", case.kinds),
            format!("{:?}", self.kinds),
        );
        check(
            "reads",
            format!("{:?}", set(&case.reads)),
            format!("{:?}", self.reads),
        );
        check(
            "writes",
            format!("{:?}", set(&case.writes)),
            format!("{:?}", self.writes),
        );
        check(
            "functions",
            format!("{:?}", set(&case.functions)),
            format!("{:?}", self.functions),
        );
        check(
            "dangerous",
            format!("{:?}", set(&case.dangerous)),
            format!("{:?}", self.dangerous),
        );
        check(
            "flags",
            format!("{:?}", set(&case.flags)),
            format!("{:?}", self.flags),
        );
        check("verdict", case.verdict.clone(), self.verdict.clone());
        let policy = if case.allowed() {
            None
        } else {
            case.policy.clone()
        };
        check(
            "policy",
            format!("{policy:?}"),
            format!("{:?}", self.policy),
        );
        out
    }
}

/// Panics with every case that differs, so one run shows them all.
pub fn assert_all(failures: Vec<String>, cases: usize) {
    assert!(
        failures.is_empty(),
        "{} of {cases} corpus cases differ:\n{}",
        failures.len(),
        failures.join("\n")
    );
}
