//! One statement's facts: its shape (`classify`) and what the walk found, assembled into
//! [`StatementFacts`] with the accesses policy decides on.
//!
//! PREPARE and EXPLAIN wrap a statement: PREPARE records the facts of the statement prepared
//! (for a later EXECUTE) and asks only `sql:prepare`; EXPLAIN asks `sql:explain`, unless it
//! is EXPLAIN ANALYZE, which runs the statement and so asks for everything it does.
//! Invariant: every statement has at least one access, its own action on the target when it
//! touches no table with it.
//!
//! Not here: splitting a message (`split`), resolving EXECUTE (`session`).

use std::collections::BTreeSet;
use std::sync::Arc;

use sqlparser::ast::{Expr, Ident, LimitClause, Query, Statement, UtilityOption, Value};

use super::classify::{Shape, shape};
use super::kind::{Action, StatementKind};
use super::names::{Names, identifier};
use super::walk::{Found, walk};
use super::{Access, Explain, Limit, SessionEffect, StatementFacts};

/// The facts of a parsed statement.
pub fn facts(statement: &Statement, names: &Names) -> StatementFacts {
    match statement {
        Statement::Prepare {
            name, statement, ..
        } => prepare(name, statement, names),
        Statement::Explain {
            analyze,
            statement,
            options,
            ..
        } => {
            let mode = match *analyze || analyzes(options.as_deref()) {
                true => Explain::Analyze,
                false => Explain::Plan,
            };
            explained(mode, facts(statement, names))
        }
        _ => {
            let mut facts = assemble(shape(statement), walk(statement, names));
            if let Statement::Query(query) = statement {
                facts.limit = limit(query);
            }
            facts
        }
    }
}

/// The facts of a statement with only a kind: what `split` recognises without parsing.
pub fn bare(kind: StatementKind) -> StatementFacts {
    assemble(Shape::of(kind), Found::default())
}

/// The facts of text the parser rejected.
pub fn unparsed(error: String) -> StatementFacts {
    let mut facts = bare(StatementKind::Unparsed);
    facts.error = Some(error);
    facts
}

/// EXPLAIN of `inner`: with ANALYZE the statement runs and its accesses are EXPLAIN's; without,
/// only `sql:explain` is asked for, and the rest is context.
pub fn explained(mode: Explain, inner: StatementFacts) -> StatementFacts {
    let mut facts = inner;
    facts.kind = StatementKind::Explain;
    facts.explain = Some(mode);
    if mode == Explain::Plan {
        facts.action = Action::Explain;
        facts.accesses = vec![target(Action::Explain)];
        // Only planned: nothing is prepared, executed or deallocated.
        facts.session = None;
    }
    facts
}

/// The facts of EXECUTE of `prepared`, with what its own parameters read and call.
pub fn executed(execute: &StatementFacts, prepared: &StatementFacts) -> StatementFacts {
    let mut facts = prepared.clone();
    let own = execute
        .accesses
        .iter()
        .filter(|a| a.action != Action::Unparsed)
        .cloned();
    facts.accesses = sorted(facts.accesses.into_iter().chain(own));
    facts.reads = sorted(facts.reads.into_iter().chain(execute.reads.iter().cloned()));
    facts.functions = sorted(
        facts
            .functions
            .into_iter()
            .chain(execute.functions.iter().cloned()),
    );
    facts.dangerous_functions = sorted(
        facts
            .dangerous_functions
            .into_iter()
            .chain(execute.dangerous_functions.iter().cloned()),
    );
    match execute.explain {
        Some(mode) => explained(mode, facts),
        None => facts,
    }
}

fn prepare(name: &Ident, statement: &Statement, names: &Names) -> StatementFacts {
    let inner = Arc::new(facts(statement, names));
    let mut facts = (*inner).clone();
    facts.kind = StatementKind::Prepare;
    facts.action = Action::Prepare;
    facts.accesses = vec![target(Action::Prepare)];
    facts.limit = None;
    facts.explain = None;
    facts.session = Some(SessionEffect::Prepare {
        name: identifier(name),
        statement: inner,
    });
    facts
}

fn assemble(shape: Shape, found: Found) -> StatementFacts {
    let mut accesses: BTreeSet<Access> = found
        .effects
        .iter()
        .map(|(action, table)| Access {
            action: *action,
            table: Some(table.clone()),
        })
        .collect();
    accesses.extend(found.reads.iter().map(|table| Access {
        action: Action::Select,
        table: Some(table.clone()),
    }));
    if !accesses.iter().any(|a| a.action == shape.action) {
        accesses.insert(target(shape.action));
    }
    let writes: BTreeSet<_> = found
        .effects
        .iter()
        .filter(|(action, _)| action.is_write())
        .map(|(_, table)| table.clone())
        .collect();
    StatementFacts {
        kind: shape.kind,
        action: shape.action,
        accesses: accesses.into_iter().collect(),
        reads: found.reads.into_iter().collect(),
        writes: writes.into_iter().collect(),
        functions: found.functions.into_iter().collect(),
        dangerous_functions: found.dangerous.into_iter().collect(),
        unfiltered: found.unfiltered.into_iter().collect(),
        limit: None,
        copy: shape.copy,
        settings: shape.settings,
        role_change: shape.role_change,
        explain: None,
        session: shape.session,
        error: None,
    }
}

fn target(action: Action) -> Access {
    Access {
        action,
        table: None,
    }
}

fn sorted<T: Ord>(items: impl Iterator<Item = T>) -> Vec<T> {
    items.collect::<BTreeSet<T>>().into_iter().collect()
}

/// Whether EXPLAIN's options include ANALYZE (`ANALYZE`, `ANALYZE true`, `ANALYZE on`, ...).
fn analyzes(options: Option<&[UtilityOption]>) -> bool {
    options.unwrap_or_default().iter().any(|option| {
        option.name.value.eq_ignore_ascii_case("analyze")
            && !option.arg.as_ref().is_some_and(is_false)
    })
}

/// PostgreSQL's spellings of false for a boolean option.
fn is_false(expr: &Expr) -> bool {
    let text = match expr {
        Expr::Value(value) => match &value.value {
            Value::Boolean(b) => return !b,
            Value::Number(n, _) => n.clone(),
            Value::SingleQuotedString(s) => s.clone(),
            _ => return false,
        },
        Expr::Identifier(ident) => ident.value.clone(),
        _ => return false,
    };
    ["false", "off", "0", "no", "f", "n", "of"]
        .iter()
        .any(|f| text.eq_ignore_ascii_case(f))
}

/// The row limit of a query's outermost LIMIT or FETCH FIRST.
fn limit(query: &Query) -> Option<Limit> {
    let count = match &query.limit_clause {
        Some(LimitClause::LimitOffset { limit: Some(l), .. }) => Some(l),
        Some(LimitClause::OffsetCommaLimit { limit, .. }) => Some(limit),
        _ => None,
    };
    match (count, &query.fetch) {
        (Some(expr), _) => Some(rows(expr)),
        (None, Some(fetch)) => Some(fetch.quantity.as_ref().map_or(Limit::Rows(1), rows)),
        (None, None) => None,
    }
}

fn rows(expr: &Expr) -> Limit {
    match expr {
        Expr::Value(value) => match &value.value {
            Value::Number(n, _) => n.parse().map_or(Limit::Expression, Limit::Rows),
            _ => Limit::Expression,
        },
        _ => Limit::Expression,
    }
}
