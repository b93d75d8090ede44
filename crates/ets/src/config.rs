//! Typed, layered configuration: built-in defaults (chosen by `env`) < TOML file
//! (`--config` / `ETS_CONFIG`) < `ETS_*` environment variables < command-line flags.
//!
//! Nested keys map to environment variables with `__`: `[limits] max_runs_per_experiment`
//! is `ETS_LIMITS__MAX_RUNS_PER_EXPERIMENT`. Unknown keys and malformed values stop start-up
//! with a message that names the key and where it came from.

use std::path::{Path, PathBuf};

use figment::Figment;
use figment::providers::{Env, Format, Serialized, Toml};
use serde::{Deserialize, Serialize};

use crate::database_url::{DatabaseUrl, SecretUrl};

/// Deployment environment; picks defaults (prod and staging log JSON).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Environment {
    Dev,
    Staging,
    Prod,
}

/// Log line format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Text,
    Json,
}

/// The whole configuration. Every field has a default; see README "Configuration".
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// `dev`, `staging` or `prod`.
    pub env: Environment,
    /// Address the API listens on.
    pub host: String,
    /// API port; 0 picks a free port (the chosen address is logged).
    pub port: u16,
    /// Folder for the SQLite database and local artifacts; created if missing.
    pub data_dir: PathBuf,
    /// Metadata database. Default: `sqlite://<data_dir>/ets.db`. Parsed when the configuration
    /// is loaded; may hold a password, which never prints (`Debug`, `ets config`, logs).
    pub database_url: Option<DatabaseUrl>,
    /// Apply pending database migrations when `ets serve` starts (safe with several instances
    /// starting at once: they take turns on an advisory lock). Off: the schema must be current
    /// (`ets migrate`), else start-up stops. SQLite always migrates.
    pub migrate_on_start: bool,
    /// Address of the Prometheus exposition listener (`/metrics`).
    pub metrics_host: String,
    /// Prometheus port; 0 picks a free port.
    pub metrics_port: u16,
    pub log: LogConfig,
    pub server: ServerConfig,
    pub cors: CorsConfig,
    pub limits: Limits,
    pub services: ServicesConfig,
    pub artifacts: ArtifactsConfig,
    pub live: LiveConfig,
    pub auth: AuthConfig,
    pub audit: AuditConfig,
    pub alerts: AlertsConfig,
    pub optuna: OptunaConfig,
}

/// Optuna's gRPC storage service (`crate::optuna`; README "Studies (HPO)"): Optuna scripts
/// store their studies in ETS with `GrpcStorageProxy(host=…, port=…)`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OptunaConfig {
    /// Serve Optuna's `StorageService` on this port (0 picks a free one); off when unset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub grpc_port: Option<u16>,
    /// Address it listens on (default: `host`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub grpc_host: Option<String>,
    /// The project whose studies Optuna clients see and create (created if missing); each
    /// new study gets the experiment of its name there.
    pub project: String,
    /// With authentication on: a file holding the API key that calls without credentials
    /// act as (Optuna's `GrpcStorageProxy` sends none). Without it such calls are refused;
    /// a client may still send `authorization: Bearer …` metadata.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_key_file: Option<PathBuf>,
}

/// Who may call the API (see `docs/security.md`). Off by default, and then ETS serves
/// loopback only unless `allow_anonymous` says otherwise.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuthConfig {
    /// Require credentials (API key, password or JWT) on every `/api` route but health and
    /// `/info`.
    pub enabled: bool,
    /// With auth off, still listen on a non-loopback address (`--allow-anonymous`); anyone
    /// who reaches the port may then do anything. Logged as a warning at every start.
    pub allow_anonymous: bool,
    /// How long an authenticated API key's user and roles are reused before they are read
    /// again (a revocation on another instance takes effect within this time; on the same
    /// instance at once).
    pub cache_seconds: u64,
    /// Lifetime of a browser session (the UI's login cookie).
    pub session_hours: u64,
    pub jwt: JwtConfig,
    pub rate_limit: RateLimitConfig,
}

