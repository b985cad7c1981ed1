//! What a parsed statement is, by itself: its kind, the action it asks for, and the facts
//! that belong to the statement rather than to the tables it touches (COPY's endpoint, the
//! settings it changes, a change of role, its effect on prepared statements).
//!
//! `statement` calls [`shape`] for each parsed statement and adds what `walk` found. Every
//! variant sqlparser can produce lands somewhere: anything not named here is `other`, which
//! no permit in the default pack allows.
//!
//! Not here: tables and functions (`walk`); PREPARE and EXPLAIN, which wrap a statement
//! (`statement`).

use sqlparser::ast::{
    CommentObject, CopyTarget, DiscardObject, ObjectName, ObjectType, Reset, Set, SetExpr,
    Statement,
};

use super::kind::{Action, ObjectKind, StatementKind};
use super::names::identifier;
use super::{CopyDirection, CopyEndpoint, CopyFacts, RoleChange, SessionEffect};

/// A statement's own facts.
#[derive(Debug)]
pub struct Shape {
    pub kind: StatementKind,
    pub action: Action,
    pub copy: Option<CopyFacts>,
    pub settings: Vec<String>,
    pub role_change: Option<RoleChange>,
    pub session: Option<SessionEffect>,
}

impl Shape {
    /// A statement that is its kind and nothing more.
    pub fn of(kind: StatementKind) -> Shape {
        Shape {
            kind,
            action: Action::of(kind),
            copy: None,
            settings: Vec::new(),
            role_change: None,
            session: None,
        }
    }

    fn with_session(mut self, session: SessionEffect) -> Shape {
        self.session = Some(session);
        self
    }
}

/// The shape of a parsed statement (not PREPARE or EXPLAIN, which `statement` unwraps).
pub fn shape(statement: &Statement) -> Shape {
    use Statement as S;
    use StatementKind as K;
    match statement {
        // `WITH ... INSERT/UPDATE/DELETE/MERGE` is a query whose body is the statement.
        S::Query(query) => Shape::of(match query.body.as_ref() {
            SetExpr::Insert(_) => K::Insert,
            SetExpr::Update(_) => K::Update,
            SetExpr::Delete(_) => K::Delete,
            SetExpr::Merge(_) => K::Merge,
            _ => K::Select,
        }),
        S::Insert(_) => Shape::of(K::Insert),
        S::Update(_) => Shape::of(K::Update),
        S::Delete(_) => Shape::of(K::Delete),
        S::Merge(_) => Shape::of(K::Merge),
        S::Truncate(_) => Shape::of(K::Truncate),
        S::Grant(_) => Shape::of(K::Grant),
        S::Revoke(_) => Shape::of(K::Revoke),
        S::Copy { to, target, .. } => copy(*to, target),
        S::Call(_) => Shape::of(K::Call),
        S::Set(set) => setting(set),
        S::Reset(reset) => match &reset.reset {
            Reset::ALL => changes(K::Reset, vec!["all".to_owned()]),
            Reset::ConfigurationParameter(name) => changes(K::Reset, vec![setting_name(name)]),
        },
        S::Discard { object_type } => discard(object_type),
        S::Deallocate { name, .. } => {
            // DEALLOCATE ALL; a prepared statement named "ALL" must be quoted.
            let name = match name.quote_style {
                None if name.value.eq_ignore_ascii_case("all") => None,
                _ => Some(identifier(name)),
            };
            Shape::of(K::Deallocate).with_session(SessionEffect::Deallocate { name })
        }
        S::Execute {
            name: Some(name), ..
        } => Shape::of(K::Execute).with_session(SessionEffect::Execute {
            name: object_name(name),
        }),
        S::Vacuum(_) => Shape::of(K::Vacuum),
        S::Analyze(_) => Shape::of(K::Analyze),
        S::Lock(_) => Shape::of(K::Lock),
        S::LISTEN { .. } => Shape::of(K::Listen),
        S::UNLISTEN { .. } => Shape::of(K::Unlisten),
        S::NOTIFY { .. } => Shape::of(K::Notify),
        S::StartTransaction { .. }
        | S::Commit { .. }
        | S::Rollback { .. }
        | S::Savepoint { .. }
        | S::ReleaseSavepoint { .. } => Shape::of(K::Transaction),
        S::Declare { .. } | S::Fetch { .. } | S::Close { .. } => Shape::of(K::Cursor),
        S::ShowVariable { .. } | S::ShowVariables { .. } | S::ShowStatus { .. } => {
            Shape::of(K::Show)
        }
        other => match ddl(other) {
            Some(kind) => Shape::of(kind),
            None => Shape::of(K::Other),
        },
    }
}

