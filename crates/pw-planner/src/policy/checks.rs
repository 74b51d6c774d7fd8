//! What a `[health_checks.<name>]` table may say besides `kind`, `target` and `timeout`
//! (docs/fleet.md "Health checks"), the PromQL gate's condition, the group's core services
//! (the named default check `core-service-up`) and its observation period.

use serde::{Deserialize, Serialize};

use super::raw::{RawGroup, RawHealthCheck};
use super::validate::{Errors, positive_duration};
use super::{HealthCheckKind, defaults};
use crate::duration::parse_duration;

/// The named default check a group with `core_services` gets: every listed unit active and
/// every listed port accepting within `core_up_within` (default 5 min) of the install, or the
/// guard rolls back (the SOP "core service not up within 5 minutes → roll back").
pub const CORE_SERVICE_CHECK: &str = "core-service-up";

/// Per-kind settings of a check; `None` everywhere for the other kinds.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CheckOptions {
    /// `http`: the status that counts as healthy (default 200).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expect_status: Option<u16>,
    /// `http`: an absolute PEM file on the host, trusted instead of the system's roots.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ca_file: Option<String>,
    /// `http`: an IP address to connect to instead of resolving the URL's host name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub connect_to: Option<String>,
    /// `promql`: when the query's answer is healthy (default: a non-empty result).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub condition: Option<PromqlCondition>,
    /// `promql`: the Prometheus server's base URL (`http://127.0.0.1:9090`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prometheus: Option<String>,
    /// `promql`: at most one query per this many seconds (default 30).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interval_seconds: Option<u64>,
}

impl CheckOptions {
    pub fn is_default(&self) -> bool {
        *self == CheckOptions::default()
    }
}

/// Default pause between two queries of one PromQL gate.
pub const PROMQL_INTERVAL_SECONDS: u64 = 30;

/// When a PromQL query's answer (an instant vector or a scalar) is healthy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "when", rename_all = "snake_case")]
pub enum PromqlCondition {
    /// At least one sample (write the comparison in PromQL: `up{job="web"} == 1`).
    NonEmpty,
    /// No sample at all (e.g. `ALERTS{alertstate="firing",severity="page"}`).
    Empty,
    /// At least one sample, and every sample's value compared with the threshold holds.
    Compare { op: CompareOp, threshold: Threshold },
}

/// A comparison operator of a condition.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum CompareOp {
    #[serde(rename = "<")]
    Lt,
    #[serde(rename = "<=")]
    Le,
    #[serde(rename = ">")]
    Gt,
    #[serde(rename = ">=")]
    Ge,
    #[serde(rename = "==")]
    Eq,
    #[serde(rename = "!=")]
    Ne,
}

/// A finite threshold, kept as written (so the condition compares and prints exactly).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Threshold(pub f64);

impl Eq for Threshold {}

impl PromqlCondition {
    /// `non_empty`, `empty`, or an operator and a number: `< 0.05`, `>= 1`, `== 0`.
    pub fn parse(text: &str) -> Result<PromqlCondition, String> {
        let text = text.trim();
        match text {
            "non_empty" => return Ok(PromqlCondition::NonEmpty),
            "empty" => return Ok(PromqlCondition::Empty),
            _ => {}
        }
        let ops = [
            ("<=", CompareOp::Le),
            (">=", CompareOp::Ge),
            ("==", CompareOp::Eq),
            ("!=", CompareOp::Ne),
            ("<", CompareOp::Lt),
            (">", CompareOp::Gt),
        ];
        let Some((op, rest)) = ops
            .iter()
            .find_map(|(sign, op)| text.strip_prefix(sign).map(|rest| (*op, rest)))
        else {
            return Err(
                "expected non_empty, empty, or a comparison such as \"< 0.05\" (<, <=, >, >=, \
                 ==, !=)"
                    .into(),
            );
        };
        let threshold: f64 = rest
            .trim()
            .parse()
            .map_err(|_| format!("{:?} is not a number", rest.trim()))?;
        if !threshold.is_finite() {
            return Err("the threshold must be a finite number".into());
        }
        Ok(PromqlCondition::Compare {
            op,
            threshold: Threshold(threshold),
        })
    }

