//! Rows of `stored_files` (migration 13), the files of MLflow's artifact proxy outside any
//! run, and their SQL, written once for both backends. Paths are below the proxy root
//! (`mlflow-artifacts:/<path>`); a folder is every path that starts with it and a slash.

use ets_domain::model::Artifact;

use super::StoredArtifact;
use super::rows::RowRead;

/// The largest code point: `prefix || MAX_CHAR` bounds every path that starts with `prefix`,
/// so a folder is a range scan of the primary key (no LIKE, no wildcard escaping).
pub(crate) const MAX_CHAR: char = '\u{10FFFF}';

const COLUMNS: &str = "path, size, sha256, content_type, created_at, object_key";

/// The file at `$1`.
pub(crate) fn get_file() -> String {
    format!("SELECT {COLUMNS} FROM stored_files WHERE path = $1")
}
/// Records a file unless one is there: `$1` path, `$2` experiment, `$3` size, `$4` sha256,
/// `$5` content type, `$6` created at, `$7` object key.
pub(crate) const INSERT_FILE_IF_NEW: &str = "INSERT INTO stored_files (path, experiment_id, size, \
     sha256, content_type, created_at, object_key) VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (path) \
     DO NOTHING";
/// Replaces the file there, the same parameters as [`INSERT_FILE_IF_NEW`].
pub(crate) const UPDATE_FILE: &str = "UPDATE stored_files SET experiment_id = $2, size = $3, \
     sha256 = $4, content_type = $5, created_at = $6, object_key = $7 WHERE path = $1";
/// Every object key a file names (what `ets gc` must keep).
pub(crate) const FILE_OBJECT_KEYS: &str = "SELECT object_key FROM stored_files";

/// Files whose path starts with `$1` (below `$2` = `$1 || MAX_CHAR`), by path.
pub(crate) fn list_files(prefixed: bool) -> String {
    if prefixed {
        format!("SELECT {COLUMNS} FROM stored_files WHERE path >= $1 AND path < $2 ORDER BY path")
    } else {
        format!("SELECT {COLUMNS} FROM stored_files ORDER BY path")
    }
}

/// The file at `$1` or below it as a folder (`$2` = `$1/`, `$3` = `$1/ || MAX_CHAR`).
const AT_OR_BELOW: &str = "path = $1 OR (path >= $2 AND path < $3)";

pub(crate) fn files_at_or_below() -> String {
    format!("SELECT {COLUMNS} FROM stored_files WHERE {AT_OR_BELOW}")
}

pub(crate) fn delete_files_at_or_below() -> String {
    format!("DELETE FROM stored_files WHERE {AT_OR_BELOW}")
}

/// The three bounds [`files_at_or_below`] takes for `path`.
pub(crate) fn at_or_below_bounds(path: &str) -> [String; 3] {
    let below = format!("{path}/");
    let end = format!("{below}{MAX_CHAR}");
    [path.to_owned(), below, end]
}

/// The two bounds [`list_files`] takes for a prefix.
pub(crate) fn prefix_bounds(prefix: &str) -> [String; 2] {
    [prefix.to_owned(), format!("{prefix}{MAX_CHAR}")]
}

pub(crate) fn file_row<R: RowRead>(row: &R) -> Result<StoredArtifact, R::Error> {
    Ok(StoredArtifact {
        artifact: Artifact {
            path: row.text(0)?,
            size: row.int(1)?,
            sha256: row.text(2)?,
            content_type: row.opt_text(3)?,
            created_at: row.timestamp(4)?,
        },
        object_key: Some(row.text(5)?),
    })
}
