//! The operator's side of a load run, over the controller's plain-HTTP API with an operator's
//! bearer token: enrollment tokens, an ad-hoc rollout across the simulated fleet, and
//! `/metrics` counters.

use std::collections::BTreeMap;

use anyhow::Context;
use pw_protocol::{CreateEnrollmentToken, CreateRollout, EnrollmentToken, PackagePin, RolloutView};

pub struct Operator {
    http: reqwest::Client,
    base: String,
    token: String,
}

impl Operator {
    pub fn new(base: &str, token: &str) -> anyhow::Result<Self> {
        Ok(Operator {
            // No idle connection kept: the controller may close one just as it is reused.
            http: reqwest::Client::builder()
                .timeout(std::time::Duration::from_secs(300))
                .pool_max_idle_per_host(0)
                .build()?,
            base: base.trim_end_matches('/').to_owned(),
            token: token.trim().to_owned(),
        })
    }

    fn request(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        self.http
            .request(method, format!("{}{path}", self.base))
            .bearer_auth(&self.token)
    }

    /// One single-use enrollment token.
    pub async fn enrollment_token(&self) -> anyhow::Result<String> {
        let body = CreateEnrollmentToken {
            ttl_secs: Some(24 * 3600),
            note: Some("pw-loadgen".into()),
        };
        let request = self
            .request(reqwest::Method::POST, "/api/v1/enrollment-tokens")
            .json(&body);
        let token: EnrollmentToken = pw_agent::send_json(request)
            .await
            .context("creating an enrollment token")?;
        Ok(token.token)
    }

    /// An ad-hoc rollout of `target` to `hosts` (canary 1, then batches of `batch_size`), no
    /// checks and no verification period: what is measured is the controller's overhead.
    pub async fn rollout(
        &self,
        hosts: Vec<String>,
        target: PackagePin,
        batch_size: usize,
    ) -> anyhow::Result<RolloutView> {
        let body = CreateRollout {
            hosts,
            targets: vec![target],
            canary_size: Some(1),
            batch_size: Some(batch_size),
            verification_seconds: Some(0),
            max_failures: Some(0),
            ..Default::default()
        };
        let request = self
            .request(reqwest::Method::POST, "/api/v1/rollouts")
            .json(&body);
        pw_agent::send_json(request)
            .await
            .context("creating the rollout")
    }

    pub async fn rollout_view(&self, id: &str) -> anyhow::Result<RolloutView> {
        let request = self.request(reqwest::Method::GET, &format!("/api/v1/rollouts/{id}"));
        pw_agent::send_json(request).await
    }

    /// The sum of a metric's samples in `/metrics` (any labels): a gauge by its name
    /// (`patchwarden_findings_scans_pending`), a counter as `FAMILY_total`.
    pub async fn metric(&self, name: &str) -> anyhow::Result<f64> {
        Ok(sum_series(&self.metrics_text().await?, name))
    }

