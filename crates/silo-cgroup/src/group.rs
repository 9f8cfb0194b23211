//! One cell's cgroup: create, limit, attach, freeze, observe, remove.

use std::collections::BTreeMap;
use std::fs;
use std::io::ErrorKind;
use std::path::{Path, PathBuf};
use std::thread::sleep;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use crate::error::io;
use crate::hierarchy::Placement;
use crate::{CgroupError, CgroupLimits, Controller, Hierarchies};

/// Where a cell's group lives, by controller. Serialisable so that
/// `silo cell stop|cont|kill` can find a running cell's group again.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct GroupPaths {
    /// Controller → (`"v1"` | `"v2"`, group directory).
    pub dirs: BTreeMap<Controller, (String, PathBuf)>,
}

impl GroupPaths {
    fn dir(&self, c: Controller) -> Option<(&str, &Path)> {
        self.dirs.get(&c).map(|(v, p)| (v.as_str(), p.as_path()))
    }

    fn distinct_dirs(&self) -> Vec<&Path> {
        let mut v: Vec<&Path> = self.dirs.values().map(|(_, p)| p.as_path()).collect();
        v.sort();
        v.dedup();
        v
    }
}

/// Limit events observed in a cell's group.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LimitEvents {
    /// Processes killed by the OOM killer because of the memory limit.
    pub oom_kills: u64,
    /// Forks refused because the pids limit was reached.
    pub pids_max_hits: u64,
    /// Peak memory use in bytes, where the kernel reports it.
    pub memory_peak_bytes: Option<u64>,
}

/// A cell's cgroup, live for as long as the cell runs.
#[derive(Debug)]
pub struct CellCgroup {
    paths: GroupPaths,
    missing: Vec<(Controller, String)>,
}

impl CellCgroup {
    /// Creates the group `name` under the current process's groups and
    /// writes `limits`. Controllers that cannot be used (not mounted, not
    /// delegated) are listed by [`CellCgroup::missing`] so the caller can
    /// warn; a limit whose controller exists but cannot be written is an
    /// error.
    pub fn create(h: &Hierarchies, name: &str, limits: &CgroupLimits) -> Result<Self, CgroupError> {
        if name.is_empty()
            || name.starts_with('.')
            || !name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'.')
        {
            return Err(CgroupError::InvalidName(name.to_string()));
        }
        let mut missing: Vec<(Controller, String)> =
            h.missing().map(|(c, r)| (c, r.to_string())).collect();
        let mut paths = GroupPaths::default();
        let mut created: Vec<PathBuf> = Vec::new();

        // v2 controllers other than the freezer must be enabled in the
        // parent's subtree_control first.
        for (c, p) in &h.placement {
            if let Placement::V2(parent) = p {
                if *c != Controller::Freezer {
                    let f = parent.join("cgroup.subtree_control");
                    if let Err(e) = fs::write(&f, format!("+{}", c.kernel_name())) {
                        missing.push((*c, format!("cannot enable in `{}`: {e}", f.display())));
                        continue;
                    }
                }
            }
        }

