//! JWT verification against a loopback identity provider (discovery document + JWKS, with
//! fetch counters) and against an HS256 secret file; keys in `tests/fixtures/jwt/`.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::jwk::Jwk;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{Value, json};

use super::jwks::{MIN_REFETCH_INTERVAL, STALE_GRACE};
use super::*;
use crate::auth::Role;
use crate::config::{GroupRole, JwtConfig};

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/jwt");
const AUDIENCE: &str = "ets-api";

fn fixture(name: &str) -> Vec<u8> {
    std::fs::read(format!("{FIXTURES}/{name}")).unwrap()
}

fn now() -> i64 {
    jsonwebtoken::get_current_timestamp() as i64
}

/// A private test key with the `kid` its JWK is published under.
struct TestKey {
    kid: &'static str,
    alg: Algorithm,
    encoding: EncodingKey,
}

fn rsa1() -> TestKey {
    TestKey {
        kid: "rsa-1",
        alg: Algorithm::RS256,
        encoding: EncodingKey::from_rsa_pem(&fixture("rsa1.pem")).unwrap(),
    }
}

fn rsa2() -> TestKey {
    TestKey {
        kid: "rsa-2",
        alg: Algorithm::RS256,
        encoding: EncodingKey::from_rsa_pem(&fixture("rsa2.pem")).unwrap(),
    }
}

fn ec() -> TestKey {
    TestKey {
        kid: "ec-1",
        alg: Algorithm::ES256,
        encoding: EncodingKey::from_ec_pem(&fixture("ec_p256.pem")).unwrap(),
    }
}

fn jwk(key: &TestKey) -> Value {
    let mut jwk = Jwk::from_encoding_key(&key.encoding, key.alg).unwrap();
    jwk.common.key_id = Some(key.kid.to_owned());
    serde_json::to_value(jwk).unwrap()
}

fn jwks(keys: &[TestKey]) -> Value {
    json!({ "keys": keys.iter().map(jwk).collect::<Vec<_>>() })
}

/// Signs `claims` with `key`, naming its `kid` (or `kid` when given).
fn sign_as(key: &TestKey, alg: Algorithm, kid: Option<&str>, claims: &Value) -> String {
    let mut header = Header::new(alg);
    header.kid = Some(kid.unwrap_or(key.kid).to_owned());
    jsonwebtoken::encode(&header, claims, &key.encoding).unwrap()
}

fn sign(key: &TestKey, claims: &Value) -> String {
    sign_as(key, key.alg, None, claims)
}

/// A token with any header, signed by nobody.
fn unsigned(header: &Value, claims: &Value, signature: &str) -> String {
    let part = |v: &Value| URL_SAFE_NO_PAD.encode(serde_json::to_vec(v).unwrap());
    format!("{}.{}.{signature}", part(header), part(claims))
}

/// The loopback identity provider.
struct Provider {
    issuer: String,
    jwks: Mutex<Value>,
    cache_control: Mutex<Option<&'static str>>,
    down: AtomicBool,
    discovery_hits: AtomicUsize,
    jwks_hits: AtomicUsize,
}

impl Provider {
    fn jwks_hits(&self) -> usize {
        self.jwks_hits.load(Ordering::SeqCst)
    }

    fn claims(&self) -> Value {
        json!({
            "sub": "user-1", "iss": self.issuer, "aud": AUDIENCE,
            "exp": now() + 600, "iat": now(), "groups": ["ml-team"],
        })
    }

    fn config(&self) -> JwtConfig {
        JwtConfig {
            issuer: Some(self.issuer.clone()),
            audience: Some(AUDIENCE.into()),
            groups_claim: Some("groups".into()),
            ..JwtConfig::default()
        }
    }
}

async fn discovery(State(provider): State<Arc<Provider>>) -> Response {
    provider.discovery_hits.fetch_add(1, Ordering::SeqCst);
    let jwks_uri = format!("{}/keys", provider.issuer);
    axum::Json(json!({ "issuer": provider.issuer, "jwks_uri": jwks_uri })).into_response()
}

