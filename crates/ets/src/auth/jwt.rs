//! Bearer JWTs: verification against an HS256 secret file or the keys of an identity
//! provider (JWKS, found directly or through OIDC discovery), and the roles groups grant.
//!
//! The auth middleware calls [`JwtVerifier::verify`] on a bearer token. [`JwtError::NotJwt`]
//! means the token does not even have a JWT's shape, so the caller tries it as an API key;
//! [`JwtError::Invalid`] carries a reason for the log (the client gets a generic 401);
//! [`JwtError::ProviderUnavailable`] means the provider's keys could not be fetched.
//!
//! Algorithms are bound to key sources, so no token picks how it is checked: HS256 only
//! against the secret file; RS256/RS384/PS256/ES256/ES384 only against JWKS keys whose `kty`,
//! curve and `alg` allow that algorithm. `none`, HMAC with a JWKS (the classic confusion of an
//! RSA public key used as an HMAC secret) and every other algorithm are refused.
//! Operator documentation: `docs/security.md`, "JWT / OIDC setup".

mod claims;
mod groups;
mod jwks;
mod settings;
#[cfg(test)]
mod tests;

use std::sync::Arc;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::Deserialize;

use crate::config::JwtConfig;
use crate::error::Error;

pub use groups::{GroupGrants, roles_for_groups};
pub use settings::check_config;

use claims::ClaimRules;
use jwks::JwksCache;

/// Clock skew tolerated on `exp`, `nbf` and `iat`.
const LEEWAY_SECONDS: u64 = 60;
/// Longer JWT-shaped bearer tokens are refused before their header is decoded.
const MAX_TOKEN_BYTES: usize = 16 * 1024;
/// Algorithms accepted with JWKS keys (each key narrows this further).
const JWKS_ALGORITHMS: [Algorithm; 5] = [
    Algorithm::RS256,
    Algorithm::RS384,
    Algorithm::PS256,
    Algorithm::ES256,
    Algorithm::ES384,
];

/// Who a verified token says the caller is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JwtIdentity {
    /// The ETS user name, from `auth.jwt.username_claim` (default `sub`); checked by
    /// [`is_valid_username`].
    pub username: String,
    /// The token's `sub` (stable per issuer; a good key for linking the user).
    pub subject: String,
    /// Groups from `auth.jwt.groups_claim` (empty when not configured or absent).
    pub groups: Vec<String>,
    /// `exp` (seconds since the epoch): the identity must not outlive it.
    pub expires_at: Option<i64>,
}

/// Why a bearer token was not accepted as a JWT.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JwtError {
    /// Not shaped like a JWT (three base64url parts, a JSON header with `alg`): try it as an
    /// API key.
    #[error("not a JWT")]
    NotJwt,
    /// A JWT that must be refused. The reason is for the log only: clients get
    /// [`JwtError::CLIENT_MESSAGE`], so they cannot probe which check failed.
    #[error("invalid JWT: {0}")]
    Invalid(String),
    /// The identity provider's keys could not be fetched (and none cached are usable), so the
    /// token can be neither accepted nor refused. Suggested answer: 503, retry later.
    #[error("identity provider unavailable: {0}")]
    ProviderUnavailable(String),
}

impl JwtError {
    /// What a client is told about an [`JwtError::Invalid`] token.
    pub const CLIENT_MESSAGE: &'static str = "invalid or expired bearer token";
}

/// Verifies bearer JWTs as configured in `[auth.jwt]`. Cheap to share (`Arc` inside); the
/// JWKS cache is shared by all clones.
#[derive(Clone)]
pub struct JwtVerifier {
    inner: Arc<Inner>,
}

struct Inner {
    issuer: Option<String>,
    audience: Option<String>,
    hs256: Option<DecodingKey>,
    jwks: Option<Arc<JwksCache>>,
    claims: ClaimRules,
    group_roles: Vec<crate::config::GroupRole>,
}

impl std::fmt::Debug for JwtVerifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JwtVerifier")
            .field("issuer", &self.inner.issuer)
            .field("audience", &self.inner.audience)
            .field("hs256", &self.inner.hs256.is_some())
            .field("jwks", &self.inner.jwks.as_ref().map(|j| j.describe()))
            .finish()
    }
}

