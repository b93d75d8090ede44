//! What keeps browsers from being turned against ETS, in one layer around every route:
//!
//! - **Host names** (DNS rebinding): a request must name this server as `localhost`, an IP
//!   address or a name in `server.allowed_hosts`; else 403. A rebinding attack makes a name
//!   of the attacker's resolve to this server, so IP addresses and `localhost` are always
//!   safe to accept. `/health*` is exempt (probes), as in MLflow.
//! - **Cross-origin writes** (CSRF): a state-changing request that a browser sent from
//!   another web origin (its `Origin`, or `Sec-Fetch-Site` without one) is refused with 403
//!   unless the origin is in `cors.allowed_origins`, as MLflow 3's security middleware does
//!   (ETS does not also wave through every `localhost` origin). This is what protects the
//!   upload routes that accept a cross-site form's body types (`multipart/form-data`, raw
//!   `text/plain`); JSON routes are protected twice, since they also require a JSON content
//!   type (`api::extract`), which a cross-site page cannot send without a CORS preflight.
//! - **Response headers** on every response: `nosniff`, `Referrer-Policy`, framing refused,
//!   a Content-Security-Policy (a strict one for API answers, one fit for the Swagger UI for
//!   HTML), and HSTS when `server.hsts` is on. Artifact downloads add their own sandbox
//!   ([`protect_download`]).

use std::net::{Ipv4Addr, Ipv6Addr};
use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::header::{self, HeaderMap, HeaderName, HeaderValue};
use axum::http::{Method, StatusCode};
use axum::middleware::Next;
use axum::response::Response;

use crate::config::Config;

/// Headers every response carries (also hyper's own error answers, `server::JsonParseErrors`).
/// The CSP is the one of API answers: they never load anything, and may not be framed.
pub(crate) const STATIC_HEADERS: [(&str, &str); 4] = [
    ("x-content-type-options", "nosniff"),
    ("referrer-policy", "no-referrer"),
    ("x-frame-options", "DENY"),
    ("content-security-policy", API_CSP),
];

const API_CSP: &str = "default-src 'none'; frame-ancestors 'none'";

/// HTML pages (the Swagger UI at `/docs`): scripts, styles, the OpenAPI document and images
/// from this origin only (the UI's CSS has `data:` images); no inline script, no framing. The
/// one inline style allowed, by its hash, is the `<style>` of the Swagger UI 5.17 logo (checked
/// with headless Chromium: no other violation; without it the logo is only grey).
const HTML_CSP: &str = "default-src 'none'; script-src 'self'; \
     style-src 'self' 'sha256-RL3ie0nH+Lzz2YNqQN83mnU0J1ot4QL7b99vMdIX99w='; \
     img-src 'self' data:; connect-src 'self'; font-src 'self'; base-uri 'none'; \
     form-action 'self'; frame-ancestors 'none'";

/// A downloaded artifact is a document with no rights: no script, no plugin, no same-origin
/// access, nothing loaded, even if a browser renders it.
const DOWNLOAD_CSP: &str = "sandbox; default-src 'none'";

/// One year, without `includeSubDomains`: the operator's other hosts are not ours to pin.
const HSTS: &str = "max-age=31536000";

/// The security settings of a running server, read once from the configuration.
pub(crate) struct SecurityPolicy {
    hosts: Vec<HostPattern>,
    origins: Vec<String>,
    any_origin: bool,
    hsts: bool,
}

/// An entry of `server.allowed_hosts`: `*`, `*.example.org` or `name`, each with an optional
/// `:port` (none: any port).
enum HostPattern {
    Any,
    Subdomains {
        suffix: String,
        port: Option<String>,
    },
    Exact {
        name: String,
        port: Option<String>,
    },
}

impl HostPattern {
    fn parse(entry: &str) -> HostPattern {
        let entry = entry.trim().to_ascii_lowercase();
        if entry == "*" {
            return HostPattern::Any;
        }
        let (name, port) = split_host_port(&entry);
        let port = port.map(str::to_owned);
        let name = name.trim_end_matches('.');
        match name.strip_prefix("*.") {
            Some(suffix) => HostPattern::Subdomains {
                suffix: format!(".{suffix}"),
                port,
            },
            None => HostPattern::Exact {
                name: name.to_owned(),
                port,
            },
        }
    }

    fn matches(&self, name: &str, port: Option<&str>) -> bool {
        let port_fits = |wanted: &Option<String>| wanted.as_deref().is_none_or(|w| Some(w) == port);
        match self {
            HostPattern::Any => true,
            HostPattern::Subdomains { suffix, port: p } => {
                name.ends_with(suffix.as_str()) && port_fits(p)
            }
            HostPattern::Exact { name: n, port: p } => name == n && port_fits(p),
        }
    }
}