async fn keys(State(provider): State<Arc<Provider>>) -> Response {
    provider.jwks_hits.fetch_add(1, Ordering::SeqCst);
    if provider.down.load(Ordering::SeqCst) {
        return StatusCode::SERVICE_UNAVAILABLE.into_response();
    }
    let body = axum::Json(provider.jwks.lock().unwrap().clone());
    match *provider.cache_control.lock().unwrap() {
        Some(value) => ([(header::CACHE_CONTROL, value)], body).into_response(),
        None => body.into_response(),
    }
}

async fn start_provider() -> Arc<Provider> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let provider = Arc::new(Provider {
        issuer: format!("http://{}", listener.local_addr().unwrap()),
        jwks: Mutex::new(jwks(&[rsa1(), ec()])),
        cache_control: Mutex::new(None),
        down: AtomicBool::new(false),
        discovery_hits: AtomicUsize::new(0),
        jwks_hits: AtomicUsize::new(0),
    });
    let app = Router::new()
        .route("/.well-known/openid-configuration", get(discovery))
        .route("/keys", get(keys))
        .with_state(Arc::clone(&provider));
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    provider
}

fn verifier(config: &JwtConfig) -> JwtVerifier {
    crate::install_crypto_provider();
    JwtVerifier::new(config, || Ok(reqwest::Client::new()))
        .unwrap()
        .expect("a key source is configured")
}

fn advance(verifier: &JwtVerifier, by: Duration) {
    verifier.inner.jwks.as_ref().unwrap().advance_clock(by);
}

#[track_caller]
fn assert_invalid(result: Result<JwtIdentity, JwtError>, reason: &str) {
    match result {
        Err(JwtError::Invalid(why)) => assert!(why.contains(reason), "{why:?} lacks {reason:?}"),
        other => panic!("expected Invalid({reason:?}), got {other:?}"),
    }
}

/// Verifies `claims` with `changes` applied, signed by `key`.
async fn modified(
    verifier: &JwtVerifier,
    key: TestKey,
    claims: &Value,
    changes: Value,
) -> Result<JwtIdentity, JwtError> {
    verifier
        .verify(&sign(&key, &with(claims.clone(), changes)))
        .await
}

/// `claims` with `changes` merged in (`null` removes a claim).
fn with(mut claims: Value, changes: Value) -> Value {
    for (k, v) in changes.as_object().unwrap() {
        match v {
            Value::Null => claims.as_object_mut().unwrap().remove(k),
            v => claims.as_object_mut().unwrap().insert(k.clone(), v.clone()),
        };
    }
    claims
}

#[tokio::test]
async fn rs256_and_es256_verify_through_discovery_of_the_issuer() {
    let provider = start_provider().await;
    let verifier = verifier(&provider.config());
    let claims = provider.claims();

    let identity = verifier.verify(&sign(&rsa1(), &claims)).await.unwrap();
    assert_eq!(
        identity,
        JwtIdentity {
            username: "user-1".into(),
            subject: "user-1".into(),
            groups: vec!["ml-team".into()],
            expires_at: claims["exp"].as_i64(),
        }
    );
    let identity = verifier.verify(&sign(&ec(), &claims)).await.unwrap();
    assert_eq!(identity.subject, "user-1");
    assert_eq!(provider.discovery_hits.load(Ordering::SeqCst), 1);
    assert_eq!(provider.jwks_hits(), 1, "keys are cached");
}

#[tokio::test]
async fn jwks_url_is_fetched_directly_and_discovery_must_name_our_issuer() {
    let provider = start_provider().await;
    let direct = verifier(&JwtConfig {
        jwks_url: Some(format!("{}/keys", provider.issuer)),
        ..provider.config()
    });
    direct
        .verify(&sign(&rsa1(), &provider.claims()))
        .await
        .unwrap();
    assert_eq!(provider.discovery_hits.load(Ordering::SeqCst), 0);

    let misdirected = verifier(&JwtConfig {
        issuer: Some("https://idp.example.org".into()),
        oidc_discovery_url: Some(format!(
            "{}/.well-known/openid-configuration",
            provider.issuer
        )),
        ..provider.config()
    });
    let claims = with(provider.claims(), json!({"iss": "https://idp.example.org"}));
    match misdirected.verify(&sign(&rsa1(), &claims)).await {
        Err(JwtError::ProviderUnavailable(why)) => assert!(why.contains("issuer"), "{why}"),
        other => panic!("{other:?}"),
    }
}

