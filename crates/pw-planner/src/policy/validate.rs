//! Stages 2 and 3 of the policy: defaults merged in (built-in → top-level `[rollout]` → the
//! group's `[groups.<name>.rollout]`), then every value checked; all problems are collected.

use std::collections::{BTreeMap, BTreeSet};

use pw_model::PackageName;
use serde::de::DeserializeOwned;

use super::group::{GroupContext, group, health_check};
use super::raw::{
    RawAmount, RawEstimates, RawGroup, RawHealthCheck, RawNotifications, RawProtection, RawRollout,
};
use super::{
    Amount, Estimates, PackageEstimate, Policy, PolicyError, PolicyErrors, RolloutPolicy, defaults,
};
use crate::duration::parse_duration;

/// `priority` belongs to pw-priority, `emergency` (and `groups.<name>.members`) to pw-fleet:
/// accepted here and checked there (the same file is the controller's fleet document), and so
/// are `channels` and `routes` (notifications).
const TOP_LEVEL_KEYS: [&str; 10] = [
    "priority",
    "emergency",
    "channels",
    "routes",
    "rollout",
    "estimates",
    "health_checks",
    "protection",
    "notifications",
    "groups",
];

/// Parses and validates a policy, reporting every problem at once.
pub fn parse_policy(text: &str) -> Result<Policy, PolicyErrors> {
    let table: toml::Table = toml::from_str(text).map_err(|error| {
        PolicyErrors(vec![PolicyError {
            path: "(file)".into(),
            value: "the TOML text".into(),
            reason: format!("not valid TOML: {}", error.to_string().trim()),
        }])
    })?;
    let mut errors = Errors::default();
    for key in table.keys() {
        if !TOP_LEVEL_KEYS.contains(&key.as_str()) {
            errors.push(
                key,
                "a table",
                format!(
                    "unknown top-level key; expected one of {}",
                    TOP_LEVEL_KEYS.join(", ")
                ),
            );
        }
    }
    let raw_rollout: RawRollout = section(&table, "rollout", &mut errors).unwrap_or_default();
    let rollout = rollout_policy(
        &raw_rollout,
        &RolloutPolicy::default(),
        "rollout",
        &mut errors,
    );
    let raw_estimates: RawEstimates = section(&table, "estimates", &mut errors).unwrap_or_default();
    let estimates = estimates(&raw_estimates, &mut errors);
    let protection: RawProtection = section(&table, "protection", &mut errors).unwrap_or_default();
    let protection_required_below_rpo_seconds = duration(
        "protection.required_below_rpo",
        protection.required_below_rpo.as_deref(),
        defaults::PROTECTION_REQUIRED_BELOW_RPO_SECONDS,
        &mut errors,
    );
    let notifications: RawNotifications =
        section(&table, "notifications", &mut errors).unwrap_or_default();
    let notify_before_seconds = duration(
        "notifications.before",
        notifications.before.as_deref(),
        defaults::NOTIFY_BEFORE_SECONDS,
        &mut errors,
    );
    let deadline_near_seconds = positive_duration(
        "notifications.deadline_near",
        notifications.deadline_near.as_deref(),
        &mut errors,
    )
    .unwrap_or(defaults::DEADLINE_NEAR_SECONDS);
    let agent_silent_seconds = positive_duration(
        "notifications.agent_silent",
        notifications.agent_silent.as_deref(),
        &mut errors,
    )
    .unwrap_or(defaults::AGENT_SILENT_SECONDS);
    let raw_checks: BTreeMap<String, RawHealthCheck> =
        named_sections(&table, "health_checks", &mut errors);
    let health_checks = raw_checks
        .iter()
        .filter_map(|(name, raw)| health_check(name, raw, &mut errors).map(|c| (name.clone(), c)))
        .collect::<BTreeMap<_, _>>();
    let raw_groups: BTreeMap<String, RawGroup> = named_sections(&table, "groups", &mut errors);
    if raw_groups.is_empty() && !table.contains_key("groups") {
        errors.push(
            "groups",
            "nothing",
            "the policy needs at least one [groups.<name>] table",
        );
    }
    let mut groups = BTreeMap::new();
    for (name, raw) in &raw_groups {
        let context = GroupContext {
            rollout: &rollout,
            raw_groups: &raw_groups,
            health_checks: &raw_checks,
        };
        groups.insert(name.clone(), group(name, raw, &context, &mut errors));
    }
    if !errors.0.is_empty() {
        return Err(PolicyErrors(errors.0));
    }
    Ok(Policy {
        groups,
        health_checks,
        estimates,
        protection_required_below_rpo_seconds,
        notify_before_seconds,
        deadline_near_seconds,
        agent_silent_seconds,
    })
}

