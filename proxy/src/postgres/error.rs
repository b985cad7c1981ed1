//! What clients are told when blastwall refuses or fails something, as Postgres would say it:
//! an ErrorResponse with a SQLSTATE, severity FATAL when the connection ends with it.
//!
//! Messages here are written for the client. They never carry a token, a password, a row
//! value or an upstream's internal error text that could reveal its configuration.

use pgwire::messages::PgWireBackendMessage;
use pgwire::messages::response::{ErrorResponse, NoticeResponse};

/// SQLSTATE codes blastwall uses.
pub mod sqlstate {
    /// A statement refused by policy (insufficient_privilege).
    pub const BLOCKED: &str = "42501";
    /// A token missing or rejected (invalid_password).
    pub const INVALID_TOKEN: &str = "28P01";
    /// A connection that may not log in as it tried (invalid_authorization_specification).
    pub const NOT_AUTHORIZED: &str = "28000";
    /// No target of that name (invalid_catalog_name).
    pub const UNKNOWN_TARGET: &str = "3D000";
    /// A message that breaks the protocol (protocol_violation).
    pub const PROTOCOL_VIOLATION: &str = "08P01";
    /// The upstream could not be reached (connection_failure).
    pub const UPSTREAM_UNREACHABLE: &str = "08006";
    /// The upstream refused blastwall's own login (sqlserver_rejected_establishment_of_sqlconnection).
    pub const UPSTREAM_REJECTED: &str = "08004";
    /// The event log cannot record the statement, so it does not run (system_error).
    pub const NOT_RECORDED: &str = "58000";
    /// A held statement whose approval expired or was withdrawn (query_canceled).
    pub const APPROVAL_EXPIRED: &str = "57014";
    /// Something that should not happen (internal_error).
    pub const INTERNAL: &str = "XX000";
}

/// How bad it is for the connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Severity {
    /// The statement failed; the connection goes on.
    Error,
    /// The connection ends.
    Fatal,
}

/// An ErrorResponse with blastwall as the visible source of the refusal.
pub fn error(severity: Severity, code: &str, message: impl Into<String>) -> PgWireBackendMessage {
    PgWireBackendMessage::ErrorResponse(ErrorResponse::new(fields(
        severity_name(severity),
        code,
        message.into(),
    )))
}

/// A NoticeResponse (severity NOTICE).
pub fn notice(message: impl Into<String>) -> PgWireBackendMessage {
    PgWireBackendMessage::NoticeResponse(NoticeResponse::new(fields(
        "NOTICE",
        "00000",
        message.into(),
    )))
}

fn severity_name(severity: Severity) -> &'static str {
    match severity {
        Severity::Error => "ERROR",
        Severity::Fatal => "FATAL",
    }
}

fn fields(severity: &str, code: &str, message: String) -> Vec<(u8, String)> {
    vec![
        (b'S', severity.to_owned()),
        (b'V', severity.to_owned()),
        (b'C', code.to_owned()),
        (b'M', message),
    ]
}

/// The SQLSTATE and message of an ErrorResponse's fields.
pub fn code_and_message(fields: &[(u8, String)]) -> (String, String) {
    let get = |tag: u8| {
        fields
            .iter()
            .find(|(t, _)| *t == tag)
            .map(|(_, v)| v.clone())
            .unwrap_or_default()
    };
    (get(b'C'), get(b'M'))
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::BytesMut;

    #[test]
    fn error_response_golden_bytes() {
        let mut out = BytesMut::new();
        error(Severity::Error, sqlstate::BLOCKED, "no")
            .encode(&mut out)
            .expect("encode");
        assert_eq!(&out[..], b"E\0\0\0\x1eSERROR\0VERROR\0C42501\0Mno\0\0");
    }
}
