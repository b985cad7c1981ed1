//! SQL facts from a real parser: the kind of each statement of a message.
//!
//! sqlparser (PostgreSQL dialect) reads the text; comments, literals, quoting and several
//! statements in one message cannot hide what a statement is. Text the parser rejects is one
//! statement of kind `Unparsed`, which policy treats as unknown, never as harmless.

use std::fmt;

use sqlparser::ast::{ObjectType, Statement};
use sqlparser::dialect::PostgreSqlDialect;
use sqlparser::parser::Parser;

/// What a statement does, coarsely: enough to write rules about.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum StatementKind {
    /// SELECT, VALUES, TABLE, SHOW.
    Select,
    /// INSERT.
    Insert,
    /// UPDATE.
    Update,
    /// DELETE.
    Delete,
    /// MERGE.
    Merge,
    /// CREATE, ALTER, DROP, COMMENT and the like.
    Ddl,
    /// DROP of any object (also counted as DDL by `is_ddl`).
    Drop,
    /// TRUNCATE.
    Truncate,
    /// GRANT, REVOKE.
    Grant,
    /// COPY.
    Copy,
    /// SET, RESET, SHOW of settings.
    Set,
    /// BEGIN, COMMIT, ROLLBACK, SAVEPOINT.
    Transaction,
    /// PREPARE, EXECUTE, DEALLOCATE.
    Prepared,
    /// EXPLAIN.
    Explain,
    /// CALL, DO.
    Call,
    /// Anything else the parser understood.
    Other,
    /// Text the parser could not read.
    Unparsed,
}

impl StatementKind {
    /// The kind's name as written in rules.
    pub fn as_str(self) -> &'static str {
        match self {
            StatementKind::Select => "select",
            StatementKind::Insert => "insert",
            StatementKind::Update => "update",
            StatementKind::Delete => "delete",
            StatementKind::Merge => "merge",
            StatementKind::Ddl => "ddl",
            StatementKind::Drop => "drop",
            StatementKind::Truncate => "truncate",
            StatementKind::Grant => "grant",
            StatementKind::Copy => "copy",
            StatementKind::Set => "set",
            StatementKind::Transaction => "transaction",
            StatementKind::Prepared => "prepared",
            StatementKind::Explain => "explain",
            StatementKind::Call => "call",
            StatementKind::Other => "other",
            StatementKind::Unparsed => "unparsed",
        }
    }

    /// Every kind, for validating rule files.
    pub const ALL: [StatementKind; 17] = [
        StatementKind::Select,
        StatementKind::Insert,
        StatementKind::Update,
        StatementKind::Delete,
        StatementKind::Merge,
        StatementKind::Ddl,
        StatementKind::Drop,
        StatementKind::Truncate,
        StatementKind::Grant,
        StatementKind::Copy,
        StatementKind::Set,
        StatementKind::Transaction,
        StatementKind::Prepared,
        StatementKind::Explain,
        StatementKind::Call,
        StatementKind::Other,
        StatementKind::Unparsed,
    ];
}

impl fmt::Display for StatementKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The kinds of the statements in `text`; an empty query has none.
pub fn statement_kinds(text: &str) -> Vec<StatementKind> {
    match Parser::parse_sql(&PostgreSqlDialect {}, text) {
        Ok(statements) => statements.iter().map(kind_of).collect(),
        Err(_) => vec![StatementKind::Unparsed],
    }
}

fn kind_of(statement: &Statement) -> StatementKind {
    use Statement as S;
    match statement {
        S::Query(_) | S::ShowVariable { .. } | S::ShowTables { .. } | S::ShowColumns { .. } => {
            StatementKind::Select
        }
        S::Insert(_) => StatementKind::Insert,
        S::Update { .. } => StatementKind::Update,
        S::Delete(_) => StatementKind::Delete,
        S::Merge { .. } => StatementKind::Merge,
        S::Drop { object_type, .. } => {
            let _: &ObjectType = object_type;
            StatementKind::Drop
        }
        S::DropFunction { .. }
        | S::DropProcedure { .. }
        | S::DropTrigger { .. }
        | S::DropPolicy { .. } => StatementKind::Drop,
        S::Truncate { .. } => StatementKind::Truncate,
        S::Grant { .. } | S::Revoke { .. } => StatementKind::Grant,
        S::Copy { .. } => StatementKind::Copy,
        S::Set(_) => StatementKind::Set,
        S::StartTransaction { .. }
        | S::Commit { .. }
        | S::Rollback { .. }
        | S::Savepoint { .. } => StatementKind::Transaction,
        S::Prepare { .. } | S::Execute { .. } | S::Deallocate { .. } => StatementKind::Prepared,
        S::Explain { .. } => StatementKind::Explain,
        S::Call(_) => StatementKind::Call,
        S::CreateTable(_)
        | S::CreateIndex(_)
        | S::CreateView { .. }
        | S::CreateSchema { .. }
        | S::CreateFunction(_)
        | S::AlterTable { .. }
        | S::AlterIndex { .. }
        | S::AlterView { .. }
        | S::AlterRole { .. }
        | S::CreateRole { .. }
        | S::Comment { .. } => StatementKind::Ddl,
        _ => StatementKind::Other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use StatementKind as K;

    #[test]
    fn kinds_of_common_statements() {
        let cases: &[(&str, &[StatementKind])] = &[
            ("SELECT 1", &[K::Select]),
            ("select * from t where a = 'DROP TABLE x'", &[K::Select]),
            ("/* hello */ DROP TABLE t", &[K::Drop]),
            ("-- note\ndelete from t", &[K::Delete]),
            ("SELECT 1; DROP TABLE t", &[K::Select, K::Drop]),
            ("TRUNCATE t", &[K::Truncate]),
            (
                "BEGIN; UPDATE t SET a = 1; COMMIT",
                &[K::Transaction, K::Update, K::Transaction],
            ),
            ("CREATE TABLE t (a int)", &[K::Ddl]),
            ("this is not sql", &[K::Unparsed]),
            ("", &[]),
        ];
        for (text, kinds) in cases {
            assert_eq!(&statement_kinds(text), kinds, "{text}");
        }
    }
}
