//! The identity provider's signing keys: fetched (directly or through OIDC discovery),
//! parsed, cached and refreshed.
//!
//! Refresh rules: keys are fresh for the JWKS response's `Cache-Control: max-age` (clamped to
//! 1 min – 24 h; 1 h without one). A token whose `kid` is unknown, or a cache that is cold or
//! too stale, triggers a fetch; one past freshness but within [`STALE_GRACE`] is still used
//! while a background task refreshes it. At most one fetch runs at a time (waiters reuse its
//! result), and at most one starts per [`MIN_REFETCH_INTERVAL`], so tokens with random
//! `kid`s cannot make ETS hammer the provider.

use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, DecodingKey};
use reqwest::Url;
use reqwest::header::{ACCEPT, CACHE_CONTROL, HeaderMap};
use serde::Deserialize;
use serde_json::Value;

use super::settings::{JwksSource, provider_url};
use super::{JwtError, invalid, truncated};

/// At most one fetch starts per this interval, whatever the tokens say.
pub(super) const MIN_REFETCH_INTERVAL: Duration = Duration::from_secs(30);
/// Key freshness without a `Cache-Control: max-age`.
const DEFAULT_MAX_AGE: Duration = Duration::from_secs(3600);
const MIN_MAX_AGE: Duration = Duration::from_secs(60);
const MAX_MAX_AGE: Duration = Duration::from_secs(24 * 3600);
/// Past freshness, keys stay usable this long while refreshes fail (a provider outage does
/// not lock everyone out at once), then tokens answer "provider unavailable".
pub(super) const STALE_GRACE: Duration = Duration::from_secs(3600);
/// One request to the provider (connect + response) may take this long.
const FETCH_TIMEOUT: Duration = Duration::from_secs(5);
/// A discovery document or JWKS larger than this is refused.
const MAX_DOCUMENT_BYTES: usize = 1 << 20;
const MAX_KEYS: usize = 100;
/// A token without `kid` is tried against at most this many keys.
const MAX_CANDIDATES_WITHOUT_KID: usize = 8;
const MIN_RSA_MODULUS_BYTES: usize = 256;

/// One usable verification key.
#[derive(Clone)]
struct SigningKey {
    kid: Option<String>,
    algorithms: Vec<Algorithm>,
    key: DecodingKey,
}

/// The keys in use; replaced whole on every fetch attempt.
#[derive(Clone, Default)]
struct Snapshot {
    /// Counts fetch attempts, so a task that waited for a fetch knows one happened.
    generation: u64,
    keys: Arc<Vec<SigningKey>>,
    fresh_until: Option<Instant>,
    /// Why the latest attempt failed (cleared by a successful one).
    last_error: Option<String>,
}

impl Snapshot {
    fn is_fresh(&self, now: Instant) -> bool {
        self.fresh_until.is_some_and(|t| now < t)
    }

    fn is_usable(&self, now: Instant) -> bool {
        self.fresh_until.is_some_and(|t| now < t + STALE_GRACE)
    }

    fn matching(&self, kid: Option<&str>, alg: Algorithm) -> Vec<DecodingKey> {
        self.keys
            .iter()
            .filter(|k| k.algorithms.contains(&alg) && (kid.is_none() || k.kid.as_deref() == kid))
            .map(|k| k.key.clone())
            .collect()
    }
}

/// State of the one fetch that may run at a time.
#[derive(Default)]
struct Fetcher {
    last_attempt: Option<Instant>,
    /// From the discovery document; forgotten when a JWKS fetch fails.
    jwks_uri: Option<Url>,
}

pub(super) struct JwksCache {
    http: reqwest::Client,
    source: JwksSource,
    snapshot: RwLock<Snapshot>,
    fetcher: Arc<tokio::sync::Mutex<Fetcher>>,
    clock: Clock,
}

impl JwksCache {
    pub(super) fn new(http: reqwest::Client, source: JwksSource) -> JwksCache {
        JwksCache {
            http,
            source,
            snapshot: RwLock::default(),
            fetcher: Arc::default(),
            clock: Clock::default(),
        }
    }

