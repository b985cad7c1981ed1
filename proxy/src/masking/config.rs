//! `[masking]` and `[[masking.rules]]`: what the configuration file says, checked once into
//! [`Masking`](super::Masking).

use serde::Deserialize;

use super::detect::DetectorKind;
use super::strategy::StrategyKind;
use crate::config::SecretSource;

/// `[masking]`: masking of results, statement text and errors.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MaskingConfig {
    /// Masking on (the default) or off.
    #[serde(default = "default_enabled")]
    pub enabled: bool,
    /// The content detectors run on every text value no rule covers; default: all of them
    /// (`email`, `card`, `ssn`, `iban`, `phone`, `cloud_key`, `private_key`, `jwt`).
    #[serde(default = "default_detectors")]
    pub detectors: Vec<DetectorKind>,
    /// Groups whose members see values unmasked (no rule, no detector). What is recorded
    /// for them is still masked.
    #[serde(default)]
    pub exempt_groups: Vec<String>,
    /// Where the `hash` strategy's key comes from (`{ env = "VAR" }` or `{ file = "path" }`);
    /// required when a rule hashes. Never the key itself.
    #[serde(default)]
    pub hash_key: Option<SecretSource>,
    /// Column rules; the first that matches a column decides it.
    #[serde(default)]
    pub rules: Vec<MaskingRuleConfig>,
}

impl Default for MaskingConfig {
    fn default() -> Self {
        MaskingConfig {
            enabled: default_enabled(),
            detectors: default_detectors(),
            exempt_groups: Vec::new(),
            hash_key: None,
            rules: Vec::new(),
        }
    }
}

fn default_enabled() -> bool {
    true
}

fn default_detectors() -> Vec<DetectorKind> {
    DetectorKind::ALL.to_vec()
}

fn any() -> String {
    "*".to_owned()
}

/// `[[masking.rules]]`: one column rule. Names are globs (`*`, `?`), matched without case.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MaskingRuleConfig {
    /// Target name glob.
    #[serde(default = "any")]
    pub target: String,
    /// Schema name glob.
    #[serde(default = "any")]
    pub schema: String,
    /// Table (or view) name glob.
    #[serde(default = "any")]
    pub table: String,
    /// Column name glob.
    #[serde(default = "any")]
    pub column: String,
    /// Postgres type name glob (`text`, `varchar`, `int*`); default any type.
    #[serde(default = "any", rename = "type")]
    pub type_name: String,
    /// `redact`, `partial`, `hash`, `null` or `clear`.
    pub strategy: StrategyKind,
    /// For `partial`: how many characters to keep at the end (default 4).
    #[serde(default)]
    pub keep: Option<usize>,
    /// The rule applies only to members of these groups (default: everyone).
    #[serde(default)]
    pub groups: Vec<String>,
    /// Members of these groups are not subject to the rule.
    #[serde(default)]
    pub exempt_groups: Vec<String>,
}
