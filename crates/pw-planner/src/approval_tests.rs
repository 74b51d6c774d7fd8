//! Table test of every (state, event) pair, then the individual rules.

use jiff::{SignedDuration, Timestamp};

use super::*;

fn now() -> Timestamp {
    "2026-11-23T12:00:00Z".parse().unwrap()
}

fn at(hours: i64) -> Timestamp {
    now() + SignedDuration::from_hours(hours)
}

fn states() -> Vec<ApprovalState> {
    vec![
        ApprovalState::draft("alice"),
        ApprovalState::InReview {
            author: "alice".into(),
            submitted_at: at(-1),
            review_deadline: at(24),
        },
        ApprovalState::Approved {
            author: "alice".into(),
            approver: "bob".into(),
            approved_at: at(-1),
            valid_until: at(24),
            risk_acceptance: None,
        },
        ApprovalState::Scheduled {
            author: "alice".into(),
            approver: "bob".into(),
            start: at(2),
        },
        ApprovalState::Rejected {
            author: "alice".into(),
            by: "bob".into(),
            reason: "no".into(),
            at: at(-1),
        },
        ApprovalState::Expired {
            author: "alice".into(),
            at: at(-1),
        },
    ]
}

fn production_gates() -> ApprovalGates {
    ApprovalGates {
        production: true,
        staging_problems: vec![],
        reintroduced: vec![],
    }
}

fn events() -> Vec<ApprovalEvent> {
    vec![
        ApprovalEvent::Submitted {
            by: "alice".into(),
            review_deadline: at(48),
        },
        ApprovalEvent::Approved {
            by: "bob".into(),
            gates: production_gates(),
            valid_until: at(168),
            risk_acceptance: None,
        },
        ApprovalEvent::Declined {
            by: "bob".into(),
            reason: "window too short".into(),
        },
        ApprovalEvent::Scheduled { start: at(1) },
        ApprovalEvent::Expired,
        ApprovalEvent::Reopened { by: "alice".into() },
    ]
}

#[test]
fn every_state_event_pair() {
    // Rows: states in the order of states(); columns: events in the order of events().
    // The cell is the next state's name, or "-" when the event is refused.
    let table: [[&str; 6]; 6] = [
        // submitted    approved    declined    scheduled    expired  reopened
        ["in_review", "-", "-", "-", "-", "-"],       // draft
        ["-", "approved", "rejected", "-", "-", "-"], // in_review (deadline not passed)
        ["-", "-", "-", "scheduled", "-", "-"],       // approved (validity not passed)
        ["-", "-", "-", "-", "-", "-"],               // scheduled
        ["-", "-", "-", "-", "-", "draft"],           // rejected
        ["-", "-", "-", "-", "-", "draft"],           // expired
    ];
    let mut checked = 0;
    for (row, state) in states().iter().enumerate() {
        for (column, event) in events().iter().enumerate() {
            let got = match transition(state, event, now()) {
                Ok(next) => next.name(),
                Err(rejected) => {
                    assert_eq!(
                        (rejected.state, rejected.event),
                        (state.name(), event.name())
                    );
                    "-"
                }
            };
            assert_eq!(
                got,
                table[row][column],
                "{} + {}",
                state.name(),
                event.name()
            );
            assert_eq!(
                transition(state, event, now())
                    .map(|s| s.author().to_owned())
                    .ok(),
                (got != "-").then(|| "alice".to_owned()),
                "the author is kept"
            );
            checked += 1;
        }
    }
    assert_eq!(checked, 36);
}

#[test]
fn deadlines_make_reviews_and_approvals_expire() {
    let [_, review, approved, ..] = <[ApprovalState; 6]>::try_from(states()).unwrap();
    let later = at(25);
    assert_eq!(
        transition(&review, &ApprovalEvent::Expired, later)
            .unwrap()
            .name(),
        "expired"
    );
    let stale = transition(&review, &events()[1], later).unwrap_err();
    assert!(stale.reason.contains("stale"), "{stale}");
    assert!(transition(&review, &events()[2], later).is_err());
    assert_eq!(
        transition(&approved, &ApprovalEvent::Expired, later)
            .unwrap()
            .name(),
        "expired"
    );
    let lapsed = transition(
        &approved,
        &ApprovalEvent::Scheduled { start: at(30) },
        later,
    );
    assert!(lapsed.unwrap_err().reason.contains("lapsed"));
}