    /// One series' value (`NAME{label="value"}` exactly as `/metrics` writes it); 0 when
    /// absent.
    pub async fn metric_series(&self, series: &str) -> anyhow::Result<f64> {
        Ok((self.metrics_text().await?.lines())
            .find_map(|l| l.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
            .unwrap_or(0.0))
    }

    /// TLS connections the controller accepted so far (`patchwarden_connections_total`, HTTP/2
    /// and HTTP/1.1): agents hold one each, so what a phase adds is agents reconnecting, each a
    /// TLS handshake (the operator's own plain requests are not counted).
    pub async fn tls_connections(&self) -> anyhow::Result<f64> {
        let text = self.metrics_text().await?;
        let series = |outcome: &str| {
            let name = format!("patchwarden_connections_total{{outcome=\"{outcome}\"}} ");
            (text.lines())
                .find_map(|l| l.strip_prefix(name.as_str())?.parse::<f64>().ok())
                .unwrap_or(0.0)
        };
        Ok(series("h2") + series("http1"))
    }

    /// The scheduler's pass and step counters now (`/metrics`).
    pub async fn scheduler_sample(&self) -> anyhow::Result<SchedulerSample> {
        let text = self.metrics_text().await?;
        let step = |step: &str| {
            let series = format!("patchwarden_scheduler_step_seconds_sum{{step=\"{step}\"}} ");
            (text.lines())
                .find_map(|l| l.strip_prefix(series.as_str())?.parse().ok())
                .unwrap_or(0.0)
        };
        Ok(SchedulerSample {
            passes: sum_series(&text, "patchwarden_scheduler_pass_seconds_count"),
            pass_secs: sum_series(&text, "patchwarden_scheduler_pass_seconds_sum"),
            step_secs: SCHEDULER_STEPS.iter().map(|s| step(s)).collect(),
        })
    }

    /// The controller's own time answering heartbeats so far: its histogram's cumulative
    /// buckets (`patchwarden_http_request_duration_seconds`, route of the heartbeat), by bound.
    pub async fn heartbeat_buckets(&self) -> anyhow::Result<Vec<(f64, f64)>> {
        let text = self.metrics_text().await?;
        let buckets = (text.lines())
            .filter(|l| l.starts_with("patchwarden_http_request_duration_seconds_bucket{"))
            .filter(|l| l.contains("route=\"/api/v1/agent/heartbeat\""))
            .filter_map(|l| {
                let le = l.split("le=\"").nth(1)?.split('"').next()?;
                let le = if le == "+Inf" {
                    f64::INFINITY
                } else {
                    le.parse().ok()?
                };
                Some((le, l.rsplit_once(' ')?.1.parse().ok()?))
            })
            .collect();
        Ok(buckets)
    }

    async fn metrics_text(&self) -> anyhow::Result<String> {
        Ok(self
            .request(reqwest::Method::GET, "/metrics")
            .send()
            .await?
            .error_for_status()?
            .text()
            .await?)
    }
}

/// The steps of a scheduler pass, as the controller names them
/// (`patchwarden_scheduler_step_seconds{step}`).
pub const SCHEDULER_STEPS: [&str; 11] = [
    "observe", "gates", "load", "results", "timeouts", "restarts", "decide", "releases", "claims",
    "status", "notes",
];

/// The scheduler's counters at one moment.
pub struct SchedulerSample {
    passes: f64,
    pass_secs: f64,
    /// Seconds spent in each of [`SCHEDULER_STEPS`], in that order.
    step_secs: Vec<f64>,
}

impl SchedulerSample {
    /// Passes since `before`, their mean duration, and each step's mean share of a pass (ms).
    pub fn since(&self, before: &SchedulerSample) -> (f64, f64, BTreeMap<String, f64>) {
        let passes = self.passes - before.passes;
        let per_pass = |secs: f64| {
            if passes > 0.0 {
                secs * 1000.0 / passes
            } else {
                0.0
            }
        };
        let steps = (SCHEDULER_STEPS
            .iter()
            .zip(&self.step_secs)
            .zip(&before.step_secs))
        .map(|((step, now), then)| (step.to_string(), per_pass(now - then)))
        .collect();
        (passes, per_pass(self.pass_secs - before.pass_secs), steps)
    }
}

/// The smallest bucket bound (ms) under which a `share` of the observations between two
/// samples of one histogram's cumulative buckets fell (NaN, written `null`, when none came).
pub fn quantile_bound_ms(before: &[(f64, f64)], after: &[(f64, f64)], share: f64) -> f64 {
    let seen = |buckets: &[(f64, f64)], le: f64| {
        (buckets.iter())
            .find(|(bound, _)| *bound == le)
            .map_or(0.0, |(_, n)| *n)
    };
    let total = after.iter().map(|(_, n)| *n).fold(0.0, f64::max)
        - before.iter().map(|(_, n)| *n).fold(0.0, f64::max);
    if total <= 0.0 {
        return f64::NAN;
    }
    let mut bounds: Vec<f64> = after.iter().map(|(le, _)| *le).collect();
    bounds.sort_by(f64::total_cmp);
    (bounds.into_iter())
        .find(|le| seen(after, *le) - seen(before, *le) >= share * total)
        .map_or(f64::NAN, |le| le * 1000.0)
}

/// Sums the samples of metric `name` (any labels) of an OpenMetrics text.
fn sum_series(text: &str, name: &str) -> f64 {
    text.lines()
        .filter(|line| !line.starts_with('#'))
        .filter_map(|line| {
            let (series, value) = line.rsplit_once(' ')?;
            let metric = series.split('{').next()?;
            (metric == name)
                .then(|| value.parse::<f64>().ok())
                .flatten()
        })
        .sum()
}

#[cfg(test)]
mod tests {
    #[test]
    fn sums_a_metric_over_labels() {
        let text = "# TYPE patchwarden_findings_scans counter\n\
                    patchwarden_findings_scans_total{outcome=\"stored\"} 7\n\
                    patchwarden_findings_scans_total{outcome=\"dropped\"} 2\n\
                    patchwarden_findings_scans_created{outcome=\"stored\"} 1.7e9\n\
                    patchwarden_agent_heartbeats_total 40\n";
        let sum = |name| super::sum_series(text, name);
        assert_eq!(sum("patchwarden_findings_scans_total"), 9.0);
        assert_eq!(sum("patchwarden_agent_heartbeats_total"), 40.0);
        assert_eq!(sum("patchwarden_missing"), 0.0);
    }

    #[test]
    fn a_quantile_is_the_first_bound_holding_its_share_of_the_new_observations() {
        let before = [
            (0.001, 10.0),
            (0.01, 10.0),
            (0.1, 10.0),
            (f64::INFINITY, 10.0),
        ];
        // 100 new: 50 under 1 ms, 49 more under 10 ms, the last one under 100 ms.
        let after = [
            (0.001, 60.0),
            (0.01, 109.0),
            (0.1, 110.0),
            (f64::INFINITY, 110.0),
        ];
        assert_eq!(super::quantile_bound_ms(&before, &after, 0.5), 1.0);
        assert_eq!(super::quantile_bound_ms(&before, &after, 0.99), 10.0);
        assert_eq!(super::quantile_bound_ms(&before, &after, 1.0), 100.0);
        assert!(super::quantile_bound_ms(&before, &before, 0.5).is_nan());
    }
}
