//! `[auth.jwt]` checked and resolved: which key sources apply, and the rules every
//! configuration must follow. [`check_config`] is pure (runs at configuration load);
//! reading the HS256 secret file happens when the verifier is built.

use std::path::{Path, PathBuf};

use ets_domain::ValidationError;
use reqwest::Url;

use super::claims::ClaimRules;
use crate::auth::Role;
use crate::config::JwtConfig;

/// An HS256 secret shorter than this is refused (RFC 7518 §3.2: at least the hash size).
pub(super) const MIN_HS256_SECRET_BYTES: usize = 32;
/// The path OIDC discovery appends to an issuer (OpenID Connect Discovery 1.0 §4).
const DISCOVERY_PATH: &str = "/.well-known/openid-configuration";

/// Where the provider's signing keys come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum JwksSource {
    /// `auth.jwt.jwks_url`.
    Url(Url),
    /// A discovery document whose `issuer` must equal the configured one; its `jwks_uri`
    /// names the keys.
    Discovery { url: Url, issuer: String },
}

/// A usable `[auth.jwt]`.
#[derive(Debug)]
pub(super) struct Settings {
    pub issuer: Option<String>,
    pub audience: Option<String>,
    pub hs256_secret_file: Option<PathBuf>,
    pub jwks: Option<JwksSource>,
    pub claims: ClaimRules,
}

/// Checks `[auth.jwt]` without touching files or the network (called when the configuration
/// loads); the error names the offending key.
pub fn check_config(config: &JwtConfig) -> Result<(), ValidationError> {
    resolve(config).map(|_| ())
}

/// The key sources and claim rules; `None` when no source is configured.
pub(super) fn resolve(config: &JwtConfig) -> Result<Option<Settings>, ValidationError> {
    for (key, value) in [
        ("issuer", &config.issuer),
        ("audience", &config.audience),
        ("jwks_url", &config.jwks_url),
        ("oidc_discovery_url", &config.oidc_discovery_url),
        ("username_claim", &config.username_claim),
        ("groups_claim", &config.groups_claim),
    ] {
        if value.as_deref().is_some_and(|v| v.trim().is_empty()) {
            return Err(error(key, "must not be empty; remove the key instead"));
        }
    }
    check_group_roles(config)?;
    let jwks = match (&config.jwks_url, &config.oidc_discovery_url) {
        (Some(_), Some(_)) => {
            return Err(error(
                "oidc_discovery_url",
                "set either auth.jwt.jwks_url or auth.jwt.oidc_discovery_url, not both",
            ));
        }
        (Some(url), None) => Some(JwksSource::Url(provider_url("jwks_url", url)?)),
        (None, discovery) => match (discovery, &config.issuer) {
            (Some(url), Some(issuer)) => Some(JwksSource::Discovery {
                url: provider_url("oidc_discovery_url", url)?,
                issuer: issuer.clone(),
            }),
            (Some(_), None) => {
                return Err(error(
                    "issuer",
                    "is required with auth.jwt.oidc_discovery_url: the discovery document's \
                     'issuer' must equal it",
                ));
            }
            // Only an issuer: discover its keys, unless it just labels HS256 tokens.
            (None, Some(issuer)) if config.hs256_secret_file.is_none() => {
                let url = format!("{}{DISCOVERY_PATH}", issuer.trim_end_matches('/'));
                Some(JwksSource::Discovery {
                    url: provider_url("issuer", &url)?,
                    issuer: issuer.clone(),
                })
            }
            (None, _) => None,
        },
    };
    if jwks.is_none() && config.hs256_secret_file.is_none() {
        return no_source(config).map(|()| None);
    }
    if jwks.is_some() {
        // A shared identity provider signs tokens for many applications and tenants: without
        // both checks, a token minted for another of them would open ETS.
        if config.issuer.is_none() {
            return Err(error(
                "issuer",
                "is required with a JWKS (the provider's issuer URL, as in its tokens' 'iss')",
            ));
        }
        if config.audience.is_none() {
            return Err(error(
                "audience",
                "is required with a JWKS (the client id or API identifier ETS's tokens are \
                 issued for), so tokens the provider issues for other applications are refused",
            ));
        }
    }
    Ok(Some(Settings {
        issuer: config.issuer.clone(),
        audience: config.audience.clone(),
        hs256_secret_file: config.hs256_secret_file.clone(),
        jwks,
        claims: ClaimRules {
            username_claim: config
                .username_claim
                .clone()
                .unwrap_or_else(|| "sub".into()),
            groups_claim: config.groups_claim.clone(),
        },
    }))
}

