//! Running cells, one JSON file each under `<run_dir>/cells/`, so that
//! `silo cell ps|stop|cont|kill` can find a cell from another process.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use serde::{Deserialize, Serialize};
use silo_cgroup::{CellCgroup, GroupPaths};

use crate::CellError;

/// What the registry knows of one running cell.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CellRecord {
    /// Cell id.
    pub id: String,
    /// Agent name.
    pub agent: String,
    /// The command the agent runs.
    pub command: Vec<String>,
    /// Host pid of the supervisor.
    pub supervisor_pid: u32,
    /// Host pid of the cell's init (PID 1 inside).
    pub init_pid: u32,
    /// Start time, milliseconds since the Unix epoch.
    pub started_unix_ms: u64,
    /// The cell's cgroup directories.
    pub cgroup: GroupPaths,
}

/// State of a listed cell.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CellState {
    /// Running.
    Running,
    /// Frozen by `silo cell stop`.
    Paused,
}

/// The directory of running cells.
#[derive(Debug, Clone)]
pub struct Registry {
    dir: PathBuf,
}

/// `/run/silo` for root, else `$XDG_RUNTIME_DIR/silo`, else `/tmp/silo-<uid>`.
pub fn default_run_dir() -> PathBuf {
    let uid = nix::unistd::Uid::effective();
    if uid.is_root() {
        return PathBuf::from("/run/silo");
    }
    match std::env::var_os("XDG_RUNTIME_DIR") {
        Some(d) if !d.is_empty() => Path::new(&d).join("silo"),
        _ => PathBuf::from(format!("/tmp/silo-{uid}")),
    }
}

impl Registry {
    /// Opens (and creates) the registry under `run_dir`. The run directory
    /// is 0711 so that a cell's init, which no longer has the host's
    /// identity, can reach the root mount point inside it; the records
    /// themselves are in a 0700 directory.
    pub fn open(run_dir: &Path) -> Result<Self, CellError> {
        let dir = run_dir.join("cells");
        fs::create_dir_all(&dir).map_err(CellError::sys(format!("create {}", dir.display())))?;
        for (p, mode) in [(run_dir, 0o711), (dir.as_path(), 0o700)] {
            fs::set_permissions(p, fs::Permissions::from_mode(mode))
                .map_err(CellError::sys(format!("chmod {}", p.display())))?;
        }
        Ok(Registry { dir })
    }

    fn path(&self, id: &str) -> Result<PathBuf, CellError> {
        if !id.starts_with("c-")
            || id.len() != 14
            || !id[2..].bytes().all(|b| b.is_ascii_hexdigit())
        {
            return Err(CellError::UnknownCell(id.to_string()));
        }
        Ok(self.dir.join(format!("{id}.json")))
    }

    pub(crate) fn insert(&self, r: &CellRecord) -> Result<(), CellError> {
        let path = self.path(&r.id)?;
        let tmp = path.with_extension("tmp");
        let body =
            serde_json::to_vec_pretty(r).map_err(|e| CellError::InvalidSpec(e.to_string()))?;
        fs::write(&tmp, body).map_err(CellError::sys(format!("write {}", tmp.display())))?;
        fs::rename(&tmp, &path).map_err(CellError::sys(format!("rename {}", path.display())))
    }

    pub(crate) fn remove(&self, id: &str) {
        if let Ok(p) = self.path(id) {
            let _ = fs::remove_file(p);
        }
    }

    /// The record of `id`.
    pub fn get(&self, id: &str) -> Result<CellRecord, CellError> {
        let p = self.path(id)?;
        let body = fs::read(&p).map_err(|_| CellError::UnknownCell(id.to_string()))?;
        serde_json::from_slice(&body).map_err(|_| CellError::UnknownCell(id.to_string()))
    }

