//! Where the current process sits in the v1 and v2 hierarchies, and which
//! hierarchy serves each controller.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

use crate::error::io;
use crate::{CgroupError, Controller};

/// The hierarchy chosen for one controller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Placement {
    /// cgroup v1: the directory of the current process in that controller's
    /// hierarchy.
    V1(PathBuf),
    /// cgroup v2: the directory of the current process in the unified
    /// hierarchy (shared by every v2 controller).
    V2(PathBuf),
}

/// The cgroup places of the current process, by controller.
#[derive(Debug, Clone, Default)]
pub struct Hierarchies {
    pub(crate) placement: BTreeMap<Controller, Placement>,
    /// Controllers that are mounted nowhere or not delegated, with why.
    pub(crate) missing: BTreeMap<Controller, String>,
}

struct Mount {
    root: String,
    mount_point: PathBuf,
    fstype: String,
    super_opts: Vec<String>,
}

impl Hierarchies {
    /// Reads `/proc/self/mountinfo` and `/proc/self/cgroup`.
    pub fn detect() -> Result<Self, CgroupError> {
        let mi = Path::new("/proc/self/mountinfo");
        let cg = Path::new("/proc/self/cgroup");
        let mountinfo = fs::read_to_string(mi).map_err(io("read", mi))?;
        let membership = fs::read_to_string(cg).map_err(io("read", cg))?;
        Self::from_text(&mountinfo, &membership)
    }

    /// Pure part of [`Hierarchies::detect`], for tests.
    pub(crate) fn from_text(mountinfo: &str, membership: &str) -> Result<Self, CgroupError> {
        let mounts = parse_mountinfo(mountinfo)?;
        let mut v1_paths: BTreeMap<String, String> = BTreeMap::new();
        let mut v2_path: Option<String> = None;
        for line in membership.lines().filter(|l| !l.is_empty()) {
            let mut parts = line.splitn(3, ':');
            let (Some(_id), Some(ctrls), Some(path)) = (parts.next(), parts.next(), parts.next())
            else {
                return Err(CgroupError::Parse {
                    path: "/proc/self/cgroup".into(),
                    detail: format!("bad line `{line}`"),
                });
            };
            if ctrls.is_empty() {
                v2_path = Some(path.to_string());
            } else {
                for c in ctrls.split(',') {
                    v1_paths.insert(c.to_string(), path.to_string());
                }
            }
        }

        let mut out = Hierarchies::default();
        let unified = mounts.iter().find(|m| m.fstype == "cgroup2");
        let v2_dir = match (unified, &v2_path) {
            (Some(m), Some(p)) => Some(join_under(&m.mount_point, &m.root, p)),
            _ => None,
        };
        let v2_controllers: Vec<String> = v2_dir
            .as_ref()
            .and_then(|d| fs::read_to_string(d.join("cgroup.controllers")).ok())
            .map(|s| s.split_whitespace().map(str::to_string).collect())
            .unwrap_or_default();

        for c in Controller::ALL {
            let name = c.kernel_name();
            // v2 first: the freezer is part of the v2 core, the others must be
            // offered by the parent.
            if let Some(dir) = &v2_dir {
                let offered = c == Controller::Freezer || v2_controllers.iter().any(|x| x == name);
                if offered && dir.is_dir() {
                    out.placement.insert(c, Placement::V2(dir.clone()));
                    continue;
                }
            }
            let v1 = mounts
                .iter()
                .find(|m| m.fstype == "cgroup" && m.super_opts.iter().any(|o| o == name));
            match (v1, v1_paths.get(name)) {
                (Some(m), Some(p)) => {
                    out.placement
                        .insert(c, Placement::V1(join_under(&m.mount_point, &m.root, p)));
                }
                _ => {
                    out.missing.insert(
                        c,
                        "not mounted in cgroup v1 and not offered by cgroup v2".into(),
                    );
                }
            }
        }
        Ok(out)
    }

    /// Controllers that cannot be used, with the reason.
    pub fn missing(&self) -> impl Iterator<Item = (Controller, &str)> {
        self.missing.iter().map(|(c, r)| (*c, r.as_str()))
    }

    /// Whether `controller` has a hierarchy.
    pub fn has(&self, controller: Controller) -> bool {
        self.placement.contains_key(&controller)
    }
}

