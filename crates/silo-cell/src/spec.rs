//! What one cell run is asked to do: the serialisable request that crosses
//! from a (possibly multi-threaded) caller to the single-threaded supervisor.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::{AgentName, CellError, Limits};

/// Where the agent folder appears inside the cell (read-only).
pub const CELL_AGENT_DIR: &str = "/agent";
/// The only writable place inside the cell: a RAM tmpfs, `$HOME` and `$TMPDIR`.
pub const CELL_TMP_DIR: &str = "/tmp";
/// Where the agent SDK folder appears inside the cell (read-only, on `PYTHONPATH`).
pub const CELL_SDK_DIR: &str = "/opt/silo/sdk";
/// Where the silo executable appears inside the cell when the agent asked for the in-cell
/// MCP server (`mcp: true` in `agent.yaml`; read-only, run as `silo mcp --cell`).
pub const CELL_SILO_EXE: &str = "/opt/silo/bin/silo";
/// Where the membrane socket appears inside the cell.
pub const CELL_SOCKET_PATH: &str = "/run/silo/membrane.sock";

/// A protection layer that a debug build may switch off, so the escape suite
/// can show that each probe really detects an escape when its defence is
/// missing. Release builds refuse every weakening.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Weakening {
    /// Do not install the seccomp filter.
    Seccomp,
    /// Do not apply Landlock.
    Landlock,
    /// Stay in the host's network namespace.
    NetNs,
}

impl std::str::FromStr for Weakening {
    type Err = CellError;
    fn from_str(s: &str) -> Result<Self, CellError> {
        match s {
            "seccomp" => Ok(Weakening::Seccomp),
            "landlock" => Ok(Weakening::Landlock),
            "net-ns" => Ok(Weakening::NetNs),
            other => Err(CellError::InvalidSpec(format!(
                "unknown weakening `{other}` (seccomp, landlock, net-ns)"
            ))),
        }
    }
}

/// One cell run.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CellSpec {
    /// Unique id, `c-` and 12 hex digits.
    pub id: String,
    /// The agent's name: decides its host uid/gid.
    pub agent: AgentName,
    /// Host path of the agent folder, mounted read-only at [`CELL_AGENT_DIR`].
    pub agent_dir: Option<PathBuf>,
    /// argv; argv[0] is looked up in the cell's PATH.
    pub command: Vec<String>,
    /// Extra environment for the agent (the rest is cleared).
    pub env: Vec<(String, String)>,
    /// Resource limits.
    pub limits: Limits,
    /// Host path of the membrane socket, bind-mounted at [`CELL_SOCKET_PATH`].
    pub socket: Option<PathBuf>,
    /// Host path of the agent SDK folder, mounted read-only at [`CELL_SDK_DIR`].
    #[serde(default)]
    pub sdk_dir: Option<PathBuf>,
    /// Host path of the silo executable, mounted read-only at [`CELL_SILO_EXE`] so the agent
    /// can start the in-cell MCP server (`silo mcp --cell`), which speaks only to the membrane.
    #[serde(default)]
    pub silo_exe: Option<PathBuf>,
    /// Extra host paths to bind read-only at the same path in the cell.
    pub ro_binds: Vec<PathBuf>,
    /// The in-cell LLM loopback: `127.0.0.1:<port>` forwarded to the membrane socket, for
    /// agents that can only speak TCP (needs `socket`). See `forward.rs`.
    #[serde(default)]
    pub llm_loopback_port: Option<u16>,
    /// Where the registry and the root mount point live.
    pub run_dir: PathBuf,
    /// Debug builds only: layers to switch off for escape-suite controls.
    #[serde(default)]
    pub weaken: Vec<Weakening>,
}

impl CellSpec {
    /// A spec with defaults, a fresh id and the default run directory.
    pub fn new(agent: AgentName, command: Vec<String>) -> Self {
        CellSpec {
            id: new_cell_id(),
            agent,
            agent_dir: None,
            command,
            env: Vec::new(),
            limits: Limits::default(),
            socket: None,
            sdk_dir: None,
            silo_exe: None,
            ro_binds: Vec::new(),
            llm_loopback_port: None,
            run_dir: crate::default_run_dir(),
            weaken: Vec::new(),
        }
    }

