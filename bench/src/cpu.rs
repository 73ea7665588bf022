//! CPU time of a process, from `/proc/<pid>/stat` (Linux only).
//!
//! On a shared machine the wall-clock rate of a server depends on what else runs; the CPU
//! time it spent per request does not (much), so the tables report both. Resolution is one
//! clock tick (10 ms with the fixed USER_HZ of 100 that /proc reports in), so runs of a few
//! seconds measure it to well under 1 %.

use std::time::Duration;

/// The kernel's USER_HZ: /proc reports times in these ticks, 100 on every Linux ABI.
const TICKS_PER_SEC: u64 = 100;

/// User + system CPU time consumed so far by process `pid` (`"self"` for this one), all
/// threads included; `None` where /proc is unavailable.
pub fn cpu_time(pid: &str) -> Option<Duration> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    parse_stat(&stat)
}

/// utime + stime from the text of a /proc stat file.
fn parse_stat(stat: &str) -> Option<Duration> {
    // The command name (field 2) is in parentheses and may hold spaces: split after it.
    let (_, rest) = stat.rsplit_once(')')?;
    let mut fields = rest.split_whitespace();
    // rest starts at field 3 (state); utime and stime are fields 14 and 15.
    let utime: u64 = fields.nth(11)?.parse().ok()?;
    let stime: u64 = fields.next()?.parse().ok()?;
    Some(Duration::from_millis(
        (utime + stime) * 1000 / TICKS_PER_SEC,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_utime_plus_stime_even_with_spaces_in_the_name() {
        let stat = "4242 (tessera serve) S 1 4242 4242 0 -1 4194560 300 0 0 0 150 25 0 0 20 0 6 0";
        assert_eq!(parse_stat(stat), Some(Duration::from_millis(1750)));
    }

    #[test]
    fn this_process_has_a_cpu_time() {
        assert!(cpu_time("self").is_some());
    }
}
