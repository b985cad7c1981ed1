//! Deny rules by statement kind, from the configuration: the simplest real policy.
//!
//! `[[policy.deny]]` names statement kinds and a message; a command with any statement of a
//! denied kind is blocked as a whole (in a multi-statement message the most restrictive verdict
//! wins, for the whole message). Everything else is allowed.

use serde::Deserialize;

use super::{Decision, Policy, Request, StatementKind};

/// `[policy]`.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PolicyConfig {
    /// Rules that block statements by kind.
    #[serde(default)]
    pub deny: Vec<DenyRuleConfig>,
}

/// `[[policy.deny]]`.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DenyRuleConfig {
    /// The rule's id, named in events and in the client's error.
    pub id: String,
    /// Statement kinds it blocks: select, insert, update, delete, merge, ddl, drop, truncate,
    /// grant, copy, set, transaction, prepared, explain, call, other, unparsed.
    pub kinds: Vec<String>,
    /// What the client is told.
    pub message: String,
}

/// A checked deny rule.
#[derive(Clone, Debug)]
pub struct DenyRule {
    id: String,
    kinds: Vec<StatementKind>,
    message: String,
}

/// The configured deny rules.
#[derive(Clone, Debug, Default)]
pub struct Rules {
    deny: Vec<DenyRule>,
}

impl Rules {
    /// Checks the configuration: unknown kinds and empty ids are refused by name.
    pub fn from_config(config: &PolicyConfig) -> Result<Self, String> {
        let mut deny = Vec::with_capacity(config.deny.len());
        for rule in &config.deny {
            if rule.id.is_empty() {
                return Err("a [[policy.deny]] rule has an empty id".to_owned());
            }
            let kinds = rule
                .kinds
                .iter()
                .map(|name| {
                    StatementKind::ALL
                        .into_iter()
                        .find(|k| k.as_str() == name)
                        .ok_or_else(|| {
                            format!("policy rule {}: unknown statement kind {name:?}", rule.id)
                        })
                })
                .collect::<Result<Vec<_>, _>>()?;
            deny.push(DenyRule {
                id: rule.id.clone(),
                kinds,
                message: rule.message.clone(),
            });
        }
        Ok(Rules { deny })
    }
}

impl Policy for Rules {
    fn decide(&self, request: &Request<'_>) -> Decision {
        for rule in &self.deny {
            if request
                .statements
                .iter()
                .any(|kind| rule.kinds.contains(kind))
            {
                return Decision::Block {
                    policy: rule.id.clone(),
                    message: rule.message.clone(),
                };
            }
        }
        Decision::Allow {
            policies: Vec::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::sql::statement_kinds;

    fn rules() -> Rules {
        Rules::from_config(&PolicyConfig {
            deny: vec![DenyRuleConfig {
                id: "no-drop".into(),
                kinds: vec!["drop".into(), "unparsed".into()],
                message: "dropping is not allowed".into(),
            }],
        })
        .expect("valid")
    }

    fn decide(text: &str) -> Decision {
        let statements = statement_kinds(text);
        rules().decide(&Request {
            subject: "alice",
            agents: &[],
            groups: &[],
            target: "db",
            protocol: schemas::Protocol::Postgres,
            text,
            statements: &statements,
        })
    }

    #[test]
    fn the_most_restrictive_verdict_wins_for_the_whole_message() {
        assert!(matches!(decide("SELECT 1"), Decision::Allow { .. }));
        assert!(
            matches!(decide("SELECT 1; DROP TABLE t"), Decision::Block { policy, .. } if policy == "no-drop")
        );
        assert!(matches!(
            decide("garbage that is not sql"),
            Decision::Block { .. }
        ));
    }

    #[test]
    fn unknown_kinds_are_refused() {
        let config = PolicyConfig {
            deny: vec![DenyRuleConfig {
                id: "x".into(),
                kinds: vec!["dorp".into()],
                message: String::new(),
            }],
        };
        let err = Rules::from_config(&config).expect_err("typo refused");
        assert!(err.contains("dorp"), "{err}");
    }
}
