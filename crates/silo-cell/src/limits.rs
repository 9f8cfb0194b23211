//! Resource limits of one cell, with their parsers. Every limit has a
//! default that works on a small machine; bad values are refused with a
//! message naming the option.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::CellError;

/// The limits of one cell.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Limits {
    /// Memory (cgroup, no swap), bytes. Default 512 MiB.
    pub memory_bytes: u64,
    /// Tasks (cgroup pids.max). Default 64.
    pub pids: u64,
    /// CPU, in thousandths of a core. Default 1000 (one core).
    pub cpu_millicores: u64,
    /// Wall clock, milliseconds. Default 60 000.
    pub timeout_ms: u64,
    /// Size of the writable tmpfs, bytes. Default 64 MiB.
    pub tmpfs_bytes: u64,
    /// Inodes of the writable tmpfs. Default 4096.
    pub tmpfs_inodes: u64,
    /// Open files (RLIMIT_NOFILE). Default 256.
    pub nofile: u64,
    /// Largest file the agent may write (RLIMIT_FSIZE), bytes. Default 64 MiB.
    pub fsize_bytes: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            memory_bytes: 512 << 20,
            pids: 64,
            cpu_millicores: 1000,
            timeout_ms: 60_000,
            tmpfs_bytes: 64 << 20,
            tmpfs_inodes: 4096,
            nofile: 256,
            fsize_bytes: 64 << 20,
        }
    }
}

impl Limits {
    /// Refuses limits a cell cannot start with.
    pub fn validate(&self) -> Result<(), CellError> {
        let bad =
            |what: &str, why: &str| Err(CellError::InvalidSpec(format!("bad limit {what}: {why}")));
        if self.memory_bytes < 8 << 20 {
            return bad("--memory", "at least 8M is needed to start a process");
        }
        if self.pids < 2 {
            return bad("--pids", "at least 2 (the cell's init and the agent)");
        }
        if self.cpu_millicores < 10 || self.cpu_millicores > 1024 * 1000 {
            return bad("--cpu", "between 0.01 and 1024 cores");
        }
        if self.timeout_ms == 0 {
            return bad("--timeout", "must be more than zero");
        }
        if self.tmpfs_bytes < 64 << 10 {
            return bad("--tmpfs", "at least 64K");
        }
        if self.tmpfs_inodes < 16 {
            return bad("--tmpfs-inodes", "at least 16");
        }
        if self.nofile < 16 {
            return bad("--nofile", "at least 16");
        }
        Ok(())
    }

    /// The wall-clock limit.
    pub fn timeout(&self) -> Duration {
        Duration::from_millis(self.timeout_ms)
    }
}

/// Parses `512M`, `1G`, `64k`, `1048576` (binary units) into bytes.
pub fn parse_size(s: &str) -> Result<u64, CellError> {
    let t = s.trim();
    let err = || {
        CellError::InvalidSpec(format!(
            "invalid size `{s}`: use e.g. 512M, 1G, 64K or bytes"
        ))
    };
    let (num, mult) = match t.char_indices().last() {
        Some((i, c)) if c.is_ascii_alphabetic() => {
            let m: u64 = match c.to_ascii_lowercase() {
                'k' => 1 << 10,
                'm' => 1 << 20,
                'g' => 1 << 30,
                't' => 1 << 40,
                _ => return Err(err()),
            };
            (&t[..i], m)
        }
        _ => (t, 1),
    };
    let n: u64 = num.parse().map_err(|_| err())?;
    n.checked_mul(mult).ok_or_else(err)
}

/// Parses `30s`, `500ms`, `2m`, `1h` or plain seconds into milliseconds.
pub fn parse_duration(s: &str) -> Result<u64, CellError> {
    let t = s.trim();
    let err = || CellError::InvalidSpec(format!("invalid duration `{s}`: use e.g. 500ms, 30s, 2m"));
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let n: u64 = num.parse().map_err(|_| err())?;
    let mult: u64 = match unit {
        "ms" => 1,
        "" | "s" => 1000,
        "m" => 60_000,
        "h" => 3_600_000,
        _ => return Err(err()),
    };
    n.checked_mul(mult).ok_or_else(err)
}

/// Parses a number of cores (`0.5`, `2`) into thousandths of a core.
pub fn parse_cpu(s: &str) -> Result<u64, CellError> {
    let err = || CellError::InvalidSpec(format!("invalid CPU count `{s}`: use e.g. 0.5 or 2"));
    let t = s.trim();
    let (int, frac) = t.split_once('.').unwrap_or((t, ""));
    if int.is_empty() && frac.is_empty() || frac.len() > 3 {
        return Err(err());
    }
    let i: u64 = if int.is_empty() {
        0
    } else {
        int.parse().map_err(|_| err())?
    };
    let f: u64 = if frac.is_empty() {
        0
    } else {
        let digits: u64 = frac.parse().map_err(|_| err())?;
        digits * 10u64.pow(3 - frac.len() as u32)
    };
    i.checked_mul(1000)
        .and_then(|v| v.checked_add(f))
        .ok_or_else(err)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes() {
        assert_eq!(parse_size("512M").unwrap(), 512 << 20);
        assert_eq!(parse_size("1g").unwrap(), 1 << 30);
        assert_eq!(parse_size("4096").unwrap(), 4096);
        for bad in ["", "M", "-1M", "1.5G", "12X", "99999999999999999999T"] {
            assert!(parse_size(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("500ms").unwrap(), 500);
        assert_eq!(parse_duration("30s").unwrap(), 30_000);
        assert_eq!(parse_duration("2").unwrap(), 2000);
        assert_eq!(parse_duration("2m").unwrap(), 120_000);
        for bad in ["", "s", "-1s", "1.5s", "3d"] {
            assert!(parse_duration(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn cpus() {
        assert_eq!(parse_cpu("0.5").unwrap(), 500);
        assert_eq!(parse_cpu("2").unwrap(), 2000);
        assert_eq!(parse_cpu(".25").unwrap(), 250);
        for bad in ["", ".", "x", "1.2345", "-1"] {
            assert!(parse_cpu(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn validation_names_the_option() {
        let l = Limits {
            pids: 1,
            ..Limits::default()
        };
        assert!(l.validate().unwrap_err().to_string().contains("--pids"));
        assert!(Limits::default().validate().is_ok());
    }
}
