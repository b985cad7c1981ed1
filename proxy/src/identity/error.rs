//! Why a token was refused ([`TokenError`]) and why the issuer's keys could not be loaded
//! ([`JwksError`]).
//!
//! The listeners turn a `TokenError` into a protocol reply (a Postgres `ErrorResponse`, an SSH
//! failure, an HTTP 401) and into an `authentication.failed` event through [`TokenError::reason`].
//! Invariants: every `Display` here is safe to show to the client and to an auditor — it never
//! contains the token, a claim value, a header value or a URL; the variants are fixed
//! categories, so an attacker cannot inject text into a log line or an error reply.
//!
//! Not here: the checks that produce these errors (`validator`, `token`, `keyset`, `cache`).

use schemas::body::{AuthFailureReason, Fault};

/// Why a presented token was not accepted.
///
/// Each variant maps onto exactly one [`AuthFailureReason`]. All are client faults except
/// [`TokenError::KeysUnavailable`], which is an environment fault (the issuer's key set could not
/// be fetched) and maps to [`AuthFailureReason::Other`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TokenError {
    /// No token, or only whitespace, was presented.
    #[error("no token was presented")]
    Missing,
    /// The token is not a JWT this gateway can read.
    #[error("the token is not a well-formed JWT: {0}")]
    Malformed(Malformation),
    /// The signature does not verify, or its algorithm is not one this gateway accepts.
    #[error("the token's signature was not accepted: {0}")]
    InvalidSignature(SignatureProblem),
    /// `exp` has passed (beyond the configured leeway).
    #[error("the token has expired")]
    Expired,
    /// `nbf` or `iat` lies in the future (beyond the configured leeway).
    #[error("the token is not valid yet")]
    NotYetValid,
    /// `aud` is missing or does not name this gateway.
    #[error("the token is not meant for this gateway (audience mismatch)")]
    WrongAudience,
    /// `iss` is missing or is not the trusted issuer.
    #[error("the token was not issued by the trusted issuer")]
    WrongIssuer,
    /// No key in the issuer's key set matches the token's `kid` (or, without a `kid`, no single
    /// key matches its algorithm), even after refetching the key set.
    #[error("the token's signing key is not in the issuer's key set")]
    UnknownKey,
    /// The issuer's key set could not be fetched and none is cached (an environment fault).
    #[error("the issuer's signing keys are unavailable: {0}")]
    KeysUnavailable(JwksError),
}

impl TokenError {
    /// The category recorded in `authentication.failed`.
    pub fn reason(&self) -> AuthFailureReason {
        match self {
            TokenError::Missing => AuthFailureReason::MissingToken,
            TokenError::Malformed(_) => AuthFailureReason::Malformed,
            TokenError::InvalidSignature(_) => AuthFailureReason::InvalidSignature,
            TokenError::Expired => AuthFailureReason::Expired,
            TokenError::NotYetValid => AuthFailureReason::NotYetValid,
            TokenError::WrongAudience => AuthFailureReason::WrongAudience,
            TokenError::WrongIssuer => AuthFailureReason::WrongIssuer,
            TokenError::UnknownKey => AuthFailureReason::UnknownKey,
            TokenError::KeysUnavailable(_) => AuthFailureReason::Other,
        }
    }

    /// Whose fault the refusal is: the client's token, or the environment (the issuer).
    pub fn fault(&self) -> Fault {
        match self {
            TokenError::KeysUnavailable(_) => Fault::Upstream,
            _ => Fault::Client,
        }
    }
}

/// What is wrong with a token that is not a readable JWT.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Malformation {
    /// Longer than the gateway reads.
    #[error("longer than {limit} bytes")]
    TooLong {
        /// The limit, in bytes.
        limit: usize,
    },
    /// Not three base64url segments separated by dots.
    #[error("not three base64url segments separated by dots")]
    Encoding,
    /// The header segment is not a JSON object with a string `alg`.
    #[error("the header is not a JSON object with an `alg`")]
    Header,
    /// The header lists `crit` extensions, none of which this gateway implements.
    #[error("the header has critical extensions (`crit`) this gateway does not implement")]
    CriticalExtension,
    /// The payload is not a JSON object.
    #[error("the payload is not a JSON object")]
    Claims,
    /// A required claim is absent or empty.
    #[error("the required claim `{0}` is missing")]
    MissingClaim(String),
    /// A claim has the wrong type or shape (the value itself is never shown).
    #[error("the claim `{0}` has an invalid type or shape")]
    InvalidClaim(String),
}

/// Why a token's signature was not accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SignatureProblem {
    /// The header's `alg` is `none`, an HMAC algorithm, or one this gateway does not know.
    /// Only asymmetric algorithms whose key comes from the issuer's key set are accepted.
    #[error("the algorithm is not accepted (only RS*, PS*, ES256, ES384 and EdDSA are)")]
    AlgorithmNotAccepted,
    /// The key named by `kid` is of another type (or declares another `alg`) than the token's
    /// `alg`: the token's header never chooses how a key is interpreted.
    #[error("the algorithm does not match the type of the key named by `kid`")]
    KeyTypeMismatch,
    /// The signature does not verify with the issuer's key.
    #[error("the signature does not verify")]
    DoesNotVerify,
}

/// Why the issuer's key set could not be loaded. Never contains the URL (it is logged instead).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum JwksError {
    /// The request failed before a response arrived (connection refused, DNS, TLS, timeout).
    #[error("the key set endpoint could not be reached ({kind})")]
    Unreachable {
        /// A fixed description of the transport failure.
        kind: &'static str,
    },
    /// The endpoint answered with a non-success status.
    #[error("the key set endpoint answered HTTP {status}")]
    Status {
        /// The HTTP status code.
        status: u16,
    },
    /// The response body exceeded the size the gateway reads.
    #[error("the key set response is larger than {limit} bytes")]
    TooLarge {
        /// The limit, in bytes.
        limit: usize,
    },
    /// The response is not a JWK set (`{"keys": [...]}`).
    #[error("the response is not a JWK set: {reason}")]
    NotAKeySet {
        /// What the JSON parser reported (a position, never the content).
        reason: String,
    },
    /// The set parsed, but holds no key this gateway can verify signatures with.
    #[error("the JWK set holds no usable signing key ({skipped} skipped)")]
    NoUsableKeys {
        /// How many keys were skipped (unsupported `kty`, `use: enc`, HMAC, bad parameters).
        skipped: usize,
    },
}
