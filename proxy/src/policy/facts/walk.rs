//! The walk over one statement's syntax tree: every table it reads, every effect it has on a
//! table, every function it calls, every UPDATE or DELETE without WHERE — wherever they hide.
//!
//! `statement` starts a [`Walk`] on the statement (or, for PREPARE and EXPLAIN, on the
//! statement inside). sqlparser's visitor reaches every nested query, expression and
//! statement, so subqueries, CTE bodies, `INSERT ... SELECT`, `UPDATE ... FROM`,
//! `DELETE ... USING`, data-modifying CTEs and COPY queries all count. Invariants: a name that
//! refers to a CTE in scope is not a table (non-recursive CTEs see only the ones before them,
//! as PostgreSQL scopes them), and the target of a write is not counted as a read.
//!
//! Not here: what the statement as a whole is (`statement`), name resolution (`names`).

use std::borrow::Cow;
use std::collections::{BTreeSet, HashMap, HashSet};
use std::ops::ControlFlow;

use sqlparser::ast::{
    CommentObject, CopySource, Expr, FromTable, GrantObjects, MergeAction, ObjectName,
    ObjectNamePart, ObjectType, OnConflictAction, OnInsert, Query, Select, SetExpr, Statement,
    TableAlias, TableFactor, TableObject, Visit, Visitor,
};

use super::kind::Action;
use super::names::{Names, TableName, identifier};

/// What a walk found.
#[derive(Debug, Default)]
pub struct Found {
    /// Tables read.
    pub reads: BTreeSet<TableName>,
    /// Effects on tables other than reading them.
    pub effects: BTreeSet<(Action, TableName)>,
    /// Functions called, as named.
    pub functions: BTreeSet<String>,
    /// Functions called that are flagged dangerous.
    pub dangerous: BTreeSet<String>,
    /// Tables updated or deleted from without a WHERE clause.
    pub unfiltered: BTreeSet<TableName>,
}

/// Walks `statement` and returns what it touches.
pub fn walk(statement: &Statement, names: &Names) -> Found {
    let mut walk = Walk {
        names,
        found: Found::default(),
        frames: Vec::new(),
        pushed: Vec::new(),
        cte_bodies: HashMap::new(),
        write_targets: HashSet::new(),
    };
    let _ = statement.visit(&mut walk);
    walk.found
}

/// The CTE names visible in a part of a query.
struct Frame {
    names: Vec<String>,
    /// A CTE body's frame hides its query's full frame (the CTEs after it).
    hides_parent: bool,
}

struct Walk<'a> {
    names: &'a Names,
    found: Found,
    frames: Vec<Frame>,
    /// Frames pushed per query being visited, popped when it is left.
    pushed: Vec<usize>,
    /// CTE bodies not yet entered, by address, with the CTE names visible inside them.
    cte_bodies: HashMap<*const Query, Vec<String>>,
    /// The table factors that are write targets (by address), not reads.
    write_targets: HashSet<*const TableFactor>,
}

impl Visitor for Walk<'_> {
    type Break = ();

    fn pre_visit_query(&mut self, query: &Query) -> ControlFlow<()> {
        let mut pushed = 0;
        if let Some(visible) = self.cte_bodies.remove(&(query as *const Query)) {
            self.frames.push(Frame {
                names: visible,
                hides_parent: true,
            });
            pushed += 1;
        }
        if let Some(with) = &query.with {
            let names: Vec<String> = with
                .cte_tables
                .iter()
                .map(|cte| identifier(&cte.alias.name))
                .collect();
            for (i, cte) in with.cte_tables.iter().enumerate() {
                let visible = match with.recursive {
                    true => names.clone(),
                    false => names.get(..i).map(<[String]>::to_vec).unwrap_or_default(),
                };
                self.cte_bodies.insert(&*cte.query as *const Query, visible);
            }
            self.frames.push(Frame {
                names,
                hides_parent: false,
            });
            pushed += 1;
        }
        self.pushed.push(pushed);
        self.table_expressions(&query.body);
        ControlFlow::Continue(())
    }

    fn post_visit_query(&mut self, _query: &Query) -> ControlFlow<()> {
        let pushed = self.pushed.pop().unwrap_or(0);
        let keep = self.frames.len().saturating_sub(pushed);
        self.frames.truncate(keep);
        ControlFlow::Continue(())
    }

    fn pre_visit_select(&mut self, select: &Select) -> ControlFlow<()> {
        // SELECT ... INTO creates a table.
        if let Some(into) = &select.into {
            self.effect(Action::Ddl, &into.name);
        }
        ControlFlow::Continue(())
    }

    fn pre_visit_table_factor(&mut self, factor: &TableFactor) -> ControlFlow<()> {
        match factor {
            TableFactor::Table {
                name,
                alias,
                args: None,
                ..
            } => {
                let target = self.write_targets.contains(&(factor as *const TableFactor));
                let name = relation(name, alias.as_ref());
                if !target && !self.is_cte(&name) {
                    self.found.reads.extend(self.names.relations(&name));
                }
            }
            // A set-returning function in FROM: `FROM pg_ls_dir('.')`.
            TableFactor::Table { name, .. } | TableFactor::Function { name, .. } => {
                self.function(name);
            }
            _ => {}
        }
        ControlFlow::Continue(())
    }

    fn pre_visit_expr(&mut self, expr: &Expr) -> ControlFlow<()> {
        if let Expr::Function(function) = expr {
            self.function(&function.name);
        }
        ControlFlow::Continue(())
    }

    fn pre_visit_statement(&mut self, statement: &Statement) -> ControlFlow<()> {
        self.statement(statement);
        ControlFlow::Continue(())
    }
}