    pub(super) fn describe(&self) -> String {
        match &self.source {
            JwksSource::Url(url) => format!("jwks_url {url}"),
            JwksSource::Discovery { url, .. } => format!("oidc discovery {url}"),
        }
    }

    /// The keys that may verify a token with this `kid` and `alg`.
    pub(super) async fn keys_for(
        self: &Arc<Self>,
        kid: Option<&str>,
        alg: Algorithm,
    ) -> Result<Vec<DecodingKey>, JwtError> {
        let now = self.clock.now();
        let snapshot = self.current();
        let found = snapshot.matching(kid, alg);
        if !found.is_empty() && snapshot.is_usable(now) {
            if !snapshot.is_fresh(now) {
                self.refresh_in_background(snapshot.generation);
            }
            return Self::limit(found, kid, alg);
        }
        self.refresh(snapshot.generation).await;
        let snapshot = self.current();
        let usable = snapshot.is_usable(self.clock.now());
        let found = snapshot.matching(kid, alg);
        if usable && !found.is_empty() {
            return Self::limit(found, kid, alg);
        }
        if !usable || snapshot.last_error.is_some() {
            // The provider is unreachable: the token may well be valid.
            return Err(unavailable(&snapshot));
        }
        Err(invalid(format!(
            "no {alg:?} key with kid {:?} in the provider's JWKS",
            kid.map(truncated)
        )))
    }

    /// Fetches now (subject to the rate limit); the number of usable keys.
    pub(super) async fn prefetch(&self) -> Result<usize, JwtError> {
        self.refresh(self.current().generation).await;
        let snapshot = self.current();
        match &snapshot.last_error {
            None if snapshot.is_usable(self.clock.now()) => Ok(snapshot.keys.len()),
            _ => Err(unavailable(&snapshot)),
        }
    }

    fn limit(
        found: Vec<DecodingKey>,
        kid: Option<&str>,
        alg: Algorithm,
    ) -> Result<Vec<DecodingKey>, JwtError> {
        if kid.is_none() && found.len() > MAX_CANDIDATES_WITHOUT_KID {
            return Err(invalid(format!(
                "the token names no kid and the JWKS holds {} {alg:?} keys",
                found.len()
            )));
        }
        Ok(found)
    }

    fn current(&self) -> Snapshot {
        self.snapshot
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .clone()
    }

    /// Refreshes unless a fetch already ran since `seen_generation` (single flight) or one
    /// started less than [`MIN_REFETCH_INTERVAL`] ago (rate limit).
    async fn refresh(&self, seen_generation: u64) {
        let mut fetcher = self.fetcher.lock().await;
        self.refresh_locked(&mut fetcher, seen_generation).await;
    }

    /// Stale keys are still answering; refresh them off the request path, unless a fetch is
    /// already running.
    fn refresh_in_background(self: &Arc<Self>, seen_generation: u64) {
        let Ok(mut fetcher) = self.fetcher.clone().try_lock_owned() else {
            return;
        };
        let cache = Arc::clone(self);
        tokio::spawn(async move {
            cache.refresh_locked(&mut fetcher, seen_generation).await;
        });
    }

    async fn refresh_locked(&self, fetcher: &mut Fetcher, seen_generation: u64) {
        let now = self.clock.now();
        if self.current().generation != seen_generation
            || fetcher
                .last_attempt
                .is_some_and(|t| now.saturating_duration_since(t) < MIN_REFETCH_INTERVAL)
        {
            return;
        }
        fetcher.last_attempt = Some(now);
        let result = self.fetch(fetcher).await;
        let mut snapshot = self
            .snapshot
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        snapshot.generation += 1;
        match result {
            Ok((keys, max_age)) => {
                tracing::info!(source = %self.describe(), keys = keys.len(), "JWKS fetched");
                snapshot.keys = Arc::new(keys);
                snapshot.fresh_until = Some(now + max_age);
                snapshot.last_error = None;
            }
            Err(reason) => {
                tracing::warn!(source = %self.describe(), %reason, "JWKS fetch failed");
                snapshot.last_error = Some(reason);
            }
        }
    }

