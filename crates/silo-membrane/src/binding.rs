//! `CellBinding`: what the membrane knows about the one cell its socket belongs to.

use std::path::{Path, PathBuf};

use silo_keys::FolderHash;

use crate::error::MembraneError;

/// The cell a membrane socket serves. A task key bound to any other cell is refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CellBinding {
    cell_id: String,
    folder_hash: Option<FolderHash>,
    peer_uid: Option<u32>,
    agent_dir: Option<PathBuf>,
}

impl CellBinding {
    /// A binding to cell `cell_id` (1..=64 characters of `[A-Za-z0-9._-]`).
    pub fn new(cell_id: impl Into<String>) -> Result<Self, MembraneError> {
        let cell_id = cell_id.into();
        let ok = !cell_id.is_empty()
            && cell_id.len() <= 64
            && cell_id
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b));
        if !ok {
            return Err(MembraneError::InvalidConfig(format!(
                "cell id `{}` must be 1..=64 characters of letters, digits, `.`, `_` or `-`",
                cell_id.chars().take(80).collect::<String>()
            )));
        }
        Ok(Self {
            cell_id,
            folder_hash: None,
            peer_uid: None,
            agent_dir: None,
        })
    }

    /// Also refuse base keys minted for another agent-folder content.
    pub fn with_folder_hash(mut self, hash: FolderHash) -> Self {
        self.folder_hash = Some(hash);
        self
    }

    /// Only accept connections from processes running as host uid `uid` (the cell's agent
    /// uid); others are closed before a byte is read.
    pub fn with_peer_uid(mut self, uid: u32) -> Self {
        self.peer_uid = Some(uid);
        self
    }

    /// The agent folder on the host, where message templates are read from.
    pub fn with_agent_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.agent_dir = Some(dir.into());
        self
    }

    /// The agent folder, if set.
    pub fn agent_dir(&self) -> Option<&Path> {
        self.agent_dir.as_deref()
    }

    /// The cell id.
    pub fn cell_id(&self) -> &str {
        &self.cell_id
    }

    /// The agent folder hash base keys must carry, if set.
    pub fn folder_hash(&self) -> Option<&FolderHash> {
        self.folder_hash.as_ref()
    }

    /// The only uid allowed to connect, if set.
    pub fn peer_uid(&self) -> Option<u32> {
        self.peer_uid
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cell_ids_are_checked() {
        assert!(CellBinding::new("c-0123456789ab").is_ok());
        for bad in ["", "a/b", "a b", &"x".repeat(65), "eyJ\n"] {
            assert!(CellBinding::new(bad).is_err(), "{bad:?}");
        }
    }
}
