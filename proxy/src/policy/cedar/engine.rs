//! The Cedar engine: every access of every statement of a message is a Cedar request; the
//! most restrictive verdict of all of them decides the whole message.
//!
//! Per access: a matching `forbid` blocks; else a matching `permit` with `@approval` requires
//! that group's approval; else a matching `permit` allows; nothing matching blocks (as policy
//! `default-deny`). A policy that fails to evaluate blocks too: the engine fails closed. Among
//! equally restrictive verdicts the first (statement order, then access order, then pack order)
//! names the deciding policy and its `@message`.
//!
//! Not here: facts (`policy::facts`), loading and reloading (`load`, `store`), the verdict
//! cache (`verdicts`).

use cedar_policy::{
    AuthorizationError, Authorizer, Decision as CedarDecision, Effect, Entities, EntityUid,
    PolicyId, Request as CedarRequest, Response,
};

use super::request::{self, BuildError, Position};
use super::store::Loaded;
use crate::policy::decision::{Decision, Request};
use crate::policy::facts::Access;

/// The id named when no policy permits an access.
pub const DEFAULT_DENY: &str = "default-deny";
/// The id named when blastwall cannot build the request (a bug; fails closed).
pub const INTERNAL: &str = "blastwall-internal";

/// A verdict, from least to most restrictive.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Verdict {
    /// Allowed.
    Allow,
    /// Allowed once a person approves.
    Approval,
    /// Blocked.
    Block,
}

/// The verdict on one access of one statement.
#[derive(Clone, Debug)]
pub struct AccessVerdict {
    /// The statement's position in the message (from 0).
    pub statement: usize,
    /// The access.
    pub access: Access,
    /// The verdict.
    pub verdict: Verdict,
    /// The policies that decided it, in pack order (empty for `default-deny`); for a policy
    /// that failed to evaluate, that policy.
    pub policies: Vec<String>,
    /// Policies that failed to evaluate, with why.
    pub errors: Vec<String>,
}

/// A message's verdicts and the decision they amount to.
#[derive(Clone, Debug)]
pub struct Evaluation {
    /// The decision for the whole message.
    pub decision: Decision,
    /// Every access's verdict, in order.
    pub accesses: Vec<AccessVerdict>,
}

/// Evaluates every access of the request's statements against `loaded`.
pub fn evaluate(loaded: &Loaded, request: &Request<'_>) -> Evaluation {
    match verdicts(loaded, request) {
        Ok(accesses) => Evaluation {
            decision: decide(loaded, request, &accesses),
            accesses,
        },
        Err(error) => {
            tracing::error!(%error, "policy request not built; blocked");
            Evaluation {
                decision: Decision::Block {
                    policy: INTERNAL.to_owned(),
                    message: "blastwall could not evaluate its policies".to_owned(),
                },
                accesses: Vec::new(),
            }
        }
    }
}

fn verdicts(loaded: &Loaded, request: &Request<'_>) -> Result<Vec<AccessVerdict>, BuildError> {
    let statements = &request.facts.statements;
    let tables = statements
        .iter()
        .flat_map(|s| s.accesses.iter().filter_map(|a| a.table.as_ref()));
    let uids = &loaded.uids;
    let (principal, entities) = request::entities(uids, request, tables)?;
    let target = uids.target(request);
    let authorizer = Authorizer::new();
    let mut verdicts = Vec::new();
    for (index, facts) in statements.iter().enumerate() {
        let position = Position {
            index: index + 1,
            count: statements.len(),
        };
        let context = request::context(facts, &position, request, &loaded.inputs)?;
        let asked = Asked {
            loaded,
            authorizer: &authorizer,
            entities: &entities,
            principal: &principal,
            target: &target,
        };
        for access in &facts.accesses {
            verdicts.push(asked.access(index, access, &context)?);
        }
    }
    Ok(verdicts)
}

/// What every access of a message is asked with.
struct Asked<'a> {
    loaded: &'a Loaded,
    authorizer: &'a Authorizer,
    entities: &'a Entities,
    principal: &'a EntityUid,
    target: &'a EntityUid,
}

