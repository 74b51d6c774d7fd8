//! Every transition after a verified change that still needs a restart or a reboot: from the
//! guard's report into `restarting` / `reboot_queued` / `done`, the agent's restart answer, the
//! reboot budget, the boot mark that proves a reboot (or a container restart standing in), the
//! timeouts and the operator's deferral.

use std::collections::BTreeMap;

use super::fixtures::*;
use super::state::*;
use super::step::step;
use crate::aftercare::{Aftercare, Cleared, RestartResult, reboot_grants};
use crate::model::HostId;

fn report_with(aftercare: Option<Aftercare>) -> Event {
    let mut report = done_report();
    report.aftercare = aftercare;
    Event::GuardReported { report }
}

fn claimed() -> HostChange {
    change(every_state().remove(1))
}

fn restarting() -> HostChange {
    change(every_state().remove(9))
}

fn rebooting(boot: Option<&str>) -> HostChange {
    let mut state = every_state().remove(11);
    if let HostState::Rebooting { boot: b, .. } = &mut state {
        *b = boot.map(|id| super::fixtures::boot(id, 1));
    }
    change(state)
}

fn need(units: &[&str], reboot: &[&str]) -> Aftercare {
    Aftercare {
        units: units.iter().map(|u| (*u).to_owned()).collect(),
        reboot: reboot.iter().map(|r| (*r).to_owned()).collect(),
        boot: Some(boot("a", 1)),
    }
}

fn cleared(decision: &Decision) -> Option<Cleared> {
    match &decision.next {
        HostState::Done { cleared, .. } => cleared.clone(),
        other => panic!("not done: {other:?}"),
    }
}

fn fail_kind(decision: &Decision) -> String {
    let HostState::Failed { cause, .. } = &decision.next else {
        panic!("not failed: {:?}", decision.next);
    };
    assert!(cause.pages(), "a human looks");
    serde_json::to_value(cause).unwrap()["kind"]
        .as_str()
        .unwrap()
        .to_owned()
}

#[test]
fn a_verified_change_goes_to_what_it_still_needs() {
    // Nothing reported (older agent) or nothing needed: done at once.
    for aftercare in [None, Some(Aftercare::default())] {
        let decision = step(&claimed(), &report_with(aftercare), now(), &policy()).unwrap();
        assert_eq!(cleared(&decision), None);
        assert!(decision.commands.is_empty());
    }
    // Units to restart: restarting, with the command carrying the units and the attempt.
    let decision = step(
        &claimed(),
        &report_with(Some(need(&["nginx.service"], &["/run/reboot-required"]))),
        now(),
        &policy(),
    )
    .unwrap();
    assert_eq!(decision.next.name(), StateName::Restarting);
    assert_eq!(decision.next.targets(), targets());
    assert_eq!(decision.next.recorded(), Some(recorded().as_slice()));
    assert_eq!(decision.commands.len(), 1);
    assert_eq!(
        decision.commands[0].action,
        Action::RestartServices {
            units: vec!["nginx.service".into()]
        }
    );
    assert_eq!(decision.commands[0].key.attempt, 3);
    // Only a reboot: queued for the budget, nothing sent yet.
    let decision = step(
        &claimed(),
        &report_with(Some(need(&[], &["kernel 6.1.0-57-amd64 is installed"]))),
        now(),
        &policy(),
    )
    .unwrap();
    let HostState::RebootQueued {
        reasons, attempt, ..
    } = &decision.next
    else {
        panic!("not queued: {:?}", decision.next);
    };
    assert_eq!(reasons, &["kernel 6.1.0-57-amd64 is installed"]);
    assert_eq!(*attempt, 3);
    assert!(decision.commands.is_empty());
    assert!(
        decision.next.holds_slot(),
        "not done: keeps its budget slot"
    );
}

fn restart_reported(ok: bool, after: Aftercare) -> Event {
    Event::RestartReported {
        result: RestartResult {
            ok,
            detail: if ok { "restarted" } else { "systemctl failed" }.into(),
            restarted: if ok {
                vec!["nginx.service".into()]
            } else {
                vec![]
            },
            after,
        },
    }
}

