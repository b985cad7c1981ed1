//! `[identity]` settings: [`IdentityConfig`] as written in the config file, validated into
//! [`TrustedIssuer`].
//!
//! The binary deserializes `IdentityConfig`, converts it with `TrustedIssuer::try_from`, and hands
//! the result to [`super::TokenValidator::new`]. Invariants of a `TrustedIssuer`: `issuer`,
//! `audience` and `groups_claim` are non-empty; exactly one key source is chosen (a remote JWKS
//! URL with an `http` or `https` scheme, or the local issuer); `jwks_refresh` is not zero;
//! `leeway` is at most [`MAX_LEEWAY`].
//!
//! Not here: fetching keys (`cache`), the local issuer's key file (`local`).

use std::time::Duration;

use reqwest::Url;
use serde::{Deserialize, Serialize};

/// The `[identity]` section: which issuer's tokens are trusted and how they are checked.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IdentityConfig {
    /// The expected `iss` claim, exactly as the issuer writes it (e.g. `https://idp.example.com`).
    pub issuer: String,
    /// The expected `aud` claim: the name this gateway is known by at the issuer. A token whose
    /// `aud` is an array passes when the array contains this value.
    pub audience: String,
    /// The issuer's JWK set URL (its discovery document's `jwks_uri`). Set this, or
    /// `local_issuer`, not both.
    #[serde(default)]
    pub jwks_url: Option<String>,
    /// Trust blastwall's own local issuer (the quick start's `blastwall token`) instead of an
    /// external OIDC provider. Set this, or `jwks_url`, not both.
    #[serde(default)]
    pub local_issuer: bool,
    /// The claim that lists the principal's groups: an array of strings or a single string.
    #[serde(default = "default_groups_claim")]
    pub groups_claim: String,
    /// Clock skew tolerated on `exp`, `nbf` and `iat` (e.g. `"30s"`).
    #[serde(default = "default_leeway", with = "humantime_serde")]
    pub leeway: Duration,
    /// How long a fetched key set is used before it is fetched again (e.g. `"10m"`).
    #[serde(default = "default_jwks_refresh", with = "humantime_serde")]
    pub jwks_refresh: Duration,
    /// The shortest interval between two fetches of the key set, however many tokens name an
    /// unknown `kid` (e.g. `"30s"`): protects the issuer from a flood of made-up key ids.
    #[serde(default = "default_jwks_min_refetch", with = "humantime_serde")]
    pub jwks_min_refetch: Duration,
}

/// The longest clock-skew tolerance accepted.
pub const MAX_LEEWAY: Duration = Duration::from_secs(60 * 60);

fn default_groups_claim() -> String {
    "groups".to_owned()
}

fn default_leeway() -> Duration {
    Duration::from_secs(30)
}

fn default_jwks_refresh() -> Duration {
    Duration::from_secs(10 * 60)
}

fn default_jwks_min_refetch() -> Duration {
    Duration::from_secs(30)
}

impl IdentityConfig {
    /// Settings that trust an external OIDC issuer whose key set is at `jwks_url`; every other
    /// field has its default.
    pub fn remote(
        issuer: impl Into<String>,
        audience: impl Into<String>,
        jwks_url: impl Into<String>,
    ) -> Self {
        let mut config = Self::local(issuer, audience);
        config.local_issuer = false;
        config.jwks_url = Some(jwks_url.into());
        config
    }

    /// Settings that trust blastwall's local issuer; every other field has its default.
    pub fn local(issuer: impl Into<String>, audience: impl Into<String>) -> Self {
        IdentityConfig {
            issuer: issuer.into(),
            audience: audience.into(),
            jwks_url: None,
            local_issuer: true,
            groups_claim: default_groups_claim(),
            leeway: default_leeway(),
            jwks_refresh: default_jwks_refresh(),
            jwks_min_refetch: default_jwks_min_refetch(),
        }
    }
}

/// Where the trusted issuer's public keys come from.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum IssuerKeys {
    /// An external issuer's JWK set, fetched over HTTP(S).
    Remote(Url),
    /// blastwall's own [`super::LocalIssuer`], read in-process.
    Local,
}

/// Validated identity settings: the one issuer whose tokens this gateway trusts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrustedIssuer {
    pub(super) issuer: String,
    pub(super) audience: String,
    pub(super) keys: IssuerKeys,
    pub(super) groups_claim: String,
    pub(super) leeway: Duration,
    pub(super) jwks_refresh: Duration,
    pub(super) jwks_min_refetch: Duration,
}

impl TrustedIssuer {
    /// The expected `iss`.
    pub fn issuer(&self) -> &str {
        &self.issuer
    }

    /// The expected `aud`.
    pub fn audience(&self) -> &str {
        &self.audience
    }

    /// Where the issuer's keys come from.
    pub fn keys(&self) -> &IssuerKeys {
        &self.keys
    }
}

/// Why `[identity]` settings are not usable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// Both `jwks_url` and `local_issuer = true` are set.
    #[error(
        "identity: set either `jwks_url` (an OIDC issuer's key set) or `local_issuer = true` \
         (blastwall's own issuer), not both"
    )]
    BothKeySources,
    /// Neither `jwks_url` nor `local_issuer = true` is set.
    #[error(
        "identity: no key source: set `jwks_url` to the OIDC issuer's JWK set URL, or \
         `local_issuer = true` to use blastwall's own issuer"
    )]
    NoKeySource,
    /// `jwks_url` is not an absolute `http` or `https` URL.
    #[error("identity: `jwks_url` = `{url}` is not an absolute http(s) URL: {reason}")]
    InvalidJwksUrl {
        /// The configured text.
        url: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A required text setting is empty.
    #[error("identity: `{field}` must not be empty")]
    Empty {
        /// The setting's name.
        field: &'static str,
    },
    /// `jwks_refresh` is zero.
    #[error("identity: `jwks_refresh` must be longer than zero")]
    ZeroRefresh,
    /// `leeway` is longer than [`MAX_LEEWAY`].
    #[error("identity: `leeway` must not exceed {max:?}: it tolerates clock skew, not expiry")]
    LeewayTooLong {
        /// The limit.
        max: Duration,
    },
}