    async fn fetch(&self, fetcher: &mut Fetcher) -> Result<(Vec<SigningKey>, Duration), String> {
        let uri = match (&self.source, &fetcher.jwks_uri) {
            (JwksSource::Url(url), _) => url.clone(),
            (JwksSource::Discovery { .. }, Some(uri)) => uri.clone(),
            (JwksSource::Discovery { url, issuer }, None) => {
                let uri = self.discover(url, issuer).await?;
                fetcher.jwks_uri = Some(uri.clone());
                uri
            }
        };
        let fetched = self.get(&uri).await.and_then(|(body, max_age)| {
            parse_jwks(&body)
                .map(|keys| (keys, max_age))
                .map_err(|e| format!("{uri}: {e}"))
        });
        if fetched.is_err() {
            fetcher.jwks_uri = None;
        }
        fetched
    }

    /// The `jwks_uri` of the discovery document, whose `issuer` must be ours exactly
    /// (OpenID Connect Discovery 1.0 §4.3), so a misdirected document cannot supply keys.
    async fn discover(&self, url: &Url, issuer: &str) -> Result<Url, String> {
        #[derive(Deserialize)]
        struct Discovery {
            issuer: String,
            jwks_uri: String,
        }
        let (body, _) = self.get(url).await?;
        let document: Discovery = serde_json::from_slice(&body)
            .map_err(|e| format!("{url}: not an OIDC discovery document ({e})"))?;
        if document.issuer != issuer {
            return Err(format!(
                "{url}: the discovery document's issuer {:?} is not auth.jwt.issuer {issuer:?}",
                truncated(&document.issuer)
            ));
        }
        provider_url("oidc_discovery_url", &document.jwks_uri)
            .map_err(|e| format!("{url}: jwks_uri: {}", e.message))
    }

    async fn get(&self, url: &Url) -> Result<(Vec<u8>, Duration), String> {
        let mut response = self
            .http
            .get(url.clone())
            .header(ACCEPT, "application/json")
            .timeout(FETCH_TIMEOUT)
            .send()
            .await
            .map_err(|e| format!("GET {url}: {e}"))?;
        if !response.status().is_success() {
            return Err(format!("GET {url}: HTTP {}", response.status()));
        }
        let max_age = max_age(response.headers());
        let mut body = Vec::new();
        while let Some(chunk) = response
            .chunk()
            .await
            .map_err(|e| format!("GET {url}: {e}"))?
        {
            if body.len() + chunk.len() > MAX_DOCUMENT_BYTES {
                return Err(format!("GET {url}: larger than {MAX_DOCUMENT_BYTES} bytes"));
            }
            body.extend_from_slice(&chunk);
        }
        Ok((body, max_age))
    }

    #[cfg(test)]
    pub(super) fn advance_clock(&self, by: Duration) {
        *self.clock.skew.lock().unwrap() += by;
    }
}

fn unavailable(snapshot: &Snapshot) -> JwtError {
    JwtError::ProviderUnavailable(snapshot.last_error.clone().unwrap_or_else(|| {
        format!(
            "no usable provider keys; the next fetch may start {} s after the last",
            MIN_REFETCH_INTERVAL.as_secs()
        )
    }))
}

/// `Cache-Control: max-age`, clamped; `no-cache`/`no-store` mean the shortest freshness.
fn max_age(headers: &HeaderMap) -> Duration {
    let Some(value) = headers.get(CACHE_CONTROL).and_then(|v| v.to_str().ok()) else {
        return DEFAULT_MAX_AGE;
    };
    let mut age = DEFAULT_MAX_AGE;
    for directive in value.split(',').map(str::trim) {
        if let Some(seconds) = directive.strip_prefix("max-age=") {
            age = seconds
                .parse()
                .map(Duration::from_secs)
                .unwrap_or(DEFAULT_MAX_AGE);
        } else if directive == "no-cache" || directive == "no-store" {
            return MIN_MAX_AGE;
        }
    }
    age.clamp(MIN_MAX_AGE, MAX_MAX_AGE)
}