impl Walk<'_> {
    /// The effects a statement has by itself, on the tables it names.
    fn statement(&mut self, statement: &Statement) {
        use Statement as S;
        match statement {
            S::Insert(insert) => self.insert(&insert.table, insert.on.as_ref()),
            S::Update(update) => {
                let target = &update.table.relation;
                self.write(Action::Update, target, update.selection.is_none());
            }
            S::Delete(delete) => self.delete(delete),
            S::Merge(merge) => {
                self.write(Action::Merge, &merge.table, false);
                for clause in &merge.clauses {
                    let action = match clause.action {
                        MergeAction::Insert(_) => Action::Insert,
                        MergeAction::Update(_) => Action::Update,
                        MergeAction::Delete { .. } => Action::Delete,
                    };
                    self.write(action, &merge.table, false);
                }
            }
            S::Copy { source, to, .. } => self.copy(source, *to),
            S::Call(function) => self.function(&function.name),
            _ => self.ddl(statement),
        }
    }

    fn insert(&mut self, table: &TableObject, on: Option<&OnInsert>) {
        match table {
            TableObject::TableName(name) => {
                self.effect(Action::Insert, name);
                if let Some(OnInsert::OnConflict(conflict)) = on
                    && matches!(conflict.action, OnConflictAction::DoUpdate(_))
                {
                    self.effect(Action::Update, name);
                }
            }
            TableObject::TableFunction(function) => self.function(&function.name),
            TableObject::TableQuery(_) => {}
        }
    }

    fn delete(&mut self, delete: &sqlparser::ast::Delete) {
        let unfiltered = delete.selection.is_none();
        let from = match &delete.from {
            FromTable::WithFromKeyword(from) | FromTable::WithoutKeyword(from) => from,
        };
        if delete.tables.is_empty() {
            for table in from {
                self.write(Action::Delete, &table.relation, unfiltered);
            }
        } else {
            // `DELETE t1 FROM t1 JOIN t2` (not PostgreSQL): the named tables are deleted from.
            for name in &delete.tables {
                self.effect(Action::Delete, name);
                if unfiltered {
                    self.found.unfiltered.extend(self.names.relations(name));
                }
            }
        }
    }

    fn copy(&mut self, source: &CopySource, to: bool) {
        if let CopySource::Table { table_name, .. } = source {
            self.effect(Action::Copy, table_name);
            match to {
                true => self.found.reads.extend(self.names.relations(table_name)),
                false => self.effect(Action::Insert, table_name),
            }
        }
    }

    /// DDL and the other statements that name tables: their action on each.
    fn ddl(&mut self, statement: &Statement) {
        use Statement as S;
        let (action, names): (Action, Vec<&ObjectName>) = match statement {
            S::CreateTable(create) => (Action::Ddl, vec![&create.name]),
            S::CreateView(create) => (Action::Ddl, vec![&create.name]),
            S::CreateIndex(create) => (Action::Ddl, vec![&create.table_name]),
            S::CreateSequence { name, .. } => (Action::Ddl, vec![name]),
            S::AlterTable(alter) => (Action::Ddl, vec![&alter.name]),
            S::AlterView { name, .. } => (Action::Ddl, vec![name]),
            S::CreatePolicy(policy) => (Action::Ddl, vec![&policy.table_name]),
            S::AlterPolicy(policy) => (Action::Ddl, vec![&policy.table_name]),
            S::DropPolicy(policy) => (Action::Ddl, vec![&policy.table_name]),
            S::CreateTrigger(trigger) => (Action::Ddl, vec![&trigger.table_name]),
            S::DropTrigger(trigger) => (Action::Ddl, trigger.table_name.iter().collect()),
            S::Drop {
                object_type, names, ..
            } if relation_type(object_type) => (Action::Ddl, names.iter().collect()),
            S::Comment {
                object_type,
                object_name,
                ..
            } => return self.comment(object_type, object_name),
            S::Truncate(truncate) => (
                Action::Truncate,
                truncate.table_names.iter().map(|t| &t.name).collect(),
            ),
            S::Grant(grant) => (Action::Grant, granted(grant.objects.as_ref())),
            S::Revoke(revoke) => (Action::Grant, granted(revoke.objects.as_ref())),
            S::Lock(lock) => (Action::Lock, lock.tables.iter().map(|t| &t.name).collect()),
            S::Vacuum(vacuum) => (Action::Vacuum, vacuum.table_name.iter().collect()),
            S::Analyze(analyze) => (Action::Vacuum, analyze.table_name.iter().collect()),
            _ => return,
        };
        for name in names {
            self.effect(action, name);
        }
    }

    /// COMMENT ON a relation, or on a column of one, changes that relation.
    fn comment(&mut self, object: &CommentObject, name: &ObjectName) {
        match object {
            CommentObject::Table
            | CommentObject::View
            | CommentObject::MaterializedView
            | CommentObject::Sequence => self.effect(Action::Ddl, name),
            CommentObject::Column => {
                let table = name.0.len().saturating_sub(1);
                let table = ObjectName(name.0.get(..table).map(<[_]>::to_vec).unwrap_or_default());
                self.effect(Action::Ddl, &table);
            }
            _ => {}
        }
    }

    /// A write to the table `factor` names; it is not also a read.
    fn write(&mut self, action: Action, factor: &TableFactor, unfiltered: bool) {
        if let TableFactor::Table { name, alias, .. } = factor {
            self.write_targets.insert(factor as *const TableFactor);
            let name = relation(name, alias.as_ref());
            self.effect(action, &name);
            if unfiltered {
                self.found.unfiltered.extend(self.names.relations(&name));
            }
        }
    }

    fn effect(&mut self, action: Action, name: &ObjectName) {
        for table in self.names.relations(name) {
            self.found.effects.insert((action, table));
        }
    }

    fn function(&mut self, name: &ObjectName) {
        if is_keyword(name, "array") {
            // `ARRAY(SELECT ...)` is a constructor, not a call.
            return;
        }
        let (shown, flagged) = self.names.function(name);
        if flagged {
            self.found.dangerous.insert(shown.clone());
        }
        self.found.functions.insert(shown);
    }

    /// `TABLE t` inside a query body (the visitor has no hook for it).
    fn table_expressions(&mut self, body: &SetExpr) {
        match body {
            SetExpr::Table(table) => {
                if let Some(name) = &table.table_name {
                    let schema = table.schema_name.as_deref();
                    let tables = self.names.relation_parts(schema, name);
                    self.found.reads.extend(tables);
                }
            }
            SetExpr::SetOperation { left, right, .. } => {
                self.table_expressions(left);
                self.table_expressions(right);
            }
            _ => {}
        }
    }

    /// Whether a one-part name is a CTE visible here.
    fn is_cte(&self, name: &ObjectName) -> bool {
        let [ObjectNamePart::Identifier(ident)] = name.0.as_slice() else {
            return false;
        };
        let wanted = identifier(ident);
        let mut skip = false;
        for frame in self.frames.iter().rev() {
            if std::mem::take(&mut skip) {
                continue;
            }
            if frame.names.contains(&wanted) {
                return true;
            }
            skip = frame.hides_parent;
        }
        false
    }
}

