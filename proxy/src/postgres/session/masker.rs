//! A session's masking: plans for its results, from RowDescriptions and the catalog, and the
//! rewriting of rows, COPY lines and error texts as they pass through `backend`.
//!
//! Two views of every row: what the client gets (its groups may exempt it) and what the
//! recording gets (always masked). When they are the same plan the row is rewritten once.
//! Every failure is a [`Withheld`]: the backend sends its ErrorResponse in place of the data
//! and drops the rest of the statement's output (fail closed). Names and values never appear
//! in a `Withheld` message.

use std::collections::HashMap;
use std::sync::Arc;

use bytes::Bytes;
use pgwire::messages::data::{DataRow, RowDescription};
use schemas::body::MaskCount;

use crate::masking::copy::{self, CopyFormat};
use crate::masking::rewrite::rewrite_row;
use crate::masking::{ColumnSource, Field, Masking, Plan, ResultCounts, Viewer};
use crate::postgres::catalog::Catalog;
use crate::postgres::copy_out::CopyOut;

/// Why a result was withheld, for the client's ErrorResponse.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Withheld {
    /// SQLSTATE.
    pub code: &'static str,
    /// Message for the client; names no value.
    pub message: &'static str,
}

/// The catalog could not name the columns.
pub const NOT_RESOLVED: Withheld = Withheld {
    code: "58000",
    message: "blastwall could not look up this result's columns to mask them; the result was withheld",
};
/// A row could not be masked.
pub const NOT_MASKED: Withheld = Withheld {
    code: "XX000",
    message: "blastwall could not mask this result; the rest of it was withheld",
};
/// No description of the result was seen.
pub const UNKNOWN_COLUMNS: Withheld = Withheld {
    code: "0A000",
    message: "blastwall cannot tell which columns this result has (no Describe), so it cannot mask it; the result was withheld",
};
/// A COPY whose columns are unknown.
pub const UNKNOWN_COPY: Withheld = Withheld {
    code: "0A000",
    message: "blastwall cannot tell which columns this COPY returns, so it cannot mask it; it was refused",
};

/// Plans for one result: the client's and, when different, the recording's.
#[derive(Debug)]
pub struct Plans {
    client: Plan,
    record: Option<Plan>,
}

/// The session's masking.
pub struct SessionMasking {
    masking: Arc<Masking>,
    catalog: Arc<Catalog>,
    target: String,
    groups: Vec<String>,
}

/// A row set being masked.
pub struct Active {
    /// The command it belongs to.
    pub seq: u64,
    plans: Arc<Plans>,
    formats: Vec<i16>,
    copy: Option<CopyFormat>,
    lines: u64,
    counts: ResultCounts,
}

/// A row as each side gets it.
pub struct MaskedRow {
    /// For the client.
    pub client: Option<DataRow>,
    /// For the recording, when it differs from the client's.
    pub record: Option<DataRow>,
}

impl SessionMasking {
    /// Masking for a session of `target` by a principal in `groups`.
    pub fn new(
        masking: Arc<Masking>,
        catalog: Arc<Catalog>,
        target: String,
        groups: Vec<String>,
    ) -> Self {
        SessionMasking {
            masking,
            catalog,
            target,
            groups,
        }
    }

    /// The content detectors.
    pub fn detectors(&self) -> &crate::masking::Detectors {
        self.masking.detectors()
    }

    /// Masks a text for an event or an error message (statement text, a parameter).
    pub fn mask_text(&self, text: &str) -> String {
        self.masking.detectors().mask_str(text).0
    }

    /// Masks the free-text fields of an ErrorResponse or NoticeResponse (message, detail,
    /// hint, context, ...): upstream errors quote values (`Key (email)=(...)`).
    pub fn mask_fields(&self, fields: &mut [(u8, String)]) {
        for (tag, value) in fields.iter_mut() {
            if !matches!(tag, b'S' | b'V' | b'C') {
                *value = self.mask_text(value);
            }
        }
    }

    /// Names may have changed (DDL ran): forget them.
    pub fn invalidate(&self) {
        self.catalog.invalidate();
    }

    /// The plans for a RowDescription's columns.
    pub async fn plans(&self, description: &RowDescription) -> Result<Arc<Plans>, Withheld> {
        let sources = if self.masking.has_rules_for(&self.target) {
            let keys: Vec<(u32, i16)> = description
                .fields
                .iter()
                .filter(|f| f.table_id != 0 && f.column_id > 0)
                .map(|f| (f.table_id as u32, f.column_id))
                .collect();
            if keys.is_empty() {
                HashMap::new()
            } else {
                self.catalog.resolve(&keys).await.map_err(|e| {
                    tracing::warn!(error = %e, "masking could not resolve result columns");
                    NOT_RESOLVED
                })?
            }
        } else {
            HashMap::new()
        };
        let sources: Vec<Option<Arc<ColumnSource>>> = description
            .fields
            .iter()
            .map(|f| sources.get(&(f.table_id as u32, f.column_id)).cloned())
            .collect();
        let fields: Vec<Field<'_>> = description
            .fields
            .iter()
            .zip(&sources)
            .map(|(f, source)| Field {
                name: &f.name,
                type_oid: f.type_id,
                source: source.as_deref(),
            })
            .collect();
        Ok(Arc::new(self.plans_for(&fields)))
    }