        for (c, p) in &h.placement {
            if missing.iter().any(|(m, _)| m == c) {
                continue;
            }
            let (version, parent) = match p {
                Placement::V1(d) => ("v1", d.as_path()),
                Placement::V2(d) => ("v2", d.as_path()),
            };
            let dir = parent.join(name);
            if !created.contains(&dir) {
                match fs::create_dir(&dir) {
                    Ok(()) => created.push(dir.clone()),
                    Err(e) if e.kind() == ErrorKind::AlreadyExists => {
                        cleanup(&created);
                        return Err(CgroupError::Io {
                            op: "create (already exists)",
                            path: dir,
                            source: e,
                        });
                    }
                    Err(e) => {
                        missing.push((*c, format!("cannot create `{}`: {e}", dir.display())));
                        continue;
                    }
                }
            }
            paths.dirs.insert(*c, (version.to_string(), dir));
        }
        let group = CellCgroup { paths, missing };
        if let Err(e) = group.write_limits(limits) {
            cleanup(&created);
            return Err(e);
        }
        Ok(group)
    }

    /// Re-opens a running cell's group from its recorded paths.
    pub fn open(paths: GroupPaths) -> Self {
        CellCgroup {
            paths,
            missing: Vec::new(),
        }
    }

    /// The recorded paths, for the cell registry.
    pub fn paths(&self) -> &GroupPaths {
        &self.paths
    }

    /// Controllers that are not applied to this cell, with the reason.
    pub fn missing(&self) -> &[(Controller, String)] {
        &self.missing
    }

    /// Whether `c` is applied to this cell.
    pub fn has(&self, c: Controller) -> bool {
        self.paths.dirs.contains_key(&c)
    }

    fn write_limits(&self, limits: &CgroupLimits) -> Result<(), CgroupError> {
        if let (Some(bytes), Some((v, dir))) =
            (limits.memory_bytes, self.paths.dir(Controller::Memory))
        {
            if v == "v1" {
                write(dir, "memory.limit_in_bytes", &bytes.to_string())?;
                // No swap: memory+swap may not exceed memory alone.
                if dir.join("memory.memsw.limit_in_bytes").exists() {
                    write(dir, "memory.memsw.limit_in_bytes", &bytes.to_string())?;
                } else {
                    write(dir, "memory.swappiness", "0")?;
                }
            } else {
                write(dir, "memory.max", &bytes.to_string())?;
                if dir.join("memory.swap.max").exists() {
                    write(dir, "memory.swap.max", "0")?;
                }
            }
        }
        if let (Some(n), Some((_, dir))) = (limits.pids, self.paths.dir(Controller::Pids)) {
            write(dir, "pids.max", &n.to_string())?;
        }
        if let (Some(q), Some((v, dir))) = (limits.cpu, self.paths.dir(Controller::Cpu)) {
            if v == "v1" {
                write(dir, "cpu.cfs_period_us", &q.period_us.to_string())?;
                write(dir, "cpu.cfs_quota_us", &q.quota_us.to_string())?;
            } else {
                write(dir, "cpu.max", &format!("{} {}", q.quota_us, q.period_us))?;
            }
        }
        Ok(())
    }

    /// Moves process `pid` (as seen from the caller) into every hierarchy.
    pub fn add_process(&self, pid: u32) -> Result<(), CgroupError> {
        for dir in self.paths.distinct_dirs() {
            write(dir, "cgroup.procs", &pid.to_string())?;
        }
        Ok(())
    }

    /// Process ids (as seen from the caller) in the group.
    pub fn procs(&self) -> Result<Vec<u32>, CgroupError> {
        let mut all = Vec::new();
        for dir in self.paths.distinct_dirs() {
            let f = dir.join("cgroup.procs");
            let text = fs::read_to_string(&f).map_err(io("read", &f))?;
            all.extend(text.lines().filter_map(|l| l.trim().parse::<u32>().ok()));
        }
        all.sort_unstable();
        all.dedup();
        Ok(all)
    }

    /// Freezes every process of the cell and waits until the kernel says so.
    pub fn freeze(&self) -> Result<(), CgroupError> {
        self.set_frozen(true)
    }

    /// Thaws the cell.
    pub fn thaw(&self) -> Result<(), CgroupError> {
        self.set_frozen(false)
    }

    fn set_frozen(&self, frozen: bool) -> Result<(), CgroupError> {
        let (v, dir) = self
            .paths
            .dir(Controller::Freezer)
            .ok_or(CgroupError::Unavailable(Controller::Freezer))?;
        let want = if frozen { "FROZEN" } else { "THAWED" };
        if v == "v1" {
            write(dir, "freezer.state", want)?;
        } else {
            write(dir, "cgroup.freeze", if frozen { "1" } else { "0" })?;
        }
        let deadline = Instant::now() + Duration::from_secs(5);
        while self.is_frozen()? != frozen {
            if Instant::now() > deadline {
                return Err(CgroupError::FreezeTimeout(want));
            }
            sleep(Duration::from_millis(2));
        }
        Ok(())
    }

    /// Whether the cell is frozen (a freeze in progress counts as not yet).
    pub fn is_frozen(&self) -> Result<bool, CgroupError> {
        let Some((v, dir)) = self.paths.dir(Controller::Freezer) else {
            return Ok(false);
        };
        if v == "v1" {
            Ok(read(dir, "freezer.state")?.trim() == "FROZEN")
        } else {
            Ok(keyed(&read(dir, "cgroup.events")?, "frozen") == Some(1))
        }
    }

    /// OOM kills, pids-max hits and peak memory so far.
    pub fn events(&self) -> LimitEvents {
        let mut ev = LimitEvents::default();
        if let Some((v, dir)) = self.paths.dir(Controller::Memory) {
            if v == "v1" {
                if let Ok(t) = read(dir, "memory.oom_control") {
                    ev.oom_kills = keyed(&t, "oom_kill").unwrap_or(0);
                }
                ev.memory_peak_bytes = read(dir, "memory.max_usage_in_bytes")
                    .ok()
                    .and_then(|t| t.trim().parse().ok());
            } else {
                if let Ok(t) = read(dir, "memory.events") {
                    ev.oom_kills = keyed(&t, "oom_kill").unwrap_or(0);
                }
                ev.memory_peak_bytes = read(dir, "memory.peak")
                    .ok()
                    .and_then(|t| t.trim().parse().ok());
            }
        }
        if let Some((_, dir)) = self.paths.dir(Controller::Pids) {
            if let Ok(t) = read(dir, "pids.events") {
                ev.pids_max_hits = keyed(&t, "max").unwrap_or(0);
            }
        }
        ev
    }

    /// Removes the group. The cell's processes must be gone; a group that is
    /// still busy is retried for up to a second.
    pub fn remove(self) -> Result<(), CgroupError> {
        let dirs: Vec<PathBuf> = self
            .paths
            .distinct_dirs()
            .into_iter()
            .map(Path::to_path_buf)
            .collect();
        let deadline = Instant::now() + Duration::from_secs(1);
        for dir in dirs {
            loop {
                match fs::remove_dir(&dir) {
                    Ok(()) => break,
                    Err(e) if e.kind() == ErrorKind::NotFound => break,
                    Err(e) if Instant::now() < deadline => {
                        let _ = e;
                        sleep(Duration::from_millis(5));
                    }
                    Err(e) => return Err(io("remove", &dir)(e)),
                }
            }
        }
        Ok(())
    }
}