/// Bearer JWTs from an identity provider (OIDC) or signed with a shared HS256 secret
/// (`auth::jwt`; setup in `docs/security.md`, "JWT / OIDC setup"). Checked at load by
/// `auth::jwt::check_config`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JwtConfig {
    /// Required `iss` claim. Alone (no `jwks_url`, `oidc_discovery_url` or
    /// `hs256_secret_file`), ETS reads `<issuer>/.well-known/openid-configuration` for the
    /// JWKS. Required with any JWKS.
    pub issuer: Option<String>,
    /// Required `aud` claim (a string, or one entry of an array). Required with any JWKS, so
    /// tokens the provider issues for other applications are refused.
    pub audience: Option<String>,
    /// JWKS URL (RS256/RS384/PS256/ES256/ES384 keys); https, or http to loopback only. Keys
    /// are cached for the response's max-age (default 1 h) and refetched on an unknown `kid`
    /// (at most once per 30 s).
    pub jwks_url: Option<String>,
    /// OIDC discovery document naming the JWKS (`jwks_uri`); its `issuer` must equal
    /// `issuer`. Not together with `jwks_url`.
    pub oidc_discovery_url: Option<String>,
    /// A file holding the HS256 secret, at least 32 bytes (trailing whitespace is ignored);
    /// never the secret itself in the configuration. May be combined with a JWKS: HS256
    /// tokens are checked against this secret only.
    pub hs256_secret_file: Option<PathBuf>,
    /// Claim naming the ETS user (default `sub`; e.g. `preferred_username` or `email`). Its
    /// value must be 1–128 of `A-Z a-z 0-9 . _ - @ + | :`, else the token is refused.
    pub username_claim: Option<String>,
    /// Claim listing the caller's groups (e.g. `groups`; a dotted path such as
    /// `realm_access.roles` reaches into nested objects); mapped to roles by `group_roles`.
    pub groups_claim: Option<String>,
    /// Roles granted by group membership; the highest role wins per project.
    pub group_roles: Vec<GroupRole>,
}

/// A group of the identity provider granted a role: on a project (by name) or, with
/// `project = "*"` and `role = "admin"`, global admin.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GroupRole {
    pub group: String,
    pub project: String,
    /// `viewer`, `editor` or `admin`.
    pub role: String,
}

/// Token buckets per principal and per client IP (failed logins); a refusal is 429 with
/// `Retry-After`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RateLimitConfig {
    /// Sustained requests per second of one authenticated principal; 0 turns it off.
    pub requests_per_second: u32,
    /// Requests a principal may send at once above the sustained rate.
    pub burst: u32,
    /// Failed logins one client IP may make per minute (then 429 until the bucket refills).
    pub failed_logins_per_minute: u32,
}

/// The tamper-evident audit trail of state changes (always on).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuditConfig {
    /// Reads audited besides every write: `healthcare` (reads of healthcare experiments'
    /// data, the default), `all` or `none`.
    pub reads: AuditReads,
}

/// Alert rules and their webhooks (`crate::alerts`; docs/healthcare.md, "Alerts").
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AlertsConfig {
    /// Evaluate alert rules and deliver webhooks on this instance. Off: rules are stored but
    /// nothing fires here (another instance may still evaluate them).
    pub enabled: bool,
    /// Every this often, rules are judged on running runs and runs active since the previous
    /// sweep (stale runs; anything a restart missed). Writes are judged at once anyway.
    pub sweep_seconds: u64,
    /// A webhook receiver gets this long to answer one attempt.
    pub webhook_timeout_seconds: u64,
    /// Attempts before a delivery is given up (state `failed`).
    pub max_attempts: u32,
    /// The first retry waits this long; each further one twice as long…
    pub retry_base_ms: u64,
    /// …but never longer than this.
    pub max_retry_seconds: u64,
}

/// Which reads the audit trail records.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AuditReads {
    None,
    Healthcare,
    All,
}

/// Logging.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogConfig {
    /// `text` (readable) or `json` (one object per line).
    pub format: LogFormat,
    /// A `tracing` filter such as `info` or `ets=debug,tower_http=info`; `RUST_LOG` overrides.
    pub level: String,
}

/// Connection handling of the API listener: how long a client may take to send a request.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerConfig {
    /// Time allowed from the start of waiting for a request (a new connection, or the end of
    /// the previous response on a kept-alive one) until its headers are complete; then the
    /// connection is closed. Bounds idle keep-alive connections and trickled headers.
    pub header_read_timeout_seconds: u64,
    /// Longest wait for the next bytes of a request body (like nginx `client_body_timeout`:
    /// between two reads, not for the whole body, so a slow but steady upload goes on); then
    /// the request is answered 408 and the connection closed.
    pub body_read_timeout_seconds: u64,
    /// `Host` names clients may use besides `localhost` and IP addresses, which are always
    /// accepted (a DNS rebinding attack needs a name of the attacker's): e.g.
    /// `["ets.example.org", "*.ml.example.org"]`; a name without a port matches any port, and
    /// `"*"` accepts any name. Other names are refused with 403 (see `api::security`).
    pub allowed_hosts: Vec<String>,
    /// Send `Strict-Transport-Security` (one year) and mark the session cookie `Secure`: turn
    /// on when clients reach ETS only through HTTPS (a TLS-terminating proxy). Browsers ignore
    /// HSTS over plain HTTP.
    pub hsts: bool,
}

