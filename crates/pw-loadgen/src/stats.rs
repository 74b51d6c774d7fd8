//! Latency samples and percentiles, and the controller process's CPU time and resident memory
//! read from `/proc` (Linux).

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::Duration;

/// Distinct failure kinds kept per window; later new kinds count under [`OTHER_KINDS`].
const MAX_KINDS: usize = 24;
const OTHER_KINDS: &str = "(other kinds)";

/// Requests that failed, counted by kind: the controller's answer (`HTTP 400: message (code)`)
/// or the client's own error (a timeout of the load generator's, a refused or reset
/// connection), so that a run says what failed and on which side.
#[derive(Default)]
pub struct Failures(Mutex<BTreeMap<String, u64>>);

impl Failures {
    pub fn add(&self, error: &anyhow::Error) {
        let kind = failure_kind(error);
        let mut kinds = self.0.lock().expect("failures lock");
        let key = match kinds.len() < MAX_KINDS || kinds.contains_key(&kind) {
            true => kind,
            false => OTHER_KINDS.to_owned(),
        };
        *kinds.entry(key).or_default() += 1;
    }

    /// The failures so far by kind; `reset` starts a new window.
    pub fn take(&self, reset: bool) -> BTreeMap<String, u64> {
        let mut kinds = self.0.lock().expect("failures lock");
        match reset {
            true => std::mem::take(&mut *kinds),
            false => kinds.clone(),
        }
    }
}

/// A failure's kind: the controller's status and message, or the client's error chain without
/// the request's URL (a command's result URL names the command).
pub fn failure_kind(error: &anyhow::Error) -> String {
    if let Some(refused) = error.downcast_ref::<pw_agent::Refused>() {
        let message: String = refused.message.chars().take(300).collect();
        return format!("HTTP {}: {message}", refused.status.as_u16());
    }
    let text = format!("{error:#}");
    let text = match (text.find(" for url ("), text.find("): ")) {
        (Some(start), Some(end)) if end > start => {
            format!("{}{}", &text[..start], &text[end + 1..])
        }
        _ => text,
    };
    text.chars().take(300).collect()
}

/// Latency samples of one kind of request (microseconds), and the failures by kind.
#[derive(Default)]
pub struct Latencies {
    samples: Mutex<Vec<u32>>,
    failures: Failures,
}

/// Percentiles of a set of samples, in milliseconds, and the failures by kind.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Summary {
    pub count: usize,
    pub failed: u64,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub failures: BTreeMap<String, u64>,
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

    pub fn failed(&self, error: &anyhow::Error) {
        self.failures.add(error);
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
        let failures = self.failures.take(reset);
        Summary {
            count: sorted.len(),
            failed: failures.values().sum(),
            failures,
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
    fn failures_are_counted_by_kind() {
        let latencies = Latencies::default();
        let refused = pw_agent::Refused {
            status: reqwest::StatusCode::BAD_REQUEST,
            message: "bad (invalid_request)".into(),
        };
        latencies.failed(&refused.into());
        for command in ["c1", "c2"] {
            let url = format!("https://127.0.0.1:1/api/v1/agent/commands/{command}/result");
            let error =
                anyhow::anyhow!("error sending request for url ({url}): operation timed out");
            latencies.failed(&error);
        }
        let summary = latencies.summary(true);
        assert_eq!(summary.failed, 3);
        let kinds: Vec<_> = summary.failures.into_iter().collect();
        assert_eq!(
            kinds,
            [
                ("HTTP 400: bad (invalid_request)".to_owned(), 1),
                ("error sending request: operation timed out".to_owned(), 2),
            ]
        );
        assert_eq!(latencies.summary(true).failed, 0, "a new window");
    }

    #[test]
    fn samples_this_process() {
        let sample = sample_process(std::process::id()).unwrap();
        assert!(sample.rss_mib > 1.0, "{sample:?}");
        assert!(sample.cpu_secs >= 0.0);
    }
}
