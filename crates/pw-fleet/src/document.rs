//! The fleet document as a whole: parsed once, every part validated, every problem collected.

use std::collections::BTreeMap;

use jiff::Timestamp;
use pw_planner::Policy;
use pw_priority::{EmergencyFlag, PriorityPolicy};

use crate::emergency::parse_emergency;
use crate::members::{parse_membership, resolve};
use crate::notify::parse_notifications;
use crate::{
    FleetError, FleetErrors, HostFacts, Membership, Resolution, ScopedEmergency, group_calendar,
};

/// A validated fleet document.
#[derive(Debug, Clone, PartialEq)]
pub struct FleetDocument {
    /// Groups, rollout, estimates, health checks, protection, notifications (pw-planner).
    pub policy: Policy,
    /// `[priority]` (pw-priority); the default policy when the table is absent.
    pub priority: PriorityPolicy,
    /// `[groups.<name>.members]` of the groups that have one.
    pub members: BTreeMap<String, Membership>,
    /// `[[emergency]]`, in document order.
    pub emergency: Vec<ScopedEmergency>,
    /// `[[channels]]`: where notifications go (without secrets).
    pub channels: Vec<pw_notify::Channel>,
    /// `[[routes]]`: which events go to which channels.
    pub routes: Vec<pw_notify::Route>,
    /// The document as written, for [`crate::diff`].
    pub table: toml::Table,
}

/// Parses and validates a stored document (expired emergency flags are fine: they just no
/// longer count).
pub fn parse_fleet(text: &str) -> Result<FleetDocument, FleetErrors> {
    parse(text, None)
}

impl FleetDocument {
    /// Parses and validates a document about to be applied at `now`: like [`parse_fleet`],
    /// and an emergency flag that has already expired is an error too.
    pub fn for_apply(text: &str, now: Timestamp) -> Result<FleetDocument, FleetErrors> {
        parse(text, Some(now))
    }

    /// The host's group (see the crate doc for the rule).
    pub fn resolve(&self, host: HostFacts<'_>) -> Resolution {
        resolve(&self.members, host)
    }

    /// The owners of `group` (`[groups.<name>].owners`), for email channels sending to
    /// `owners`.
    pub fn owners(&self, group: &str) -> Vec<String> {
        self.policy
            .groups
            .get(group)
            .map(|g| g.owners.clone())
            .unwrap_or_default()
    }

    /// The emergency flags covering the host at `now`, as pw-priority evidence.
    pub fn emergency_flags(&self, host: HostFacts<'_>, now: Timestamp) -> Vec<EmergencyFlag> {
        let resolution = self.resolve(host);
        self.emergency
            .iter()
            .filter(|flag| flag.covers(host.hostname, resolution.group(), now))
            .map(ScopedEmergency::flag)
            .collect()
    }

    /// What ranking a host's findings needs: the priority policy with the emergency flags
    /// covering the host at `now` added, and the host's group (for the policy's group
    /// overrides).
    pub fn priority_for(
        &self,
        host: HostFacts<'_>,
        now: Timestamp,
    ) -> (PriorityPolicy, Option<String>) {
        let mut policy = self.priority.clone();
        for flag in self.emergency_flags(host, now) {
            if !policy
                .emergency
                .iter()
                .any(|f| f.cve.eq_ignore_ascii_case(&flag.cve))
            {
                policy.emergency.push(flag);
            }
        }
        (policy, self.resolve(host).group().map(str::to_owned))
    }
}

/// The document as TOML only, unvalidated (what [`crate::diff`] compares): a stored version that
/// a newer build would refuse can still be compared with its fix.
pub fn document_table(text: &str) -> Result<toml::Table, FleetError> {
    toml::from_str(text).map_err(|error| {
        FleetError::new(
            "(file)",
            format!("not valid TOML: {}", error.to_string().trim()),
        )
    })
}

fn parse(text: &str, now: Option<Timestamp>) -> Result<FleetDocument, FleetErrors> {
    let table = document_table(text).map_err(|error| FleetErrors(vec![error]))?;
    let mut errors = Vec::new();
    let policy = match pw_planner::policy::parse_policy(text) {
        Ok(policy) => Some(policy),
        Err(problems) => {
            errors.extend(
                problems
                    .0
                    .into_iter()
                    .map(|p| FleetError::new(p.path, format!("{} (found {})", p.reason, p.value))),
            );
            None
        }
    };
    let priority = match table.get("priority") {
        None => Some(PriorityPolicy::default()),
        Some(value) => match PriorityPolicy::from_toml_value(value) {
            Ok(priority) => Some(priority),
            Err(problems) => {
                let problems = problems.with_prefix("priority");
                errors.extend(
                    problems
                        .0
                        .into_iter()
                        .map(|p| FleetError::new(p.path, p.message)),
                );
                None
            }
        },
    };
    let groups: BTreeMap<String, toml::Value> = table
        .get("groups")
        .and_then(toml::Value::as_table)
        .map(|t| t.clone().into_iter().collect())
        .unwrap_or_default();
    let mut members = BTreeMap::new();
    for (name, group) in &groups {
        let list = |key: &str| {
            group
                .get(key)
                .and_then(toml::Value::as_array)
                .cloned()
                .unwrap_or_default()
        };
        if let Err(problems) = group_calendar(name, &list("windows"), &list("blackouts")) {
            errors.extend(problems);
        }
        if let Some(value) = group.get("members") {
            members.insert(name.clone(), parse_membership(name, value, &mut errors));
        }
    }
    let emergency = table
        .get("emergency")
        .map(|value| parse_emergency(value, &groups, now, &mut errors))
        .unwrap_or_default();
    let (channels, routes) = parse_notifications(&table, &groups, &mut errors);
    match (policy, priority) {
        (Some(policy), Some(priority)) if errors.is_empty() => Ok(FleetDocument {
            policy,
            priority,
            members,
            emergency,
            channels,
            routes,
            table,
        }),
        _ => Err(FleetErrors(errors)),
    }
}
