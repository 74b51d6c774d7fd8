//! Agents' heartbeats kept in memory and written once a second in one write (issue 15: at
//! 10,000 agents, ~333 heartbeats a second each waiting its turn in the store's line of writers
//! took 5.1 s on average and starved the scans' writes). A heartbeat whose agent version or
//! read-only flags differ from what this controller last wrote for the host is written at once,
//! as before; one that only says "still here" is written at the next flush, with what it said
//! (so the host's row ends as its last heartbeat said, whichever replica wrote before), at most
//! a second late (the silent-agent notice works in minutes). A crash loses at most the last
//! second of "still here". A controller starts from the heartbeats stored, so that after a restart
//! its agents' next heartbeats are not all written at once.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use pw_store::{HeartbeatRow, Store};
use tokio::sync::watch;

/// How often the heartbeats heard are written.
pub const FLUSH_EVERY: Duration = Duration::from_secs(1);

#[derive(Default)]
pub struct Heartbeats {
    /// What this controller last wrote (or, at start, read) for each host.
    written: Mutex<HashMap<String, HeartbeatRow>>,
    /// Hosts heard since the last flush, with their latest heartbeat.
    pending: Mutex<HashMap<String, HeartbeatRow>>,
}

impl Heartbeats {
    /// Starts from what the store holds, so that after a restart only heartbeats that change
    /// something are written at once.
    pub async fn load(store: &Store) -> anyhow::Result<Heartbeats> {
        let written = store
            .last_heartbeats()
            .await?
            .into_iter()
            .map(|row| (row.host_id.clone(), row))
            .collect();
        Ok(Heartbeats {
            written: Mutex::new(written),
            pending: Mutex::default(),
        })
    }

    /// Records a heartbeat: at once when it changes the host's flags, else at the next flush.
    pub async fn record(&self, store: &Store, beat: HeartbeatRow) -> anyhow::Result<()> {
        let known = self
            .written
            .lock()
            .expect("heartbeats lock")
            .get(&beat.host_id)
            .is_some_and(|written| written.says_same(&beat));
        if known {
            let mut pending = self.pending.lock().expect("heartbeats lock");
            pending.insert(beat.host_id.clone(), beat);
            return Ok(());
        }
        store.record_heartbeat(&beat).await?;
        self.pending
            .lock()
            .expect("heartbeats lock")
            .remove(&beat.host_id);
        let mut written = self.written.lock().expect("heartbeats lock");
        written.insert(beat.host_id.clone(), beat);
        Ok(())
    }

    /// Writes the heartbeats heard since the last flush; returns how many hosts.
    pub async fn flush(&self, store: &Store) -> anyhow::Result<usize> {
        let beats: Vec<HeartbeatRow> = {
            let mut pending = self.pending.lock().expect("heartbeats lock");
            std::mem::take(&mut *pending).into_values().collect()
        };
        store.record_heartbeats(&beats).await?;
        Ok(beats.len())
    }

    /// Flushes every [`FLUSH_EVERY`] until shutdown, then once more.
    pub async fn run(&self, store: Store, mut shutdown: watch::Receiver<bool>) {
        loop {
            let stopping = tokio::select! {
                () = tokio::time::sleep(FLUSH_EVERY) => false,
                _ = shutdown.changed() => true,
            };
            if let Err(error) = self.flush(&store).await {
                tracing::warn!(error = format!("{error:#}"), "writing heartbeats failed");
            }
            if stopping || *shutdown.borrow() {
                return;
            }
        }
    }
}