impl TryFrom<IdentityConfig> for TrustedIssuer {
    type Error = ConfigError;

    fn try_from(config: IdentityConfig) -> Result<Self, ConfigError> {
        non_empty("issuer", &config.issuer)?;
        non_empty("audience", &config.audience)?;
        non_empty("groups_claim", &config.groups_claim)?;
        if config.jwks_refresh.is_zero() {
            return Err(ConfigError::ZeroRefresh);
        }
        if config.leeway > MAX_LEEWAY {
            return Err(ConfigError::LeewayTooLong { max: MAX_LEEWAY });
        }
        let keys = match (config.jwks_url, config.local_issuer) {
            (Some(_), true) => return Err(ConfigError::BothKeySources),
            (None, false) => return Err(ConfigError::NoKeySource),
            (Some(url), false) => IssuerKeys::Remote(parse_jwks_url(&url)?),
            (None, true) => IssuerKeys::Local,
        };
        Ok(TrustedIssuer {
            issuer: config.issuer,
            audience: config.audience,
            keys,
            groups_claim: config.groups_claim,
            leeway: config.leeway,
            jwks_refresh: config.jwks_refresh,
            jwks_min_refetch: config.jwks_min_refetch,
        })
    }
}

fn non_empty(field: &'static str, value: &str) -> Result<(), ConfigError> {
    if value.trim().is_empty() {
        return Err(ConfigError::Empty { field });
    }
    Ok(())
}

fn parse_jwks_url(text: &str) -> Result<Url, ConfigError> {
    let invalid = |reason: String| ConfigError::InvalidJwksUrl {
        url: text.to_owned(),
        reason,
    };
    let url = Url::parse(text).map_err(|e| invalid(e.to_string()))?;
    match url.scheme() {
        "http" | "https" => Ok(url),
        other => Err(invalid(format!("the scheme is `{other}`"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_fill_in_optional_fields() {
        let config: IdentityConfig = serde_json::from_str(
            r#"{"issuer": "https://idp", "audience": "blastwall", "local_issuer": true}"#,
        )
        .unwrap();
        assert_eq!(config, IdentityConfig::local("https://idp", "blastwall"));
        let trusted = TrustedIssuer::try_from(config).unwrap();
        assert_eq!(trusted.keys(), &IssuerKeys::Local);
        assert_eq!(trusted.leeway, Duration::from_secs(30));
        assert_eq!(trusted.jwks_refresh, Duration::from_secs(600));
        assert_eq!(trusted.jwks_min_refetch, Duration::from_secs(30));
        assert_eq!(trusted.groups_claim, "groups");
    }

    #[test]
    fn durations_are_humantime() {
        let config: IdentityConfig = serde_json::from_str(
            r#"{"issuer": "i", "audience": "a", "jwks_url": "https://idp/jwks",
                "leeway": "5s", "jwks_refresh": "1h", "jwks_min_refetch": "250ms"}"#,
        )
        .unwrap();
        assert_eq!(config.leeway, Duration::from_secs(5));
        assert_eq!(config.jwks_refresh, Duration::from_secs(3600));
        assert_eq!(config.jwks_min_refetch, Duration::from_millis(250));
    }

    #[test]
    fn unknown_fields_are_rejected() {
        let result: Result<IdentityConfig, _> = serde_json::from_str(
            r#"{"issuer": "i", "audience": "a", "local_issuer": true, "jwks": "x"}"#,
        );
        assert!(result.is_err());
    }

    #[test]
    fn exactly_one_key_source() {
        let mut both = IdentityConfig::remote("i", "a", "https://idp/jwks");
        both.local_issuer = true;
        assert_eq!(
            TrustedIssuer::try_from(both),
            Err(ConfigError::BothKeySources)
        );
        let mut neither = IdentityConfig::local("i", "a");
        neither.local_issuer = false;
        assert_eq!(
            TrustedIssuer::try_from(neither),
            Err(ConfigError::NoKeySource)
        );
    }

    #[test]
    fn bad_settings_are_named() {
        let bad_url = IdentityConfig::remote("i", "a", "ftp://idp/jwks");
        assert!(matches!(
            TrustedIssuer::try_from(bad_url),
            Err(ConfigError::InvalidJwksUrl { .. })
        ));
        let relative = IdentityConfig::remote("i", "a", "/jwks");
        assert!(matches!(
            TrustedIssuer::try_from(relative),
            Err(ConfigError::InvalidJwksUrl { .. })
        ));
        let empty = IdentityConfig::local(" ", "a");
        assert_eq!(
            TrustedIssuer::try_from(empty),
            Err(ConfigError::Empty { field: "issuer" })
        );
        let mut zero = IdentityConfig::local("i", "a");
        zero.jwks_refresh = Duration::ZERO;
        assert_eq!(TrustedIssuer::try_from(zero), Err(ConfigError::ZeroRefresh));
        let mut lenient = IdentityConfig::local("i", "a");
        lenient.leeway = Duration::from_secs(24 * 60 * 60);
        assert_eq!(
            TrustedIssuer::try_from(lenient),
            Err(ConfigError::LeewayTooLong { max: MAX_LEEWAY })
        );
    }
}
