//! Gate decisions of `decide`: per-group windows (closed, blackout, too short, carry-over),
//! the health gate, T0 emergency, and rolling mode against strict batches.

use std::sync::Arc;

use super::*;
use crate::gate::{BlackoutNote, HealthGate, NextSlot, WindowGate, WindowHold, WindowWait};
use crate::plan::Mode;

fn t(minutes: i64) -> Timestamp {
    at() + jiff::SignedDuration::from_mins(minutes)
}

fn next() -> Option<NextSlot> {
    Some(NextSlot {
        window: "nightly".into(),
        start: t(24 * 60),
        end: t(25 * 60),
    })
}

/// A slot of `nightly` ending `minutes` after `at()`: 18 min rollback buffer, 5 min verification.
fn open(minutes: i64) -> WindowGate {
    WindowGate::Open {
        window: "nightly".into(),
        end: t(minutes),
        rollback_buffer_seconds: 18 * 60,
        verification_seconds: 300,
        next: next(),
    }
}

fn closed(blackout: bool) -> WindowGate {
    WindowGate::Closed {
        next: next(),
        blackout: blackout.then(|| BlackoutNote {
            name: "freeze".into(),
            until: t(600),
        }),
    }
}

/// w1 in group `web`, w2 in group `db` (by the fleet, though both are in batch group `web`);
/// w1 needs 2 min to apply, w2 20 min.
fn gates(web: Option<WindowGate>, db: Option<WindowGate>) -> Gates {
    Gates {
        windows: [("web", web), ("db", db)]
            .into_iter()
            .filter_map(|(g, w)| Some((g.to_owned(), w?)))
            .collect(),
        host_groups: Arc::new(BTreeMap::from([(id("w2"), "db".to_owned())])),
        apply_seconds: Arc::new(BTreeMap::from([(id("w1"), 120), (id("w2"), 1200)])),
        now: Some(at()),
        ..Gates::default()
    }
}

fn hold(group: &str, hosts: &[&str], wait: WindowWait) -> WaitReason {
    WaitReason::Window(WindowHold {
        group: group.into(),
        hosts: hosts.iter().map(|h| id(h)).collect(),
        wait,
    })
}

/// `decide` with no control and no blocks.
fn gated(p: &RolloutPlan, states: &BTreeMap<HostId, HostState>, gates: &Gates) -> RolloutDecision {
    decide(p, states, &Default::default(), &BlockList::new(), gates).unwrap()
}

fn claimed_hosts(d: &RolloutDecision) -> Vec<&str> {
    d.claim.iter().map(|c| c.host.0.as_str()).collect()
}

#[test]
fn window_gates_per_group() {
    let p = plan(&[(WAVE, &["w1", "w2"])], 2);
    let closed_wait = |blackout: bool| match closed(blackout) {
        WindowGate::Closed { next, blackout } => WindowWait::Closed { next, blackout },
        _ => unreachable!(),
    };
    let too_short = |remaining, needs| WindowWait::TooShort {
        window: "nightly".into(),
        remaining_seconds: remaining,
        needs_seconds: needs,
        next: next(),
    };
    // (web gate, db gate, emergency, claimed, waiting)
    type Row<'a> = (
        Option<WindowGate>,
        Option<WindowGate>,
        bool,
        Vec<&'a str>,
        Vec<WaitReason>,
    );
    let table: Vec<Row> = vec![
        // No windows anywhere: not gated.
        (None, None, false, vec!["w1", "w2"], vec![]),
        (
            Some(WindowGate::NoWindows),
            None,
            false,
            vec!["w1", "w2"],
            vec![],
        ),
        // Each group by its own window.
        (
            Some(open(120)),
            Some(closed(false)),
            false,
            vec!["w1"],
            vec![hold("db", &["w2"], closed_wait(false))],
        ),
        (
            Some(closed(true)),
            None,
            false,
            vec!["w2"],
            vec![hold("web", &["w1"], closed_wait(true))],
        ),
        // 30 min left: w1 needs 2+5+18 = 25 min, fits; w2 needs 43 min and carries over.
        (
            Some(open(30)),
            Some(open(30)),
            false,
            vec!["w1"],
            vec![hold("db", &["w2"], too_short(1800, 2580))],
        ),
        (
            Some(open(24)),
            Some(open(24)),
            false,
            vec![],
            vec![
                hold("web", &["w1"], too_short(1440, 1500)),
                hold("db", &["w2"], too_short(1440, 2580)),
            ],
        ),
        // T0 emergency: the window gate is bypassed.
        (
            Some(closed(true)),
            Some(open(1)),
            true,
            vec!["w1", "w2"],
            vec![],
        ),
    ];
    for (index, (web, db, emergency, claimed, waiting)) in table.into_iter().enumerate() {
        let gates = Gates {
            emergency,
            ..gates(web, db)
        };
        let d = gated(&p, &BTreeMap::new(), &gates);
        assert_eq!(claimed_hosts(&d), claimed, "row {index}: {d:?}");
        assert_eq!(d.waiting, waiting, "row {index}");
        assert_eq!(d.status, RolloutStatus::Running, "row {index}");
    }
}

