//! Data at rest is its owner's alone: folders ETS creates are 0700 and files 0600, whatever
//! the umask. An existing folder or file keeps the permissions its administrator chose (a
//! backup group may need to read it); one that other users can reach is logged as a warning.

use std::path::Path;

/// Makes every file and folder this process creates from now on owner-only (umask 077), as
/// PostgreSQL's server does: SQLite's files, object_store's artifact files and staging files,
/// whatever writes them. Called by the `ets` binary before it writes anything (not by
/// `ets agent`, a client whose trials' commands would inherit the umask).
pub fn restrict_new_files() {
    #[cfg(unix)]
    rustix::process::umask(rustix::fs::Mode::from_bits_truncate(0o077));
}

/// Creates `dir` and any missing parents as 0700 (existing ones are left alone) and warns when
/// an existing `dir` is open to other users.
pub fn create_dir_all(dir: &Path, what: &str) -> std::io::Result<()> {
    let existed = dir.is_dir();
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder.create(dir)?;
    if existed {
        warn_if_open_to_others(dir, what);
    }
    Ok(())
}

/// Creates `file` empty as 0600 unless it exists (then warns when other users can read it), so
/// a program that opens it afterwards (SQLite, whose `-wal` and `-shm` files copy the database
/// file's permissions) keeps it private.
pub fn create_file(file: &Path, what: &str) -> std::io::Result<()> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    match options.open(file) {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            warn_if_open_to_others(file, what);
            Ok(())
        }
        Err(e) => Err(e),
    }
}

/// Logs a warning when users other than the owner and its group may access `path`.
fn warn_if_open_to_others(path: &Path, what: &str) {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        if let Ok(metadata) = std::fs::metadata(path) {
            let mode = metadata.permissions().mode() & 0o777;
            if mode & 0o007 != 0 {
                tracing::warn!(
                    path = %path.display(),
                    mode = format!("{mode:o}"),
                    "the {what} is open to other users of this machine; ETS leaves existing \
                     permissions alone (chmod o-rwx to close it)"
                );
            }
        }
    }
}

#[cfg(all(test, unix))]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    use super::*;

    fn mode(path: &Path) -> u32 {
        std::fs::metadata(path).unwrap().permissions().mode() & 0o777
    }

    #[test]
    fn created_folders_and_files_are_private_and_existing_ones_kept() {
        let root = tempfile::tempdir().unwrap();
        let nested = root.path().join("a/b");
        create_dir_all(&nested, "test folder").unwrap();
        assert_eq!(mode(&root.path().join("a")), 0o700);
        assert_eq!(mode(&nested), 0o700);

        let file = nested.join("db");
        create_file(&file, "test file").unwrap();
        assert_eq!(mode(&file), 0o600);

        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o640)).unwrap();
        std::fs::write(&file, b"kept").unwrap();
        create_file(&file, "test file").unwrap();
        assert_eq!(mode(&file), 0o640, "an existing file keeps its mode");
        assert_eq!(std::fs::read(&file).unwrap(), b"kept", "and its content");

        std::fs::set_permissions(&nested, std::fs::Permissions::from_mode(0o750)).unwrap();
        create_dir_all(&nested, "test folder").unwrap();
        assert_eq!(mode(&nested), 0o750, "an existing folder keeps its mode");
    }
}
