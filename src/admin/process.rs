//! This process as `/proc/self` describes it: what `OSMXBean` gives `mntr`'s file
//! descriptor gauges and simpleclient_hotspot's `StandardExports` gives `/metrics`.
//!
//! Every figure is optional: a platform without `/proc` simply has none, as the reference
//! leaves out what its MXBean cannot tell.

use std::path::Path;

/// `USER_HZ`, the unit of `/proc/<pid>/stat`'s CPU times: 100 on every Linux ABI we build
/// for (the kernel rescales its internal HZ to it).
const USER_HZ: f64 = 100.0;

/// One reading of the process's resources.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct ProcessStats {
    pub open_fds: Option<u64>,
    pub max_fds: Option<u64>,
    /// User plus system CPU time.
    pub cpu_seconds: Option<f64>,
    pub resident_memory_bytes: Option<u64>,
    pub virtual_memory_bytes: Option<u64>,
}

impl ProcessStats {
    /// Reads `/proc/self`.
    pub fn read() -> Self {
        Self::read_from(Path::new("/proc/self"))
    }

    fn read_from(dir: &Path) -> Self {
        let status = std::fs::read_to_string(dir.join("status")).unwrap_or_default();
        let stat = std::fs::read_to_string(dir.join("stat")).unwrap_or_default();
        let limits = std::fs::read_to_string(dir.join("limits")).unwrap_or_default();
        ProcessStats {
            open_fds: std::fs::read_dir(dir.join("fd"))
                .ok()
                .map(|d| d.count() as u64),
            max_fds: max_open_files(&limits),
            cpu_seconds: cpu_seconds(&stat),
            resident_memory_bytes: status_kb(&status, "VmRSS:").map(|kb| kb * 1024),
            virtual_memory_bytes: status_kb(&status, "VmSize:").map(|kb| kb * 1024),
        }
    }
}

/// The soft "Max open files" limit (`getMaxFileDescriptorCount`).
fn max_open_files(limits: &str) -> Option<u64> {
    let rest = limits
        .lines()
        .find_map(|l| l.strip_prefix("Max open files"))?;
    rest.split_whitespace().next()?.parse().ok()
}

/// utime + stime (fields 14 and 15), counted after the parenthesised command name, which
/// may itself hold spaces.
fn cpu_seconds(stat: &str) -> Option<f64> {
    let after_comm = &stat[stat.rfind(')')? + 1..];
    let mut fields = after_comm.split_whitespace().skip(11);
    let utime: u64 = fields.next()?.parse().ok()?;
    let stime: u64 = fields.next()?.parse().ok()?;
    Some((utime + stime) as f64 / USER_HZ)
}

fn status_kb(status: &str, key: &str) -> Option<u64> {
    let rest = status.lines().find_map(|l| l.strip_prefix(key))?;
    rest.split_whitespace().next()?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_proc_files() {
        let stat = "4242 (ferro keeper) S 1 4242 4242 0 -1 4194560 1000 0 0 0 250 75 0 0 20 0 9 0 100 12345 678";
        assert_eq!(cpu_seconds(stat), Some(3.25));
        let limits = "Limit                     Soft Limit           Hard Limit           Units     \nMax open files            20000                524288               files     \n";
        assert_eq!(max_open_files(limits), Some(20000));
        assert_eq!(
            status_kb("VmSize:\t  123 kB\nVmRSS:\t 45 kB\n", "VmRSS:"),
            Some(45)
        );
    }

    #[test]
    fn this_process() {
        let p = ProcessStats::read();
        if Path::new("/proc/self/stat").exists() {
            assert!(p.open_fds.unwrap_or(0) >= 3);
            assert!(p.max_fds.unwrap_or(0) >= p.open_fds.unwrap_or(0));
            assert!(p.resident_memory_bytes.unwrap_or(0) > 0);
            assert!(p.virtual_memory_bytes >= p.resident_memory_bytes);
            assert!(p.cpu_seconds.is_some());
        }
    }
}
