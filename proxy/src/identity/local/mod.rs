//! [`LocalIssuer`]: blastwall as its own token issuer, for the quick start and tests.
//!
//! `blastwall token` mints with [`LocalIssuer::mint`]; the proxy, when `[identity]` says
//! `local_issuer = true`, validates with the JWK set from [`LocalIssuer::jwks`] through the same
//! validator as any OIDC provider, and `jwks_router` publishes that set over HTTP.
//! Invariants: the key is Ed25519 (tokens are `EdDSA` JWTs) and lives in one file (see
//! `keyfile`); the `kid` is derived from the public key (base64url of the first 8 bytes of its
//! SHA-256), so it is stable across restarts and changes with the key; the private key never
//! reaches `Debug`, errors or logs.
//!
//! Not here: validation (`validator`), serving the JWK set (`http`).

mod keyfile;

use std::fmt;
use std::path::Path;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ed25519_dalek::SigningKey;
use ed25519_dalek::pkcs8::EncodePrivateKey;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use rand::rngs::OsRng;
use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};
use uuid::Uuid;

pub use keyfile::LocalIssuerError;

/// An Ed25519 signing key that mints tokens the validator accepts when it trusts the local issuer.
pub struct LocalIssuer {
    signing: SigningKey,
    encoding: EncodingKey,
    kid: String,
    issuer_url: Option<String>,
}

/// What to put in a minted token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MintRequest {
    /// The `iss` claim (must match the validator's `issuer`).
    pub issuer: String,
    /// The `aud` claim (must match the validator's `audience`).
    pub audience: String,
    /// The `sub` claim: the human responsible.
    pub subject: String,
    /// The agent chain, outermost (the party that will present the token) first; becomes the
    /// nested RFC 8693 `act` claim. Empty: the subject acts directly.
    pub act: Vec<String>,
    /// The `groups` claim.
    pub groups: Vec<String>,
    /// How long the token is valid after `issued_at`.
    pub ttl: Duration,
    /// The token's `iat` and `nbf`; normally now.
    pub issued_at: SystemTime,
}

impl MintRequest {
    /// A request for a token issued now, without agents or groups.
    pub fn new(
        issuer: impl Into<String>,
        audience: impl Into<String>,
        subject: impl Into<String>,
        ttl: Duration,
    ) -> Self {
        MintRequest {
            issuer: issuer.into(),
            audience: audience.into(),
            subject: subject.into(),
            act: Vec::new(),
            groups: Vec::new(),
            ttl,
            issued_at: SystemTime::now(),
        }
    }
}

/// Why a token could not be minted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum MintError {
    /// A required text field, or an agent name, is empty.
    #[error("cannot mint a token: `{field}` must not be empty")]
    EmptyField {
        /// The field's name.
        field: &'static str,
    },
    /// `issued_at` is before 1970 or `issued_at + ttl` overflows.
    #[error("cannot mint a token: its validity period is out of range")]
    TimeOutOfRange,
    /// The signer failed (a bug).
    #[error("cannot mint a token: signing failed (internal error): {0}")]
    Signing(String),
}

impl fmt::Debug for LocalIssuer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LocalIssuer")
            .field("kid", &self.kid)
            .field("issuer_url", &self.issuer_url)
            .finish_non_exhaustive()
    }
}

impl LocalIssuer {
    /// Loads the key at `path`, or generates one and saves it there (mode 0600, atomically).
    /// Refuses a key file that group or others can access.
    pub fn open_or_create(path: &Path) -> Result<Self, LocalIssuerError> {
        Self::from_signing_key(keyfile::load_or_create(path)?)
    }

    /// A fresh issuer whose key lives only in memory (tests, throwaway setups).
    pub fn generate() -> Result<Self, LocalIssuerError> {
        Self::from_signing_key(SigningKey::generate(&mut OsRng))
    }

