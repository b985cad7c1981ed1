//! Masking: sensitive values rewritten before a client or a recording sees them.
//!
//! Pure, no I/O: a [`Masking`] (checked configuration) makes a [`Plan`] for a result's columns
//! — which rule's strategy, content detection, or nothing — and the plan rewrites each row
//! ([`rewrite`]: DataRow values in text or binary format; [`copy`]: COPY text and CSV lines).
//! Content detectors ([`detect`]) also mask statement text, parameters and error messages.
//!
//! Invariants: a value is either rewritten or withheld (NULL, or the statement failed by the
//! caller); a binary value a rule covers but cannot rewrite becomes NULL; nothing here panics
//! on malformed input (a malformed row is an error, which the caller turns into a failed
//! statement). Resolving a column's table and name (the upstream catalog) is the Postgres
//! gateway's job (`postgres::catalog`), and so is deciding what to do on failure.

pub mod config;
pub mod copy;
pub mod counts;
pub mod detect;
pub mod hash_key;
pub mod pattern;
pub mod plan;
pub mod rewrite;
pub mod strategy;

pub use config::{MaskingConfig, MaskingRuleConfig};
pub use counts::ResultCounts;
pub use detect::{DetectorCounts, DetectorKind, Detectors};
pub use hash_key::HashKey;
pub use plan::{Action, ColumnSource, Field, Plan, Viewer};
pub use strategy::{Strategy, StrategyKind};

use pattern::Pattern;

/// Why masking could not be done; the statement fails and nothing unmasked goes out.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum MaskingError {
    /// A row's bytes do not match its own lengths or the description.
    #[error("a row is malformed: {0}")]
    Malformed(&'static str),
    /// The result's columns are unknown, so column rules cannot be applied.
    #[error("the result's columns are unknown")]
    UnknownColumns,
}

/// A checked column rule.
#[derive(Debug)]
pub struct Rule {
    target: Pattern,
    schema: Pattern,
    table: Pattern,
    column: Pattern,
    type_name: Pattern,
    /// What it does.
    pub strategy: Strategy,
    groups: Vec<String>,
    exempt_groups: Vec<String>,
}

impl Rule {
    fn covers(&self, target: &str, source: &ColumnSource) -> bool {
        self.target.matches(target)
            && self.schema.matches(&source.schema)
            && self.table.matches(&source.table)
            && self.column.matches(&source.column)
            && self.type_name.matches(&source.type_name)
    }

    fn applies_to(&self, groups: &[String], viewer: Viewer) -> bool {
        match viewer {
            Viewer::Recording => true,
            Viewer::Client => {
                (self.groups.is_empty() || self.groups.iter().any(|g| groups.contains(g)))
                    && !self.exempt_groups.iter().any(|g| groups.contains(g))
            }
        }
    }
}

/// Masking as configured, checked: rules, detectors, the hash key.
#[derive(Debug)]
pub struct Masking {
    rules: Vec<Rule>,
    detectors: Detectors,
    exempt_groups: Vec<String>,
    key: Option<HashKey>,
}

impl Masking {
    /// Checks the configuration and reads the hash key; `None` when masking is off.
    pub fn from_config(config: &MaskingConfig) -> Result<Option<Masking>, String> {
        if !config.enabled {
            return Ok(None);
        }
        let mut rules = Vec::with_capacity(config.rules.len());
        for (i, rule) in config.rules.iter().enumerate() {
            let strategy = match rule.strategy {
                StrategyKind::Redact => Strategy::Redact,
                StrategyKind::Partial => Strategy::Partial {
                    keep: rule.keep.unwrap_or(4),
                },
                StrategyKind::Hash => Strategy::Hash,
                StrategyKind::Null => Strategy::Null,
                StrategyKind::Clear => Strategy::Clear,
            };
            if rule.keep.is_some() && rule.strategy != StrategyKind::Partial {
                return Err(format!(
                    "[[masking.rules]] #{}: `keep` is only for strategy = \"partial\"",
                    i + 1
                ));
            }
            rules.push(Rule {
                target: Pattern::new(&rule.target),
                schema: Pattern::new(&rule.schema),
                table: Pattern::new(&rule.table),
                column: Pattern::new(&rule.column),
                type_name: Pattern::new(&rule.type_name),
                strategy,
                groups: rule.groups.clone(),
                exempt_groups: rule.exempt_groups.clone(),
            });
        }
        let hashes = rules.iter().any(|r| r.strategy == Strategy::Hash);
        let key = match (&config.hash_key, hashes) {
            (Some(source), _) => {
                let secret = source.read("masking.hash_key")?;
                if secret.expose().len() < 16 {
                    return Err("[masking] hash_key must be at least 16 bytes".to_owned());
                }
                Some(HashKey::new(secret.expose().as_bytes()))
            }
            (None, true) => {
                return Err(
                    "[masking] a rule uses strategy = \"hash\" but no hash_key is configured"
                        .to_owned(),
                );
            }
            (None, false) => None,
        };
        Ok(Some(Masking {
            rules,
            detectors: Detectors::new(&config.detectors),
            exempt_groups: config.exempt_groups.clone(),
            key,
        }))
    }

