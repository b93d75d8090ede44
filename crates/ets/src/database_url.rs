//! The metadata database's URL, parsed once where it enters (configuration file, environment,
//! command line) into a typed value: [`DatabaseUrl::Sqlite`] with the file, or
//! [`DatabaseUrl::Postgres`] with the connection options and libpq's TLS settings. The store
//! opens what it is given and never reads text URLs; nothing here can print a password
//! ([`Secret`], [`redact_url`]).

use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A credential: its `Debug` and `Display` print `***`; [`Secret::expose`] gives the value to
/// the one place that uses it.
#[derive(Clone, PartialEq, Eq, Default)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Secret(value.into())
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

/// Query parameters that carry a credential (libpq's `password` and `sslpassword`, and any
/// other `*password*` / `*secret*` key).
fn is_secret_key(key: &str) -> bool {
    let key = key.to_ascii_lowercase();
    key.contains("password") || key.contains("secret")
}

/// `url` with the password of its user info and the values of secret query parameters
/// replaced by `***`.
pub fn redact_url(url: &str) -> String {
    let (head, query) = match url.split_once('?') {
        Some((head, query)) => (head, Some(query)),
        None => (url, None),
    };
    let mut out = match head.split_once("://") {
        Some((scheme, rest)) => {
            let (authority, tail) = match rest.find('/') {
                Some(i) => rest.split_at(i),
                None => (rest, ""),
            };
            match authority.rsplit_once('@') {
                Some((userinfo, host)) => match userinfo.split_once(':') {
                    Some((user, _password)) => format!("{scheme}://{user}:***@{host}{tail}"),
                    None => head.to_owned(),
                },
                None => head.to_owned(),
            }
        }
        None => head.to_owned(),
    };
    if let Some(query) = query {
        out.push('?');
        let pairs: Vec<String> = query
            .split('&')
            .map(|pair| match pair.split_once('=') {
                Some((key, _)) if is_secret_key(key) => format!("{key}=***"),
                _ => pair.to_owned(),
            })
            .collect();
        out.push_str(&pairs.join("&"));
    }
    out
}

/// A URL that may hold credentials (user info, query): printed, logged and serialized
/// redacted; [`SecretUrl::expose`] gives the real text.
#[derive(Clone, PartialEq, Eq)]
pub struct SecretUrl(Secret);

impl SecretUrl {
    pub fn new(url: impl Into<String>) -> Self {
        SecretUrl(Secret::new(url))
    }

    pub fn expose(&self) -> &str {
        self.0.expose()
    }
}

impl fmt::Display for SecretUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&redact_url(self.expose()))
    }
}

impl fmt::Debug for SecretUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}", redact_url(self.expose()))
    }
}

impl Serialize for SecretUrl {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.to_string())
    }
}

impl<'de> Deserialize<'de> for SecretUrl {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        String::deserialize(deserializer).map(SecretUrl::new)
    }
}

/// libpq's `sslmode`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum SslMode {
    /// Plain connection only.
    Disable,
    /// Plain first; TLS (not verified) if the server refuses it.
    Allow,
    /// TLS (not verified) if the server offers it, else plain. libpq's default.
    Prefer,
    /// TLS, not verified — unless a root certificate is given, then as `VerifyCa`.
    Require,
    /// TLS with a certificate signed by a trusted CA, any host name.
    VerifyCa,
    /// TLS with a trusted certificate that names the host.
    VerifyFull,
}

impl SslMode {
    pub fn as_str(self) -> &'static str {
        match self {
            SslMode::Disable => "disable",
            SslMode::Allow => "allow",
            SslMode::Prefer => "prefer",
            SslMode::Require => "require",
            SslMode::VerifyCa => "verify-ca",
            SslMode::VerifyFull => "verify-full",
        }
    }
}

/// Where trusted CA certificates come from (`sslrootcert`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RootCert {
    /// A PEM file of CA certificates.
    File(PathBuf),
    /// The system's trusted roots (`sslrootcert=system`, libpq 16); implies `verify-full`.
    System,
}

/// libpq's TLS settings of a PostgreSQL URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SslOptions {
    pub mode: SslMode,
    /// `sslrootcert`; unset: `~/.postgresql/root.crt` when it exists (as libpq).
    pub root_cert: Option<RootCert>,
    /// `sslcert` / `sslkey`: a client certificate and its key (PEM); unset: libpq's
    /// `~/.postgresql/postgresql.crt` / `.key` when both exist.
    pub client_cert: Option<(PathBuf, PathBuf)>,
}

impl SslOptions {
    /// What is verified in effect: `require` with a root certificate verifies the chain, as
    /// libpq does.
    pub fn effective_mode(&self) -> SslMode {
        match (self.mode, &self.root_cert) {
            (SslMode::Require, Some(_)) => SslMode::VerifyCa,
            (mode, _) => mode,
        }
    }
}

