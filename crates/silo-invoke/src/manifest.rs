//! `agent.yaml`: what an agent folder declares about itself — name, version, the command
//! that runs it, its resource limits and the capabilities its base key grants.
//!
//! ```yaml
//! name: refund-agent
//! version: 1.0.0
//! entry: [python3, main.py]
//! limits: { memory: 256M, pids: 64, cpu: "1", timeout: 60s, tmpfs: 64M }
//! capabilities:
//!   refund: { max_cents: 50000, currency: USD }
//!   data.read: { fields: [name, email, balance_cents, orders] }
//!   email.send: { templates: [refund_confirmation] }
//!   escalate: [human]
//! python_path: [/opt/agent-python]   # host folders of Python packages, read-only in the cell
//! ```

use std::io::Read;
use std::path::{Component, Path, PathBuf};

use serde::Deserialize;
use silo_cell::{parse_cpu, parse_duration, parse_size, AgentName, Limits};
use silo_keys::Capabilities;

use crate::error::InvokeError;

/// The manifest's file name inside an agent folder.
pub const MANIFEST_FILE: &str = "agent.yaml";
/// Largest manifest accepted.
const MAX_MANIFEST_BYTES: u64 = 64 * 1024;
/// Most `python_path` folders.
const MAX_PYTHON_PATH: usize = 8;
/// Host places a `python_path` folder may not be in (nor be `/`): the cell builds its own
/// `/proc`, `/sys`, `/dev`, `/tmp`, `/run`, `/etc`, `/agent` and `/opt/silo`, and the rest
/// hold the host's own state and secrets (keys, homes, logs, spools).
const PYTHON_PATH_REFUSED: [&str; 12] = [
    "/proc",
    "/sys",
    "/dev",
    "/tmp",
    "/run",
    "/etc",
    "/agent",
    "/opt/silo",
    "/root",
    "/home",
    "/var",
    "/boot",
];

/// Limits as the manifest writes them; absent ones take the cell's defaults.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ManifestLimits {
    /// Memory, no swap (e.g. `256M`).
    pub memory: Option<String>,
    /// Most tasks (processes and threads).
    pub pids: Option<u64>,
    /// CPU cores (e.g. `0.5`).
    pub cpu: Option<String>,
    /// Wall clock (e.g. `30s`).
    pub timeout: Option<String>,
    /// Size of the writable tmpfs.
    pub tmpfs: Option<String>,
    /// Membrane requests per second the cell may send (sustained).
    pub membrane_rate: Option<u32>,
    /// Membrane requests the cell may send in a burst.
    pub membrane_burst: Option<u32>,
}

/// A parsed and checked `agent.yaml`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    /// The agent's name (decides its host uid; base keys name it).
    pub name: String,
    /// The deployed version.
    pub version: String,
    /// argv run in the cell, from the agent folder (`/agent`).
    pub entry: Vec<String>,
    /// Resource limits.
    #[serde(default)]
    pub limits: ManifestLimits,
    /// What the agent's base key grants.
    #[serde(default)]
    pub capabilities: Capabilities,
    /// A free-text description, for people.
    #[serde(default)]
    pub description: Option<String>,
    /// Give the cell the LLM loopback: `OPENAI_BASE_URL` points at `127.0.0.1` inside the
    /// cell, forwarded to the membrane, so unmodified code using the `openai` package works.
    #[serde(default)]
    pub llm_loopback: bool,
    /// Host folders of Python packages the agent imports (e.g. the `openai` package installed
    /// with `pip install --target`): each is bound read-only at the same path in the cell,
    /// read and execute only under Landlock, and put on `PYTHONPATH` after the SDK. Absolute
    /// paths outside the cell's own folders and the host's state (see
    /// [`Manifest::python_path_dirs`] for the checks made before a run).
    #[serde(default)]
    pub python_path: Vec<PathBuf>,
    /// Give the cell the in-cell MCP server: the silo executable read-only at
    /// `/opt/silo/bin/silo` and `SILO_MCP_COMMAND` naming how to start it (stdio), so an
    /// MCP-native agent reaches the membrane's tools through its MCP client.
    #[serde(default)]
    pub mcp: bool,
}

