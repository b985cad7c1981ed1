//! Identity: who is acting. A presented OIDC JWT becomes a [`Principal`] (the human, the agents
//! acting for them, their groups), or a [`TokenError`] that says why not.
//!
//! Where it sits: first on every session's data path. Listeners pass the Postgres or SSH
//! password, or the HTTP bearer token, to [`TokenValidator::validate`]; the principal becomes the
//! session's [`schemas::Actor`], the error an `authentication.failed` event and a refusal.
//!
//! Invariants: only asymmetric signatures by a key from the trusted issuer's JWK set are
//! accepted, and a key's type bounds the algorithms it verifies (no `alg: none`, no HMAC, no key
//! confusion); `exp` is required, `nbf`/`iat` are checked when present; a remote issuer and the
//! [`LocalIssuer`] share one code path (a key source feeding the same cache and checks); tokens
//! and claim values never appear in errors or logs.
//!
//! Not here: what groups and agents may do (`policy`), building events (`audit`).

mod cache;
mod config;
mod error;
mod http;
mod keyset;
mod local;
mod principal;
mod token;
mod validator;

pub use config::{ConfigError, IdentityConfig, IssuerKeys, MAX_LEEWAY, TrustedIssuer};
pub use error::{JwksError, Malformation, SignatureProblem, TokenError};
pub use http::{DISCOVERY_PATH, JWKS_PATH, jwks_router};
pub use local::{LocalIssuer, LocalIssuerError, MintError, MintRequest};
pub use principal::Principal;
pub use token::MAX_TOKEN_BYTES;
pub use validator::{BuildError, TokenValidator};