/// A PostgreSQL database: connection options (TLS settings taken out) and libpq's TLS settings.
#[derive(Clone)]
pub struct PgOptions {
    /// As written, for equality and (redacted) display.
    url: SecretUrl,
    /// Host, port, user, password, database… as `tokio-postgres` reads them; its `sslmode` is
    /// set from [`PgOptions::ssl`] when connecting.
    pub config: tokio_postgres::Config,
    pub ssl: SslOptions,
}

impl PgOptions {
    /// The URL with its secrets redacted, for messages.
    pub fn label(&self) -> String {
        self.url.to_string()
    }
}

impl PartialEq for PgOptions {
    fn eq(&self, other: &Self) -> bool {
        self.url == other.url
    }
}

impl fmt::Debug for PgOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PgOptions")
            .field("url", &self.url)
            .field("ssl", &self.ssl)
            .finish()
    }
}

/// The metadata database.
#[derive(Clone, PartialEq)]
pub enum DatabaseUrl {
    /// `sqlite://<file>` or `sqlite:<file>`.
    Sqlite(PathBuf),
    /// `postgres://…` or `postgresql://…`.
    Postgres(Box<PgOptions>),
}

impl DatabaseUrl {
    /// The file of the default database in `data_dir`.
    pub fn sqlite(path: PathBuf) -> Self {
        DatabaseUrl::Sqlite(path)
    }

    /// The backend's name as `/info` reports it: `sqlite` or `postgresql`.
    pub fn backend(&self) -> &'static str {
        match self {
            DatabaseUrl::Sqlite(_) => "sqlite",
            DatabaseUrl::Postgres(_) => "postgresql",
        }
    }
}

impl fmt::Display for DatabaseUrl {
    /// The URL with its secrets redacted.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DatabaseUrl::Sqlite(path) => write!(f, "sqlite://{}", path.display()),
            DatabaseUrl::Postgres(options) => f.write_str(&options.label()),
        }
    }
}

impl fmt::Debug for DatabaseUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}", self.to_string())
    }
}

/// A database URL that cannot be used, with the reason (the URL redacted).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("database_url '{url}': {reason}")]
pub struct DatabaseUrlError {
    url: String,
    reason: String,
}

impl FromStr for DatabaseUrl {
    type Err = DatabaseUrlError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let error = |reason: String| DatabaseUrlError {
            url: redact_url(text),
            reason,
        };
        if let Some(path) = text
            .strip_prefix("sqlite://")
            .or_else(|| text.strip_prefix("sqlite:"))
        {
            if path.is_empty() {
                return Err(error("a SQLite URL needs a file: sqlite://<file>".into()));
            }
            return Ok(DatabaseUrl::Sqlite(PathBuf::from(path)));
        }
        if !(text.starts_with("postgres://") || text.starts_with("postgresql://")) {
            return Err(error(
                "use sqlite://<file> or postgres://user:password@host:port/database".into(),
            ));
        }
        parse_postgres(text)
            .map(|options| DatabaseUrl::Postgres(Box::new(options)))
            .map_err(error)
    }
}

/// Percent-decodes a query value (as libpq and `tokio-postgres` do).
fn percent_decode(text: &str) -> Result<String, String> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = text
                .get(i + 1..i + 3)
                .and_then(|h| u8::from_str_radix(h, 16).ok())
                .ok_or_else(|| format!("bad percent-encoding in '{text}'"))?;
            out.push(hex);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).map_err(|_| format!("'{text}' is not UTF-8 once decoded"))
}

fn home_file(name: &str) -> Option<PathBuf> {
    let path = PathBuf::from(std::env::var_os("HOME")?)
        .join(".postgresql")
        .join(name);
    path.exists().then_some(path)
}