    /// Checks everything that can be checked before any namespace exists.
    pub fn validate(&self) -> Result<(), CellError> {
        if self.command.is_empty() || self.command.iter().any(|a| a.contains('\0')) {
            return Err(CellError::InvalidSpec(
                "no command given: use `silo cell run [OPTIONS] -- CMD [ARGS...]`".into(),
            ));
        }
        if !self.id.starts_with("c-")
            || self.id.len() != 14
            || !self.id[2..].bytes().all(|b| b.is_ascii_hexdigit())
        {
            return Err(CellError::InvalidSpec(format!(
                "invalid cell id `{}`",
                self.id
            )));
        }
        self.limits.validate()?;
        for (what, dir) in [
            ("agent folder", &self.agent_dir),
            ("SDK folder", &self.sdk_dir),
        ] {
            let Some(d) = dir else { continue };
            if !d.is_absolute() || !d.is_dir() {
                return Err(if what == "agent folder" {
                    CellError::AgentDirMissing(d.clone())
                } else {
                    CellError::InvalidSpec(format!(
                        "{what} `{}` must be an existing absolute directory",
                        d.display()
                    ))
                });
            }
            // As root the agent runs under its own host uid, which reads the
            // folder as "other".
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(d)
                .map(|m| m.permissions().mode())
                .unwrap_or(0);
            if crate::identity::agents_get_own_uid() && mode & 0o005 != 0o005 {
                return Err(CellError::InvalidSpec(format!(
                    "{what} `{}` is not readable by the agent's uid: `chmod o+rx` it (and its files o+r)",
                    d.display()
                )));
            }
        }
        if let Some(exe) = &self.silo_exe {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(exe)
                .ok()
                .filter(|m| m.is_file())
                .map(|m| m.permissions().mode());
            let Some(mode) = mode.filter(|_| exe.is_absolute()) else {
                return Err(CellError::InvalidSpec(format!(
                    "silo executable `{}` must be an existing absolute file",
                    exe.display()
                )));
            };
            if crate::identity::agents_get_own_uid() && mode & 0o005 != 0o005 {
                return Err(CellError::InvalidSpec(format!(
                    "silo executable `{}` is not executable by the agent's uid: `chmod o+rx` it",
                    exe.display()
                )));
            }
        }
        if let Some(s) = &self.socket {
            use std::os::unix::fs::FileTypeExt;
            let ok = std::fs::metadata(s)
                .map(|m| m.file_type().is_socket())
                .unwrap_or(false);
            if !ok || !s.is_absolute() {
                return Err(CellError::SocketMissing(s.clone()));
            }
        }
        for b in &self.ro_binds {
            if !b.is_absolute() || !b.exists() {
                return Err(CellError::InvalidSpec(format!(
                    "--ro-bind `{}` must be an existing absolute path",
                    b.display()
                )));
            }
            // The cell builds these itself; a bind at or below one would shadow or expose it.
            let owned = [
                "/proc",
                "/sys",
                "/dev",
                CELL_TMP_DIR,
                "/run",
                CELL_AGENT_DIR,
                "/etc",
                "/opt/silo",
            ];
            if b == std::path::Path::new("/") || owned.iter().any(|f| b.starts_with(f)) {
                return Err(CellError::InvalidSpec(format!(
                    "--ro-bind `{}` would expose or shadow a path the cell owns",
                    b.display()
                )));
            }
        }
        if let Some(port) = self.llm_loopback_port {
            if self.socket.is_none() {
                return Err(CellError::InvalidSpec(
                    "the LLM loopback forwards to the membrane socket: give the cell a socket"
                        .into(),
                ));
            }
            if port < 1024 {
                return Err(CellError::InvalidSpec(format!(
                    "LLM loopback port {port} must be 1024 or above"
                )));
            }
        }
        for (k, v) in &self.env {
            if k.is_empty() || k.contains('=') || k.contains('\0') || v.contains('\0') {
                return Err(CellError::InvalidSpec(format!(
                    "invalid environment variable `{k}`"
                )));
            }
        }
        if !self.weaken.is_empty() && !cfg!(debug_assertions) {
            return Err(CellError::InvalidSpec(
                "weakenings exist only in debug builds, for the escape suite".into(),
            ));
        }
        Ok(())
    }

    pub(crate) fn weakened(&self, w: Weakening) -> bool {
        cfg!(debug_assertions) && self.weaken.contains(&w)
    }
}

/// `c-` and 12 random hex digits.
pub fn new_cell_id() -> String {
    let mut b = [0u8; 6];
    // getrandom only fails without any entropy source; fall back to time and
    // pid, which are unique enough for a local id.
    if getrandom::fill(&mut b).is_err() {
        let t = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0) as u64
            ^ u64::from(std::process::id());
        b.copy_from_slice(&t.to_le_bytes()[..6]);
    }
    let mut s = String::from("c-");
    for x in b {
        s.push_str(&format!("{x:02x}"));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec() -> CellSpec {
        CellSpec::new(AgentName::new("t").unwrap(), vec!["/bin/true".into()])
    }

    #[test]
    fn ids_are_well_formed_and_fresh() {
        let a = new_cell_id();
        assert!(spec().validate().is_ok());
        assert_eq!(a.len(), 14);
        assert_ne!(a, new_cell_id());
    }

    #[test]
    fn bad_specs_are_refused() {
        let mut s = spec();
        s.command.clear();
        assert!(s.validate().is_err());
        let mut s = spec();
        s.agent_dir = Some("/definitely/not/here".into());
        assert!(matches!(s.validate(), Err(CellError::AgentDirMissing(_))));
        let mut s = spec();
        s.socket = Some("/etc/hostname".into());
        assert!(matches!(s.validate(), Err(CellError::SocketMissing(_))));
        let mut s = spec();
        s.ro_binds = vec!["/".into()];
        assert!(s.validate().is_err());
        let mut s = spec();
        s.ro_binds = vec!["relative".into()];
        assert!(s.validate().is_err());
        let mut s = spec();
        s.env = vec![("A=B".into(), "x".into())];
        assert!(s.validate().is_err());
        let mut s = spec();
        s.sdk_dir = Some("/definitely/not/here".into());
        assert!(s.validate().is_err());
    }

    #[test]
    fn binds_below_paths_the_cell_owns_are_refused() {
        // A bind below /tmp used to break the root build (the tmpfs mount point existed
        // already); below /etc or /run it would shadow what the cell makes there.
        let under_tmp = tempfile::Builder::new().tempdir_in("/tmp").unwrap();
        for owned in [
            under_tmp.path(),
            std::path::Path::new("/etc/ssl"),
            std::path::Path::new("/proc/1"),
        ] {
            if !owned.exists() {
                continue;
            }
            let mut s = spec();
            s.ro_binds = vec![owned.to_path_buf()];
            let err = s.validate().unwrap_err().to_string();
            assert!(err.contains("shadow"), "{owned:?}: {err}");
        }
        let mut s = spec();
        s.ro_binds = vec!["/usr/share".into()];
        assert!(s.validate().is_ok());
    }
}
