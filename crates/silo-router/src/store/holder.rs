//! Who holds a claimed job: `<boot id>:<pid>:<start time>` of the claiming process, read
//! from /proc. A later process on the same machine can then tell a claim whose process is
//! gone (its cells died with it: they carry parent-death signals) from one still being
//! worked on, and take the job over at once instead of waiting out the turn's lease. A
//! holder from another boot or machine is never judged gone here: its lease decides.

/// This process as a job holder; empty when /proc cannot say.
pub fn this_process() -> String {
    let pid = std::process::id();
    match (boot_id(), start_time(pid)) {
        (Some(boot), Some(start)) => format!("{boot}:{pid}:{start}"),
        _ => String::new(),
    }
}

/// Whether the process `holder` names is gone: same boot, and no process with that pid
/// and start time runs now.
pub fn is_abandoned(holder: &str) -> bool {
    let mut parts = holder.split(':');
    let (Some(boot), Some(pid), Some(start), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return false;
    };
    let Ok(pid) = pid.parse::<u32>() else {
        return false;
    };
    if boot_id().as_deref() != Some(boot) {
        return false;
    }
    // A zombie is gone too: its parent has not reaped it (a container's PID 1 may never).
    start_time(pid).as_deref() != Some(start) || zombie(pid)
}

/// Field 3 of /proc/PID/stat is `Z` (zombie) or `X` (dead).
fn zombie(pid: u32) -> bool {
    stat_fields(pid).is_some_and(|f| matches!(f.first().map(String::as_str), Some("Z" | "X")))
}

/// The fields of /proc/PID/stat after the command name (field 3 on).
fn stat_fields(pid: u32) -> Option<Vec<String>> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) is in parentheses and may hold spaces.
    let after = stat.get(stat.rfind(')')? + 1..)?;
    Some(after.split_whitespace().map(str::to_owned).collect())
}

fn boot_id() -> Option<String> {
    std::fs::read_to_string("/proc/sys/kernel/random/boot_id")
        .ok()
        .map(|s| s.trim().to_owned())
        .filter(|s| !s.is_empty() && !s.contains(':'))
}

/// Field 22 of /proc/PID/stat (start time in clock ticks after boot).
fn start_time(pid: u32) -> Option<String> {
    stat_fields(pid)?.into_iter().nth(19)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn a_live_holder_is_kept_and_a_zombie_one_is_abandoned() {
        assert!(!is_abandoned(&this_process()));
        let mut child = std::process::Command::new("true").spawn().unwrap();
        let pid = child.id();
        let holder = format!("{}:{pid}:{}", boot_id().unwrap(), start_time(pid).unwrap());
        // Not reaped yet: a zombie, which /proc still lists with the same start time.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while !zombie(pid) {
            assert!(std::time::Instant::now() < deadline);
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        assert_eq!(start_time(pid).unwrap(), holder.rsplit(':').next().unwrap());
        assert!(is_abandoned(&holder));
        child.wait().unwrap();
        assert!(is_abandoned(&holder));
    }
}