#[test]
fn without_a_clock_only_ungated_hosts_go() {
    let p = plan(&[(WAVE, &["w1", "w2"])], 2);
    let gates = Gates {
        now: None,
        ..gates(Some(open(120)), Some(WindowGate::NoWindows))
    };
    let d = gated(&p, &BTreeMap::new(), &gates);
    assert_eq!(claimed_hosts(&d), ["w2"]);
    let wait = WindowWait::Closed {
        next: None,
        blackout: None,
    };
    assert_eq!(d.waiting, [hold("web", &["w1"], wait)]);
}

#[test]
fn a_red_health_gate_holds_its_group_even_in_an_emergency() {
    let p = plan(&[(WAVE, &["w1", "w2"])], 2);
    let red = vec!["nginx on w9".to_owned()];
    let red_web = Gates {
        health: BTreeMap::from([(
            "web".to_owned(),
            HealthGate {
                red: red.clone(),
                failing: vec![],
            },
        )]),
        emergency: true,
        ..gates(None, None)
    };
    let d = gated(&p, &BTreeMap::new(), &red_web);
    assert_eq!(claimed_hosts(&d), ["w2"], "db is green");
    assert_eq!(
        d.waiting,
        [WaitReason::HealthGate {
            group: "web".into(),
            red
        }]
    );
    // Green again (no red checks): claimed.
    let green = Gates {
        health: BTreeMap::from([("web".to_owned(), HealthGate::default())]),
        ..gates(None, None)
    };
    let d = gated(&p, &BTreeMap::new(), &green);
    assert_eq!(claimed_hosts(&d), ["w1", "w2"]);
}

fn rolling(mode: Mode) -> RolloutPlan {
    let mut p = plan(
        &[
            (CANARY, &["c1"]),
            (WAVE, &["w1", "w2"]),
            (WAVE, &["w3", "w4"]),
            (WAVE, &["w5"]),
        ],
        2,
    );
    p.mode = mode;
    p.failure.max_failures = 5;
    p
}

#[test]
fn rolling_mode_starts_the_next_host_as_one_finishes() {
    // (mode, states, claimed)
    type Row<'a> = (Mode, Vec<(&'a str, HostState)>, Vec<&'a str>);
    let table: Vec<Row> = vec![
        // Canaries stay a batch of their own in both modes.
        (Mode::Rolling, vec![], vec!["c1"]),
        (Mode::Rolling, vec![("c1", applying())], vec![]),
        // One of batch 2 finished: rolling starts w3 of batch 3, strict waits for w2.
        (
            Mode::Rolling,
            vec![("c1", done()), ("w1", done()), ("w2", applying())],
            vec!["w3"],
        ),
        (
            Mode::Batches,
            vec![("c1", done()), ("w1", done()), ("w2", applying())],
            vec![],
        ),
        // Never more in flight than the budget (2).
        (
            Mode::Rolling,
            vec![("c1", done()), ("w1", applying()), ("w2", applying())],
            vec![],
        ),
        (
            Mode::Rolling,
            vec![("c1", done()), ("w1", done()), ("w2", done())],
            vec!["w3", "w4"],
        ),
        (
            Mode::Rolling,
            vec![
                ("c1", done()),
                ("w1", done()),
                ("w2", done()),
                ("w3", done()),
                ("w4", claimed()),
            ],
            vec!["w5"],
        ),
        // A failed wave stops the stream at its boundary, as a batch would.
        (
            Mode::Rolling,
            vec![("c1", done()), ("w1", failed()), ("w2", applying())],
            vec![],
        ),
    ];
    for (index, (mode, list, claimed)) in table.into_iter().enumerate() {
        let p = rolling(mode);
        let s = states(&list);
        let d = gated(&p, &s, &Gates::default());
        assert_eq!(claimed_hosts(&d), claimed, "row {index}: {d:?}");
        let in_flight = s.values().filter(|s| s.holds_slot()).count() + d.claim.len();
        assert!(in_flight <= 2, "row {index}: {in_flight} in flight");
    }
}

