//! Agents' heartbeats kept in memory and written once a second in one write (issue 15: at
//! 10,000 agents, ~333 heartbeats a second each waiting its turn in the store's line of writers
//! took 5.1 s on average and starved the scans' writes). A heartbeat whose agent version or
//! read-only flags differ from what this controller last wrote for the host is written at once,
//! as before; one that only says "still here" is written at the next flush, with what it said
//! (so the host's row ends as its last heartbeat said, whichever replica wrote before), at most
//! a second late (the silent-agent notice works in minutes). A crash loses at most the last
//! second of "still here".

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use jiff::Timestamp;
use pw_store::{HeartbeatRow, Store};
use tokio::sync::watch;

/// How often the heartbeats heard are written.
pub const FLUSH_EVERY: Duration = Duration::from_secs(1);

/// What a heartbeat says besides "still here".
#[derive(Debug, Clone, PartialEq, Eq)]
struct Flags {
    agent_version: String,
    read_only: bool,
    plan_changes: bool,
}

/// One heartbeat as the agent sent it.
pub struct Beat<'a> {
    pub host_id: &'a str,
    pub at: Timestamp,
    pub agent_version: &'a str,
    pub read_only: bool,
    pub plan_changes: bool,
}

#[derive(Default)]
pub struct Heartbeats {
    /// What this controller last wrote for each host.
    written: Mutex<HashMap<String, Flags>>,
    /// Hosts heard since the last flush, with their latest heartbeat.
    pending: Mutex<HashMap<String, HeartbeatRow>>,
}

impl Heartbeats {
    /// Records a heartbeat: at once when it changes the host's flags, else at the next flush.
    pub async fn record(&self, store: &Store, beat: Beat<'_>) -> anyhow::Result<()> {
        let flags = Flags {
            agent_version: beat.agent_version.to_owned(),
            read_only: beat.read_only,
            plan_changes: beat.plan_changes,
        };
        let known = self
            .written
            .lock()
            .expect("heartbeats lock")
            .get(beat.host_id)
            == Some(&flags);
        if known {
            let row = HeartbeatRow {
                host_id: beat.host_id.to_owned(),
                at: beat.at,
                agent_version: flags.agent_version,
                read_only: flags.read_only,
                plan_changes: flags.plan_changes,
            };
            let mut pending = self.pending.lock().expect("heartbeats lock");
            pending.insert(row.host_id.clone(), row);
            return Ok(());
        }
        store
            .record_heartbeat(
                beat.host_id,
                beat.at,
                beat.agent_version,
                beat.read_only,
                beat.plan_changes,
            )
            .await?;
        self.pending
            .lock()
            .expect("heartbeats lock")
            .remove(beat.host_id);
        let mut written = self.written.lock().expect("heartbeats lock");
        written.insert(beat.host_id.to_owned(), flags);
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
