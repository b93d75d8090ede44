//! Request extractors whose failures are our JSON errors with a message that says what to fix
//! (axum's own rejections are plain text).

use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use serde::de::DeserializeOwned;

use super::AppState;
use crate::actor::Actor;
use crate::error::Error;

/// A JSON body, read up to `limits.max_request_body_bytes` whatever its content type (so a
/// `curl -d` without a JSON content type still works).
pub struct Json<T>(pub T);

/// Like [`Json`], but an empty body means `T::default()` (for bodies that are all optional).
pub struct OptionalJson<T>(pub T);

pub(super) async fn read_body(req: Request, state: &AppState) -> Result<bytes::Bytes, Error> {
    let limit = state.config.limits.max_request_body_bytes;
    axum::body::to_bytes(req.into_body(), limit as usize)
        .await
        .map_err(|e| {
            let too_large = std::error::Error::source(&e).is_some_and(|s| {
                s.downcast_ref::<http_body_util::LengthLimitError>()
                    .is_some()
            }) || e.to_string().contains("length limit");
            if too_large {
                Error::PayloadTooLarge(format!(
                    "request body is larger than {limit} bytes (limits.max_request_body_bytes, \
                 ETS_LIMITS__MAX_REQUEST_BODY_BYTES); split it into smaller requests"
                ))
            } else {
                Error::BadRequest(format!("cannot read the request body: {e}"))
            }
        })
}

/// Why a body is not the JSON object a handler expects.
pub(crate) enum JsonProblem {
    /// Not one JSON object: malformed, trailing data, or another top-level value.
    Syntax(String),
    /// A JSON object whose content does not fit: the field path and what is wrong.
    Shape { path: String, message: String },
}

/// Parses a body that must be exactly one JSON object (whitespace around it allowed). A
/// derived struct would also accept a JSON array of its fields, so the first byte is checked.
pub(crate) fn parse_json_object<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, JsonProblem> {
    match bytes.iter().find(|b| !b.is_ascii_whitespace()) {
        Some(b'{') => {}
        Some(_) => {
            return Err(JsonProblem::Syntax(
                "the request body must be one JSON object ({...}), not an array or another value"
                    .into(),
            ));
        }
        None => {
            return Err(JsonProblem::Syntax(
                "the request body is empty; send a JSON object".into(),
            ));
        }
    }
    // Fast path: plain serde_json (`from_slice` also refuses trailing data). Only a body that
    // fails is parsed again with path tracking, which costs a good share of the parse on large
    // batches, to name the offending field.
    if let Ok(value) = serde_json::from_slice(bytes) {
        return Ok(value);
    }
    let mut deserializer = serde_json::Deserializer::from_slice(bytes);
    let value = serde_path_to_error::deserialize(&mut deserializer).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        match inner.classify() {
            serde_json::error::Category::Data => JsonProblem::Shape {
                path,
                message: strip_position(&inner.to_string()),
            },
            _ => JsonProblem::Syntax(format!("the request body is not valid JSON: {inner}")),
        }
    })?;
    deserializer.end().map_err(|e| {
        JsonProblem::Syntax(format!(
            "the request body is not valid JSON: {e} (data after the JSON object)"
        ))
    })?;
    Ok(value)
}

/// Parses a native API body: syntax errors are 400, shape errors 422 naming the field.
pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, Error> {
    parse_json_object(bytes).map_err(|problem| match problem {
        JsonProblem::Syntax(message) => Error::BadRequest(message),
        JsonProblem::Shape { path, message } => {
            let field = if path == "." { "body".to_owned() } else { path };
            Error::invalid(field, message)
        }
    })
}

/// serde_json appends " at line 1 column 42" to data errors; the field path says more.
fn strip_position(message: &str) -> String {
    match message.rfind(" at line ") {
        Some(i) => message[..i].to_owned(),
        None => message.to_owned(),
    }
}

impl<T: DeserializeOwned> FromRequest<AppState> for Json<T> {
    type Rejection = Error;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, Self::Rejection> {
        let bytes = read_body(req, state).await?;
        parse_json(&bytes).map(Json)
    }
}

impl<T: DeserializeOwned + Default> FromRequest<AppState> for OptionalJson<T> {
    type Rejection = Error;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, Self::Rejection> {
        let bytes = read_body(req, state).await?;
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Ok(OptionalJson(T::default()));
        }
        parse_json(&bytes).map(OptionalJson)
    }
}

/// Query string parameters.
pub struct Query<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequestParts<S> for Query<T> {
    type Rejection = Error;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let query = parts.uri.query().unwrap_or_default();
        serde_urlencoded::from_str(query)
            .map(Query)
            .map_err(|e| Error::BadRequest(format!("invalid query string: {e}")))
    }
}

/// Path parameters.
pub struct Path<T>(pub T);

impl<T: DeserializeOwned + Send, S: Send + Sync> FromRequestParts<S> for Path<T> {
    type Rejection = Error;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        axum::extract::Path::<T>::from_request_parts(parts, state)
            .await
            .map(|axum::extract::Path(value)| Path(value))
            .map_err(|e| Error::BadRequest(format!("invalid path: {e}")))
    }
}

/// The caller the auth middleware put in the request's extensions; `Anonymous` without one
/// (auth off).
impl<S: Send + Sync> FromRequestParts<S> for Actor {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        Ok(request_actor(&parts.extensions))
    }
}

/// The request's [`Actor`] (see the extractor above).
pub(crate) fn request_actor(extensions: &axum::http::Extensions) -> Actor {
    extensions
        .get::<Actor>()
        .cloned()
        .unwrap_or(Actor::Anonymous)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(serde::Deserialize, Debug)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Body {
        name: String,
        items: Vec<Item>,
    }

    #[derive(serde::Deserialize, Debug)]
    #[allow(dead_code)]
    struct Item {
        value: f64,
    }

    #[test]
    fn syntax_errors_are_400_and_shape_errors_name_the_field() {
        assert!(matches!(
            parse_json::<Body>(b"{\"name\": "),
            Err(Error::BadRequest(_))
        ));
        assert!(matches!(parse_json::<Body>(b""), Err(Error::BadRequest(_))));
        match parse_json::<Body>(br#"{"name": "x", "items": [{"value": 1}, {"value": "a"}]}"#) {
            Err(Error::Invalid(v)) => {
                assert_eq!(v.field, "items[1].value");
                assert!(v.message.contains("invalid type"), "{}", v.message);
            }
            other => panic!("{other:?}"),
        }
        match parse_json::<Body>(br#"{"name": "x", "items": [], "nmae": 1}"#) {
            Err(Error::Invalid(v)) => {
                assert!(v.message.contains("unknown field `nmae`"), "{}", v.message)
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            parse_json::<Body>(br#"{"name": "x", "items": []} trailing"#),
            Err(Error::BadRequest(_))
        ));
        // A derived struct also deserialises from an array of its fields: refused all the same.
        for body in [&br#"["x", []]"#[..], b"[]", b"\"x\"", b"1"] {
            assert!(
                matches!(parse_json::<Body>(body), Err(Error::BadRequest(_))),
                "{}",
                String::from_utf8_lossy(body)
            );
        }
        assert!(parse_json::<Body>(b" \n{\"name\": \"x\", \"items\": []}\n ").is_ok());
    }
}
