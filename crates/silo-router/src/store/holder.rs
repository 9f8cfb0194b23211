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
    start_time(pid).as_deref() != Some(start)
}

fn boot_id() -> Option<String> {
    std::fs::read_to_string("/proc/sys/kernel/random/boot_id")
        .ok()
        .map(|s| s.trim().to_owned())
        .filter(|s| !s.is_empty() && !s.contains(':'))
}

/// Field 22 of /proc/PID/stat (start time in clock ticks after boot).
fn start_time(pid: u32) -> Option<String> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) is in parentheses and may hold spaces.
    let after = &stat[stat.rfind(')')? + 1..];
    after.split_whitespace().nth(19).map(str::to_owned)
}
