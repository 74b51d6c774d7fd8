//! Agents' identities — the host behind a client certificate's fingerprint — kept in memory
//! for a while (issue 15: at 10,000 agents every heartbeat and every long-poll looked its host
//! up in the database, ~700 reads a second waiting beside the scans for one of SQLite's four
//! connections). An identity is written once, at enrollment, and never changes; nothing revokes
//! one today. Each remembered answer is re-read after [`KEEP_FOR`], so that a revocation added
//! later takes effect on every replica within that time without another mechanism; an unknown
//! fingerprint is never remembered. A controller starts with every identity stored, and remembers
//! each it enrolls.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use pw_store::Store;

/// How long a looked-up identity is answered from memory.
pub const KEEP_FOR: Duration = Duration::from_secs(300);

/// Past this many remembered identities the oldest half is forgotten (a bound on memory, far
/// above the agents one replica serves).
const MOST_KEPT: usize = 200_000;

#[derive(Default)]
pub struct Identities {
    /// Fingerprint → (host, when read from the store).
    known: Mutex<HashMap<String, (String, Instant)>>,
}

impl Identities {
    /// Every identity the store holds, remembered from `now` (a controller's start: its agents'
    /// first requests, all at once after a restart, then read nothing).
    pub async fn load(store: &Store, now: Instant) -> anyhow::Result<Identities> {
        let known = store
            .agent_identities()
            .await?
            .into_iter()
            .map(|(fingerprint, host)| (fingerprint, (host, now)))
            .collect();
        Ok(Identities {
            known: Mutex::new(known),
        })
    }

    /// Remembers an identity just written (an enrollment).
    pub fn remember(&self, fingerprint: &str, host: &str, now: Instant) {
        let mut known = self.known.lock().expect("identities lock");
        if known.len() >= MOST_KEPT {
            forget_oldest_half(&mut known);
        }
        known.insert(fingerprint.to_owned(), (host.to_owned(), now));
    }

    /// The enrolled host holding the certificate with this fingerprint, as of `now`.
    pub async fn host(
        &self,
        store: &Store,
        fingerprint: &str,
        now: Instant,
    ) -> anyhow::Result<Option<String>> {
        if let Some((host, _)) = self
            .known
            .lock()
            .expect("identities lock")
            .get(fingerprint)
            .filter(|(_, read)| now.saturating_duration_since(*read) < KEEP_FOR)
        {
            return Ok(Some(host.clone()));
        }
        let found = store.host_by_fingerprint(fingerprint).await?;
        match &found {
            Some(host) => self.remember(fingerprint, host, now),
            None => {
                self.known
                    .lock()
                    .expect("identities lock")
                    .remove(fingerprint);
            }
        }
        Ok(found)
    }
}

fn forget_oldest_half(known: &mut HashMap<String, (String, Instant)>) {
    let mut reads: Vec<Instant> = known.values().map(|(_, read)| *read).collect();
    let middle = reads.len() / 2;
    let (_, cut, _) = reads.select_nth_unstable(middle);
    let cut = *cut;
    known.retain(|_, (_, read)| *read > cut);
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A revocation (written here by hand: no API revokes an identity yet) is answered from
    /// memory until the remembered answer is [`KEEP_FOR`] old, then read again.
    #[tokio::test]
    async fn an_identity_is_read_again_after_its_time() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("pw.db")).await.unwrap();
        sqlx::raw_sql(
            "INSERT INTO hosts (id, hostname, enrolled_at) VALUES ('h1', 'web-1', '2026-12-01T00:00:00Z');
             INSERT INTO agent_identities (fingerprint, host_id, issued_at, not_after)
             VALUES ('ab12', 'h1', '2026-12-01T00:00:00Z', '2027-12-01T00:00:00Z');",
        )
        .execute(store.pool())
        .await
        .unwrap();
        let start = Instant::now();
        let identities = Identities::load(&store, start).await.unwrap();
        assert_eq!(identities.known.lock().unwrap().len(), 1, "loaded at start");
        let host = identities.host(&store, "ab12", start).await.unwrap();
        assert_eq!(host.as_deref(), Some("h1"));
        assert_eq!(identities.host(&store, "ffff", start).await.unwrap(), None);
        sqlx::query("UPDATE agent_identities SET revoked_at = '2026-12-02T00:00:00Z'")
            .execute(store.pool())
            .await
            .unwrap();
        let soon = start + KEEP_FOR - Duration::from_secs(1);
        let remembered = identities.host(&store, "ab12", soon).await.unwrap();
        assert_eq!(remembered.as_deref(), Some("h1"), "answered from memory");
        let later = start + KEEP_FOR;
        assert_eq!(identities.host(&store, "ab12", later).await.unwrap(), None);
    }

    #[test]
    fn the_oldest_half_is_forgotten() {
        let start = Instant::now();
        let mut known: HashMap<String, (String, Instant)> = (0..10u64)
            .map(|i| {
                (
                    format!("f{i}"),
                    (format!("h{i}"), start + Duration::from_secs(i)),
                )
            })
            .collect();
        forget_oldest_half(&mut known);
        let mut left: Vec<&String> = known.keys().collect();
        left.sort();
        assert_eq!(left, ["f6", "f7", "f8", "f9"]);
    }
}
