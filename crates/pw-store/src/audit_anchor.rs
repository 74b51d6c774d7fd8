//! Anchors of the audit chain outside the database (issue 14.5). The hash chain alone shows
//! that no stored record was changed in place, but not that none was cut off at the end, nor
//! that someone with the file did not rewrite a record and recompute every hash after it.
//!
//! The controller therefore appends, every few seconds while the log grows and at shutdown, a
//! checkpoint line `{"seq", "hash", "at", "mac"}` to a file beside the database
//! (`audit.checkpoints`, JSON lines) and logs it: the head record's number and hash, with an
//! HMAC-SHA256 under a key kept outside the database (`audit.key`, 0600). [`Store::verify_checkpoints`]
//! checks every checkpoint's MAC and that the database still holds record `seq` with exactly
//! that hash: a cut log lacks the record, a recomputed chain has another hash there.
//!
//! What this cannot show: records appended after the last checkpoint (up to one interval, or
//! everything since a crash) may be cut or rewritten unseen; someone who holds the key as well
//! as the database and the checkpoint file can forge all three — copy the checkpoint lines (or
//! the log lines `audit checkpoint`) to a place they cannot write to prove more.

use std::io::{BufRead, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

use anyhow::Context;
use sqlx::Row;

use crate::Store;

/// The HMAC key of the checkpoints.
pub struct AuditKey(ring::hmac::Key);

impl AuditKey {
    /// Reads the key at `path` (64 hex digits), or creates it (0600) when missing.
    pub fn load_or_create(path: &Path) -> anyhow::Result<AuditKey> {
        if !path.exists() {
            let mut bytes = [0u8; 32];
            ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut bytes)
                .map_err(|_| anyhow::anyhow!("the system random generator failed"))?;
            let mut file = std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(path)
                .with_context(|| format!("creating the audit key {}", path.display()))?;
            file.write_all(hex::encode(bytes).as_bytes())
                .and_then(|()| file.sync_all())
                .with_context(|| format!("writing the audit key {}", path.display()))?;
        }
        AuditKey::load(path)
    }

    /// Reads the key at `path`.
    pub fn load(path: &Path) -> anyhow::Result<AuditKey> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("reading the audit key {}", path.display()))?;
        let bytes = hex::decode(text.trim())
            .ok()
            .filter(|b| b.len() == 32)
            .with_context(|| format!("{}: not 64 hex digits", path.display()))?;
        Ok(AuditKey(ring::hmac::Key::new(
            ring::hmac::HMAC_SHA256,
            &bytes,
        )))
    }

    fn message(seq: i64, hash: &str, at: &str) -> String {
        format!("patchwarden audit checkpoint\n{seq}\n{hash}\n{at}")
    }

    fn tag(&self, seq: i64, hash: &str, at: &str) -> String {
        let message = AuditKey::message(seq, hash, at);
        hex::encode(ring::hmac::sign(&self.0, message.as_bytes()).as_ref())
    }

    /// Whether `checkpoint`'s MAC was made with this key (compared in constant time).
    fn signed(&self, checkpoint: &Checkpoint) -> bool {
        let message = AuditKey::message(checkpoint.seq, &checkpoint.hash, &checkpoint.at);
        hex::decode(&checkpoint.mac)
            .is_ok_and(|tag| ring::hmac::verify(&self.0, message.as_bytes(), &tag).is_ok())
    }
}

/// One checkpoint: the head of the chain at `at`, with its MAC.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Checkpoint {
    pub seq: i64,
    pub hash: String,
    pub at: String,
    pub mac: String,
}

/// The outcome of checking the checkpoints against the database.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AnchorCheck {
    /// Every checkpoint is authentic and its record is in the database unchanged.
    Holds { checkpoints: usize, last_seq: i64 },
    /// The first problem, with the checkpoint file's line (1-based).
    Fails { line: usize, reason: String },
}

