//! Finding texts stored once (migration `0033_finding_texts.sql`): a finding's JSON without its
//! deadline is the same on every host with the same installed version and policy, so it is kept
//! in `finding_texts` once, content-addressed by its SHA-256, and history episodes name it by id.
//!
//! The deadline depends on when the host first saw the finding: it stays on the episode and is
//! put back when the finding is read ([`FINDING_JSON`]). Taking it out and putting it back are
//! exact inverses on the JSON `pw_model::Finding` serializes to: `"deadline":"…"` becomes
//! `"deadline":null` (a quote inside a JSON string is escaped, so the pattern only ever matches
//! the member itself).
//!
//! Since migration 0040 a text is stored compressed against a shared dictionary
//! (`zdict.rs`): `packed` holds it and names its `dictionary`, `finding` is `''`.
//!
//! A text's row is never changed nor deleted (the migrations' triggers), so a digest's id and
//! what the summaries count of it, once read or committed, are so for good: the process keeps
//! them ([`TextCache`]) and the write path reads from the database only the texts it has not
//! seen (a first scan's ~1,000 texts, mostly shared with other hosts, were 10.8 ms of its turn
//! in the writers' line at 10,000 hosts; a re-rank's few dozen 0.5 ms). An id is cached only
//! once its row is committed (an id inserted by a transaction that rolls back could be given
//! to another text).

use foldhash::{HashMap, HashMapExt, HashSet, HashSetExt};
use std::sync::Mutex;

use anyhow::Context;
use sha2::{Digest, Sha256};
use sqlx::Row;

use crate::findings::CurrentFinding;
use crate::zdict::{Packer, TEXTS, Unpacker};

/// The finding's JSON from its text and its episode's deadline (RFC 3339 text), the inverse of
/// [`text_of`].
pub(crate) fn with_deadline(text: String, deadline: Option<&str>) -> String {
    match deadline {
        Some(d) => text.replace("\"deadline\":null", &format!("\"deadline\":\"{d}\"")),
        None => text,
    }
}

/// [`with_deadline`] for an episode's deadline as stored (`instants.rs`: nanoseconds).
pub(crate) fn with_stored_deadline(text: String, deadline: Option<i64>) -> anyhow::Result<String> {
    let deadline = deadline.map(crate::instants::nanos_text).transpose()?;
    Ok(with_deadline(text, deadline.as_deref()))
}

/// The text of a finding: its JSON with `"deadline":null` for the deadline `deadline` (text as
/// stored on the episode).
pub(crate) fn text_of(json: &str, deadline: Option<&str>) -> String {
    match deadline {
        Some(deadline) => json.replacen(
            &format!("\"deadline\":\"{deadline}\""),
            "\"deadline\":null",
            1,
        ),
        None => json.to_owned(),
    }
}

/// The content address of a text: the first 16 bytes of its SHA-256 (migration 0047; all 32
/// since 0039). Only compared among one database's texts, where 16 bytes collide with a chance
/// of ~n²/2^129 for n texts.
pub(crate) type TextDigest = [u8; DIGEST_BYTES];

/// A text digest's length in bytes.
const DIGEST_BYTES: usize = 16;

/// Digests a statement reads (a quarter as many texts a statement stores, eight values each):
/// bound by position on SQLite (`db::marks_in`), where numbered parameters cost a search each
/// (`findings_write::PARAMETERS`).
const ROWS: usize = 500;

/// The content address of a text.
pub(crate) fn digest(text: &str) -> TextDigest {
    digest_of_parts(&[text.as_bytes()])
}

/// The content address of the text that is `parts` one after the other.
pub(crate) fn digest_of_parts(parts: &[&[u8]]) -> TextDigest {
    let mut hasher = Sha256::new();
    for part in parts {
        hasher.update(part);
    }
    let full: [u8; 32] = hasher.finalize().into();
    let mut short = [0; DIGEST_BYTES];
    short.copy_from_slice(&full[..DIGEST_BYTES]);
    short
}

