//! The vault's master key file, `<dir>/pii-master.key`: 32 random bytes, mode 0600.
//!
//! Created atomically (written to a private temporary file, then hard-linked into place, so
//! two processes starting together agree on one key and nobody ever reads a half-written
//! one). An existing file that group or others can access, that is not a regular file, or
//! that is not exactly 32 bytes is refused rather than repaired: any of those means the key
//! may be compromised or damaged, and a human should look.

use std::fs::{self, OpenOptions};
use std::io::{ErrorKind, Read, Write};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::Path;

use zeroize::Zeroizing;

use crate::envelope::{random, random_key, SecretKey, KEY_LEN};
use crate::error::PiiError;

/// The master key's file name inside the vault directory.
pub const MASTER_KEY_FILE: &str = "pii-master.key";

/// Loads `<dir>/pii-master.key`, creating it if it does not exist.
pub(crate) fn load_or_create(dir: &Path) -> Result<SecretKey, PiiError> {
    let path = dir.join(MASTER_KEY_FILE);
    match fs::symlink_metadata(&path) {
        Ok(_) => load(&path),
        Err(e) if e.kind() == ErrorKind::NotFound => create(dir, &path),
        Err(source) => Err(PiiError::KeyFileIo { path, source }),
    }
}

fn load(path: &Path) -> Result<SecretKey, PiiError> {
    let io = |source| PiiError::KeyFileIo {
        path: path.to_path_buf(),
        source,
    };
    let meta = fs::symlink_metadata(path).map_err(io)?;
    if !meta.file_type().is_file() {
        return Err(PiiError::KeyFileNotRegular {
            path: path.to_path_buf(),
        });
    }
    let mode = meta.mode() & 0o777;
    if mode & 0o077 != 0 {
        return Err(PiiError::KeyFilePermissions {
            path: path.to_path_buf(),
            mode,
        });
    }
    if meta.len() != KEY_LEN as u64 {
        return Err(PiiError::KeyFileLength {
            path: path.to_path_buf(),
            len: meta.len(),
        });
    }
    let mut file = OpenOptions::new().read(true).open(path).map_err(io)?;
    // Check the file actually opened too, in case the path was swapped after the check.
    let opened = file.metadata().map_err(io)?;
    if opened.ino() != meta.ino() || opened.dev() != meta.dev() {
        return Err(PiiError::KeyFileNotRegular {
            path: path.to_path_buf(),
        });
    }
    let mut buf = Zeroizing::new(Vec::with_capacity(KEY_LEN + 1));
    Read::by_ref(&mut file)
        .take(KEY_LEN as u64 + 1)
        .read_to_end(&mut buf)
        .map_err(io)?;
    if buf.len() != KEY_LEN {
        return Err(PiiError::KeyFileLength {
            path: path.to_path_buf(),
            len: buf.len() as u64,
        });
    }
    let mut key = Zeroizing::new([0u8; KEY_LEN]);
    key.copy_from_slice(&buf);
    Ok(key)
}

fn create(dir: &Path, path: &Path) -> Result<SecretKey, PiiError> {
    let key = random_key()?;
    let suffix: [u8; 8] = random()?;
    let tmp = dir.join(format!(
        ".{MASTER_KEY_FILE}.{}.{}",
        std::process::id(),
        suffix
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect::<String>()
    ));
    let io = |p: &Path| {
        let p = p.to_path_buf();
        move |source| PiiError::KeyFileIo { path: p, source }
    };
    let written = (|| {
        let mut file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&tmp)?;
        file.write_all(key.as_slice())?;
        file.sync_all()
    })();
    if let Err(e) = written {
        let _ = fs::remove_file(&tmp);
        return Err(io(&tmp)(e));
    }
    let linked = fs::hard_link(&tmp, path);
    let _ = fs::remove_file(&tmp);
    match linked {
        Ok(()) => {
            // Make the new directory entry durable too.
            if let Ok(d) = fs::File::open(dir) {
                let _ = d.sync_all();
            }
            Ok(key)
        }
        // Another process created it first: use theirs.
        Err(e) if e.kind() == ErrorKind::AlreadyExists => load(path),
        Err(e) => Err(io(path)(e)),
    }
}