#[test]
fn the_restart_answer_decides() {
    // Clean afterwards: done, with the units restarted.
    let decision = step(
        &restarting(),
        &restart_reported(true, clear("a")),
        now(),
        &policy(),
    )
    .unwrap();
    assert_eq!(cleared(&decision).unwrap().restarted, ["nginx.service"]);
    // A reboot still needed afterwards: queued, the restart kept.
    let after = need(&[], &["/run/reboot-required"]);
    let decision = step(
        &restarting(),
        &restart_reported(true, after),
        now(),
        &policy(),
    )
    .unwrap();
    let HostState::RebootQueued { cleared, .. } = &decision.next else {
        panic!("not queued: {:?}", decision.next);
    };
    assert_eq!(cleared.restarted, ["nginx.service"]);
    // systemctl failed, or the unit still runs replaced code: failed with a page.
    let decision = step(
        &restarting(),
        &restart_reported(false, clear("a")),
        now(),
        &policy(),
    )
    .unwrap();
    assert_eq!(fail_kind(&decision), "restart_failed");
    assert_eq!(steps(&decision), [Step::Page]);
    let still = need(&["nginx.service"], &[]);
    let decision = step(
        &restarting(),
        &restart_reported(true, still),
        now(),
        &policy(),
    )
    .unwrap();
    assert_eq!(fail_kind(&decision), "restart_failed");
    let HostState::Failed { cause, .. } = &decision.next else {
        unreachable!()
    };
    assert!(format!("{cause:?}").contains("still running replaced code: nginx.service"));
}

#[test]
fn a_restart_that_times_out_is_retried_then_fails() {
    let first = step(&restarting(), &Event::TimedOut, now(), &policy()).unwrap();
    let HostState::Restarting { progress, .. } = &first.next else {
        panic!("not retried: {:?}", first.next);
    };
    assert_eq!((progress.attempt, progress.tries), (4, 2));
    assert_eq!(first.commands[0].key.attempt, 4);
    assert!(first.commands[0].not_before > now(), "after the backoff");
    // Not due yet: refused.
    let early = step(
        &change(first.next.clone()),
        &Event::TimedOut,
        now(),
        &policy(),
    );
    assert!(matches!(early, Err(Rejected::NotDue { .. })), "{early:?}");
    let later = progress.deadline;
    let second = step(
        &change(first.next.clone()),
        &Event::TimedOut,
        later,
        &policy(),
    )
    .unwrap();
    assert_eq!(fail_kind(&second), "restart_failed");
}

#[test]
fn the_reboot_budget_grants_slots_in_host_order() {
    let queued = every_state().remove(10);
    let rebooting_state = every_state().remove(11);
    let states = |list: &[(&str, &HostState)]| -> BTreeMap<HostId, HostState> {
        list.iter()
            .map(|(id, s)| (HostId((*id).into()), (*s).clone()))
            .collect()
    };
    let ids = |grants: Vec<HostId>| grants.into_iter().map(|h| h.0).collect::<Vec<_>>();
    let three = states(&[("c", &queued), ("a", &queued), ("b", &queued)]);
    assert_eq!(ids(reboot_grants(&three, 1)), ["a"]);
    assert_eq!(ids(reboot_grants(&three, 2)), ["a", "b"]);
    assert_eq!(ids(reboot_grants(&three, 0)), ["a"], "0 counts as 1");
    let busy = states(&[("a", &rebooting_state), ("b", &queued), ("c", &queued)]);
    assert_eq!(ids(reboot_grants(&busy, 1)), Vec::<String>::new());
    assert_eq!(ids(reboot_grants(&busy, 2)), ["b"]);
    // The grant starts the reboot with the queued attempt.
    let decision = step(&change(queued), &Event::RebootGranted, now(), &policy()).unwrap();
    assert_eq!(decision.commands[0].action, Action::Reboot);
    assert_eq!(decision.commands[0].key.attempt, 3);
    let HostState::Rebooting { boot, .. } = &decision.next else {
        panic!("not rebooting: {:?}", decision.next);
    };
    assert_eq!(boot, &None, "the mark comes with the agent's answer");
}

