//! A scan's findings written: one host's, or a group's in one write transaction (issue 15: a
//! feed import's re-rank of every host; `scan_group.rs`). A group whose write fails is written
//! again host by host, so each host's error stays its own.

use anyhow::Context;
use jiff::Timestamp;
use pw_model::Finding;
use pw_store::{
    BackportedFinding, Computation, Covered, CurrentFinding, FindingTexts, FindingsSnapshot,
    PackedList, Recorded, Store,
};

use crate::findings::Scanned;

/// One host's findings to write (`findings::prepare_ranked`).
pub struct Write {
    pub(crate) host_id: String,
    pub(crate) inventory_collected_at: Timestamp,
    pub(crate) basis: Option<Vec<u8>>,
    pub(crate) group: Option<String>,
    pub(crate) computed_at: Timestamp,
    /// The whole ranked list (spliced, in part) and its findings per tier.
    pub(crate) findings_json: String,
    /// `findings_json` packed as stored, with the ranking (outside the writers' thread).
    pub(crate) packed: PackedList,
    pub(crate) tier_counts_json: String,
    pub(crate) count: usize,
    /// The findings written to the history: all of the host's, or those `only` covers.
    pub(crate) current: Vec<CurrentFinding>,
    pub(crate) backported: Vec<BackportedFinding>,
    /// The digests of `current`'s and `backported`'s texts, worked out with the ranking (outside
    /// the writers' line).
    pub(crate) texts: FindingTexts,
    pub(crate) only: Option<Covered>,
    /// Where the advisories came from.
    pub(crate) source: String,
    /// The findings the write's events are made of: those new and urgent when ranked
    /// (`notify::is_new_urgent`), taken out of the ranking when it was prepared. A first
    /// report's ~800 findings are not held through the write (a group of them per scan worker,
    /// written and prepared) nor freed on the writers' thread after it.
    pub(crate) urgent: Vec<Finding>,
}

impl Write {
    fn snapshot(&self) -> FindingsSnapshot<'_> {
        FindingsSnapshot {
            host_id: &self.host_id,
            inventory_collected_at: self.inventory_collected_at,
            computed_at: self.computed_at,
            source: &self.source,
            findings_json: &self.findings_json,
            tier_counts_json: &self.tier_counts_json,
            current: &self.current,
            backported: &self.backported,
        }
    }

    fn computation(&self) -> Computation<'_> {
        Computation {
            basis: self.basis.as_deref(),
            only: self.only.as_ref(),
            texts: Some(&self.texts),
            packed: Some(&self.packed),
        }
    }

    /// What the scan did once its write is `recorded`: the events of its new T0/T1 findings.
    async fn outcome(&self, store: &Store, recorded: Recorded) -> anyhow::Result<Scanned> {
        if recorded == Recorded::Stale {
            return Ok(Scanned::Dropped);
        }
        let host_id = self.host_id.as_str();
        // The host's name only for the events of new T0/T1 findings (a re-rank has few).
        let hostname = match self.urgent.is_empty() {
            false => store.host(host_id).await?.map(|h| h.hostname),
            true => None,
        };
        // Each of them was not open before (`urgent`).
        let events = crate::notify::new_findings(
            host_id,
            hostname.as_deref().unwrap_or(host_id),
            self.group.as_deref(),
            &self.urgent,
            |_, _| false,
            self.computed_at,
        );
        Ok(match self.only {
            None => Scanned::Stored(self.count, events),
            Some(_) => Scanned::Reranked(self.count, events),
        })
    }
}

/// Writes the hosts' findings in one transaction; each host's outcome, in `writes`' order. When
/// the group's write fails, each host is written on its own: one host's error is its own.
pub(crate) async fn record(store: &Store, writes: &[Write]) -> Vec<anyhow::Result<Scanned>> {
    let snapshots: Vec<FindingsSnapshot<'_>> = writes.iter().map(Write::snapshot).collect();
    let computations: Vec<Computation<'_>> = writes.iter().map(Write::computation).collect();
    let pairs: Vec<_> = snapshots.iter().zip(&computations).collect();
    let recorded: Vec<anyhow::Result<Recorded>> = match store.record_computations(&pairs).await {
        Ok(recorded) => recorded.into_iter().map(Ok).collect(),
        Err(error) if writes.len() == 1 => vec![Err(error)],
        Err(error) => {
            tracing::warn!(
                hosts = writes.len(),
                error = format!("{error:#}"),
                "a group's findings write failed: writing its hosts one by one"
            );
            let mut one_by_one = Vec::with_capacity(pairs.len());
            for (snapshot, computation) in &pairs {
                one_by_one.push(store.record_computation(snapshot, computation).await);
            }
            one_by_one
        }
    };
    let mut outcomes = Vec::with_capacity(writes.len());
    for (write, recorded) in writes.iter().zip(recorded) {
        let outcome = match recorded {
            Ok(recorded) => write.outcome(store, recorded).await,
            Err(error) => Err(error),
        };
        let host_id = &write.host_id;
        outcomes.push(outcome.with_context(|| format!("writing the findings of host {host_id}")));
    }
    outcomes
}

#[cfg(test)]
#[path = "ranked_write_tests.rs"]
mod tests;