/// A stored digest (16 bytes).
pub(crate) fn stored_digest(bytes: Vec<u8>) -> anyhow::Result<TextDigest> {
    let length = bytes.len();
    bytes.try_into().map_err(|_| {
        anyhow::anyhow!("a stored finding text digest has {length} bytes, not {DIGEST_BYTES}")
    })
}

/// The columns of a text read from its JSON: package, fixed version ('' when none), advisory,
/// KEV (0 or 1), EPSS.
type TextColumns = (String, String, String, i64, Option<f64>);

fn columns(text: &str) -> TextColumns {
    let value: serde_json::Value = serde_json::from_str(text).unwrap_or_default();
    let string = |key: &str| value[key].as_str().unwrap_or_default().to_owned();
    (
        string("package"),
        string("fixed"),
        string("advisory"),
        i64::from(value["kev"].as_bool().unwrap_or(false)),
        value["epss"].as_f64(),
    )
}

/// What the console's summaries count of a text (`update_summary.rs`): its update's key, KEV
/// and EPSS, as stored.
pub(crate) type Summarised = (Option<i64>, i64, Option<f64>);

/// The columns of [`Summarised`] of a text `t`, for a select.
pub(crate) const SUMMARISED: &str = "t.update_key, t.kev, CAST(t.epss AS DOUBLE PRECISION) AS epss";

/// [`Summarised`] of a row read with [`SUMMARISED`].
pub(crate) fn summarised(row: &sqlx::any::AnyRow) -> anyhow::Result<Summarised> {
    Ok((
        row.try_get("update_key")?,
        row.try_get("kev")?,
        row.try_get("epss")?,
    ))
}

/// A stored text: its id and what the summaries count of it (`None`: not read — an open row
/// of a whole host's computation, `findings_write.rs`).
#[derive(Debug, Clone, Copy)]
pub(crate) struct StoredText {
    pub(crate) id: i64,
    pub(crate) summarised: Option<Summarised>,
}

/// Texts cached before the cache starts over: a bound on memory (~80 bytes a text, ~24 MB at
/// most; pw-loadgen's 10,000 hosts had 66,253 texts after two re-ranks).
const MOST: usize = 300_000;

/// The texts this process has read or committed, by digest, and those whose advisory's names
/// are committed (`notices.rs`' `advisory_aliases`: a text names its advisory and aliases, so
/// one text's names are every finding's with that text).
#[derive(Debug, Default)]
pub(crate) struct TextCache(Mutex<Known>);

#[derive(Debug, Default)]
struct Known {
    texts: HashMap<TextDigest, StoredText>,
    named: HashSet<TextDigest>,
}

impl TextCache {
    /// Remembers texts whose rows are committed (or were read).
    pub(crate) fn learn(&self, texts: impl IntoIterator<Item = (TextDigest, StoredText)>) {
        let mut known = self.0.lock().expect("finding text cache");
        for (digest, text) in texts {
            if known.texts.len() >= MOST {
                known.texts = HashMap::new();
            }
            known.texts.insert(digest, text);
        }
    }

    /// Remembers texts whose names are committed.
    pub(crate) fn learn_named(&self, digests: impl IntoIterator<Item = TextDigest>) {
        let mut known = self.0.lock().expect("finding text cache");
        for digest in digests {
            if known.named.len() >= MOST {
                known.named = HashSet::new();
            }
            known.named.insert(digest);
        }
    }

    /// Of `digests`, those whose names are not known to be committed.
    pub(crate) fn unnamed<T>(
        &self,
        digests: impl Iterator<Item = (TextDigest, T)>,
    ) -> Vec<(TextDigest, T)> {
        let known = self.0.lock().expect("finding text cache");
        digests
            .filter(|(digest, _)| !known.named.contains(digest))
            .collect()
    }

