//! Input rules shared by both API surfaces. Each check returns a [`ValidationError`] that
//! names the field and says what to change.

/// Longest metric, param or tag key (MLflow's limit, so MLflow clients see the same rule).
pub const MAX_KEY_LEN: usize = 250;
/// Longest param value (MLflow's limit).
pub const MAX_PARAM_VALUE_LEN: usize = 6000;
/// Longest tag value (MLflow's limit).
pub const MAX_TAG_VALUE_LEN: usize = 8000;
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
}

impl ValidationError {
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        ValidationError {
            field: field.into(),
            message: message.into(),
        }
    }
}

/// A display name: trimmed, 1..=256 characters, no control characters. Returns the trimmed name.
pub fn name(field: &str, value: &str) -> Result<String, ValidationError> {
    let trimmed = value.trim();
    if trimmed.is_empty() {
        return Err(ValidationError::new(field, "must not be empty"));
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

/// A metric, param or tag key. MLflow's rule: 1..=250 characters from letters, digits,
/// `_ - . / :` and space, not starting with `/`, and no `..` path segment (keys become
/// file-like paths in several tools).
pub fn key(field: &str, value: &str) -> Result<(), ValidationError> {
    if value.is_empty() {
        return Err(ValidationError::new(field, "key must not be empty"));
    }
    if value.chars().count() > MAX_KEY_LEN {
        return Err(ValidationError::new(
            field,
            format!(
                "key '{}…' is longer than {MAX_KEY_LEN} characters",
                truncate(value, 40)
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
                "key '{value}' contains '{bad}'; keys may use letters, digits, '_', '-', '.', '/', ':' and spaces"
            ),
        ));
    }
    if value.starts_with('/') || value.split('/').any(|segment| segment == "..") {
        return Err(ValidationError::new(
            field,
            format!("key '{value}' must not start with '/' or contain a '..' segment"),
        ));
    }
    Ok(())
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
    fn names_are_trimmed_and_bounded() {
        assert_eq!(name("name", "  resnet  ").unwrap(), "resnet");
        assert!(name("name", "   ").is_err());
        assert!(name("name", &"x".repeat(257)).is_err());
        assert!(name("name", "a\nb").is_err());
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
