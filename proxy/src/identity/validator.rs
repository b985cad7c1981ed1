//! [`TokenValidator`]: presented token → [`Principal`], or a [`TokenError`] saying why not.
//!
//! Listeners call [`TokenValidator::validate`] with whatever the client sent as its password or
//! bearer token. The steps, in order: size and header (`token::inspect`: only asymmetric
//! algorithms), key lookup by `kid` in the cached key set (refetched once, rate-limited, when
//! the `kid` is unknown), signature, `exp` (required), `nbf`, `iss`, `aud` (jsonwebtoken, with the
//! configured leeway), `iat` (here), then the principal's claims.
//!
//! Invariants: one code path for every issuer — the local issuer's keys enter as a
//! [`KeySource::Static`] document and are parsed, cached and looked up exactly like a remote
//! issuer's; a token is accepted only with a key of the trusted issuer whose type admits the
//! token's `alg`. Nothing here logs or returns the token or its claim values (the subject aside).
//!
//! Not here: turning errors into protocol replies and events (the listeners, `audit`).

use std::fmt;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{DecodingKey, Validation};
use serde_json::{Map, Value};

use super::cache::{JwksCache, KeySource};
use super::config::{IssuerKeys, TrustedIssuer};
use super::error::{JwksError, Malformation, SignatureProblem, TokenError};
use super::keyset::Lookup;
use super::local::LocalIssuer;
use super::principal::Principal;
use super::token::{self, TokenHeader};

/// Validates tokens of the one trusted issuer. Cheap to share behind an `Arc`.
pub struct TokenValidator {
    trusted: TrustedIssuer,
    cache: JwksCache,
}

/// Why a validator could not be built.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BuildError {
    /// The settings trust the local issuer, but none was passed (a bug in the caller).
    #[error("identity: `local_issuer = true`, but no local issuer was opened (internal error)")]
    LocalIssuerMissing,
    /// The HTTP client for the key set could not be built (an environment fault: TLS roots).
    #[error("identity: could not build the HTTP client for the JWK set: {0}")]
    HttpClient(#[source] reqwest::Error),
}

impl fmt::Debug for TokenValidator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenValidator")
            .field("trusted", &self.trusted)
            .finish_non_exhaustive()
    }
}

impl TokenValidator {
    /// A validator for `trusted`; `local` is the opened local issuer, required when the settings
    /// trust it and ignored otherwise. Fetches nothing yet (see [`Self::prefetch_keys`]).
    pub fn new(trusted: TrustedIssuer, local: Option<&LocalIssuer>) -> Result<Self, BuildError> {
        let source = match &trusted.keys {
            IssuerKeys::Remote(url) => {
                KeySource::remote(url.clone()).map_err(BuildError::HttpClient)?
            }
            IssuerKeys::Local => {
                let issuer = local.ok_or(BuildError::LocalIssuerMissing)?;
                KeySource::Static(issuer.jwks().to_string().into_bytes())
            }
        };
        let cache = JwksCache::new(source, trusted.jwks_refresh, trusted.jwks_min_refetch);
        Ok(TokenValidator { trusted, cache })
    }

    /// The settings this validator enforces.
    pub fn trusted(&self) -> &TrustedIssuer {
        &self.trusted
    }

    /// Loads the key set now (e.g. at startup, to report an unreachable issuer early); returns
    /// how many usable keys it holds.
    pub async fn prefetch_keys(&self) -> Result<usize, JwksError> {
        self.cache.keys().await.map(|loaded| loaded.keys.len())
    }

    /// Checks a presented token and reads who it names. Surrounding whitespace is ignored.
    pub async fn validate(&self, token: &str) -> Result<Principal, TokenError> {
        let token = token.trim();
        if token.is_empty() {
            return Err(TokenError::Missing);
        }
        let header = token::inspect(token)?;
        let key = self.key_for(&header).await?;
        let claims = self.verify(token, &header, &key)?;
        check_issued_at(&claims, self.trusted.leeway)?;
        let exp = claims
            .get("exp")
            .and_then(numeric_date)
            .ok_or_else(|| TokenError::Malformed(Malformation::InvalidClaim("exp".to_owned())))?;
        let principal = Principal::from_claims(
            &claims,
            &self.trusted.issuer,
            &self.trusted.groups_claim,
            exp,
        )
        .map_err(TokenError::Malformed)?;
        tracing::debug!(subject = %principal.subject, agents = principal.agents.len(),
            "token accepted");
        Ok(principal)
    }

    /// The key the token names, refetching the key set once if the `kid` is unknown.
    async fn key_for(&self, header: &TokenHeader) -> Result<DecodingKey, TokenError> {
        let kid = header.kid.as_deref();
        let loaded = self
            .cache
            .keys()
            .await
            .map_err(TokenError::KeysUnavailable)?;
        match loaded.keys.find(kid, header.alg) {
            Lookup::NotFound => {}
            found => return resolve(found),
        }
        let refreshed = self
            .cache
            .refetch(Some(loaded.generation))
            .await
            .map_err(TokenError::KeysUnavailable)?;
        resolve(refreshed.keys.find(kid, header.alg))
    }