/// `host[:port]` with IPv6 literals in brackets (kept on the host).
fn split_host_port(text: &str) -> (&str, Option<&str>) {
    if text.starts_with('[') {
        return match text.find(']') {
            Some(end) => (&text[..=end], text[end + 1..].strip_prefix(':')),
            None => (text, None),
        };
    }
    match text.split_once(':') {
        Some((host, port)) if !port.contains(':') => (host, Some(port)),
        _ => (text, None),
    }
}

/// An IPv4 address or a bracketed IPv6 address, as they appear in a `Host` header.
fn is_ip_literal(host: &str) -> bool {
    match host.strip_prefix('[').and_then(|h| h.strip_suffix(']')) {
        Some(v6) => v6.parse::<Ipv6Addr>().is_ok(),
        None => host.parse::<Ipv4Addr>().is_ok(),
    }
}

impl SecurityPolicy {
    pub(crate) fn new(config: &Config) -> SecurityPolicy {
        let mut hosts: Vec<HostPattern> = config
            .server
            .allowed_hosts
            .iter()
            .map(|h| HostPattern::parse(h))
            .collect();
        // A listen address given as a name is a name clients use.
        if !is_ip_literal(&config.host) && config.host.parse::<std::net::IpAddr>().is_err() {
            hosts.push(HostPattern::parse(&config.host));
        }
        let origins: Vec<String> = config
            .cors
            .allowed_origins
            .iter()
            .map(|o| o.trim().trim_end_matches('/').to_ascii_lowercase())
            .collect();
        SecurityPolicy {
            any_origin: origins.iter().any(|o| o == "*"),
            hosts,
            origins,
            hsts: config.server.hsts,
        }
    }

    /// Whether a `Host` value names this server acceptably.
    fn host_allowed(&self, host: &str) -> bool {
        let host = host.trim().to_ascii_lowercase();
        let (name, port) = split_host_port(&host);
        let name = name.trim_end_matches('.');
        if name.is_empty() {
            return false;
        }
        name == "localhost"
            || is_ip_literal(name)
            || self.hosts.iter().any(|p| p.matches(name, port))
    }

    /// The refusal of a request, if it is refused.
    fn refusal(&self, request: &Request) -> Option<Response> {
        let path = request.uri().path();
        let headers = request.headers();
        if !path.starts_with("/health") {
            let host = headers
                .get(header::HOST)
                .and_then(|v| v.to_str().ok())
                .or_else(|| request.uri().authority().map(|a| a.as_str()))
                .unwrap_or_default();
            if !self.host_allowed(host) {
                tracing::warn!(host = %truncated(host), "refused a request for an unknown Host");
                return Some(super::guard::coded_error_response(
                    path,
                    StatusCode::FORBIDDEN,
                    ("host_not_allowed", "PERMISSION_DENIED"),
                    &format!(
                        "Host '{}' is not a name of this server (a DNS rebinding attack \
                         uses a foreign name); add it to server.allowed_hosts \
                         (ETS_SERVER__ALLOWED_HOSTS)",
                        truncated(host)
                    ),
                ));
            }
        }
        let origin = self.foreign_origin(request.method(), headers)?;
        tracing::warn!(origin = %truncated(&origin), "refused a cross-origin state change");
        Some(super::guard::coded_error_response(
            path,
            StatusCode::FORBIDDEN,
            ("cross_origin_refused", "PERMISSION_DENIED"),
            &format!(
                "cross-origin request from '{}' refused: pages of other web origins may not \
                 change state here; allow the origin in cors.allowed_origins \
                 (ETS_CORS__ALLOWED_ORIGINS)",
                truncated(&origin)
            ),
        ))
    }