/// The JWKS HTTP client is built only for a JWKS: an HS256-only or JWT-less server never loads
/// the root certificates a client needs.
#[test]
fn the_http_client_is_built_only_for_a_jwks() {
    let no_client = || -> Result<reqwest::Client, Error> { panic!("no JWKS: no HTTP client") };
    let hs256_only = JwtConfig {
        hs256_secret_file: Some(format!("{FIXTURES}/hs256_secret.txt").into()),
        ..JwtConfig::default()
    };
    assert!(JwtVerifier::new(&hs256_only, no_client).unwrap().is_some());
    assert!(
        JwtVerifier::new(&JwtConfig::default(), no_client)
            .unwrap()
            .is_none()
    );
    let with_jwks = JwtConfig {
        jwks_url: Some("https://idp.example/keys".into()),
        issuer: Some("https://idp.example".into()),
        audience: Some("ets".into()),
        ..JwtConfig::default()
    };
    let built = std::cell::Cell::new(false);
    crate::install_crypto_provider();
    let verifier = JwtVerifier::new(&with_jwks, || {
        built.set(true);
        Ok(reqwest::Client::new())
    });
    assert!(verifier.unwrap().is_some());
    assert!(built.get());
}

#[tokio::test]
async fn hs256_secret_file() {
    let config = JwtConfig {
        hs256_secret_file: Some(format!("{FIXTURES}/hs256_secret.txt").into()),
        ..JwtConfig::default()
    };
    let verifier = verifier(&config);
    // The file ends in a newline, which is not part of the secret.
    let secret = fixture("hs256_secret.txt").trim_ascii_end().to_vec();
    let key = TestKey {
        kid: "ignored",
        alg: Algorithm::HS256,
        encoding: EncodingKey::from_secret(&secret),
    };
    let claims = json!({"sub": "svc-1", "exp": now() + 60});
    let identity = verifier.verify(&sign(&key, &claims)).await.unwrap();
    assert_eq!(identity.username, "svc-1");
    assert_eq!(identity.groups, Vec::<String>::new());

    let forged = TestKey {
        encoding: EncodingKey::from_secret(b"another secret of at least 32 bytes!!"),
        ..key
    };
    assert_invalid(
        verifier.verify(&sign(&forged, &claims)).await,
        "bad signature",
    );
    // No JWKS is configured: asymmetric algorithms have no keys to be checked against.
    assert_invalid(
        verifier.verify(&sign(&rsa1(), &claims)).await,
        "not accepted",
    );
    let hs512 = sign_as(&forged, Algorithm::HS512, None, &claims);
    assert_invalid(verifier.verify(&hs512).await, "not accepted");
}

#[test]
fn hs256_secret_file_problems_name_the_key() {
    crate::install_crypto_provider();
    for (file, expected) in [
        ("missing.txt", "cannot read"),
        ("hs256_short.txt", "at least 32"),
    ] {
        let config = JwtConfig {
            hs256_secret_file: Some(format!("{FIXTURES}/{file}").into()),
            ..JwtConfig::default()
        };
        match JwtVerifier::new(&config, || Ok(reqwest::Client::new())) {
            Err(Error::Invalid(e)) => {
                assert_eq!(e.field, "auth.jwt.hs256_secret_file");
                assert!(e.message.contains(expected), "{}", e.message);
            }
            other => panic!("{other:?}"),
        }
    }
}

/// Verifies the provider's standard claims with each change applied, signed by `key`:
/// `None` expects acceptance, `Some(reason)` a refusal naming it.
async fn check_claim_changes(key: fn() -> TestKey, cases: Vec<(Value, Option<&str>)>) {
    let provider = start_provider().await;
    let verifier = verifier(&provider.config());
    let claims = provider.claims();
    for (changes, refusal) in cases {
        let result = modified(&verifier, key(), &claims, changes.clone()).await;
        match refusal {
            None => assert!(result.is_ok(), "{changes}: {result:?}"),
            Some(reason) => assert_invalid(result, reason),
        }
    }
}

#[tokio::test]
async fn time_claims_are_checked_with_a_minute_of_leeway() {
    check_claim_changes(
        rsa1,
        vec![
            (json!({"exp": now() - 120}), Some("expired")),
            (json!({"exp": now() - 30}), None),
            (json!({"exp": null}), Some("missing claim 'exp'")),
            (json!({"exp": "tomorrow"}), Some("exp")),
            (json!({"nbf": now() + 600}), Some("nbf")),
            (json!({"nbf": now() + 30}), None),
            (json!({"iat": now() + 600}), Some("iat")),
            (json!({"iat": "now"}), Some("iat")),
        ],
    )
    .await;
}

