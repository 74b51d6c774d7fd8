//! The scans of reported inventories: a queue of host ids (a host waiting already is not queued
//! twice) and a few workers that scan each host's *stored* inventory. A report is answered as
//! soon as it is stored; what waits for a scan is a host id, not a parsed inventory, so memory
//! stays flat however fast reports arrive, and a host that reports again before its scan ran is
//! scanned once, on its latest inventory (issue 15). A host is never scanned by two workers at
//! once: queued again while its scan runs, it waits until that scan has finished (two scans of
//! one host would both find no stored episode and record two first sights). A report equal to the stored one is not
//! scanned again; what changes the ranking without a report — a feed import (`patchwarden feeds
//! import|sync` while the controller runs) — queues every host with what the import changed
//! ([`Scope::Import`], `rerank.rs`): the worker scans only a host the import can touch and
//! writes only a ranking that changed; a start queues every host so (imports made while the
//! controller was down).

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::{Arc, Mutex};

use tokio::sync::{Notify, watch};

use crate::findings::{IntelligenceCache, Scanned, Why};
use crate::rerank::Affected;

/// What a queued scan is for.
#[derive(Debug, Clone)]
pub enum Scope {
    /// A new inventory (or a fleet document applied): scan and record the computation.
    Report,
    /// Feed imports (or a start, for imports made meanwhile): scan only a host they can touch
    /// (`Some`: what they changed; `None`: anything may have changed), and write only a
    /// ranking that changed.
    Import(Option<Arc<Affected>>),
}

impl Scope {
    /// One scan for both reasons.
    fn and(self, other: Scope) -> Scope {
        match (self, other) {
            (Scope::Report, _) | (_, Scope::Report) => Scope::Report,
            (Scope::Import(Some(a)), Scope::Import(Some(b))) => {
                Scope::Import(Some(Arc::new(a.merged(&b))))
            }
            _ => Scope::Import(None),
        }
    }

    /// Why the scan runs, as `scan_stored` takes it.
    pub(crate) fn why(&self) -> Why<'_> {
        match self {
            Scope::Report => Why::Report,
            Scope::Import(affected) => Why::Import(affected.as_deref()),
        }
    }
}

#[derive(Default)]
pub struct ScanQueue {
    waiting: Mutex<Waiting>,
    wake: Notify,
}

#[derive(Default)]
struct Waiting {
    order: VecDeque<String>,
    queued: HashMap<String, Scope>,
    /// Hosts whose scan a worker took and has not finished.
    running: HashSet<String>,
}

impl ScanQueue {
    /// Queues the host's scan unless it waits already.
    pub fn push(&self, host_id: &str) {
        self.push_scoped(host_id, Scope::Report);
    }

    /// Queues the host's scan for `scope`; a host waiting already is scanned once, for both.
    pub fn push_scoped(&self, host_id: &str, scope: Scope) {
        let mut waiting = self.waiting.lock().expect("scan queue lock");
        if let Some(queued) = waiting.queued.remove(host_id) {
            waiting.queued.insert(host_id.to_owned(), queued.and(scope));
            return;
        }
        waiting.queued.insert(host_id.to_owned(), scope);
        waiting.order.push_back(host_id.to_owned());
        drop(waiting);
        self.wake.notify_one();
    }

    /// Scans not finished: hosts waiting and scans running (`/metrics`:
    /// `patchwarden_findings_scans_pending`; zero once every stored report is ranked).
    pub fn pending(&self) -> usize {
        let waiting = self.waiting.lock().expect("scan queue lock");
        waiting.order.len() + waiting.running.len()
    }

    /// The first waiting host not being scanned, counted as running until
    /// [`ScanQueue::finished`]. Hosts skipped are at most one per worker.
    fn try_pop(&self) -> Option<(String, Scope)> {
        self.try_pop_where(|_| true)
    }

    /// [`ScanQueue::try_pop`] among the hosts queued for a `wanted` scope.
    fn try_pop_where(&self, wanted: impl Fn(&Scope) -> bool) -> Option<(String, Scope)> {
        let mut waiting = self.waiting.lock().expect("scan queue lock");
        let at = waiting.order.iter().position(|host| {
            !waiting.running.contains(host) && waiting.queued.get(host).is_none_or(&wanted)
        })?;
        let host = waiting.order.remove(at)?;
        let scope = waiting.queued.remove(&host).unwrap_or(Scope::Report);
        waiting.running.insert(host.clone());
        Some((host, scope))
    }

    /// The scan of `host` is over; a scan of it queued meanwhile may start.
    fn finished(&self, host: &str) {
        let mut waiting = self.waiting.lock().expect("scan queue lock");
        waiting.running.remove(host);
        let queued_again = waiting.queued.contains_key(host);
        drop(waiting);
        if queued_again {
            self.wake.notify_one();
        }
    }

    async fn pop(&self) -> (String, Scope) {
        loop {
            let notified = self.wake.notified();
            if let Some(host) = self.try_pop() {
                return host;
            }
            notified.await;
        }
    }

