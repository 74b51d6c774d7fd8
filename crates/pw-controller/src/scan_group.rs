//! Hosts scanned in groups (issue 15: feed import → every host re-ranked in ≤ 30 s at 10,000
//! hosts). A host's re-rank in part is a few dozen statements and little CPU; one host at a
//! time, each statement waited for its round trip to the database and each host's write for its
//! own turn in the writers' line (`pw-store`'s `write_gate.rs`) and its own commit. A scan
//! worker takes up to [`GROUP`] hosts waiting for a feed import's re-rank at once, or up to
//! [`REPORTS`] waiting for their new inventories' scans (`scan_queue.rs`), reads what their
//! scans need in a few statements for the group (the last feed import, the fleet document, the
//! inventories, pending upgrades and stored rankings: pw-store's `scan_reads.rs`), decodes and
//! ranks [`PREPARING`] of them at a time on the runtime's threads, then writes the changed ones
//! in one transaction (`ranked_write.rs`) while it reads and ranks its next group. A host's outcome is its own: a failed decoding or ranking
//! fails that host only (a failed read of the group fails its hosts), and a group whose write
//! fails is written again host by host.

use std::collections::HashMap;
use std::sync::Arc;

use jiff::Timestamp;
use pw_store::{ScanReads, Store};
use tokio::task::JoinSet;

use crate::findings::{GroupReads, IntelligenceCache, Ready, Scanned, prepare_stored};
use crate::ranked_write::Write;
use crate::scan_queue::Scope;

/// Hosts a scan worker takes at once for a feed import's re-rank: one write transaction of up
/// to this many hosts' changes (~2–3 ms each: the writers' line is held ~0.1 s).
pub const GROUP: usize = 32;

/// Hosts a scan worker takes at once for new inventories (a fleet's first round, a point
/// release): written in one transaction, they take one turn in the writers' line and one commit,
/// and each update's and tier's summary is adjusted once for the group instead of once a host
/// (a first report touches ~46 updates' summaries, mostly the same ones as its neighbours').
/// Fewer than [`GROUP`]: a first report's ranking (~800 findings) is held until written.
pub const REPORTS: usize = 8;

/// Hosts of a group decoded and ranked at once (each reads its open findings' first sights on a
/// pool connection of its own).
const PREPARING: usize = 2;

/// Scans `hosts` (each for its scope) at `now` and writes what changed together; each host's
/// outcome, in `hosts`' order.
pub async fn scan_group(
    cache: &Arc<IntelligenceCache>,
    store: &Store,
    hosts: Vec<(String, Scope)>,
    now: Timestamp,
) -> Vec<anyhow::Result<Scanned>> {
    write(store, prepare(cache, store, hosts, now).await).await
}

/// A group read and ranked, not yet written ([`write`]): each host's outcome or write, in the
/// group's order.
pub struct Prepared(Vec<Option<anyhow::Result<Ready>>>);

/// Reads and ranks `hosts` (each for its scope) at `now`, [`PREPARING`] at a time; what each
/// needs written.
pub async fn prepare(
    cache: &Arc<IntelligenceCache>,
    store: &Store,
    hosts: Vec<(String, Scope)>,
    now: Timestamp,
) -> Prepared {
    let (count, started) = (hosts.len(), std::time::Instant::now());
    let ids: Vec<String> = hosts.iter().map(|(host, _)| host.clone()).collect();
    let (group, mut reads) = match read_group(store, &ids).await {
        Ok(read) => read,
        Err(error) => {
            let failed = |_| Some(Err(anyhow::anyhow!("{error:#}")));
            return Prepared((0..count).map(failed).collect());
        }
    };
    let mut ready: Vec<Option<anyhow::Result<Ready>>> = (0..count).map(|_| None).collect();
    let mut tasks = JoinSet::new();
    let mut running = HashMap::new();
    let mut waiting = hosts.into_iter().enumerate();
    loop {
        while tasks.len() < PREPARING
            && let Some((at, (host, scope))) = waiting.next()
        {
            let (cache, store, group) = (cache.clone(), store.clone(), group.clone());
            let host_reads = reads.remove(&host);
            let task = tasks.spawn(async move {
                let (why, host) = (scope.why(), (host.as_str(), host_reads));
                let prepared = prepare_stored((&cache, &group), &store, host, now, why);
                (at, prepared.await)
            });
            running.insert(task.id(), at);
        }
        let Some(joined) = tasks.join_next_with_id().await else {
            break;
        };
        let (at, prepared) = match joined {
            Ok((_, (at, prepared))) => (at, prepared),
            Err(error) => {
                let at = running[&error.id()];
                (at, Err(anyhow::anyhow!("scanning panicked: {error}")))
            }
        };
        ready[at] = Some(prepared);
    }
    let took = started.elapsed().as_secs_f64() * 1000.0;
    tracing::debug!(
        hosts = count,
        ms = format!("{took:.1}"),
        "group read and ranked"
    );
    Prepared(ready)
}

/// What every host of the group is scanned with, and what each host's scan reads (a statement
/// each for the group: pw-store's `scan_reads.rs`).
async fn read_group(
    store: &Store,
    ids: &[String],
) -> anyhow::Result<(Arc<GroupReads>, HashMap<String, ScanReads>)> {
    let group = Arc::new(GroupReads::read(store).await?);
    Ok((group, store.scan_reads(ids).await?))
}

/// The group's writes made together; every host's outcome, in the group's order.
pub async fn write(store: &Store, Prepared(ready): Prepared) -> Vec<anyhow::Result<Scanned>> {
    let mut outcomes: Vec<Option<anyhow::Result<Scanned>>> = Vec::with_capacity(ready.len());
    let (mut writes, mut written): (Vec<Write>, Vec<usize>) = (Vec::new(), Vec::new());
    for (at, prepared) in ready.into_iter().enumerate() {
        let prepared = prepared.unwrap_or_else(|| Err(anyhow::anyhow!("not scanned")));
        outcomes.push(match prepared {
            Ok(Ready::Done(scanned)) => Some(Ok(scanned)),
            Ok(Ready::Write(write)) => {
                writes.push(*write);
                written.push(at);
                None
            }
            Err(error) => Some(Err(error)),
        });
    }
    let started = std::time::Instant::now();
    let recorded = crate::ranked_write::record(store, &writes).await;
    let took = started.elapsed().as_secs_f64() * 1000.0;
    tracing::debug!(
        hosts = writes.len(),
        ms = format!("{took:.1}"),
        "group written"
    );
    for (at, outcome) in written.into_iter().zip(recorded) {
        outcomes[at] = Some(outcome);
    }
    (outcomes.into_iter())
        .map(|outcome| outcome.unwrap_or_else(|| Err(anyhow::anyhow!("not written"))))
        .collect()
}