    /// Whether the samples' values are healthy; `Err` says why not, naming the offending value.
    pub fn judge(&self, values: &[f64]) -> Result<(), String> {
        match self {
            PromqlCondition::NonEmpty if values.is_empty() => {
                Err("the query returned no sample".into())
            }
            PromqlCondition::NonEmpty => Ok(()),
            PromqlCondition::Empty if values.is_empty() => Ok(()),
            PromqlCondition::Empty => Err(format!(
                "the query returned {} sample(s), expected none (first value {})",
                values.len(),
                values[0]
            )),
            PromqlCondition::Compare { .. } if values.is_empty() => {
                Err("the query returned no sample to compare".into())
            }
            PromqlCondition::Compare { op, threshold } => {
                match values.iter().find(|v| !op.holds(**v, threshold.0)) {
                    Some(value) => Err(format!(
                        "value {value} is not {} {}",
                        op.sign(),
                        threshold.0
                    )),
                    None => Ok(()),
                }
            }
        }
    }
}

impl CompareOp {
    fn holds(self, value: f64, threshold: f64) -> bool {
        match self {
            CompareOp::Lt => value < threshold,
            CompareOp::Le => value <= threshold,
            CompareOp::Gt => value > threshold,
            CompareOp::Ge => value >= threshold,
            CompareOp::Eq => value == threshold,
            CompareOp::Ne => value != threshold,
        }
    }

    pub fn sign(self) -> &'static str {
        match self {
            CompareOp::Lt => "<",
            CompareOp::Le => "<=",
            CompareOp::Gt => ">",
            CompareOp::Ge => ">=",
            CompareOp::Eq => "==",
            CompareOp::Ne => "!=",
        }
    }
}

/// The per-kind keys of `[health_checks.<name>]`, each allowed only with its kind.
pub(super) fn check_options(
    path: &str,
    kind: Option<HealthCheckKind>,
    raw: &RawHealthCheck,
    errors: &mut Errors,
) -> CheckOptions {
    let mut options = CheckOptions::default();
    let only = |key: &str, wanted: HealthCheckKind, present: bool, errors: &mut Errors| {
        if present && kind.is_some_and(|k| k != wanted) {
            errors.push(
                &format!("{path}.{key}"),
                "a value",
                format!("only {} checks take {key}", kind_word(wanted)),
            );
        }
    };
    for (key, wanted, given) in [
        (
            "expect_status",
            HealthCheckKind::Http,
            raw.expect_status.is_some(),
        ),
        ("ca_file", HealthCheckKind::Http, raw.ca_file.is_some()),
        (
            "connect_to",
            HealthCheckKind::Http,
            raw.connect_to.is_some(),
        ),
        (
            "condition",
            HealthCheckKind::Promql,
            raw.condition.is_some(),
        ),
        (
            "prometheus",
            HealthCheckKind::Promql,
            raw.prometheus.is_some(),
        ),
        ("interval", HealthCheckKind::Promql, raw.interval.is_some()),
    ] {
        only(key, wanted, given, errors);
    }
    if let Some(status) = raw.expect_status {
        match u16::try_from(status) {
            Ok(status @ 100..=599) => options.expect_status = Some(status),
            _ => errors.push(
                &format!("{path}.expect_status"),
                status.to_string(),
                "an HTTP status code 100..=599",
            ),
        }
    }
    if let Some(file) = &raw.ca_file {
        if file.starts_with('/') && !file.chars().any(char::is_control) {
            options.ca_file = Some(file.clone());
        } else {
            errors.push(
                &format!("{path}.ca_file"),
                format!("{file:?}"),
                "an absolute path",
            );
        }
    }
    if let Some(ip) = &raw.connect_to {
        if ip.parse::<core::net::IpAddr>().is_ok() {
            options.connect_to = Some(ip.clone());
        } else {
            errors.push(
                &format!("{path}.connect_to"),
                format!("{ip:?}"),
                "an IP address",
            );
        }
    }
    if let Some(text) = &raw.condition {
        match PromqlCondition::parse(text) {
            Ok(condition) => options.condition = Some(condition),
            Err(reason) => errors.push(&format!("{path}.condition"), format!("{text:?}"), reason),
        }
    }
    if let Some(url) = &raw.prometheus {
        let trimmed = url.trim_end_matches('/');
        let rest = trimmed
            .strip_prefix("http://")
            .or_else(|| trimmed.strip_prefix("https://"));
        match rest {
            Some(rest) if !rest.is_empty() && !rest.contains(['@', ' ', '?', '#']) => {
                options.prometheus = Some(trimmed.to_owned());
            }
            _ => errors.push(
                &format!("{path}.prometheus"),
                format!("{url:?}"),
                "the Prometheus server's http:// or https:// base URL, without credentials",
            ),
        }
    }
    if kind == Some(HealthCheckKind::Promql) && raw.prometheus.is_none() {
        errors.push(
            &format!("{path}.prometheus"),
            "nothing",
            "required for a promql check: the Prometheus server's base URL",
        );
    }
    options.interval_seconds =
        positive_duration(&format!("{path}.interval"), raw.interval.as_deref(), errors);
    options
}