    /// The other web origin a browser sent a state-changing request from, if any. Requests
    /// without `Origin` and `Sec-Fetch-Site` come from programs, not pages, and pass.
    fn foreign_origin(&self, method: &Method, headers: &HeaderMap) -> Option<String> {
        if matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS) || self.any_origin {
            return None;
        }
        let Some(origin) = headers.get(header::ORIGIN) else {
            let site = headers.get("sec-fetch-site").and_then(|v| v.to_str().ok());
            return matches!(site, Some("cross-site" | "same-site")).then(|| "(unnamed)".into());
        };
        let origin = origin
            .to_str()
            .unwrap_or("(not ASCII)")
            .trim()
            .to_ascii_lowercase();
        let host = headers.get(header::HOST).and_then(|v| v.to_str().ok());
        if self.origins.contains(&origin) || host.is_some_and(|h| same_origin(&origin, h)) {
            return None;
        }
        Some(origin)
    }

    /// The headers every response carries; those a handler set itself are kept.
    fn add_headers(&self, headers: &mut HeaderMap) {
        let is_html = headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| essence(v) == "text/html");
        for (name, value) in STATIC_HEADERS {
            let value = if is_html && name == "content-security-policy" {
                HTML_CSP
            } else {
                value
            };
            headers
                .entry(HeaderName::from_static(name))
                .or_insert(HeaderValue::from_static(value));
        }
        if self.hsts {
            headers.insert(
                header::STRICT_TRANSPORT_SECURITY,
                HeaderValue::from_static(HSTS),
            );
        }
    }
}

/// Whether `origin` (`scheme://host[:port]`) is the origin of a request for `host` (the
/// `Host` header); default ports compare equal to none.
fn same_origin(origin: &str, host: &str) -> bool {
    let Some((scheme, authority)) = origin.split_once("://") else {
        return false;
    };
    let default_port = match scheme {
        "http" => ":80",
        "https" => ":443",
        _ => return false,
    };
    let host = host.trim().to_ascii_lowercase();
    let strip = |a: &str| a.strip_suffix(default_port).unwrap_or(a).to_owned();
    strip(authority) == strip(&host)
}

/// A client-sent value, cut for logs and messages.
fn truncated(text: &str) -> String {
    text.chars().take(200).collect()
}

/// The media type of a `Content-Type` value, lowercase, without parameters.
pub(crate) fn essence(content_type: &str) -> String {
    content_type
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase()
}

/// The middleware: refuse foreign hosts and cross-origin writes, then add the headers.
pub(crate) async fn security(
    State(policy): State<Arc<SecurityPolicy>>,
    request: Request,
    next: Next,
) -> Response {
    let mut response = match policy.refusal(&request) {
        Some(refusal) => refusal,
        None => next.run(request).await,
    };
    policy.add_headers(response.headers_mut());
    response
}

/// The [`STATIC_HEADERS`] on a response of a listener without the full layer (`/metrics`).
pub(crate) async fn static_headers(mut response: Response) -> Response {
    for (name, value) in STATIC_HEADERS {
        response
            .headers_mut()
            .entry(HeaderName::from_static(name))
            .or_insert(HeaderValue::from_static(value));
    }
    response
}

/// Content types a browser may show inline: they cannot run script. Everything else
/// (HTML, XHTML, SVG, XML, JavaScript, PDF, unknown types) is sent as an attachment.
fn renders_safely(content_type: &str) -> bool {
    let essence = essence(content_type);
    matches!(
        essence.as_str(),
        "text/plain"
            | "application/json"
            | "image/png"
            | "image/jpeg"
            | "image/gif"
            | "image/webp"
            | "image/avif"
            | "image/bmp"
    ) || essence.starts_with("audio/")
        || essence.starts_with("video/")
}

/// Artifacts are not a web host: the headers of every artifact download (native and MLflow
/// routes). Whatever the uploader claimed the content is, a browser does not sniff it, runs
/// it in a sandbox without the API's origin, and saves an active type (or, with
/// `always_attachment`, anything) instead of rendering it.
pub(crate) fn protect_download(
    headers: &mut HeaderMap,
    content_type: &str,
    file_name: &str,
    always_attachment: bool,
) {
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(DOWNLOAD_CSP),
    );
    if (always_attachment || !renders_safely(content_type))
        && let Ok(value) = HeaderValue::from_str(&attachment(file_name))
    {
        headers.insert(header::CONTENT_DISPOSITION, value);
    }
}