/// The relation a table factor names. sqlparser reads `FROM ONLY accounts` as the table
/// `only` aliased `accounts`; ONLY is reserved in PostgreSQL (a table named so must be
/// quoted), so an unquoted `only` with an alias is the keyword and the alias the table.
fn relation<'a>(name: &'a ObjectName, alias: Option<&TableAlias>) -> Cow<'a, ObjectName> {
    match alias {
        Some(alias) if is_keyword(name, "only") => {
            Cow::Owned(ObjectName(vec![ObjectNamePart::Identifier(
                alias.name.clone(),
            )]))
        }
        _ => Cow::Borrowed(name),
    }
}

/// Whether `name` is the single unquoted word `keyword` (any case).
fn is_keyword(name: &ObjectName, keyword: &str) -> bool {
    matches!(
        name.0.as_slice(),
        [ObjectNamePart::Identifier(ident)]
            if ident.quote_style.is_none() && ident.value.eq_ignore_ascii_case(keyword)
    )
}

fn relation_type(object_type: &ObjectType) -> bool {
    matches!(
        object_type,
        ObjectType::Table | ObjectType::View | ObjectType::MaterializedView | ObjectType::Sequence
    )
}

fn granted(objects: Option<&GrantObjects>) -> Vec<&ObjectName> {
    match objects {
        Some(
            GrantObjects::Tables(names)
            | GrantObjects::Views(names)
            | GrantObjects::Sequences(names),
        ) => names.iter().collect(),
        _ => Vec::new(),
    }
}
