//! [`KeySet`]: an issuer's JWK set, parsed into verification keys, and the key lookup.
//!
//! The cache parses every fetched document here, whether it came over HTTP or from the local
//! issuer in-process; the validator asks [`KeySet::find`] for the key a token names.
//! Invariants: each key carries the algorithms its *type* allows (RSA → RS*/PS*, P-256 → ES256,
//! P-384 → ES384, Ed25519 → EdDSA), narrowed to the JWK's own `alg` when it declares one, and a
//! token's `alg` must be among them — the token can never make a key be read as another type.
//! Symmetric (`oct`) keys, encryption keys (`use: enc`) and keys of unsupported types or curves
//! are skipped one by one, never failing the whole set.
//!
//! Not here: fetching and caching (`cache`), the signature check itself (jsonwebtoken).

use jsonwebtoken::jwk::{AlgorithmParameters, EllipticCurve, Jwk, KeyOperations, PublicKeyUse};
use jsonwebtoken::{Algorithm, DecodingKey};
use serde::Deserialize;

use super::error::JwksError;

const RSA_ALGORITHMS: &[Algorithm] = &[
    Algorithm::RS256,
    Algorithm::RS384,
    Algorithm::RS512,
    Algorithm::PS256,
    Algorithm::PS384,
    Algorithm::PS512,
];

/// A usable public key from a JWK set.
struct VerificationKey {
    kid: Option<String>,
    algorithms: Vec<Algorithm>,
    key: DecodingKey,
}

/// The verification keys of one issuer, as of one fetch.
pub(super) struct KeySet {
    keys: Vec<VerificationKey>,
}

/// The outcome of looking up a token's key.
pub(super) enum Lookup<'a> {
    /// The one key to verify with.
    Found(&'a DecodingKey),
    /// No key has the token's `kid` (or, without a `kid`, none accepts its `alg`).
    NotFound,
    /// The token has no `kid` and several keys accept its `alg`.
    Ambiguous,
    /// Keys with the token's `kid` exist, but none accepts its `alg`.
    AlgorithmMismatch,
}

#[derive(Deserialize)]
struct RawKeySet {
    keys: Vec<serde_json::Value>,
}

impl KeySet {
    /// Parses a JWK set document, skipping keys that cannot verify signatures.
    pub(super) fn parse(document: &[u8]) -> Result<KeySet, JwksError> {
        let raw: RawKeySet =
            serde_json::from_slice(document).map_err(|e| JwksError::NotAKeySet {
                reason: format!(
                    "{:?} error at line {} column {}",
                    e.classify(),
                    e.line(),
                    e.column()
                ),
            })?;
        let total = raw.keys.len();
        let keys: Vec<VerificationKey> = raw.keys.into_iter().filter_map(parse_key).collect();
        if keys.is_empty() {
            return Err(JwksError::NoUsableKeys { skipped: total });
        }
        Ok(KeySet { keys })
    }

    /// How many usable keys the set holds.
    pub(super) fn len(&self) -> usize {
        self.keys.len()
    }

    /// The key for a token with this `kid` and `alg`.
    ///
    /// With a `kid`, the first key of that id that accepts `alg`; without one, the only key that
    /// accepts `alg` (several → [`Lookup::Ambiguous`]).
    pub(super) fn find(&self, kid: Option<&str>, alg: Algorithm) -> Lookup<'_> {
        match kid {
            Some(kid) => {
                let mut named = self
                    .keys
                    .iter()
                    .filter(|k| k.kid.as_deref() == Some(kid))
                    .peekable();
                if named.peek().is_none() {
                    return Lookup::NotFound;
                }
                named
                    .find(|k| k.algorithms.contains(&alg))
                    .map_or(Lookup::AlgorithmMismatch, |k| Lookup::Found(&k.key))
            }
            None => {
                let mut matching = self.keys.iter().filter(|k| k.algorithms.contains(&alg));
                match (matching.next(), matching.next()) {
                    (Some(key), None) => Lookup::Found(&key.key),
                    (None, _) => Lookup::NotFound,
                    (Some(_), Some(_)) => Lookup::Ambiguous,
                }
            }
        }
    }
}

/// One JWK → a verification key, or `None` (logged at debug) when it cannot verify signatures.
fn parse_key(value: serde_json::Value) -> Option<VerificationKey> {
    let kid = value.get("kid").and_then(|k| k.as_str()).map(str::to_owned);
    match verification_key(value) {
        Ok(key) => Some(key),
        Err(why) => {
            tracing::debug!(kid = kid.as_deref().unwrap_or(""), why, "skipping JWK");
            None
        }
    }
}

