//! Authentication (credentials → principal), users, API keys, project members and browser
//! sessions.
//!
//! Authenticated principals are cached for `auth.cache_seconds` by credential, so a request
//! with a known key costs no database read and a Basic password no Argon2 run; a key's
//! revocation or a user's change on this instance empties the cache at once, on other
//! instances within that time. Failed logins are rate limited per client IP and every
//! principal's requests per principal (token buckets, `governor`).

use std::collections::HashMap;
use std::net::IpAddr;
use std::num::NonZeroU32;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota};
use serde::{Deserialize, Serialize};

use crate::actor::Actor;
use crate::audit::{Event, with_event};
use crate::auth::jwt::{JwtError, JwtVerifier};
use crate::auth::secrets::{self, constant_time_eq, secret_hash};
use crate::auth::{Credential, Principal, PrincipalKind, Role};
use crate::config::AuthConfig;
use crate::error::{Error, Result};
use crate::store::identity::{ApiKeyRecord, MemberRecord, SessionRecord, UserRecord, UserRef};

use super::Services;

/// Credentials as a request presents them.
#[derive(Clone)]
pub enum Presented {
    /// `Authorization: Bearer …`: an API key or a JWT.
    Bearer(String),
    /// `Authorization: Basic …`: a user name with a password or an API key.
    Basic { user: String, secret: String },
    /// The UI's session cookie.
    Session(String),
}

/// Why credentials were refused; the client only ever sees "invalid credentials".
const INVALID: &str = "invalid credentials: pass an API key or JWT as 'Authorization: Bearer …', or \
                       'Authorization: Basic' with a user name and a password or API key";

/// Authenticated principals by credential, and the rate limiters.
pub struct Authenticator {
    ttl: Duration,
    cache: Mutex<HashMap<String, (Instant, Arc<Principal>)>>,
    per_principal: Option<DefaultKeyedRateLimiter<String>>,
    failed_logins: DefaultKeyedRateLimiter<IpAddr>,
    /// Bearer JWTs, when `[auth.jwt]` names a key source.
    jwt: Option<JwtVerifier>,
}

impl Authenticator {
    pub fn new(config: &AuthConfig) -> Result<Authenticator> {
        let limits = &config.rate_limit;
        let per_principal = NonZeroU32::new(limits.requests_per_second).map(|rate| {
            let burst = NonZeroU32::new(limits.burst).unwrap_or(rate);
            DefaultKeyedRateLimiter::keyed(Quota::per_second(rate).allow_burst(burst))
        });
        let failed = NonZeroU32::new(limits.failed_logins_per_minute).unwrap_or(NonZeroU32::MIN);
        // Built only with a JWKS to fetch (building a client loads the root certificates).
        let http = || {
            crate::install_crypto_provider();
            reqwest::Client::builder()
                .timeout(Duration::from_secs(5))
                .build()
                .map_err(|e| Error::internal(format!("cannot build the JWKS HTTP client: {e}")))
        };
        Ok(Authenticator {
            ttl: Duration::from_secs(config.cache_seconds),
            cache: Mutex::new(HashMap::new()),
            per_principal,
            failed_logins: DefaultKeyedRateLimiter::keyed(Quota::per_minute(failed)),
            jwt: JwtVerifier::new(&config.jwt, http)?,
        })
    }

    /// The JWT verifier, if configured (to warm its key cache at start-up).
    pub fn jwt(&self) -> Option<&JwtVerifier> {
        self.jwt.as_ref()
    }

    fn cached(&self, key: &str) -> Option<Arc<Principal>> {
        let cache = self.cache.lock().unwrap_or_else(|p| p.into_inner());
        cache
            .get(key)
            .filter(|(at, _)| at.elapsed() < self.ttl)
            .map(|(_, principal)| principal.clone())
    }