/// Cross-origin requests from browsers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CorsConfig {
    /// Origins allowed to call the API, e.g. `["https://ml.example.org"]`; `["*"]` allows any.
    /// Empty (default) sends no CORS headers, so browsers only allow same-origin calls, and
    /// state-changing calls from other origins are refused (403).
    pub allowed_origins: Vec<String>,
    /// Let browsers send credentials (cookies, `Authorization`) on cross-origin calls
    /// (`Access-Control-Allow-Credentials: true`). Only with listed origins: together with
    /// `"*"` start-up stops.
    pub allow_credentials: bool,
}

/// Resource limits. The spec's numbers are the defaults; every refusal names the setting.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Limits {
    /// Experiments that may be `running` at the same time, across the service.
    pub max_concurrent_experiments: u64,
    pub max_runs_per_experiment: u64,
    /// Distinct metric keys per run.
    pub max_metric_keys_per_run: u64,
    /// Size of one artifact file.
    pub max_artifact_bytes: u64,
    /// Size of any other request body (JSON).
    pub max_request_body_bytes: u64,
    /// Metric points in one request.
    pub max_metrics_per_request: u64,
    /// Run log lines in one request (`POST /api/v1/runs/{id}/logs`).
    pub max_log_lines_per_request: u64,
    /// Bytes (UTF-8) of one run log line.
    pub max_log_line_bytes: u64,
    /// Database connections (SQLite: concurrent readers; one writer is added).
    pub db_pool_size: u32,
    /// Largest page a list endpoint returns.
    pub max_page_size: u32,
}

/// Where artifact bytes live: `local` (a folder, by default `<data_dir>/artifacts`) or `s3`
/// (any S3-compatible store). Chosen at start-up. S3 credentials come from the standard AWS
/// environment variables (`AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, `AWS_SESSION_TOKEN`)
/// or from an AWS credentials file (`s3_credentials_file`); they are never part of the
/// configuration, so they are never printed or logged.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ArtifactsConfig {
    /// `local` or `s3`.
    pub backend: ArtifactBackend,
    /// Folder of the local backend; default `<data_dir>/artifacts`.
    pub local_dir: Option<PathBuf>,
    /// S3 endpoint URL, e.g. `https://s3.eu-west-1.amazonaws.com` or `http://127.0.0.1:9000`
    /// (MinIO, moto). Unset: AWS for `s3_region` (or `AWS_ENDPOINT`).
    pub s3_endpoint: Option<SecretUrl>,
    /// Bucket (required with `backend = "s3"`). It must exist.
    pub s3_bucket: Option<String>,
    /// Key prefix inside the bucket, e.g. `ets/prod`; empty for the bucket's root.
    pub s3_prefix: String,
    /// Region used for request signing; unset: `AWS_DEFAULT_REGION`, else `us-east-1`.
    pub s3_region: Option<String>,
    /// Allow `http://` endpoints (local S3-compatible servers); off by default.
    pub s3_allow_http: bool,
    /// An AWS shared credentials file (INI, `aws_access_key_id` / `aws_secret_access_key` /
    /// `aws_session_token`). Unset: the AWS environment variables.
    pub s3_credentials_file: Option<PathBuf>,
    /// Profile to read from `s3_credentials_file`.
    pub s3_profile: String,
    /// Unfinished resumable uploads (and stray objects of interrupted ones) older than this
    /// are removed by `ets gc`.
    pub upload_expiry_hours: u64,
    /// Runs in the trash longer than this are removed for good, with their artifacts, by
    /// `ets gc`.
    pub deleted_run_retention_days: u64,
}

/// Live updates (Server-Sent Events streams of runs and experiments).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LiveConfig {
    /// An idle stream gets a heartbeat comment this often (keeps proxies from closing it).
    pub heartbeat_seconds: u64,
    /// Recent events each instance keeps to answer `Last-Event-ID` (a cache of the shared
    /// stream); an older id gets `event: reset`.
    pub replay_events: usize,
    /// …and for at most this long.
    pub replay_seconds: u64,
    /// Open streams one instance serves at once; beyond it a new stream is refused (429).
    pub max_connections: u32,
}

