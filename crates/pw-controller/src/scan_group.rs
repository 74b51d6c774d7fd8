//! Hosts scanned in groups (issue 15: feed import → every host re-ranked in ≤ 30 s at 10,000
//! hosts). A host's re-rank in part is a few dozen statements and little CPU; one host at a
//! time, each statement waited for its round trip to the database and each host's write for its
//! own turn in the writers' line (`pw-store`'s `write_gate.rs`) and its own commit. A scan
//! worker takes up to [`GROUP`] hosts waiting for a feed import's re-rank at once
//! (`scan_queue.rs`), reads and ranks [`PREPARING`] of them at a time on the runtime's threads
//! (both cores: each host's reads on a pool connection of its own), then writes the changed
//! ones in one transaction (`ranked_write.rs`). A host's outcome is its own: a failed read or
//! ranking fails that host only, and a group whose write fails is written again host by host.

use std::collections::HashMap;
use std::sync::Arc;

use jiff::Timestamp;
use pw_store::Store;
use tokio::task::JoinSet;

use crate::findings::{IntelligenceCache, Ready, Scanned, prepare_stored};
use crate::ranked_write::Write;
use crate::scan_queue::Scope;

/// Hosts a scan worker takes at once for a feed import's re-rank: one write transaction of up
/// to this many hosts' changes (~2–3 ms each: the writers' line is held ~0.1 s).
pub const GROUP: usize = 32;

/// Hosts of a group read and ranked at once (each holds a pool connection while it reads).
const PREPARING: usize = 2;

/// Scans `hosts` (each for its scope) at `now` and writes what changed together; each host's
/// outcome, in `hosts`' order.
pub async fn scan_group(
    cache: &Arc<IntelligenceCache>,
    store: &Store,
    hosts: Vec<(String, Scope)>,
    now: Timestamp,
) -> Vec<anyhow::Result<Scanned>> {
    let count = hosts.len();
    let mut ready: Vec<Option<anyhow::Result<Ready>>> = (0..count).map(|_| None).collect();
    let mut tasks = JoinSet::new();
    let mut running = HashMap::new();
    let mut waiting = hosts.into_iter().enumerate();
    loop {
        while tasks.len() < PREPARING
            && let Some((at, (host, scope))) = waiting.next()
        {
            let (cache, store) = (cache.clone(), store.clone());
            let task = tasks.spawn(async move {
                let why = scope.why();
                (at, prepare_stored(&cache, &store, &host, now, why).await)
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
    write(store, ready).await
}

/// The group's writes made together; every host's outcome.
async fn write(
    store: &Store,
    ready: Vec<Option<anyhow::Result<Ready>>>,
) -> Vec<anyhow::Result<Scanned>> {
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
    let recorded = crate::ranked_write::record(store, &writes).await;
    for (at, outcome) in written.into_iter().zip(recorded) {
        outcomes[at] = Some(outcome);
    }
    (outcomes.into_iter())
        .map(|outcome| outcome.unwrap_or_else(|| Err(anyhow::anyhow!("not written"))))
        .collect()
}