#[derive(Default)]
pub(super) struct Errors(Vec<PolicyError>);

impl Errors {
    pub(super) fn push(&mut self, path: &str, value: impl Into<String>, reason: impl Into<String>) {
        self.0.push(PolicyError {
            path: path.to_owned(),
            value: value.into(),
            reason: reason.into(),
        });
    }
}

/// Deserializes one table, recording a path-qualified error instead of failing. serde stops at
/// the first problem, so the offending key is removed and the table tried again (at most 32
/// times): unknown keys and type errors all get reported, and the rest is still validated.
fn typed<T: DeserializeOwned>(value: &toml::Value, path: &str, errors: &mut Errors) -> Option<T> {
    let mut value = value.clone();
    for _ in 0..32 {
        match serde_path_to_error::deserialize::<_, T>(value.clone()) {
            Ok(parsed) => return Some(parsed),
            Err(error) => {
                let segments: Vec<String> = error
                    .path()
                    .iter()
                    .filter_map(|segment| match segment {
                        serde_path_to_error::Segment::Map { key } => Some(key.clone()),
                        serde_path_to_error::Segment::Seq { index } => Some(index.to_string()),
                        _ => None,
                    })
                    .collect();
                let inner = error.path().to_string();
                let full = if inner == "." || inner.is_empty() {
                    path.to_owned()
                } else {
                    format!("{path}.{inner}")
                };
                let message = error.into_inner().to_string();
                let reason = message.lines().next().unwrap_or_default().trim().to_owned();
                match remove_at(&mut value, &segments) {
                    Some(removed) => errors.push(&full, shown(&removed), reason),
                    None => {
                        errors.push(&full, "(see reason)", reason);
                        return None;
                    }
                }
            }
        }
    }
    None
}

/// Removes the value at `segments` (table keys or array indices) and returns it.
fn remove_at(value: &mut toml::Value, segments: &[String]) -> Option<toml::Value> {
    let (last, parents) = segments.split_last()?;
    let mut current = value;
    for segment in parents {
        current = match current {
            toml::Value::Table(table) => table.get_mut(segment)?,
            toml::Value::Array(items) => items.get_mut(segment.parse::<usize>().ok()?)?,
            _ => return None,
        };
    }
    match current {
        toml::Value::Table(table) => table.remove(last),
        toml::Value::Array(items) => {
            let index = last.parse::<usize>().ok().filter(|i| *i < items.len())?;
            Some(items.remove(index))
        }
        _ => None,
    }
}

fn shown(value: &toml::Value) -> String {
    match value {
        toml::Value::Table(_) => "a table".into(),
        other => other.to_string(),
    }
}

fn section<T: DeserializeOwned>(table: &toml::Table, key: &str, errors: &mut Errors) -> Option<T> {
    table.get(key).and_then(|value| typed(value, key, errors))
}

/// A table of named tables (`[groups.<name>]`), each deserialized on its own so that one bad
/// group does not hide the problems of the others.
fn named_sections<T: DeserializeOwned>(
    table: &toml::Table,
    key: &str,
    errors: &mut Errors,
) -> BTreeMap<String, T> {
    let mut out = BTreeMap::new();
    let Some(value) = table.get(key) else {
        return out;
    };
    let Some(entries) = value.as_table() else {
        errors.push(key, value.type_str(), "expected a table of named tables");
        return out;
    };
    for (name, entry) in entries {
        let path = format!("{key}.{name}");
        if !valid_name(name) {
            errors.push(
                &path,
                format!("{name:?}"),
                "names use letters, digits, '-', '_' and '.' only (at most 64)",
            );
            continue;
        }
        if let Some(parsed) = typed(entry, &path, errors) {
            out.insert(name.clone(), parsed);
        }
    }
    out
}

fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
}

fn duration(path: &str, raw: Option<&str>, default: u64, errors: &mut Errors) -> u64 {
    let Some(text) = raw else {
        return default;
    };
    match parse_duration(text) {
        Ok(seconds) => seconds,
        Err(reason) => {
            errors.push(path, format!("{text:?}"), reason);
            default
        }
    }
}

pub(super) fn positive_duration(path: &str, raw: Option<&str>, errors: &mut Errors) -> Option<u64> {
    let text = raw?;
    match parse_duration(text) {
        Ok(0) => {
            errors.push(path, format!("{text:?}"), "must be longer than 0s");
            None
        }
        Ok(seconds) => Some(seconds),
        Err(reason) => {
            errors.push(path, format!("{text:?}"), reason);
            None
        }
    }
}

/// Reads a percent written as `30`, `30.5` or `"30%"`.
fn percent_value(raw: &RawAmount) -> Option<f64> {
    let value = match raw {
        RawAmount::Integer(n) => *n as f64,
        RawAmount::Float(n) => *n,
        RawAmount::Text(text) => text.trim().strip_suffix('%')?.trim().parse::<f64>().ok()?,
    };
    value.is_finite().then_some(value)
}

fn percent(
    path: &str,
    raw: &RawAmount,
    range: (f64, f64),
    why: &str,
    errors: &mut Errors,
) -> Option<f64> {
    match percent_value(raw) {
        Some(value) if value >= range.0 && value <= range.1 => Some(value),
        Some(_) => {
            errors.push(path, raw.to_string(), why);
            None
        }
        None => {
            errors.push(
                path,
                raw.to_string(),
                "expected a percent such as 30 or \"30%\"",
            );
            None
        }
    }
}

/// Reads a host count (`3`, `"3"`) or percent (`"10%"`); `min_count` is 1 for budgets.
fn amount(path: &str, raw: &RawAmount, min_count: i64, errors: &mut Errors) -> Option<Amount> {
    let count = match raw {
        RawAmount::Integer(n) => Some(*n),
        RawAmount::Text(text) if !text.trim().ends_with('%') => text.trim().parse::<i64>().ok(),
        _ => None,
    };
    if let Some(count) = count {
        if count < min_count || count > i64::from(u32::MAX) {
            errors.push(
                path,
                raw.to_string(),
                format!("a host count must be at least {min_count}"),
            );
            return None;
        }
        return u32::try_from(count).ok().map(Amount::Count);
    }
    if let RawAmount::Text(text) = raw
        && text.trim().ends_with('%')
    {
        let low = if min_count > 0 {
            f64::MIN_POSITIVE
        } else {
            0.0
        };
        let why = if min_count > 0 {
            "a percent must be above 0% and at most 100%"
        } else {
            "a percent must be between 0% and 100%"
        };
        return percent(path, raw, (low, 100.0), why, errors).map(Amount::Percent);
    }
    errors.push(
        path,
        raw.to_string(),
        "expected a whole host count (3 or \"3\") or a percent of the group (\"10%\")",
    );
    None
}