/// Without a key source, settings that only make sense with one are mistakes.
fn no_source(config: &JwtConfig) -> Result<(), ValidationError> {
    let stray = [
        ("audience", config.audience.is_some()),
        ("username_claim", config.username_claim.is_some()),
        ("groups_claim", config.groups_claim.is_some()),
        ("group_roles", !config.group_roles.is_empty()),
    ];
    match stray.iter().find(|(_, set)| *set) {
        Some((key, _)) => Err(error(
            key,
            "is set but no JWT key source is: set auth.jwt.issuer (OIDC discovery), \
             auth.jwt.jwks_url, auth.jwt.oidc_discovery_url or auth.jwt.hs256_secret_file",
        )),
        None => Ok(()),
    }
}

fn check_group_roles(config: &JwtConfig) -> Result<(), ValidationError> {
    for (i, grant) in config.group_roles.iter().enumerate() {
        let key = |field: &str| format!("group_roles[{i}].{field}");
        if grant.group.trim().is_empty() {
            return Err(error(&key("group"), "must name a group"));
        }
        if grant.project.trim().is_empty() {
            return Err(error(
                &key("project"),
                "must name a project, or \"*\" for global admin",
            ));
        }
        let Some(role) = Role::parse(&grant.role) else {
            return Err(error(
                &key("role"),
                &format!(
                    "'{}' is not a role: use viewer, editor or admin",
                    grant.role
                ),
            ));
        };
        if grant.project == "*" && role != Role::Admin {
            return Err(error(
                &key("role"),
                "project \"*\" (every project) only takes role \"admin\" (global admin); \
                 grant other roles per project",
            ));
        }
    }
    Ok(())
}

/// An identity-provider URL: https, or http to a loopback address (tests, local proxies).
/// Plain http elsewhere would let anyone on the path substitute the keys.
pub(super) fn provider_url(key: &str, text: &str) -> Result<Url, ValidationError> {
    let url = Url::parse(text).map_err(|e| error(key, &format!("'{text}' is not a URL ({e})")))?;
    match url.scheme() {
        "https" => Ok(url),
        "http" if is_loopback(&url) => Ok(url),
        _ => Err(error(
            key,
            &format!("'{text}' must be an https:// URL (http:// only for loopback addresses)"),
        )),
    }
}

fn is_loopback(url: &Url) -> bool {
    let host = url.host_str().unwrap_or_default();
    host.eq_ignore_ascii_case("localhost")
        || host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// The secret, with trailing whitespace (the newline `echo` or an editor adds) removed.
pub(super) fn read_hs256_secret(path: &Path) -> Result<Vec<u8>, ValidationError> {
    let key = "hs256_secret_file";
    let mut secret = std::fs::read(path)
        .map_err(|e| error(key, &format!("cannot read '{}': {e}", path.display())))?;
    let kept = secret.trim_ascii_end().len();
    secret.truncate(kept);
    if secret.len() < MIN_HS256_SECRET_BYTES {
        return Err(error(
            key,
            &format!(
                "'{}' holds {} bytes; an HS256 secret needs at least {MIN_HS256_SECRET_BYTES} \
                 (e.g. `openssl rand -base64 48 > {}`)",
                path.display(),
                secret.len(),
                path.display()
            ),
        ));
    }
    warn_if_readable_by_others(path);
    Ok(secret)
}

#[cfg(unix)]
fn warn_if_readable_by_others(path: &Path) {
    use std::os::unix::fs::PermissionsExt;
    if let Ok(meta) = std::fs::metadata(path)
        && meta.permissions().mode() & 0o077 != 0
    {
        tracing::warn!(
            file = %path.display(),
            "auth.jwt.hs256_secret_file is readable by other users; chmod 600 it"
        );
    }
}

#[cfg(not(unix))]
fn warn_if_readable_by_others(_path: &Path) {}

fn error(key: &str, message: &str) -> ValidationError {
    ValidationError::new(format!("auth.jwt.{key}"), message)
}
