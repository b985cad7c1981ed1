//! The plan for one result: per column, what masking does to its values.
//!
//! A column that comes straight from a table (RowDescription's table OID and attribute number,
//! resolved by the caller to a [`ColumnSource`]) gets the first rule that covers it; any other
//! column — an expression, a function result, an aggregate, `row_to_json`, a view's column no
//! rule names — and a table column no rule covers get content detection. A `clear` rule turns
//! detection off for its column. An exempt client sees everything as it is.

use super::{Masking, Strategy};

/// Who the masked values are for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Viewer {
    /// The client of the session: group rules and exemptions apply.
    Client,
    /// The recording: every rule applies, whatever the principal's groups.
    Recording,
}

/// Where a result column comes from, by name, as the upstream catalog says.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ColumnSource {
    /// Schema name.
    pub schema: String,
    /// Table (or view) name.
    pub table: String,
    /// Column name.
    pub column: String,
    /// Type name (`text`, `varchar`, ...).
    pub type_name: String,
}

/// One result column as the plan needs it.
#[derive(Clone, Copy, Debug)]
pub struct Field<'a> {
    /// The column's name in the result.
    pub name: &'a str,
    /// Its type OID.
    pub type_oid: u32,
    /// Its table column, when it has one and the catalog named it.
    pub source: Option<&'a ColumnSource>,
}

/// What happens to a column's values.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    /// Passed as they are (an exempt client).
    Pass,
    /// Content detectors run over each value.
    Detect,
    /// A rule's strategy rewrites each value.
    Apply(Strategy),
}

/// One column's plan.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ColumnPlan {
    /// Its name, for counts.
    pub name: String,
    /// Its type OID.
    pub type_oid: u32,
    /// What happens to its values.
    pub action: Action,
}

/// The plan for a result's columns.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Plan {
    /// Per column, in order.
    pub columns: Vec<ColumnPlan>,
}

impl Plan {
    /// The plan for `fields` of a result of `target`, for a principal in `groups`.
    pub fn new(
        masking: &Masking,
        target: &str,
        groups: &[String],
        viewer: Viewer,
        fields: &[Field<'_>],
    ) -> Plan {
        let exempt = viewer == Viewer::Client && masking.exempts(groups);
        let columns = fields
            .iter()
            .map(|field| {
                let action = if exempt {
                    Action::Pass
                } else {
                    field
                        .source
                        .and_then(|source| masking.rule_for(target, source, groups, viewer))
                        .map_or(Action::Detect, |rule| Action::Apply(rule.strategy))
                };
                ColumnPlan {
                    name: field.name.to_owned(),
                    type_oid: field.type_oid,
                    action,
                }
            })
            .collect();
        Plan { columns }
    }

    /// Content detection on `count` columns of unknown names and types (a result whose
    /// description was not seen, when no column rule could apply).
    pub fn detect_only(count: usize) -> Plan {
        Plan {
            columns: (0..count)
                .map(|i| ColumnPlan {
                    name: format!("column{}", i + 1),
                    type_oid: 0,
                    action: Action::Detect,
                })
                .collect(),
        }
    }

    /// Whether every value passes as it is.
    pub fn passes_all(&self) -> bool {
        self.columns.iter().all(|c| c.action == Action::Pass)
    }

    /// Whether some column has a rule that changes its values.
    pub fn has_rules(&self) -> bool {
        self.columns
            .iter()
            .any(|c| matches!(c.action, Action::Apply(s) if s != Strategy::Clear))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::masking::MaskingConfig;

    fn masking() -> Masking {
        let config: MaskingConfig = toml::from_str(
            "exempt_groups = [\"oncall\"]\n\
             [[rules]]\ntable = \"people\"\ncolumn = \"card\"\nstrategy = \"partial\"\n\
             [[rules]]\ntable = \"people\"\ncolumn = \"id\"\nstrategy = \"clear\"\n",
        )
        .expect("config");
        Masking::from_config(&config).expect("ok").expect("on")
    }

    fn source(column: &str) -> ColumnSource {
        ColumnSource {
            schema: "public".into(),
            table: "people".into(),
            column: column.into(),
            type_name: "text".into(),
        }
    }

    #[test]
    fn table_columns_get_their_rule_and_the_rest_detection() {
        let (card, id) = (source("card"), source("id"));
        let fields = [
            Field {
                name: "card",
                type_oid: 25,
                source: Some(&card),
            },
            Field {
                name: "id",
                type_oid: 23,
                source: Some(&id),
            },
            Field {
                name: "upper",
                type_oid: 25,
                source: None,
            },
        ];
        let plan = Plan::new(&masking(), "app", &[], Viewer::Client, &fields);
        let actions: Vec<Action> = plan.columns.iter().map(|c| c.action).collect();
        assert_eq!(
            actions,
            [
                Action::Apply(Strategy::Partial { keep: 4 }),
                Action::Apply(Strategy::Clear),
                Action::Detect
            ]
        );
        assert!(plan.has_rules());
    }

    #[test]
    fn an_exempt_client_passes_all_but_its_recording_does_not() {
        let card = source("card");
        let fields = [Field {
            name: "card",
            type_oid: 25,
            source: Some(&card),
        }];
        let oncall = vec!["oncall".to_owned()];
        assert!(Plan::new(&masking(), "app", &oncall, Viewer::Client, &fields).passes_all());
        assert!(!Plan::new(&masking(), "app", &oncall, Viewer::Recording, &fields).passes_all());
    }
}
