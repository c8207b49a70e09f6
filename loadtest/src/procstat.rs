//! CPU and memory of a process from /proc: the sum of its threads' run time from
//! `/proc/<pid>/task/*/schedstat` (ns on CPU, first field), and `VmRSS`.
//!
//! Threads that exit between two samples take their time with them; the servers measured here
//! keep their threads for the whole run, and the generator's runtime is single-threaded.

use std::fs;

/// Total ns on CPU of every live thread of `pid`, or `None` if the process is gone.
pub fn cpu_ns(pid: u32) -> Option<u64> {
    let tasks = fs::read_dir(format!("/proc/{pid}/task")).ok()?;
    let mut total = 0;
    for task in tasks.flatten() {
        if let Ok(text) = fs::read_to_string(task.path().join("schedstat")) {
            total +=
                text.split_whitespace().next().and_then(|v| v.parse::<u64>().ok()).unwrap_or(0);
        }
    }
    Some(total)
}

/// ns on CPU per thread name (`comm`) of `pid`.
pub fn cpu_ns_by_thread(pid: u32) -> Vec<(String, u64)> {
    let Ok(tasks) = fs::read_dir(format!("/proc/{pid}/task")) else { return Vec::new() };
    let mut out: Vec<(String, u64)> = Vec::new();
    for task in tasks.flatten() {
        let name =
            fs::read_to_string(task.path().join("comm")).unwrap_or_default().trim().to_string();
        let ns = fs::read_to_string(task.path().join("schedstat"))
            .ok()
            .and_then(|t| t.split_whitespace().next().and_then(|v| v.parse::<u64>().ok()))
            .unwrap_or(0);
        match out.iter_mut().find(|(n, _)| *n == name) {
            Some((_, total)) => *total += ns,
            None => out.push((name, ns)),
        }
    }
    out
}

/// Resident set size of `pid` in bytes.
pub fn rss_bytes(pid: u32) -> Option<u64> {
    let status = fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

/// A CPU sample: process ns on CPU and the wall clock at the time.
#[derive(Debug, Clone, Copy)]
pub struct Sample {
    pub cpu_ns: u64,
    pub wall_ns: u64,
}

impl Sample {
    pub fn take(pid: u32) -> Option<Sample> {
        Some(Sample { cpu_ns: cpu_ns(pid)?, wall_ns: crate::now_ns() })
    }

    /// Share of one core used between `self` and the later `end`.
    pub fn cores_until(&self, end: &Sample) -> f64 {
        let wall = end.wall_ns.saturating_sub(self.wall_ns).max(1);
        end.cpu_ns.saturating_sub(self.cpu_ns) as f64 / wall as f64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_our_own_process() {
        let pid = std::process::id();
        assert!(cpu_ns(pid).is_some_and(|ns| ns > 0));
        assert!(rss_bytes(pid).is_some_and(|b| b > 0));
        assert!(!cpu_ns_by_thread(pid).is_empty());
    }
}
