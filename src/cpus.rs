//! How many CPUs this process may really use, and LensKit's `proc_count`.
//!
//! The count is the smaller of the scheduler affinity mask and the cgroup CPU
//! quota (v2 `cpu.max` or v1 `cpu.cfs_quota_us`, on this cgroup and every
//! ancestor), so a container limited to 2 CPUs on a 64-core host gets 2.

use std::fmt;

/// Which limit decided the CPU count.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Limit {
    Affinity,
    CgroupV2,
    CgroupV1,
    Machine,
}

impl fmt::Display for Limit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Limit::Affinity => "the CPU affinity mask",
            Limit::CgroupV2 => "the cgroup v2 CPU quota (cpu.max)",
            Limit::CgroupV1 => "the cgroup v1 CPU quota (cpu.cfs_quota_us)",
            Limit::Machine => "the number of online CPUs",
        })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CpuCount {
    pub count: usize,
    pub decided_by: Limit,
}

/// The CPUs this process may use now: affinity mask and cgroup quota, whichever is smaller.
pub fn cpu_count() -> CpuCount {
    let mut best = match crate::sys::affinity_cpus() {
        Some(n) => CpuCount { count: n, decided_by: Limit::Affinity },
        None => CpuCount { count: crate::sys::online_cpus(), decided_by: Limit::Machine },
    };
    if let Some((quota, limit)) = cgroup_quota() {
        if quota < best.count {
            best = CpuCount { count: quota, decided_by: limit };
        }
    }
    best.count = best.count.max(1);
    best
}


/// The cgroup CPU quota in whole CPUs (rounded up), and which version set it.
fn cgroup_quota() -> Option<(usize, Limit)> {
    let cgroup = std::fs::read_to_string("/proc/self/cgroup").ok()?;
    let mountinfo = std::fs::read_to_string("/proc/self/mountinfo").ok()?;
    let mounts = parse_mountinfo(&mountinfo);
    let mut best: Option<(usize, Limit)> = None;
    for line in cgroup.lines() {
        let mut parts = line.splitn(3, ':');
        let (Some(_id), Some(controllers), Some(path)) = (parts.next(), parts.next(), parts.next()) else {
            continue;
        };
        let v2 = controllers.is_empty();
        if !v2 && !controllers.split(',').any(|c| c == "cpu") {
            continue;
        }
        let Some(mount) = mounts.iter().find(|m| {
            if v2 { m.fstype == "cgroup2" } else { m.fstype == "cgroup" && m.options.split(',').any(|o| o == "cpu") }
        }) else {
            continue;
        };
        let found = quota_along_path(mount, path, |dir| {
            if v2 {
                std::fs::read_to_string(format!("{dir}/cpu.max")).ok().and_then(|s| parse_cpu_max(&s))
            } else {
                let quota = std::fs::read_to_string(format!("{dir}/cpu.cfs_quota_us")).ok()?;
                let period = std::fs::read_to_string(format!("{dir}/cpu.cfs_period_us")).ok()?;
                parse_cfs(&quota, &period)
            }
        });
        if let Some(q) = found {
            let limit = if v2 { Limit::CgroupV2 } else { Limit::CgroupV1 };
            if best.is_none_or(|(b, _)| q < b) {
                best = Some((q, limit));
            }
        }
    }
    best
}

struct Mount {
    root: String,
    point: String,
    fstype: String,
    options: String,
}

fn parse_mountinfo(text: &str) -> Vec<Mount> {
    text.lines()
        .filter_map(|line| {
            // id parent major:minor root mountpoint opts [optional...] - fstype source superopts
            let (left, right) = line.split_once(" - ")?;
            let l: Vec<&str> = left.split(' ').collect();
            let r: Vec<&str> = right.split(' ').collect();
            Some(Mount {
                root: l.get(3)?.to_string(),
                point: l.get(4)?.to_string(),
                fstype: r.first()?.to_string(),
                options: r.get(2).unwrap_or(&"").to_string(),
            })
        })
        .collect()
}

