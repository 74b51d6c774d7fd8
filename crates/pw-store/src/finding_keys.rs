//! Finding keys (binary package, advisory) and their ids (`finding_keys`, migration 0037), as
//! the findings write path needs them, with the keys this process has seen stored
//! ([`KeyCache`]).
//!
//! A key's row is never changed nor deleted, so an id once read or committed names the same key
//! for good; the write path reads its host's open findings by key id alone and names them from
//! the cache, and looks up the ids of new findings there first. Every scan did both in SQL: the
//! open findings joined with their keys (two strings per row, ~800 rows) and the new findings'
//! keys looked up 64 per statement. An id is cached only once its row is committed (an id
//! inserted by a transaction that rolls back could be given to another key).

use foldhash::{HashMap, HashMapExt};
use std::sync::Mutex;

use anyhow::Context;
use sqlx::Row;

/// A finding key: binary package, advisory.
pub(crate) type Key = (String, String);

/// Keys cached before the cache starts over (a bound on memory: a fleet of 1,000 hosts has
/// ~37,000 keys).
const MOST: usize = 200_000;

/// The keys and ids this process has read or committed.
#[derive(Debug, Default)]
pub(crate) struct KeyCache(Mutex<Known>);

#[derive(Debug, Default)]
struct Known {
    /// Ids by binary, then advisory: looked up by borrowed names (a first scan's ~800 new
    /// findings' keys are not copied to be looked up).
    ids: HashMap<String, HashMap<String, i64>>,
    names: HashMap<i64, Key>,
}

/// Keys or ids a statement reads or stores: bound by position on SQLite (`db::value_rows_in`),
/// where numbered parameters cost a search each (`findings_write::PARAMETERS`: 64 keys a
/// statement when they were numbered, a first scan's ~800 new keys in 13 statements).
const ROWS: usize = 500;

/// A finding key borrowed from a finding.
pub(crate) type KeyRef<'a> = (&'a str, &'a str);

impl KeyCache {
    /// Remembers keys whose rows are committed (or were read).
    pub(crate) fn learn<'a>(&self, keys: impl IntoIterator<Item = (&'a Key, i64)>) {
        let mut known = self.0.lock().expect("finding key cache");
        for (key, id) in keys {
            if known.names.len() >= MOST {
                *known = Known::default();
            }
            let (binary, advisory) = key;
            let advisories = known.ids.entry(binary.clone()).or_default();
            advisories.insert(advisory.clone(), id);
            known.names.insert(id, key.clone());
        }
    }

    /// The ids of `keys` known, into `found`; the others.
    fn ids<'a>(
        &self,
        keys: &[KeyRef<'a>],
        found: &mut HashMap<KeyRef<'a>, i64>,
    ) -> Vec<KeyRef<'a>> {
        let known = self.0.lock().expect("finding key cache");
        let mut missing = Vec::new();
        for key in keys {
            match known
                .ids
                .get(key.0)
                .and_then(|advisories| advisories.get(key.1))
            {
                Some(id) => {
                    found.insert(*key, *id);
                }
                None => missing.push(*key),
            }
        }
        missing
    }

    fn names(&self, ids: &[i64], found: &mut HashMap<i64, Key>) -> Vec<i64> {
        let known = self.0.lock().expect("finding key cache");
        let mut missing = Vec::new();
        for id in ids {
            match known.names.get(id) {
                Some(key) => {
                    found.insert(*id, key.clone());
                }
                None => missing.push(*id),
            }
        }
        missing
    }
}

/// The keys of `ids` (ids of stored rows), from the cache or the database (then cached).
pub(crate) async fn key_names(
    tx: &mut sqlx::AnyConnection,
    cache: &KeyCache,
    ids: &[i64],
) -> anyhow::Result<HashMap<i64, Key>> {
    let mut names = HashMap::with_capacity(ids.len());
    let missing = cache.names(ids, &mut names);
    let mut read = HashMap::with_capacity(missing.len());
    for chunk in missing.chunks(ROWS) {
        let sql = format!(
            "SELECT id, binary_name, advisory FROM finding_keys WHERE id IN ({})",
            crate::db::marks_in(tx, chunk.len()).join(", ")
        );
        let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
        for id in chunk {
            query = query.bind(*id);
        }
        for row in query
            .fetch_all(&mut *tx)
            .await
            .context("reading finding keys")?
        {
            let key: Key = (row.try_get("binary_name")?, row.try_get("advisory")?);
            read.insert(row.try_get::<i64, _>("id")?, key);
        }
    }
    anyhow::ensure!(read.len() == missing.len(), "an open finding has no key");
    cache.learn(read.iter().map(|(id, key)| (key, *id)));
    names.extend(read);
    Ok(names)
}