impl Store {
    /// The number and hash of the newest audit record.
    pub async fn audit_head(&self) -> anyhow::Result<Option<(i64, String)>> {
        let row = sqlx::query("SELECT seq, hash FROM audit ORDER BY seq DESC LIMIT 1")
            .fetch_optional(self.pool())
            .await
            .context("reading the newest audit record")?;
        row.map(|r| anyhow::Ok((r.try_get("seq")?, r.try_get("hash")?)))
            .transpose()
    }

    /// Appends a checkpoint of the current head to `file` (created 0600) unless the last one
    /// there already names it; returns the new checkpoint.
    pub async fn write_checkpoint(
        &self,
        key: &AuditKey,
        file: &Path,
    ) -> anyhow::Result<Option<Checkpoint>> {
        let Some((seq, hash)) = self.audit_head().await? else {
            return Ok(None);
        };
        if read_checkpoints(file)?
            .last()
            .is_some_and(|(_, c)| c.seq == seq)
        {
            return Ok(None);
        }
        let at = jiff::Timestamp::now().to_string();
        let checkpoint = Checkpoint {
            mac: key.tag(seq, &hash, &at),
            seq,
            hash,
            at,
        };
        let mut out = std::fs::OpenOptions::new()
            .append(true)
            .create(true)
            .mode(0o600)
            .open(file)
            .with_context(|| format!("opening {}", file.display()))?;
        let line = serde_json::to_string(&checkpoint).context("writing a checkpoint")?;
        writeln!(out, "{line}")
            .and_then(|()| out.sync_all())
            .with_context(|| format!("appending to {}", file.display()))?;
        Ok(Some(checkpoint))
    }

    /// Checks every checkpoint in `file` against `key` and the database.
    pub async fn verify_checkpoints(
        &self,
        key: &AuditKey,
        file: &Path,
    ) -> anyhow::Result<AnchorCheck> {
        let checkpoints = read_checkpoints(file)?;
        let newest = self.audit_head().await?.map_or(0, |(seq, _)| seq);
        let mut last_seq = 0;
        for (line, checkpoint) in &checkpoints {
            let fail = |reason: String| {
                Ok(AnchorCheck::Fails {
                    line: *line,
                    reason,
                })
            };
            if !key.signed(checkpoint) {
                return fail("its MAC does not hold (forged, altered, or another key)".into());
            }
            if checkpoint.seq < last_seq {
                return fail(format!(
                    "record {} comes after record {last_seq}",
                    checkpoint.seq
                ));
            }
            last_seq = checkpoint.seq;
            let stored: Option<String> =
                sqlx::query_scalar("SELECT hash FROM audit WHERE seq = $1")
                    .bind(checkpoint.seq)
                    .fetch_optional(self.pool())
                    .await
                    .context("reading an audit record")?;
            match stored {
                None => {
                    return fail(format!(
                        "record {} of {} is missing: the log was cut after record {newest}",
                        checkpoint.seq, checkpoint.at
                    ));
                }
                Some(hash) if hash != checkpoint.hash => {
                    return fail(format!(
                        "record {} has another hash than at {} (a record up to it was rewritten \
                         and the chain recomputed)",
                        checkpoint.seq, checkpoint.at
                    ));
                }
                Some(_) => {}
            }
        }
        Ok(AnchorCheck::Holds {
            checkpoints: checkpoints.len(),
            last_seq,
        })
    }
}

/// The checkpoints of `file` with their line numbers; none when it does not exist.
fn read_checkpoints(file: &Path) -> anyhow::Result<Vec<(usize, Checkpoint)>> {
    let text = match std::fs::File::open(file) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e).with_context(|| format!("reading {}", file.display())),
    };
    let mut checkpoints = Vec::new();
    for (index, line) in std::io::BufReader::new(text).lines().enumerate() {
        let line = line.with_context(|| format!("reading {}", file.display()))?;
        if line.trim().is_empty() {
            continue;
        }
        let checkpoint = serde_json::from_str(&line)
            .with_context(|| format!("{}: line {}: not a checkpoint", file.display(), index + 1))?;
        checkpoints.push((index + 1, checkpoint));
    }
    Ok(checkpoints)
}