/// Walk from the process's cgroup up to the mount's root, keeping the smallest quota.
fn quota_along_path(mount: &Mount, cgroup_path: &str, read: impl Fn(&str) -> Option<usize>) -> Option<usize> {
    let rel = if mount.root == "/" {
        cgroup_path
    } else {
        cgroup_path.strip_prefix(mount.root.as_str()).unwrap_or("/")
    };
    let mut rel = rel.trim_end_matches('/').to_string();
    let mut best: Option<usize> = None;
    loop {
        let dir = format!("{}{}", mount.point, rel);
        if let Some(q) = read(&dir) {
            best = Some(best.map_or(q, |b| b.min(q)));
        }
        match rel.rfind('/') {
            Some(pos) if !rel.is_empty() => rel.truncate(pos),
            _ => break,
        }
    }
    best
}

/// `cpu.max`: "max 100000" (no limit) or "150000 100000" (1.5 CPUs → 2).
pub(crate) fn parse_cpu_max(text: &str) -> Option<usize> {
    let mut it = text.split_whitespace();
    let quota = it.next()?;
    let period: u64 = it.next().unwrap_or("100000").parse().ok()?;
    if quota == "max" {
        return None;
    }
    whole_cpus(quota.parse().ok()?, period)
}

/// cgroup v1: quota -1 means no limit.
pub(crate) fn parse_cfs(quota: &str, period: &str) -> Option<usize> {
    let quota: i64 = quota.trim().parse().ok()?;
    let period: u64 = period.trim().parse().ok()?;
    if quota <= 0 {
        return None;
    }
    whole_cpus(quota as u64, period)
}

fn whole_cpus(quota: u64, period: u64) -> Option<usize> {
    if period == 0 {
        return None;
    }
    Some((quota.div_ceil(period)).max(1) as usize)
}

/// Parse `LK_NUM_PROCS`: a comma-separated list of positive `i32` counts.
pub fn parse_num_procs(value: &str) -> Result<Vec<i32>, String> {
    if value.is_empty() {
        return Err("LK_NUM_PROCS is empty".into());
    }
    value
        .split(',')
        .map(|part| {
            let p = part.trim();
            let ok = !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit());
            match p.parse::<i32>() {
                Ok(n) if ok && n > 0 => Ok(n),
                _ => Err(format!("LK_NUM_PROCS entry {part:?} is not a positive integer")),
            }
        })
        .collect()
}

/// LensKit's `proc_count` as a pure function of its inputs.
///
/// `env` is the value of `LK_NUM_PROCS` if set; a malformed one is reported
/// through `on_bad_env` and ignored.
pub fn proc_count_with(
    core_div: i32,
    max_default: i32,
    level: i32,
    env: Option<&str>,
    cpus: usize,
    on_bad_env: impl FnOnce(&str),
) -> i32 {
    if let Some(value) = env {
        match parse_num_procs(value) {
            Ok(counts) => {
                let level = level.max(0) as usize;
                return counts.get(level).copied().unwrap_or(1);
            }
            Err(why) => on_bad_env(&why),
        }
    }
    if core_div <= 0 {
        return 1;
    }
    match level {
        i32::MIN..=0 => {
            let n = (cpus / core_div as usize).max(1);
            let n = i32::try_from(n).unwrap_or(i32::MAX);
            if max_default > 0 { n.min(max_default) } else { n }
        }
        1 => core_div,
        _ => 1,
    }
}

/// `LK_NUM_PROCS` now: `None` when unset, else its counts or why it is
/// malformed (a value that is not UTF-8 is malformed too).
pub fn num_procs_env() -> Option<Result<Vec<i32>, String>> {
    let value = std::env::var_os("LK_NUM_PROCS")?;
    Some(match value.to_str() {
        Some(text) => parse_num_procs(text),
        None => Err(format!("LK_NUM_PROCS is not valid UTF-8 ({value:?})")),
    })
}

