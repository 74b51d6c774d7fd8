//! How a host's ranked findings list is stored (migration 0033): the JSON list compressed in
//! `host_findings.packed`, behind a one-byte format tag — DEFLATE (tag 1, 0033) or, since 0040,
//! zstd against the finding texts' dictionary (tag 2, `zdict.rs`); `findings` then holds `''`. Nothing queries inside the list (the console reads
//! `tier_counts` and `earliest_deadline`), and ~800 findings of JSON (~330 KB a host) deflate
//! to a few percent. Rows written before 0033 keep their text until [`pack_legacy`] (run on open)
//! rewrites them; reading understands both.

use anyhow::Context;
use sqlx::Row;
use sqlx::any::AnyRow;

use crate::zdict;

/// The format tag of a deflated findings list (0033).
const DEFLATED_JSON: u8 = 1;

/// The format tag of a findings list compressed with zstd against the texts' dictionary
/// (`zdict.rs`, `LISTS`; the dictionary's number follows the tag). Since 0040.
const ZSTD_JSON: u8 = 2;

/// Rows rewritten per transaction by [`pack_legacy`].
const PACK_BATCH: i64 = 100;

/// The findings list JSON as `host_findings.packed` stores it (CPU work: done before the write
/// transaction).
pub(crate) fn pack(json: &str) -> anyhow::Result<Vec<u8>> {
    // zstd's fast level 1: the list is packed on every changed scan, inside the controller's
    // serialized write path's CPU budget.
    zdict::pack_tagged(&zdict::LISTS, ZSTD_JSON, json.as_bytes())
        .context("compressing the findings")
}

/// A host's ranked findings list packed as `host_findings.packed` stores it, by the caller
/// before the write (pw-controller packs it with the ranking, on the runtime's workers: the
/// writes run on one thread, and ~0.5 ms a host of packing there held up the writers' line:
/// docs/PERFORMANCE.md, "Feed import re-rank: lists packed beside the writers' line").
#[derive(Debug, Clone)]
pub struct PackedList {
    /// The length of the JSON packed, to tell a list packed from another one.
    json_len: usize,
    bytes: Vec<u8>,
}

impl PackedList {
    pub fn of(json: &str) -> anyhow::Result<PackedList> {
        Ok(PackedList {
            json_len: json.len(),
            bytes: pack(json)?,
        })
    }
}

/// `json` packed: `given` when it was packed from a list of `json`'s length (the same list:
/// checked in full in debug builds), else packed now.
pub(crate) fn packed_for(json: &str, given: Option<&PackedList>) -> anyhow::Result<Vec<u8>> {
    match given {
        Some(given) if given.json_len == json.len() => {
            debug_assert!(
                unpack_bytes(&given.bytes).is_ok_and(|unpacked| unpacked == json),
                "a packed list given for another list"
            );
            Ok(given.bytes.clone())
        }
        _ => pack(json),
    }
}

/// The findings list JSON of a `host_findings` row (`packed`, or `findings` before 0033).
pub(crate) fn unpack(row: &AnyRow) -> anyhow::Result<String> {
    let Some(packed) = row.try_get::<Option<Vec<u8>>, _>("packed")? else {
        return Ok(row.try_get("findings")?);
    };
    unpack_bytes(&packed)
}

/// The findings list JSON of `host_findings.packed`.
fn unpack_bytes(packed: &[u8]) -> anyhow::Result<String> {
    match packed.split_first() {
        Some((&ZSTD_JSON, rest)) => {
            let json = zdict::unpack_tagged(&zdict::LISTS, rest).context("stored findings")?;
            String::from_utf8(json).context("stored findings: not UTF-8")
        }
        Some((&DEFLATED_JSON, deflated)) => {
            let json = crate::deflate::inflate(deflated).context("stored findings")?;
            String::from_utf8(json).context("stored findings: not UTF-8")
        }
        other => anyhow::bail!(
            "stored findings have an unknown format (tag {:?})",
            other.map(|(tag, _)| tag)
        ),
    }
}

/// The findings lists not packed yet, a batch of them (through the partial index
/// `host_findings_unpacked` of migration 0039: constant time once every list is packed).
pub(crate) const UNPACKED: &str = "SELECT host_id, findings FROM host_findings WHERE packed IS NULL
     ORDER BY host_id LIMIT $1";

/// Packs the findings lists stored before migration 0033, a batch per transaction; returns how
/// many. Safe on several replicas at once (a row is rewritten only while it is not packed).
pub(crate) async fn pack_legacy(pool: &sqlx::AnyPool) -> anyhow::Result<u64> {
    let mut packed = 0;
    loop {
        let rows = sqlx::query(UNPACKED)
            .bind(PACK_BATCH)
            .fetch_all(pool)
            .await
            .context("reading findings lists to pack")?;
        if rows.is_empty() {
            return Ok(packed);
        }
        let mut tx = pool.begin().await.context("packing findings lists")?;
        for row in &rows {
            let host: String = row.try_get("host_id")?;
            let json: String = row.try_get("findings")?;
            sqlx::query(
                "UPDATE host_findings SET packed = $1, findings = ''
                 WHERE host_id = $2 AND packed IS NULL",
            )
            .bind(pack(&json)?)
            .bind(&host)
            .execute(&mut *tx)
            .await
            .with_context(|| format!("packing the findings of host {host}"))?;
            packed += 1;
        }
        tx.commit().await.context("committing packed findings")?;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_packed_forms_read_back() {
        let json =
            r#"[{"binary":"libssl3","summary":"中文 \"x\"","deadline":"2026-01-02T03:04:05Z"}]"#;
        let packed = pack(json).unwrap();
        assert_eq!(packed[..2], [ZSTD_JSON, 1]);
        assert_eq!(unpack_bytes(&packed).unwrap(), json);
        let deflated =
            crate::deflate::deflate(DEFLATED_JSON, json.as_bytes(), flate2::Compression::fast());
        assert_eq!(unpack_bytes(&deflated.unwrap()).unwrap(), json);
        assert!(unpack_bytes(&[ZSTD_JSON, 7, 1, 2]).is_err());
        assert!(unpack_bytes(&[9]).is_err());
    }

    #[test]
    fn a_list_packed_before_the_write_is_the_one_the_write_packs() {
        let json = r#"[{"binary":"curl","tier":"T1"}]"#;
        let given = PackedList::of(json).unwrap();
        // Packed by the thread's kept context, or a new one: the same bytes.
        assert_eq!(given.bytes, pack(json).unwrap());
        let fresh = zdict::Packer::new(&zdict::LISTS)
            .unwrap()
            .pack(json.as_bytes());
        assert_eq!(given.bytes[2..], fresh.unwrap());
        assert_eq!(packed_for(json, Some(&given)).unwrap(), given.bytes);
        // Given for a list of another length: not taken, the list is packed.
        let other = r#"[{"binary":"curl","tier":"T0"},{"binary":"libc6","tier":"T1"}]"#;
        let packed = packed_for(other, Some(&given)).unwrap();
        assert_eq!(unpack_bytes(&packed).unwrap(), other);
        assert_eq!(
            unpack_bytes(&packed_for(other, None).unwrap()).unwrap(),
            other
        );
    }
}