    /// The next waiting host and hosts waiting for the same kind of scan, scanned and written
    /// together (`scan_group.rs`): up to [`crate::scan_group::GROUP`] for a feed import's
    /// re-rank, [`crate::scan_group::REPORTS`] for new inventories. Only hosts already waiting
    /// are taken: a lone report is scanned at once.
    async fn pop_group(&self) -> Vec<(String, Scope)> {
        let first = self.pop().await;
        let import = |scope: &Scope| matches!(scope, Scope::Import(_));
        let imports = import(&first.1);
        let most = if imports {
            crate::scan_group::GROUP
        } else {
            crate::scan_group::REPORTS
        };
        let mut group = vec![first];
        while group.len() < most {
            let Some(next) = self.try_pop_where(|scope| import(scope) == imports) else {
                break;
            };
            group.push(next);
        }
        group
    }
}

/// Queues every stored host's scan for `scope` (a fleet document applied, a feed import); how
/// many hosts were queued.
pub async fn queue_every_host(
    store: &pw_store::Store,
    queue: &ScanQueue,
    scope: Scope,
) -> anyhow::Result<usize> {
    let hosts = store.hosts().await?;
    for host in &hosts {
        queue.push_scoped(&host.id, scope.clone());
    }
    Ok(hosts.len())
}

/// One scan worker: until shutdown, takes the next group of hosts waiting for the same kind of
/// scan ([`ScanQueue::pop_group`], `scan_group.rs`) and scans their stored inventories. A
/// group's write runs while the worker reads and ranks the next group, on a thread of its own
/// ([`writer`]); a worker's groups are written one at a time, in order.
pub async fn worker(
    controller: crate::Controller,
    queue: Arc<ScanQueue>,
    cache: Arc<IntelligenceCache>,
    mut shutdown: watch::Receiver<bool>,
) {
    let store = controller.store.clone();
    let mut writing = None;
    loop {
        let group = tokio::select! {
            next = queue.pop_group() => next,
            _ = shutdown.changed() => break,
        };
        let hosts: Vec<String> = group.iter().map(|(host, _)| host.clone()).collect();
        let prepared = crate::scan_group::prepare(&cache, &store, group, controller.now()).await;
        written(writing.take()).await;
        let (controller, queue) = (controller.clone(), queue.clone());
        writing = Some(writer().spawn(async move {
            let scanned = crate::scan_group::write(&controller.store, prepared).await;
            for (host, scanned) in hosts.iter().zip(scanned) {
                let outcome = outcome(&controller, host, scanned).await;
                queue.finished(host);
                controller.observer().scan(outcome);
            }
        }));
        // The loop above never yields when the queue stays full; let the workers' other
        // callers (requests on the same runtime) in between scans.
        tokio::task::yield_now().await;
    }
    written(writing).await;
}

/// The runtime the groups' writes run on: one thread of its own for the process, beside the
/// runtime's workers. The writes of a feed import's re-rank run back to back in the writers'
/// line (`write_gate.rs`), ~10 statements a host, each a round trip to SQLite's thread and
/// back; on the runtime's workers each step of a write waited behind the hosts being ranked
/// meanwhile (a list parsed, an inventory decoded: milliseconds without a yield), and the line
/// waited with it. Here a write's next step runs as soon as its statement returns.
fn writer() -> &'static tokio::runtime::Handle {
    static WRITER: std::sync::OnceLock<tokio::runtime::Handle> = std::sync::OnceLock::new();
    WRITER.get_or_init(|| crate::own_thread::runtime("pw-scan-writer"))
}

/// Waits for a group's write (and its hosts' outcomes) to end.
async fn written(writing: Option<tokio::task::JoinHandle<()>>) {
    let Some(writing) = writing else {
        return;
    };
    if let Err(error) = writing.await {
        // Its hosts stay counted as running (as when a worker panicked before writes were
        // spawned): `/metrics`' pending scans show it.
        tracing::error!(error = format!("{error}"), "a group's write panicked");
    }
}

