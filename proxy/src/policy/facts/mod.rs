//! SQL facts: what each statement of a message does, read by a real parser (sqlparser's
//! PostgreSQL dialect), never by pattern matching on text.
//!
//! The gateway asks the policy for a message's [`MessageFacts`] (cached by text, see
//! [`Analyzer`]), resolves EXECUTEs of SQL-level prepared statements through the session's
//! [`PreparedStatements`], and passes the facts in the policy `Request`. Comments, case,
//! quoting, dollar quoting, unicode escapes and several statements in one message cannot hide
//! what a statement does: the parser reads them as PostgreSQL does, and what it cannot read is
//! a statement of kind `unparsed`, which the policy treats as unknown, never as harmless.
//!
//! # Layout
//!
//! - [`kind`]: statement kinds, object kinds, actions.
//! - `names`: identifiers, the search path, the dangerous functions.
//! - `walk`: the syntax-tree walk (tables, effects, functions, missing WHEREs).
//! - `classify`: what a statement is by itself; `statement`: one statement's facts;
//!   `split`: a message into statements, also when the parser rejects it as a whole.
//! - [`fingerprint`]: a statement with its literals normalised, for approval grants.
//! - `session`: PREPARE/EXECUTE/DEALLOCATE across a session; `analyzer`: the cache.

mod analyzer;
mod classify;
mod fingerprint;
pub mod kind;
mod names;
mod session;
mod split;
mod statement;
mod walk;

use std::sync::Arc;

use schemas::body::CommandSummary;

pub use analyzer::Analyzer;
pub use fingerprint::fingerprint;
pub use kind::{Action, ObjectKind, StatementKind};
pub use names::{DangerousFunctions, Names, Quoted, TableName};
pub use session::PreparedStatements;

/// The facts of every statement of one message, in order.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct MessageFacts {
    /// The statements; none for an empty query.
    pub statements: Vec<Arc<StatementFacts>>,
    /// Whether some facts came from the session (an EXECUTE resolved through PREPAREs), so
    /// that the text alone does not determine them.
    pub from_session: bool,
}

/// The facts of one statement.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StatementFacts {
    /// What the statement is.
    pub kind: StatementKind,
    /// The action the statement itself asks for.
    pub action: Action,
    /// Every effect to decide on: an action on a table, or on the target when the action
    /// touches no table. Sorted, without duplicates, never empty.
    pub accesses: Vec<Access>,
    /// Tables read, sorted.
    pub reads: Vec<TableName>,
    /// Tables written (inserted, updated, deleted, merged, truncated, created, altered,
    /// dropped), sorted.
    pub writes: Vec<TableName>,
    /// Functions called, as named, sorted.
    pub functions: Vec<String>,
    /// The functions called that the configuration flags as dangerous, sorted.
    pub dangerous_functions: Vec<String>,
    /// Tables updated or deleted from without a WHERE clause (hidden statements included).
    pub unfiltered: Vec<TableName>,
    /// The LIMIT or FETCH FIRST of a query.
    pub limit: Option<Limit>,
    /// COPY's direction and endpoint.
    pub copy: Option<CopyFacts>,
    /// Settings a SET, RESET or DISCARD changes, lowercase.
    pub settings: Vec<String>,
    /// SET ROLE or SET SESSION AUTHORIZATION (and their RESET).
    pub role_change: Option<RoleChange>,
    /// How an EXPLAIN treats its statement.
    pub explain: Option<Explain>,
    /// What the statement does to the session's prepared statements.
    pub session: Option<SessionEffect>,
    /// Why the parser rejected it (for `unparsed`).
    pub error: Option<String>,
}

/// One action on one table, or on the target itself.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Access {
    /// The action.
    pub action: Action,
    /// The table, or `None` for the target.
    pub table: Option<TableName>,
}

/// A query's row limit.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Limit {
    /// A literal row count.
    Rows(u64),
    /// An expression (a parameter, arithmetic): some limit applies.
    Expression,
}

/// COPY's direction and endpoint.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CopyFacts {
    /// TO (out of the table) or FROM (into it).
    pub direction: CopyDirection,
    /// Where the data goes to or comes from.
    pub endpoint: CopyEndpoint,
}

/// COPY TO or COPY FROM.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CopyDirection {
    /// COPY ... TO.
    To,
    /// COPY ... FROM.
    From,
}

