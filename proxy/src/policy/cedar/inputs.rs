//! Which parts of the context a pack's policies read, found once at load in the policies'
//! JSON form: `context.time` and `context.client_address` cost time to build and make a
//! verdict depend on more than the statement, so the engine builds (and caches by) only what
//! is read.
//!
//! Invariant: a policy that uses `context` other than through `.attr` or `has attr` reads
//! everything. Missing an attribute here can only make a policy error at evaluation, which the
//! engine treats as a block: never as an allow.

use std::collections::BTreeSet;

use cedar_policy::Policy;
use serde_json::Value;

/// The context attributes a pack reads.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Inputs {
    attributes: BTreeSet<String>,
    everything: bool,
}

impl Inputs {
    /// What `policies` read.
    pub fn of<'a>(policies: impl IntoIterator<Item = &'a Policy>) -> Self {
        let mut inputs = Inputs::default();
        for policy in policies {
            match policy.to_json() {
                Ok(json) => inputs.scan(&json),
                Err(_) => inputs.everything = true,
            }
        }
        inputs
    }

    /// Whether some policy reads `context.<attribute>`.
    pub fn reads(&self, attribute: &str) -> bool {
        self.everything || self.attributes.contains(attribute)
    }

    fn scan(&mut self, json: &Value) {
        match json {
            Value::Object(map) => {
                for (key, value) in map {
                    match (key.as_str(), value) {
                        ("." | "has", Value::Object(access)) if is_context(access.get("left")) => {
                            match access.get("attr").and_then(Value::as_str) {
                                Some(attribute) => {
                                    self.attributes.insert(attribute.to_owned());
                                }
                                None => self.everything = true,
                            }
                        }
                        ("Var", Value::String(var)) if var == "context" => self.everything = true,
                        _ => self.scan(value),
                    }
                }
            }
            Value::Array(items) => items.iter().for_each(|item| self.scan(item)),
            _ => {}
        }
    }
}

fn is_context(value: Option<&Value>) -> bool {
    value
        .and_then(|v| v.get("Var"))
        .and_then(Value::as_str)
        .is_some_and(|var| var == "context")
}

#[cfg(test)]
mod tests {
    use std::str::FromStr;

    use cedar_policy::PolicySet;

    use super::*;

    fn inputs(text: &str) -> Inputs {
        let set = PolicySet::from_str(text).expect("parses");
        Inputs::of(set.policies())
    }

    #[test]
    fn attributes_read_are_found_and_others_are_not() {
        let found = inputs(
            r#"forbid (principal, action, resource) when { context.has_where && context has limit };
               permit (principal, action, resource) when { context.time > datetime("2025-01-01T00:00:00Z") };"#,
        );
        assert!(found.reads("has_where") && found.reads("limit") && found.reads("time"));
        assert!(!found.reads("client_address"));
    }

    #[test]
    fn the_whole_context_reads_everything() {
        let found = inputs(r#"forbid (principal, action, resource) when { context == {} };"#);
        assert!(found.reads("client_address"));
    }
}
