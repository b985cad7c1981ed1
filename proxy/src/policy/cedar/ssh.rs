//! SSH requests through the same pack: one Cedar request per SSH request, principal as for
//! SQL, action `ssh:exec` / `ssh:shell` / `ssh:sftp` / `ssh:forward`, resource the `Target`,
//! context the shared `SqlStatement` type: the command line, its program, the forward, time
//! and client, with `kind` the SSH action's short name and the SQL facts empty (so that a
//! pack's policies on every action evaluate to what they say about SQL: nothing).
//!
//! Same rules as `engine`: a matching forbid blocks, a permit with `@approval` holds, another
//! permit allows, nothing matching blocks (`default-deny`), a policy that fails to evaluate
//! blocks. Not cached: an exec line is rarely repeated verbatim and the check is microseconds.

use std::collections::HashMap;

use cedar_policy::{
    Authorizer, Context, Decision as CedarDecision, Effect, PolicyId, Request as CedarRequest,
    RestrictedExpression,
};

use super::engine::{DEFAULT_DENY, INTERNAL};
use super::request::{self, BuildError, uid};
use super::store::Loaded;
use crate::policy::decision::{Decision, Request};
use crate::policy::ssh::SshFacts;

/// Decides an SSH request with the pack in `loaded`.
pub fn decide(loaded: &Loaded, request: &Request<'_>, ssh: &SshFacts) -> Decision {
    match evaluate(loaded, request, ssh) {
        Ok(decision) => decision,
        Err(error) => {
            tracing::error!(%error, "ssh policy request not built; blocked");
            Decision::Block {
                policy: INTERNAL.to_owned(),
                message: "blastwall could not evaluate its policies".to_owned(),
            }
        }
    }
}

fn evaluate(
    loaded: &Loaded,
    request: &Request<'_>,
    ssh: &SshFacts,
) -> Result<Decision, BuildError> {
    let (principal, entities) = request::entities(&loaded.uids, request, std::iter::empty())?;
    let action = uid("Action", ssh.action.name())?;
    let resource = loaded.uids.target(request);
    let context = context(request, ssh)?;
    let cedar = CedarRequest::new(principal, action, resource, context, None)
        .map_err(request::build_error)?;
    let response = Authorizer::new().is_authorized(&cedar, &loaded.pack.set, &entities);
    let failed: Vec<String> = response
        .diagnostics()
        .errors()
        .map(|cedar_policy::AuthorizationError::PolicyEvaluationError(e)| e.policy_id().to_string())
        .collect();
    if let Some(policy) = failed.into_iter().next() {
        return Ok(Decision::Block {
            policy,
            message: "a policy could not be evaluated, so the request does not run".to_owned(),
        });
    }
    let info = |id: &PolicyId| loaded.pack.info.get(id);
    let mut reasons: Vec<&PolicyId> = response.diagnostics().reason().collect();
    reasons.sort_by_key(|id| info(id).map_or(usize::MAX, |i| i.order));
    Ok(match response.decision() {
        CedarDecision::Deny => {
            match reasons
                .iter()
                .filter_map(|id| info(id))
                .find(|i| i.effect == Effect::Forbid)
            {
                Some(forbid) => Decision::Block {
                    policy: forbid.id.clone(),
                    message: forbid
                        .message
                        .clone()
                        .unwrap_or_else(|| "forbidden".to_owned()),
                },
                None => Decision::Block {
                    policy: DEFAULT_DENY.to_owned(),
                    message: format!(
                        "no policy permits {} on target {}",
                        ssh.action, request.target
                    ),
                },
            }
        }
        CedarDecision::Allow => {
            match reasons
                .iter()
                .filter_map(|id| info(id))
                .find(|i| i.approval.is_some())
            {
                Some(approving) => Decision::RequireApproval {
                    policy: approving.id.clone(),
                    group: approving.approval.clone().unwrap_or_default(),
                    message: approving
                        .message
                        .clone()
                        .unwrap_or_else(|| "this request needs approval".to_owned()),
                    approvers: approving.approvers,
                    expires: approving.expires,
                },
                None => Decision::Allow {
                    policies: reasons.iter().map(ToString::to_string).collect(),
                },
            }
        }
    })
}