fn kind_word(kind: HealthCheckKind) -> &'static str {
    match kind {
        HealthCheckKind::Http => "http",
        HealthCheckKind::Promql => "promql",
        _ => "other",
    }
}

/// A group's observation period after its last batch (docs/design/rollout-engine.md
/// "Observation").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ObservationPolicy {
    /// How long hosts stay under observation after the rollout's last batch; 0: none.
    pub seconds: u64,
    /// How often the group's checks run meanwhile.
    pub interval_seconds: u64,
    /// What a failure during observation does.
    pub late_rollback: LateRollback,
}

/// What a check failing during observation does besides the `observation.alert`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LateRollback {
    /// An operator decides (the rollback is offered in the API and the console).
    Offer,
    /// The controller rolls the host back to its recorded versions at once.
    Auto,
}

/// Default observation of production groups (seed 000: 24–72 h of closer watching).
pub const OBSERVATION_SECONDS_PRODUCTION: u64 = 24 * 3_600;
/// Default pause between two observation rounds.
pub const OBSERVATION_INTERVAL_SECONDS: u64 = 3_600;

/// `observation`, `observation_interval`, `late_rollback` and `core_services`,
/// `core_up_within` of a group.
pub(super) fn group_extras(
    name: &str,
    raw: &RawGroup,
    production: bool,
    errors: &mut Errors,
) -> (ObservationPolicy, Vec<String>, u64) {
    let path = |key: &str| format!("groups.{name}.{key}");
    let seconds = match raw.observation.as_deref() {
        None if production => OBSERVATION_SECONDS_PRODUCTION,
        None => 0,
        Some(text) => parse_duration(text).unwrap_or_else(|reason| {
            errors.push(&path("observation"), format!("{text:?}"), reason);
            0
        }),
    };
    let interval_seconds = positive_duration(
        &path("observation_interval"),
        raw.observation_interval.as_deref(),
        errors,
    )
    .unwrap_or(OBSERVATION_INTERVAL_SECONDS.min(seconds.max(1)));
    let late_rollback = match raw.late_rollback.as_deref() {
        None | Some("offer") => LateRollback::Offer,
        Some("auto") => LateRollback::Auto,
        Some(other) => {
            errors.push(
                &path("late_rollback"),
                format!("{other:?}"),
                "offer or auto",
            );
            LateRollback::Offer
        }
    };
    let mut core = Vec::new();
    for (index, entry) in raw.core_services.iter().flatten().enumerate() {
        let entry = entry.trim();
        if entry.is_empty() || entry.chars().any(char::is_whitespace) {
            errors.push(
                &format!("{}[{index}]", path("core_services")),
                format!("{entry:?}"),
                "a systemd unit name or an IP:PORT, without spaces",
            );
        } else {
            core.push(entry.to_owned());
        }
    }
    let core_up_within = positive_duration(
        &path("core_up_within"),
        raw.core_up_within.as_deref(),
        errors,
    )
    .unwrap_or(defaults::CORE_UP_WITHIN_SECONDS);
    let observation = ObservationPolicy {
        seconds,
        interval_seconds,
        late_rollback,
    };
    (observation, core, core_up_within)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conditions_parse_and_judge() {
        let lt = PromqlCondition::parse(" < 0.05").unwrap();
        assert_eq!(lt.judge(&[0.01, 0.049]), Ok(()));
        assert_eq!(
            lt.judge(&[0.01, 0.5]),
            Err("value 0.5 is not < 0.05".into())
        );
        assert!(lt.judge(&[]).unwrap_err().contains("no sample"));
        let ge = PromqlCondition::parse(">=1").unwrap();
        assert_eq!(ge.judge(&[1.0]), Ok(()));
        assert!(ge.judge(&[0.0]).is_err());
        assert_eq!(
            PromqlCondition::parse("non_empty"),
            Ok(PromqlCondition::NonEmpty)
        );
        assert!(PromqlCondition::NonEmpty.judge(&[]).is_err());
        assert_eq!(PromqlCondition::Empty.judge(&[]), Ok(()));
        assert!(PromqlCondition::Empty.judge(&[3.0]).is_err());
        assert!(
            PromqlCondition::parse("== 0")
                .unwrap()
                .judge(&[0.0])
                .is_ok()
        );
        assert!(
            PromqlCondition::parse("!= 0")
                .unwrap()
                .judge(&[0.0])
                .is_err()
        );
        for bad in ["", "about 3", "< x", "< NaN", "> inf", "=> 3"] {
            assert!(PromqlCondition::parse(bad).is_err(), "{bad}");
        }
    }
}
