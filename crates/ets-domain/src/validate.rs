//! Input rules shared by both API surfaces. Each check returns a [`ValidationError`] that
//! names the field and says what to change.

/// Longest metric, param or tag key (MLflow's limit, so MLflow clients see the same rule).
pub const MAX_KEY_LEN: usize = 250;
/// Longest param value. MLflow 3 accepts any length and silently cuts params to 6,000
/// characters (`MAX_PARAM_VAL_LENGTH`, `MLFLOW_TRUNCATE_LONG_VALUES`); ETS stores what it
/// accepts in full, so its bound lies far above any value MLflow accepts in practice.
pub const MAX_PARAM_VALUE_LEN: usize = 1_000_000;
/// Longest tag value. MLflow 3 silently cuts tags to 8,000 characters (`MAX_TAG_VAL_LENGTH`);
/// ETS stores them in full, as for params.
pub const MAX_TAG_VALUE_LEN: usize = 1_000_000;
/// Longest project, experiment or run name.
pub const MAX_NAME_LEN: usize = 256;
/// Longest description.
pub const MAX_DESCRIPTION_LEN: usize = 65_536;
/// Longest artifact path.
pub const MAX_ARTIFACT_PATH_LEN: usize = 1024;

/// A rejected input: which field, and why.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{field}: {message}")]
pub struct ValidationError {
    /// Dotted path of the offending field, e.g. `metrics[3].key`.
    pub field: String,
    /// What is wrong and how to fix it.
    pub message: String,
    /// For a key refused for its form, the key and why, so an adapter can word the refusal
    /// as its API does (MLflow's `Invalid value "…" for parameter 'key' supplied: …`).
    pub refused_key: Option<Box<RefusedKey>>,
}

/// A key refused for its form.
#[derive(Debug, Clone, PartialEq)]
pub struct RefusedKey {
    pub key: String,
    pub problem: KeyProblem,
}

#[derive(Debug, Clone, PartialEq)]
pub enum KeyProblem {
    /// A character outside letters, digits, `_ - . / :` and space.
    Character,
    /// A path that does not name itself; `resolves_to` is what it would name (POSIX
    /// `normpath`).
    Path { resolves_to: String },
}

impl ValidationError {
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        ValidationError {
            field: field.into(),
            message: message.into(),
            refused_key: None,
        }
    }

    fn of_key(self, key: &str, problem: KeyProblem) -> Self {
        ValidationError {
            refused_key: Some(Box::new(RefusedKey {
                key: key.to_owned(),
                problem,
            })),
            ..self
        }
    }
}

/// What a path names once `.` and `..` segments and repeated slashes are resolved, as POSIX
/// `normpath` (Python's `posixpath.normpath`) writes it: `a//b` → `a/b`, `a/../..` → `..`,
/// `/../x` → `/x`, `` → `.`.
pub fn normalized_path(path: &str) -> String {
    let initial_slashes = if path.starts_with("//") && !path.starts_with("///") {
        2
    } else if path.starts_with('/') {
        1
    } else {
        0
    };
    let mut parts: Vec<&str> = Vec::new();
    for segment in path.split('/') {
        match segment {
            "" | "." => {}
            ".." => {
                if initial_slashes == 0 && parts.last().is_none_or(|p| *p == "..") {
                    parts.push("..");
                } else if parts.last().is_some_and(|p| *p != "..") {
                    parts.pop();
                }
            }
            other => parts.push(other),
        }
    }
    let joined = format!("{}{}", "/".repeat(initial_slashes), parts.join("/"));
    if joined.is_empty() {
        ".".to_owned()
    } else {
        joined
    }
}

/// Characters that reorder the text displayed around them (bidirectional embeddings,
/// overrides and isolates, U+202A–U+202E and U+2066–U+2069): in a name or key they make one
/// entity look like another in every UI and log, so names and keys refuse them. Values are
/// data and keep them.
fn is_bidi_control(c: char) -> bool {
    matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}')
}