    fn plans_for(&self, fields: &[Field<'_>]) -> Plans {
        let plan = |viewer| Plan::new(&self.masking, &self.target, &self.groups, viewer, fields);
        let client = plan(Viewer::Client);
        let record = plan(Viewer::Recording);
        Plans {
            record: (record != client).then_some(record),
            client,
        }
    }

    /// Plans for a result whose description was not seen: content detection only, unless a
    /// column rule could apply (then the result is withheld).
    pub fn unknown(&self, count: i16) -> Result<Arc<Plans>, Withheld> {
        if self.masking.has_rules_for(&self.target) {
            return Err(UNKNOWN_COLUMNS);
        }
        let count = usize::try_from(count).unwrap_or(0);
        let exempt = self.masking.exempts(&self.groups);
        let detect = Plan::detect_only(count);
        let client = if exempt {
            Plan {
                columns: detect
                    .columns
                    .iter()
                    .map(|c| crate::masking::plan::ColumnPlan {
                        action: crate::masking::Action::Pass,
                        ..c.clone()
                    })
                    .collect(),
            }
        } else {
            detect.clone()
        };
        Ok(Arc::new(Plans {
            record: (client != detect).then_some(detect),
            client,
        }))
    }

    /// Starts masking a row set.
    pub fn start(&self, seq: u64, plans: Arc<Plans>, formats: Vec<i16>) -> Active {
        Active {
            seq,
            plans,
            formats,
            copy: None,
            lines: 0,
            counts: ResultCounts::default(),
        }
    }

    /// Starts masking a COPY's lines; `copy` is what its statement said, if it was found.
    pub async fn start_copy(
        &self,
        seq: u64,
        binary: bool,
        copy: Option<&CopyOut>,
    ) -> Result<Active, Withheld> {
        let binary_refused = Withheld {
            code: "0A000",
            message: "binary COPY cannot be masked; use COPY ... TO STDOUT in text or CSV format",
        };
        if binary {
            return Err(binary_refused);
        }
        let copy = copy.ok_or(UNKNOWN_COPY)?;
        let format = copy.format.map_err(|message| Withheld {
            code: "0A000",
            message,
        })?;
        let description = self.catalog.describe(&copy.select).await.map_err(|e| {
            tracing::warn!(error = %e, "masking could not describe a COPY's columns");
            UNKNOWN_COPY
        })?;
        let description = description.ok_or(UNKNOWN_COPY)?;
        let plans = self.plans(&description).await?;
        let mut active = self.start(seq, plans, Vec::new());
        active.copy = Some(format);
        Ok(active)
    }

    /// Masks one DataRow.
    pub fn row(
        &self,
        active: &mut Active,
        row: &DataRow,
        recording: bool,
    ) -> Result<MaskedRow, Withheld> {
        let client = rewrite_row(
            &self.masking,
            &active.plans.client,
            &active.formats,
            &row.data,
            row.field_count,
            &mut active.counts,
        )
        .map_err(|e| {
            tracing::warn!(error = %e, "a row could not be masked");
            NOT_MASKED
        })?
        .map(|data| DataRow::new(data, row.field_count));
        let record = match (&active.plans.record, recording) {
            (Some(plan), true) => {
                let mut ignored = ResultCounts::default();
                let data = rewrite_row(
                    &self.masking,
                    plan,
                    &active.formats,
                    &row.data,
                    row.field_count,
                    &mut ignored,
                )
                .map_err(|_| NOT_MASKED)?
                .unwrap_or_else(|| row.data.clone());
                Some(DataRow::new(data, row.field_count))
            }
            _ => None,
        };
        Ok(MaskedRow { client, record })
    }

    /// Masks one COPY line: for the client, and for the recording when it differs.
    pub fn copy_line(
        &self,
        active: &mut Active,
        line: &[u8],
        recording: bool,
    ) -> Result<(Option<Bytes>, Option<Bytes>), Withheld> {
        let format = active.copy.unwrap_or(CopyFormat::TEXT);
        let number = active.lines;
        active.lines += 1;
        let client = copy::mask_line(
            &self.masking,
            &active.plans.client,
            format,
            number,
            line,
            &mut active.counts,
        )
        .map_err(|e| {
            tracing::warn!(error = %e, "a COPY line could not be masked");
            NOT_MASKED
        })?
        .map(Bytes::from);
        let record = match (&active.plans.record, recording) {
            (Some(plan), true) => {
                let mut ignored = ResultCounts::default();
                let masked =
                    copy::mask_line(&self.masking, plan, format, number, line, &mut ignored)
                        .map_err(|_| NOT_MASKED)?;
                Some(masked.map_or_else(|| Bytes::copy_from_slice(line), Bytes::from))
            }
            _ => None,
        };
        Ok((client, record))
    }
}

impl Active {
    /// Whether this is a COPY's output.
    pub fn is_copy(&self) -> bool {
        self.copy.is_some()
    }

    /// The counts for the result's event.
    pub fn counts(&self) -> Vec<MaskCount> {
        self.counts.to_event(Some(&self.plans.client))
    }
}
