//! The SQL-level prepared statements of one session, so that `EXECUTE name` is decided on
//! the facts of the statement `PREPARE name AS ...` prepared, not on the word EXECUTE.
//!
//! The gateway keeps one [`PreparedStatements`] per session: it [`resolve`]s each message's
//! facts before deciding, and [`apply`]s them once the message is allowed (a refused PREPARE
//! never reaches the server, so it is never recorded). An EXECUTE of a name the session did
//! not prepare through blastwall stays what it is, unknown (action `sql:unparsed`).
//! PREPAREs earlier in the same message count for the EXECUTEs after them.
//!
//! Not here: the protocol-level prepared statements of Parse/Bind, which the gateway tracks
//! itself and decides on their text.
//!
//! [`resolve`]: PreparedStatements::resolve
//! [`apply`]: PreparedStatements::apply

use std::collections::HashMap;
use std::sync::Arc;

use super::statement::executed;
use super::{MessageFacts, SessionEffect, StatementFacts};

/// One session's SQL-level prepared statements, by name.
#[derive(Clone, Debug, Default)]
pub struct PreparedStatements {
    by_name: HashMap<String, Arc<StatementFacts>>,
}

impl PreparedStatements {
    /// No prepared statements.
    pub fn new() -> Self {
        PreparedStatements::default()
    }

    /// How many statements are prepared.
    pub fn len(&self) -> usize {
        self.by_name.len()
    }

    /// Whether none is.
    pub fn is_empty(&self) -> bool {
        self.by_name.is_empty()
    }

    /// The facts with every EXECUTE replaced by the facts of what it executes. Returns `facts`
    /// itself when the message executes nothing.
    pub fn resolve(&self, facts: &Arc<MessageFacts>) -> Arc<MessageFacts> {
        let executes = facts
            .statements
            .iter()
            .any(|s| matches!(s.session, Some(SessionEffect::Execute { .. })));
        if !executes {
            return Arc::clone(facts);
        }
        let mut scratch = self.clone();
        let mut statements = Vec::with_capacity(facts.statements.len());
        for statement in &facts.statements {
            let resolved = match &statement.session {
                Some(SessionEffect::Execute { name }) => match scratch.by_name.get(name) {
                    Some(prepared) => Arc::new(executed(statement, prepared)),
                    None => Arc::clone(statement),
                },
                _ => Arc::clone(statement),
            };
            scratch.record(&statement.session);
            statements.push(resolved);
        }
        Arc::new(MessageFacts {
            statements,
            from_session: true,
        })
    }

    /// Records the PREPAREs, DEALLOCATEs and DISCARD ALLs of an allowed message.
    pub fn apply(&mut self, facts: &MessageFacts) {
        for statement in &facts.statements {
            self.record(&statement.session);
        }
    }

    fn record(&mut self, effect: &Option<SessionEffect>) {
        match effect {
            Some(SessionEffect::Prepare { name, statement }) => {
                self.by_name.insert(name.clone(), Arc::clone(statement));
            }
            Some(SessionEffect::Deallocate { name: Some(name) }) => {
                self.by_name.remove(name);
            }
            Some(SessionEffect::Deallocate { name: None }) | Some(SessionEffect::DiscardAll) => {
                self.by_name.clear();
            }
            Some(SessionEffect::Execute { .. }) | None => {}
        }
    }
}