/// A display name: trimmed, 1..=256 characters, not only whitespace, no control or
/// bidirectional-override characters. Returns the trimmed name.
pub fn name(field: &str, value: &str) -> Result<String, ValidationError> {
    let trimmed = value.trim();
    if trimmed.is_empty() {
        return Err(ValidationError::new(
            field,
            "must not be empty or only whitespace",
        ));
    }
    if trimmed.chars().count() > MAX_NAME_LEN {
        return Err(ValidationError::new(
            field,
            format!("must be at most {MAX_NAME_LEN} characters"),
        ));
    }
    if trimmed.chars().any(char::is_control) {
        return Err(ValidationError::new(
            field,
            "must not contain control characters",
        ));
    }
    if trimmed.chars().any(is_bidi_control) {
        return Err(ValidationError::new(
            field,
            "must not contain bidirectional control characters (U+202A–U+202E, U+2066–U+2069)",
        ));
    }
    Ok(trimmed.to_owned())
}

/// Free text of bounded size.
pub fn description(field: &str, value: &str) -> Result<(), ValidationError> {
    if value.len() > MAX_DESCRIPTION_LEN {
        return Err(ValidationError::new(
            field,
            format!("must be at most {MAX_DESCRIPTION_LEN} bytes"),
        ));
    }
    Ok(())
}

/// A metric, param or tag key. MLflow's rule (`_validate_param_name` and its siblings):
/// 1..=250 characters from letters, digits, `_ - . / :` and space (so no control or
/// bidirectional-override characters), and a path that names itself (keys become file-like
/// paths in several tools): no leading `/`, no empty, `.` or `..` segment, not starting with
/// `..`. ETS also refuses a key of spaces only, which no list or chart can show.
pub fn key(field: &str, value: &str) -> Result<(), ValidationError> {
    if value.is_empty() {
        return Err(ValidationError::new(field, "key must not be empty"));
    }
    if value.chars().count() > MAX_KEY_LEN {
        return Err(ValidationError::new(
            field,
            format!(
                "key '{}…' is longer than {MAX_KEY_LEN} characters",
                truncate(value, 40).escape_debug()
            ),
        ));
    }
    if let Some(bad) = value
        .chars()
        .find(|c| !(c.is_alphanumeric() || matches!(c, '_' | '-' | '.' | '/' | ':' | ' ')))
    {
        return Err(ValidationError::new(
            field,
            format!(
                "key '{}' contains '{}'; keys may use letters, digits, '_', '-', '.', '/', ':' and spaces",
                value.escape_debug(),
                bad.escape_debug()
            ),
        )
        .of_key(value, KeyProblem::Character));
    }
    if value.trim().is_empty() {
        return Err(ValidationError::new(
            field,
            "key must not be only whitespace",
        ));
    }
    if value.starts_with("..")
        || value
            .split('/')
            .any(|segment| matches!(segment, "" | "." | ".."))
    {
        return Err(ValidationError::new(
            field,
            format!(
                "key '{value}' is a path that does not name itself: keys must not start with '/' or '..', \
                 end with '/', or contain '//', '.' or '..' segments"
            ),
        )
        .of_key(
            value,
            KeyProblem::Path {
                resolves_to: normalized_path(value),
            },
        ));
    }
    Ok(())
}

/// Keys sent twice in one batch (MLflow refuses a `log-batch` naming a param twice, even with
/// the same value). Reports every repeated key once, in order.
pub fn unique_param_keys<'a>(
    keys: impl IntoIterator<Item = &'a str>,
) -> Result<(), ValidationError> {
    let mut seen = std::collections::BTreeSet::new();
    let mut repeated = Vec::new();
    for key in keys {
        if !seen.insert(key) && !repeated.contains(&key) {
            repeated.push(key);
        }
    }
    if repeated.is_empty() {
        return Ok(());
    }
    Err(ValidationError::new(
        "params",
        format!(
            "Duplicate parameter keys have been submitted: {repeated:?}. Please ensure the request \
             contains only one param value per param key."
        ),
    ))
}

/// A tag value.
pub fn tag_value(field: &str, value: &str) -> Result<(), ValidationError> {
    if value.chars().count() > MAX_TAG_VALUE_LEN {
        return Err(ValidationError::new(
            field,
            format!("tag value is longer than {MAX_TAG_VALUE_LEN} characters"),
        ));
    }
    Ok(())
}

/// A param value in its stored text form.
pub fn param_value(field: &str, value: &str) -> Result<(), ValidationError> {
    if value.chars().count() > MAX_PARAM_VALUE_LEN {
        return Err(ValidationError::new(
            field,
            format!("param value is longer than {MAX_PARAM_VALUE_LEN} characters"),
        ));
    }
    Ok(())
}