#[tokio::test]
async fn issuer_and_audience_are_checked() {
    check_claim_changes(
        ec,
        vec![
            (json!({"iss": "https://evil.example"}), Some("issuer")),
            (json!({"iss": null}), Some("missing claim 'iss'")),
            (json!({"aud": "another-app"}), Some("audience")),
            (json!({"aud": null}), Some("missing claim 'aud'")),
            (json!({"aud": ["account", AUDIENCE]}), None),
            (json!({"aud": ["account", "other"]}), Some("audience")),
            (json!({"sub": null}), Some("missing claim 'sub'")),
        ],
    )
    .await;
}

#[tokio::test]
async fn alg_none_and_unsupported_headers_are_refused() {
    let provider = start_provider().await;
    let verifier = verifier(&provider.config());
    let claims = provider.claims();
    for alg in ["none", "None", "NONE", "HS256", "RS512", "EdDSA", ""] {
        let token = unsigned(&json!({"alg": alg, "kid": "rsa-1"}), &claims, "");
        assert_invalid(verifier.verify(&token).await, "not accepted");
    }
    // A real signature, but the header demands an extension ETS does not know.
    let mut header = Header::new(Algorithm::RS256);
    header.kid = Some("rsa-1".into());
    header.crit = Some(vec!["exp".into()]);
    let token = jsonwebtoken::encode(&header, &claims, &rsa1().encoding).unwrap();
    assert_invalid(verifier.verify(&token).await, "crit");
    assert_eq!(provider.jwks_hits(), 0, "refused before any key lookup");
}

#[tokio::test]
async fn hmac_with_the_rsa_public_key_as_secret_is_refused() {
    let provider = start_provider().await;
    let public_pem = fixture("rsa1_public.pem");
    let attacker = TestKey {
        kid: "rsa-1",
        alg: Algorithm::HS256,
        encoding: EncodingKey::from_secret(&public_pem),
    };
    let claims = provider.claims();
    let token = sign(&attacker, &claims);

    // JWKS only: HS256 is not an algorithm any JWKS key may verify.
    let verifier = verifier(&provider.config());
    assert_invalid(verifier.verify(&token).await, "not accepted");
    assert_eq!(provider.jwks_hits(), 0);

    // JWKS and a secret file: HS256 is checked against the file's secret only.
    let both = JwtConfig {
        hs256_secret_file: Some(format!("{FIXTURES}/hs256_secret.txt").into()),
        ..provider.config()
    };
    assert_invalid(self::verifier(&both).verify(&token).await, "bad signature");

    // A JWKS that publishes a symmetric (`oct`) key under that kid does not help either.
    *provider.jwks.lock().unwrap() = json!({"keys": [
        {"kty": "oct", "kid": "rsa-1", "k": URL_SAFE_NO_PAD.encode(&public_pem)},
        jwk(&ec()),
    ]});
    assert_invalid(verifier.verify(&token).await, "not accepted");
    // Nor does an RS256 token naming the EC key's kid.
    let mislabelled = sign_as(&rsa1(), Algorithm::RS256, Some("ec-1"), &claims);
    assert_invalid(verifier.verify(&mislabelled).await, "no RS256 key");
}

/// A provider, a verifier that has fetched its keys once, and valid claims.
async fn warmed_up() -> (Arc<Provider>, JwtVerifier, Value) {
    let provider = start_provider().await;
    let verifier = verifier(&provider.config());
    let claims = provider.claims();
    verifier.verify(&sign(&rsa1(), &claims)).await.unwrap();
    assert_eq!(provider.jwks_hits(), 1);
    (provider, verifier, claims)
}