    /// The texts of `digests` known, into `found`; the others.
    fn known<'a>(
        &self,
        digests: impl Iterator<Item = &'a TextDigest>,
        found: &mut HashMap<TextDigest, StoredText>,
    ) -> Vec<&'a TextDigest> {
        let known = self.0.lock().expect("finding text cache");
        let mut missing = Vec::new();
        for digest in digests {
            match known.texts.get(digest) {
                Some(text) => {
                    found.insert(*digest, *text);
                }
                None => missing.push(digest),
            }
        }
        missing
    }
}

/// The stored texts of `findings` (by their texts' digests), with what the summaries count of
/// them, from the cache or the database, storing those not stored yet (their texts worked out
/// here: the few a write brings that the fleet has not seen); those read or stored here are in
/// `learned` too (for [`TextCache::learn`] once the transaction is committed).
pub(crate) async fn text_ids(
    tx: &mut sqlx::AnyConnection,
    (cache, learned): (&TextCache, &mut HashMap<TextDigest, StoredText>),
    findings: &HashMap<TextDigest, &CurrentFinding>,
) -> anyhow::Result<HashMap<TextDigest, StoredText>> {
    let mut ids = HashMap::with_capacity(findings.len());
    let digests = cache.known(findings.keys(), &mut ids);
    let mut read = HashMap::with_capacity(digests.len());
    read_ids(tx, &digests, &mut read).await?;
    ids.extend(read.iter().map(|(digest, text)| (*digest, *text)));
    learned.extend(read);
    let mut missing = Vec::new();
    for (digest, finding) in findings.iter().filter(|(d, _)| !ids.contains_key(*d)) {
        let prepared = Prepared::of(finding);
        anyhow::ensure!(
            prepared.digest == *digest,
            "the text digest given for {} {} is not its text's",
            finding.binary,
            finding.advisory
        );
        let columns = columns(&prepared.text);
        missing.push((digest, prepared.text, columns));
    }
    if missing.is_empty() {
        return Ok(ids);
    }
    let updates: std::collections::BTreeSet<(&str, &str)> = (missing.iter())
        .map(|(_, _, c)| (c.0.as_str(), c.1.as_str()))
        .collect();
    crate::update_summary::key_updates(tx, &updates.into_iter().collect::<Vec<_>>()).await?;
    insert_texts(tx, &missing).await?;
    let digests: Vec<&TextDigest> = missing.iter().map(|(digest, _, _)| *digest).collect();
    let mut read = HashMap::with_capacity(digests.len());
    read_ids(tx, &digests, &mut read).await?;
    ids.extend(read.iter().map(|(digest, text)| (*digest, *text)));
    learned.extend(read);
    anyhow::ensure!(ids.len() == findings.len(), "a finding text was not stored");
    Ok(ids)
}

/// A finding of the computation as the history stores it: its text without the deadline and
/// that text's digest.
pub(crate) struct Prepared {
    pub(crate) text: String,
    pub(crate) digest: TextDigest,
}

impl Prepared {
    pub(crate) fn of(finding: &CurrentFinding) -> Prepared {
        let deadline = finding.deadline.map(|d| d.to_string());
        let text = text_of(&finding.json, deadline.as_deref());
        Prepared {
            digest: digest(&text),
            text,
        }
    }
}

