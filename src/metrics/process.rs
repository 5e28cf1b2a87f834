//! The standard `process_*` families (the names every Prometheus client library exposes, so
//! stock dashboards and alerts work): CPU time, memory, file descriptors, threads.
//!
//! Read from `/proc/self` at scrape time only (cold path: a few small files per scrape, nothing
//! on the request path). `process_start_time_seconds` is in the `FAMILIES` table already (the
//! node's start). A value that cannot be read (no `/proc`, e.g. a locked-down sandbox) leaves its
//! family out rather than reporting a false 0.

use std::fmt::Write as _;

use super::render::family;

/// What `/proc/self` said at one scrape.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct ProcessStats {
    /// User + system CPU time, seconds.
    pub cpu_seconds: Option<f64>,
    pub resident_bytes: Option<u64>,
    pub virtual_bytes: Option<u64>,
    pub open_fds: Option<u64>,
    /// The soft `RLIMIT_NOFILE`, the limit `accept` hits.
    pub max_fds: Option<u64>,
    pub threads: Option<u64>,
}

/// The fields of `/proc/self/stat` this module uses.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Stat {
    cpu_seconds: f64,
    threads: u64,
    virtual_bytes: u64,
    resident_bytes: u64,
}

/// Parse `/proc/<pid>/stat` (proc(5)): fields counted after the `)` closing the command name,
/// which may itself hold spaces and parentheses. `ticks` is `_SC_CLK_TCK`, `page` the page size.
fn parse_stat(text: &str, ticks: u64, page: u64) -> Option<Stat> {
    let rest = &text[text.rfind(')')? + 1..];
    // rest[0] is field 3 (state): field N is at index N - 3.
    let f: Vec<&str> = rest.split_ascii_whitespace().collect();
    let num = |field: usize| f.get(field - 3)?.parse::<u64>().ok();
    let (utime, stime) = (num(14)?, num(15)?);
    Some(Stat {
        cpu_seconds: (utime + stime) as f64 / ticks.max(1) as f64,
        threads: num(20)?,
        virtual_bytes: num(23)?,
        resident_bytes: num(24)?.saturating_mul(page),
    })
}

/// `sysconf(name)` as a positive number.
fn sysconf(name: libc::c_int) -> Option<u64> {
    // SAFETY: sysconf only reads its integer argument.
    let v = unsafe { libc::sysconf(name) };
    u64::try_from(v).ok().filter(|&v| v > 0)
}

/// The soft limit on open files (what `ulimit -n` and `LimitNOFILE=` set).
fn max_fds() -> Option<u64> {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes into the valid `lim` struct.
    let ok = unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) } == 0;
    (ok && lim.rlim_cur != libc::RLIM_INFINITY).then_some(lim.rlim_cur)
}

impl ProcessStats {
    /// Read this process's figures now.
    pub(crate) fn read() -> ProcessStats {
        let stat = std::fs::read_to_string("/proc/self/stat")
            .ok()
            .and_then(|t| {
                let ticks = sysconf(libc::_SC_CLK_TCK)?;
                parse_stat(&t, ticks, sysconf(libc::_SC_PAGESIZE)?)
            });
        // The count includes the descriptor read_dir holds open while listing, as client_golang's.
        let open_fds = std::fs::read_dir("/proc/self/fd")
            .ok()
            .map(|d| d.count() as u64);
        ProcessStats {
            cpu_seconds: stat.map(|s| s.cpu_seconds),
            resident_bytes: stat.map(|s| s.resident_bytes),
            virtual_bytes: stat.map(|s| s.virtual_bytes),
            open_fds,
            max_fds: max_fds(),
            threads: stat.map(|s| s.threads),
        }
    }
}

