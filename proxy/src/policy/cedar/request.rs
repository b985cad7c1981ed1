//! From blastwall's request and facts to Cedar's: the principal and its groups, the target
//! and the tables as entities, and one statement's facts as the context.
//!
//! The principal is the agent presenting the token (`Agent`, with `on_behalf_of` its human)
//! or, with no agent, the human (`Human`); both are members of the token's groups. Each table
//! is `Table::"schema.name"` inside `Target::"<target>"`. Only the context attributes the pack
//! reads are built (see `inputs`).
//!
//! Not here: the verdict (`engine`).

use std::collections::{HashMap, HashSet};
use std::time::{SystemTime, UNIX_EPOCH};

use cedar_policy::{
    Context, Entities, Entity, EntityId, EntityTypeName, EntityUid, RestrictedExpression,
};

use super::inputs::Inputs;
use crate::policy::decision::Request;
use crate::policy::facts::{Action, CopyEndpoint, Limit, RoleChange, StatementFacts, TableName};

/// Why a Cedar request could not be built (a bug: blastwall builds what its schema says).
#[derive(Debug, thiserror::Error)]
#[error("internal error: cannot build the policy request: {0}")]
pub struct BuildError(String);

/// A [`BuildError`] from any error.
pub fn build_error(e: impl std::fmt::Display) -> BuildError {
    BuildError(e.to_string())
}

/// `Type::"id"`.
pub fn uid(kind: &str, id: &str) -> Result<EntityUid, BuildError> {
    let kind: EntityTypeName = kind.parse().map_err(build_error)?;
    Ok(EntityUid::from_type_name_and_id(kind, EntityId::new(id)))
}

/// The schema's entity types and actions, parsed once per pack rather than per request.
#[derive(Debug)]
pub struct Uids {
    group: EntityTypeName,
    human: EntityTypeName,
    agent: EntityTypeName,
    target: EntityTypeName,
    table: EntityTypeName,
    actions: HashMap<Action, EntityUid>,
}

impl Uids {
    /// Parses the names (failing is a bug).
    pub fn new() -> Result<Self, BuildError> {
        let kind = |name: &str| name.parse::<EntityTypeName>().map_err(build_error);
        let actions = Action::ALL
            .into_iter()
            .map(|action| Ok((action, uid("Action", action.name())?)))
            .collect::<Result<_, BuildError>>()?;
        Ok(Uids {
            group: kind("Group")?,
            human: kind("Human")?,
            agent: kind("Agent")?,
            target: kind("Target")?,
            table: kind("Table")?,
            actions,
        })
    }

    /// `Action::"sql:…"`.
    pub fn action(&self, action: Action) -> Result<EntityUid, BuildError> {
        self.actions
            .get(&action)
            .cloned()
            .ok_or_else(|| BuildError(format!("no uid for {action}")))
    }

    /// The target's uid.
    pub fn target(&self, request: &Request<'_>) -> EntityUid {
        self.of(&self.target, request.target)
    }

    /// A table's uid.
    pub fn table(&self, name: &TableName) -> EntityUid {
        self.of(&self.table, &name.to_string())
    }

    fn of(&self, kind: &EntityTypeName, id: &str) -> EntityUid {
        EntityUid::from_type_name_and_id(kind.clone(), EntityId::new(id))
    }
}

/// The principal's uid and the entities of the request: principal, human, target and
/// `tables`.
pub fn entities<'t>(
    uids: &Uids,
    request: &Request<'_>,
    tables: impl Iterator<Item = &'t TableName>,
) -> Result<(EntityUid, Entities), BuildError> {
    let groups: HashSet<EntityUid> = request
        .groups
        .iter()
        .map(|g| uids.of(&uids.group, g))
        .collect();
    let human = uids.of(&uids.human, request.subject);
    let mut entities = vec![Entity::new_no_attrs(human.clone(), groups.clone())];
    let principal = match request.agents.first() {
        None => human,
        Some(agent) => {
            let agent = uids.of(&uids.agent, agent);
            let attributes = HashMap::from([
                (
                    "on_behalf_of".to_owned(),
                    RestrictedExpression::new_entity_uid(human),
                ),
                ("agents".to_owned(), strings(request.agents.iter())),
            ]);
            entities.push(Entity::new(agent.clone(), attributes, groups).map_err(build_error)?);
            agent
        }
    };
    let target = uids.target(request);
    entities.push(Entity::new_no_attrs(target.clone(), HashSet::new()));
    let parents = HashSet::from([target]);
    let mut seen = HashSet::new();
    for name in tables.filter(|t| seen.insert(*t)) {
        let attributes = HashMap::from([
            ("schema".to_owned(), string(&name.schema)),
            ("name".to_owned(), string(&name.name)),
        ]);
        let entity =
            Entity::new(uids.table(name), attributes, parents.clone()).map_err(build_error)?;
        entities.push(entity);
    }
    let entities = Entities::from_entities(entities, None).map_err(build_error)?;
    Ok((principal, entities))
}

