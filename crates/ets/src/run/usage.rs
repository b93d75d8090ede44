//! Resource usage of the command's process tree and of the host, read from `/proc` (Linux
//! only; elsewhere no sample is taken). No crate: `/proc` is a handful of text files, and
//! `sysinfo` is not in the build.
//!
//! The tree is the command's process and every process descending from it or in its process
//! group. Per process: CPU ticks (`stat` fields utime + stime + cutime + cstime, so children
//! that exited and were waited for still count), resident memory (`status` VmRSS) and bytes
//! read and written by storage (`io` read_bytes, write_bytes, which also take in waited-for
//! children). Host: memory (`meminfo` MemTotal − MemAvailable, as `free` and psutil count
//! "used") and network bytes over every interface but loopback (`net/dev`).

use std::collections::{HashMap, HashSet};
use std::fs;
use std::time::Instant;

/// Ticks per second of `/proc/<pid>/stat` times: USER_HZ, 100 on every Linux architecture
/// ETS builds for.
const TICKS_PER_SECOND: f64 = 100.0;

/// One process's line of `/proc/<pid>/stat`, as far as the tree needs it.
struct Stat {
    ppid: u32,
    pgrp: u32,
    ticks: u64,
}

fn read_stat(pid: u32) -> Option<Stat> {
    let text = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name is in parentheses and may hold spaces: fields start after the last ')'.
    let rest = &text[text.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // rest[0] is field 3 (state): field n is fields[n - 3].
    let field = |n: usize| fields.get(n - 3).and_then(|f| f.parse::<u64>().ok());
    Some(Stat {
        ppid: u32::try_from(field(4)?).ok()?,
        pgrp: u32::try_from(field(5)?).ok()?,
        ticks: field(14)? + field(15)? + field(16)? + field(17)?,
    })
}

/// `key: value` lines of a `/proc` file, as numbers (the first word of the value).
fn keyed(text: &str) -> HashMap<&str, u64> {
    text.lines()
        .filter_map(|line| {
            let (key, value) = line.split_once(':')?;
            Some((key.trim(), value.split_whitespace().next()?.parse().ok()?))
        })
        .collect()
}

/// The command's tree: `root`, its descendants, and the processes of its process group.
fn tree(root: u32) -> Vec<(u32, Stat)> {
    let Ok(entries) = fs::read_dir("/proc") else {
        return Vec::new();
    };
    let all: Vec<(u32, Stat)> = entries
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter_map(|pid| Some((pid, read_stat(pid)?)))
        .collect();
    let mut members: HashSet<u32> = HashSet::from([root]);
    loop {
        let before = members.len();
        for (pid, stat) in &all {
            if members.contains(&stat.ppid) || stat.pgrp == root {
                members.insert(*pid);
            }
        }
        if members.len() == before {
            break;
        }
    }
    all.into_iter()
        .filter(|(pid, _)| members.contains(pid))
        .collect()
}

/// Received and transmitted bytes over every interface but loopback.
fn network() -> Option<(u64, u64)> {
    let text = fs::read_to_string("/proc/net/dev").ok()?;
    let mut totals = (0u64, 0u64);
    for line in text.lines().skip(2) {
        let Some((name, counters)) = line.split_once(':') else {
            continue;
        };
        if name.trim() == "lo" {
            continue;
        }
        let counters: Vec<u64> = counters
            .split_whitespace()
            .filter_map(|c| c.parse().ok())
            .collect();
        if counters.len() >= 9 {
            totals.0 += counters[0];
            totals.1 += counters[8];
        }
    }
    Some(totals)
}

/// Samples the usage of one command's tree, and the machine's GPUs.
pub struct Sampler {
    root: u32,
    last: Option<(Instant, u64)>,
    network_at_start: Option<(u64, u64)>,
    gpus: super::gpu::Gpus,
}

impl Sampler {
    pub fn new(root: u32) -> Sampler {
        let mut sampler = Sampler {
            root,
            last: None,
            network_at_start: network(),
            gpus: super::gpu::Gpus::open(),
        };
        // The first CPU reading: later samples are rates since the one before.
        let ticks: u64 = tree(root).iter().map(|(_, s)| s.ticks).sum();
        sampler.last = Some((Instant::now(), ticks));
        sampler
    }

    /// `system/*` metric values now (empty off Linux, or when the command has exited).
    pub fn sample(&mut self) -> Vec<(String, f64)> {
        let mut out: Vec<(String, f64)> = self
            .sample_tree()
            .into_iter()
            .map(|(key, value)| (key.to_owned(), value))
            .collect();
        if !out.is_empty() {
            self.gpus.sample(&mut out);
        }
        out
    }

    /// The `/proc` part of [`Sampler::sample`].
    fn sample_tree(&mut self) -> Vec<(&'static str, f64)> {
        let mut out = Vec::new();
        let members = tree(self.root);
        if members.is_empty() {
            return out;
        }
        let now = Instant::now();
        let ticks: u64 = members.iter().map(|(_, s)| s.ticks).sum();
        if let Some((then, before)) = self.last {
            let seconds = now.duration_since(then).as_secs_f64();
            if seconds > 0.0 {
                // A process that ended without being waited for takes its ticks along.
                let used = ticks.saturating_sub(before) as f64 / TICKS_PER_SECOND;
                out.push(("system/cpu_percent", 100.0 * used / seconds));
            }
        }
        self.last = Some((now, ticks));
        let mut rss_kb = 0;
        let (mut read, mut written) = (0, 0);
        for (pid, _) in &members {
            if let Ok(status) = fs::read_to_string(format!("/proc/{pid}/status")) {
                rss_kb += keyed(&status).get("VmRSS").copied().unwrap_or(0);
            }
            if let Ok(io) = fs::read_to_string(format!("/proc/{pid}/io")) {
                let io = keyed(&io);
                read += io.get("read_bytes").copied().unwrap_or(0);
                written += io.get("write_bytes").copied().unwrap_or(0);
            }
        }
        out.push(("system/rss_bytes", (rss_kb * 1024) as f64));
        out.push(("system/disk_read_bytes", read as f64));
        out.push(("system/disk_write_bytes", written as f64));
        if let Ok(meminfo) = fs::read_to_string("/proc/meminfo") {
            let meminfo = keyed(&meminfo);
            if let (Some(total), Some(available)) =
                (meminfo.get("MemTotal"), meminfo.get("MemAvailable"))
                && *total > 0
            {
                let used = total.saturating_sub(*available);
                out.push(("system/memory_used_bytes", (used * 1024) as f64));
                out.push(("system/memory_percent", 100.0 * used as f64 / *total as f64));
            }
        }
        if let (Some(start), Some(now)) = (self.network_at_start, network()) {
            out.push(("system/net_rx_bytes", now.0.saturating_sub(start.0) as f64));
            out.push(("system/net_tx_bytes", now.1.saturating_sub(start.1) as f64));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    #[cfg(target_os = "linux")]
    fn this_process_is_sampled() {
        let mut sampler = Sampler::new(std::process::id());
        // Burn a little CPU so the rate is positive.
        let mut x = 0u64;
        let start = Instant::now();
        while start.elapsed().as_millis() < 60 {
            x = x.wrapping_mul(31).wrapping_add(7);
        }
        assert!(x != 1);
        let sample: HashMap<_, _> = sampler.sample().into_iter().collect();
        assert!(sample["system/rss_bytes"] > 1_000_000.0, "{sample:?}");
        assert!(sample["system/cpu_percent"] > 0.0, "{sample:?}");
        assert!(sample["system/memory_percent"] > 0.0 && sample["system/memory_percent"] < 100.0);
        assert!(sample.contains_key("system/net_rx_bytes"));
    }

    #[test]
    fn stat_lines_with_spaces_in_the_name() {
        let keyed = keyed("VmRSS:\t  1234 kB\nName: x\n");
        assert_eq!(keyed["VmRSS"], 1234);
    }
}
