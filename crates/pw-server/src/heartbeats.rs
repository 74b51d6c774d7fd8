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
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use pw_store::{HeartbeatRow, Store};
use tokio::sync::{oneshot, watch};

/// How often the heartbeats heard are written.
pub const FLUSH_EVERY: Duration = Duration::from_secs(1);

/// Told when a heartbeat written at once is written (or why not).
type Written = oneshot::Sender<Result<(), String>>;

#[derive(Default)]
pub struct Heartbeats {
    /// What this controller last wrote (or, at start, read) for each host.
    written: Mutex<HashMap<String, HeartbeatRow>>,
    /// Hosts heard since the last flush, with their latest heartbeat.
    pending: Mutex<HashMap<String, HeartbeatRow>>,
    /// Heartbeats to write at once, each with its sender's wait for the write.
    urgent: Mutex<Vec<(HeartbeatRow, Written)>>,
    /// Held by the one task writing the urgent heartbeats queued so far.
    writing: tokio::sync::Mutex<()>,
    /// Writes of urgent heartbeats made (for tests).
    urgent_writes: AtomicU64,
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
            ..Heartbeats::default()
        })
    }

    /// Records a heartbeat: at once when it changes the host's flags, else at the next flush.
    /// Heartbeats to write at once are written together with any others waiting (10,000 agents
    /// enrolled together send 10,000 first heartbeats within a second: one write each took
    /// 10–20 s to drain).
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
        loop {
            let (done, mut wait) = oneshot::channel();
            let queued = (beat.clone(), done);
            self.urgent.lock().expect("heartbeats lock").push(queued);
            let writing = self.writing.lock().await;
            match wait.try_recv() {
                // Written by the task before this one.
                Ok(outcome) => return outcome.map_err(anyhow::Error::msg),
                // That task's request went away mid-write: queued again.
                Err(oneshot::error::TryRecvError::Closed) => continue,
                Err(oneshot::error::TryRecvError::Empty) => {}
            }
            self.write_urgent(store).await;
            drop(writing);
            if let Ok(outcome) = wait.await {
                return outcome.map_err(anyhow::Error::msg);
            }
        }
    }

    /// Writes every urgent heartbeat queued, in one write, and tells their senders.
    async fn write_urgent(&self, store: &Store) {
        let queued = std::mem::take(&mut *self.urgent.lock().expect("heartbeats lock"));
        let rows: Vec<HeartbeatRow> = queued.iter().map(|(row, _)| row.clone()).collect();
        let outcome = store.record_heartbeats(&rows).await;
        self.urgent_writes.fetch_add(1, Ordering::Relaxed);
        if outcome.is_ok() {
            let mut pending = self.pending.lock().expect("heartbeats lock");
            for row in &rows {
                pending.remove(&row.host_id);
            }
            let mut written = self.written.lock().expect("heartbeats lock");
            for row in rows {
                written.insert(row.host_id.clone(), row);
            }
        }
        let outcome = outcome.map_err(|e| format!("{e:#}"));
        for (_, done) in queued {
            let _ = done.send(outcome.clone());
        }
    }

    /// How many writes of urgent heartbeats this controller made.
    pub fn urgent_writes(&self) -> u64 {
        self.urgent_writes.load(Ordering::Relaxed)
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

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;

    const HOSTS: usize = 200;

    fn beat(host: usize, version: &str) -> HeartbeatRow {
        HeartbeatRow {
            host_id: format!("h{host}"),
            at: "2026-12-05T00:00:00Z".parse().unwrap(),
            agent_version: version.to_owned(),
            read_only: false,
            plan_changes: false,
        }
    }

    /// Hosts' first heartbeats coming together are written together, each answered only once
    /// written; a heartbeat saying the same again waits for the flush.
    #[tokio::test]
    async fn heartbeats_to_write_at_once_are_written_together() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("pw.db")).await.unwrap();
        let mut insert = String::new();
        for host in 0..HOSTS {
            insert += &format!(
                "INSERT INTO hosts (id, hostname, enrolled_at) \
                 VALUES ('h{host}', 'web-{host}', '2026-12-01T00:00:00Z');"
            );
        }
        sqlx::raw_sql(sqlx::AssertSqlSafe(insert))
            .execute(store.pool())
            .await
            .unwrap();
        let beats = Arc::new(Heartbeats::default());
        let sent: Vec<_> = (0..HOSTS)
            .map(|host| {
                let (beats, store) = (beats.clone(), store.clone());
                tokio::spawn(async move { beats.record(&store, beat(host, "1.0")).await })
            })
            .collect();
        for answer in sent {
            answer.await.unwrap().unwrap();
        }
        let stored = store.last_heartbeats().await.unwrap();
        assert_eq!(
            stored.len(),
            HOSTS,
            "every heartbeat written before its answer"
        );
        let writes = beats.urgent_writes();
        assert!(writes < 10, "{HOSTS} first heartbeats took {writes} writes");
        beats.record(&store, beat(0, "1.0")).await.unwrap();
        assert_eq!(
            beats.urgent_writes(),
            writes,
            "the same again waits for the flush"
        );
        assert_eq!(beats.flush(&store).await.unwrap(), 1);
        beats.record(&store, beat(0, "1.1")).await.unwrap();
        assert_eq!(
            beats.urgent_writes(),
            writes + 1,
            "a new version is written at once"
        );
    }
}
