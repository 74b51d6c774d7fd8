//! The agent loop's own rules, without a controller: which commands a read-only agent refuses
//! and takes (plan-approved changes when allowed).

use super::*;
use pw_protocol::{PackagePin, PlanRef};

fn apply(plan: Option<PlanRef>) -> Command {
    Command::ApplyChange {
        rollout: "ro-1".into(),
        targets: vec![PackagePin {
            name: "pw-demo".into(),
            version: "1.0-2".into(),
        }],
        checks: vec![],
        verification_seconds: 5,
        protection_steps: vec![],
        plan,
        drill: false,
        hooks: pw_protocol::ChangeHooks::default(),
    }
}

#[test]
fn read_only_agents_take_only_plan_approved_changes_when_allowed() {
    let plan = PlanRef {
        id: 7,
        version: 3,
        author: "alice".into(),
        approver: "bob".into(),
        downgrade: false,
        archive: None,
    };
    let install = Command::InstallPackages { packages: vec![] };
    // Not read-only: everything runs.
    assert_eq!(refusal(&apply(None), false, false), None);
    // Read-only: no change at all.
    for command in [apply(None), apply(Some(plan.clone())), install.clone()] {
        let message = refusal(&command, true, false).unwrap();
        assert!(message.contains("--read-only"), "{message}");
    }
    // Read-only accepting approved plans: only apply_change with a plan.
    assert_eq!(refusal(&apply(Some(plan)), true, true), None);
    let adhoc = refusal(&apply(None), true, true).unwrap();
    assert!(adhoc.contains("carries no plan"), "{adhoc}");
    let raw = refusal(&install, true, true).unwrap();
    assert!(raw.contains("install_packages changes the host"), "{raw}");
    assert_eq!(refusal(&Command::RefreshInventory, true, false), None);
    let evidence = Command::CollectEvidence {
        targets: vec![],
        archive: None,
    };
    assert_eq!(refusal(&evidence, true, false), None);
}
