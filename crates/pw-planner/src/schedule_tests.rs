//! Capacity formula and placement: fit, move, split, never fits.

use super::*;

fn t(text: &str) -> Timestamp {
    text.parse().unwrap()
}

fn slot(start: &str, hours: i64, name: &str) -> WindowSlot {
    let start = t(start);
    WindowSlot {
        start,
        end: start + SignedDuration::from_hours(hours),
        window: name.into(),
    }
}

fn est(apply_minutes: u64, rollback_minutes: u64) -> HostEstimate {
    HostEstimate {
        apply_seconds: apply_minutes * 60,
        rollback_seconds: rollback_minutes * 60,
        downtime_seconds: 0,
        reboot: false,
    }
}

fn rules(not_before: &str) -> Rules {
    Rules {
        verification_seconds: 15 * 60,
        buffer_percent: 30.0,
        not_before: t(not_before),
    }
}

fn wave(hosts: &[usize]) -> PendingBatch {
    PendingBatch {
        kind: BatchKind::Wave,
        hosts: hosts.to_vec(),
    }
}

#[test]
fn the_seed_formula() {
    let c = capacity(&slot("2026-12-01T01:00:00Z", 4, "n"), 15 * 60, 30.0);
    // 240m total, 72m buffer (30%), 15m verification → 153m usable.
    assert_eq!(
        c,
        Capacity {
            total_seconds: 14_400,
            rollback_buffer_seconds: 4_320,
            usable_seconds: 9_180
        }
    );
    let raised = capacity(&slot("2026-12-01T01:00:00Z", 4, "n"), 0, 50.0);
    assert_eq!(raised.usable_seconds, 7_200);
    let tiny = capacity(&slot("2026-12-01T01:00:00Z", 0, "n"), 900, 30.0);
    assert_eq!(tiny.usable_seconds, 0);
}

#[test]
fn batches_run_in_sequence_and_move_to_the_next_slot() {
    let slots = [
        slot("2026-12-02T01:00:00Z", 4, "night"),
        slot("2026-12-01T01:00:00Z", 4, "night"),
    ];
    // Each batch takes 60m apply + 15m verification; usable ends at 01:00 + 240 − 72 − 15 = 03:33.
    let estimates = [est(60, 30), est(60, 30), est(60, 30)];
    let (placed, not_placed) = place(
        vec![
            PendingBatch {
                kind: BatchKind::Canary,
                hosts: vec![0],
            },
            wave(&[1]),
            wave(&[2]),
        ],
        &slots,
        &estimates,
        rules("2026-11-30T00:00:00Z"),
    );
    assert!(not_placed.is_empty());
    let starts: Vec<String> = placed.iter().map(|p| p.start.to_string()).collect();
    assert_eq!(
        starts,
        [
            "2026-12-01T01:00:00Z",
            "2026-12-01T02:15:00Z",
            "2026-12-02T01:00:00Z"
        ]
    );
    assert_eq!(placed[0].end, t("2026-12-01T02:15:00Z"));
    assert_eq!(placed[0].kind, BatchKind::Canary);
    assert!(placed[1].notes.is_empty());
    assert_eq!(
        placed[2].notes,
        [
            "moved to the next slot: slot 2026-12-01T01:00:00Z (night) has 3m of usable time left, the batch needs 1h to apply"
        ]
    );
    assert_eq!(placed[2].usable_seconds, 9_180);
}

#[test]
fn splits_off_the_hosts_that_do_not_fit() {
    let slots = [
        slot("2026-12-01T01:00:00Z", 4, "night"),
        slot("2026-12-02T01:00:00Z", 4, "night"),
    ];
    let estimates = [est(30, 10), est(120, 10), est(20, 10)];
    let (placed, not_placed) = place(
        vec![wave(&[0]), wave(&[1, 2])],
        &slots,
        &estimates,
        rules("2026-12-01T00:00:00Z"),
    );
    assert!(not_placed.is_empty());
    // 01:00 + 30m + 15m = 01:45; 108m left until 03:33: host 2 (20m) fits, host 1 (120m) does not.
    assert_eq!(placed.len(), 3);
    assert_eq!(placed[1].hosts, [2]);
    assert!(
        placed[1].notes[0].starts_with("split: 1 of 2 hosts fit the 1h48m left"),
        "{:?}",
        placed[1].notes
    );
    assert_eq!(placed[2].hosts, [1]);
    assert_eq!(placed[2].slot_start, t("2026-12-02T01:00:00Z"));
    assert_eq!(
        placed[2].notes[0],
        "split from the previous batch (capacity)"
    );
}

#[test]
fn rollback_must_fit_the_buffer() {
    // The 2h slot has a 36m buffer; the 8h slot a 144m buffer.
    let slots = [
        slot("2026-12-01T01:00:00Z", 2, "short"),
        slot("2026-12-05T01:00:00Z", 8, "long"),
    ];
    let (placed, _) = place(
        vec![wave(&[0])],
        &slots,
        &[est(10, 60)],
        rules("2026-12-01T00:00:00Z"),
    );
    assert_eq!(placed[0].window, "long");
    assert!(
        placed[0].notes[0].contains("has a 36m rollback buffer, the batch needs 1h to roll back"),
        "{:?}",
        placed[0].notes
    );
}

#[test]
fn hosts_that_fit_no_slot_are_reported_with_numbers() {
    let slots = [slot("2026-12-01T01:00:00Z", 4, "night")];
    let (placed, not_placed) = place(
        vec![wave(&[0, 1])],
        &slots,
        &[est(10, 10), est(200, 10)],
        rules("2026-12-01T00:00:00Z"),
    );
    assert_eq!(placed.len(), 1);
    assert_eq!(placed[0].hosts, [0]);
    assert_eq!(not_placed[0].hosts, [1]);
    assert_eq!(
        not_placed[0].reason,
        "needs 3h20m to apply and 10m to roll back; the largest slot in the horizon offers 2h33m usable and a 1h12m rollback buffer"
    );
    let (_, none) = place(
        vec![wave(&[0])],
        &[],
        &[est(1, 1)],
        rules("2026-12-01T00:00:00Z"),
    );
    assert_eq!(
        none[0].reason,
        "no open window slot in the planning horizon"
    );
}

#[test]
fn nothing_starts_before_not_before() {
    let slots = [
        slot("2026-12-01T01:00:00Z", 4, "night"),
        slot("2026-12-02T01:00:00Z", 4, "night"),
    ];
    let (placed, _) = place(
        vec![wave(&[0])],
        &slots,
        &[est(10, 10)],
        rules("2026-12-01T02:00:00Z"),
    );
    assert_eq!(placed[0].start, t("2026-12-01T02:00:00Z"));
    let (placed, not_placed) = place(
        vec![wave(&[0])],
        &slots,
        &[est(10, 10)],
        rules("2026-12-03T00:00:00Z"),
    );
    assert!(placed.is_empty());
    assert_eq!(
        not_placed[0].reason,
        "no open window slot left in the planning horizon"
    );
}