/// `/proc/self/cgroup` paths are relative to the hierarchy root; a mount may
/// show only a subtree (`root` in mountinfo), so strip that prefix.
fn join_under(mount_point: &Path, mount_root: &str, path: &str) -> PathBuf {
    let rel = path.strip_prefix(mount_root).unwrap_or(path);
    let rel = rel.trim_start_matches('/');
    if rel.is_empty() {
        mount_point.to_path_buf()
    } else {
        mount_point.join(rel)
    }
}

fn parse_mountinfo(text: &str) -> Result<Vec<Mount>, CgroupError> {
    let mut mounts = Vec::new();
    for line in text.lines() {
        // id parent major:minor root mount_point opts [optional...] - fstype source super_opts
        let Some((left, right)) = line.split_once(" - ") else {
            continue;
        };
        let lf: Vec<&str> = left.split(' ').collect();
        let rf: Vec<&str> = right.split(' ').collect();
        let (Some(root), Some(mp), Some(fstype)) = (lf.get(3), lf.get(4), rf.first()) else {
            return Err(CgroupError::Parse {
                path: "/proc/self/mountinfo".into(),
                detail: format!("bad line `{line}`"),
            });
        };
        if *fstype != "cgroup" && *fstype != "cgroup2" {
            continue;
        }
        mounts.push(Mount {
            root: unescape(root),
            mount_point: PathBuf::from(unescape(mp)),
            fstype: (*fstype).to_string(),
            super_opts: rf
                .get(2)
                .map(|o| o.split(',').map(str::to_string).collect())
                .unwrap_or_default(),
        });
    }
    Ok(mounts)
}

/// mountinfo escapes space, tab, newline and backslash as `\ooo`.
fn unescape(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\' && i + 3 < b.len() {
            if let Some(v) = s
                .get(i + 1..i + 4)
                .and_then(|o| u8::from_str_radix(o, 8).ok())
            {
                out.push(v);
                i += 4;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    const HYBRID_MOUNTINFO: &str = "\
30 25 0:26 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
31 25 0:27 / /sys/fs/cgroup/pids rw,relatime - cgroup cgroup rw,pids
32 25 0:28 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu
33 25 0:29 / /sys/fs/cgroup/freezer rw,relatime - cgroup cgroup rw,freezer
34 25 0:30 / /nonexistent/unified rw,relatime - cgroup2 cgroup2 rw
";
    const HYBRID_CGROUP: &str = "\
8:pids:/
6:freezer:/
4:memory:/process_api/abc
1:cpu:/
0::/
";

    #[test]
    fn hybrid_host_uses_v1_when_v2_offers_nothing() {
        let h = Hierarchies::from_text(HYBRID_MOUNTINFO, HYBRID_CGROUP).unwrap();
        assert_eq!(
            h.placement.get(&Controller::Memory),
            Some(&Placement::V1(
                "/sys/fs/cgroup/memory/process_api/abc".into()
            ))
        );
        assert_eq!(
            h.placement.get(&Controller::Pids),
            Some(&Placement::V1("/sys/fs/cgroup/pids".into()))
        );
        // The unified mount here does not exist on disk, so the freezer falls
        // back to v1 as well.
        assert_eq!(
            h.placement.get(&Controller::Freezer),
            Some(&Placement::V1("/sys/fs/cgroup/freezer".into()))
        );
        assert!(h.missing.is_empty());
    }

    #[test]
    fn missing_controller_is_reported_not_dropped() {
        let mi = "30 25 0:26 / /sys/fs/cgroup/memory rw - cgroup cgroup rw,memory\n";
        let h = Hierarchies::from_text(mi, "4:memory:/\n").unwrap();
        assert!(h.has(Controller::Memory));
        let missing: Vec<_> = h.missing().map(|(c, _)| c).collect();
        assert_eq!(
            missing,
            vec![Controller::Pids, Controller::Cpu, Controller::Freezer]
        );
    }

    #[test]
    fn mount_root_prefix_is_stripped() {
        let mi = "30 25 0:26 /docker/x /sys/fs/cgroup/memory rw - cgroup cgroup rw,memory\n";
        let h = Hierarchies::from_text(mi, "4:memory:/docker/x/inner\n").unwrap();
        assert_eq!(
            h.placement.get(&Controller::Memory),
            Some(&Placement::V1("/sys/fs/cgroup/memory/inner".into()))
        );
    }

    #[test]
    fn bad_cgroup_line_is_an_error() {
        assert!(Hierarchies::from_text("", "garbage").is_err());
    }

    #[test]
    fn unescapes_octal() {
        assert_eq!(unescape(r"/a\040b"), "/a b");
        assert_eq!(unescape(r"/plain"), "/plain");
    }
}