fn copy(to: bool, target: &CopyTarget) -> Shape {
    let direction = match to {
        true => CopyDirection::To,
        false => CopyDirection::From,
    };
    let endpoint = match target {
        CopyTarget::Stdin | CopyTarget::Stdout => CopyEndpoint::Client,
        CopyTarget::File { .. } => CopyEndpoint::ServerFile,
        CopyTarget::Program { .. } => CopyEndpoint::Program,
    };
    let mut shape = Shape::of(StatementKind::Copy);
    shape.copy = Some(CopyFacts {
        direction,
        endpoint,
    });
    shape
}

fn setting(set: &Set) -> Shape {
    use StatementKind as K;
    match set {
        Set::SingleAssignment { variable, .. } => changes(K::Set, vec![setting_name(variable)]),
        Set::ParenthesizedAssignments { variables, .. } => {
            changes(K::Set, variables.iter().map(setting_name).collect())
        }
        Set::MultipleAssignments { assignments } => changes(
            K::Set,
            assignments.iter().map(|a| setting_name(&a.name)).collect(),
        ),
        Set::SetRole { .. } => changes(K::Set, vec!["role".to_owned()]),
        Set::SetSessionAuthorization(_) => {
            changes(K::Set, vec!["session_authorization".to_owned()])
        }
        Set::SetTimeZone { .. } => changes(K::Set, vec!["timezone".to_owned()]),
        Set::SetNames { .. } | Set::SetNamesDefault {} => {
            changes(K::Set, vec!["client_encoding".to_owned()])
        }
        Set::SetTransaction { session: false, .. } => Shape {
            action: Action::Transaction,
            ..Shape::of(K::Set)
        },
        Set::SetTransaction { session: true, .. } => changes(
            K::Set,
            vec!["default_transaction_characteristics".to_owned()],
        ),
        Set::SetSessionParam(_) => Shape::of(K::Other),
    }
}

/// A SET or RESET of `settings`; the role settings make it a change of role.
fn changes(kind: StatementKind, settings: Vec<String>) -> Shape {
    let role_change = if settings.iter().any(|s| s == "session_authorization") {
        Some(RoleChange::SessionAuthorization)
    } else if settings.iter().any(|s| s == "role") {
        Some(RoleChange::Role)
    } else {
        None
    };
    Shape {
        action: match role_change {
            Some(_) => Action::SetRole,
            None => Action::Set,
        },
        settings,
        role_change,
        ..Shape::of(kind)
    }
}

fn discard(object: &DiscardObject) -> Shape {
    let (setting, effect) = match object {
        DiscardObject::ALL => ("all", Some(SessionEffect::DiscardAll)),
        DiscardObject::PLANS => ("plans", None),
        DiscardObject::SEQUENCES => ("sequences", None),
        DiscardObject::TEMP => ("temp", None),
    };
    let mut shape = changes(StatementKind::Discard, vec![setting.to_owned()]);
    shape.session = effect;
    shape
}

/// A setting's name: `search_path`, `Search_Path` and `"search_path"` are one setting.
fn setting_name(name: &ObjectName) -> String {
    object_name(name).to_ascii_lowercase()
}

fn object_name(name: &ObjectName) -> String {
    name.0
        .iter()
        .map(|part| match part.as_ident() {
            Some(ident) => identifier(ident),
            None => part.to_string(),
        })
        .collect::<Vec<_>>()
        .join(".")
}