impl JwtVerifier {
    /// Builds the verifier; `None` when no JWT key source is configured (no
    /// `hs256_secret_file`, `jwks_url`, `oidc_discovery_url` or `issuer`). Reads the HS256
    /// secret file now; JWKS keys are fetched on first use (or by [`JwtVerifier::refresh_keys`]).
    /// A configuration error names its key (`auth.jwt.…`). `http` builds the client that
    /// fetches JWKS keys, called only when a JWKS is configured (building one loads the
    /// system's root certificates).
    pub fn new(
        config: &JwtConfig,
        http: impl FnOnce() -> Result<reqwest::Client, Error>,
    ) -> Result<Option<JwtVerifier>, Error> {
        let Some(settings) = settings::resolve(config)? else {
            return Ok(None);
        };
        let hs256 = match &settings.hs256_secret_file {
            Some(path) => Some(DecodingKey::from_secret(&settings::read_hs256_secret(
                path,
            )?)),
            None => None,
        };
        let jwks = match settings.jwks {
            Some(source) => Some(Arc::new(JwksCache::new(http()?, source))),
            None => None,
        };
        Ok(Some(JwtVerifier {
            inner: Arc::new(Inner {
                issuer: settings.issuer,
                audience: settings.audience,
                hs256,
                jwks,
                claims: settings.claims,
                group_roles: config.group_roles.clone(),
            }),
        }))
    }

    /// Fetches the provider's keys now (e.g. at start-up, to log a misconfiguration early);
    /// returns how many usable keys it holds. A no-op returning 0 without a JWKS.
    pub async fn refresh_keys(&self) -> Result<usize, JwtError> {
        match &self.inner.jwks {
            Some(jwks) => jwks.prefetch().await,
            None => Ok(0),
        }
    }

    /// Checks a bearer token: shape, algorithm, signature, `exp`/`nbf`/`iat` (60 s leeway),
    /// `iss` and `aud` when configured, and the user name claim.
    pub async fn verify(&self, token: &str) -> Result<JwtIdentity, JwtError> {
        let header = parse_header(token)?;
        if header.crit.is_some() {
            // RFC 7515 §4.1.11: extensions we do not implement must make the token fail.
            return Err(invalid(
                "the header has 'crit' extensions, which ETS does not support",
            ));
        }
        let alg = self.allowed_algorithm(&header.alg)?;
        let candidates = match alg {
            Algorithm::HS256 => vec![self.inner.hs256.clone().ok_or_else(|| {
                invalid("HS256 tokens are not accepted (no auth.jwt.hs256_secret_file)")
            })?],
            _ => match &self.inner.jwks {
                Some(jwks) => jwks.keys_for(header.kid.as_deref(), alg).await?,
                None => return Err(invalid(format!("{alg:?} needs a JWKS, none is configured"))),
            },
        };
        let validation = self.validation(alg);
        let mut last = invalid("no key");
        // Several candidates only when the token names no `kid`: the first that verifies wins.
        for key in &candidates {
            match jsonwebtoken::decode::<serde_json::Map<String, serde_json::Value>>(
                token,
                key,
                &validation,
            ) {
                Ok(data) => return self.inner.claims.identity(&data.claims),
                Err(e) if *e.kind() == ErrorKind::InvalidSignature => last = describe(&e),
                Err(e) => return Err(describe(&e)),
            }
        }
        Err(last)
    }

    /// The roles the identity's groups grant under `auth.jwt.group_roles` (projects by name).
    pub fn grants(&self, identity: &JwtIdentity) -> GroupGrants {
        roles_for_groups(&identity.groups, &self.inner.group_roles)
    }

    /// The header's algorithm if a configured key source accepts it.
    fn allowed_algorithm(&self, name: &str) -> Result<Algorithm, JwtError> {
        let refused = || invalid(format!("algorithm {:?} is not accepted", truncated(name)));
        let alg: Algorithm = name.parse().map_err(|_| refused())?;
        let accepted = match alg {
            Algorithm::HS256 => self.inner.hs256.is_some(),
            _ => self.inner.jwks.is_some() && JWKS_ALGORITHMS.contains(&alg),
        };
        if accepted { Ok(alg) } else { Err(refused()) }
    }