pub(super) fn rollout_policy(
    raw: &RawRollout,
    base: &RolloutPolicy,
    prefix: &str,
    errors: &mut Errors,
) -> RolloutPolicy {
    let mut out = base.clone();
    let path = |key: &str| format!("{prefix}.{key}");
    if let Some(raw) = &raw.canary_percent
        && let Some(value) = percent(
            &path("canary_percent"),
            raw,
            (f64::MIN_POSITIVE, 100.0),
            "the canary must be above 0% and at most 100% of the group (at least one host is always taken)",
            errors,
        )
    {
        out.canary_percent = value;
    }
    if let Some(raw) = &raw.max_in_flight
        && let Some(value) = amount(&path("max_in_flight"), raw, 1, errors)
    {
        out.max_in_flight = value;
    }
    if let Some(labels) = &raw.anti_affinity {
        out.anti_affinity = labels_list(&path("anti_affinity"), labels, errors);
    }
    if let Some(label) = &raw.batch_by {
        if label.trim().is_empty() {
            errors.push(&path("batch_by"), "\"\"", "a label name cannot be empty");
        } else {
            out.batch_by = Some(label.clone());
        }
    }
    if let Some(raw) = &raw.canary_max_failures
        && let Some(value) = amount(&path("canary_max_failures"), raw, 0, errors)
    {
        out.canary_max_failures = value;
    }
    if let Some(raw) = &raw.max_failures
        && let Some(value) = amount(&path("max_failures"), raw, 0, errors)
    {
        out.max_failures = value;
    }
    if let Some(value) = raw.continue_after_failed_batch {
        out.continue_after_failed_batch = value;
    }
    if raw.verification.is_some() {
        out.verification_seconds = duration(
            &path("verification"),
            raw.verification.as_deref(),
            out.verification_seconds,
            errors,
        );
    }
    if let Some(raw) = &raw.rollback_buffer_percent {
        match percent_value(raw) {
            Some(value) if value < defaults::ROLLBACK_BUFFER_PERCENT => errors.push(
                &path("rollback_buffer_percent"),
                raw.to_string(),
                "the rollback buffer must be at least 30% of the window (seed rule: usable = total − (verification + rollback buffer)); it can only be raised",
            ),
            Some(value) if value > 90.0 => errors.push(
                &path("rollback_buffer_percent"),
                raw.to_string(),
                "at most 90%, so that part of every window stays usable for applying",
            ),
            Some(value) => out.rollback_buffer_percent = value,
            None => errors.push(
                &path("rollback_buffer_percent"),
                raw.to_string(),
                "expected a percent such as 30 or \"40%\"",
            ),
        }
    }
    out
}

fn labels_list(path: &str, labels: &[String], errors: &mut Errors) -> Vec<String> {
    let mut seen = BTreeSet::new();
    for (index, label) in labels.iter().enumerate() {
        if label.trim().is_empty() {
            errors.push(
                &format!("{path}[{index}]"),
                "\"\"",
                "a label name cannot be empty",
            );
        } else if !seen.insert(label.clone()) {
            errors.push(
                &format!("{path}[{index}]"),
                format!("{label:?}"),
                "listed twice",
            );
        }
    }
    seen.into_iter().collect()
}

fn estimates(raw: &RawEstimates, errors: &mut Errors) -> Estimates {
    let base = Estimates::default();
    let mut packages = BTreeMap::new();
    for (name, entry) in raw.packages.iter().flatten() {
        let path = format!("estimates.packages.{name}");
        if let Err(error) = PackageName::parse(name) {
            errors.push(&path, format!("{name:?}"), error.to_string());
            continue;
        }
        let seconds = |key: &str, value: &Option<String>, errors: &mut Errors| {
            value
                .as_deref()
                .map(|text| duration(&format!("{path}.{key}"), Some(text), 0, errors))
        };
        packages.insert(
            name.clone(),
            PackageEstimate {
                apply_seconds: seconds("apply", &entry.apply, errors),
                rollback_seconds: seconds("rollback", &entry.rollback, errors),
                reboot: entry.reboot,
                restarts: entry.restarts.clone(),
            },
        );
    }
    Estimates {
        apply_seconds: duration(
            "estimates.apply",
            raw.apply.as_deref(),
            base.apply_seconds,
            errors,
        ),
        rollback_seconds: duration(
            "estimates.rollback",
            raw.rollback.as_deref(),
            base.rollback_seconds,
            errors,
        ),
        reboot_seconds: duration(
            "estimates.reboot",
            raw.reboot.as_deref(),
            base.reboot_seconds,
            errors,
        ),
        host_overhead_seconds: duration(
            "estimates.host_overhead",
            raw.host_overhead.as_deref(),
            base.host_overhead_seconds,
            errors,
        ),
        packages,
    }
}