/// `proc_count` reading `LK_NUM_PROCS` and the CPU count now.
pub fn proc_count(core_div: i32, max_default: i32, level: i32) -> i32 {
    match num_procs_env() {
        Some(Ok(counts)) => counts.get(level.max(0) as usize).copied().unwrap_or(1),
        env => {
            if let Some(Err(why)) = env {
                log::warn!(target: "lkparallel", "ignoring LK_NUM_PROCS: {why}");
            }
            proc_count_with(core_div, max_default, level, None, cpu_count().count, |_| {})
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pc(cd: i32, md: i32, lv: i32, env: Option<&str>, cpus: usize) -> (i32, bool) {
        let mut warned = false;
        let n = proc_count_with(cd, md, lv, env, cpus, |_| warned = true);
        (n, warned)
    }

    #[test]
    fn env_levels() {
        assert_eq!(pc(2, 4, 0, Some("8"), 64), (8, false));
        assert_eq!(pc(2, 4, 1, Some("8"), 64), (1, false));
        assert_eq!(pc(2, 4, 0, Some("7,3"), 64), (7, false));
        assert_eq!(pc(2, 4, 1, Some("7,3"), 64), (3, false));
        assert_eq!(pc(2, 4, 2, Some("7,3"), 64), (1, false));
    }

    #[test]
    fn malformed_env_is_ignored_with_a_warning() {
        for bad in ["", "0", "-3", "abc", "4,x", "99999999999", "4,", " ", "+4", "4,,2"] {
            assert_eq!(pc(2, 4, 0, Some(bad), 16), (4, true), "{bad:?}");
        }
    }

    #[test]
    fn cpu_fallback() {
        assert_eq!(pc(2, 4, 0, None, 16), (4, false));
        assert_eq!(pc(2, 0, 0, None, 16), (8, false));
        assert_eq!(pc(2, 0, 0, None, 1), (1, false));
        assert_eq!(pc(3, 0, 1, None, 16), (3, false));
        assert_eq!(pc(3, 0, 2, None, 16), (1, false));
        assert_eq!(pc(0, 4, 0, None, 16), (1, false));
        assert_eq!(pc(-1, 4, 1, None, 16), (1, false));
    }

    #[test]
    fn cgroup_parsers() {
        assert_eq!(parse_cpu_max("max 100000\n"), None);
        assert_eq!(parse_cpu_max("150000 100000\n"), Some(2));
        assert_eq!(parse_cpu_max("200000 100000"), Some(2));
        assert_eq!(parse_cpu_max("1000 100000"), Some(1));
        assert_eq!(parse_cfs("-1\n", "100000\n"), None);
        assert_eq!(parse_cfs("300000\n", "100000\n"), Some(3));
    }

    #[test]
    fn mountinfo_walk() {
        let mi = "30 25 0:26 / /sys/fs/cgroup rw,nosuid - cgroup2 cgroup2 rw\n\
                  31 25 0:27 /docker/abc /sys/fs/cgroup/cpu,cpuacct rw - cgroup cgroup rw,cpu,cpuacct\n";
        let mounts = parse_mountinfo(mi);
        assert_eq!(mounts.len(), 2);
        assert_eq!(mounts[1].root, "/docker/abc");
        let seen = std::cell::RefCell::new(Vec::new());
        let q = quota_along_path(&mounts[0], "/a/b", |d| {
            seen.borrow_mut().push(d.to_string());
            (d == "/sys/fs/cgroup/a").then_some(3)
        });
        assert_eq!(q, Some(3));
        assert_eq!(*seen.borrow(), ["/sys/fs/cgroup/a/b", "/sys/fs/cgroup/a", "/sys/fs/cgroup"]);
        let q = quota_along_path(&mounts[1], "/docker/abc", |d| (d == "/sys/fs/cgroup/cpu,cpuacct").then_some(2));
        assert_eq!(q, Some(2));
    }

    /// The count follows the affinity mask (here: whatever this process has).
    #[test]
    fn count_follows_the_affinity_mask() {
        let c = cpu_count();
        let mask = crate::sys::affinity_cpus().expect("the affinity mask can be read on Linux");
        assert!(c.count <= mask, "{c:?} above the {mask} CPUs of the mask");
        if c.decided_by == Limit::Affinity {
            assert_eq!(c.count, mask);
        }
    }
}