fn context(request: &Request<'_>, ssh: &SshFacts) -> Result<Context, BuildError> {
    let string = |s: &str| RestrictedExpression::new_string(s.to_owned());
    let seconds = request
        .time
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let long = |v: u64| RestrictedExpression::new_long(i64::try_from(v).unwrap_or(i64::MAX));
    let empty = || RestrictedExpression::new_set(std::iter::empty());
    let no = || RestrictedExpression::new_bool(false);
    let kind = ssh.action.name().trim_start_matches("ssh:");
    let mut pairs: HashMap<String, RestrictedExpression> = HashMap::from([
        ("kind".to_owned(), string(kind)),
        ("object".to_owned(), string("")),
        ("reads".to_owned(), empty()),
        ("writes".to_owned(), empty()),
        ("tables".to_owned(), empty()),
        ("functions".to_owned(), empty()),
        ("dangerous_functions".to_owned(), empty()),
        ("has_where".to_owned(), no()),
        ("has_limit".to_owned(), no()),
        ("copy_direction".to_owned(), string("")),
        ("copy_program".to_owned(), no()),
        ("copy_server_file".to_owned(), no()),
        ("settings".to_owned(), empty()),
        ("session_authorization".to_owned(), no()),
        ("explain_analyze".to_owned(), no()),
        ("statement_index".to_owned(), long(1)),
        ("statement_count".to_owned(), long(1)),
        ("command".to_owned(), string(&ssh.command)),
        ("program".to_owned(), string(&ssh.program)),
        ("forward_kind".to_owned(), string(&ssh.forward_kind)),
        ("forward_to".to_owned(), string(&ssh.forward_to)),
        (
            "time".to_owned(),
            RestrictedExpression::new_datetime(
                humantime::format_rfc3339_seconds(request.time).to_string(),
            ),
        ),
        ("hour".to_owned(), long(seconds % 86_400 / 3_600)),
        ("weekday".to_owned(), long((seconds / 86_400 + 3) % 7 + 1)),
    ]);
    if let Some(address) = request.client {
        pairs.insert(
            "client_address".to_owned(),
            RestrictedExpression::new_ip(address.to_string()),
        );
    }
    Context::from_pairs(pairs).map_err(request::build_error)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::cedar::load::{PolicyFile, load};

    #[test]
    fn a_sql_forbid_on_every_action_still_validates() {
        let files = vec![PolicyFile {
            path: "p.cedar".into(),
            text: "@id(\"allow\") permit (principal, action, resource);\n\
                   @id(\"no-drop\") forbid (principal, action, resource) when { context.kind == \"drop\" };\n"
                .into(),
        }];
        let loaded = load(&files);
        assert!(loaded.is_ok(), "{:?}", loaded.err());
    }

    fn decide_with(pack: &str, ssh: &SshFacts) -> Decision {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("p.cedar"), pack).unwrap();
        let source = crate::policy::cedar::PackSource::Dir(dir.path().to_owned());
        let store = crate::policy::cedar::PolicyStore::open(source).unwrap();
        let facts = std::sync::Arc::new(crate::policy::MessageFacts::default());
        let request = Request {
            subject: "dev@example.com",
            agents: &["coding-agent".to_owned()],
            groups: &["agents".to_owned()],
            target: "web-1",
            protocol: schemas::Protocol::Ssh,
            text: &ssh.command,
            facts: &facts,
            client: None,
            time: std::time::SystemTime::now(),
        };
        decide(&store.current(), &request, ssh)
    }

    #[test]
    fn exec_is_decided_on_its_program_and_forwarding_is_denied_by_default() {
        let pack = "@id(\"exec\") permit (principal, action == Action::\"ssh:exec\", resource);\n\
                    @id(\"no-reboot\") @message(\"no reboots\") forbid (principal, action, resource) when { context.program == \"reboot\" };\n\
                    @id(\"sudo\") @approval(\"ops\") permit (principal, action, resource) when { context.program == \"sudo\" };\n";
        assert!(matches!(
            decide_with(pack, &SshFacts::exec("ls -la")),
            Decision::Allow { .. }
        ));
        assert_eq!(
            decide_with(pack, &SshFacts::exec("/sbin/reboot now")),
            Decision::Block {
                policy: "no-reboot".into(),
                message: "no reboots".into()
            }
        );
        assert!(matches!(
            decide_with(pack, &SshFacts::exec("sudo id")),
            Decision::RequireApproval { ref group, .. } if group == "ops"
        ));
        assert!(matches!(
            decide_with(pack, &SshFacts::forward("direct-tcpip", "127.0.0.1:5432")),
            Decision::Block { ref policy, .. } if policy == DEFAULT_DENY
        ));
    }
}
