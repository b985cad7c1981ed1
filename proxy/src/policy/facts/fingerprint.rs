//! A statement's fingerprint: its text with every literal replaced by a placeholder, as the
//! parser prints it back, so that `DELETE FROM t WHERE id = 7` and `delete from t where id=8`
//! are the same fingerprint and a time-boxed approval grant covers both.
//!
//! Called by the Postgres session when a statement is held and before it holds one (does a
//! grant cover it?). Text the parser rejects is fingerprinted as itself with its whitespace
//! collapsed: such a statement only matches a grant for exactly the same text. Bind
//! parameters are not part of the fingerprint (they are literals by nature).

use std::ops::ControlFlow;

use sqlparser::ast::{Expr, Value, visit_expressions_mut};
use sqlparser::dialect::PostgreSqlDialect;
use sqlparser::parser::Parser;

/// The fingerprint of `text`, one or more SQL statements.
pub fn fingerprint(text: &str) -> String {
    match Parser::parse_sql(&PostgreSqlDialect {}, text) {
        Ok(mut statements) => {
            let _ = visit_expressions_mut(&mut statements, |expr| {
                if let Expr::Value(value) = expr
                    && !matches!(value.value, Value::Placeholder(_))
                {
                    *expr = Expr::Value(Value::Placeholder("?".to_owned()).with_empty_span());
                }
                ControlFlow::<()>::Continue(())
            });
            statements
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join("; ")
        }
        Err(_) => text.split_whitespace().collect::<Vec<_>>().join(" "),
    }
}

#[cfg(test)]
mod tests {
    use super::fingerprint;

    #[test]
    fn literals_case_and_spacing_do_not_change_it() {
        assert_eq!(
            fingerprint("DELETE FROM t WHERE id = 7 AND name = 'x'"),
            fingerprint("delete   from t\nwhere id=8 and name='y'")
        );
        assert_eq!(
            fingerprint("DELETE FROM t WHERE id = 7"),
            "DELETE FROM t WHERE id = ?"
        );
    }

    #[test]
    fn other_tables_and_shapes_differ() {
        assert_ne!(fingerprint("DROP TABLE a"), fingerprint("DROP TABLE b"));
        assert_ne!(
            fingerprint("DELETE FROM t WHERE id = 7"),
            fingerprint("DELETE FROM t WHERE id > 7")
        );
    }

    #[test]
    fn unparsable_text_is_itself_with_whitespace_collapsed() {
        assert_eq!(
            fingerprint("VACUUM   FROBNICATE\n x"),
            "VACUUM FROBNICATE x"
        );
    }
}