/// Takes libpq's TLS parameters out of the query (`tokio-postgres` knows only
/// `disable`/`prefer`/`require` and no certificate files) and parses the rest.
fn parse_postgres(text: &str) -> Result<PgOptions, String> {
    let (head, query) = match text.split_once('?') {
        Some((head, query)) => (head, query),
        None => (text, ""),
    };
    let mut kept = Vec::new();
    let mut mode = SslMode::Prefer;
    let mut root_cert = None;
    let (mut cert, mut key) = (None, None);
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let (key_name, value) = pair.split_once('=').unwrap_or((pair, ""));
        let value_text = || percent_decode(value);
        match key_name {
            "sslmode" => {
                mode = match value_text()?.as_str() {
                    "disable" => SslMode::Disable,
                    "allow" => SslMode::Allow,
                    "prefer" => SslMode::Prefer,
                    "require" => SslMode::Require,
                    "verify-ca" => SslMode::VerifyCa,
                    "verify-full" => SslMode::VerifyFull,
                    other => {
                        return Err(format!(
                            "sslmode '{other}' is not one of disable, allow, prefer, require, \
                             verify-ca, verify-full"
                        ));
                    }
                }
            }
            "sslrootcert" => {
                let value = value_text()?;
                root_cert = Some(if value == "system" {
                    RootCert::System
                } else {
                    RootCert::File(PathBuf::from(value))
                });
            }
            "sslcert" => cert = Some(PathBuf::from(value_text()?)),
            "sslkey" => key = Some(PathBuf::from(value_text()?)),
            "sslpassword" => {
                return Err(
                    "sslpassword is not supported: give sslkey an unencrypted key file".into(),
                );
            }
            _ => kept.push(pair),
        }
    }
    if root_cert == Some(RootCert::System) && mode != SslMode::VerifyFull {
        return Err(format!(
            "weak sslmode '{}' may not be used with sslrootcert=system (use verify-full)",
            mode.as_str()
        ));
    }
    let root_cert = root_cert.or_else(|| home_file("root.crt").map(RootCert::File));
    let client_cert = match (cert, key) {
        (Some(cert), Some(key)) => Some((cert, key)),
        (Some(_), None) | (None, Some(_)) => {
            return Err("sslcert and sslkey go together: give both".into());
        }
        (None, None) => home_file("postgresql.crt").zip(home_file("postgresql.key")),
    };
    let rest = if kept.is_empty() {
        head.to_owned()
    } else {
        format!("{head}?{}", kept.join("&"))
    };
    let config = tokio_postgres::Config::from_str(&rest)
        .map_err(|e| format!("not a valid PostgreSQL URL: {e}"))?;
    Ok(PgOptions {
        url: SecretUrl::new(text),
        config,
        ssl: SslOptions {
            mode,
            root_cert,
            client_cert,
        },
    })
}

impl Serialize for DatabaseUrl {
    /// Redacted: a serialized configuration is for reading.
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.to_string())
    }
}

impl<'de> Deserialize<'de> for DatabaseUrl {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pg(text: &str) -> PgOptions {
        match text.parse::<DatabaseUrl>() {
            Ok(DatabaseUrl::Postgres(options)) => *options,
            other => panic!("{text}: {other:?}"),
        }
    }

    #[test]
    fn passwords_in_user_info_and_query_are_redacted() {
        assert_eq!(
            redact_url("postgres://ets:s3cret@db:5432/ets"),
            "postgres://ets:***@db:5432/ets"
        );
        assert_eq!(
            redact_url("postgres://ets@db/ets?sslmode=require&password=s3cret&sslpassword=x"),
            "postgres://ets@db/ets?sslmode=require&password=***&sslpassword=***"
        );
        assert_eq!(
            redact_url("sqlite://ets-data/ets.db"),
            "sqlite://ets-data/ets.db"
        );
        let url: DatabaseUrl = "postgres://u@h/db?password=s3cret".parse().unwrap();
        for printed in [
            url.to_string(),
            format!("{url:?}"),
            serde_json::to_string(&url).unwrap(),
        ] {
            assert!(!printed.contains("s3cret"), "{printed}");
        }
        assert_eq!(format!("{:?}", Secret::new("s3cret")), "***");
        let Err(error) = "postgres://u:s3cret@h/db?sslmode=bogus".parse::<DatabaseUrl>() else {
            panic!("bogus sslmode accepted");
        };
        assert!(!error.to_string().contains("s3cret"), "{error}");
    }

    #[test]
    fn libpq_ssl_parameters_are_read_and_the_rest_goes_to_tokio_postgres() {
        let options = pg(
            "postgres://u:pw@h:5433/db?sslmode=verify-ca&sslrootcert=/ca.pem\
                          &application_name=x&sslcert=/c.pem&sslkey=/k.pem",
        );
        assert_eq!(options.ssl.mode, SslMode::VerifyCa);
        assert_eq!(
            options.ssl.root_cert,
            Some(RootCert::File("/ca.pem".into()))
        );
        assert_eq!(
            options.ssl.client_cert,
            Some(("/c.pem".into(), "/k.pem".into()))
        );
        assert_eq!(options.config.get_application_name(), Some("x"));
        assert_eq!(options.config.get_ports(), [5433]);
        assert_eq!(options.config.get_password(), Some(&b"pw"[..]));

        let default = pg("postgresql://u@h/db");
        assert_eq!(default.ssl.mode, SslMode::Prefer);
        let require_with_ca = pg("postgres://u@h/db?sslmode=require&sslrootcert=%2Fca.pem");
        assert_eq!(require_with_ca.ssl.effective_mode(), SslMode::VerifyCa);
        assert_eq!(
            pg("postgres://u@h/db?sslmode=verify-full&sslrootcert=system")
                .ssl
                .root_cert,
            Some(RootCert::System)
        );
        for bad in [
            "postgres://u@h/db?sslmode=require&sslrootcert=system",
            "postgres://u@h/db?sslcert=/c.pem",
            "postgres://u@h/db?sslmode=verify",
            "mysql://u@h/db",
            "sqlite://",
        ] {
            assert!(bad.parse::<DatabaseUrl>().is_err(), "{bad}");
        }
        assert_eq!(
            "sqlite://data/ets.db".parse::<DatabaseUrl>().unwrap(),
            DatabaseUrl::Sqlite("data/ets.db".into())
        );
    }
}