/// A host's scan logged and its events sent; its outcome as `/metrics` counts it.
async fn outcome(
    controller: &crate::Controller,
    host: &str,
    scanned: anyhow::Result<Scanned>,
) -> &'static str {
    match scanned {
        Ok(Scanned::Stored(count, events)) => {
            tracing::info!(host_id = host, findings = count, "findings computed");
            crate::notify::emit(controller, events).await;
            "stored"
        }
        Ok(Scanned::Reranked(count, events)) => {
            tracing::debug!(host_id = host, findings = count, "findings re-ranked");
            crate::notify::emit(controller, events).await;
            "stored"
        }
        Ok(Scanned::Unchanged(count)) => {
            tracing::debug!(host_id = host, findings = count, "findings unchanged");
            "unchanged"
        }
        Ok(Scanned::Untouched) => "untouched",
        Ok(Scanned::Dropped) => {
            tracing::info!(host_id = host, "findings of an older inventory dropped");
            "dropped"
        }
        Err(error) => {
            tracing::error!(host_id = host, error = format!("{error:#}"), "scan failed");
            // The stored ranking may lack what this scan was for: the next feed import
            // ranks the host whole (`rerank_scan.rs`).
            if let Err(error) = controller.store.forget_ranking_basis(host).await {
                tracing::error!(
                    host_id = host,
                    error = format!("{error:#}"),
                    "cannot forget the ranking basis"
                );
            }
            "failed"
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use pw_store::ImportChanges;

    use super::{ScanQueue, Scope};
    use crate::rerank::Affected;

    fn affected(package: &str) -> Scope {
        Scope::Import(Some(Arc::new(Affected::new(&ImportChanges {
            packages: [package.to_owned()].into(),
            cves: Default::default(),
            advisories: None,
        }))))
    }

    #[test]
    fn a_host_queued_twice_is_scanned_once_for_both_reasons() {
        let queue = ScanQueue::default();
        queue.push_scoped("h1", affected("curl"));
        queue.push_scoped("h1", affected("zlib"));
        queue.push_scoped("h2", affected("curl"));
        queue.push("h2");
        let Some((_, Scope::Import(Some(both)))) = queue.try_pop() else {
            panic!("h1 is queued for two imports");
        };
        let merged = Affected::new(&ImportChanges {
            packages: ["curl".to_owned(), "zlib".to_owned()].into(),
            cves: Default::default(),
            advisories: None,
        });
        assert_eq!(*both, merged);
        // A new inventory needs a full scan whatever an import changed.
        assert!(matches!(queue.try_pop(), Some((_, Scope::Report))));
    }

    #[test]
    fn a_host_is_not_scanned_twice_at_once() {
        let queue = ScanQueue::default();
        queue.push("h1");
        let (first, _) = queue.try_pop().expect("h1 waits");
        assert_eq!(first, "h1");
        // Queued again (a feed import, a new report) while its scan runs: it waits.
        queue.push_scoped("h1", affected("curl"));
        assert!(queue.try_pop().is_none(), "h1 is being scanned");
        queue.push("h2");
        assert_eq!(queue.try_pop().map(|(h, _)| h).as_deref(), Some("h2"));
        assert_eq!(queue.pending(), 3, "h1 running and waiting, h2 running");
        queue.finished("h1");
        let Some((again, Scope::Import(Some(_)))) = queue.try_pop() else {
            panic!("h1 is scanned again for the import once its first scan is over");
        };
        assert_eq!(again, "h1");
        queue.finished("h1");
        queue.finished("h2");
        assert_eq!(queue.pending(), 0);
    }

    #[tokio::test]
    async fn hosts_waiting_for_the_same_kind_of_scan_are_taken_together() {
        let queue = ScanQueue::default();
        let names: Vec<String> = (0..crate::scan_group::REPORTS + 2)
            .map(|n| format!("r{n}"))
            .collect();
        queue.push(&names[0]);
        queue.push_scoped("i1", affected("curl"));
        for name in &names[1..] {
            queue.push(name);
        }
        queue.push_scoped("i2", affected("zlib"));
        let hosts = |group: Vec<(String, Scope)>| -> Vec<String> {
            group.into_iter().map(|(host, _)| host).collect()
        };
        // New inventories together, up to a group of reports, in arrival order; imports apart.
        let reports = hosts(queue.pop_group().await);
        assert_eq!(reports, names[..crate::scan_group::REPORTS]);
        assert_eq!(hosts(queue.pop_group().await), ["i1", "i2"]);
        let rest = hosts(queue.pop_group().await);
        assert_eq!(rest, names[crate::scan_group::REPORTS..]);
        assert_eq!(queue.pending(), names.len() + 2, "all taken, none finished");
        // A lone report is taken alone, at once.
        for name in names.iter().map(String::as_str).chain(["i1", "i2"]) {
            queue.finished(name);
        }
        queue.push("h1");
        assert_eq!(hosts(queue.pop_group().await), ["h1"]);
    }

    #[test]
    fn a_waiting_host_is_queued_once_in_arrival_order() {
        let queue = ScanQueue::default();
        queue.push("h1");
        queue.push("h2");
        queue.push("h1");
        assert_eq!(queue.pending(), 2);
        assert_eq!(queue.try_pop().map(|h| h.0).as_deref(), Some("h1"));
        // Taken but running: still pending; queued again, it is scanned once more.
        assert_eq!(queue.pending(), 2);
        queue.push("h1");
        assert_eq!(queue.try_pop().map(|h| h.0).as_deref(), Some("h2"));
        assert!(queue.try_pop().is_none(), "h1's first scan still runs");
        queue.finished("h1");
        assert_eq!(queue.try_pop().map(|h| h.0).as_deref(), Some("h1"));
        assert_eq!(queue.pending(), 2);
        ["h1", "h2"].iter().for_each(|h| queue.finished(h));
        assert_eq!(queue.pending(), 0);
    }
}