/// Artifact storage backend.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ArtifactBackend {
    Local,
    S3,
}

impl ArtifactBackend {
    pub fn as_str(self) -> &'static str {
        match self {
            ArtifactBackend::Local => "local",
            ArtifactBackend::S3 => "s3",
        }
    }
}

/// The sibling services of the MLOps platform; absent URLs are reported `not_configured`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServicesConfig {
    /// e.g. `http://localhost:8000`. A password in a service URL is printed and logged
    /// redacted.
    pub model_registry_url: Option<SecretUrl>,
    /// e.g. `http://localhost:8001`
    pub pipeline_orchestrator_url: Option<SecretUrl>,
    /// e.g. `http://localhost:8002`
    pub feature_store_url: Option<SecretUrl>,
    /// Time allowed for one health probe.
    pub probe_timeout_ms: u64,
    /// How long a probe result is reused, so `/health` stays cheap under polling.
    pub probe_cache_ms: u64,
}

impl Config {
    /// Built-in defaults for an environment.
    pub fn defaults(env: Environment) -> Self {
        Config {
            env,
            host: "127.0.0.1".into(),
            port: 8003,
            data_dir: PathBuf::from("ets-data"),
            database_url: None,
            migrate_on_start: true,
            metrics_host: "127.0.0.1".into(),
            metrics_port: 9003,
            log: LogConfig {
                format: if env == Environment::Dev {
                    LogFormat::Text
                } else {
                    LogFormat::Json
                },
                level: "info".into(),
            },
            server: ServerConfig {
                header_read_timeout_seconds: 30,
                body_read_timeout_seconds: 60,
                allowed_hosts: vec![],
                hsts: false,
            },
            cors: CorsConfig {
                allowed_origins: vec![],
                allow_credentials: false,
            },
            limits: Limits {
                max_concurrent_experiments: 50,
                max_runs_per_experiment: 1000,
                max_metric_keys_per_run: 10_000,
                max_artifact_bytes: 1 << 30,
                max_request_body_bytes: 32 << 20,
                max_metrics_per_request: 1_000_000,
                max_log_lines_per_request: 10_000,
                max_log_line_bytes: 65_536,
                db_pool_size: 20,
                max_page_size: 1000,
            },
            services: ServicesConfig {
                model_registry_url: None,
                pipeline_orchestrator_url: None,
                feature_store_url: None,
                probe_timeout_ms: 2000,
                probe_cache_ms: 5000,
            },
            artifacts: ArtifactsConfig {
                backend: ArtifactBackend::Local,
                local_dir: None,
                s3_endpoint: None,
                s3_bucket: None,
                s3_prefix: String::new(),
                s3_region: None,
                s3_allow_http: false,
                s3_credentials_file: None,
                s3_profile: "default".into(),
                upload_expiry_hours: 24,
                deleted_run_retention_days: 30,
            },
            live: LiveConfig {
                heartbeat_seconds: 15,
                replay_events: 10_000,
                replay_seconds: 300,
                max_connections: 1000,
            },
            auth: AuthConfig {
                enabled: false,
                allow_anonymous: false,
                cache_seconds: 5,
                session_hours: 12,
                jwt: JwtConfig::default(),
                rate_limit: RateLimitConfig {
                    requests_per_second: 2000,
                    burst: 4000,
                    failed_logins_per_minute: 10,
                },
            },
            audit: AuditConfig {
                reads: AuditReads::Healthcare,
            },
            alerts: AlertsConfig {
                enabled: true,
                sweep_seconds: 30,
                webhook_timeout_seconds: 10,
                max_attempts: 12,
                retry_base_ms: 1000,
                max_retry_seconds: 3600,
            },
            optuna: OptunaConfig {
                grpc_port: None,
                grpc_host: None,
                project: "default".to_owned(),
                api_key_file: None,
            },
        }
    }

    /// Where Optuna's gRPC storage service listens, when it is on.
    pub fn optuna_grpc_address(&self) -> Option<(String, u16)> {
        let port = self.optuna.grpc_port?;
        let host = self
            .optuna
            .grpc_host
            .clone()
            .unwrap_or_else(|| self.host.clone());
        Some((host, port))
    }

    /// The folder of the local artifact backend.
    pub fn artifacts_dir(&self) -> PathBuf {
        self.artifacts
            .local_dir
            .clone()
            .unwrap_or_else(|| self.data_dir.join("artifacts"))
    }

