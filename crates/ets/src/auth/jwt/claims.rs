//! From verified claims to an identity: the user name, the subject, `iat`, the groups.
//! `jsonwebtoken` has already checked the signature, `exp`, `nbf`, `iss` and `aud`.

use serde_json::{Map, Value};

use super::{JwtError, JwtIdentity, LEEWAY_SECONDS, invalid, is_valid_username, truncated};

/// Groups beyond this many are ignored (a token is not a database).
const MAX_GROUPS: usize = 1000;
/// Longer group names are ignored; no configured group is that long.
const MAX_GROUP_CHARS: usize = 256;

/// Which claims name the user and list its groups.
#[derive(Debug, Clone)]
pub(super) struct ClaimRules {
    /// Default `sub`. No silent fallback to `preferred_username`: at many providers users can
    /// change it, so it is only used when configured explicitly.
    pub username_claim: String,
    pub groups_claim: Option<String>,
}

impl ClaimRules {
    pub(super) fn identity(&self, claims: &Map<String, Value>) -> Result<JwtIdentity, JwtError> {
        check_issued_at(claims)?;
        let subject = match claims.get("sub") {
            Some(Value::String(sub)) if valid_subject(sub) => sub.clone(),
            Some(_) => return Err(invalid("claim 'sub' is not a usable string")),
            None => return Err(invalid("missing claim 'sub'")),
        };
        let username = match claim(claims, &self.username_claim) {
            Some(Value::String(name)) if is_valid_username(name) => name.clone(),
            Some(Value::String(name)) => {
                return Err(invalid(format!(
                    "claim '{}' = {:?} is not a valid user name (1-128 of A-Z a-z 0-9 . _ - @ + | :)",
                    self.username_claim,
                    truncated(name)
                )));
            }
            Some(_) => {
                return Err(invalid(format!(
                    "claim '{}' is not a string",
                    self.username_claim
                )));
            }
            None => return Err(invalid(format!("missing claim '{}'", self.username_claim))),
        };
        let groups = match &self.groups_claim {
            Some(name) => groups(claim(claims, name), name)?,
            None => Vec::new(),
        };
        let expires_at = claims
            .get("exp")
            .and_then(Value::as_f64)
            .map(|exp| exp.floor() as i64);
        Ok(JwtIdentity {
            username,
            subject,
            groups,
            expires_at,
        })
    }
}

/// A claim by exact name (Auth0-style `https://example.org/groups` included), else by a
/// dotted path into nested objects (Keycloak's `realm_access.roles`).
fn claim<'a>(claims: &'a Map<String, Value>, name: &str) -> Option<&'a Value> {
    if let Some(value) = claims.get(name) {
        return Some(value);
    }
    let mut parts = name.split('.');
    let mut value = claims.get(parts.next()?)?;
    for part in parts {
        value = value.as_object()?.get(part)?;
    }
    Some(value)
}

/// `iat` in the future (beyond the leeway) means a broken or forged clock; `jsonwebtoken`
/// does not check it.
fn check_issued_at(claims: &Map<String, Value>) -> Result<(), JwtError> {
    let Some(iat) = claims.get("iat") else {
        return Ok(());
    };
    let iat = iat
        .as_f64()
        .ok_or_else(|| invalid("malformed claim 'iat'"))?;
    let now = jsonwebtoken::get_current_timestamp() as f64;
    if iat > now + LEEWAY_SECONDS as f64 {
        return Err(invalid("token issued in the future (iat)"));
    }
    Ok(())
}

fn valid_subject(sub: &str) -> bool {
    !sub.is_empty() && sub.chars().count() <= 255 && !sub.chars().any(char::is_control)
}

/// An array of group names, or a single name. Entries that are not sane strings are
/// skipped: they can never equal a configured group.
fn groups(value: Option<&Value>, name: &str) -> Result<Vec<String>, JwtError> {
    let usable = |g: &str| {
        !g.is_empty() && g.chars().count() <= MAX_GROUP_CHARS && !g.chars().any(char::is_control)
    };
    match value {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::String(group)) => {
            Ok(usable(group).then(|| group.clone()).into_iter().collect())
        }
        Some(Value::Array(items)) => Ok(items
            .iter()
            .filter_map(Value::as_str)
            .filter(|g| usable(g))
            .take(MAX_GROUPS)
            .map(str::to_owned)
            .collect()),
        Some(_) => Err(invalid(format!(
            "claim '{name}' (auth.jwt.groups_claim) is neither a list of strings nor a string"
        ))),
    }
}
