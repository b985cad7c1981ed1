//! `authentication.succeeded` and `authentication.failed`: the identity check of a session.
//!
//! The proxy's identity layer emits one of these per authentication attempt. On success the
//! chain builder's actor becomes the token's identity for every later event; on failure the
//! actor stays [`crate::Actor::unauthenticated`] and the reason says what was wrong.
//!
//! Invariants: a failure's `message` is safe to show an auditor — it never contains the token.
//!
//! Not here: JWT and JWKS handling (proxy `identity/`).

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Body of `authentication.succeeded`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AuthenticationSucceeded {
    /// How the token was presented.
    pub method: AuthMethod,
}

/// Body of `authentication.failed`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AuthenticationFailed {
    /// How the credential was presented.
    pub method: AuthMethod,
    /// What was wrong, as a fixed category.
    pub reason: AuthFailureReason,
    /// A human-readable explanation (never the token itself).
    pub message: String,
}

/// How a client presented its credential.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum AuthMethod {
    /// The token sent as a password (Postgres password message, SSH `password`).
    Password,
    /// The token sent through SSH `keyboard-interactive`.
    KeyboardInteractive,
    /// An HTTP `Authorization: Bearer` header (Kubernetes and HTTP targets).
    Bearer,
    /// An SSH public key that the configuration binds to an identity (no token).
    PublicKey,
}

/// Why authentication failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum AuthFailureReason {
    /// No token was presented.
    MissingToken,
    /// The token's signature does not verify.
    InvalidSignature,
    /// The token's `exp` has passed.
    Expired,
    /// The token's `nbf` is in the future.
    NotYetValid,
    /// The token's `aud` does not name this gateway.
    WrongAudience,
    /// The token's `iss` is not a trusted issuer.
    WrongIssuer,
    /// The token's `kid` is not in the issuer's key set.
    UnknownKey,
    /// The token is not a well-formed JWT.
    Malformed,
    /// The client asked for a target that is not configured.
    UnknownTarget,
    /// The token was accepted but the upstream refused blastwall's own credentials.
    UpstreamRejected,
    /// Anything else; the message says what.
    Other,
}
