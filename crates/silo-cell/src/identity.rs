//! Who the agent is: its validated name and the unprivileged host ids it runs
//! as. Every agent name maps to its own host uid/gid, so two agents never
//! share file ownership or signal rights on the host.

use std::fmt;

use crate::CellError;

/// The uid and gid the agent has *inside* its cell.
pub const CELL_AGENT_ID: u32 = 1000;
/// Host uid/gid that the cell's own init (uid 0 inside) maps to when silo
/// runs as root: the conventional overflow id, owning nothing.
pub const HOST_INIT_ID: u32 = 65534;
/// First host id of the range agents are mapped into.
const AGENT_ID_BASE: u32 = 0x0010_0000;
/// Size of that range.
const AGENT_ID_SPAN: u32 = 0x0010_0000;

/// A validated agent name: 1 to 64 of `[a-z0-9._-]`, starting with a letter
/// or digit.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct AgentName(String);

impl AgentName {
    /// Validates `name`.
    pub fn new(name: &str) -> Result<Self, CellError> {
        let ok = !name.is_empty()
            && name.len() <= 64
            && name.as_bytes()[0].is_ascii_alphanumeric()
            && name
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"._-".contains(&b));
        if ok {
            Ok(AgentName(name.to_string()))
        } else {
            Err(CellError::InvalidSpec(format!(
                "invalid agent name `{name}`: use 1 to 64 of a-z 0-9 . _ - starting with a letter or digit"
            )))
        }
    }

    /// The name.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for AgentName {
    type Error = CellError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        AgentName::new(&s)
    }
}

impl From<AgentName> for String {
    fn from(n: AgentName) -> String {
        n.0
    }
}

impl fmt::Display for AgentName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The host uid and gid an agent runs as when silo runs as root: a stable
/// FNV-1a hash of the name into a range above normal users and below
/// systemd's dynamic and container ranges. (A hash rather than an allocation
/// table keeps cells stateless; two names colliding would share a host id,
/// which is why the range is a million ids wide.)
pub fn host_ids_for(agent: &AgentName) -> (u32, u32) {
    let mut h: u32 = 0x811c_9dc5;
    for b in agent.as_str().bytes() {
        h ^= u32::from(b);
        h = h.wrapping_mul(0x0100_0193);
    }
    let id = AGENT_ID_BASE + h % AGENT_ID_SPAN;
    (id, id)
}

/// Whether cells started by this process run their agents under their own host uid
/// ([`host_ids_for`]): only when silo runs as root; otherwise the agent keeps our uid.
pub fn agents_get_own_uid() -> bool {
    nix::unistd::Uid::effective().is_root()
}

/// The host uid `agent`'s processes will have in a cell started by this process, when it
/// differs from ours (so a membrane can accept connections from that uid only).
pub fn agent_host_uid(agent: &AgentName) -> Option<u32> {
    agents_get_own_uid().then(|| host_ids_for(agent).0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_validated() {
        for good in ["refund-agent", "a", "x.y_z-1", "0abc"] {
            assert!(AgentName::new(good).is_ok(), "{good}");
        }
        for bad in ["", "-x", "Upper", "a/b", "..", "a b", &"x".repeat(65)] {
            assert!(AgentName::new(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn ids_are_distinct_per_agent_and_unprivileged() {
        let a = host_ids_for(&AgentName::new("refund-agent").unwrap());
        let b = host_ids_for(&AgentName::new("intent-agent").unwrap());
        assert_ne!(a, b);
        for (u, g) in [a, b] {
            assert!(u >= AGENT_ID_BASE && g >= AGENT_ID_BASE);
            assert_ne!(u, 0);
        }
        assert_eq!(a, host_ids_for(&AgentName::new("refund-agent").unwrap()));
    }
}