/// The ids of finding keys (binary, advisory), storing those not stored yet: the ids, and
/// those read or stored here, for [`KeyCache::learn`] once the transaction is committed.
pub(crate) async fn key_ids<'a>(
    tx: &mut sqlx::AnyConnection,
    cache: &KeyCache,
    mut keys: Vec<KeyRef<'a>>,
) -> anyhow::Result<(HashMap<KeyRef<'a>, i64>, HashMap<Key, i64>)> {
    keys.sort_unstable();
    keys.dedup();
    let mut ids = HashMap::with_capacity(keys.len());
    let keys = cache.ids(&keys, &mut ids);
    let mut learned = HashMap::with_capacity(keys.len());
    read_key_ids(tx, &keys, &mut learned).await?;
    let owned = |key: &KeyRef<'_>| (key.0.to_owned(), key.1.to_owned());
    let missing: Vec<KeyRef<'a>> = keys
        .iter()
        .filter(|k| !learned.contains_key(&owned(k)))
        .copied()
        .collect();
    for chunk in missing.chunks(ROWS) {
        let sql = format!(
            "INSERT INTO finding_keys (binary_name, advisory) VALUES {}
             ON CONFLICT (binary_name, advisory) DO NOTHING",
            crate::db::value_rows_in(tx, chunk.len(), 2)
        );
        let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
        for (binary, advisory) in chunk {
            query = query.bind(*binary).bind(*advisory);
        }
        query
            .execute(&mut *tx)
            .await
            .with_context(|| format!("storing {} finding keys", chunk.len()))?;
    }
    read_key_ids(tx, &missing, &mut learned).await?;
    for key in keys {
        let id = (learned.get(&owned(&key)).copied())
            .with_context(|| format!("finding key {} {} not stored", key.0, key.1))?;
        ids.insert(key, id);
    }
    Ok((ids, learned))
}

async fn read_key_ids(
    tx: &mut sqlx::AnyConnection,
    keys: &[KeyRef<'_>],
    ids: &mut HashMap<Key, i64>,
) -> anyhow::Result<()> {
    for chunk in keys.chunks(ROWS) {
        let sql = format!(
            "SELECT id, binary_name, advisory FROM finding_keys
             WHERE (binary_name, advisory) IN (VALUES {})",
            crate::db::value_rows_in(tx, chunk.len(), 2)
        );
        let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
        for (binary, advisory) in chunk {
            query = query.bind(*binary).bind(*advisory);
        }
        for row in query
            .fetch_all(&mut *tx)
            .await
            .context("reading finding keys")?
        {
            let key = (row.try_get("binary_name")?, row.try_get("advisory")?);
            ids.insert(key, row.try_get("id")?);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(binary: &str, advisory: &str) -> Key {
        (binary.to_owned(), advisory.to_owned())
    }

    #[test]
    fn the_cache_answers_what_it_learned_and_starts_over_when_full() {
        let cache = KeyCache::default();
        cache.learn([(&key("curl", "CVE-1"), 7), (&key("curl", "CVE-3"), 9)]);
        let mut ids = HashMap::new();
        let asked = [("curl", "CVE-1"), ("bash", "CVE-2"), ("curl", "CVE-2")];
        let missing = cache.ids(&asked, &mut ids);
        assert_eq!(ids, HashMap::from_iter([(("curl", "CVE-1"), 7)]));
        assert_eq!(missing, [("bash", "CVE-2"), ("curl", "CVE-2")]);
        let mut names = HashMap::new();
        assert_eq!(cache.names(&[7, 8], &mut names), [8]);
        assert_eq!(names, HashMap::from_iter([(7, key("curl", "CVE-1"))]));
        let many: Vec<Key> = (0..MOST).map(|i| key("p", &i.to_string())).collect();
        cache.learn(many.iter().zip(100..).map(|(k, id)| (k, id as i64)));
        let mut ids = HashMap::new();
        assert_eq!(cache.ids(&[("curl", "CVE-1")], &mut ids).len(), 1);
        let known = cache.0.lock().unwrap();
        assert!(known.names.len() <= MOST);
        let ids: usize = known.ids.values().map(HashMap::len).sum();
        assert_eq!(ids, known.names.len(), "both ways, one entry a key");
    }
}