/// The usable signature keys of a JWKS document; other keys are skipped (encryption keys,
/// `oct` and `OKP` keys, RSA under 2048 bits, unknown curves, `alg` not matching the key).
fn parse_jwks(body: &[u8]) -> Result<Vec<SigningKey>, String> {
    #[derive(Deserialize)]
    struct JwkSet {
        keys: Vec<Value>,
    }
    let set: JwkSet =
        serde_json::from_slice(body).map_err(|e| format!("not a JWKS document ({e})"))?;
    let keys: Vec<SigningKey> = set
        .keys
        .into_iter()
        .take(MAX_KEYS)
        .filter_map(|value| serde_json::from_value::<RawJwk>(value).ok())
        .filter_map(signing_key)
        .collect();
    if keys.is_empty() {
        return Err("the JWKS holds no usable RSA or EC signature key".into());
    }
    Ok(keys)
}

#[derive(Deserialize)]
struct RawJwk {
    kty: String,
    kid: Option<String>,
    alg: Option<String>,
    #[serde(rename = "use")]
    usage: Option<String>,
    key_ops: Option<Vec<String>>,
    n: Option<String>,
    e: Option<String>,
    crv: Option<String>,
    x: Option<String>,
    y: Option<String>,
}

fn signing_key(jwk: RawJwk) -> Option<SigningKey> {
    if jwk.usage.as_deref().is_some_and(|u| u != "sig")
        || jwk
            .key_ops
            .as_ref()
            .is_some_and(|ops| !ops.iter().any(|op| op == "verify"))
    {
        return None;
    }
    let decoded_len = |part: &Option<String>| {
        part.as_deref()
            .and_then(|p| URL_SAFE_NO_PAD.decode(p).ok())
            .map(|bytes| bytes.len() - bytes.iter().take_while(|b| **b == 0).count())
    };
    let (allowed, key) = match jwk.kty.as_str() {
        "RSA" => {
            if decoded_len(&jwk.n)? < MIN_RSA_MODULUS_BYTES {
                return None;
            }
            let key = DecodingKey::from_rsa_components(jwk.n.as_deref()?, jwk.e.as_deref()?);
            let algorithms = vec![Algorithm::RS256, Algorithm::RS384, Algorithm::PS256];
            (algorithms, key.ok()?)
        }
        "EC" => {
            let (alg, size) = match jwk.crv.as_deref()? {
                "P-256" => (Algorithm::ES256, 32),
                "P-384" => (Algorithm::ES384, 48),
                _ => return None,
            };
            // Coordinates have a fixed length; anything else is not a point on this curve.
            let fixed = |part: &Option<String>| {
                part.as_deref()
                    .and_then(|p| URL_SAFE_NO_PAD.decode(p).ok())
                    .is_some_and(|bytes| bytes.len() == size)
            };
            if !fixed(&jwk.x) || !fixed(&jwk.y) {
                return None;
            }
            let key = DecodingKey::from_ec_components(jwk.x.as_deref()?, jwk.y.as_deref()?);
            (vec![alg], key.ok()?)
        }
        _ => return None,
    };
    let algorithms = match jwk.alg.as_deref() {
        None => allowed,
        Some(name) => {
            let alg: Algorithm = name.parse().ok()?;
            if !allowed.contains(&alg) {
                return None;
            }
            vec![alg]
        }
    };
    Some(SigningKey {
        kid: jwk.kid,
        algorithms,
        key,
    })
}

/// `Instant::now`, shifted forward by tests to cross the rate limit and freshness.
#[derive(Default)]
struct Clock {
    #[cfg(test)]
    skew: std::sync::Mutex<Duration>,
}

impl Clock {
    fn now(&self) -> Instant {
        #[cfg(test)]
        return Instant::now() + *self.skew.lock().unwrap();
        #[cfg(not(test))]
        Instant::now()
    }
}
