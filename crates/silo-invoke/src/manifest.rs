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
//! ```

use std::io::Read;
use std::path::Path;

use serde::Deserialize;
use silo_cell::{parse_cpu, parse_duration, parse_size, AgentName, Limits};
use silo_keys::Capabilities;

use crate::error::InvokeError;

/// The manifest's file name inside an agent folder.
pub const MANIFEST_FILE: &str = "agent.yaml";
/// Largest manifest accepted.
const MAX_MANIFEST_BYTES: u64 = 64 * 1024;

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
        self.membrane_limits()?;
        self.limits().map(|_| ())
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
        ] {
            let err = Manifest::parse(text).unwrap_err();
            assert!(err.contains(needle), "{text}: {err}");
        }
    }
}
