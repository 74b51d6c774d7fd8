//! A host's finished change as the staging evidence the store keeps
//! (`pw_planner::staging::HostChangeResult`): written with the host's terminal transition.

use jiff::Timestamp;
use pw_planner::staging::HostChangeResult;
use pw_rollout::{HostChange, HostState};

/// The result of a host change that ended (`done`, `rolled_back`, `failed`); `None` while it
/// has not.
pub fn change_result(change: &HostChange) -> Option<HostChangeResult> {
    let (passed, drill, at): (bool, bool, Timestamp) = match &change.state {
        HostState::Done { at, drilled, .. } => (true, *drilled, *at),
        HostState::RolledBack { at, .. } | HostState::Failed { at, .. } => (false, false, *at),
        _ => return None,
    };
    Some(HostChangeResult {
        rollout_id: change.rollout.0.clone(),
        host_id: change.host.0.clone(),
        packages: change
            .state
            .targets()
            .iter()
            .map(|t| (t.package.to_string(), t.version.to_string()))
            .collect(),
        passed,
        drill,
        finished_at: at,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use pw_rollout::{FailCause, HostId, RolloutId, Target};

    #[test]
    fn only_finished_changes_have_a_result() {
        let at: Timestamp = "2026-12-03T10:00:00Z".parse().unwrap();
        let targets = vec![Target {
            package: pw_model::PackageName::parse("pw-demo").unwrap(),
            version: pw_rollout::ExactVersion::parse("1.0-2").unwrap(),
        }];
        let change = |state| HostChange {
            rollout: RolloutId("r1".into()),
            host: HostId("h1".into()),
            state,
        };
        let done = change(HostState::Done {
            targets: targets.clone(),
            recorded: vec![],
            at,
            passed: Default::default(),
            drilled: true,
            cleared: None,
        });
        let result = change_result(&done).unwrap();
        assert!(result.passed && result.drill);
        assert_eq!(result.packages["pw-demo"], "1.0-2");
        assert_eq!(result.finished_at, at);
        let failed = change(HostState::Failed {
            targets,
            cause: FailCause::Unreachable,
            at,
        });
        let result = change_result(&failed).unwrap();
        assert!(!result.passed && !result.drill);
        assert_eq!(change_result(&change(HostState::default())), None);
    }
}