    fn remember(&self, key: String, principal: Arc<Principal>) {
        if self.ttl.is_zero() {
            return;
        }
        let mut cache = self.cache.lock().unwrap_or_else(|p| p.into_inner());
        if cache.len() > 10_000 {
            cache.retain(|_, (at, _)| at.elapsed() < self.ttl);
        }
        cache.insert(key, (Instant::now(), principal));
    }

    /// Forgets every cached principal (after a change of users, keys or members).
    pub fn forget_all(&self) {
        self.cache.lock().unwrap_or_else(|p| p.into_inner()).clear();
    }

    /// Takes one request from the principal's bucket.
    pub fn admit(&self, principal: &Principal) -> Result<()> {
        let Some(limiter) = &self.per_principal else {
            return Ok(());
        };
        limiter.check_key(&principal.user_id).map_err(|not_until| {
            metrics::counter!("ets_rate_limited_total", "kind" => "principal").increment(1);
            Error::RateLimited {
                message: format!(
                    "too many requests from '{}' (auth.rate_limit.requests_per_second)",
                    principal.name
                ),
                retry_after_seconds: seconds_until(
                    not_until.wait_time_from(DefaultClock::default().now()),
                ),
            }
        })
    }

    /// Counts a failed login from `ip`; refuses with 429 once its bucket is empty.
    fn failed_login(&self, ip: Option<IpAddr>) -> Error {
        metrics::counter!("ets_auth_failures_total").increment(1);
        let Some(ip) = ip else {
            return Error::Unauthenticated(INVALID.into());
        };
        if self.failed_logins.len() > 100_000 {
            self.failed_logins.retain_recent();
        }
        match self.failed_logins.check_key(&ip) {
            Ok(()) => Error::Unauthenticated(INVALID.into()),
            Err(not_until) => {
                metrics::counter!("ets_rate_limited_total", "kind" => "failed_login").increment(1);
                Error::RateLimited {
                    message: "too many failed logins from this address (auth.rate_limit.failed_logins_per_minute)"
                        .into(),
                    retry_after_seconds: seconds_until(not_until.wait_time_from(DefaultClock::default().now())),
                }
            }
        }
    }
}

/// Who a failed login claimed to be, without its secret: the user name of Basic credentials,
/// the public id of an API key, else nothing.
fn claimed_identity(presented: &Presented) -> String {
    match presented {
        Presented::Basic { user, .. } => user.clone(),
        Presented::Bearer(token) => secrets::parse_api_key(token)
            .map(|(id, _)| format!("api key {id}"))
            .unwrap_or_default(),
        Presented::Session(_) => String::new(),
    }
}

fn seconds_until(wait: Duration) -> u64 {
    wait.as_secs() + u64::from(wait.subsec_nanos() > 0)
}

fn now_millis() -> i64 {
    ets_domain::Timestamp::now().millis()
}

fn principal_of(
    user: &UserRecord,
    roles: Vec<(String, Role)>,
    credential: Credential,
) -> Principal {
    Principal {
        user_id: user.id.clone(),
        name: user.name.clone(),
        kind: user.kind,
        global_admin: user.global_admin,
        roles: roles.into_iter().collect(),
        credential,
    }
}

impl Services {
    /// Turns presented credentials into a principal (401 when they are not valid; 429 when
    /// this client failed too often).
    pub async fn authenticate(
        &self,
        presented: Presented,
        ip: Option<IpAddr>,
    ) -> Result<Arc<Principal>> {
        let claimed = claimed_identity(&presented);
        let outcome = match presented {
            Presented::Bearer(token) => match secrets::parse_api_key(&token) {
                Some(_) => self.login_with_key(&token, None).await,
                None => self.login_with_jwt(&token).await,
            },
            Presented::Basic { user, secret } => match secrets::parse_api_key(&secret) {
                Some(_) => self.login_with_key(&secret, Some(&user)).await,
                None => self.login_with_password(&user, &secret).await,
            },
            Presented::Session(token) => self.login_with_session(&token).await,
        };
        match outcome {
            Ok(principal) => {
                self.auth.admit(&principal)?;
                Ok(principal)
            }
            Err(Error::Unauthenticated(_)) => {
                let refusal = self.auth.failed_login(ip);
                // Recorded until the address is rate limited, so the trail's growth is bounded.
                if matches!(refusal, Error::Unauthenticated(_)) {
                    self.record_failed_login(&claimed, ip).await;
                }
                Err(refusal)
            }
            Err(other) => Err(other),
        }
    }