impl Asked<'_> {
    fn access(
        &self,
        index: usize,
        access: &Access,
        context: &cedar_policy::Context,
    ) -> Result<AccessVerdict, BuildError> {
        let response = self.ask(access, context)?;
        let (verdict, policies) = self.verdict(&response);
        Ok(AccessVerdict {
            statement: index,
            access: access.clone(),
            verdict,
            policies,
            errors: response
                .diagnostics()
                .errors()
                .map(ToString::to_string)
                .collect(),
        })
    }

    fn ask(
        &self,
        access: &Access,
        context: &cedar_policy::Context,
    ) -> Result<Response, BuildError> {
        let action = self.loaded.uids.action(access.action)?;
        let resource = match &access.table {
            Some(table) => self.loaded.uids.table(table),
            None => self.target.clone(),
        };
        let principal = self.principal.clone();
        let cedar = CedarRequest::new(principal, action, resource, context.clone(), None)
            .map_err(request::build_error)?;
        let set = self.loaded.by_action.get(&access.action);
        let set = set.unwrap_or(&self.loaded.pack.set);
        Ok(self.authorizer.is_authorized(&cedar, set, self.entities))
    }

    /// The verdict and the policies that decided it, in pack order.
    fn verdict(&self, response: &Response) -> (Verdict, Vec<String>) {
        let failed: Vec<String> = response
            .diagnostics()
            .errors()
            .map(|AuthorizationError::PolicyEvaluationError(e)| e.policy_id().to_string())
            .collect();
        if !failed.is_empty() {
            // Fail closed: a policy that cannot be evaluated might have been a forbid.
            return (Verdict::Block, failed);
        }
        let mut policies: Vec<&PolicyId> = response.diagnostics().reason().collect();
        policies.sort_by_key(|id| self.info(id).map_or(usize::MAX, |i| i.order));
        let approves = |id: &&PolicyId| self.info(id).is_some_and(|i| i.approval.is_some());
        let verdict = match response.decision() {
            CedarDecision::Deny => Verdict::Block,
            CedarDecision::Allow if policies.iter().any(approves) => Verdict::Approval,
            CedarDecision::Allow => Verdict::Allow,
        };
        // With an approval, the approving permits decide; the others only allow.
        let policies = policies
            .into_iter()
            .filter(|id| verdict != Verdict::Approval || approves(id))
            .map(ToString::to_string)
            .collect();
        (verdict, policies)
    }

    fn info(&self, id: &PolicyId) -> Option<&super::load::PolicyInfo> {
        self.loaded.pack.info.get(id)
    }
}

/// The decision the verdicts amount to: the most restrictive, the first of equals.
fn decide(loaded: &Loaded, request: &Request<'_>, verdicts: &[AccessVerdict]) -> Decision {
    let Some(worst) = verdicts.iter().map(|v| v.verdict).max() else {
        return Decision::Allow {
            policies: Vec::new(),
        };
    };
    let Some(deciding) = verdicts.iter().find(|v| v.verdict == worst) else {
        return Decision::Allow {
            policies: Vec::new(),
        };
    };
    let info = deciding
        .policies
        .first()
        .and_then(|id| loaded.pack.info.get(&PolicyId::new(id)));
    match worst {
        Verdict::Allow => {
            let mut policies: Vec<String> = Vec::new();
            for id in verdicts.iter().flat_map(|v| &v.policies) {
                if !policies.contains(id) {
                    policies.push(id.clone());
                }
            }
            Decision::Allow { policies }
        }
        Verdict::Approval => Decision::RequireApproval {
            policy: info.map_or_else(String::new, |i| i.id.clone()),
            group: info.and_then(|i| i.approval.clone()).unwrap_or_default(),
            message: message(info, "this statement needs approval"),
            approvers: info.map_or(1, |i| i.approvers),
            expires: info.and_then(|i| i.expires),
        },
        Verdict::Block if !deciding.errors.is_empty() => Decision::Block {
            policy: deciding
                .policies
                .first()
                .cloned()
                .unwrap_or_else(|| INTERNAL.to_owned()),
            message: "a policy could not be evaluated, so the statement does not run".to_owned(),
        },
        Verdict::Block => match info.filter(|i| i.effect == Effect::Forbid) {
            Some(info) => Decision::Block {
                policy: info.id.clone(),
                message: message(Some(info), "forbidden"),
            },
            None => Decision::Block {
                policy: DEFAULT_DENY.to_owned(),
                message: format!(
                    "no policy permits {} on {}",
                    deciding.access.action,
                    resource_name(&deciding.access, request)
                ),
            },
        },
    }
}

fn message(info: Option<&super::load::PolicyInfo>, otherwise: &str) -> String {
    info.and_then(|i| i.message.clone())
        .unwrap_or_else(|| otherwise.to_owned())
}

fn resource_name(access: &Access, request: &Request<'_>) -> String {
    match &access.table {
        Some(table) => table.to_string(),
        None => format!("target {}", request.target),
    }
}