/// A relative artifact path such as `models/best.pt`: 1..=1024 bytes, `/`-separated,
/// no empty, `.` or `..` segments, no backslashes or control characters (NUL included). This
/// is what keeps an artifact inside its run whatever the storage backend.
///
/// Paths arrive already percent-decoded once (by the URL router or the query parser). A path
/// that still holds percent-escapes is decoded once more and must pass the same rules, so a
/// doubly encoded `..%2F` or `%00` cannot turn into a traversal in any later layer (a proxy,
/// a client, a file browser) that decodes again; a lone `%` (`100%.txt`) stays allowed.
pub fn artifact_path(field: &str, value: &str) -> Result<(), ValidationError> {
    artifact_path_rules(field, value, value)?;
    if let Some(decoded) = percent_decoded(value) {
        artifact_path_rules(field, &decoded, value)?;
    }
    Ok(())
}

fn artifact_path_rules(field: &str, value: &str, shown: &str) -> Result<(), ValidationError> {
    if value.is_empty() {
        return Err(ValidationError::new(
            field,
            "artifact path must not be empty",
        ));
    }
    if value.len() > MAX_ARTIFACT_PATH_LEN {
        return Err(ValidationError::new(
            field,
            format!("artifact path is longer than {MAX_ARTIFACT_PATH_LEN} bytes"),
        ));
    }
    if value.contains('\\') || value.chars().any(char::is_control) {
        return Err(ValidationError::new(
            field,
            format!(
                "artifact path '{}' must not contain backslashes or control characters (also when percent-encoded)",
                shown.escape_debug()
            ),
        ));
    }
    if value
        .split('/')
        .any(|segment| segment.is_empty() || segment == "." || segment == "..")
    {
        return Err(ValidationError::new(
            field,
            format!(
                "artifact path '{}' must be relative, like 'dir/file.txt', with no empty, '.' or '..' segments \
                 (also when percent-encoded)",
                shown.escape_debug()
            ),
        ));
    }
    Ok(())
}