/// Where a statement sits in its message, and when and from where it is asked.
pub struct Position {
    /// From 1.
    pub index: usize,
    /// The message's statement count.
    pub count: usize,
}

/// One statement's context, with the attributes `inputs` says the pack reads.
pub fn context(
    facts: &StatementFacts,
    position: &Position,
    request: &Request<'_>,
    inputs: &Inputs,
) -> Result<Context, BuildError> {
    let mut pairs: Vec<(String, RestrictedExpression)> = Vec::with_capacity(24);
    let mut add = |name: &str, value: &dyn Fn() -> RestrictedExpression| {
        if inputs.reads(name) {
            pairs.push((name.to_owned(), value()));
        }
    };
    add("kind", &|| string(facts.kind.name()));
    add("object", &|| {
        string(facts.kind.object().map_or("", |o| o.name()))
    });
    add("reads", &|| tables(facts.reads.iter()));
    add("writes", &|| tables(facts.writes.iter()));
    add("tables", &|| tables(facts.tables().into_iter()));
    add("functions", &|| strings(facts.functions.iter()));
    add("dangerous_functions", &|| {
        strings(facts.dangerous_functions.iter())
    });
    add("has_where", &|| {
        RestrictedExpression::new_bool(facts.has_where())
    });
    add("has_limit", &|| {
        RestrictedExpression::new_bool(facts.limit.is_some())
    });
    add("copy_direction", &|| string(copy_direction(facts)));
    add("copy_program", &|| copy_to(facts, CopyEndpoint::Program));
    add("copy_server_file", &|| {
        copy_to(facts, CopyEndpoint::ServerFile)
    });
    add("settings", &|| strings(facts.settings.iter()));
    add("session_authorization", &|| {
        RestrictedExpression::new_bool(facts.role_change == Some(RoleChange::SessionAuthorization))
    });
    add("explain_analyze", &|| {
        RestrictedExpression::new_bool(
            facts.explain == Some(crate::policy::facts::Explain::Analyze),
        )
    });
    add("statement_index", &|| long(position.index));
    add("statement_count", &|| long(position.count));
    add("time", &|| {
        RestrictedExpression::new_datetime(rfc3339(request.time))
    });
    add("hour", &|| {
        long(usize::try_from(seconds(request.time) % 86_400 / 3_600).unwrap_or(0))
    });
    add("weekday", &|| long(weekday(request.time)));
    for ssh_only in ["command", "program", "forward_kind", "forward_to"] {
        add(ssh_only, &|| string(""));
    }
    if let (Some(Limit::Rows(rows)), true) = (facts.limit, inputs.reads("limit")) {
        pairs.push((
            "limit".to_owned(),
            RestrictedExpression::new_long(clamp(rows)),
        ));
    }
    if let (Some(address), true) = (request.client, inputs.reads("client_address")) {
        let ip = RestrictedExpression::new_ip(address.to_string());
        pairs.push(("client_address".to_owned(), ip));
    }
    Context::from_pairs(pairs).map_err(build_error)
}

fn string(value: &str) -> RestrictedExpression {
    RestrictedExpression::new_string(value.to_owned())
}

fn strings<'a>(values: impl Iterator<Item = &'a String>) -> RestrictedExpression {
    RestrictedExpression::new_set(values.map(|v| string(v)))
}

fn tables<'a>(values: impl Iterator<Item = &'a TableName>) -> RestrictedExpression {
    RestrictedExpression::new_set(values.map(|t| RestrictedExpression::new_string(t.to_string())))
}

fn long(value: usize) -> RestrictedExpression {
    RestrictedExpression::new_long(i64::try_from(value).unwrap_or(i64::MAX))
}

fn clamp(rows: u64) -> i64 {
    i64::try_from(rows).unwrap_or(i64::MAX)
}

fn copy_direction(facts: &StatementFacts) -> &'static str {
    facts.copy.map_or("", |c| c.direction.name())
}

fn copy_to(facts: &StatementFacts, endpoint: CopyEndpoint) -> RestrictedExpression {
    RestrictedExpression::new_bool(facts.copy.is_some_and(|c| c.endpoint == endpoint))
}

fn seconds(time: SystemTime) -> u64 {
    time.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

/// `2025-01-31T09:15:00Z`.
fn rfc3339(time: SystemTime) -> String {
    humantime::format_rfc3339_seconds(time).to_string()
}

/// ISO weekday, 1 (Monday) to 7 (Sunday); 1970-01-01 was a Thursday.
fn weekday(time: SystemTime) -> usize {
    let days = seconds(time) / 86_400;
    usize::try_from((days + 3) % 7).unwrap_or(0) + 1
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn weekdays_and_times_are_utc() {
        // 2024-01-01T10:30:00Z was a Monday.
        let monday = UNIX_EPOCH + Duration::from_secs(1_704_105_000);
        assert_eq!(weekday(monday), 1);
        assert_eq!(rfc3339(monday), "2024-01-01T10:30:00Z");
        assert_eq!(weekday(monday + Duration::from_secs(6 * 86_400)), 7);
    }
}
