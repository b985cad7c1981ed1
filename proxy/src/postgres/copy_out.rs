//! What a statement's `COPY ... TO STDOUT` will send, read from its text before it runs.
//!
//! COPY output carries no RowDescription, and CopyOutResponse says only "text or binary"
//! (CSV counts as text). Masking needs more: the format and its options, to split each line,
//! and the columns, to apply rules. So each `COPY ... TO STDOUT` of a statement is parsed
//! here into its format and the SELECT that yields the same columns (the catalog connection
//! describes it). Options masking cannot follow (a custom NULL string, another escape
//! character, an encoding) make the COPY unmaskable, and the gateway refuses it.

use sqlparser::ast::{
    CopyLegacyCsvOption, CopyLegacyOption, CopyOption, CopySource, CopyTarget, Statement,
};
use sqlparser::dialect::PostgreSqlDialect;
use sqlparser::parser::Parser;

use crate::masking::copy::CopyFormat;

/// One `COPY ... TO STDOUT` of a statement, in order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CopyOut {
    /// How its lines are written; `Err` says why it cannot be masked (binary, odd options).
    pub format: Result<CopyFormat, &'static str>,
    /// A SELECT returning the COPY's columns.
    pub select: String,
}

/// The `COPY ... TO STDOUT` statements of `text`, in order; empty when there are none or the
/// text does not parse (the gateway then cannot mask a COPY it sees, and refuses it).
pub fn copy_outs(text: &str) -> Vec<CopyOut> {
    if !text
        .as_bytes()
        .windows(4)
        .any(|w| w.eq_ignore_ascii_case(b"copy"))
    {
        return Vec::new();
    }
    let Ok(statements) = Parser::parse_sql(&PostgreSqlDialect {}, text) else {
        return Vec::new();
    };
    statements
        .iter()
        .filter_map(|statement| match statement {
            Statement::Copy {
                source,
                to: true,
                target: CopyTarget::Stdout,
                options,
                legacy_options,
                ..
            } => Some(CopyOut {
                format: format(options, legacy_options),
                select: select(source),
            }),
            _ => None,
        })
        .collect()
}

fn select(source: &CopySource) -> String {
    match source {
        CopySource::Query(query) => query.to_string(),
        CopySource::Table {
            table_name,
            columns,
        } if columns.is_empty() => format!("SELECT * FROM {table_name}"),
        CopySource::Table {
            table_name,
            columns,
        } => {
            let names: Vec<String> = columns.iter().map(ToString::to_string).collect();
            format!("SELECT {} FROM {table_name}", names.join(", "))
        }
    }
}

const BINARY: &str = "binary COPY cannot be masked; use COPY ... TO STDOUT in text or CSV format";
const OPTIONS: &str =
    "this COPY's options (NULL, ESCAPE or ENCODING) cannot be masked; use the defaults";

fn format(options: &[CopyOption], legacy: &[CopyLegacyOption]) -> Result<CopyFormat, &'static str> {
    let mut csv = false;
    let mut delimiter = None;
    let mut quote = b'"';
    let mut escape = None;
    let mut header = false;
    for option in options {
        match option {
            CopyOption::Format(name) => match name.value.to_ascii_lowercase().as_str() {
                "text" => csv = false,
                "csv" => csv = true,
                _ => return Err(BINARY),
            },
            CopyOption::Delimiter(c) => delimiter = Some(ascii(*c)?),
            CopyOption::Header(on) => header = *on,
            CopyOption::Quote(c) => quote = ascii(*c)?,
            CopyOption::Escape(c) => escape = Some(ascii(*c)?),
            CopyOption::Null(_) | CopyOption::Encoding(_) => return Err(OPTIONS),
            CopyOption::Freeze(_)
            | CopyOption::ForceQuote(_)
            | CopyOption::ForceNotNull(_)
            | CopyOption::ForceNull(_) => {}
        }
    }
    for option in legacy {
        match option {
            CopyLegacyOption::Binary => return Err(BINARY),
            CopyLegacyOption::Delimiter(c) => delimiter = Some(ascii(*c)?),
            CopyLegacyOption::Header => header = true,
            CopyLegacyOption::Csv(csv_options) => {
                csv = true;
                for o in csv_options {
                    match o {
                        CopyLegacyCsvOption::Header => header = true,
                        CopyLegacyCsvOption::Quote(c) => quote = ascii(*c)?,
                        CopyLegacyCsvOption::Escape(c) => escape = Some(ascii(*c)?),
                        CopyLegacyCsvOption::ForceQuote(_)
                        | CopyLegacyCsvOption::ForceNotNull(_) => {}
                    }
                }
            }
            _ => return Err(OPTIONS),
        }
    }
    if csv {
        if escape.is_some_and(|e| e != quote) {
            return Err(OPTIONS);
        }
        Ok(CopyFormat::Csv {
            delimiter: delimiter.unwrap_or(b','),
            quote,
            header,
        })
    } else {
        if escape.is_some() {
            return Err(OPTIONS);
        }
        Ok(CopyFormat::Text {
            delimiter: delimiter.unwrap_or(b'\t'),
        })
    }
}

fn ascii(c: char) -> Result<u8, &'static str> {
    u8::try_from(c).ok().filter(u8::is_ascii).ok_or(OPTIONS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tables_queries_and_formats() {
        let outs = copy_outs(
            "COPY people TO STDOUT; COPY (SELECT email FROM people) TO STDOUT WITH (FORMAT csv, HEADER)",
        );
        assert_eq!(outs.len(), 2);
        assert_eq!(outs[0].format, Ok(CopyFormat::TEXT));
        assert_eq!(outs[0].select, "SELECT * FROM people");
        assert_eq!(
            outs[1].format,
            Ok(CopyFormat::Csv {
                delimiter: b',',
                quote: b'"',
                header: true
            })
        );
        assert_eq!(outs[1].select, "SELECT email FROM people");
        let cols = copy_outs("copy people (id, email) to stdout csv header");
        assert_eq!(cols[0].select, "SELECT id, email FROM people");
        assert!(matches!(
            cols[0].format,
            Ok(CopyFormat::Csv { header: true, .. })
        ));
    }

    #[test]
    fn binary_and_odd_options_cannot_be_masked() {
        assert_eq!(
            copy_outs("COPY people TO STDOUT (FORMAT binary)")[0].format,
            Err(BINARY)
        );
        assert_eq!(
            copy_outs("COPY people TO STDOUT BINARY")[0].format,
            Err(BINARY)
        );
        assert_eq!(
            copy_outs("COPY people TO STDOUT (NULL 'x')")[0].format,
            Err(OPTIONS)
        );
        assert!(copy_outs("COPY people FROM STDIN").is_empty());
        assert!(copy_outs("SELECT 1").is_empty());
    }
}
