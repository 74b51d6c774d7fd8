//! The PromQL gates (docs/fleet.md "Health checks", docs/design/rollout-engine.md "How the
//! controller computes the gates"): a group's `promql` checks are not run by agents but by the
//! controller, through the Prometheus HTTP API (`GET /api/v1/query`), on the scheduler passes
//! while a rollout with hosts of the group is active. Each check is queried at most once per
//! its `interval` (default 30 s) of the injected clock; between two queries its last answer
//! stands. A failing check — the condition does not hold, or the query could not be answered
//! (Prometheus down, a bad expression, a range vector): the gate fails closed — turns the
//! group's health gate red, so no further host of the group is claimed until it passes.
//!
//! Prometheus evaluates the expression at its own current time (`time` is not sent): the
//! injected clock paces the queries, it does not choose the data.

use std::collections::BTreeMap;
use std::sync::{Mutex, OnceLock};
use std::time::Duration;

use jiff::{SignedDuration, Timestamp};
use pw_planner::policy::{HealthCheck, HealthCheckKind, PROMQL_INTERVAL_SECONDS, PromqlCondition};
use serde::Deserialize;

/// Longest wait for one query's answer.
const MAX_QUERY_SECONDS: u64 = 30;

/// The last evaluation of each PromQL check, shared by the passes of one controller.
#[derive(Default)]
pub struct PromqlGates {
    client: OnceLock<reqwest::Client>,
    last: Mutex<BTreeMap<String, Evaluation>>,
}

/// One check's answer at a pass's `now`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Evaluation {
    pub at: Timestamp,
    /// `Err`: why the check is red.
    pub outcome: Result<(), String>,
}

impl PromqlGates {
    /// The check's answer at `now`: queried again when its interval has passed since the last
    /// query (or the check changed), else the last answer.
    pub async fn evaluate(&self, name: &str, check: &HealthCheck, now: Timestamp) -> Evaluation {
        let key = format!("{name}\u{0}{}\u{0}{:?}", check.target, check.options);
        let interval = check
            .options
            .interval_seconds
            .unwrap_or(PROMQL_INTERVAL_SECONDS);
        if let Some(last) = self.lock().get(&key)
            && now < last.at + SignedDuration::from_secs(interval as i64)
            && now >= last.at
        {
            return last.clone();
        }
        let outcome = self.query(check).await;
        if let Err(why) = &outcome {
            tracing::info!(check = name, why, "PromQL gate red");
        }
        let evaluation = Evaluation { at: now, outcome };
        self.lock().insert(key, evaluation.clone());
        evaluation
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, Evaluation>> {
        self.last
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    async fn query(&self, check: &HealthCheck) -> Result<(), String> {
        if check.kind != HealthCheckKind::Promql {
            return Err("not a promql check".into());
        }
        let base = check
            .options
            .prometheus
            .as_deref()
            .ok_or("no prometheus URL")?;
        let client = match self.client.get() {
            Some(client) => client,
            None => {
                let client = reqwest::Client::builder()
                    .connect_timeout(Duration::from_secs(5))
                    .redirect(reqwest::redirect::Policy::none())
                    .user_agent(concat!("patchwarden/", env!("CARGO_PKG_VERSION")))
                    .build()
                    .map_err(|e| format!("setting up the HTTP client: {e}"))?;
                self.client.get_or_init(|| client)
            }
        };
        let url = format!("{}/api/v1/query", base.trim_end_matches('/'));
        let timeout = check.timeout_seconds.clamp(1, MAX_QUERY_SECONDS);
        let request = url::Url::parse_with_params(&url, [("query", check.target.as_str())])
            .map_err(|e| format!("prometheus URL {url:?}: {e}"))?;
        let answer = client
            .get(request)
            .timeout(Duration::from_secs(timeout))
            .send()
            .await
            .map_err(|e| format!("querying {url}: {}", crate::notify::send::chain(&e)))?;
        let status = answer.status();
        let body = answer
            .bytes()
            .await
            .map_err(|e| format!("reading {url}'s answer: {e}"))?;
        let values = sample_values(&body).map_err(|why| format!("{url} ({status}): {why}"))?;
        let condition = check.options.condition.unwrap_or(PromqlCondition::NonEmpty);
        condition.judge(&values)
    }
}

/// The Prometheus API's envelope (`/api/v1/query`).
#[derive(Deserialize)]
struct Envelope {
    status: String,
    #[serde(default)]
    data: Option<Data>,
    #[serde(default, rename = "errorType")]
    error_type: Option<String>,
    #[serde(default)]
    error: Option<String>,
}

#[derive(Deserialize)]
#[serde(tag = "resultType", content = "result", rename_all = "lowercase")]
enum Data {
    Vector(Vec<Sample>),
    Scalar((f64, String)),
    Matrix(serde::de::IgnoredAny),
    String(serde::de::IgnoredAny),
}

#[derive(Deserialize)]
struct Sample {
    value: (f64, String),
}

/// The values of an instant query's answer (a vector's samples, or a scalar); an error
/// answer, a range vector or a string is an error naming it.
pub fn sample_values(body: &[u8]) -> Result<Vec<f64>, String> {
    let envelope: Envelope =
        serde_json::from_slice(body).map_err(|e| format!("not a Prometheus API answer: {e}"))?;
    if envelope.status != "success" {
        return Err(format!(
            "the query failed: {}: {}",
            envelope.error_type.unwrap_or_default(),
            envelope.error.unwrap_or_default()
        ));
    }
    let value = |text: &str| match text {
        "NaN" => Ok(f64::NAN),
        "+Inf" => Ok(f64::INFINITY),
        "-Inf" => Ok(f64::NEG_INFINITY),
        other => other
            .parse::<f64>()
            .map_err(|_| format!("sample value {other:?} is not a number")),
    };
    match envelope.data.ok_or("the answer has no data")? {
        Data::Vector(samples) => samples.iter().map(|s| value(&s.value.1)).collect(),
        Data::Scalar((_, text)) => Ok(vec![value(&text)?]),
        Data::Matrix(_) => {
            Err("the expression is a range vector; the gate needs an instant vector".into())
        }
        Data::String(_) => Err("the expression is a string; the gate needs a number".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::sample_values;

    #[test]
    fn answers_become_values_or_named_errors() {
        let vector = br#"{"status":"success","data":{"resultType":"vector","result":[
            {"metric":{"job":"a"},"value":[1764806400.1,"0.25"]},
            {"metric":{"job":"b"},"value":[1764806400.1,"NaN"]}]}}"#;
        let values = sample_values(vector).unwrap();
        assert_eq!(values[0], 0.25);
        assert!(values[1].is_nan());
        let scalar = br#"{"status":"success","data":{"resultType":"scalar","result":[1.5,"3"]}}"#;
        assert_eq!(sample_values(scalar), Ok(vec![3.0]));
        let empty = br#"{"status":"success","data":{"resultType":"vector","result":[]}}"#;
        assert_eq!(sample_values(empty), Ok(vec![]));
        let error = br#"{"status":"error","errorType":"bad_data","error":"parse error"}"#;
        assert!(
            sample_values(error)
                .unwrap_err()
                .contains("bad_data: parse error")
        );
        let matrix = br#"{"status":"success","data":{"resultType":"matrix","result":[]}}"#;
        assert!(sample_values(matrix).unwrap_err().contains("range vector"));
        assert!(
            sample_values(b"<html>")
                .unwrap_err()
                .contains("not a Prometheus")
        );
    }
}