    /// The database in effect.
    pub fn effective_database_url(&self) -> DatabaseUrl {
        match &self.database_url {
            Some(url) => url.clone(),
            None => DatabaseUrl::sqlite(self.data_dir.join("ets.db")),
        }
    }

    /// The configuration as TOML (what `ets config` prints). Credentials print redacted: they
    /// are held in types that cannot print them ([`DatabaseUrl`], [`SecretUrl`]).
    pub fn to_redacted_toml(&self) -> String {
        toml::to_string_pretty(self).unwrap_or_else(|e| format!("# cannot render: {e}"))
    }
}

/// Whether a listen address reaches this machine only: `localhost`, 127.0.0.0/8 or `::1`
/// (also IPv4-mapped, with or without brackets). Names other than `localhost` count as
/// non-loopback: what they resolve to is not ours to know.
pub fn is_loopback_host(host: &str) -> bool {
    let host = host.trim();
    let bare = host
        .strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host);
    if bare.eq_ignore_ascii_case("localhost") {
        return true;
    }
    match bare.parse::<std::net::IpAddr>() {
        Ok(std::net::IpAddr::V6(v6)) => {
            v6.is_loopback() || v6.to_ipv4_mapped().is_some_and(|v4| v4.is_loopback())
        }
        Ok(ip) => ip.is_loopback(),
        Err(_) => false,
    }
}

/// Secure by default: with authentication off, ETS serves loopback only. A non-loopback
/// `host` is refused unless `auth.allow_anonymous` (`--allow-anonymous`) says so, in which
/// case the warning to log at every start is returned.
pub fn check_exposure(config: &Config) -> Result<Option<String>, ConfigError> {
    let grpc_host = config.optuna_grpc_address().map(|(host, _)| host);
    let exposed = std::iter::once(&config.host)
        .chain(grpc_host.as_ref())
        .find(|host| !is_loopback_host(host));
    let Some(host) = exposed else {
        return Ok(None);
    };
    if config.auth.enabled {
        return Ok(None);
    }
    if config.auth.allow_anonymous {
        return Ok(Some(format!(
            "serving {} without authentication (auth.allow_anonymous / --allow-anonymous): \
             anyone who can reach this address can read, change and delete everything; \
             turn authentication on with auth.enabled = true (ETS_AUTH__ENABLED=true)",
            host
        )));
    }
    Err(ConfigError(format!(
        "refusing to listen on {} without authentication: anyone who can reach it could read, \
         change and delete everything. Turn authentication on (auth.enabled = true in the \
         configuration file, or ETS_AUTH__ENABLED=true) and create a user with \
         `ets users create NAME --admin`; or listen on loopback only (--host 127.0.0.1); or \
         accept anonymous access explicitly with --allow-anonymous \
         (auth.allow_anonymous, ETS_AUTH__ALLOW_ANONYMOUS=true)",
        host
    )))
}

/// Values given on the command line; `None` leaves the lower layers in charge.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Overrides {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub env: Option<Environment>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub host: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub port: Option<u16>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub data_dir: Option<PathBuf>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub metrics_port: Option<u16>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub database_url: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub migrate_on_start: Option<bool>,
    #[serde(skip_serializing_if = "AuthOverrides::is_empty")]
    pub auth: AuthOverrides,
    #[serde(skip_serializing_if = "OptunaOverrides::is_empty")]
    pub optuna: OptunaOverrides,
}

/// Command-line values of the `[optuna]` table.
#[derive(Debug, Clone, Default, Serialize)]
pub struct OptunaOverrides {
    /// `--optuna-grpc-port`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub grpc_port: Option<u16>,
}

impl OptunaOverrides {
    fn is_empty(&self) -> bool {
        self.grpc_port.is_none()
    }
}

/// Command-line values of the `[auth]` table.
#[derive(Debug, Clone, Default, Serialize)]
pub struct AuthOverrides {
    /// `--allow-anonymous`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub allow_anonymous: Option<bool>,
}

impl AuthOverrides {
    fn is_empty(&self) -> bool {
        self.allow_anonymous.is_none()
    }
}

/// A configuration that cannot be used, with a message naming the key and its source.
#[derive(Debug, thiserror::Error)]
#[error("invalid configuration: {0}")]
pub struct ConfigError(String);