#[tokio::test]
async fn an_unknown_kid_refetches_once_and_finds_the_rotated_key() {
    let (provider, verifier, claims) = warmed_up().await;

    // The provider rotates to a new key; later a token signed with it arrives.
    *provider.jwks.lock().unwrap() = jwks(&[rsa2()]);
    advance(&verifier, MIN_REFETCH_INTERVAL + Duration::from_secs(1));
    let identity = verifier.verify(&sign(&rsa2(), &claims)).await.unwrap();
    assert_eq!(identity.subject, "user-1");
    assert_eq!(provider.jwks_hits(), 2, "exactly one refetch");
    verifier.verify(&sign(&rsa2(), &claims)).await.unwrap();
    assert_eq!(provider.jwks_hits(), 2, "the new key is cached");
    // The retired key is gone, and asking for it again does not refetch.
    assert_invalid(
        verifier.verify(&sign(&rsa1(), &claims)).await,
        "no RS256 key",
    );
    assert_eq!(provider.jwks_hits(), 2);
}

#[tokio::test]
async fn random_kids_cannot_make_ets_hammer_the_provider() {
    let (provider, verifier, claims) = warmed_up().await;
    for round in 0..2 {
        for i in 0..25 {
            let kid = format!("random-{round}-{i}");
            let token = sign_as(&rsa1(), Algorithm::RS256, Some(&kid), &claims);
            assert_invalid(verifier.verify(&token).await, "no RS256 key");
        }
        assert_eq!(provider.jwks_hits(), 1 + round, "one fetch per interval");
        advance(&verifier, MIN_REFETCH_INTERVAL + Duration::from_secs(1));
    }
}

#[tokio::test]
async fn concurrent_verifications_share_one_fetch() {
    let provider = start_provider().await;
    let verifier = verifier(&provider.config());
    let token = sign(&ec(), &provider.claims());
    let results = futures_util::future::join_all((0..20).map(|_| verifier.verify(&token))).await;
    assert!(results.iter().all(Result::is_ok), "{results:?}");
    assert_eq!(provider.jwks_hits(), 1);
}