    fn from_signing_key(signing: SigningKey) -> Result<Self, LocalIssuerError> {
        let der = signing
            .to_pkcs8_der()
            .map_err(|_| LocalIssuerError::Encoding)?;
        let digest: [u8; 32] = Sha256::digest(signing.verifying_key().as_bytes()).into();
        let kid = URL_SAFE_NO_PAD.encode(&digest[..8]);
        Ok(LocalIssuer {
            encoding: EncodingKey::from_ed_der(der.as_bytes()),
            signing,
            kid,
            issuer_url: None,
        })
    }

    /// Sets the URL this issuer is reachable at (the `issuer` of the validator's settings); the
    /// discovery document served by `jwks_router` names it.
    pub fn with_issuer_url(mut self, url: impl Into<String>) -> Self {
        self.issuer_url = Some(url.into());
        self
    }

    /// The URL set by [`Self::with_issuer_url`].
    pub fn issuer_url(&self) -> Option<&str> {
        self.issuer_url.as_deref()
    }

    /// The key id in every minted token's header and in the JWK set.
    pub fn kid(&self) -> &str {
        &self.kid
    }

    /// Mints a token: `iss`, `aud`, `sub`, `iat`, `nbf`, `exp`, `jti` (a UUIDv7), `groups` and,
    /// when there are agents, the nested `act` claim.
    pub fn mint(&self, request: &MintRequest) -> Result<String, MintError> {
        for (field, value) in [
            ("issuer", &request.issuer),
            ("audience", &request.audience),
            ("subject", &request.subject),
        ] {
            if value.is_empty() {
                return Err(MintError::EmptyField { field });
            }
        }
        if request.act.iter().any(String::is_empty) {
            return Err(MintError::EmptyField { field: "act" });
        }
        let iat = request
            .issued_at
            .duration_since(UNIX_EPOCH)
            .map_err(|_| MintError::TimeOutOfRange)?
            .as_secs();
        let exp = iat
            .checked_add(request.ttl.as_secs())
            .ok_or(MintError::TimeOutOfRange)?;
        let mut claims = Map::new();
        claims.insert("iss".into(), json!(request.issuer));
        claims.insert("aud".into(), json!(request.audience));
        claims.insert("sub".into(), json!(request.subject));
        claims.insert("iat".into(), json!(iat));
        claims.insert("nbf".into(), json!(iat));
        claims.insert("exp".into(), json!(exp));
        claims.insert("jti".into(), json!(Uuid::now_v7().to_string()));
        claims.insert("groups".into(), json!(request.groups));
        if let Some(act) = act_claim(&request.act) {
            claims.insert("act".into(), act);
        }
        self.sign(&Value::Object(claims))
    }

    /// Signs exactly these claims (with this issuer's `kid`), unchecked: for tests and tools
    /// that need a token [`Self::mint`] would not produce.
    pub fn sign(&self, claims: &Value) -> Result<String, MintError> {
        let mut header = Header::new(Algorithm::EdDSA);
        header.kid = Some(self.kid.clone());
        jsonwebtoken::encode(&header, claims, &self.encoding)
            .map_err(|e| MintError::Signing(e.to_string()))
    }

    /// The JWK set publishing this issuer's public key.
    pub fn jwks(&self) -> Value {
        json!({
            "keys": [{
                "kty": "OKP",
                "crv": "Ed25519",
                "x": URL_SAFE_NO_PAD.encode(self.signing.verifying_key().as_bytes()),
                "kid": self.kid,
                "alg": "EdDSA",
                "use": "sig",
            }]
        })
    }
}

/// `["a", "b"]` → `{"sub": "a", "act": {"sub": "b"}}`: the first agent is the outermost.
fn act_claim(chain: &[String]) -> Option<Value> {
    chain.iter().rev().fold(None, |inner, agent| {
        let mut actor = Map::new();
        actor.insert("sub".into(), json!(agent));
        if let Some(inner) = inner {
            actor.insert("act".into(), inner);
        }
        Some(Value::Object(actor))
    })
}

#[cfg(test)]
mod tests;