#[test]
fn the_reboot_is_proven_by_a_new_boot_mark() {
    // The agent's answer brings the mark before the reboot.
    let answered = Event::RebootRequested {
        ok: true,
        detail: "reboot requested".into(),
        boot: Some(boot("a", 7)),
    };
    let decision = step(&rebooting(None), &answered, now(), &policy()).unwrap();
    let HostState::Rebooting { boot: mark, .. } = &decision.next else {
        panic!("{:?}", decision.next);
    };
    assert_eq!(mark, &Some(boot("a", 7)));
    assert!(decision.commands.is_empty());
    // A second answer is refused.
    assert!(step(&change(decision.next.clone()), &answered, now(), &policy()).is_err());
    // The agent could not reboot: failed.
    let refused = Event::RebootRequested {
        ok: false,
        detail: "cannot read the boot id".into(),
        boot: None,
    };
    let decision = step(&rebooting(None), &refused, now(), &policy()).unwrap();
    assert_eq!(fail_kind(&decision), "reboot_failed");
    // Seen in the same boot: nothing happens.
    let same = Event::HostSeen { after: clear("a") };
    assert_eq!(
        step(&rebooting(Some("a")), &same, now(), &policy()),
        Err(Rejected::SameBoot)
    );
    // Seen before the agent answered: refused (no mark to compare).
    assert!(
        step(
            &rebooting(None),
            &Event::HostSeen { after: clear("b") },
            now(),
            &policy()
        )
        .is_err()
    );
    // A new boot id: rebooted.
    let decision = step(
        &rebooting(Some("a")),
        &Event::HostSeen { after: clear("b") },
        now(),
        &policy(),
    )
    .unwrap();
    let rebooted = cleared(&decision).unwrap().rebooted.unwrap();
    assert_eq!(
        (rebooted.from.boot_id.as_str(), rebooted.to.boot_id.as_str()),
        ("a", "b")
    );
    assert!(!rebooted.container_restart);
    assert_eq!(rebooted.reasons, ["/run/reboot-required"]);
    // The same boot id with PID 1 started again: a container restart stood in.
    let mut restarted = clear("a");
    restarted.boot = Some(boot("a", 99));
    let decision = step(
        &rebooting(Some("a")),
        &Event::HostSeen { after: restarted },
        now(),
        &policy(),
    )
    .unwrap();
    assert!(
        cleared(&decision)
            .unwrap()
            .rebooted
            .unwrap()
            .container_restart
    );
    // Back, but still needing a reboot: failed.
    let mut still = need(&[], &["kernel 6.1.0-57-amd64 is installed"]);
    still.boot = Some(boot("b", 1));
    let decision = step(
        &rebooting(Some("a")),
        &Event::HostSeen { after: still },
        now(),
        &policy(),
    )
    .unwrap();
    assert_eq!(fail_kind(&decision), "reboot_failed");
}

#[test]
fn a_reboot_that_does_not_come_back_fails_without_a_second_reboot() {
    for mark in [None, Some("a")] {
        let decision = step(&rebooting(mark), &Event::TimedOut, now(), &policy()).unwrap();
        assert_eq!(fail_kind(&decision), "reboot_failed");
        assert_eq!(steps(&decision), [Step::Page]);
    }
}

#[test]
fn an_operator_defers_what_is_left() {
    let deferred = Event::Deferred {
        by: "operator:alice".into(),
        reason: "Sunday's window".into(),
    };
    let cases = [
        (restarting(), "restart nginx.service"),
        (
            change(every_state().remove(10)),
            "reboot: /run/reboot-required",
        ),
        (rebooting(Some("a")), "reboot: /run/reboot-required"),
    ];
    for (host, left) in cases {
        let decision = step(&host, &deferred, now(), &policy()).unwrap();
        let deferral = cleared(&decision).unwrap().deferred.unwrap();
        assert_eq!(
            (
                deferral.by.as_str(),
                deferral.reason.as_str(),
                deferral.left.clone()
            ),
            ("operator:alice", "Sunday's window", vec![left.to_owned()])
        );
        assert!(decision.next.is_terminal() && !decision.next.is_failure());
    }
    // Nothing to defer elsewhere.
    for state in every_state().into_iter().take(9) {
        assert!(step(&change(state), &deferred, now(), &policy()).is_err());
    }
}

#[test]
fn stored_rows_read_back() {
    // A `done` row written before this change (no `cleared`) still reads.
    let old =
        r#"{"state":"done","targets":[],"recorded":[],"at":"2025-03-01T02:00:00Z","passed":{}}"#;
    let state: HostState = serde_json::from_str(old).unwrap();
    assert!(matches!(state, HostState::Done { cleared: None, .. }));
    for state in every_state() {
        let json = serde_json::to_string(&state).unwrap();
        assert_eq!(
            serde_json::from_str::<HostState>(&json).unwrap(),
            state,
            "{json}"
        );
    }
}