#[test]
fn rolling_mode_claims_carry_their_own_batch_number() {
    let p = rolling(Mode::Rolling);
    let s = states(&[
        ("c1", done()),
        ("w1", done()),
        ("w2", done()),
        ("w3", done()),
    ]);
    let d = gated(&p, &s, &Gates::default());
    let batches: Vec<usize> = d.claim.iter().map(|c| c.batch).collect();
    assert_eq!((claimed_hosts(&d), batches), (vec!["w4", "w5"], vec![3, 4]));
    assert_eq!(d.batch, Some(3));
}

#[test]
fn a_failing_check_of_the_group_halts_its_claims_in_flight() {
    use crate::gate::{FailingCheck, Halt, gate_halts};
    // w1 (claimed), w3 (verified by its guard, in the controller's verification) and w4
    // (done) in group web, w5 (pending) too; w2 (claimed) in db by the fleet.
    let p = plan(&[(WAVE, &["w1", "w2", "w3", "w4", "w5"])], 5);
    let verifying = HostState::Verifying {
        targets: vec![target("nginx=1.2")],
        recorded: vec![],
        attempt: 1,
        since: at(),
        until: at(),
        passed: BTreeMap::new(),
        drilled: false,
        aftercare: None,
    };
    let states = BTreeMap::from([
        (id("w1"), claimed()),
        (id("w2"), claimed()),
        (id("w3"), verifying),
        (id("w4"), done()),
    ]);
    let failing = FailingCheck {
        check: "errors".into(),
        detail: "value 0.5 is not < 0.05".into(),
    };
    let health = |failing: Vec<FailingCheck>| Gates {
        health: BTreeMap::from([(
            "web".to_owned(),
            HealthGate {
                red: vec!["promql check errors failed".into()],
                failing,
            },
        )]),
        ..gates(None, None)
    };
    let red = health(vec![failing.clone()]);
    let halts = gate_halts(&p, &states, &red);
    // Only the hosts in flight of the failing group: db is green, w5 was not started (and is
    // not claimed: the same gate holds it), w4 is settled.
    let halt = |host: &str| Halt {
        host: id(host),
        check: "errors".into(),
        detail: failing.detail.clone(),
    };
    assert_eq!(halts, [halt("w1"), halt("w3")]);
    assert_eq!(
        halts[0].event(),
        Event::GateFailed {
            check: "errors".into(),
            detail: failing.detail.clone()
        }
    );
    let d = gated(&p, &states, &red);
    assert!(claimed_hosts(&d).is_empty(), "{d:?}");
    // Red only from a host's failure signal (no check of the group's own fails): held, not
    // halted.
    assert!(gate_halts(&p, &states, &health(vec![])).is_empty());
    // A claim already halted is not halted again.
    let mut halted_states = states.clone();
    halted_states.remove(&id("w3"));
    let halted = crate::host::step(
        &crate::host::HostChange {
            rollout: RolloutId("r1".into()),
            host: id("w1"),
            state: claimed(),
        },
        &halts[0].event(),
        at(),
        &crate::policy::Policy::default(),
    )
    .unwrap()
    .next;
    halted_states.insert(id("w1"), halted);
    assert!(gate_halts(&p, &halted_states, &red).is_empty());
}