    fn validation(&self, alg: Algorithm) -> Validation {
        let mut validation = Validation::new(alg);
        validation.leeway = LEEWAY_SECONDS;
        validation.validate_exp = true;
        validation.validate_nbf = true;
        let mut required = vec!["exp"];
        if let Some(issuer) = &self.inner.issuer {
            validation.set_issuer(&[issuer]);
            required.push("iss");
        }
        match &self.inner.audience {
            Some(audience) => {
                validation.set_audience(&[audience]);
                required.push("aud");
            }
            None => validation.validate_aud = false,
        }
        validation.set_required_spec_claims(&required);
        validation
    }
}

/// The checks on a user name taken from a token: 1–128 characters, ASCII letters, digits and
/// `. _ - @ + | :`, starting with a letter or digit. Wide enough for Keycloak/Azure ids
/// (UUIDs), Auth0 subjects (`auth0|…`, `google-oauth2|…`) and e-mail addresses; narrow enough
/// that a claim cannot smuggle spaces, slashes, control or look-alike characters into names,
/// logs and the audit trail.
pub fn is_valid_username(name: &str) -> bool {
    let mut chars = name.chars();
    name.len() <= 128
        && chars.next().is_some_and(|c| c.is_ascii_alphanumeric())
        && chars.all(|c| c.is_ascii_alphanumeric() || "._-@+|:".contains(c))
}

/// The header fields ETS reads itself, before handing the token to `jsonwebtoken`.
#[derive(Deserialize)]
struct RawHeader {
    alg: String,
    kid: Option<String>,
    crit: Option<serde_json::Value>,
}

/// `NotJwt` unless the token is three base64url parts with a JSON header naming `alg`; past
/// that point every problem is `Invalid`.
fn parse_header(token: &str) -> Result<RawHeader, JwtError> {
    let mut parts = token.split('.');
    let (Some(header), Some(payload), Some(signature), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(JwtError::NotJwt);
    };
    let base64url = |part: &str| {
        part.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    };
    if header.is_empty()
        || payload.is_empty()
        || ![header, payload, signature].iter().all(|p| base64url(p))
    {
        return Err(JwtError::NotJwt);
    }
    if token.len() > MAX_TOKEN_BYTES {
        return Err(invalid(format!(
            "token longer than {MAX_TOKEN_BYTES} bytes"
        )));
    }
    let json = URL_SAFE_NO_PAD
        .decode(header)
        .map_err(|_| JwtError::NotJwt)?;
    serde_json::from_slice(&json).map_err(|_| JwtError::NotJwt)
}

fn invalid(reason: impl Into<String>) -> JwtError {
    JwtError::Invalid(reason.into())
}

/// A log-safe excerpt of an attacker-chosen string (header fields, claims).
fn truncated(text: &str) -> String {
    text.chars().take(64).collect()
}

/// The log reason for a `jsonwebtoken` failure.
fn describe(error: &jsonwebtoken::errors::Error) -> JwtError {
    let reason = match error.kind() {
        ErrorKind::ExpiredSignature => "token expired (exp)".to_owned(),
        ErrorKind::ImmatureSignature => "token not yet valid (nbf)".to_owned(),
        ErrorKind::InvalidIssuer => "wrong issuer (iss)".to_owned(),
        ErrorKind::InvalidAudience => "wrong audience (aud)".to_owned(),
        ErrorKind::InvalidSignature => "bad signature".to_owned(),
        ErrorKind::MissingRequiredClaim(claim) => format!("missing claim '{claim}'"),
        ErrorKind::InvalidClaimFormat(claim) => format!("malformed claim '{claim}'"),
        ErrorKind::InvalidAlgorithm => "algorithm does not match the key".to_owned(),
        other => format!("{other:?}"),
    };
    JwtError::Invalid(reason)
}
