//! What masking did to one result: values per column, by rule strategy and by detector,
//! turned into the counts `result.returned` carries.

use schemas::body::MaskCount;

use super::detect::DetectorCounts;
use super::plan::Plan;

/// Counts for one column.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ColumnCounts {
    /// Values a rule rewrote.
    pub rule: u64,
    /// Values replaced by NULL because they could not be rewritten safely.
    pub withheld: u64,
    /// Detector hits.
    pub detected: DetectorCounts,
}

/// Counts for a result, per column.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ResultCounts {
    /// Per column, in result order.
    pub columns: Vec<ColumnCounts>,
}

impl ResultCounts {
    /// The counts of column `index`, created on first use.
    pub fn column(&mut self, index: usize) -> &mut ColumnCounts {
        if self.columns.len() <= index {
            self.columns.resize_with(index + 1, ColumnCounts::default);
        }
        &mut self.columns[index]
    }

    /// The event's form: one entry per column and cause that masked something.
    pub fn to_event(&self, plan: Option<&Plan>) -> Vec<MaskCount> {
        let mut out = Vec::new();
        for (index, counts) in self.columns.iter().enumerate() {
            let column = plan
                .and_then(|p| p.columns.get(index))
                .map_or_else(|| format!("column{}", index + 1), |c| c.name.clone());
            let strategy = plan
                .and_then(|p| p.columns.get(index))
                .and_then(|c| match c.action {
                    super::Action::Apply(s) => Some(s.name()),
                    _ => None,
                })
                .unwrap_or("rule");
            if counts.rule > 0 {
                out.push(MaskCount {
                    column: column.clone(),
                    masked_by: format!("rule:{strategy}"),
                    values: counts.rule,
                });
            }
            if counts.withheld > 0 {
                out.push(MaskCount {
                    column: column.clone(),
                    masked_by: "withheld".to_owned(),
                    values: counts.withheld,
                });
            }
            for (kind, hits) in counts.detected.iter() {
                out.push(MaskCount {
                    column: column.clone(),
                    masked_by: format!("detector:{}", kind.name()),
                    values: hits,
                });
            }
        }
        out
    }
}
