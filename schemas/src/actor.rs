//! [`Actor`]: who did it — the identity on every event.
//!
//! The proxy's identity layer turns a validated OIDC token into an `Actor`; the chain builder
//! stamps it on each event of the session, and approvers appear as `Actor`s in
//! `approval.decided`. It is what the policy's principal and the forensic queries' "who" are
//! built from.
//!
//! Invariants: `subject` is the token's `sub` (the human or service ultimately responsible);
//! `agents` is the RFC 8693 `act` chain, outermost (the party presenting the token) first;
//! `issuer` is empty exactly when no identity was established (see [`Actor::unauthenticated`]).
//!
//! Not here: token validation (proxy `identity/`), and groups' meaning (policy).

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// An authenticated principal, or the claim of one that failed to authenticate.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Actor {
    /// The token's `sub`: the human or service the action is on behalf of.
    pub subject: String,
    /// The RFC 8693 `act` chain, outermost actor first (e.g. the coding agent, then the
    /// orchestrator that delegated to it). Empty when the subject acts directly.
    pub agents: Vec<String>,
    /// Groups from the token, as the policy sees them.
    pub groups: Vec<String>,
    /// The token's `iss`; empty when authentication did not succeed.
    pub issuer: String,
    /// The token's `jti`, when it has one.
    #[serde(deserialize_with = "crate::nullable::deserialize")]
    pub token_id: Option<String>,
}

impl Actor {
    /// An actor that has not (or not yet) authenticated: `subject` is the name the client
    /// claimed (a Postgres `user`, an SSH user name), everything else is empty.
    pub fn unauthenticated(claimed_subject: impl Into<String>) -> Self {
        Actor {
            subject: claimed_subject.into(),
            agents: Vec::new(),
            groups: Vec::new(),
            issuer: String::new(),
            token_id: None,
        }
    }

    /// Whether this identity came from a validated token.
    pub fn is_authenticated(&self) -> bool {
        !self.issuer.is_empty()
    }

    /// The party that acted directly: the outermost agent, or the subject if there is none.
    pub fn acting_party(&self) -> &str {
        self.agents.first().unwrap_or(&self.subject)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn acting_party_is_the_outermost_agent() {
        let mut actor = Actor {
            subject: "alice@example.com".into(),
            agents: vec!["claude-code".into(), "orchestrator".into()],
            groups: vec!["dba".into()],
            issuer: "https://idp.example.com".into(),
            token_id: Some("jti-1".into()),
        };
        assert!(actor.is_authenticated());
        assert_eq!(actor.acting_party(), "claude-code");
        actor.agents.clear();
        assert_eq!(actor.acting_party(), "alice@example.com");
    }

    #[test]
    fn unauthenticated_actor_has_no_issuer() {
        let actor = Actor::unauthenticated("postgres");
        assert!(!actor.is_authenticated());
        assert_eq!(
            serde_json::to_string(&actor).unwrap(),
            r#"{"subject":"postgres","agents":[],"groups":[],"issuer":"","token_id":null}"#
        );
    }
}
