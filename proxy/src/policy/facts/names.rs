//! Names as PostgreSQL resolves them: identifiers folded and truncated, relations qualified
//! through the configured search_path, functions matched against the dangerous list.
//!
//! The walk calls [`Names`] for every relation and function it meets, so `Accounts`,
//! `"accounts"` and `public.ACCOUNTS` are one table, and `PG_CATALOG.PG_READ_FILE` is the
//! dangerous function it is. Invariant: an unqualified name resolves to every schema of the
//! search path it could be in (blastwall does not read the catalog), and names beginning with
//! `pg_` to `pg_catalog`, which PostgreSQL searches first.
//!
//! Not here: what the names are used for (`walk`, `statement`).

use std::collections::HashSet;
use std::fmt;

use sqlparser::ast::{Ident, ObjectName, ObjectNamePart};

/// PostgreSQL keeps the first 63 bytes of an identifier (NAMEDATALEN - 1).
const MAX_IDENTIFIER_BYTES: usize = 63;

/// A schema-qualified relation: `public.accounts`.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TableName {
    /// The schema, as PostgreSQL stores it (folded unless quoted).
    pub schema: String,
    /// The relation's name, as PostgreSQL stores it.
    pub name: String,
}

impl TableName {
    /// A name from its parts, as stored.
    pub fn new(schema: impl Into<String>, name: impl Into<String>) -> Self {
        TableName {
            schema: schema.into(),
            name: name.into(),
        }
    }
}

impl fmt::Display for TableName {
    /// `schema.name`, each part double-quoted when it would not read back as written.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", Quoted(&self.schema), Quoted(&self.name))
    }
}

/// An identifier as SQL would have to spell it to mean exactly this name.
pub struct Quoted<'a>(pub &'a str);

impl fmt::Display for Quoted<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let plain = self.0.chars().enumerate().all(|(i, c)| {
            c.is_ascii_lowercase() || c == '_' || (i > 0 && (c.is_ascii_digit() || c == '$'))
        });
        if plain && !self.0.is_empty() {
            f.write_str(self.0)
        } else {
            write!(f, "\"{}\"", self.0.replace('"', "\"\""))
        }
    }
}

/// The configured search path and dangerous functions: everything names depend on.
#[derive(Clone, Debug)]
pub struct Names {
    search_path: Vec<String>,
    dangerous: DangerousFunctions,
}

/// Functions flagged as dangerous: exact names, or prefixes written with a trailing `*`.
#[derive(Clone, Debug, Default)]
pub struct DangerousFunctions {
    exact: HashSet<String>,
    prefixes: Vec<String>,
}

impl DangerousFunctions {
    /// From patterns like `pg_read_file` and `lo_*` (matched against unqualified names,
    /// case-insensitively).
    pub fn new<S: AsRef<str>>(patterns: &[S]) -> Self {
        let mut flagged = DangerousFunctions::default();
        for pattern in patterns {
            let pattern = pattern.as_ref().to_ascii_lowercase();
            match pattern.strip_suffix('*') {
                Some(prefix) => flagged.prefixes.push(prefix.to_owned()),
                None => {
                    flagged.exact.insert(pattern);
                }
            }
        }
        flagged
    }

    /// Whether an unqualified function name is flagged.
    pub fn flags(&self, name: &str) -> bool {
        self.exact.contains(name) || self.prefixes.iter().any(|p| name.starts_with(p.as_str()))
    }
}

impl Names {
    /// Names resolved through `search_path` (schema names as stored, in order).
    pub fn new(search_path: Vec<String>, dangerous: DangerousFunctions) -> Self {
        Names {
            search_path,
            dangerous,
        }
    }

    /// The schema-qualified relations `name` can mean.
    pub fn relations(&self, name: &ObjectName) -> Vec<TableName> {
        let parts = parts(name);
        match parts.as_slice() {
            [] => Vec::new(),
            [only] => self.unqualified(only),
            [.., schema, relation] => vec![TableName::new(schema.clone(), relation.clone())],
        }
    }

    /// A relation named by separate schema and table strings (`TABLE t`), unquoted.
    pub fn relation_parts(&self, schema: Option<&str>, name: &str) -> Vec<TableName> {
        let name = truncate(name.to_ascii_lowercase());
        match schema {
            Some(schema) => vec![TableName::new(truncate(schema.to_ascii_lowercase()), name)],
            None => self.unqualified(&name),
        }
    }