    /// Signature, `exp`, `nbf`, `iss` and `aud`, via jsonwebtoken; returns the claims.
    fn verify(
        &self,
        token: &str,
        header: &TokenHeader,
        key: &DecodingKey,
    ) -> Result<Map<String, Value>, TokenError> {
        let mut validation = Validation::new(header.alg);
        validation.leeway = self.trusted.leeway.as_secs();
        validation.validate_exp = true;
        validation.validate_nbf = true;
        validation.validate_aud = true;
        validation.set_issuer(&[&self.trusted.issuer]);
        validation.set_audience(&[&self.trusted.audience]);
        validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
        jsonwebtoken::decode::<Map<String, Value>>(token, key, &validation)
            .map(|data| data.claims)
            .map_err(|e| from_jwt_error(e.into_kind()))
    }
}

fn resolve(lookup: Lookup<'_>) -> Result<DecodingKey, TokenError> {
    match lookup {
        Lookup::Found(key) => Ok(key.clone()),
        Lookup::NotFound | Lookup::Ambiguous => Err(TokenError::UnknownKey),
        Lookup::AlgorithmMismatch => Err(TokenError::InvalidSignature(
            SignatureProblem::KeyTypeMismatch,
        )),
    }
}

/// Maps jsonwebtoken's verdict onto ours; anything unexpected fails closed as a bad signature.
fn from_jwt_error(kind: ErrorKind) -> TokenError {
    let signature = TokenError::InvalidSignature;
    match kind {
        ErrorKind::ExpiredSignature => TokenError::Expired,
        ErrorKind::ImmatureSignature => TokenError::NotYetValid,
        ErrorKind::InvalidIssuer => TokenError::WrongIssuer,
        ErrorKind::InvalidAudience => TokenError::WrongAudience,
        ErrorKind::InvalidSignature => signature(SignatureProblem::DoesNotVerify),
        ErrorKind::MissingRequiredClaim(claim) => match claim.as_str() {
            "iss" => TokenError::WrongIssuer,
            "aud" => TokenError::WrongAudience,
            _ => TokenError::Malformed(Malformation::MissingClaim(claim)),
        },
        ErrorKind::InvalidClaimFormat(claim) => {
            TokenError::Malformed(Malformation::InvalidClaim(claim))
        }
        ErrorKind::InvalidToken | ErrorKind::Base64(_) | ErrorKind::Utf8(_) => {
            TokenError::Malformed(Malformation::Encoding)
        }
        ErrorKind::Json(_) => TokenError::Malformed(Malformation::Claims),
        ErrorKind::InvalidAlgorithm
        | ErrorKind::MissingAlgorithm
        | ErrorKind::InvalidAlgorithmName
        | ErrorKind::UnsupportedAlgorithm => signature(SignatureProblem::AlgorithmNotAccepted),
        other => {
            // A key the crypto backend cannot use (e.g. a malformed RSA modulus in the JWKS).
            tracing::warn!(error = ?other, "verifying a token failed in the crypto backend");
            signature(SignatureProblem::DoesNotVerify)
        }
    }
}

/// `iat`, when present, must be a NumericDate no later than now plus the leeway.
fn check_issued_at(claims: &Map<String, Value>, leeway: Duration) -> Result<(), TokenError> {
    let Some(iat) = claims.get("iat").filter(|v| !v.is_null()) else {
        return Ok(());
    };
    let iat = numeric_date(iat)
        .ok_or_else(|| TokenError::Malformed(Malformation::InvalidClaim("iat".to_owned())))?;
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    if iat > now.saturating_add(leeway.as_secs()) {
        return Err(TokenError::NotYetValid);
    }
    Ok(())
}

/// A JWT NumericDate (seconds, possibly fractional) as whole seconds.
fn numeric_date(value: &Value) -> Option<u64> {
    value.as_u64().or_else(|| {
        value
            .as_f64()
            .filter(|f| f.is_finite() && *f >= 0.0 && *f < u64::MAX as f64)
            .map(|f| f as u64)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_validator_can_be_shared_between_sessions() {
        fn shareable<T: Send + Sync>() {}
        shareable::<TokenValidator>();
    }

    #[test]
    fn numeric_dates_accept_integers_and_fractions() {
        assert_eq!(
            numeric_date(&serde_json::json!(1_700_000_000)),
            Some(1_700_000_000)
        );
        assert_eq!(numeric_date(&serde_json::json!(1.5)), Some(1));
        assert_eq!(numeric_date(&serde_json::json!(-1)), None);
        assert_eq!(numeric_date(&serde_json::json!("1")), None);
    }
}