/// Stores texts not stored yet (digest, JSON, columns), several per statement, each naming its
/// update by key (since migration 0044: every update named has its key, `key_updates`).
async fn insert_texts(
    tx: &mut sqlx::AnyConnection,
    texts: &[(&TextDigest, String, TextColumns)],
) -> anyhow::Result<()> {
    let mut packer = Packer::new(&TEXTS)?;
    // Bound by position on SQLite (`db::value_rows_of_in`): a host's first scan may store
    // hundreds of texts, 16 a statement when their parameters were numbered.
    for chunk in texts.chunks(ROWS / 4) {
        // EPSS goes as text: the `Any` driver's NULL and float parameters do not mix in one
        // PostgreSQL VALUES column.
        let template = "(?, (SELECT k.id FROM update_keys k WHERE k.package = ? AND k.fixed = ?),
                         ?, ?, CAST(CAST(? AS TEXT) AS DOUBLE PRECISION), '', ?, ?)";
        let rows = crate::db::value_rows_of_in(tx, chunk.len(), template);
        let sql = format!(
            "INSERT INTO finding_texts (digest, update_key, advisory, kev, epss, finding,
               dictionary, packed)
             VALUES {rows} ON CONFLICT (digest) DO NOTHING"
        );
        let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
        for (digest, text, (package, fixed, advisory, kev, epss)) in chunk {
            query = query
                .bind(digest.as_slice())
                .bind(package.clone())
                .bind(fixed.clone())
                .bind(advisory.clone())
                .bind(*kev)
                .bind(epss.map(|e| e.to_string()))
                .bind(TEXTS.current)
                .bind(packer.pack(text.as_bytes())?);
        }
        query
            .execute(&mut *tx)
            .await
            .with_context(|| format!("storing {} finding texts", chunk.len()))?;
    }
    Ok(())
}

/// The stored texts of `digests`, with what the summaries count of them.
async fn read_ids(
    tx: &mut sqlx::AnyConnection,
    digests: &[&TextDigest],
    ids: &mut HashMap<TextDigest, StoredText>,
) -> anyhow::Result<()> {
    for chunk in digests.chunks(ROWS) {
        let sql = format!(
            "SELECT t.id, t.digest, {SUMMARISED} FROM finding_texts t WHERE t.digest IN ({})",
            crate::db::marks_in(tx, chunk.len()).join(", ")
        );
        let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
        for digest in chunk {
            query = query.bind(digest.as_slice());
        }
        for row in query
            .fetch_all(&mut *tx)
            .await
            .context("reading finding texts")?
        {
            let text = StoredText {
                id: row.try_get("id")?,
                summarised: Some(summarised(&row)?),
            };
            ids.insert(stored_digest(row.try_get("digest")?)?, text);
        }
    }
    Ok(())
}

/// The texts without a digest, a batch of them (through the unique index on the digest:
/// constant time once every text has one).
pub(crate) const UNDIGESTED: &str = "SELECT id, finding AS text, dictionary AS text_dictionary,
       packed AS text_packed
     FROM finding_texts WHERE digest IS NULL ORDER BY id LIMIT $1";

/// Gives the texts migration 0033 stored their digests (SQLite has no SHA-256 function; the
/// migration leaves them NULL). Run at open; nothing to do afterwards.
pub(crate) async fn fill_digests(pool: &sqlx::AnyPool) -> anyhow::Result<()> {
    loop {
        let rows = sqlx::query(UNDIGESTED)
            .bind(1000_i64)
            .fetch_all(pool)
            .await
            .context("reading finding texts without a digest")?;
        if rows.is_empty() {
            return Ok(());
        }
        let mut tx = pool.begin().await.context("digesting finding texts")?;
        let mut unpacker = Unpacker::new(&TEXTS);
        for row in &rows {
            let id: i64 = row.try_get("id")?;
            let text = unpacker.text_of_row(row)?;
            sqlx::query("UPDATE finding_texts SET digest = $1 WHERE id = $2 AND digest IS NULL")
                .bind(digest(&text).to_vec())
                .bind(id)
                .execute(&mut *tx)
                .await
                .context("storing a finding text's digest")?;
        }
        tx.commit().await.context("committing finding digests")?;
    }
}

/// The texts stored before migration 0040 (their JSON in `finding`), a batch of them (through
/// the partial index `finding_texts_unpacked`: constant time once every text is packed).
pub(crate) const UNPACKED: &str =
    "SELECT id, finding FROM finding_texts WHERE packed IS NULL ORDER BY id LIMIT $1";

