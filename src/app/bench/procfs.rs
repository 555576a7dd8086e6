//! Process figures from /proc (Linux): CPU time of this process and of waited-for children,
//! and peak RSS. Where /proc lacks a file the figure is NaN or None, never an error: a
//! benchmark still runs, it just reports less.

/// User + system CPU of this whole process, every thread (utime + stime in /proc/self/stat),
/// in seconds; USER_HZ is 100 on Linux.
pub(super) fn process_cpu_seconds() -> f64 {
    let field = |stat: &str, i: usize| -> Option<f64> {
        stat.rsplit_once(')')?
            .1
            .split_whitespace()
            .nth(i)?
            .parse()
            .ok()
    };
    std::fs::read_to_string("/proc/self/stat")
        .ok()
        .and_then(|s| Some((field(&s, 11)? + field(&s, 12)?) / 100.0))
        .unwrap_or(f64::NAN)
}

/// User + system CPU of this process's waited-for children (cutime + cstime in
/// /proc/self/stat), in seconds; USER_HZ is 100 on Linux.
pub(super) fn waited_children_cpu_seconds() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // Fields after the parenthesised command name start at field 3 (state).
    let rest = stat.rsplit_once(')')?.1;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let cutime: f64 = fields.get(13)?.parse().ok()?;
    let cstime: f64 = fields.get(14)?.parse().ok()?;
    Some((cutime + cstime) / 100.0)
}

/// Resets VmHWM to the current RSS (Linux 4.0+); without it the peak covers the whole process.
pub(super) fn reset_peak_rss() {
    let _ = std::fs::write("/proc/self/clear_refs", "5");
}

/// VmHWM of this process in MiB, from /proc/self/status.
pub(super) fn peak_rss_mib() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib / 1024.0)
}