/// `ETS_*` variables that are not the server's settings: those of `ets agent` (`ETS_URL`,
/// `ETS_API_KEY`) and those it gives a trial's command (`ETS_TRIAL_ID`, `ETS_PARAM_X`, …), so
/// that they stop no `ets` command started where they are set. `key` is lowercased, without
/// the prefix.
fn is_client_variable(key: &str) -> bool {
    let key = key.to_ascii_lowercase();
    matches!(
        key.as_str(),
        "url" | "api_key" | "study_id" | "trial_id" | "trial_number" | "run_id" | "params"
    ) || key.starts_with("param_")
}

/// Loads the configuration from all layers. `file` is `--config` (or `ETS_CONFIG`);
pub fn load(file: Option<&Path>, overrides: &Overrides) -> Result<Config, ConfigError> {
    let env_layer = || {
        Env::prefixed("ETS_")
            .split("__")
            .ignore(&["config"])
            .filter(|key| !is_client_variable(key.as_str()))
    };
    let mut layers = Figment::new();
    if let Some(path) = file {
        if !path.is_file() {
            return Err(ConfigError(format!(
                "configuration file '{}' does not exist",
                path.display()
            )));
        }
        layers = layers.merge(Toml::file(path));
    }
    let layers = layers
        .merge(env_layer())
        .merge(Serialized::defaults(overrides));
    let env = match layers.find_value("env") {
        Ok(_) => layers
            .extract_inner::<Environment>("env")
            .map_err(describe)?,
        Err(_) => Environment::Dev,
    };
    let config: Config = Figment::from(Serialized::defaults(Config::defaults(env)))
        .merge(layers)
        .extract()
        .map_err(describe)?;
    validate(&config)?;
    Ok(config)
}

/// One line per problem: the key, what is wrong, and where the value came from (naming the
/// exact environment variable when it came from the environment).
fn describe(error: figment::Error) -> ConfigError {
    let messages: Vec<String> = error
        .into_iter()
        .map(|e| {
            let key = e.path.join(".").to_lowercase();
            let source = match &e.metadata {
                Some(m) if m.name.contains("environment") && !key.is_empty() => {
                    format!(
                        "environment variable ETS_{}",
                        key.replace('.', "__").to_uppercase()
                    )
                }
                Some(m) => match &m.source {
                    Some(source) => format!("{} {source}", m.name),
                    None => m.name.to_string(),
                },
                None => "defaults".to_owned(),
            };
            if key.is_empty() {
                format!("{} (from {source})", e.kind)
            } else {
                format!("key '{key}': {} (from {source})", e.kind)
            }
        })
        .collect();
    ConfigError(messages.join("; "))
}

fn validate(config: &Config) -> Result<(), ConfigError> {
    let limits = &config.limits;
    if limits.db_pool_size == 0 {
        return Err(ConfigError("limits.db_pool_size must be at least 1".into()));
    }
    if limits.max_page_size == 0 {
        return Err(ConfigError(
            "limits.max_page_size must be at least 1".into(),
        ));
    }
    if config.server.header_read_timeout_seconds == 0
        || config.server.body_read_timeout_seconds == 0
    {
        return Err(ConfigError(
            "server.header_read_timeout_seconds and server.body_read_timeout_seconds must be \
             at least 1"
                .into(),
        ));
    }
    if config.live.heartbeat_seconds == 0 {
        return Err(ConfigError(
            "live.heartbeat_seconds must be at least 1".into(),
        ));
    }
    let alerts = &config.alerts;
    if alerts.sweep_seconds == 0
        || alerts.webhook_timeout_seconds == 0
        || alerts.max_attempts == 0
        || alerts.retry_base_ms == 0
    {
        return Err(ConfigError(
            "alerts.sweep_seconds, alerts.webhook_timeout_seconds, alerts.max_attempts and \
             alerts.retry_base_ms must be at least 1"
                .into(),
        ));
    }
    let artifacts = &config.artifacts;
    if artifacts.backend == ArtifactBackend::S3
        && artifacts.s3_bucket.as_deref().is_none_or(str::is_empty)
    {
        return Err(ConfigError(
            "artifacts.backend = \"s3\" needs artifacts.s3_bucket (ETS_ARTIFACTS__S3_BUCKET)"
                .into(),
        ));
    }
    let cors = &config.cors;
    if cors.allow_credentials && cors.allowed_origins.iter().any(|o| o.trim() == "*") {
        return Err(ConfigError(
            "cors.allow_credentials = true cannot be combined with cors.allowed_origins = \"*\": \
             any web site could then act with a visitor's credentials; list the origins \
             (ETS_CORS__ALLOWED_ORIGINS) or turn credentials off (ETS_CORS__ALLOW_CREDENTIALS)"
                .into(),
        ));
    }
    if let Some(endpoint) = &artifacts.s3_endpoint
        && !(endpoint.expose().starts_with("https://") || endpoint.expose().starts_with("http://"))
    {
        return Err(ConfigError(format!(
            "artifacts.s3_endpoint '{endpoint}' must be an http:// or https:// URL"
        )));
    }
    crate::auth::jwt::check_config(&config.auth.jwt)
        .map_err(|e| ConfigError(format!("{}: {}", e.field, e.message)))?;
    Ok(())
}