/// Append the process families (after the node's and the cluster's) in text format 0.0.4.
pub(crate) fn render_process(o: &mut String, p: &ProcessStats) {
    if let Some(v) = p.cpu_seconds {
        let name = "process_cpu_seconds_total";
        family(
            o,
            name,
            "counter",
            "Total user and system CPU time spent in seconds.",
        );
        let _ = writeln!(o, "{name} {v:.2}");
    }
    let gauges: [(&str, &str, Option<u64>); 5] = [
        (
            "process_resident_memory_bytes",
            "Resident memory size in bytes.",
            p.resident_bytes,
        ),
        (
            "process_virtual_memory_bytes",
            "Virtual memory size in bytes.",
            p.virtual_bytes,
        ),
        (
            "process_open_fds",
            "Number of open file descriptors.",
            p.open_fds,
        ),
        (
            "process_max_fds",
            "Maximum number of open file descriptors (soft limit).",
            p.max_fds,
        ),
        (
            "process_threads",
            "Number of OS threads in the process.",
            p.threads,
        ),
    ];
    for (name, help, value) in gauges {
        if let Some(v) = value {
            family(o, name, "gauge", help);
            let _ = writeln!(o, "{name} {v}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A real `/proc/self/stat` line whose command name holds `) (` to trip a naive split.
    const STAT: &str = "4242 (cache node) (x) S 1 4242 4242 0 -1 4194560 1520 0 0 0 \
                        250 130 0 0 20 0 5 0 12345 104857600 2560 18446744073709551615 1 1 0 0 0 \
                        0 0 4096 0 0 0 0 17 1 0 0 0 0 0";

    #[test]
    fn stat_fields_are_counted_after_the_command_name() {
        let s = parse_stat(STAT, 100, 4096).expect("parses");
        assert_eq!(
            s,
            Stat {
                cpu_seconds: 3.8,
                threads: 5,
                virtual_bytes: 104_857_600,
                resident_bytes: 2560 * 4096,
            }
        );
        assert_eq!(parse_stat("4242 (truncated) S 1 2", 100, 4096), None);
        assert_eq!(parse_stat("no parenthesis", 100, 4096), None);
    }

    /// Golden output of the process families, kept apart from `golden_render.txt` (whose
    /// fixture has no process figures) so both stay exact.
    #[test]
    fn renders_the_standard_families() {
        let p = ProcessStats {
            cpu_seconds: Some(3.8),
            resident_bytes: Some(10_485_760),
            virtual_bytes: Some(104_857_600),
            open_fds: Some(12),
            max_fds: Some(65_535),
            threads: Some(5),
        };
        let mut o = String::new();
        render_process(&mut o, &p);
        let want = "\
# HELP process_cpu_seconds_total Total user and system CPU time spent in seconds.
# TYPE process_cpu_seconds_total counter
process_cpu_seconds_total 3.80
# HELP process_resident_memory_bytes Resident memory size in bytes.
# TYPE process_resident_memory_bytes gauge
process_resident_memory_bytes 10485760
# HELP process_virtual_memory_bytes Virtual memory size in bytes.
# TYPE process_virtual_memory_bytes gauge
process_virtual_memory_bytes 104857600
# HELP process_open_fds Number of open file descriptors.
# TYPE process_open_fds gauge
process_open_fds 12
# HELP process_max_fds Maximum number of open file descriptors (soft limit).
# TYPE process_max_fds gauge
process_max_fds 65535
# HELP process_threads Number of OS threads in the process.
# TYPE process_threads gauge
process_threads 5
";
        assert_eq!(o, want);
        let mut none = String::new();
        render_process(&mut none, &ProcessStats::default());
        assert_eq!(
            none, "",
            "unreadable figures are left out, not reported as 0"
        );
    }

    #[test]
    fn reads_this_process() {
        let p = ProcessStats::read();
        assert!(p.cpu_seconds.is_some_and(|s| s >= 0.0), "{p:?}");
        assert!(p.resident_bytes.is_some_and(|b| b > 0), "{p:?}");
        assert!(p.virtual_bytes >= p.resident_bytes, "{p:?}");
        assert!(p.threads.is_some_and(|t| t >= 1), "{p:?}");
        assert!(p.open_fds.is_some_and(|n| n >= 3), "{p:?}");
    }
}
