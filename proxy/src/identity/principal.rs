//! [`Principal`]: who is acting, read from the claims of a token whose signature, issuer,
//! audience and lifetime have already been checked.
//!
//! The validator builds it as the last step of `validate`; listeners keep it for the session and
//! turn it into the [`schemas::Actor`] stamped on every event. The agent chain follows RFC 8693
//! §4.1: `act` names the *current* actor (the party presenting the token) and a nested `act`
//! the actor before it, so `agents` lists them outermost first — the order `Actor` documents and
//! the one in which delegation is read ("claude-code, on behalf of the orchestrator, on behalf
//! of alice"). Invariants: `subject` and every agent are non-empty; a claim of the wrong shape
//! fails the token (groups in particular: reading fewer groups than the token names could slip
//! past a group-based `forbid`).
//!
//! Not here: what groups mean (policy), signature and time checks (`validator`).

use schemas::{Actor, Timestamp};
use serde_json::{Map, Value};

use super::error::Malformation;

/// The deepest `act` chain read; deeper delegation is refused as malformed.
const MAX_ACT_DEPTH: usize = 16;

/// An authenticated identity: the human (or service) responsible, and the agents acting for it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    /// The token's `sub`: the human or service the action is on behalf of.
    pub subject: String,
    /// The RFC 8693 `act` chain, outermost (the party presenting the token) first; empty when
    /// the subject acts directly.
    pub agents: Vec<String>,
    /// The groups named by the configured groups claim; empty when the claim is absent.
    pub groups: Vec<String>,
    /// The token's `iss` (the trusted issuer).
    pub issuer: String,
    /// The token's `jti`, when it has one.
    pub token_id: Option<String>,
    /// The token's `exp`: the session's identity is not valid after this instant.
    pub expires_at: Timestamp,
}

impl From<&Principal> for Actor {
    fn from(principal: &Principal) -> Self {
        Actor {
            subject: principal.subject.clone(),
            agents: principal.agents.clone(),
            groups: principal.groups.clone(),
            issuer: principal.issuer.clone(),
            token_id: principal.token_id.clone(),
        }
    }
}

impl Principal {
    /// Reads a principal from validated claims; `exp` is passed in, already parsed.
    pub(super) fn from_claims(
        claims: &Map<String, Value>,
        issuer: &str,
        groups_claim: &str,
        exp: u64,
    ) -> Result<Self, Malformation> {
        Ok(Principal {
            subject: required_string(claims, "sub")?,
            agents: agent_chain(claims.get("act"))?,
            groups: groups(claims.get(groups_claim), groups_claim)?,
            issuer: issuer.to_owned(),
            token_id: optional_string(claims, "jti")?,
            expires_at: timestamp(exp),
        })
    }
}

fn required_string(claims: &Map<String, Value>, name: &str) -> Result<String, Malformation> {
    match claims.get(name) {
        None | Some(Value::Null) => Err(Malformation::MissingClaim(name.to_owned())),
        Some(Value::String(s)) if s.is_empty() => Err(Malformation::MissingClaim(name.to_owned())),
        Some(Value::String(s)) => Ok(s.clone()),
        Some(_) => Err(Malformation::InvalidClaim(name.to_owned())),
    }
}

fn optional_string(
    claims: &Map<String, Value>,
    name: &str,
) -> Result<Option<String>, Malformation> {
    match claims.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(_) => Err(Malformation::InvalidClaim(name.to_owned())),
    }
}

/// The `act` chain, outermost first.
fn agent_chain(mut act: Option<&Value>) -> Result<Vec<String>, Malformation> {
    let invalid = || Malformation::InvalidClaim("act".to_owned());
    let mut agents = Vec::new();
    while let Some(value) = act.filter(|v| !v.is_null()) {
        if agents.len() == MAX_ACT_DEPTH {
            return Err(invalid());
        }
        let actor = value.as_object().ok_or_else(invalid)?;
        let subject = match actor.get("sub") {
            Some(Value::String(s)) if !s.is_empty() => s.clone(),
            _ => return Err(invalid()),
        };
        agents.push(subject);
        act = actor.get("act");
    }
    Ok(agents)
}

