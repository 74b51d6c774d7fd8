//! Latency samples and percentiles, and the controller process's CPU time and resident memory
//! read from `/proc` (Linux).

use std::sync::Mutex;
use std::time::Duration;

/// Latency samples of one kind of request (microseconds), and how many failed.
#[derive(Default)]
pub struct Latencies {
    samples: Mutex<Vec<u32>>,
    failures: std::sync::atomic::AtomicU64,
}

/// Percentiles of a set of samples, in milliseconds.
#[derive(Debug, Clone, Copy, serde::Serialize)]
pub struct Summary {
    pub count: usize,
    pub failed: u64,
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
}

impl Latencies {
    pub fn record(&self, took: Duration) {
        let micros = u32::try_from(took.as_micros()).unwrap_or(u32::MAX);
        self.samples.lock().expect("samples lock").push(micros);
    }

    /// Samples recorded since the last reset.
    pub fn recorded(&self) -> usize {
        self.samples.lock().expect("samples lock").len()
    }

    pub fn failed(&self) {
        self.failures
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    }

    /// The samples so far, summarized; `reset` starts a new window.
    pub fn summary(&self, reset: bool) -> Summary {
        let mut samples = self.samples.lock().expect("samples lock");
        let mut sorted = samples.clone();
        if reset {
            samples.clear();
        }
        drop(samples);
        sorted.sort_unstable();
        let failed = if reset {
            self.failures.swap(0, std::sync::atomic::Ordering::Relaxed)
        } else {
            self.failures.load(std::sync::atomic::Ordering::Relaxed)
        };
        Summary {
            count: sorted.len(),
            failed,
            p50_ms: percentile(&sorted, 0.50),
            p99_ms: percentile(&sorted, 0.99),
            max_ms: sorted.last().map_or(0.0, |m| f64::from(*m) / 1000.0),
        }
    }
}

/// The `q` quantile (nearest rank) of sorted microsecond samples, in milliseconds.
fn percentile(sorted: &[u32], q: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = ((q * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    f64::from(sorted[rank - 1]) / 1000.0
}

/// A process's counters at one moment.
#[derive(Debug, Clone, Copy)]
pub struct ProcessSample {
    pub at: std::time::Instant,
    /// User + system CPU seconds since the process started.
    pub cpu_secs: f64,
    pub rss_mib: f64,
}

/// Reads `/proc/PID/stat` (utime, stime) and `/proc/PID/status` (VmRSS).
pub fn sample_process(pid: u32) -> anyhow::Result<ProcessSample> {
    use anyhow::Context;
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .with_context(|| format!("reading /proc/{pid}/stat (is the controller running?)"))?;
    // The command name (field 2) may hold spaces; the fields after its ')' are fixed.
    let after = stat
        .rsplit_once(')')
        .map(|(_, rest)| rest)
        .context("unexpected /proc/PID/stat")?;
    let fields: Vec<&str> = after.split_whitespace().collect();
    // After the name: state is field 3, utime field 14, stime field 15 (1-based, proc(5)).
    let ticks = |i: usize| -> anyhow::Result<f64> {
        Ok(fields
            .get(i - 3)
            .context("short /proc/PID/stat")?
            .parse::<f64>()?)
    };
    let cpu_secs = (ticks(14)? + ticks(15)?) / clock_ticks();
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    let rss_kib = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .context("no VmRSS in /proc/PID/status")?
        .parse::<f64>()?;
    Ok(ProcessSample {
        at: std::time::Instant::now(),
        cpu_secs,
        rss_mib: rss_kib / 1024.0,
    })
}

/// Clock ticks per second of `/proc` CPU times: 100 on Linux (USER_HZ) on every architecture
/// patchwarden runs on.
fn clock_ticks() -> f64 {
    100.0
}

/// CPU cores used between two samples.
pub fn cores_between(a: &ProcessSample, b: &ProcessSample) -> f64 {
    let wall = b.at.duration_since(a.at).as_secs_f64();
    if wall <= 0.0 {
        0.0
    } else {
        (b.cpu_secs - a.cpu_secs) / wall
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank_percentiles() {
        let sorted: Vec<u32> = (1..=100).map(|i| i * 1000).collect();
        assert_eq!(percentile(&sorted, 0.50), 50.0);
        assert_eq!(percentile(&sorted, 0.99), 99.0);
        assert_eq!(percentile(&sorted[..1], 0.99), 1.0);
        assert_eq!(percentile(&[], 0.5), 0.0);
    }

    #[test]
    fn samples_this_process() {
        let sample = sample_process(std::process::id()).unwrap();
        assert!(sample.rss_mib > 1.0, "{sample:?}");
        assert!(sample.cpu_secs >= 0.0);
    }
}