    /// Writes the audit record of a failed login (a failure to write it is logged: it must
    /// not turn a 401 into a 500).
    async fn record_failed_login(&self, claimed: &str, ip: Option<IpAddr>) {
        let event = Event::new("login.failed", "user", claimed)
            .detail("client_ip", ip.map(|ip| ip.to_string()));
        if let Err(e) = with_event(event, self.store.append_audit()).await {
            tracing::warn!(error = %e, "cannot record a failed login in the audit trail");
        }
    }

    async fn login_with_key(&self, text: &str, user: Option<&str>) -> Result<Arc<Principal>> {
        let refused = || Error::Unauthenticated(INVALID.into());
        let (key_id, secret) = secrets::parse_api_key(text).ok_or_else(refused)?;
        let presented_hash = secret_hash(secret);
        let cache_key = format!("key:{key_id}:{}", hex::encode(&presented_hash));
        let principal = match self.auth.cached(&cache_key) {
            Some(principal) => principal,
            None => {
                let login = self.store.key_login(key_id).await?.ok_or_else(refused)?;
                let now = now_millis();
                let usable = constant_time_eq(&login.key.secret_hash, &presented_hash)
                    && login.key.revoked_at.is_none()
                    && login.key.expires_at.is_none_or(|at| at > now)
                    && !login.user.disabled;
                if !usable {
                    return Err(refused());
                }
                self.store.touch_api_key(key_id, now).await?;
                let credential = Credential::ApiKey {
                    key_id: key_id.to_owned(),
                };
                let principal = Arc::new(principal_of(&login.user, login.roles, credential));
                self.auth.remember(cache_key, principal.clone());
                principal
            }
        };
        match user {
            Some(user) if user != principal.name => Err(refused()),
            _ => Ok(principal),
        }
    }

    /// A JWT's user is created on first sight (no password; it logs in through the identity
    /// provider); its roles are its memberships plus what its groups grant.
    async fn login_with_jwt(&self, token: &str) -> Result<Arc<Principal>> {
        let refused = || Error::Unauthenticated(INVALID.into());
        let Some(jwt) = &self.auth.jwt else {
            return Err(refused());
        };
        let cache_key = format!("jwt:{}", hex::encode(secret_hash(token)));
        if let Some(principal) = self.auth.cached(&cache_key) {
            return Ok(principal);
        }
        let identity = match jwt.verify(token).await {
            Ok(identity) => identity,
            Err(JwtError::NotJwt) => return Err(refused()),
            Err(JwtError::Invalid(reason)) => {
                tracing::info!(reason, "bearer JWT refused");
                return Err(Error::Unauthenticated(JwtError::CLIENT_MESSAGE.into()));
            }
            Err(JwtError::ProviderUnavailable(reason)) => {
                return Err(Error::Unavailable(format!(
                    "the identity provider's keys cannot be fetched, so the token cannot be checked; retry later ({reason})"
                )));
            }
        };
        let user = match self
            .store
            .get_user(UserRef::Name(identity.username.clone()))
            .await
        {
            Ok(user) => user,
            Err(Error::NotFound { .. }) => self.first_sight(&identity.username).await?,
            Err(other) => return Err(other),
        };
        if user.disabled {
            return Err(refused());
        }
        let grants = jwt.grants(&identity);
        let mut roles = self.store.user_roles(&user.id).await?;
        for (project, role) in grants.project_roles {
            if let Some(id) = self.project_id_named(&project).await? {
                roles.push((id, role));
            }
        }
        let mut principal = principal_of(&user, Vec::new(), Credential::Jwt);
        for (project, role) in roles {
            let entry = principal.roles.entry(project).or_insert(role);
            *entry = (*entry).max(role);
        }
        principal.global_admin |= grants.global_admin;
        let principal = Arc::new(principal);
        self.auth.remember(cache_key, principal.clone());
        Ok(principal)
    }