/// The groups claim: an array of strings or a single string; absent or `null` → none.
fn groups(value: Option<&Value>, name: &str) -> Result<Vec<String>, Malformation> {
    let invalid = || Malformation::InvalidClaim(name.to_owned());
    match value {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::String(group)) => Ok(vec![group.clone()]),
        Some(Value::Array(items)) => items
            .iter()
            .map(|item| item.as_str().map(str::to_owned).ok_or_else(invalid))
            .collect(),
        Some(_) => Err(invalid()),
    }
}

/// `exp` (seconds) as a timestamp, saturating past the year 2262.
fn timestamp(seconds: u64) -> Timestamp {
    let nanos = i64::try_from(seconds)
        .ok()
        .and_then(|s| s.checked_mul(1_000_000_000))
        .unwrap_or(i64::MAX);
    Timestamp::from_unix_nanos(nanos)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn read(claims: Value) -> Result<Principal, Malformation> {
        let Value::Object(map) = claims else {
            panic!("claims must be an object")
        };
        Principal::from_claims(&map, "https://idp", "groups", 1_700_000_000)
    }

    #[test]
    fn reads_the_act_chain_outermost_first() {
        let principal = read(json!({
            "sub": "alice", "jti": "j1", "groups": ["dba", "oncall"],
            "act": {"sub": "claude-code", "act": {"sub": "orchestrator"}}
        }))
        .unwrap();
        assert_eq!(principal.subject, "alice");
        assert_eq!(principal.agents, ["claude-code", "orchestrator"]);
        assert_eq!(principal.groups, ["dba", "oncall"]);
        assert_eq!(principal.token_id.as_deref(), Some("j1"));
        assert_eq!(principal.expires_at.unix_nanos(), 1_700_000_000_000_000_000);
        let actor = Actor::from(&principal);
        assert_eq!(actor.acting_party(), "claude-code");
        assert_eq!(actor.issuer, "https://idp");
    }

    #[test]
    fn a_human_acting_directly_has_no_agents() {
        let principal = read(json!({"sub": "alice", "groups": "dba"})).unwrap();
        assert!(principal.agents.is_empty());
        assert_eq!(principal.groups, ["dba"]);
        assert_eq!(principal.token_id, None);
        let principal = read(json!({"sub": "alice"})).unwrap();
        assert!(principal.groups.is_empty());
    }

    #[test]
    fn refuses_claims_of_the_wrong_shape() {
        let invalid = |name: &str| Err(Malformation::InvalidClaim(name.to_owned()));
        let missing = |name: &str| Err(Malformation::MissingClaim(name.to_owned()));
        assert_eq!(read(json!({})), missing("sub"));
        assert_eq!(read(json!({"sub": ""})), missing("sub"));
        assert_eq!(read(json!({"sub": 7})), invalid("sub"));
        assert_eq!(read(json!({"sub": "a", "act": "agent"})), invalid("act"));
        assert_eq!(
            read(json!({"sub": "a", "act": {"client_id": "x"}})),
            invalid("act")
        );
        assert_eq!(
            read(json!({"sub": "a", "groups": ["ok", 1]})),
            invalid("groups")
        );
        assert_eq!(
            read(json!({"sub": "a", "groups": {"a": 1}})),
            invalid("groups")
        );
        assert_eq!(read(json!({"sub": "a", "jti": 12})), invalid("jti"));
    }

    #[test]
    fn bounds_the_act_depth() {
        let mut act = json!({"sub": "innermost"});
        for depth in 0..MAX_ACT_DEPTH {
            act = json!({"sub": format!("agent-{depth}"), "act": act});
        }
        assert_eq!(
            read(json!({"sub": "a", "act": act})),
            Err(Malformation::InvalidClaim("act".to_owned()))
        );
    }

    #[test]
    fn far_future_expiry_saturates() {
        assert_eq!(timestamp(u64::MAX).unix_nanos(), i64::MAX);
    }
}