/// The kind of a DDL statement.
fn ddl(statement: &Statement) -> Option<StatementKind> {
    use ObjectKind as O;
    use Statement as S;
    use StatementKind::{Alter, Comment, Create, Drop};
    Some(match statement {
        S::CreateTable(_) => Create(O::Table),
        S::CreateView(view) if view.materialized => Create(O::MaterializedView),
        S::CreateView(_) => Create(O::View),
        S::CreateIndex(_) => Create(O::Index),
        S::CreateRole(_) | S::CreateUser(_) => Create(O::Role),
        S::CreateSchema { .. } => Create(O::Schema),
        S::CreateDatabase { .. } => Create(O::Database),
        S::CreateFunction(_) => Create(O::Function),
        S::CreateProcedure { .. } => Create(O::Procedure),
        S::CreateTrigger(_) => Create(O::Trigger),
        S::CreateType { .. } | S::CreateDomain(_) => Create(O::Type),
        S::CreateExtension(_) => Create(O::Extension),
        S::CreatePolicy(_) => Create(O::Policy),
        S::CreateSequence { .. } => Create(O::Sequence),
        S::CreateCollation(_)
        | S::CreateOperator(_)
        | S::CreateOperatorFamily(_)
        | S::CreateOperatorClass(_)
        | S::CreateServer(_)
        | S::CreateVirtualTable { .. }
        | S::CreateSecret { .. }
        | S::CreateConnector(_)
        | S::CreateMacro { .. }
        | S::CreateStage { .. } => Create(O::Other),
        S::AlterTable(_) | S::RenameTable(_) => Alter(O::Table),
        S::AlterSchema(_) => Alter(O::Schema),
        S::AlterIndex { .. } => Alter(O::Index),
        S::AlterView { .. } => Alter(O::View),
        S::AlterFunction(_) => Alter(O::Function),
        S::AlterType(_) => Alter(O::Type),
        S::AlterRole { .. } | S::AlterUser(_) => Alter(O::Role),
        S::AlterPolicy(_) => Alter(O::Policy),
        S::AlterCollation(_)
        | S::AlterOperator(_)
        | S::AlterOperatorFamily(_)
        | S::AlterOperatorClass(_)
        | S::AlterConnector { .. }
        | S::AlterSession { .. } => Alter(O::Other),
        S::Drop { object_type, .. } => Drop(dropped(object_type)),
        S::DropFunction(_) => Drop(O::Function),
        S::DropProcedure { .. } => Drop(O::Procedure),
        S::DropTrigger(_) => Drop(O::Trigger),
        S::DropPolicy(_) => Drop(O::Policy),
        S::DropExtension(_) => Drop(O::Extension),
        S::DropDomain(_) => Drop(O::Type),
        S::DropOperator(_)
        | S::DropOperatorFamily(_)
        | S::DropOperatorClass(_)
        | S::DropSecret { .. }
        | S::DropConnector { .. } => Drop(O::Other),
        S::Comment { object_type, .. } => Comment(commented(object_type)),
        _ => return None,
    })
}

fn dropped(object: &ObjectType) -> ObjectKind {
    use ObjectKind as O;
    match object {
        ObjectType::Table => O::Table,
        ObjectType::View => O::View,
        ObjectType::MaterializedView => O::MaterializedView,
        ObjectType::Index => O::Index,
        ObjectType::Schema => O::Schema,
        ObjectType::Database => O::Database,
        ObjectType::Role | ObjectType::User => O::Role,
        ObjectType::Sequence => O::Sequence,
        ObjectType::Type => O::Type,
        _ => O::Other,
    }
}

fn commented(object: &CommentObject) -> ObjectKind {
    use ObjectKind as O;
    match object {
        CommentObject::Table => O::Table,
        CommentObject::View => O::View,
        CommentObject::MaterializedView => O::MaterializedView,
        CommentObject::Column => O::Column,
        CommentObject::Index => O::Index,
        CommentObject::Sequence => O::Sequence,
        CommentObject::Schema => O::Schema,
        CommentObject::Database => O::Database,
        CommentObject::Role | CommentObject::User => O::Role,
        CommentObject::Function => O::Function,
        CommentObject::Procedure => O::Procedure,
        CommentObject::Type | CommentObject::Domain => O::Type,
        CommentObject::Extension => O::Extension,
        _ => O::Other,
    }
}
