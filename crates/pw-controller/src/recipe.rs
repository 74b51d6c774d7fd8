//! What every host's `apply_change` carries besides its exact targets: the health checks and the
//! verification period of the host's group, and the approved plan the change carries out.
//! Stored in the rollout's `checks` column: a JSON array (ad-hoc rollouts: the same checks for
//! every host) or an object with the plan reference, one recipe per plan group and the plan's
//! hooks.

use std::collections::BTreeMap;

use pw_protocol::{ChangeHooks, HealthCheckSpec, PlanRef, ProtectionStep};
use serde::{Deserialize, Serialize};

/// One group's part of an `apply_change`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GroupRecipe {
    pub checks: Vec<HealthCheckSpec>,
    pub verification_seconds: u64,
    /// The group's protection providers as agent steps (docs/protection.md); absent in recipes
    /// stored before they existed.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub protection: Vec<ProtectionStep>,
}

/// The stored form, read by the scheduler for every command it emits.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Recipe {
    /// A stored change plan's rollout.
    Plan {
        plan: PlanRef,
        groups: BTreeMap<String, GroupRecipe>,
        /// The plan's hooks, the same for every host (absent in rollouts stored before hooks).
        #[serde(default, skip_serializing_if = "ChangeHooks::is_empty")]
        hooks: ChangeHooks,
    },
    /// An ad-hoc rollout: these checks on every host, the policy's verification period.
    AdHoc(Vec<HealthCheckSpec>),
}

impl Recipe {
    pub fn from_json(text: &str) -> anyhow::Result<Recipe> {
        Ok(serde_json::from_str(text)?)
    }

    pub fn to_json(&self) -> anyhow::Result<String> {
        Ok(serde_json::to_string(self)?)
    }

    /// Checks and verification seconds for a host of `group`; `default_seconds` is the rollout
    /// policy's period (ad hoc, or a group the recipe does not know).
    pub fn for_group(&self, group: &str, default_seconds: u64) -> (Vec<HealthCheckSpec>, u64) {
        match self {
            Recipe::AdHoc(checks) => (checks.clone(), default_seconds),
            Recipe::Plan { groups, .. } => groups.get(group).map_or_else(
                || (Vec::new(), default_seconds),
                |g| (g.checks.clone(), g.verification_seconds),
            ),
        }
    }

    /// The hooks every `apply_change` of the rollout runs (none for ad-hoc rollouts).
    pub fn hooks(&self) -> ChangeHooks {
        match self {
            Recipe::Plan { hooks, .. } => hooks.clone(),
            Recipe::AdHoc(_) => ChangeHooks::default(),
        }
    }

    /// The protection steps of a plan group's hosts (none for ad-hoc rollouts, whose steps are
    /// stored with the rollout).
    pub fn protection_for_group(&self, group: &str) -> Vec<ProtectionStep> {
        match self {
            Recipe::AdHoc(_) => Vec::new(),
            Recipe::Plan { groups, .. } => groups
                .get(group)
                .map(|g| g.protection.clone())
                .unwrap_or_default(),
        }
    }

    /// The plan an `apply_change` carries out, if any.
    pub fn plan(&self) -> Option<&PlanRef> {
        match self {
            Recipe::Plan { plan, .. } => Some(plan),
            Recipe::AdHoc(_) => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_old_array_and_the_plan_object_both_read_back() {
        let check = HealthCheckSpec::Tcp {
            name: "ssh".into(),
            addr: "127.0.0.1:22".into(),
        };
        let adhoc =
            Recipe::from_json(&serde_json::to_string(std::slice::from_ref(&check)).unwrap())
                .unwrap();
        assert_eq!(adhoc.for_group("any", 30), (vec![check.clone()], 30));
        assert_eq!(adhoc.plan(), None);
        let plan = Recipe::Plan {
            plan: PlanRef {
                id: 7,
                version: 4,
                author: "alice".into(),
                approver: "bob".into(),
                downgrade: false,
                archive: None,
            },
            groups: BTreeMap::from([(
                "web".to_owned(),
                GroupRecipe {
                    checks: vec![check.clone()],
                    verification_seconds: 900,
                    protection: vec![],
                },
            )]),
            hooks: ChangeHooks {
                stop_units: vec!["app.service".into()],
                ..ChangeHooks::default()
            },
        };
        let back = Recipe::from_json(&plan.to_json().unwrap()).unwrap();
        assert_eq!(back, plan);
        assert_eq!(back.for_group("web", 30), (vec![check], 900));
        assert_eq!(back.for_group("db", 30), (vec![], 30));
        assert_eq!(back.plan().map(|p| p.id), Some(7));
        assert_eq!(back.hooks().stop_units, ["app.service"]);
        assert!(adhoc.hooks().is_empty());
    }
}