#[cfg(test)]
#[allow(clippy::result_large_err)] // figment::Jail's closure signature
mod tests {
    use super::*;

    #[test]
    fn passwords_are_redacted() {
        let mut config = Config::defaults(Environment::Dev);
        config.database_url = Some("postgres://u:pw@h/db?password=qpw".parse().unwrap());
        config.artifacts.s3_endpoint = Some(SecretUrl::new("https://key:s3pass9f2@s3.example.org"));
        for printed in [
            config.to_redacted_toml(),
            format!("{config:?}"),
            format!("{config:#?}"),
            serde_json::to_string(&config).unwrap(),
        ] {
            assert!(!printed.contains("pw@"), "{printed}");
            assert!(!printed.contains("qpw"), "{printed}");
            // Not "secret": `auth.jwt.hs256_secret_file` is a key name.
            assert!(!printed.contains("s3pass9f2"), "{printed}");
            assert!(
                printed.contains("https://key:***@s3.example.org"),
                "{printed}"
            );
        }
    }

    #[test]
    fn layers_apply_in_order() {
        figment::Jail::expect_with(|jail| {
            jail.create_file(
                "ets.toml",
                "port = 9000\nhost = \"0.0.0.0\"\n[limits]\nmax_runs_per_experiment = 5\n",
            )?;
            jail.set_env("ETS_PORT", "9100");
            jail.set_env("ETS_LIMITS__MAX_METRIC_KEYS_PER_RUN", "7");
            let overrides = Overrides {
                host: Some("127.0.0.2".into()),
                ..Default::default()
            };
            let config = load(Some(Path::new("ets.toml")), &overrides).unwrap();
            assert_eq!(config.port, 9100, "env beats file");
            assert_eq!(config.host, "127.0.0.2", "flag beats file");
            assert_eq!(
                config.limits.max_runs_per_experiment, 5,
                "file beats default"
            );
            assert_eq!(config.limits.max_metric_keys_per_run, 7);
            assert_eq!(config.limits.max_concurrent_experiments, 50, "default kept");
            Ok(())
        });
    }

    #[test]
    fn loopback_hosts_are_told_from_the_rest() {
        for host in [
            "localhost",
            "LOCALHOST",
            "127.0.0.1",
            "127.1.2.3",
            "::1",
            "[::1]",
            "::ffff:127.0.0.1",
        ] {
            assert!(is_loopback_host(host), "{host}");
        }
        for host in [
            "0.0.0.0",
            "::",
            "[::]",
            "192.168.1.10",
            "10.0.0.1",
            "fe80::1",
            "example.org",
            "localhost.example.org",
            "",
        ] {
            assert!(!is_loopback_host(host), "{host}");
        }
    }

    #[test]
    fn anonymous_serving_beyond_loopback_needs_consent() {
        let mut config = Config::defaults(Environment::Dev);
        assert!(
            check_exposure(&config).unwrap().is_none(),
            "loopback default"
        );
        for host in ["0.0.0.0", "::", "192.168.1.10"] {
            config.host = host.into();
            let refusal = check_exposure(&config).unwrap_err().to_string();
            for needle in [
                "auth.enabled",
                "ETS_AUTH__ENABLED=true",
                "--allow-anonymous",
            ] {
                assert!(refusal.contains(needle), "{needle}: {refusal}");
            }
        }
        config.auth.allow_anonymous = true;
        let warning = check_exposure(&config).unwrap().expect("a warning");
        assert!(warning.contains("without authentication"), "{warning}");
        config.auth.allow_anonymous = false;
        config.auth.enabled = true;
        assert!(check_exposure(&config).unwrap().is_none(), "auth on");
    }

    #[test]
    fn allow_anonymous_flag_is_a_nested_override() {
        figment::Jail::expect_with(|_jail| {
            let overrides = Overrides {
                auth: AuthOverrides {
                    allow_anonymous: Some(true),
                },
                ..Default::default()
            };
            let config = load(None, &overrides).unwrap();
            assert!(config.auth.allow_anonymous);
            assert_eq!(config.auth.cache_seconds, 5, "the rest of [auth] kept");
            Ok(())
        });
    }