/// `attachment` with the file name: an ASCII fallback and the exact UTF-8 name (RFC 6266).
fn attachment(file_name: &str) -> String {
    let ascii: String = file_name
        .chars()
        .map(|c| {
            if c.is_ascii_graphic() && c != '"' && c != '\\' || c == ' ' {
                c
            } else {
                '_'
            }
        })
        .collect();
    let mut encoded = String::new();
    for byte in file_name.bytes() {
        if byte.is_ascii_alphanumeric() || b"-._~".contains(&byte) {
            encoded.push(byte as char);
        } else {
            encoded.push_str(&format!("%{byte:02X}"));
        }
    }
    format!("attachment; filename=\"{ascii}\"; filename*=UTF-8''{encoded}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Environment;

    fn policy(adjust: impl FnOnce(&mut Config)) -> SecurityPolicy {
        let mut config = Config::defaults(Environment::Dev);
        adjust(&mut config);
        SecurityPolicy::new(&config)
    }

    #[test]
    fn loopback_names_and_ip_addresses_are_always_hosts() {
        let p = policy(|_| {});
        for host in [
            "localhost",
            "localhost:8003",
            "LOCALHOST.",
            "127.0.0.1",
            "127.0.0.1:1",
            "[::1]",
            "[::1]:8003",
            "10.1.2.3:8003",
            "[fd00::7]:80",
        ] {
            assert!(p.host_allowed(host), "{host}");
        }
        for host in [
            "",
            "evil.example",
            "evil.example:8003",
            "localhost.evil.example",
            "127.0.0.1.evil.example",
            "2130706433",
            "::1",
        ] {
            assert!(!p.host_allowed(host), "{host}");
        }
    }

    #[test]
    fn configured_names_patterns_and_the_wildcard() {
        let p = policy(|c| {
            c.server.allowed_hosts = vec![
                "ets.example.org".into(),
                "*.ml.example.org".into(),
                "pinned.example.org:8443".into(),
            ];
            c.host = "myserver.lan".into();
        });
        for host in [
            "ets.example.org",
            "ETS.example.org:8003",
            "a.ml.example.org",
            "b.c.ml.example.org:1",
            "pinned.example.org:8443",
            "myserver.lan:8003",
        ] {
            assert!(p.host_allowed(host), "{host}");
        }
        for host in [
            "ml.example.org",
            "pinned.example.org",
            "pinned.example.org:8444",
            "ets.example.org.evil",
        ] {
            assert!(!p.host_allowed(host), "{host}");
        }
        let any = policy(|c| c.server.allowed_hosts = vec!["*".into()]);
        assert!(any.host_allowed("anything.example:1"));
        assert!(!any.host_allowed(""), "a Host is still required");
    }

    #[test]
    fn cross_origin_writes_are_refused_unless_allowed() {
        let mut headers = HeaderMap::new();
        headers.insert(header::HOST, HeaderValue::from_static("127.0.0.1:8003"));
        let p = policy(|c| c.cors.allowed_origins = vec!["https://ml.example.org/".into()]);
        assert_eq!(
            p.foreign_origin(&Method::POST, &headers),
            None,
            "no Origin: a program"
        );
        headers.insert("sec-fetch-site", HeaderValue::from_static("cross-site"));
        assert!(p.foreign_origin(&Method::POST, &headers).is_some());
        for (origin, refused) in [
            ("http://127.0.0.1:8003", false),
            ("https://ml.example.org", false),
            ("https://evil.example", true),
            ("http://127.0.0.1:9999", true),
            ("http://localhost:3000", true),
            ("null", true),
        ] {
            headers.insert(header::ORIGIN, HeaderValue::from_static(origin));
            assert_eq!(
                p.foreign_origin(&Method::POST, &headers).is_some(),
                refused,
                "{origin}"
            );
            assert_eq!(p.foreign_origin(&Method::GET, &headers), None, "reads pass");
        }
        let any = policy(|c| c.cors.allowed_origins = vec!["*".into()]);
        assert_eq!(any.foreign_origin(&Method::DELETE, &headers), None);
        assert!(same_origin(
            "https://ets.example.org",
            "ets.example.org:443"
        ));
        assert!(same_origin(
            "http://ets.example.org:8003",
            "ETS.example.org:8003"
        ));
        assert!(!same_origin(
            "https://ets.example.org",
            "ets.example.org:8003"
        ));
    }

    #[test]
    fn downloads_of_active_types_are_attachments() {
        for (content_type, attached) in [
            ("text/html; charset=utf-8", true),
            ("image/svg+xml", true),
            ("application/xhtml+xml", true),
            ("text/xml", true),
            ("application/javascript", true),
            ("application/pdf", true),
            ("application/octet-stream", true),
            ("TEXT/PLAIN", false),
            ("image/png", false),
            ("application/json", false),
            ("video/mp4", false),
        ] {
            let mut headers = HeaderMap::new();
            protect_download(&mut headers, content_type, "x", false);
            assert_eq!(headers["x-content-type-options"], "nosniff");
            assert_eq!(headers["content-security-policy"], DOWNLOAD_CSP);
            assert_eq!(
                headers.contains_key(header::CONTENT_DISPOSITION),
                attached,
                "{content_type}"
            );
        }
        assert_eq!(
            attachment("r\u{e9}sum\u{e9} \"1\".html"),
            "attachment; filename=\"r_sum_ _1_.html\"; \
             filename*=UTF-8''r%C3%A9sum%C3%A9%20%221%22.html"
        );
    }
}