fn verification_key(value: serde_json::Value) -> Result<VerificationKey, &'static str> {
    let jwk: Jwk = serde_json::from_value(value).map_err(|_| "unparsable or unsupported JWK")?;
    if matches!(&jwk.common.public_key_use, Some(u) if *u != PublicKeyUse::Signature) {
        return Err("not a signature key (`use`)");
    }
    if let Some(ops) = &jwk.common.key_operations
        && !ops.contains(&KeyOperations::Verify)
    {
        return Err("`key_ops` does not allow `verify`");
    }
    let mut algorithms = type_algorithms(&jwk.algorithm)?;
    if let Some(declared) = jwk.common.key_algorithm {
        let declared =
            Algorithm::try_from(declared).map_err(|_| "declares an unsupported `alg`")?;
        if !algorithms.contains(&declared) {
            return Err("declares an `alg` its key type cannot use");
        }
        algorithms = vec![declared];
    }
    let key = DecodingKey::from_jwk(&jwk).map_err(|_| "invalid key parameters")?;
    Ok(VerificationKey {
        kid: jwk.common.key_id,
        algorithms,
        key,
    })
}

/// The algorithms a key's type and curve allow; symmetric and unsupported keys allow none.
fn type_algorithms(params: &AlgorithmParameters) -> Result<Vec<Algorithm>, &'static str> {
    match params {
        AlgorithmParameters::RSA(_) => Ok(RSA_ALGORITHMS.to_vec()),
        AlgorithmParameters::EllipticCurve(ec) => match ec.curve {
            EllipticCurve::P256 => Ok(vec![Algorithm::ES256]),
            EllipticCurve::P384 => Ok(vec![Algorithm::ES384]),
            _ => Err("unsupported elliptic curve"),
        },
        AlgorithmParameters::OctetKeyPair(okp) => match okp.curve {
            EllipticCurve::Ed25519 => Ok(vec![Algorithm::EdDSA]),
            _ => Err("unsupported OKP curve"),
        },
        AlgorithmParameters::OctetKey(_) => Err("symmetric keys are never trusted"),
        _ => Err("unsupported key type"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ED_X: &str = "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo";
    const EC_X: &str = "f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU";
    const EC_Y: &str = "x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0";

    fn set(keys: serde_json::Value) -> Result<KeySet, JwksError> {
        KeySet::parse(serde_json::json!({ "keys": keys }).to_string().as_bytes())
    }

    fn ed(kid: &str) -> serde_json::Value {
        serde_json::json!({"kty": "OKP", "crv": "Ed25519", "x": ED_X, "kid": kid})
    }

    #[test]
    fn skips_unusable_keys_without_failing_the_set() {
        let keys = set(serde_json::json!([
            {"kty": "oct", "k": "c2VjcmV0", "kid": "hmac"},
            {"kty": "OKP", "crv": "Ed25519", "x": ED_X, "kid": "enc", "use": "enc"},
            {"kty": "OKP", "crv": "X25519", "x": ED_X, "kid": "x"},
            {"kty": "EC", "crv": "P-521", "x": EC_X, "y": EC_Y, "kid": "p521"},
            {"kty": "PQ", "kid": "future"},
            {"kty": "OKP", "crv": "Ed25519", "x": ED_X, "kid": "rs", "alg": "RS256"},
            {"kty": "OKP", "crv": "Ed25519", "x": ED_X, "kid": "ops", "key_ops": ["sign"]},
            "not an object",
            ed("good"),
            {"kty": "EC", "crv": "P-256", "x": EC_X, "y": EC_Y, "kid": "ec", "use": "sig"},
        ]))
        .unwrap();
        assert_eq!(keys.len(), 2);
        assert!(matches!(
            keys.find(Some("good"), Algorithm::EdDSA),
            Lookup::Found(_)
        ));
        assert!(matches!(
            keys.find(Some("ec"), Algorithm::ES256),
            Lookup::Found(_)
        ));
        assert!(matches!(
            keys.find(Some("hmac"), Algorithm::EdDSA),
            Lookup::NotFound
        ));
    }

    #[test]
    fn a_set_without_usable_keys_is_an_error() {
        assert_eq!(
            set(serde_json::json!([{"kty": "oct", "k": "c2VjcmV0"}])).err(),
            Some(JwksError::NoUsableKeys { skipped: 1 })
        );
        assert!(matches!(
            KeySet::parse(b"<html>"),
            Err(JwksError::NotAKeySet { .. })
        ));
        assert!(matches!(
            KeySet::parse(br#"{"keys": 1}"#),
            Err(JwksError::NotAKeySet { .. })
        ));
    }

    #[test]
    fn the_key_type_bounds_the_algorithm() {
        let keys = set(serde_json::json!([ed("k1")])).unwrap();
        assert!(matches!(
            keys.find(Some("k1"), Algorithm::RS256),
            Lookup::AlgorithmMismatch
        ));
        assert!(matches!(
            keys.find(Some("k1"), Algorithm::HS256),
            Lookup::AlgorithmMismatch
        ));
        assert!(matches!(
            keys.find(Some("k2"), Algorithm::EdDSA),
            Lookup::NotFound
        ));
    }

    #[test]
    fn without_kid_exactly_one_key_must_match() {
        let one = set(serde_json::json!([ed("k1")])).unwrap();
        assert!(matches!(one.find(None, Algorithm::EdDSA), Lookup::Found(_)));
        assert!(matches!(one.find(None, Algorithm::ES256), Lookup::NotFound));
        let two = set(serde_json::json!([ed("k1"), ed("k2")])).unwrap();
        assert!(matches!(
            two.find(None, Algorithm::EdDSA),
            Lookup::Ambiguous
        ));
    }
}
