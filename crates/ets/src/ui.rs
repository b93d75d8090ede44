//! The web UI: static files compiled into the binary (`crates/ets/ui`), served at `/` (the
//! page) and `/ui/…` (its scripts, styles and the vendored uPlot). Plain ES modules, no
//! bundler: building or running ETS needs no Node.js. The page reaches nothing but this
//! server (its CSP says so); it uses the same API as every other client.

use axum::Router;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use rust_embed::RustEmbed;
use tower_http::compression::CompressionLayer;
use tower_http::compression::predicate::DefaultPredicate;

#[derive(RustEmbed)]
#[folder = "ui/"]
struct Assets;

/// Scripts, styles, data from this origin only; images also as `data:`/`blob:` (chart
/// downloads); no inline script, no framing.
pub const UI_CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; \
     img-src 'self' data: blob:; connect-src 'self'; font-src 'self'; base-uri 'none'; \
     form-action 'self'; frame-ancestors 'none'";

/// The UI's routes (outside authentication: the login page must load; the data it shows
/// comes from the API, which checks every request).
pub fn routes<S: Clone + Send + Sync + 'static>() -> Router<S> {
    // Sent gzip-compressed to browsers (uPlot: 51 kB → 22 kB); SVG and PNG icons as they are.
    let compress = CompressionLayer::new().compress_when(DefaultPredicate::new());
    Router::new()
        .route("/", get(|headers: HeaderMap| async move { asset("index.html", &headers) }))
        .route(
            "/ui/{*path}",
            get(
                |axum::extract::Path(path): axum::extract::Path<String>, headers: HeaderMap| async move {
                    asset(&path, &headers)
                },
            ),
        )
        .layer(compress)
}

/// One embedded file, revalidated by its hash (`ETag`, `If-None-Match` → 304): a new binary
/// serves its new files at once, and an unchanged file costs a 304.
fn asset(path: &str, headers: &HeaderMap) -> Response {
    let Some(file) = Assets::get(path) else {
        return crate::api::guard::error_response(
            path,
            StatusCode::NOT_FOUND,
            "no such file of the web UI",
        );
    };
    let etag = format!("\"{}\"", hex::encode(&file.metadata.sha256_hash()[..16]));
    let cached = headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|tag| tag.trim() == etag));
    let mut response = if cached {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        (
            [(header::CONTENT_TYPE, content_type(file.metadata.mimetype()))],
            file.data.into_owned(),
        )
            .into_response()
    };
    let headers = response.headers_mut();
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    if let Ok(value) = HeaderValue::from_str(&etag) {
        headers.insert(header::ETAG, value);
    }
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(UI_CSP),
    );
    response
}

/// The media type, with `charset=utf-8` for text (every file of the UI is UTF-8).
fn content_type(mime: &str) -> String {
    if mime.starts_with("text/") || mime.ends_with("javascript") || mime.ends_with("json") {
        format!("{mime}; charset=utf-8")
    } else {
        mime.to_owned()
    }
}
