//! What a statement is ([`StatementKind`], with the [`ObjectKind`] of DDL) and the effects
//! policy decides on ([`Action`]), with the names policies and events spell them by.
//!
//! `walk` and `statement` classify; the Cedar engine turns an [`Action`] into
//! `Action::"sql:…"` and a kind into `context.kind` / `context.object`; `CommandSummary.action`
//! records the same strings. The set of actions is the schema's (`cedar/blastwall.cedarschema`):
//! adding one means adding it there too.

use std::fmt;

/// What a statement is, as PostgreSQL's grammar says.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum StatementKind {
    /// SELECT, VALUES, TABLE.
    Select,
    /// INSERT.
    Insert,
    /// UPDATE.
    Update,
    /// DELETE.
    Delete,
    /// MERGE.
    Merge,
    /// CREATE of an object.
    Create(ObjectKind),
    /// ALTER of an object (ALTER SYSTEM: [`ObjectKind::System`]).
    Alter(ObjectKind),
    /// DROP of an object.
    Drop(ObjectKind),
    /// COMMENT ON an object.
    Comment(ObjectKind),
    /// TRUNCATE.
    Truncate,
    /// GRANT.
    Grant,
    /// REVOKE.
    Revoke,
    /// COPY, either direction.
    Copy,
    /// CALL of a procedure.
    Call,
    /// DO: an anonymous code block.
    Do,
    /// SET of a setting, SET ROLE, SET SESSION AUTHORIZATION.
    Set,
    /// RESET.
    Reset,
    /// SHOW.
    Show,
    /// PREPARE (SQL level).
    Prepare,
    /// EXECUTE of a prepared statement not known to the session.
    Execute,
    /// DEALLOCATE.
    Deallocate,
    /// EXPLAIN (with ANALYZE it also runs the statement).
    Explain,
    /// VACUUM.
    Vacuum,
    /// ANALYZE (statistics).
    Analyze,
    /// LOCK TABLE.
    Lock,
    /// LISTEN.
    Listen,
    /// UNLISTEN.
    Unlisten,
    /// NOTIFY.
    Notify,
    /// BEGIN, COMMIT, ROLLBACK, SAVEPOINT and the like.
    Transaction,
    /// DECLARE, FETCH, CLOSE of a cursor.
    Cursor,
    /// DISCARD.
    Discard,
    /// Something else the parser understood (CHECKPOINT, LOAD, ...).
    Other,
    /// Text the parser could not read.
    Unparsed,
}

/// The kind of object a DDL statement creates, alters, drops or comments on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ObjectKind {
    /// A table (also SELECT INTO and CREATE TABLE AS).
    Table,
    /// A view.
    View,
    /// A materialized view.
    MaterializedView,
    /// An index.
    Index,
    /// A sequence.
    Sequence,
    /// A schema.
    Schema,
    /// A database.
    Database,
    /// A role or user.
    Role,
    /// A function.
    Function,
    /// A procedure.
    Procedure,
    /// A trigger.
    Trigger,
    /// A type or domain.
    Type,
    /// An extension.
    Extension,
    /// A row-level security policy.
    Policy,
    /// A column (COMMENT ON COLUMN).
    Column,
    /// The server's configuration (ALTER SYSTEM).
    System,
    /// Anything else (collations, operators, servers, ...).
    Other,
}

/// An effect a statement has, which policy permits or forbids: `Action::"sql:…"`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum Action {
    /// Reading rows (SELECT, SHOW, cursors, and every table a statement reads).
    Select,
    /// Inserting rows (INSERT, COPY FROM).
    Insert,
    /// Updating rows (UPDATE, INSERT ... ON CONFLICT DO UPDATE, MERGE ... UPDATE).
    Update,
    /// Deleting rows (DELETE, MERGE ... DELETE).
    Delete,
    /// MERGE, besides its inserts, updates and deletes.
    Merge,
    /// CREATE, ALTER, DROP, COMMENT, SELECT INTO.
    Ddl,
    /// TRUNCATE.
    Truncate,
    /// GRANT, REVOKE.
    Grant,
    /// COPY, besides the rows it reads or inserts.
    Copy,
    /// CALL.
    Call,
    /// DO.
    Do,
    /// SET, RESET, DISCARD of ordinary settings.
    Set,
    /// SET ROLE, SET SESSION AUTHORIZATION, their RESET.
    SetRole,
    /// PREPARE, DEALLOCATE (EXECUTE has the effects of what it executes).
    Prepare,
    /// EXPLAIN without ANALYZE.
    Explain,
    /// VACUUM, ANALYZE.
    Vacuum,
    /// LOCK TABLE.
    Lock,
    /// LISTEN, UNLISTEN, NOTIFY.
    Notify,
    /// Transaction control.
    Transaction,
    /// Anything else the parser understood.
    Other,
    /// Text the parser could not read.
    Unparsed,
}