#[tokio::test]
async fn keys_are_refreshed_after_their_max_age() {
    let provider = start_provider().await;
    *provider.cache_control.lock().unwrap() = Some("public, max-age=120");
    let verifier = verifier(&provider.config());
    let token = sign(&rsa1(), &provider.claims());
    verifier.verify(&token).await.unwrap();

    // Stale: the cached key still answers while a background task refetches.
    advance(&verifier, Duration::from_secs(121));
    verifier.verify(&token).await.unwrap();
    for _ in 0..500 {
        if provider.jwks_hits() == 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(provider.jwks_hits(), 2);
}

#[tokio::test]
async fn an_unreachable_provider_is_reported_as_unavailable() {
    // Nothing listens on a port just released.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let address = listener.local_addr().unwrap();
    drop(listener);
    let down = verifier(&JwtConfig {
        issuer: Some(format!("http://{address}")),
        audience: Some(AUDIENCE.into()),
        ..JwtConfig::default()
    });
    let claims =
        json!({"sub": "u", "iss": format!("http://{address}"), "aud": AUDIENCE, "exp": now() + 60});
    let token = sign(&rsa1(), &claims);
    assert!(matches!(
        down.verify(&token).await,
        Err(JwtError::ProviderUnavailable(_))
    ));
    assert!(matches!(
        down.refresh_keys().await,
        Err(JwtError::ProviderUnavailable(_))
    ));

    // A provider that goes down: cached keys carry on for their max-age and the grace time.
    let provider = start_provider().await;
    let verifier = verifier(&provider.config());
    let claims = provider.claims();
    assert_eq!(verifier.refresh_keys().await, Ok(2));
    provider.down.store(true, Ordering::SeqCst);
    advance(&verifier, MIN_REFETCH_INTERVAL + Duration::from_secs(1));
    match verifier.verify(&sign(&rsa2(), &claims)).await {
        Err(JwtError::ProviderUnavailable(why)) => assert!(why.contains("503"), "{why}"),
        other => panic!("an unknown kid while the provider is down: {other:?}"),
    }
    verifier.verify(&sign(&rsa1(), &claims)).await.unwrap();
    advance(&verifier, Duration::from_secs(3600) + STALE_GRACE);
    assert!(matches!(
        verifier.verify(&sign(&rsa1(), &claims)).await,
        Err(JwtError::ProviderUnavailable(_))
    ));
    // Back up: the next attempt recovers.
    provider.down.store(false, Ordering::SeqCst);
    advance(&verifier, MIN_REFETCH_INTERVAL + Duration::from_secs(1));
    verifier.verify(&sign(&rsa1(), &claims)).await.unwrap();
}

#[tokio::test]
async fn usernames_come_from_the_configured_claim_and_must_be_sane() {
    let provider = start_provider().await;
    let verifier = verifier(&JwtConfig {
        username_claim: Some("preferred_username".into()),
        ..provider.config()
    });
    let claims = provider.claims();
    let check = |name: Value| {
        modified(
            &verifier,
            rsa1(),
            &claims,
            json!({"preferred_username": name}),
        )
    };
    let identity = check(json!("alice@example.org")).await.unwrap();
    assert_eq!(
        (identity.username.as_str(), identity.subject.as_str()),
        ("alice@example.org", "user-1")
    );
    check(json!("auth0|5f7c8ec7c33c6c004bbafe82"))
        .await
        .unwrap();
    for bad in [
        json!("bob smith"),
        json!("../admin"),
        json!("e\u{202e}ve"),
        json!(""),
        json!("x".repeat(129)),
        json!(".hidden"),
    ] {
        assert_invalid(check(bad).await, "not a valid user name");
    }
    assert_invalid(check(json!(42)).await, "not a string");
    assert_invalid(
        check(Value::Null).await,
        "missing claim 'preferred_username'",
    );
}

#[tokio::test]
async fn groups_come_from_the_claim_and_map_to_roles() {
    let provider = start_provider().await;
    let group_roles = vec![
        grant("ml-team", "vision", "viewer"),
        grant("ml-leads", "vision", "admin"),
        grant("ml-team", "nlp", "editor"),
        grant("ets-admins", "*", "admin"),
    ];
    let verifier = verifier(&JwtConfig {
        groups_claim: Some("realm_access.roles".into()),
        group_roles: group_roles.clone(),
        ..provider.config()
    });
    let claims = with(
        provider.claims(),
        json!({"realm_access": {"roles": ["ml-team", "ml-leads", 7, "offline_access"]}}),
    );
    let identity = verifier.verify(&sign(&rsa1(), &claims)).await.unwrap();
    assert_eq!(identity.groups, ["ml-team", "ml-leads", "offline_access"]);
    assert_eq!(
        verifier.grants(&identity),
        GroupGrants {
            global_admin: false,
            project_roles: vec![("nlp".into(), Role::Editor), ("vision".into(), Role::Admin)],
        }
    );
    let admins = roles_for_groups(&["ets-admins".into()], &group_roles);
    assert!(admins.global_admin && admins.project_roles.is_empty());
    assert_eq!(
        roles_for_groups(&["ML-TEAM".into()], &group_roles),
        GroupGrants::default()
    );

    let claims = with(
        provider.claims(),
        json!({"realm_access": {"roles": {"ml-team": true}}}),
    );
    assert_invalid(
        verifier.verify(&sign(&rsa1(), &claims)).await,
        "groups_claim",
    );
}

fn grant(group: &str, project: &str, role: &str) -> GroupRole {
    GroupRole {
        group: group.into(),
        project: project.into(),
        role: role.into(),
    }
}

#[tokio::test]
async fn api_keys_and_junk_are_not_jwts() {
    let provider = start_provider().await;
    let verifier = verifier(&provider.config());
    for token in [
        "ets_k1_9f8e7d6c5b4a",
        "a.b",
        "a.b.c.d",
        "....",
        "abc.def.ghi",
        "e30.e30.",
        "e30.%%.x",
    ] {
        assert_eq!(
            verifier.verify(token).await,
            Err(JwtError::NotJwt),
            "{token}"
        );
    }
    // JWT-shaped but broken: invalid, not an API key.
    let token = sign(&rsa1(), &provider.claims());
    let tampered = format!("{}x", &token[..token.len() - 1]);
    assert!(matches!(
        verifier.verify(&tampered).await,
        Err(JwtError::Invalid(_))
    ));
    let huge = unsigned(
        &json!({"alg": "RS256"}),
        &json!({"pad": "x".repeat(20_000)}),
        "",
    );
    assert_invalid(verifier.verify(&huge).await, "longer than");
}

#[test]
fn configuration_errors_name_the_key() {
    let url = |path: &str| Some(format!("https://idp.example.org{path}"));
    let base = JwtConfig {
        issuer: url(""),
        audience: Some(AUDIENCE.into()),
        ..JwtConfig::default()
    };
    let cases = [
        (
            JwtConfig {
                jwks_url: url("/keys"),
                oidc_discovery_url: url("/.well-known/openid-configuration"),
                ..base.clone()
            },
            "auth.jwt.oidc_discovery_url",
        ),
        (
            JwtConfig {
                jwks_url: Some("http://idp.example.org/keys".into()),
                ..base.clone()
            },
            "auth.jwt.jwks_url",
        ),
        (
            JwtConfig {
                jwks_url: url("/keys"),
                issuer: None,
                ..base.clone()
            },
            "auth.jwt.issuer",
        ),
        (
            JwtConfig {
                oidc_discovery_url: url("/d"),
                issuer: None,
                ..base.clone()
            },
            "auth.jwt.issuer",
        ),
        (
            JwtConfig {
                audience: None,
                ..base.clone()
            },
            "auth.jwt.audience",
        ),
        (
            JwtConfig {
                issuer: Some("idp.example.org".into()),
                ..base.clone()
            },
            "auth.jwt.issuer",
        ),
        (
            JwtConfig {
                username_claim: Some(" ".into()),
                ..base.clone()
            },
            "auth.jwt.username_claim",
        ),
        (
            JwtConfig {
                group_roles: vec![grant("g", "p", "owner")],
                ..base.clone()
            },
            "auth.jwt.group_roles[0].role",
        ),
        (
            JwtConfig {
                group_roles: vec![grant("g", "p", "viewer"), grant("g", "*", "editor")],
                ..base.clone()
            },
            "auth.jwt.group_roles[1].role",
        ),
        (
            JwtConfig {
                group_roles: vec![grant("", "p", "viewer")],
                ..base.clone()
            },
            "auth.jwt.group_roles[0].group",
        ),
        (
            JwtConfig {
                audience: Some(AUDIENCE.into()),
                ..JwtConfig::default()
            },
            "auth.jwt.audience",
        ),
    ];
    for (config, key) in cases {
        let e = check_config(&config).unwrap_err();
        assert_eq!(e.field, key, "{config:?}: {}", e.message);
    }
    check_config(&base).unwrap();
    check_config(&JwtConfig {
        jwks_url: Some("http://127.0.0.1:8080/keys".into()),
        ..base.clone()
    })
    .unwrap();
    check_config(&JwtConfig {
        group_roles: vec![grant("g", "*", "admin")],
        ..base
    })
    .unwrap();

    crate::install_crypto_provider();
    assert!(
        JwtVerifier::new(&JwtConfig::default(), || Ok(reqwest::Client::new()))
            .unwrap()
            .is_none()
    );
}

#[test]
#[allow(clippy::result_large_err)] // figment::Jail's closure signature
fn the_configuration_loader_runs_the_check() {
    figment::Jail::expect_with(|jail| {
        jail.create_file(
            "ets.toml",
            "[auth.jwt]\nhs256_secret_file = \"s\"\n[[auth.jwt.group_roles]]\ngroup = \"g\"\nproject = \"p\"\nrole = \"boss\"\n",
        )?;
        let err = crate::config::load(Some(std::path::Path::new("ets.toml")), &Default::default())
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("auth.jwt.group_roles[0].role") && err.contains("boss"),
            "{err}"
        );
        Ok(())
    });
}

#[test]
#[allow(clippy::result_large_err)] // figment::Jail's closure signature
fn the_documented_configurations_load() {
    let doc = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../docs/security.md"
    ))
    .unwrap();
    let section = &doc[doc.find("## JWT / OIDC setup").unwrap()..];
    let blocks: Vec<&str> = section
        .split("```toml\n")
        .skip(1)
        .map(|rest| &rest[..rest.find("```").unwrap()])
        .collect();
    assert_eq!(blocks.len(), 3, "OIDC, HS256, group roles");
    // The group-role example goes with the OIDC one.
    for file in [format!("{}{}", blocks[0], blocks[2]), blocks[1].to_owned()] {
        figment::Jail::expect_with(|jail| {
            jail.create_file("ets.toml", &file)?;
            let path = std::path::Path::new("ets.toml");
            let config = crate::config::load(Some(path), &Default::default());
            assert!(config.is_ok(), "{file}\n{config:?}");
            Ok(())
        });
    }
}