fn cleanup(created: &[PathBuf]) {
    for d in created {
        let _ = fs::remove_dir(d);
    }
}

fn write(dir: &Path, file: &str, value: &str) -> Result<(), CgroupError> {
    let p = dir.join(file);
    fs::write(&p, value).map_err(io("write", p))
}

fn read(dir: &Path, file: &str) -> Result<String, CgroupError> {
    let p = dir.join(file);
    fs::read_to_string(&p).map_err(io("read", p))
}

/// Reads `key N` from a flat-keyed cgroup file.
fn keyed(text: &str, key: &str) -> Option<u64> {
    text.lines().find_map(|l| {
        let mut it = l.split_whitespace();
        (it.next() == Some(key)).then(|| it.next()?.parse().ok())?
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keyed_reads_flat_files() {
        let t = "oom_kill_disable 0\nunder_oom 0\noom_kill 3\n";
        assert_eq!(keyed(t, "oom_kill"), Some(3));
        assert_eq!(keyed(t, "missing"), None);
        assert_eq!(keyed("max 0\n", "max"), Some(0));
    }

    #[test]
    fn rejects_path_like_names() {
        let h = Hierarchies::default();
        for bad in ["", "..", "a/b", ".hidden", "a b"] {
            assert!(
                CellCgroup::create(&h, bad, &CgroupLimits::default()).is_err(),
                "{bad}"
            );
        }
    }

    #[test]
    fn limit_without_controller_is_reported_not_silent() {
        let h = Hierarchies::default();
        let limits = CgroupLimits {
            memory_bytes: Some(1 << 20),
            ..CgroupLimits::default()
        };
        let g = CellCgroup::create(&h, "cell-x", &limits).unwrap();
        assert!(!g.has(Controller::Memory));
        // An empty hierarchy set has no reasons recorded by `detect`, but the
        // caller still sees the controller is absent and must warn.
        assert!(g.freeze().is_err());
    }

    /// Runs on the real host hierarchy when we are root: creates a group,
    /// writes limits, reads them back, removes it.
    #[test]
    fn real_group_round_trip_when_root() {
        if !nix_is_root() {
            eprintln!("skipped: needs root for cgroup writes");
            return;
        }
        let h = Hierarchies::detect().unwrap();
        if !h.has(Controller::Pids) {
            eprintln!("skipped: no pids controller");
            return;
        }
        let name = format!("silo-test-{}", std::process::id());
        let limits = CgroupLimits {
            pids: Some(17),
            ..CgroupLimits::default()
        };
        let g = CellCgroup::create(&h, &name, &limits).unwrap();
        let dir = g.paths().dir(Controller::Pids).unwrap().1.to_path_buf();
        assert_eq!(
            fs::read_to_string(dir.join("pids.max")).unwrap().trim(),
            "17"
        );
        assert!(g.procs().unwrap().is_empty());
        g.remove().unwrap();
        assert!(!dir.exists());
    }

    fn nix_is_root() -> bool {
        fs::read_to_string("/proc/self/status")
            .map(|s| {
                s.lines()
                    .any(|l| l.starts_with("Uid:") && l.split_whitespace().nth(2) == Some("0"))
            })
            .unwrap_or(false)
    }
}