impl StatementKind {
    /// The kind as `context.kind` spells it: `select`, `create`, `unparsed`, ...
    pub fn name(self) -> &'static str {
        use StatementKind as K;
        match self {
            K::Select => "select",
            K::Insert => "insert",
            K::Update => "update",
            K::Delete => "delete",
            K::Merge => "merge",
            K::Create(_) => "create",
            K::Alter(_) => "alter",
            K::Drop(_) => "drop",
            K::Comment(_) => "comment",
            K::Truncate => "truncate",
            K::Grant => "grant",
            K::Revoke => "revoke",
            K::Copy => "copy",
            K::Call => "call",
            K::Do => "do",
            K::Set => "set",
            K::Reset => "reset",
            K::Show => "show",
            K::Prepare => "prepare",
            K::Execute => "execute",
            K::Deallocate => "deallocate",
            K::Explain => "explain",
            K::Vacuum => "vacuum",
            K::Analyze => "analyze",
            K::Lock => "lock",
            K::Listen => "listen",
            K::Unlisten => "unlisten",
            K::Notify => "notify",
            K::Transaction => "transaction",
            K::Cursor => "cursor",
            K::Discard => "discard",
            K::Other => "other",
            K::Unparsed => "unparsed",
        }
    }

    /// The object kind of a DDL statement.
    pub fn object(self) -> Option<ObjectKind> {
        match self {
            StatementKind::Create(object)
            | StatementKind::Alter(object)
            | StatementKind::Drop(object)
            | StatementKind::Comment(object) => Some(object),
            _ => None,
        }
    }
}

impl fmt::Display for StatementKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.object() {
            Some(object) => write!(f, "{} {}", self.name(), object.name()),
            None => f.write_str(self.name()),
        }
    }
}

impl ObjectKind {
    /// The object kind as `context.object` spells it: `table`, `materialized_view`, ...
    pub fn name(self) -> &'static str {
        use ObjectKind as O;
        match self {
            O::Table => "table",
            O::View => "view",
            O::MaterializedView => "materialized_view",
            O::Index => "index",
            O::Sequence => "sequence",
            O::Schema => "schema",
            O::Database => "database",
            O::Role => "role",
            O::Function => "function",
            O::Procedure => "procedure",
            O::Trigger => "trigger",
            O::Type => "type",
            O::Extension => "extension",
            O::Policy => "policy",
            O::Column => "column",
            O::System => "system",
            O::Other => "other",
        }
    }

    /// Whether the object's names are relations, decided on as [`super::TableName`]s.
    pub fn is_relation(self) -> bool {
        matches!(
            self,
            ObjectKind::Table
                | ObjectKind::View
                | ObjectKind::MaterializedView
                | ObjectKind::Sequence
        )
    }
}

impl Action {
    /// Every action, in the schema's order.
    pub const ALL: [Action; 21] = [
        Action::Select,
        Action::Insert,
        Action::Update,
        Action::Delete,
        Action::Merge,
        Action::Ddl,
        Action::Truncate,
        Action::Grant,
        Action::Copy,
        Action::Call,
        Action::Do,
        Action::Set,
        Action::SetRole,
        Action::Prepare,
        Action::Explain,
        Action::Vacuum,
        Action::Lock,
        Action::Notify,
        Action::Transaction,
        Action::Other,
        Action::Unparsed,
    ];

    /// The action's name in policies and events: `sql:select`, `sql:set_role`, ...
    pub fn name(self) -> &'static str {
        use Action as A;
        match self {
            A::Select => "sql:select",
            A::Insert => "sql:insert",
            A::Update => "sql:update",
            A::Delete => "sql:delete",
            A::Merge => "sql:merge",
            A::Ddl => "sql:ddl",
            A::Truncate => "sql:truncate",
            A::Grant => "sql:grant",
            A::Copy => "sql:copy",
            A::Call => "sql:call",
            A::Do => "sql:do",
            A::Set => "sql:set",
            A::SetRole => "sql:set_role",
            A::Prepare => "sql:prepare",
            A::Explain => "sql:explain",
            A::Vacuum => "sql:vacuum",
            A::Lock => "sql:lock",
            A::Notify => "sql:notify",
            A::Transaction => "sql:transaction",
            A::Other => "sql:other",
            A::Unparsed => "sql:unparsed",
        }
    }

    /// The action a statement of `kind` asks for on the objects it names.
    pub fn of(kind: StatementKind) -> Action {
        use StatementKind as K;
        match kind {
            K::Select | K::Show | K::Cursor => Action::Select,
            K::Insert => Action::Insert,
            K::Update => Action::Update,
            K::Delete => Action::Delete,
            K::Merge => Action::Merge,
            K::Create(_) | K::Alter(_) | K::Drop(_) | K::Comment(_) => Action::Ddl,
            K::Truncate => Action::Truncate,
            K::Grant | K::Revoke => Action::Grant,
            K::Copy => Action::Copy,
            K::Call => Action::Call,
            K::Do => Action::Do,
            K::Set | K::Reset | K::Discard => Action::Set,
            K::Prepare | K::Deallocate => Action::Prepare,
            K::Explain => Action::Explain,
            K::Vacuum | K::Analyze => Action::Vacuum,
            K::Lock => Action::Lock,
            K::Listen | K::Unlisten | K::Notify => Action::Notify,
            K::Transaction => Action::Transaction,
            K::Other => Action::Other,
            // An EXECUTE nobody prepared (in this session) is as unknown as unparsed text.
            K::Execute | K::Unparsed => Action::Unparsed,
        }
    }
}

impl Action {
    /// Whether the action changes the table it is on (its rows or its definition).
    pub fn is_write(self) -> bool {
        matches!(
            self,
            Action::Insert
                | Action::Update
                | Action::Delete
                | Action::Merge
                | Action::Ddl
                | Action::Truncate
        )
    }
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_action_is_in_the_schema() {
        let schema = include_str!("../cedar/blastwall.cedarschema");
        for action in Action::ALL {
            assert!(
                schema.contains(&format!("\"{}\"", action.name())),
                "{action}"
            );
        }
    }

    #[test]
    fn ddl_kinds_show_their_object() {
        assert_eq!(
            StatementKind::Drop(ObjectKind::MaterializedView).to_string(),
            "drop materialized_view"
        );
        assert_eq!(StatementKind::Select.to_string(), "select");
    }
}
