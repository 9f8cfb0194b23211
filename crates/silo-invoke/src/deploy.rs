//! Deploying an agent folder into an agents directory without stopping anything: the
//! folder is checked (its `agent.yaml` loads), copied whole into
//! `<agents>/.versions/<name>-<version>-<hash>/`, made readable for the agent's uid, and
//! `<agents>/<name>` is switched to it by renaming a new symlink over the old one — one
//! atomic step, so a turn that starts sees either the old version or the new one, and a
//! cell already running keeps the folder it was started with (its base key is bound to
//! that folder's content hash). The previous versions stay in `.versions/` for a rollback.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use silo_keys::{folder_hash, FolderHash};

use crate::error::InvokeError;
use crate::manifest::{Manifest, MANIFEST_FILE};

/// Where deployed versions are kept, inside the agents directory.
pub const VERSIONS_DIR: &str = ".versions";
/// Largest folder that is copied (bytes over all files).
const MAX_FOLDER_BYTES: u64 = 64 * 1024 * 1024;

/// What a deploy did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Deployed {
    /// The agent.
    pub name: String,
    /// Its new version.
    pub version: String,
    /// The version it replaced, if any.
    pub previous: Option<String>,
    /// The folder's content hash (what its base keys are bound to).
    pub folder_hash: String,
    /// Where the version lives.
    pub path: PathBuf,
    /// The same content was already deployed: nothing changed.
    pub unchanged: bool,
}

fn io(what: &'static str, path: &Path) -> impl FnOnce(std::io::Error) -> InvokeError {
    let path = path.to_path_buf();
    move |source| InvokeError::Io { what, path, source }
}

/// Deploys the agent folder `src` into `agents`.
pub fn deploy(src: &Path, agents: &Path) -> Result<Deployed, InvokeError> {
    let manifest = Manifest::load(src)?;
    let name = manifest.agent_name()?.as_str().to_owned();
    let hash = folder_hash(src)?;
    let short: String = hash
        .as_str()
        .trim_start_matches("sha256:")
        .chars()
        .take(12)
        .collect();
    let versions = agents.join(VERSIONS_DIR);
    std::fs::create_dir_all(&versions).map_err(io("create the versions folder", &versions))?;
    let dir_name = format!("{name}-{}-{short}", manifest.version);
    let target = versions.join(&dir_name);
    let link = agents.join(&name);
    let previous = match Manifest::load(&link) {
        Ok(m) => Some(m.version),
        Err(_) if !link.exists() => None,
        Err(e) => return Err(e),
    };
    let current = std::fs::read_link(&link).ok();
    let linked_here = current.as_deref() == Some(Path::new(VERSIONS_DIR).join(&dir_name).as_path());
    if linked_here && target.join(MANIFEST_FILE).is_file() {
        return Ok(Deployed {
            name,
            version: manifest.version,
            previous,
            folder_hash: hash.as_str().to_owned(),
            path: target,
            unchanged: true,
        });
    }
    if !target.exists() {
        let staging = versions.join(format!(".staging-{name}-{}", std::process::id()));
        if staging.exists() {
            std::fs::remove_dir_all(&staging).map_err(io("clear a staging folder", &staging))?;
        }
        let installed = install(src, &staging, &target, &hash);
        if installed.is_err() {
            // Nothing half-copied stays behind.
            let _ = std::fs::remove_dir_all(&staging);
        }
        installed?;
    }
    // A real folder (never deployed before) moves into the versions, then the link goes
    // in its place; from then on every deploy is one rename.
    if link.is_dir() && current.is_none() {
        let old = versions.join(format!(
            "{name}-{}-undeployed",
            previous.as_deref().unwrap_or("0")
        ));
        std::fs::rename(&link, &old).map_err(io("keep the previous folder", &old))?;
    }
    let tmp_link = agents.join(format!(".{name}.link-{}", std::process::id()));
    let _ = std::fs::remove_file(&tmp_link);
    // Relative to the link's own folder, so it holds whatever the agents path was given as
    // (and when the project moves).
    let relative = Path::new(VERSIONS_DIR).join(&dir_name);
    std::os::unix::fs::symlink(&relative, &tmp_link).map_err(io("link the version", &tmp_link))?;
    std::fs::rename(&tmp_link, &link).map_err(io("switch to the version", &link))?;
    Ok(Deployed {
        name,
        version: manifest.version,
        previous,
        folder_hash: hash.as_str().to_owned(),
        path: target,
        unchanged: false,
    })
}

/// Copies `src` into `staging`, checks the copy is what was checked, and moves it to
/// `target`.
fn install(
    src: &Path,
    staging: &Path,
    target: &Path,
    hash: &FolderHash,
) -> Result<(), InvokeError> {
    let mut budget = MAX_FOLDER_BYTES;
    copy_tree(src, staging, &mut budget)?;
    // What was copied must be what was checked.
    if &folder_hash(staging)? != hash {
        return Err(InvokeError::Invalid(format!(
            "`{}` changed while it was being deployed; try again",
            src.display()
        )));
    }
    std::fs::rename(staging, target).map_err(io("install the version", target))
}

/// Copies regular files and folders (no symlinks, devices or sockets: an agent folder is
/// code and data), readable by the agent's own uid.
fn copy_tree(src: &Path, dst: &Path, budget: &mut u64) -> Result<(), InvokeError> {
    std::fs::create_dir(dst).map_err(io("create a folder", dst))?;
    std::fs::set_permissions(dst, std::fs::Permissions::from_mode(0o755))
        .map_err(io("make a folder readable", dst))?;
    let mut entries: Vec<_> = std::fs::read_dir(src)
        .map_err(io("read the agent folder", src))?
        .collect::<Result<_, _>>()
        .map_err(io("read the agent folder", src))?;
    entries.sort_by_key(|e| e.file_name());
    for entry in entries {
        let from = entry.path();
        let to = dst.join(entry.file_name());
        let kind = entry.file_type().map_err(io("read a file type", &from))?;
        if kind.is_dir() {
            copy_tree(&from, &to, budget)?;
        } else if kind.is_file() {
            let len = entry.metadata().map_err(io("read a file", &from))?.len();
            *budget = budget.checked_sub(len).ok_or_else(|| {
                InvokeError::Invalid(format!(
                    "the agent folder is over {} MiB",
                    MAX_FOLDER_BYTES / (1024 * 1024)
                ))
            })?;
            std::fs::copy(&from, &to).map_err(io("copy a file", &from))?;
            std::fs::set_permissions(&to, std::fs::Permissions::from_mode(0o644))
                .map_err(io("make a file readable", &to))?;
        } else {
            return Err(InvokeError::Invalid(format!(
                "`{}` is not a regular file or folder; an agent folder holds only those",
                from.display()
            )));
        }
    }
    Ok(())
}
