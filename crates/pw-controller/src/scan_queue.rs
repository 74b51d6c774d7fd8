//! The scans of reported inventories: a queue of host ids (a host waiting already is not queued
//! twice) and a few workers that scan each host's *stored* inventory. A report is answered as
//! soon as it is stored; what waits for a scan is a host id, not a parsed inventory, so memory
//! stays flat however fast reports arrive, and a host that reports again before its scan ran is
//! scanned once, on its latest inventory (issue 15). A report equal to the stored one is not
//! scanned again; what changes the ranking without a report — a feed import (`patchwarden feeds
//! import|sync` while the controller runs) — queues every host ([`rerank_on_import`]), and so
//! does a start (imports made while the controller was down).

use std::collections::{HashSet, VecDeque};
use std::sync::{Arc, Mutex};

use tokio::sync::{Notify, watch};

use crate::findings::{IntelligenceCache, scan_stored};

#[derive(Default)]
pub struct ScanQueue {
    waiting: Mutex<Waiting>,
    wake: Notify,
}

#[derive(Default)]
struct Waiting {
    order: VecDeque<String>,
    queued: HashSet<String>,
    /// Scans taken by a worker and not finished.
    running: usize,
}

impl ScanQueue {
    /// Queues the host's scan unless it waits already.
    pub fn push(&self, host_id: &str) {
        let mut waiting = self.waiting.lock().expect("scan queue lock");
        if waiting.queued.insert(host_id.to_owned()) {
            waiting.order.push_back(host_id.to_owned());
            drop(waiting);
            self.wake.notify_one();
        }
    }

    /// Scans not finished: hosts waiting and scans running (`/metrics`:
    /// `patchwarden_findings_scans_pending`; zero once every stored report is ranked).
    pub fn pending(&self) -> usize {
        let waiting = self.waiting.lock().expect("scan queue lock");
        waiting.order.len() + waiting.running
    }

    /// The next host, counted as running until [`ScanQueue::finished`].
    fn try_pop(&self) -> Option<String> {
        let mut waiting = self.waiting.lock().expect("scan queue lock");
        let host = waiting.order.pop_front()?;
        waiting.queued.remove(&host);
        waiting.running += 1;
        Some(host)
    }

    fn finished(&self) {
        let mut waiting = self.waiting.lock().expect("scan queue lock");
        waiting.running = waiting.running.saturating_sub(1);
    }

    async fn pop(&self) -> String {
        loop {
            let notified = self.wake.notified();
            if let Some(host) = self.try_pop() {
                return host;
            }
            notified.await;
        }
    }
}

/// One scan worker: until shutdown, takes the next host and scans its stored inventory.
pub async fn worker(
    controller: crate::Controller,
    queue: Arc<ScanQueue>,
    cache: Arc<IntelligenceCache>,
    mut shutdown: watch::Receiver<bool>,
) {
    let store = controller.store.clone();
    loop {
        let host = tokio::select! {
            host = queue.pop() => host,
            _ = shutdown.changed() => return,
        };
        let outcome = match scan_stored(&cache, &store, &host, controller.now()).await {
            Ok(Some((count, events))) => {
                tracing::info!(host_id = host, findings = count, "findings computed");
                crate::notify::emit(&controller, events).await;
                "stored"
            }
            Ok(None) => {
                tracing::info!(host_id = host, "findings of an older inventory dropped");
                "dropped"
            }
            Err(error) => {
                tracing::error!(host_id = host, error = format!("{error:#}"), "scan failed");
                "failed"
            }
        };
        queue.finished();
        controller.observer().scan(outcome);
        // The loop above never yields when the queue stays full; let the workers' other
        // callers (requests on the same runtime) in between scans.
        tokio::task::yield_now().await;
    }
}

/// How often the controller looks for a new feed import.
const IMPORT_CHECK: std::time::Duration = std::time::Duration::from_secs(2);

/// Queues every host once at start and again after each new feed import.
pub async fn rerank_on_import(
    queue: Arc<ScanQueue>,
    store: pw_store::Store,
    mut shutdown: watch::Receiver<bool>,
) {
    // `Some(None)`: checked, no import yet; `None`: not checked since the start.
    let mut seen: Option<Option<i64>> = None;
    loop {
        match store.last_feed_import().await {
            Ok(import) if seen != Some(import) => match store.hosts().await {
                Ok(hosts) => {
                    for host in &hosts {
                        queue.push(&host.id);
                    }
                    if seen.is_some() {
                        tracing::info!(
                            hosts = hosts.len(),
                            "new feed import: ranking every host again"
                        );
                    }
                    seen = Some(import);
                }
                Err(error) => {
                    tracing::error!(error = format!("{error:#}"), "cannot list hosts to rank")
                }
            },
            Ok(_) => {}
            Err(error) => {
                tracing::error!(error = format!("{error:#}"), "cannot read the feed imports")
            }
        }
        tokio::select! {
            _ = tokio::time::sleep(IMPORT_CHECK) => {}
            _ = shutdown.changed() => return,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::ScanQueue;

    #[test]
    fn a_waiting_host_is_queued_once_in_arrival_order() {
        let queue = ScanQueue::default();
        queue.push("h1");
        queue.push("h2");
        queue.push("h1");
        assert_eq!(queue.pending(), 2);
        assert_eq!(queue.try_pop().as_deref(), Some("h1"));
        // Taken but running: still pending; queued again, it is scanned once more.
        assert_eq!(queue.pending(), 2);
        queue.push("h1");
        assert_eq!(queue.try_pop().as_deref(), Some("h2"));
        assert_eq!(queue.try_pop().as_deref(), Some("h1"));
        assert_eq!(queue.try_pop(), None);
        assert_eq!(queue.pending(), 3);
        (0..3).for_each(|_| queue.finished());
        assert_eq!(queue.pending(), 0);
    }
}