    /// Running cells. Records whose supervisor is gone are removed.
    pub fn list(&self) -> Result<Vec<(CellRecord, CellState)>, CellError> {
        let mut out = Vec::new();
        let entries = fs::read_dir(&self.dir)
            .map_err(CellError::sys(format!("read {}", self.dir.display())))?;
        for e in entries.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            let Some(id) = name.strip_suffix(".json") else {
                continue;
            };
            let Ok(rec) = self.get(id) else {
                continue;
            };
            if !alive(rec.supervisor_pid) {
                self.forget(rec);
                continue;
            }
            let cg = CellCgroup::open(rec.cgroup.clone());
            let state = if cg.is_frozen().unwrap_or(false) {
                CellState::Paused
            } else {
                CellState::Running
            };
            out.push((rec, state));
        }
        out.sort_by_key(|(r, _)| r.started_unix_ms);
        Ok(out)
    }

    /// Freezes every process of cell `id`.
    pub fn stop(&self, id: &str) -> Result<(), CellError> {
        let rec = self.live(id)?;
        Ok(CellCgroup::open(rec.cgroup).freeze()?)
    }

    /// Thaws cell `id`.
    pub fn cont(&self, id: &str) -> Result<(), CellError> {
        let rec = self.live(id)?;
        Ok(CellCgroup::open(rec.cgroup).thaw()?)
    }

    /// Kills cell `id`: SIGKILL to its init takes the whole pid namespace
    /// with it; a frozen cell is thawed so the kill can land.
    pub fn kill(&self, id: &str) -> Result<(), CellError> {
        let rec = self.live(id)?;
        kill(Pid::from_raw(rec.init_pid as i32), Signal::SIGKILL)
            .map_err(CellError::errno(format!("kill cell {id}")))?;
        let cg = CellCgroup::open(rec.cgroup);
        if cg.is_frozen().unwrap_or(false) {
            cg.thaw()?;
        }
        Ok(())
    }

    fn live(&self, id: &str) -> Result<CellRecord, CellError> {
        let rec = self.get(id)?;
        if !alive(rec.supervisor_pid) || !alive(rec.init_pid) {
            self.forget(rec);
            return Err(CellError::UnknownCell(id.to_string()));
        }
        Ok(rec)
    }

    /// Drops the record of a cell whose supervisor or init is gone and, when the supervisor
    /// is gone (killed with its host: SIGKILL, a crash), the cgroup it never removed; a
    /// live supervisor still reads the group's limit events and removes it itself. Best
    /// effort: a group that still holds a process stays (found by the crash tests,
    /// docs/RELIABILITY.md).
    fn forget(&self, rec: CellRecord) {
        self.remove(&rec.id);
        if !alive(rec.supervisor_pid) {
            let _ = CellCgroup::open(rec.cgroup).remove();
        }
    }
}

/// Whether `pid` runs: it exists and is not a zombie. A supervisor that died with its host
/// is re-parented, and a PID 1 that does not reap (a container's) leaves it a zombie for
/// ever, which `kill(pid, 0)` still finds (found by the crash tests, docs/RELIABILITY.md).
fn alive(pid: u32) -> bool {
    let exists = i32::try_from(pid)
        .ok()
        .filter(|p| *p > 0)
        .map(|p| kill(Pid::from_raw(p), None).is_ok())
        .unwrap_or(false);
    exists && !zombie(pid)
}

/// Whether /proc says `pid` is a zombie (or dead): field 3 of /proc/PID/stat.
fn zombie(pid: u32) -> bool {
    let Ok(stat) = fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return false;
    };
    // The command name (field 2) is in parentheses and may hold spaces.
    let state = stat
        .rfind(')')
        .and_then(|i| stat.get(i + 1..))
        .and_then(|rest| rest.split_whitespace().next());
    matches!(state, Some("Z" | "X"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_zombie_is_not_alive() {
        assert!(alive(std::process::id()));
        let mut child = std::process::Command::new("true").spawn().unwrap();
        let pid = child.id();
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while !zombie(pid) {
            assert!(std::time::Instant::now() < deadline);
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        assert!(!alive(pid), "an unreaped child counts as gone");
        child.wait().unwrap();
        assert!(!alive(pid));
    }

    #[test]
    fn stale_records_are_dropped_and_bad_ids_refused() {
        let dir = tempfile::tempdir().unwrap();
        let reg = Registry::open(dir.path()).unwrap();
        let rec = CellRecord {
            id: "c-0123456789ab".into(),
            agent: "a".into(),
            command: vec!["true".into()],
            supervisor_pid: i32::MAX as u32, // no such process
            init_pid: i32::MAX as u32,
            started_unix_ms: 0,
            cgroup: GroupPaths::default(),
        };
        reg.insert(&rec).unwrap();
        assert_eq!(reg.get(&rec.id).unwrap(), rec);
        assert!(reg.list().unwrap().is_empty());
        assert!(reg.get(&rec.id).is_err());
        assert!(matches!(
            reg.kill("../../etc/passwd"),
            Err(CellError::UnknownCell(_))
        ));
        assert!(matches!(
            reg.stop("c-0123456789ab"),
            Err(CellError::UnknownCell(_))
        ));
    }
}
