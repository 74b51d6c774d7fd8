//! Validation of `[health_checks.<name>]` and `[groups.<name>]` tables (stage 3 of the policy).

use std::collections::{BTreeMap, BTreeSet};

use super::checks::{check_options, group_extras};
use super::raw::{RawGroup, RawHealthCheck};
use super::validate::{Errors, positive_duration, rollout_policy};
use super::{GroupPolicy, HealthCheck, HealthCheckKind, Protection, RolloutPolicy, defaults};

pub(super) fn health_check(
    name: &str,
    raw: &RawHealthCheck,
    errors: &mut Errors,
) -> Option<HealthCheck> {
    let path = format!("health_checks.{name}");
    let kind = match raw.kind.as_deref() {
        None => {
            errors.push(
                &format!("{path}.kind"),
                "nothing",
                format!("required; one of {}", HealthCheckKind::NAMES.join(", ")),
            );
            None
        }
        Some(text) => {
            let kind = HealthCheckKind::parse(text);
            if kind.is_none() {
                errors.push(
                    &format!("{path}.kind"),
                    format!("{text:?}"),
                    format!("unknown kind; one of {}", HealthCheckKind::NAMES.join(", ")),
                );
            }
            kind
        }
    };
    let target = match raw.target.as_deref().map(str::trim) {
        Some(target) if !target.is_empty() => Some(target.to_owned()),
        other => {
            errors.push(
                &format!("{path}.target"),
                other.map_or("nothing".into(), |t| format!("{t:?}")),
                "required: the unit, host:port, URL, command, log path or PromQL expression",
            );
            None
        }
    };
    let timeout_seconds =
        positive_duration(&format!("{path}.timeout"), raw.timeout.as_deref(), errors)
            .unwrap_or(defaults::HEALTH_CHECK_TIMEOUT_SECONDS);
    let options = check_options(&path, kind, raw, errors);
    Some(HealthCheck {
        kind: kind?,
        target: target?,
        timeout_seconds,
        options,
    })
}

pub(super) struct GroupContext<'a> {
    pub(super) rollout: &'a RolloutPolicy,
    pub(super) raw_groups: &'a BTreeMap<String, RawGroup>,
    pub(super) health_checks: &'a BTreeMap<String, RawHealthCheck>,
}

pub(super) fn group(
    name: &str,
    raw: &RawGroup,
    context: &GroupContext<'_>,
    errors: &mut Errors,
) -> GroupPolicy {
    let path = |key: &str| format!("groups.{name}.{key}");
    let environment = match raw.environment.as_deref().map(str::trim) {
        Some(environment) if !environment.is_empty() => environment.to_owned(),
        other => {
            errors.push(
                &path("environment"),
                other.map_or("nothing".into(), |t| format!("{t:?}")),
                "every group needs an environment such as \"staging\" or \"production\"",
            );
            String::new()
        }
    };
    if let Some(counterpart) = &raw.staging_counterpart {
        let problem = if counterpart == name {
            Some("a group cannot be its own staging counterpart".to_string())
        } else {
            match context.raw_groups.get(counterpart) {
                None => Some(format!(
                    "no group of that name; defined groups: {}",
                    context
                        .raw_groups
                        .keys()
                        .cloned()
                        .collect::<Vec<_>>()
                        .join(", ")
                )),
                Some(other) if other.environment.as_deref() == Some("production") => {
                    Some("the staging counterpart is itself a production group".to_string())
                }
                Some(_) => None,
            }
        };
        if let Some(reason) = problem {
            errors.push(
                &path("staging_counterpart"),
                format!("{counterpart:?}"),
                reason,
            );
        }
    }
    let owners = raw.owners.clone().unwrap_or_default();
    if owners.is_empty() {
        errors.push(
            &path("owners"),
            if raw.owners.is_some() {
                "[]"
            } else {
                "nothing"
            },
            "at least one owner is needed to notify before, during and after changes",
        );
    }
    for (index, owner) in owners.iter().enumerate() {
        if owner.trim().is_empty() {
            errors.push(
                &format!("{}[{index}]", path("owners")),
                "\"\"",
                "an owner cannot be empty",
            );
        }
    }
    let rto_seconds = positive_duration(&path("rto"), raw.rto.as_deref(), errors);
    let rpo_seconds = positive_duration(&path("rpo"), raw.rpo.as_deref(), errors);
    let windows = raw.windows.clone().unwrap_or_default();
    if windows.is_empty() {
        errors.push(
            &path("windows"),
            if raw.windows.is_some() {
                "[]"
            } else {
                "nothing"
            },
            "at least one maintenance window is needed to schedule anything",
        );
    }
    for (key, specs) in [
        ("windows", &windows),
        ("blackouts", &raw.blackouts.clone().unwrap_or_default()),
    ] {
        for (index, spec) in specs.iter().enumerate() {
            if !spec.is_table() {
                errors.push(
                    &format!("{}[{index}]", path(key)),
                    spec.type_str(),
                    "expected an inline table (see pw-calendar's window/blackout specs)",
                );
            }
        }
    }
    let protection = protection_list(
        &path("protection"),
        raw.protection.as_deref().unwrap_or_default(),
        errors,
    );
    let providers = super::providers::providers(
        &path("providers"),
        raw.providers.as_ref(),
        &protection,
        errors,
    );
    let mut health_checks = Vec::new();
    for (index, check) in raw.health_checks.iter().flatten().enumerate() {
        if context.health_checks.contains_key(check) {
            health_checks.push(check.clone());
        } else {
            errors.push(
                &format!("{}[{index}]", path("health_checks")),
                format!("{check:?}"),
                "no [health_checks.<name>] table of that name",
            );
        }
    }
    if let Some(hook) = &raw.benchmark_hook
        && hook.trim().is_empty()
    {
        errors.push(
            &path("benchmark_hook"),
            "\"\"",
            "leave it out instead of an empty hook",
        );
    }
    let rollout = match &raw.rollout {
        Some(own) => rollout_policy(own, context.rollout, &path("rollout"), errors),
        None => context.rollout.clone(),
    };
    let (observation, core_services, core_up_within_seconds) =
        group_extras(name, raw, environment == "production", errors);
    GroupPolicy {
        core_services,
        core_up_within_seconds,
        observation,
        name: name.to_owned(),
        environment,
        staging_counterpart: raw.staging_counterpart.clone(),
        owners,
        rto_seconds,
        rpo_seconds,
        windows,
        blackouts: raw.blackouts.clone().unwrap_or_default(),
        protection,
        providers,
        health_checks,
        benchmark_hook: raw.benchmark_hook.clone().filter(|h| !h.trim().is_empty()),
        rollout,
    }
}

fn protection_list(path: &str, raw: &[String], errors: &mut Errors) -> Vec<Protection> {
    let mut out = BTreeSet::new();
    for (index, text) in raw.iter().enumerate() {
        let step = match text.as_str() {
            "snapshot" => Protection::Snapshot,
            "backup" => Protection::Backup,
            "pause-writes" => Protection::PauseWrites,
            _ => {
                errors.push(
                    &format!("{path}[{index}]"),
                    format!("{text:?}"),
                    "unknown protection; one of snapshot, backup, pause-writes",
                );
                continue;
            }
        };
        if !out.insert(step) {
            errors.push(
                &format!("{path}[{index}]"),
                format!("{text:?}"),
                "listed twice",
            );
        }
    }
    out.into_iter().collect()
}