    /// Creates the user a verified JWT names (a concurrent first request may win the race).
    async fn first_sight(&self, name: &str) -> Result<UserRecord> {
        let now = now_millis();
        let created = self
            .store
            .create_user(UserRecord {
                id: uuid::Uuid::now_v7().simple().to_string(),
                name: name.to_owned(),
                kind: PrincipalKind::User,
                password_hash: None,
                global_admin: false,
                disabled: false,
                created_at: now,
                updated_at: now,
            })
            .await;
        match created {
            Ok(user) => Ok(user),
            Err(Error::AlreadyExists { .. }) => {
                self.store.get_user(UserRef::Name(name.to_owned())).await
            }
            Err(other) => Err(other),
        }
    }

    /// The id of the project with this name, if one exists.
    async fn project_id_named(&self, name: &str) -> Result<Option<String>> {
        let filter = crate::store::ProjectFilter {
            name: Some(name.to_owned()),
            ..Default::default()
        };
        let page = self.page_request(&super::ListParams {
            page_size: Some(1),
            ..Default::default()
        })?;
        Ok(self
            .store
            .list_projects(filter, page)
            .await?
            .items
            .into_iter()
            .next()
            .map(|p| p.id))
    }

    async fn login_with_password(&self, name: &str, password: &str) -> Result<Arc<Principal>> {
        let refused = || Error::Unauthenticated(INVALID.into());
        let cache_key = format!(
            "password:{}",
            hex::encode(secret_hash(&format!("{name}\0{password}")))
        );
        if let Some(principal) = self.auth.cached(&cache_key) {
            return Ok(principal);
        }
        let user = match self.store.get_user(UserRef::Name(name.to_owned())).await {
            Ok(user) => user,
            Err(Error::NotFound { .. }) => return Err(refused()),
            Err(other) => return Err(other),
        };
        let hash = user.password_hash.clone().ok_or_else(refused)?;
        let password = password.to_owned();
        let matches =
            tokio::task::spawn_blocking(move || secrets::verify_password(&password, &hash))
                .await
                .map_err(Error::internal)?;
        if !matches || user.disabled {
            return Err(refused());
        }
        let roles = self.store.user_roles(&user.id).await?;
        let principal = Arc::new(principal_of(&user, roles, Credential::Password));
        self.auth.remember(cache_key, principal.clone());
        Ok(principal)
    }

    async fn login_with_session(&self, token: &str) -> Result<Arc<Principal>> {
        let refused = || Error::Unauthenticated(INVALID.into());
        let session = self
            .store
            .get_session(&secret_hash(token))
            .await?
            .filter(|s| s.expires_at > now_millis())
            .ok_or_else(refused)?;
        let user = self.store.get_user(UserRef::Id(session.user_id)).await?;
        if user.disabled {
            return Err(refused());
        }
        let roles = self.store.user_roles(&user.id).await?;
        Ok(Arc::new(principal_of(&user, roles, Credential::Session)))
    }

    /// The CSRF token of a session, for the double-submit check of state-changing requests.
    pub async fn session_csrf_token(&self, token: &str) -> Result<Option<String>> {
        Ok(self
            .store
            .get_session(&secret_hash(token))
            .await?
            .map(|s| s.csrf_token))
    }
}

// ---- users

/// `POST /api/v1/auth/users` and `ets users create`.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewUser {
    pub name: String,
    /// `user` (default) or `service_account` (API keys only, no password).
    #[serde(default)]
    pub kind: Option<PrincipalKind>,
    /// Admin of every project, of users and of the audit trail.
    #[serde(default)]
    pub global_admin: bool,
    /// At least 12 characters; omit to have one generated (users) and shown once.
    #[serde(default)]
    pub password: Option<String>,
}