impl Manifest {
    /// Reads and checks `<dir>/agent.yaml`.
    pub fn load(dir: &Path) -> Result<Self, InvokeError> {
        let path = dir.join(MANIFEST_FILE);
        let bad = |reason: String| InvokeError::Manifest {
            path: path.clone(),
            reason,
        };
        let file = std::fs::File::open(&path).map_err(|e| bad(format!("cannot open it: {e}")))?;
        let mut text = String::new();
        file.take(MAX_MANIFEST_BYTES + 1)
            .read_to_string(&mut text)
            .map_err(|e| bad(format!("cannot read it as UTF-8: {e}")))?;
        if text.len() as u64 > MAX_MANIFEST_BYTES {
            return Err(bad(format!("larger than {MAX_MANIFEST_BYTES} bytes")));
        }
        Self::parse(&text).map_err(bad)
    }

    /// Parses and checks manifest text.
    pub fn parse(text: &str) -> Result<Self, String> {
        let m: Manifest = serde_norway::from_str(text).map_err(|e| e.to_string())?;
        m.check()?;
        Ok(m)
    }

    fn check(&self) -> Result<(), String> {
        AgentName::new(&self.name).map_err(|e| format!("`name`: {e}"))?;
        let version_ok = !self.version.is_empty()
            && self.version.len() <= 64
            && !self.version.starts_with('.')
            && self
                .version
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"._+-".contains(&b));
        if !version_ok {
            // It names a folder of deployed versions (`agents/.versions/<name>-<version>-…`).
            return Err(format!(
                "`version` `{}` must be 1..=64 of letters, digits, `.`, `_`, `+`, `-`, not starting with `.`",
                self.version.chars().take(64).collect::<String>()
            ));
        }
        if self.entry.is_empty() || self.entry.iter().any(|a| a.is_empty() || a.contains('\0')) {
            return Err(
                "`entry` must be a non-empty list of arguments, e.g. [python3, main.py]".into(),
            );
        }
        self.capabilities
            .validate()
            .map_err(|e| format!("`capabilities`: {e}"))?;
        self.check_python_path()?;
        self.membrane_limits()?;
        self.limits().map(|_| ())
    }

    /// The shape of `python_path`, checkable without the host's folders.
    fn check_python_path(&self) -> Result<(), String> {
        if self.python_path.len() > MAX_PYTHON_PATH {
            return Err(format!(
                "`python_path` may list at most {MAX_PYTHON_PATH} folders"
            ));
        }
        for (i, p) in self.python_path.iter().enumerate() {
            let shown = p.display();
            let normal = p.is_absolute()
                && p.components().count() > 1
                && p.components()
                    .skip(1)
                    .all(|c| matches!(c, Component::Normal(_)));
            let text = p.to_string_lossy();
            // `:` would split PYTHONPATH.
            if !normal || text.contains(':') || text.contains('\0') {
                return Err(format!(
                    "`python_path[{i}]` `{shown}` must be an absolute folder path without `.`, `..` or `:`"
                ));
            }
            if let Some(r) = PYTHON_PATH_REFUSED.iter().find(|r| p.starts_with(r)) {
                return Err(format!(
                    "`python_path[{i}]` `{shown}` is under `{r}`, which the cell owns or which holds the host's state; install the packages under /opt or /srv"
                ));
            }
            if self.python_path.iter().take(i).any(|q| q == p) {
                return Err(format!("`python_path` lists `{shown}` twice"));
            }
        }
        Ok(())
    }

    /// The `python_path` folders, checked against the host as a run is set up: each must
    /// be an existing directory named by its real path (no symlink on the way), readable
    /// by others when agents run under uids of their own (`agent_ids`: the agent's host
    /// uid and gid), and writable neither by everyone nor by the agent's uid or group (its
    /// contents outlive the cell and are not part of the folder hash the base key is
    /// minted for: they are the host's, like `/usr`); none may hold, or be inside, a
    /// folder in `keep_out` (the data and run folders, with the keys, the vault and the
    /// sockets).
    pub fn python_path_dirs(
        &self,
        agent_ids: Option<(u32, u32)>,
        keep_out: &[&Path],
    ) -> Result<Vec<PathBuf>, String> {
        use std::os::unix::fs::MetadataExt;
        let keep_out: Vec<PathBuf> = keep_out
            .iter()
            .map(|k| std::fs::canonicalize(k).unwrap_or_else(|_| k.to_path_buf()))
            .collect();
        for (i, p) in self.python_path.iter().enumerate() {
            let bad = |why: String| format!("`python_path[{i}]` `{}`: {why}", p.display());
            let real =
                std::fs::canonicalize(p).map_err(|e| bad(format!("cannot resolve it: {e}")))?;
            if &real != p {
                return Err(bad(format!(
                    "it resolves to `{}`; name the real folder",
                    real.display()
                )));
            }
            let meta = std::fs::metadata(p).map_err(|e| bad(e.to_string()))?;
            if !meta.is_dir() {
                return Err(bad("not a directory".into()));
            }
            let mode = meta.mode();
            if mode & 0o002 != 0 {
                return Err(bad("it is writable by everyone: `chmod o-w` it".into()));
            }
            if let Some((uid, gid)) = agent_ids {
                if meta.uid() == uid || (meta.gid() == gid && mode & 0o020 != 0) {
                    return Err(bad(
                        "the agent's own uid could change it: give it to root".into()
                    ));
                }
                if mode & 0o005 != 0o005 {
                    return Err(bad(
                        "the agent's uid cannot read it: `chmod o+rx` it (and its files o+r)"
                            .into(),
                    ));
                }
            }
            if let Some(k) = keep_out
                .iter()
                .find(|k| k.starts_with(p) || p.starts_with(k))
            {
                return Err(bad(format!(
                    "it overlaps `{}`, which holds silo's own state",
                    k.display()
                )));
            }
        }
        Ok(self.python_path.clone())
    }

    /// The membrane's per-cell limits: the manifest's rate and burst over the defaults.
    pub fn membrane_limits(&self) -> Result<silo_membrane::Limits, String> {
        let mut l = silo_membrane::Limits::default();
        if let Some(r) = self.limits.membrane_rate {
            l.requests_per_second = r;
        }
        if let Some(b) = self.limits.membrane_burst {
            l.burst = b;
        }
        l.validate().map_err(|e| format!("`limits`: {e}"))?;
        Ok(l)
    }

    /// The agent name.
    pub fn agent_name(&self) -> Result<AgentName, InvokeError> {
        AgentName::new(&self.name).map_err(|e| InvokeError::Invalid(e.to_string()))
    }

    /// The cell limits: the manifest's, over the cell defaults.
    pub fn limits(&self) -> Result<Limits, String> {
        let mut l = Limits::default();
        let m = &self.limits;
        if let Some(v) = &m.memory {
            l.memory_bytes = parse_size(v).map_err(|e| format!("`limits.memory`: {e}"))?;
        }
        if let Some(v) = m.pids {
            l.pids = v;
        }
        if let Some(v) = &m.cpu {
            l.cpu_millicores = parse_cpu(v).map_err(|e| format!("`limits.cpu`: {e}"))?;
        }
        if let Some(v) = &m.timeout {
            l.timeout_ms = parse_duration(v).map_err(|e| format!("`limits.timeout`: {e}"))?;
        }
        if let Some(v) = &m.tmpfs {
            l.tmpfs_bytes = parse_size(v).map_err(|e| format!("`limits.tmpfs`: {e}"))?;
            l.fsize_bytes = l.tmpfs_bytes;
        }
        l.validate().map_err(|e| format!("`limits`: {e}"))?;
        Ok(l)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_full_manifest_parses() {
        let m = Manifest::parse(
            "name: refund-agent\nversion: 1.0.0\nentry: [python3, main.py]\n\
             limits: {memory: 128M, timeout: 5s}\n\
             capabilities:\n  refund: {max_cents: 500, currency: USD}\n  escalate: [human]\n",
        )
        .unwrap();
        assert_eq!(m.entry, ["python3", "main.py"]);
        let l = m.limits().unwrap();
        assert_eq!(l.memory_bytes, 128 << 20);
        assert_eq!(l.timeout_ms, 5000);
        assert_eq!(m.capabilities.refund.unwrap().max_cents, 500);
    }

    #[test]
    fn bad_manifests_say_what_is_wrong() {
        for (text, needle) in [
            ("name: a\nversion: 1\nentry: []\n", "entry"),
            ("name: a\nversion: 1\nentry: [x]\nlimits: {memory: lots}\n", "limits.memory"),
            ("name: a\nversion: 1\nentry: [x]\ncapabilities: {root: true}\n", "root"),
            ("name: a\nversion: 1\nentry: [x]\nsurprise: 1\n", "surprise"),
            (
                "name: a\nversion: 1\nentry: [x]\ncapabilities: {refund: {max_cents: -1, currency: USD}}\n",
                "negative",
            ),
            ("name: ../x\nversion: 1\nentry: [x]\n", "name"),
            ("name: a\nversion: 1/../../x\nentry: [x]\n", "version"),
            ("name: a\nversion: .hidden\nentry: [x]\n", "version"),
            ("name: a\nversion: ''\nentry: [x]\n", "version"),
            ("name: a\nversion: 1\nentry: [x]\npython_path: [opt/py]\n", "absolute"),
            ("name: a\nversion: 1\nentry: [x]\npython_path: [/opt/../etc]\n", "absolute"),
            ("name: a\nversion: 1\nentry: [x]\npython_path: [/]\n", "absolute"),
            ("name: a\nversion: 1\nentry: [x]\npython_path: ['/opt/a:/etc']\n", "absolute"),
            ("name: a\nversion: 1\nentry: [x]\npython_path: [/root/venv]\n", "`/root`"),
            ("name: a\nversion: 1\nentry: [x]\npython_path: [/opt/silo/sdk]\n", "`/opt/silo`"),
            ("name: a\nversion: 1\nentry: [x]\npython_path: [/etc/ssl]\n", "`/etc`"),
            ("name: a\nversion: 1\nentry: [x]\npython_path: [/opt/p, /opt/p]\n", "twice"),
        ] {
            let err = Manifest::parse(text).unwrap_err();
            assert!(err.contains(needle), "{text}: {err}");
        }
    }

    #[test]
    fn python_path_folders_are_checked_against_the_host() {
        use std::os::unix::fs::{MetadataExt, PermissionsExt};
        let base = tempfile::tempdir().unwrap();
        let root = std::fs::canonicalize(base.path()).unwrap();
        let good = root.join("py");
        std::fs::create_dir(&good).unwrap();
        std::fs::set_permissions(&good, std::fs::Permissions::from_mode(0o755)).unwrap();
        let with = |dirs: &[&Path]| Manifest {
            python_path: dirs.iter().map(|d| d.to_path_buf()).collect(),
            ..Manifest::parse("name: a\nversion: 1\nentry: [x]\n").unwrap()
        };
        let meta = std::fs::metadata(&good).unwrap();
        let me = Some((meta.uid(), meta.gid()));
        let other = Some((meta.uid() + 1, meta.gid() + 1));
        let dirs = with(&[&good]).python_path_dirs(other, &[]).unwrap();
        assert_eq!(dirs, [good.as_path()]);
        // Owned by the agent's uid: it could leave code there for the next run.
        let err = with(&[&good]).python_path_dirs(me, &[]).unwrap_err();
        assert!(err.contains("own uid"), "{err}");
        std::fs::set_permissions(&good, std::fs::Permissions::from_mode(0o777)).unwrap();
        let err = with(&[&good]).python_path_dirs(other, &[]).unwrap_err();
        assert!(err.contains("everyone"), "{err}");
        std::fs::set_permissions(&good, std::fs::Permissions::from_mode(0o700)).unwrap();
        let err = with(&[&good]).python_path_dirs(other, &[]).unwrap_err();
        assert!(err.contains("cannot read"), "{err}");
        // Without uids of their own, agents run as the caller: no uid to compare.
        assert!(with(&[&good]).python_path_dirs(None, &[]).is_ok());
        std::fs::set_permissions(&good, std::fs::Permissions::from_mode(0o755)).unwrap();
        // Missing; through a symlink; a file; holding or inside silo's own state.
        let link = root.join("link");
        std::os::unix::fs::symlink(&good, &link).unwrap();
        let file = root.join("file");
        std::fs::write(&file, "x").unwrap();
        let data = good.join("silo-data");
        std::fs::create_dir(&data).unwrap();
        std::fs::set_permissions(&data, std::fs::Permissions::from_mode(0o755)).unwrap();
        for (dir, keep_out, needle) in [
            (root.join("missing"), None, "cannot resolve"),
            (link.clone(), None, "resolves to"),
            (file.clone(), None, "not a directory"),
            (good.clone(), Some(&data), "overlaps"),
            (data.clone(), Some(&good), "overlaps"),
        ] {
            let keep: Vec<&Path> = keep_out.into_iter().map(PathBuf::as_path).collect();
            let err = with(&[&dir]).python_path_dirs(other, &keep).unwrap_err();
            assert!(err.contains(needle), "{dir:?}: {err}");
        }
    }
}