    #[test]
    fn credentials_with_any_origin_stop_start_up() {
        figment::Jail::expect_with(|jail| {
            jail.set_env("ETS_CORS__ALLOWED_ORIGINS", "[\"*\"]");
            jail.set_env("ETS_CORS__ALLOW_CREDENTIALS", "true");
            let err = load(None, &Overrides::default()).unwrap_err().to_string();
            assert!(err.contains("cors.allow_credentials"), "{err}");
            jail.set_env("ETS_CORS__ALLOWED_ORIGINS", "[\"https://ml.example.org\"]");
            let config = load(None, &Overrides::default()).unwrap();
            assert_eq!(config.cors.allowed_origins, ["https://ml.example.org"]);
            jail.set_env(
                "ETS_SERVER__ALLOWED_HOSTS",
                "[\"ets.example.org\", \"*.ml.example.org\"]",
            );
            let config = load(None, &Overrides::default()).unwrap();
            assert_eq!(
                config.server.allowed_hosts,
                ["ets.example.org", "*.ml.example.org"]
            );
            Ok(())
        });
    }

    #[test]
    fn the_variables_of_ets_agent_are_not_settings() {
        figment::Jail::expect_with(|jail| {
            for (key, value) in [
                ("ETS_URL", "http://127.0.0.1:8003"),
                ("ETS_API_KEY", "ets_key"),
                ("ETS_TRIAL_ID", "t"),
                ("ETS_TRIAL_NUMBER", "3"),
                ("ETS_STUDY_ID", "s"),
                ("ETS_RUN_ID", "r"),
                ("ETS_PARAMS", "{\"x\": 1}"),
                ("ETS_PARAM_X", "1"),
                ("ETS_PARAM_LEARNING_RATE", "0.1"),
                ("ETS_PORT", "8100"),
            ] {
                jail.set_env(key, value);
            }
            let config = load(None, &Overrides::default()).unwrap();
            assert_eq!(config.port, 8100);
            jail.set_env("ETS_URLS", "x");
            let err = load(None, &Overrides::default()).unwrap_err().to_string();
            assert!(err.contains("urls"), "{err}");
            Ok(())
        });
    }

    #[test]
    fn env_selects_defaults() {
        figment::Jail::expect_with(|jail| {
            jail.set_env("ETS_ENV", "prod");
            let config = load(None, &Overrides::default()).unwrap();
            assert_eq!(config.env, Environment::Prod);
            assert_eq!(config.log.format, LogFormat::Json);
            Ok(())
        });
    }

    #[test]
    fn unknown_keys_and_bad_values_are_named() {
        figment::Jail::expect_with(|jail| {
            jail.create_file("ets.toml", "[limits]\nmax_runz = 3\n")?;
            let err = load(Some(Path::new("ets.toml")), &Overrides::default())
                .unwrap_err()
                .to_string();
            assert!(err.contains("max_runz"), "{err}");
            Ok(())
        });
        figment::Jail::expect_with(|jail| {
            jail.set_env("ETS_PORT", "eighty");
            let err = load(None, &Overrides::default()).unwrap_err().to_string();
            assert!(err.contains("port") && err.contains("ETS_PORT"), "{err}");
            Ok(())
        });
        figment::Jail::expect_with(|jail| {
            jail.set_env("ETS_ARTIFACTS__BACKEND", "s3");
            let err = load(None, &Overrides::default()).unwrap_err().to_string();
            assert!(err.contains("s3_bucket"), "{err}");
            jail.set_env("ETS_ARTIFACTS__S3_BUCKET", "ets");
            jail.set_env("ETS_ARTIFACTS__S3_ENDPOINT", "127.0.0.1:9000");
            let err = load(None, &Overrides::default()).unwrap_err().to_string();
            assert!(err.contains("s3_endpoint"), "{err}");
            jail.set_env("ETS_ARTIFACTS__S3_ENDPOINT", "http://127.0.0.1:9000");
            jail.set_env("ETS_ARTIFACTS__S3_ALLOW_HTTP", "true");
            let config = load(None, &Overrides::default()).unwrap();
            assert_eq!(config.artifacts.backend, ArtifactBackend::S3);
            assert!(config.artifacts.s3_allow_http);
            Ok(())
        });
        let err = load(
            Some(Path::new("/nonexistent/ets.toml")),
            &Overrides::default(),
        )
        .unwrap_err();
        assert!(err.to_string().contains("does not exist"));
    }
}