    /// The content detectors.
    pub fn detectors(&self) -> &Detectors {
        &self.detectors
    }

    /// The hash key, if configured.
    pub fn key(&self) -> Option<&HashKey> {
        self.key.as_ref()
    }

    /// Whether any rule could apply to columns of `target` (then results need their columns
    /// resolved).
    pub fn has_rules_for(&self, target: &str) -> bool {
        self.rules.iter().any(|r| r.target.matches(target))
    }

    /// Whether a principal with `groups` sees values unmasked.
    pub fn exempts(&self, groups: &[String]) -> bool {
        self.exempt_groups.iter().any(|g| groups.contains(g))
    }

    /// The first rule for `source` that applies to `viewer`.
    pub fn rule_for(
        &self,
        target: &str,
        source: &ColumnSource,
        groups: &[String],
        viewer: Viewer,
    ) -> Option<&Rule> {
        self.rules
            .iter()
            .find(|r| r.covers(target, source) && r.applies_to(groups, viewer))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(toml_text: &str) -> MaskingConfig {
        toml::from_str(toml_text).expect("masking config")
    }

    #[test]
    fn a_hash_rule_needs_a_key() {
        let c = config("[[rules]]\ntable = \"people\"\ncolumn = \"email\"\nstrategy = \"hash\"\n");
        let err = Masking::from_config(&c).expect_err("no key");
        assert!(err.contains("hash_key"), "{err}");
    }

    #[test]
    fn keep_only_with_partial_and_unknown_keys_refused() {
        let c = config("[[rules]]\ncolumn = \"x\"\nstrategy = \"redact\"\nkeep = 2\n");
        assert!(Masking::from_config(&c).is_err());
        assert!(
            toml::from_str::<MaskingConfig>("[[rules]]\nstrategy = \"redact\"\ncolum = \"x\"\n")
                .is_err()
        );
        assert!(toml::from_str::<MaskingConfig>("[[rules]]\nstrategy = \"scramble\"\n").is_err());
        assert!(toml::from_str::<MaskingConfig>("detectors = [\"passport\"]\n").is_err());
    }

    #[test]
    fn disabled_is_none_and_groups_select_rules() {
        assert!(
            Masking::from_config(&config("enabled = false"))
                .expect("ok")
                .is_none()
        );
        let c = config(
            "exempt_groups = [\"oncall\"]\n[[rules]]\ncolumn = \"email\"\nstrategy = \"redact\"\nexempt_groups = [\"support\"]\n",
        );
        let masking = Masking::from_config(&c).expect("ok").expect("on");
        let source = ColumnSource {
            schema: "public".into(),
            table: "people".into(),
            column: "email".into(),
            type_name: "text".into(),
        };
        let agents = vec!["agents".to_owned()];
        let support = vec!["support".to_owned()];
        assert!(
            masking
                .rule_for("app", &source, &agents, Viewer::Client)
                .is_some()
        );
        assert!(
            masking
                .rule_for("app", &source, &support, Viewer::Client)
                .is_none()
        );
        assert!(
            masking
                .rule_for("app", &source, &support, Viewer::Recording)
                .is_some()
        );
        assert!(masking.exempts(&["oncall".to_owned()]));
    }
}