/// Where COPY's data goes or comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CopyEndpoint {
    /// STDIN or STDOUT: the client.
    Client,
    /// A file on the database server.
    ServerFile,
    /// A program run on the database server.
    Program,
}

/// A change of the role statements run as.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RoleChange {
    /// SET ROLE, RESET ROLE, `SET role = ...`.
    Role,
    /// SET SESSION AUTHORIZATION and its RESET.
    SessionAuthorization,
}

/// How an EXPLAIN treats the statement it explains.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Explain {
    /// Plans it only: the statement's own effects do not happen.
    Plan,
    /// EXPLAIN ANALYZE runs it: its effects are this statement's.
    Analyze,
}

/// What a statement does to the session's SQL-level prepared statements.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SessionEffect {
    /// PREPARE `name` AS `statement`.
    Prepare {
        /// The prepared statement's name.
        name: String,
        /// The facts of the statement prepared.
        statement: Arc<StatementFacts>,
    },
    /// EXECUTE `name`: resolved through [`PreparedStatements`].
    Execute {
        /// The prepared statement's name.
        name: String,
    },
    /// DEALLOCATE `name`, or DEALLOCATE ALL (`None`).
    Deallocate {
        /// The name, or `None` for all.
        name: Option<String>,
    },
    /// DISCARD ALL: every prepared statement is gone.
    DiscardAll,
}

impl CopyDirection {
    /// `to` or `from`.
    pub fn name(self) -> &'static str {
        match self {
            CopyDirection::To => "to",
            CopyDirection::From => "from",
        }
    }
}

impl CopyEndpoint {
    /// `client`, `server_file` or `program`.
    pub fn name(self) -> &'static str {
        match self {
            CopyEndpoint::Client => "client",
            CopyEndpoint::ServerFile => "server_file",
            CopyEndpoint::Program => "program",
        }
    }
}

impl RoleChange {
    /// `role` or `session_authorization`.
    pub fn name(self) -> &'static str {
        match self {
            RoleChange::Role => "role",
            RoleChange::SessionAuthorization => "session_authorization",
        }
    }
}

impl Explain {
    /// `plan` or `analyze`.
    pub fn name(self) -> &'static str {
        match self {
            Explain::Plan => "plan",
            Explain::Analyze => "analyze",
        }
    }
}

impl StatementFacts {
    /// Whether every UPDATE and DELETE in the statement has a WHERE clause.
    pub fn has_where(&self) -> bool {
        self.unfiltered.is_empty()
    }

    /// Every table the statement touches, sorted.
    pub fn tables(&self) -> Vec<&TableName> {
        let mut tables: Vec<&TableName> = self.reads.iter().chain(&self.writes).collect();
        tables.sort();
        tables.dedup();
        tables
    }

    /// The facts of text the parser could not read.
    pub fn unparsed(error: impl Into<String>) -> Self {
        statement::unparsed(error.into())
    }
}

impl MessageFacts {
    /// Whether some statement could not be parsed.
    pub fn has_unparsed(&self) -> bool {
        self.statements
            .iter()
            .any(|s| s.kind == StatementKind::Unparsed)
    }

    /// The `command.received` summary: the first statement's action (past transaction
    /// control), and every table and function of the message; `None` when some statement
    /// could not be parsed.
    pub fn summary(&self) -> Option<CommandSummary> {
        if self.has_unparsed() {
            return None;
        }
        let action = self
            .statements
            .iter()
            .find(|s| s.action != Action::Transaction)
            .or_else(|| self.statements.first())
            .map_or("sql:empty", |s| s.action.name());
        let collect = |pick: fn(&StatementFacts) -> Vec<String>| {
            let mut all: Vec<String> = self.statements.iter().flat_map(|s| pick(s)).collect();
            all.sort();
            all.dedup();
            all
        };
        Some(CommandSummary {
            action: action.to_owned(),
            reads: collect(|s| s.reads.iter().map(ToString::to_string).collect()),
            writes: collect(|s| s.writes.iter().map(ToString::to_string).collect()),
            functions: collect(|s| s.functions.clone()),
            statements: u32::try_from(self.statements.len()).unwrap_or(u32::MAX),
        })
    }
}

#[cfg(test)]
mod tests;