#[test]
fn production_needs_four_eyes() {
    let review = &states()[1];
    let self_approval = ApprovalEvent::Approved {
        by: "alice".into(),
        gates: production_gates(),
        valid_until: at(48),
        risk_acceptance: None,
    };
    let error = transition(review, &self_approval, now()).unwrap_err();
    assert!(error.reason.contains("four eyes"), "{error}");
    let staging_only = ApprovalEvent::Approved {
        by: "alice".into(),
        gates: ApprovalGates {
            production: false,
            staging_problems: vec![],
            reintroduced: vec![],
        },
        valid_until: at(48),
        risk_acceptance: None,
    };
    assert!(transition(review, &staging_only, now()).is_ok());
}

#[test]
fn staging_gate_blocks_production_approval() {
    let review = &states()[1];
    let event = ApprovalEvent::Approved {
        by: "bob".into(),
        gates: ApprovalGates {
            production: true,
            staging_problems: vec!["web-staging: openssl 3.0.22-1~deb12u2 never passed".into()],
            reintroduced: vec![],
        },
        valid_until: at(48),
        risk_acceptance: None,
    };
    let error = transition(review, &event, now()).unwrap_err();
    assert!(error.to_string().contains("staging-first gate"), "{error}");
    assert!(error.to_string().contains("openssl"), "{error}");
}

#[test]
fn only_the_author_submits_and_reopens_and_rejections_need_reasons() {
    let [draft, review, _, _, rejected, _] = <[ApprovalState; 6]>::try_from(states()).unwrap();
    let by_other = ApprovalEvent::Submitted {
        by: "mallory".into(),
        review_deadline: at(5),
    };
    assert!(transition(&draft, &by_other, now()).is_err());
    let past = ApprovalEvent::Submitted {
        by: "alice".into(),
        review_deadline: at(-5),
    };
    assert!(transition(&draft, &past, now()).is_err());
    assert!(
        transition(
            &rejected,
            &ApprovalEvent::Reopened { by: "bob".into() },
            now()
        )
        .is_err()
    );
    let empty = ApprovalEvent::Declined {
        by: "bob".into(),
        reason: " ".into(),
    };
    assert!(transition(&review, &empty, now()).is_err());
    let approved = &states()[2];
    let past_start = ApprovalEvent::Scheduled { start: at(-1) };
    assert!(transition(approved, &past_start, now()).is_err());
}

#[test]
fn a_downgrade_bringing_back_t0_t1_needs_an_explicit_risk_acceptance() {
    let review = &states()[1];
    let approve =
        |acceptance: Option<RiskAcceptance>, reintroduced: Vec<String>| ApprovalEvent::Approved {
            by: "bob".into(),
            gates: ApprovalGates {
                production: true,
                staging_problems: vec![],
                reintroduced,
            },
            valid_until: at(48),
            risk_acceptance: acceptance,
        };
    let back = vec!["web-1: pw-demo 1.0-1 PWTEST-1 (T1)".to_owned()];
    let error = transition(review, &approve(None, back.clone()), now()).unwrap_err();
    assert!(
        error.reason.contains("explicit risk acceptance") && error.reason.contains("PWTEST-1"),
        "{error}"
    );
    let acceptance = |reason: &str, hours: i64| {
        Some(RiskAcceptance {
            reason: reason.into(),
            expires_at: at(hours),
        })
    };
    let error = transition(review, &approve(acceptance("  ", 24), back.clone()), now());
    assert!(error.unwrap_err().reason.contains("risk_acceptance.reason"));
    let error = transition(
        review,
        &approve(acceptance("1.0-2 breaks x", -1), back.clone()),
        now(),
    );
    assert!(
        error
            .unwrap_err()
            .reason
            .contains("risk_acceptance.expires")
    );
    let error = transition(
        review,
        &approve(acceptance("ok", 24 * 400), back.clone()),
        now(),
    );
    assert!(error.unwrap_err().reason.contains("365 days"));
    let error = transition(review, &approve(acceptance("why", 24), vec![]), now()).unwrap_err();
    assert!(error.reason.contains("nothing to accept"), "{error}");
    let approved = transition(
        review,
        &approve(acceptance(" 1.0-2 breaks the API ", 24 * 7), back),
        now(),
    )
    .unwrap();
    let ApprovalState::Approved {
        risk_acceptance: Some(kept),
        ..
    } = approved
    else {
        panic!("{approved:?}");
    };
    assert_eq!(kept.reason, "1.0-2 breaks the API");
    assert_eq!(kept.expires_at, at(24 * 7));
}
