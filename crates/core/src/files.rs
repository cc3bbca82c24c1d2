//! Files only the service's own user may read: the data directory, the SQLite database, media
//! on local disk and the generated signing secret hold accounts, messages and keys.

use std::io;
use std::path::Path;

/// Creates `dir` and any missing parents with mode 0700. Directories that already exist keep
/// their mode: an operator may have chosen it.
pub fn private_dir(dir: &Path) -> io::Result<()> {
    let mut b = std::fs::DirBuilder::new();
    b.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut b, 0o700);
    b.create(dir)
}

/// Creates `path` empty with mode 0600 if it does not exist, so whatever writes it next
/// (SQLite, which gives its `-wal` and `-shm` files the same mode) does not create it
/// world-readable under the usual umask.
pub fn private_file(path: &Path) -> io::Result<()> {
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut opts, 0o600);
    match opts.open(path) {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(e),
    }
}