    fn unqualified(&self, name: &str) -> Vec<TableName> {
        if name.starts_with("pg_") {
            return vec![TableName::new("pg_catalog", name)];
        }
        self.search_path
            .iter()
            .map(|schema| TableName::new(schema.clone(), name))
            .collect()
    }

    /// A function's name as called (`pg_catalog.pg_read_file`), and whether it is flagged.
    pub fn function(&self, name: &ObjectName) -> (String, bool) {
        let parts = parts(name);
        let flagged = parts.last().is_some_and(|last| self.dangerous.flags(last));
        let shown = parts
            .iter()
            .map(|p| Quoted(p).to_string())
            .collect::<Vec<_>>()
            .join(".");
        (shown, flagged)
    }
}

/// An identifier as PostgreSQL stores it: unquoted ones folded to lowercase (ASCII only, as
/// PostgreSQL does for UTF-8), all of them cut to 63 bytes.
pub fn identifier(ident: &Ident) -> String {
    let value = match ident.quote_style {
        None => ident.value.to_ascii_lowercase(),
        Some(_) => ident.value.clone(),
    };
    truncate(value)
}

fn parts(name: &ObjectName) -> Vec<String> {
    name.0
        .iter()
        .map(|part| match part {
            ObjectNamePart::Identifier(ident) => identifier(ident),
            // Not PostgreSQL syntax; kept visible rather than dropped.
            other => other.to_string(),
        })
        .collect()
}

fn truncate(mut value: String) -> String {
    if value.len() > MAX_IDENTIFIER_BYTES {
        let mut end = MAX_IDENTIFIER_BYTES;
        while !value.is_char_boundary(end) {
            end -= 1;
        }
        value.truncate(end);
    }
    value
}

#[cfg(test)]
mod tests {
    use super::*;
    use sqlparser::ast::Ident;

    fn object(parts: &[Ident]) -> ObjectName {
        ObjectName(
            parts
                .iter()
                .cloned()
                .map(ObjectNamePart::Identifier)
                .collect(),
        )
    }

    fn names() -> Names {
        Names::new(
            vec!["app".into(), "public".into()],
            DangerousFunctions::new(&["pg_read_file", "lo_*"]),
        )
    }

    #[test]
    fn unqualified_names_resolve_to_every_schema_they_could_be_in() {
        let tables = names().relations(&object(&[Ident::new("Accounts")]));
        assert_eq!(
            tables,
            [
                TableName::new("app", "accounts"),
                TableName::new("public", "accounts")
            ]
        );
        let catalog = names().relations(&object(&[Ident::new("pg_class")]));
        assert_eq!(catalog, [TableName::new("pg_catalog", "pg_class")]);
    }

    #[test]
    fn quoted_names_keep_their_case_and_show_quoted() {
        let tables = names().relations(&object(&[
            Ident::new("S"),
            Ident::with_quote('"', "My \"T\""),
        ]));
        assert_eq!(tables, [TableName::new("s", "My \"T\"")]);
        assert_eq!(tables[0].to_string(), "s.\"My \"\"T\"\"\"");
    }

    #[test]
    fn long_identifiers_are_cut_like_postgres_cuts_them() {
        let long = "a".repeat(70);
        assert_eq!(identifier(&Ident::new(long)).len(), 63);
        let wide = "é".repeat(40); // 80 bytes; cut on a character boundary
        assert_eq!(identifier(&Ident::with_quote('"', wide)).len(), 62);
    }

    #[test]
    fn dangerous_functions_match_by_unqualified_name_and_prefix() {
        let (shown, flagged) = names().function(&object(&[
            Ident::new("PG_CATALOG"),
            Ident::new("PG_READ_FILE"),
        ]));
        assert_eq!((shown.as_str(), flagged), ("pg_catalog.pg_read_file", true));
        assert!(names().function(&object(&[Ident::new("lo_export")])).1);
        let quoted = names().function(&object(&[Ident::with_quote('"', "PG_READ_FILE")]));
        assert_eq!(quoted, ("\"PG_READ_FILE\"".to_owned(), false));
    }
}
