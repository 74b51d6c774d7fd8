//! The rows a findings write stores: new and refreshed open episodes and closed ones (a child
//! of `findings_write.rs`, on the write's own types).

use super::*;

/// The episodes the computation closes: gone ones (last seen by the previous computation),
/// open ones a backport fixed and backported findings never recorded (one episode each, as
/// the computation shows them, with the reason).
pub(super) fn closings(
    stored: &Stored,
    writes: &Writes<'_>,
    keys: &HashMap<KeyRef<'_>, i64>,
    texts: &WriteTexts<'_>,
    at: &Instants<'_>,
) -> anyhow::Result<Vec<ClosedEpisode>> {
    let mut closed = Vec::new();
    for key in &writes.gone {
        let open = &stored.open[key];
        closed.push((
            open.key_id,
            open.episode,
            nanos_text(open.first_seen)?,
            at.last_seen.to_owned(),
            at.computed_at.to_owned(),
            None,
            open.tier,
            open.deadline.map(nanos_text).transpose()?,
            open.text_id,
        ));
    }
    let backported = (writes.backported.iter())
        .map(|b| (b, stored.open.get(&key_of(&b.finding))))
        .chain(writes.backported_new.iter().map(|b| (b, None)));
    for (resolved, open) in backported {
        let finding = &resolved.finding;
        let key_id = match open {
            Some(open) => open.key_id,
            None => key_id(keys, finding)?,
        };
        if open.is_none() && stored.last_closed.contains_key(&key_id) {
            continue;
        }
        let (episode, first_seen) = match open {
            Some(open) => (open.episode, nanos_text(open.first_seen)?),
            None => (1, at.computed_at.to_owned()),
        };
        closed.push((
            key_id,
            episode,
            first_seen,
            at.computed_at.to_owned(),
            at.computed_at.to_owned(),
            Some(resolved.reason.clone()),
            i64::from(finding.tier),
            finding.deadline.map(|d| d.to_string()),
            texts.id(finding)?,
        ));
    }
    Ok(closed)
}

/// The rows of new episodes (finding, key id, episode), first seen at `first_seen`.
pub(super) fn new_rows(
    episodes: &[(&CurrentFinding, i64, i64)],
    texts: &WriteTexts<'_>,
    first_seen: i64,
    stamps: &mut Stamps,
) -> anyhow::Result<Vec<OpenRow>> {
    episodes
        .iter()
        .map(|(finding, key_id, episode)| {
            open_row(finding, *key_id, *episode, first_seen, texts, stamps)
        })
        .collect()
}

/// The rows of open episodes refreshed with the findings as computed now (their tier, deadline
/// or text changed), written as an upsert: the episodes exist, so only the upsert's update
/// applies (one statement per finding made a feed import's re-rank one round trip per changed
/// finding).
pub(super) fn refreshed_rows(
    stored: &Stored,
    findings: &[&CurrentFinding],
    texts: &WriteTexts<'_>,
    stamps: &mut Stamps,
) -> anyhow::Result<Vec<OpenRow>> {
    findings
        .iter()
        .map(|finding| {
            let open = &stored.open[&key_of(finding)];
            open_row(
                finding,
                open.key_id,
                open.episode,
                open.first_seen,
                texts,
                stamps,
            )
        })
        .collect()
}

fn open_row(
    finding: &CurrentFinding,
    key_id: i64,
    episode: i64,
    first_seen: i64,
    texts: &WriteTexts<'_>,
    stamps: &mut Stamps,
) -> anyhow::Result<OpenRow> {
    let deadline = finding.deadline.map(nanos);
    let stamp = (first_seen, deadline, i64::from(finding.tier), episode);
    Ok((key_id, stamps.stamp(stamp), texts.id(finding)?))
}

/// The stamps the episodes a write closes or changes named before and none of those it writes
/// (`written`) names: those it may have left unused (`open_stamps::freed`).
pub(super) fn freed_stamps(
    stored: &Stored,
    writes: &Writes<'_>,
    stamps: &Stamps,
    written: [&[OpenRow]; 2],
) -> Option<BTreeSet<i64>> {
    let changed = (writes.refresh.iter().map(|finding| key_of(finding)))
        .chain(writes.gone.iter().cloned())
        .chain(writes.backported.iter().map(|b| key_of(&b.finding)));
    let mut before = Vec::new();
    for key in changed {
        let open = stored.open.get(&key)?;
        before.push((open.first_seen, open.deadline, open.tier, open.episode));
    }
    let after = written.into_iter().flatten().map(|row| row.1);
    crate::open_stamps::freed(stamps, before, after)
}