/// Compresses the texts stored before migration 0040 against the current dictionary, a batch
/// per transaction (run at open, after [`fill_digests`]); returns how many. Safe on several
/// replicas at once (a row is rewritten only while it is not packed).
pub(crate) async fn pack_legacy_texts(pool: &sqlx::AnyPool) -> anyhow::Result<u64> {
    let mut packed = 0;
    let mut packer = Packer::new(&TEXTS)?;
    loop {
        let rows = sqlx::query(UNPACKED)
            .bind(2000_i64)
            .fetch_all(pool)
            .await
            .context("reading finding texts to compress")?;
        if rows.is_empty() {
            return Ok(packed);
        }
        let mut tx = pool.begin().await.context("compressing finding texts")?;
        for row in &rows {
            let id: i64 = row.try_get("id")?;
            let text: String = row.try_get("finding")?;
            sqlx::query(
                "UPDATE finding_texts SET finding = '', dictionary = $1, packed = $2
                 WHERE id = $3 AND packed IS NULL",
            )
            .bind(TEXTS.current)
            .bind(packer.pack(text.as_bytes())?)
            .bind(id)
            .execute(&mut *tx)
            .await
            .context("storing a compressed finding text")?;
            packed += 1;
        }
        tx.commit()
            .await
            .context("committing compressed finding texts")?;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_text_cache_answers_what_it_learned_and_starts_over_when_full() {
        let cache = TextCache::default();
        let text = |id| StoredText {
            id,
            summarised: Some((Some(id), 0, None)),
        };
        cache.learn([([1; DIGEST_BYTES], text(7))]);
        let mut found = HashMap::new();
        let digests = [[1; DIGEST_BYTES], [2; DIGEST_BYTES]];
        let missing = cache.known(digests.iter(), &mut found);
        assert_eq!(missing, [&[2; DIGEST_BYTES]]);
        assert_eq!(found[&[1; DIGEST_BYTES]].id, 7);
        let many = (0..MOST as u64).map(|n| {
            let mut digest = [0; DIGEST_BYTES];
            digest[..8].copy_from_slice(&n.to_le_bytes());
            digest[8] = 1;
            (digest, text(n as i64))
        });
        cache.learn(many);
        let mut found = HashMap::new();
        assert_eq!(cache.known(digests[..1].iter(), &mut found).len(), 1);
        assert!(cache.0.lock().unwrap().texts.len() <= MOST);
    }

    #[test]
    fn texts_named_are_known_apart_from_texts_stored() {
        let cache = TextCache::default();
        let (a, b) = ([1; DIGEST_BYTES], [2; DIGEST_BYTES]);
        cache.learn([(
            a,
            StoredText {
                id: 1,
                summarised: None,
            },
        )]);
        let unnamed = |digests: &[TextDigest]| {
            let found = cache.unnamed(digests.iter().map(|d| (*d, ())));
            found.into_iter().map(|(d, ())| d).collect::<Vec<_>>()
        };
        assert_eq!(
            unnamed(&[a, b]),
            [a, b],
            "a stored text is not named by that"
        );
        cache.learn_named([b]);
        assert_eq!(unnamed(&[a, b]), [a]);
    }

    #[test]
    fn the_deadline_comes_out_and_goes_back_exactly() {
        let json =
            r#"{"summary":"say \"deadline\":\"x\"","deadline":"2026-01-02T03:04:05Z","kev":true}"#;
        let text = text_of(json, Some("2026-01-02T03:04:05Z"));
        assert_eq!(
            text,
            r#"{"summary":"say \"deadline\":\"x\"","deadline":null,"kev":true}"#
        );
        let back = with_deadline(text.clone(), Some("2026-01-02T03:04:05Z"));
        assert_eq!(back, json);
        assert_eq!(text_of(json, None), json);
        let (package, fixed, advisory, kev, epss) = columns(&text);
        assert_eq!(
            (package, fixed, advisory, kev, epss),
            (String::new(), String::new(), String::new(), 1, None)
        );
    }
}