/// `PATCH /api/v1/auth/users/{name}`.
#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UserPatch {
    pub global_admin: Option<bool>,
    pub disabled: Option<bool>,
    pub password: Option<String>,
}

/// A user as the API shows it (never a hash).
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct User {
    pub id: String,
    pub name: String,
    pub kind: PrincipalKind,
    pub global_admin: bool,
    pub disabled: bool,
    pub has_password: bool,
    pub created_at: i64,
    pub updated_at: i64,
}

impl From<UserRecord> for User {
    fn from(u: UserRecord) -> Self {
        User {
            id: u.id,
            name: u.name,
            kind: u.kind,
            global_admin: u.global_admin,
            disabled: u.disabled,
            has_password: u.password_hash.is_some(),
            created_at: u.created_at,
            updated_at: u.updated_at,
        }
    }
}

/// A created user, with the generated password when one was generated (shown this once).
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct CreatedUser {
    pub user: User,
    pub generated_password: Option<String>,
}

/// A user name follows one rule, whether typed by an admin or taken from a token
/// ([`crate::auth::jwt::is_valid_username`]).
pub fn validate_user_name(name: &str) -> Result<()> {
    if crate::auth::jwt::is_valid_username(name) {
        Ok(())
    } else {
        Err(Error::invalid(
            "name",
            "a user name has 1 to 128 ASCII letters, digits or '. _ - @ + | :' and starts with a letter or digit",
        ))
    }
}

/// Argon2id takes tens of milliseconds of CPU: it runs on the blocking pool, not on the
/// request's worker thread.
async fn hash_off_thread(password: Option<String>) -> Result<Option<String>> {
    let Some(password) = password else {
        return Ok(None);
    };
    tokio::task::spawn_blocking(move || secrets::hash_password(&password))
        .await
        .map_err(Error::internal)?
        .map(Some)
}

/// Only global admins (or ETS itself, or anyone while auth is off) manage users.
fn require_admin(actor: &Actor) -> Result<()> {
    if actor.is_unrestricted() {
        Ok(())
    } else {
        Err(Error::Forbidden("only global admins manage users".into()))
    }
}

impl Services {
    pub async fn create_user(&self, actor: &Actor, input: NewUser) -> Result<CreatedUser> {
        require_admin(actor)?;
        validate_user_name(&input.name)?;
        let kind = input.kind.unwrap_or(PrincipalKind::User);
        let (password, generated) = match (kind, input.password) {
            (PrincipalKind::ServiceAccount, Some(_)) => {
                return Err(Error::invalid(
                    "password",
                    "service accounts authenticate with API keys only",
                ));
            }
            (PrincipalKind::ServiceAccount, None) => (None, None),
            (PrincipalKind::User, Some(password)) => (Some(password), None),
            (PrincipalKind::User, None) => {
                let password = secrets::random_token(18);
                (Some(password.clone()), Some(password))
            }
        };
        let password_hash = hash_off_thread(password).await?;
        let now = now_millis();
        let record = self
            .store
            .create_user(UserRecord {
                id: uuid::Uuid::now_v7().simple().to_string(),
                name: input.name,
                kind,
                password_hash,
                global_admin: input.global_admin,
                disabled: false,
                created_at: now,
                updated_at: now,
            })
            .await?;
        Ok(CreatedUser {
            user: record.into(),
            generated_password: generated,
        })
    }

    pub async fn list_users(&self, actor: &Actor) -> Result<Vec<User>> {
        require_admin(actor)?;
        Ok(self
            .store
            .list_users()
            .await?
            .into_iter()
            .map(User::from)
            .collect())
    }

    pub async fn get_user(&self, actor: &Actor, name: &str) -> Result<User> {
        require_admin(actor)?;
        Ok(self
            .store
            .get_user(UserRef::Name(name.to_owned()))
            .await?
            .into())
    }