/// `value` with its `%XX` escapes decoded, when it has any; invalid escapes stay as they are
/// and bytes that do not form UTF-8 are replaced (they cannot match a dot, slash or backslash).
fn percent_decoded(value: &str) -> Option<String> {
    if !value.contains('%') {
        return None;
    }
    let bytes = value.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut changed = false;
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| (b as char).to_digit(16);
        if bytes[i] == b'%'
            && i + 2 < bytes.len()
            && let (Some(hi), Some(lo)) = (hex(bytes[i + 1]), hex(bytes[i + 2]))
        {
            out.push((hi * 16 + lo) as u8);
            changed = true;
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    changed.then(|| String::from_utf8_lossy(&out).into_owned())
}

fn truncate(value: &str, chars: usize) -> String {
    value.chars().take(chars).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_normalize_as_posixpath_normpath_does() {
        // Expected values printed by Python's `posixpath.normpath`.
        for (path, expected) in [
            ("a//b", "a/b"),
            ("../x", "../x"),
            ("/abs", "/abs"),
            ("a/./b", "a/b"),
            (".", "."),
            ("a/../..", ".."),
            ("/../x", "/x"),
            ("//a", "//a"),
            ("///a", "/a"),
            ("a/", "a"),
            ("", "."),
            ("..a/b", "..a/b"),
            ("a/b/../c", "a/c"),
            ("../../a/..", "../.."),
        ] {
            assert_eq!(normalized_path(path), expected, "{path:?}");
        }
    }

    #[test]
    fn refused_keys_say_why() {
        let err = key("k", "a//b").unwrap_err();
        assert_eq!(
            err.refused_key,
            Some(Box::new(RefusedKey {
                key: "a//b".into(),
                problem: KeyProblem::Path {
                    resolves_to: "a/b".into()
                }
            }))
        );
        let err = key("k", "bad*").unwrap_err();
        assert_eq!(err.refused_key.unwrap().problem, KeyProblem::Character);
        assert_eq!(key("k", "").unwrap_err().refused_key, None);
    }

    #[test]
    fn names_are_trimmed_and_bounded() {
        assert_eq!(name("name", "  resnet  ").unwrap(), "resnet");
        assert!(name("name", "   ").is_err());
        assert!(name("name", &"x".repeat(257)).is_err());
        assert!(name("name", "a\nb").is_err());
    }

    #[test]
    fn names_refuse_whitespace_only_and_bidi_controls() {
        for bad in [
            "\u{00A0}\u{3000}",
            "\t \n",
            "abc\u{202E}gnp.exe",
            "\u{2066}x\u{2069}",
            "a\u{202A}b",
        ] {
            assert!(name("name", bad).is_err(), "{bad:?}");
        }
        let err = name("name", "evil\u{202E}txt").unwrap_err();
        assert!(err.message.contains("bidirectional"), "{}", err.message);
        // Right-to-left scripts themselves are names like any other.
        assert_eq!(name("name", "שלום עולם").unwrap(), "שלום עולם");
    }

    #[test]
    fn keys_refuse_whitespace_only_and_bidi_controls() {
        for bad in [" ", "   ", "loss\u{202E}", "\u{2067}acc"] {
            assert!(key("key", bad).is_err(), "{bad:?}");
        }
        assert!(key("key", " a b ").is_ok());
        // The message shows the character escaped, not reordering the text around it.
        let err = key("key", "a\u{202E}b").unwrap_err();
        assert!(err.message.contains("\\u{202e}"), "{}", err.message);
    }

    #[test]
    fn keys_are_paths_that_name_themselves_as_mlflow_requires() {
        for bad in ["a/", "a//b", "./a", "a/./b", "..a", ".", "../a"] {
            assert!(key("key", bad).is_err(), "{bad:?}");
        }
        for ok in ["a..b", "a/b.", "a./b", ".a", "a/.b"] {
            assert!(key("key", ok).is_ok(), "{ok:?}");
        }
    }

    #[test]
    fn values_up_to_the_limits_pass_and_beyond_them_fail() {
        // MLflow accepts (and truncates) longer values than its 6,000 / 8,000 limits; ETS keeps
        // them whole.
        assert!(param_value("p", &"x".repeat(6001)).is_ok());
        assert!(tag_value("t", &"x".repeat(8001)).is_ok());
        assert!(param_value("p", &"x".repeat(MAX_PARAM_VALUE_LEN)).is_ok());
        assert!(param_value("p", &"x".repeat(MAX_PARAM_VALUE_LEN + 1)).is_err());
        assert!(tag_value("t", &"x".repeat(MAX_TAG_VALUE_LEN + 1)).is_err());
        // Values are data: bidirectional characters stay.
        assert!(tag_value("t", "abc\u{202E}def").is_ok());
    }

    #[test]
    fn a_param_key_twice_in_one_batch_is_refused_like_mlflow() {
        assert!(unique_param_keys(["a", "b"]).is_ok());
        let err = unique_param_keys(["a", "b", "a", "a", "b"]).unwrap_err();
        assert!(
            err.message
                .starts_with("Duplicate parameter keys have been submitted: [\"a\", \"b\"]"),
            "{}",
            err.message
        );
    }

    #[test]
    fn keys_follow_mlflow_rules() {
        for ok in ["loss", "train/loss", "val acc", "lr:0", "épochs", "a.b-c_d"] {
            assert!(key("key", ok).is_ok(), "{ok}");
        }
        for bad in ["", "/abs", "a/../b", "..", "x?y", "a\tb"] {
            assert!(key("key", bad).is_err(), "{bad:?}");
        }
        assert!(key("key", &"k".repeat(251)).is_err());
        let err = key("metrics[2].key", "x?y").unwrap_err();
        assert_eq!(err.field, "metrics[2].key");
        assert!(err.message.contains("'?'"));
    }

    #[test]
    fn artifact_paths_stay_inside_the_run() {
        for ok in [
            "model.pt",
            "checkpoints/epoch-1/model.pt",
            "a b/c",
            "100%.txt",
            "50%off/x",
            "a%2Fb",
            "%zz",
            "..a/b..",
        ] {
            assert!(artifact_path("path", ok).is_ok(), "{ok}");
        }
        for bad in [
            "",
            "/etc/passwd",
            "../x",
            "a/../../x",
            "a//b",
            "./a",
            "a/",
            "a\\b",
            "a\0b",
            // percent-encoded tricks (the router has decoded the URL once already)
            "%2e%2e/x",
            "a/%2E%2E/b",
            "..%2Fx",
            "%2e",
            "a%00b",
            "a%5Cb",
            "a%2F%2Fb",
            "%2Fetc%2Fpasswd",
        ] {
            assert!(artifact_path("path", bad).is_err(), "{bad:?}");
        }
    }
}
