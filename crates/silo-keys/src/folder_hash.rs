//! Content hash of an agent folder: the identity a base key is minted for.
//!
//! Written here rather than taken from a crate because the exact, documented
//! input (sorted relative paths + contents, symlink rules) is the security
//! property; it is a few lines over `std::fs` and `sha2`.

use std::fmt;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use crate::error::FolderHashError;

/// `sha256:<64 hex>` over the folder's files.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct FolderHash(String);

impl FolderHash {
    /// The hash as text, `sha256:<hex>`.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for FolderHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Hashes every regular file under `root`: for each file in byte order of its
/// `/`-separated relative path, the path length (u64 LE), the path, the content
/// length (u64 LE) and the content. Length prefixes make the encoding
/// unambiguous. Empty directories do not count.
///
/// Symlinks are followed only to regular files inside the folder; a symlink
/// that escapes the folder, dangles, or points at a directory is an error, so a
/// base key never covers content outside the folder.
pub fn folder_hash(root: &Path) -> Result<FolderHash, FolderHashError> {
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |source| FolderHashError::Io { path, source }
    };
    let canonical_root = root.canonicalize().map_err(io(root))?;
    if !canonical_root.is_dir() {
        return Err(FolderHashError::NotADirectory {
            path: root.to_path_buf(),
        });
    }
    let mut files: Vec<(String, PathBuf)> = Vec::new();
    collect(&canonical_root, &canonical_root, &mut files)?;
    files.sort_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));

    let mut hasher = Sha256::new();
    for (rel, path) in &files {
        let content = std::fs::read(path).map_err(io(path))?;
        hasher.update((rel.len() as u64).to_le_bytes());
        hasher.update(rel.as_bytes());
        hasher.update((content.len() as u64).to_le_bytes());
        hasher.update(&content);
    }
    Ok(FolderHash(format!("sha256:{:x}", hasher.finalize())))
}

fn collect(
    root: &Path,
    dir: &Path,
    out: &mut Vec<(String, PathBuf)>,
) -> Result<(), FolderHashError> {
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |source| FolderHashError::Io { path, source }
    };
    for entry in std::fs::read_dir(dir).map_err(io(dir))? {
        let entry = entry.map_err(io(dir))?;
        let path = entry.path();
        let rel_path = path.strip_prefix(root).unwrap_or(&path).to_path_buf();
        let rel = rel_path
            .to_str()
            .ok_or_else(|| FolderHashError::NonUtf8Path {
                path: rel_path.clone(),
            })?
            .replace(std::path::MAIN_SEPARATOR, "/");
        let meta = std::fs::symlink_metadata(&path).map_err(io(&path))?;
        let kind = meta.file_type();
        if kind.is_symlink() {
            let target = path
                .canonicalize()
                .map_err(|_| FolderHashError::SymlinkEscapes {
                    path: rel_path.clone(),
                })?;
            if !target.starts_with(root) {
                return Err(FolderHashError::SymlinkEscapes { path: rel_path });
            }
            if target.is_dir() {
                return Err(FolderHashError::SymlinkToDirectory { path: rel_path });
            }
            out.push((rel, target));
        } else if kind.is_dir() {
            collect(root, &path, out)?;
        } else if kind.is_file() {
            out.push((rel, path));
        }
        // Sockets, fifos and devices carry no agent code; they are not hashed.
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;

    fn agent_dir() -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join("main.py"), "print('hi')\n").unwrap();
        fs::create_dir(dir.path().join("templates")).unwrap();
        fs::write(dir.path().join("templates/apology.txt"), "Sorry {{name}}").unwrap();
        dir
    }

    #[test]
    fn hash_is_stable_and_content_sensitive() {
        let dir = agent_dir();
        let a = folder_hash(dir.path()).unwrap();
        assert_eq!(a, folder_hash(dir.path()).unwrap());
        assert!(a.as_str().starts_with("sha256:") && a.as_str().len() == 7 + 64);
        fs::write(dir.path().join("main.py"), "print('pwned')\n").unwrap();
        assert_ne!(a, folder_hash(dir.path()).unwrap());
    }

    #[test]
    fn renaming_a_file_changes_the_hash() {
        let dir = agent_dir();
        let a = folder_hash(dir.path()).unwrap();
        fs::rename(dir.path().join("main.py"), dir.path().join("main2.py")).unwrap();
        assert_ne!(a, folder_hash(dir.path()).unwrap());
    }

    #[test]
    fn adding_a_file_changes_the_hash() {
        let dir = agent_dir();
        let a = folder_hash(dir.path()).unwrap();
        fs::write(dir.path().join("extra.py"), "").unwrap();
        assert_ne!(a, folder_hash(dir.path()).unwrap());
    }

    #[test]
    fn symlink_escaping_the_folder_is_refused() {
        let dir = agent_dir();
        std::os::unix::fs::symlink("/etc/passwd", dir.path().join("leak")).unwrap();
        assert!(matches!(
            folder_hash(dir.path()),
            Err(FolderHashError::SymlinkEscapes { .. })
        ));
    }

    #[test]
    fn relative_symlink_escaping_via_dotdot_is_refused() {
        let outer = tempfile::tempdir().unwrap();
        fs::write(outer.path().join("secret"), "s").unwrap();
        let agent = outer.path().join("agent");
        fs::create_dir(&agent).unwrap();
        std::os::unix::fs::symlink("../secret", agent.join("s")).unwrap();
        assert!(matches!(
            folder_hash(&agent),
            Err(FolderHashError::SymlinkEscapes { .. })
        ));
    }

    #[test]
    fn symlink_inside_the_folder_is_hashed_as_its_target() {
        let dir = agent_dir();
        std::os::unix::fs::symlink("main.py", dir.path().join("alias.py")).unwrap();
        assert!(folder_hash(dir.path()).is_ok());
    }

    #[test]
    fn symlinked_directory_is_refused() {
        let dir = agent_dir();
        std::os::unix::fs::symlink("templates", dir.path().join("t2")).unwrap();
        assert!(matches!(
            folder_hash(dir.path()),
            Err(FolderHashError::SymlinkToDirectory { .. })
        ));
    }

    #[test]
    fn dangling_symlink_is_refused() {
        let dir = agent_dir();
        std::os::unix::fs::symlink("nope", dir.path().join("dangling")).unwrap();
        assert!(folder_hash(dir.path()).is_err());
    }
}