    pub async fn update_user(&self, actor: &Actor, name: &str, patch: UserPatch) -> Result<User> {
        require_admin(actor)?;
        if actor.principal().is_some_and(|p| p.name == name)
            && (patch.disabled == Some(true) || patch.global_admin == Some(false))
        {
            return Err(Error::Conflict(
                "you cannot disable yourself or drop your own admin rights; ask another admin"
                    .into(),
            ));
        }
        let password_hash = hash_off_thread(patch.password).await?;
        let updated = self
            .store
            .update_user(
                UserRef::Name(name.to_owned()),
                Box::new(move |user| {
                    if let Some(admin) = patch.global_admin {
                        user.global_admin = admin;
                    }
                    if let Some(disabled) = patch.disabled {
                        user.disabled = disabled;
                    }
                    if let Some(hash) = password_hash {
                        if user.kind == PrincipalKind::ServiceAccount {
                            return Err(Error::invalid(
                                "password",
                                "service accounts authenticate with API keys only",
                            ));
                        }
                        user.password_hash = Some(hash);
                    }
                    user.updated_at = now_millis();
                    Ok(())
                }),
            )
            .await?;
        self.auth.forget_all();
        Ok(updated.into())
    }
}

// ---- API keys

/// `POST /api/v1/auth/keys`.
#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewApiKey {
    /// What the key is for, e.g. `ci` (default `default`).
    #[serde(default)]
    pub name: Option<String>,
    /// Days until the key stops working; omit for no expiry.
    #[serde(default)]
    pub expires_in_days: Option<u32>,
    /// Another user's name (global admins only); default: the caller.
    #[serde(default)]
    pub user: Option<String>,
}

/// An API key as listed: never its secret.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ApiKey {
    pub id: String,
    pub name: String,
    pub user_id: String,
    pub created_at: i64,
    pub expires_at: Option<i64>,
    pub last_used_at: Option<i64>,
    pub revoked_at: Option<i64>,
}

impl From<ApiKeyRecord> for ApiKey {
    fn from(k: ApiKeyRecord) -> Self {
        ApiKey {
            id: k.id,
            name: k.name,
            user_id: k.user_id,
            created_at: k.created_at,
            expires_at: k.expires_at,
            last_used_at: k.last_used_at,
            revoked_at: k.revoked_at,
        }
    }
}

/// A created key: `key` is the secret, shown this once.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct CreatedApiKey {
    #[serde(flatten)]
    pub info: ApiKey,
    pub key: String,
}

impl Services {
    /// The user whose keys a request manages: the caller, or (global admins) another.
    async fn key_owner(&self, actor: &Actor, user: Option<&str>) -> Result<UserRecord> {
        let own = actor.principal().map(|p| p.name.clone());
        let name = match (user, own) {
            (Some(user), Some(own)) if own == user => own,
            (Some(user), _) => {
                require_admin(actor).map_err(|_| {
                    Error::Forbidden("only global admins manage other users' keys".into())
                })?;
                user.to_owned()
            }
            (None, Some(own)) => own,
            (None, None) => {
                return Err(Error::BadRequest(
                    "name the user whose keys to manage (`user`): this caller is not a user".into(),
                ));
            }
        };
        self.store.get_user(UserRef::Name(name)).await
    }

    pub async fn create_api_key(&self, actor: &Actor, input: NewApiKey) -> Result<CreatedApiKey> {
        let owner = self.key_owner(actor, input.user.as_deref()).await?;
        let name = input.name.unwrap_or_else(|| "default".into());
        ets_domain::validate::key("name", &name)?;
        let now = now_millis();
        let expires_at = match input.expires_in_days {
            Some(0) => return Err(Error::invalid("expires_in_days", "must be at least 1")),
            Some(days) => Some(now + i64::from(days) * 86_400_000),
            None => None,
        };
        let key = secrets::generate_api_key();
        let record = self
            .store
            .create_api_key(ApiKeyRecord {
                id: key.id,
                user_id: owner.id,
                name,
                secret_hash: key.secret_hash,
                created_at: now,
                expires_at,
                last_used_at: None,
                revoked_at: None,
            })
            .await?;
        Ok(CreatedApiKey {
            info: record.into(),
            key: key.text,
        })
    }

