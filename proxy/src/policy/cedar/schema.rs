//! The Cedar schema every policy is validated against: principals, actions, resources and
//! the context of an SQL statement. The text lives beside this file
//! (`blastwall.cedarschema`), so `blastwall policy schema` prints exactly what validates.

use cedar_policy::Schema;

use super::load::LoadError;

/// The schema's text.
pub const SCHEMA: &str = include_str!("blastwall.cedarschema");

/// The parsed schema. Failing is a bug in blastwall, reported as such.
pub fn schema() -> Result<Schema, LoadError> {
    Schema::from_cedarschema_str(SCHEMA)
        .map(|(schema, _warnings)| schema)
        .map_err(|e| LoadError::Schema(e.to_string()))
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_schema_parses() {
        assert!(super::schema().is_ok());
    }
}
