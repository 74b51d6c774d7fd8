//! What a findings write changes in what the console's summaries count (a child of
//! `findings_write.rs`, on the write's own types).

use foldhash::{HashSet, HashSetExt};

use super::*;
use crate::covered_updates::{Counted, CoveredUpdates};

/// The host's summaries to refresh after a computation's writes (`None`: what they count did
/// not change): its key, its counts' changes per tier and deadline and its covered findings'
/// updates before and after (`None` when they cannot tell: the host is grouped again).
pub(super) fn summary_of(
    (stored, writes, opened, texts): (
        &Stored,
        &Writes<'_>,
        &[(&CurrentFinding, i64, i64)],
        &WriteTexts<'_>,
    ),
    snapshot: &FindingsSnapshot<'_>,
) -> anyhow::Result<Option<HostSummary>> {
    if !counted_changed(stored, writes, opened, texts)? {
        return Ok(None);
    }
    let deltas = tier_deltas(stored, writes, opened);
    // A whole computation covers every finding the host has open before it (all of them read)
    // and after it (its own): its summaries follow from them, as a computation in part's do,
    // instead of grouping the host's open findings again (issue 15: ~1 ms of a scan's turn in
    // the writers' line).
    let covered = covered_updates(stored, writes, snapshot, texts)?;
    Ok(Some((stored.host_key, deltas, covered)))
}

/// Whether a computation's writes change what the console's summaries count of the host's open
/// findings (`update_summary.rs`, `open_tiers.rs`): an episode opened or closed, or one
/// refreshed with another tier, deadline, update, KEV or EPSS. A feed import that changes only
/// its findings' texts (a record re-published with a new description or date) leaves the
/// summaries as they are, and the write does not count the host's open findings again.
fn counted_changed(
    stored: &Stored,
    writes: &Writes<'_>,
    opened: &[(&CurrentFinding, i64, i64)],
    texts: &WriteTexts<'_>,
) -> anyhow::Result<bool> {
    if !(opened.is_empty() && writes.gone.is_empty() && writes.backported.is_empty()) {
        return Ok(true);
    }
    for finding in &writes.refresh {
        let open = &stored.open[&key_of(finding)];
        let same = open.tier == i64::from(finding.tier)
            && open.deadline == finding.deadline.map(nanos)
            && Some(open.summarised) == texts.stored(finding)?.summarised;
        if !same {
            return Ok(true);
        }
    }
    Ok(false)
}

/// What a computation's writes change in the host's open findings per tier and deadline: its
/// new episodes counted in, its closed ones out, and its refreshed ones moved.
fn tier_deltas(
    stored: &Stored,
    writes: &Writes<'_>,
    opened: &[(&CurrentFinding, i64, i64)],
) -> TierDeltas {
    let mut deltas = TierDeltas::default();
    let opened = opened.iter().map(|(finding, _, _)| *finding);
    for finding in opened.chain(writes.refresh.iter().copied()) {
        deltas.add(i64::from(finding.tier), finding.deadline.map(nanos), 1);
    }
    let closed = (writes.gone.iter().cloned())
        .chain(writes.backported.iter().map(|b| key_of(&b.finding)))
        .chain(writes.refresh.iter().map(|finding| key_of(finding)));
    for key in closed {
        let open = &stored.open[&key];
        deltas.add(open.tier, open.deadline, -1);
    }
    deltas
}

/// A computation's covered open findings (a whole host's: all of them) as the summaries count
/// them, before and after the write (`covered_updates.rs`): the host's summaries then follow
/// from them and its stored rows instead of grouping all its open findings again. `None` when
/// a covered finding's text names no update as read (the host is grouped again).
fn covered_updates(
    stored: &Stored,
    writes: &Writes<'_>,
    snapshot: &FindingsSnapshot<'_>,
    texts: &WriteTexts<'_>,
) -> anyhow::Result<Option<CoveredUpdates>> {
    let mut covered = CoveredUpdates::default();
    for open in stored.open.values() {
        let (Some(update), kev, epss) = open.summarised else {
            return Ok(None);
        };
        let (tier, deadline) = (open.tier, open.deadline);
        covered.was(Counted {
            update,
            tier,
            deadline,
            kev,
            epss,
        });
    }
    // Keys borrowed: a first scan's ~800 findings are all written, and none is looked up in
    // the stored open findings.
    let written: HashSet<(&str, &str)> = (writes.new.iter().chain(&writes.refresh))
        .map(|finding| borrowed_key(finding))
        .collect();
    let mut seen: HashSet<(&str, &str)> = HashSet::with_capacity(snapshot.current.len());
    for finding in snapshot.current {
        if !seen.insert(borrowed_key(finding)) {
            continue;
        }
        let kept = match written.contains(&borrowed_key(finding)) {
            true => None,
            false => open_of(stored, finding),
        };
        let summarised = match kept {
            Some(open) => Some(open.summarised),
            None => texts.stored(finding)?.summarised,
        };
        let Some((Some(update), kev, epss)) = summarised else {
            return Ok(None);
        };
        let (tier, deadline) = (i64::from(finding.tier), finding.deadline.map(nanos));
        covered.is(Counted {
            update,
            tier,
            deadline,
            kev,
            epss,
        });
    }
    Ok(Some(covered))
}