    pub async fn list_api_keys(&self, actor: &Actor, user: Option<&str>) -> Result<Vec<ApiKey>> {
        let owner = self.key_owner(actor, user).await?;
        Ok(self
            .store
            .list_api_keys(&owner.id)
            .await?
            .into_iter()
            .map(ApiKey::from)
            .collect())
    }

    pub async fn revoke_api_key(
        &self,
        actor: &Actor,
        key_id: &str,
        user: Option<&str>,
    ) -> Result<ApiKey> {
        let owner = self.key_owner(actor, user).await?;
        let key = self
            .store
            .revoke_api_key(&owner.id, key_id, now_millis())
            .await?;
        self.auth.forget_all();
        Ok(key.into())
    }
}

// ---- members

/// A project member as the API shows it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Member {
    pub user: String,
    pub role: Role,
    pub created_at: i64,
    pub updated_at: i64,
}

impl From<MemberRecord> for Member {
    fn from(m: MemberRecord) -> Self {
        Member {
            user: m.user_name,
            role: m.role,
            created_at: m.created_at,
            updated_at: m.updated_at,
        }
    }
}

/// `PUT /api/v1/projects/{id}/members/{user}`.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SetMemberRole {
    pub role: Role,
}

impl Services {
    pub async fn list_members(&self, actor: &Actor, project_id: &str) -> Result<Vec<Member>> {
        self.authorize_project(actor, project_id).await?;
        Ok(self
            .store
            .list_members(project_id)
            .await?
            .into_iter()
            .map(Member::from)
            .collect())
    }

    /// Gives `user` `role` on the project (`None` removes the member).
    pub async fn set_member(
        &self,
        actor: &Actor,
        project_id: &str,
        user: &str,
        role: Option<Role>,
    ) -> Result<Option<Member>> {
        self.authorize_project(actor, project_id).await?;
        let member = self
            .store
            .set_member(
                project_id,
                UserRef::Name(user.to_owned()),
                role,
                now_millis(),
            )
            .await?;
        self.auth.forget_all();
        Ok(member.map(Member::from))
    }
}

// ---- sessions

/// A started browser session: the cookie's token and the CSRF token the UI echoes in
/// `X-CSRF-Token` on every state-changing request.
pub struct StartedSession {
    pub token: String,
    pub csrf_token: String,
    pub max_age_seconds: u64,
    pub user: User,
}

impl Services {
    /// Logs in with a user name and password (the UI's login form).
    pub async fn login(
        &self,
        name: &str,
        password: &str,
        ip: Option<IpAddr>,
    ) -> Result<StartedSession> {
        let principal = self
            .authenticate(
                Presented::Basic {
                    user: name.to_owned(),
                    secret: password.to_owned(),
                },
                ip,
            )
            .await?;
        let user = self
            .store
            .get_user(UserRef::Id(principal.user_id.clone()))
            .await?;
        let token = secrets::random_token(32);
        let csrf_token = secrets::random_token(32);
        let now = now_millis();
        let max_age_seconds = self.config.auth.session_hours * 3600;
        self.store
            .create_session(SessionRecord {
                token_hash: secret_hash(&token),
                user_id: user.id.clone(),
                csrf_token: csrf_token.clone(),
                created_at: now,
                expires_at: now + max_age_seconds as i64 * 1000,
            })
            .await?;
        Ok(StartedSession {
            token,
            csrf_token,
            max_age_seconds,
            user: user.into(),
        })
    }

    pub async fn logout(&self, token: &str) -> Result<()> {
        self.store.delete_session(&secret_hash(token)).await
    }
}
