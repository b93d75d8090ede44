//! Secrets: Argon2id password hashes, API keys and session tokens (random 256-bit values kept
//! only as SHA-256), and constant-time comparison.
//!
//! An API key reads `ets_<id>_<secret>`: the id (public, 16 hex digits) finds the stored
//! record in one indexed lookup, the secret (43 base64url characters, 256 bits) is compared
//! by hash in constant time. A fast hash is right for keys: with 256 bits of entropy there is
//! nothing to brute-force, and a slow hash would cost every request milliseconds.

use argon2::password_hash::{PasswordHasher, PasswordVerifier};
use base64::Engine;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::error::{Error, Result};

const KEY_PREFIX: &str = "ets_";
/// Shortest password accepted (NIST SP 800-63B: at least 8; we ask for more).
pub const MIN_PASSWORD_CHARS: usize = 12;
/// Argon2 work is bounded: longer passwords are refused rather than hashed.
pub const MAX_PASSWORD_BYTES: usize = 1024;

/// Hashes a password with Argon2id (the argon2 crate's defaults: OWASP's m=19 MiB, t=2, p=1)
/// into a PHC string.
pub fn hash_password(password: &str) -> Result<String> {
    check_password(password)?;
    argon2::Argon2::default()
        .hash_password(password.as_bytes())
        .map(|hash| hash.to_string())
        .map_err(|e| Error::internal(format!("cannot hash the password: {e}")))
}

/// Whether `password` matches the PHC string `hash` (constant time in the hash comparison).
pub fn verify_password(password: &str, hash: &str) -> bool {
    password.len() <= MAX_PASSWORD_BYTES
        && argon2::Argon2::default()
            .verify_password(password.as_bytes(), hash)
            .is_ok()
}

/// Refuses passwords too short to resist guessing or too long to hash cheaply.
pub fn check_password(password: &str) -> Result<()> {
    if password.chars().count() < MIN_PASSWORD_CHARS {
        return Err(Error::invalid(
            "password",
            format!("must have at least {MIN_PASSWORD_CHARS} characters"),
        ));
    }
    if password.len() > MAX_PASSWORD_BYTES {
        return Err(Error::invalid(
            "password",
            format!("must have at most {MAX_PASSWORD_BYTES} bytes"),
        ));
    }
    Ok(())
}

/// `n` random bytes from the operating system's CSPRNG, base64url without padding.
pub fn random_token(bytes: usize) -> String {
    let mut buffer = vec![0u8; bytes];
    rand::fill(buffer.as_mut_slice());
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(buffer)
}

/// SHA-256 of a high-entropy secret (API key secret, session token).
pub fn secret_hash(secret: &str) -> Vec<u8> {
    Sha256::digest(secret.as_bytes()).to_vec()
}

/// Compares two byte strings in time independent of where they differ.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.ct_eq(b).into()
}

/// A newly generated API key; `text` is shown to its owner once.
pub struct NewApiKey {
    pub id: String,
    pub text: String,
    pub secret_hash: Vec<u8>,
}

/// Generates an API key.
pub fn generate_api_key() -> NewApiKey {
    let id = hex::encode(rand::random::<[u8; 8]>());
    let secret = random_token(32);
    NewApiKey {
        text: format!("{KEY_PREFIX}{id}_{secret}"),
        secret_hash: secret_hash(&secret),
        id,
    }
}

/// Splits a presented API key into (id, secret); `None` when it is not shaped like one.
pub fn parse_api_key(text: &str) -> Option<(&str, &str)> {
    let rest = text.strip_prefix(KEY_PREFIX)?;
    let (id, secret) = rest.split_once('_')?;
    let id_ok = id.len() == 16 && id.bytes().all(|b| b.is_ascii_hexdigit());
    let secret_ok = secret.len() == 43
        && secret
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    (id_ok && secret_ok).then_some((id, secret))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_hash_with_argon2id_and_verify() {
        let hash = hash_password("correct horse battery").unwrap();
        assert!(hash.starts_with("$argon2id$"), "{hash}");
        assert!(verify_password("correct horse battery", &hash));
        assert!(!verify_password("correct horse batterY", &hash));
        assert!(!verify_password("x", "not a phc string"));
        assert!(hash_password("short").is_err());
        assert_ne!(
            hash_password("correct horse battery").unwrap(),
            hash,
            "salted"
        );
    }

    #[test]
    fn api_keys_parse_and_hash() {
        let key = generate_api_key();
        let (id, secret) = parse_api_key(&key.text).unwrap();
        assert_eq!(id, key.id);
        assert!(constant_time_eq(&secret_hash(secret), &key.secret_hash));
        assert!(parse_api_key("ets_123_abc").is_none());
        assert!(parse_api_key("Bearer x").is_none());
        assert_ne!(generate_api_key().text, key.text);
    }
}
