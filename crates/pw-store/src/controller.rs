//! Controller tables: hosts, agent identities, enrollment tokens, inventories, findings, commands.
//!
//! Every write that matters to an auditor appends its audit record in the same transaction
//! (begun IMMEDIATE, so the chain never forks). JSON columns hold serialized `pw-protocol` /
//! `pw-model` values; this crate stores them as text and never interprets them.

use anyhow::Context;
use jiff::Timestamp;
use sqlx::Row;
use sqlx::any::AnyRow;

use crate::audit::{AuditEntry, append};
use crate::{Store, optional_time, parse_time};

/// Why a token cannot be redeemed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenProblem {
    Unknown,
    AlreadyUsed,
    Expired,
    /// The operator who issued it was revoked.
    Revoked,
}

/// A host about to be enrolled, with the identity (client certificate) it receives.
#[derive(Debug, Clone)]
pub struct NewHost<'a> {
    pub id: &'a str,
    pub hostname: &'a str,
    /// SHA-256 (hex) of the signed client certificate's DER.
    pub fingerprint: &'a str,
    pub not_after: Timestamp,
}

/// A host with what is known of it.
#[derive(Debug, Clone, PartialEq)]
pub struct HostRow {
    pub id: String,
    pub hostname: String,
    pub enrolled_at: Timestamp,
    pub last_seen_at: Option<Timestamp>,
    pub agent_version: Option<String>,
    pub read_only: bool,
    /// A read-only agent that accepts `apply_change` of approved plans.
    pub plan_changes: bool,
    pub os: Option<String>,
    pub package_count: usize,
    pub reboot_required: bool,
    /// JSON `[t0, t1, t2, t3, t4]`, when findings were computed.
    pub tier_counts: Option<String>,
    /// Labels its agent reports (`--label KEY=VALUE`).
    pub labels: std::collections::BTreeMap<String, String>,
}

/// The last inventory of a host: its facts and its content (pw-protocol's
/// `InventoryContent`: one package per name × architecture, in key order).
#[derive(Debug, Clone, PartialEq)]
pub struct InventoryRow {
    pub facts: InventoryFacts,
    pub packages: Vec<pw_model::InstalledPackage>,
    /// The installed changelogs' history; `None` when not collected (migration 0015).
    pub backport_history: Option<pw_protocol::BackportHistory>,
}

/// What an inventory report says besides its content (sent whole in full and delta reports).
#[derive(Debug, Clone, PartialEq)]
pub struct InventoryFacts {
    pub collected_at: Timestamp,
    pub os: String,
    pub reboot_required: bool,
    /// JSON list of package names.
    pub reboot_required_by: String,
    /// JSON of `pw_protocol::RestartStatus`; `None` when the agent did not report it
    /// (migration 0011).
    pub restart: Option<String>,
}

/// One upgrade offered by the host's package manager.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PendingRow {
    pub package: String,
    pub arch: String,
    pub from_version: String,
    pub to_version: String,
    pub origin: String,
    pub suite: String,
    /// JSON array of the CVE ids the candidate's changelog names beyond the installed version;
    /// `None` when unknown.
    pub cves: Option<String>,
}

impl PendingRow {
    /// A reported pending update as stored (its CVEs as JSON): the one conversion from the
    /// wire form.
    pub fn from_update(update: &pw_protocol::PendingUpdate) -> anyhow::Result<PendingRow> {
        Ok(PendingRow {
            package: update.package.clone(),
            arch: update.arch.clone(),
            from_version: update.from_version.clone(),
            to_version: update.to_version.clone(),
            origin: update.origin.clone(),
            suite: update.suite.clone(),
            cves: update
                .cves
                .as_ref()
                .map(serde_json::to_string)
                .transpose()?,
        })
    }
}

/// A stored pending update as the API, the page and the console show it (unreadable CVEs
/// read as unknown).
impl From<PendingRow> for pw_protocol::PendingUpdate {
    fn from(row: PendingRow) -> Self {
        pw_protocol::PendingUpdate {
            package: row.package,
            arch: row.arch,
            from_version: row.from_version,
            to_version: row.to_version,
            origin: row.origin,
            suite: row.suite,
            cves: row.cves.and_then(|text| serde_json::from_str(&text).ok()),
        }
    }
}

/// Findings computed for one host.
#[derive(Debug, Clone, PartialEq)]
pub struct FindingsRow {
    pub host_id: String,
    pub hostname: String,
    pub computed_at: Timestamp,
    pub source: String,
    /// JSON list of `pw_model::Finding`, ranked.
    pub findings: String,
}

/// A command as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommandRow {
    pub id: String,
    pub host_id: String,
    pub kind: String,
    /// JSON of `pw_protocol::Command`.
    pub payload: String,
    pub state: CommandState,
    pub created_at: String,
    pub finished_at: Option<String>,
    pub result_message: Option<String>,
}

/// Where a command is: queued, delivered to the agent's long-poll (handed out again until it
/// finishes; the agent dedups by id), then finished once with the agent's status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CommandState {
    Queued,
    Delivered,
    Succeeded,
    Failed,
    /// Not run at all (a read-only agent, an unsupported command).
    Refused,
}

impl CommandState {
    /// The stored (and shown) name.
    pub fn as_str(self) -> &'static str {
        match self {
            CommandState::Queued => "queued",
            CommandState::Delivered => "delivered",
            CommandState::Succeeded => "succeeded",
            CommandState::Failed => "failed",
            CommandState::Refused => "refused",
        }
    }

    /// Reads a stored name; anything else is an error naming it.
    pub fn parse(text: &str) -> anyhow::Result<CommandState> {
        Ok(match text {
            "queued" => CommandState::Queued,
            "delivered" => CommandState::Delivered,
            "succeeded" => CommandState::Succeeded,
            "failed" => CommandState::Failed,
            "refused" => CommandState::Refused,
            other => anyhow::bail!("unknown command state {other:?}"),
        })
    }

    /// Not finished yet (queued or delivered).
    pub fn is_open(self) -> bool {
        matches!(self, CommandState::Queued | CommandState::Delivered)
    }
}

impl From<pw_protocol::CommandStatus> for CommandState {
    fn from(status: pw_protocol::CommandStatus) -> CommandState {
        match status {
            pw_protocol::CommandStatus::Succeeded => CommandState::Succeeded,
            pw_protocol::CommandStatus::Failed => CommandState::Failed,
            pw_protocol::CommandStatus::Refused => CommandState::Refused,
        }
    }
}

/// What recording a command result did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FinishOutcome {
    Recorded,
    /// The command had already finished; the first result stands.
    AlreadyFinished {
        state: CommandState,
    },
    NotFound,
}

impl Store {
    /// Stores a new enrollment token (only its SHA-256) and audits it.
    pub async fn create_enrollment_token(
        &self,
        id: &str,
        token_sha256: &str,
        expires_at: Timestamp,
        note: Option<&str>,
        actor: &str,
    ) -> anyhow::Result<()> {
        let mut tx = self.begin_immediate().await?;
        sqlx::query(
            "INSERT INTO enrollment_tokens (id, token_sha256, created_at, expires_at, note, created_by)
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(id)
        .bind(token_sha256)
        .bind(Timestamp::now().to_string())
        .bind(expires_at.to_string())
        .bind(note)
        .bind(actor)
        .execute(&mut *tx)
        .await
        .context("storing the enrollment token")?;
        let details = serde_json::json!({ "expires_at": expires_at.to_string(), "note": note });
        let entry = AuditEntry {
            actor,
            action: "enrollment_token.created",
            subject: id,
            details,
        };
        append(&mut tx, &entry).await?;
        tx.commit().await.context("committing the enrollment token")
    }

    /// Redeems a token for a new host and its identity, all in one transaction. Returns the
    /// problem instead when the token is unknown, used or expired (nothing is written then).
    pub async fn enroll(
        &self,
        token_sha256: &str,
        now: Timestamp,
        host: &NewHost<'_>,
    ) -> anyhow::Result<Result<(), TokenProblem>> {
        let mut tx = self.begin_immediate().await?;
        let row = sqlx::query(
            "SELECT id, expires_at, used_at, revoked_at FROM enrollment_tokens
             WHERE token_sha256 = $1",
        )
        .bind(token_sha256)
        .fetch_optional(&mut *tx)
        .await
        .context("looking up the enrollment token")?;
        let Some(row) = row else {
            return Ok(Err(TokenProblem::Unknown));
        };
        if row.try_get::<Option<String>, _>("used_at")?.is_some() {
            return Ok(Err(TokenProblem::AlreadyUsed));
        }
        if row.try_get::<Option<String>, _>("revoked_at")?.is_some() {
            return Ok(Err(TokenProblem::Revoked));
        }
        if parse_time(&row.try_get::<String, _>("expires_at")?)? <= now {
            return Ok(Err(TokenProblem::Expired));
        }
        let token_id: String = row.try_get("id")?;
        let now_text = now.to_string();
        sqlx::query("INSERT INTO hosts (id, hostname, enrolled_at) VALUES ($1, $2, $3)")
            .bind(host.id)
            .bind(host.hostname)
            .bind(&now_text)
            .execute(&mut *tx)
            .await
            .with_context(|| format!("storing host {}", host.id))?;
        sqlx::query(
            "INSERT INTO agent_identities (fingerprint, host_id, issued_at, not_after)
             VALUES ($1, $2, $3, $4)",
        )
        .bind(host.fingerprint)
        .bind(host.id)
        .bind(&now_text)
        .bind(host.not_after.to_string())
        .execute(&mut *tx)
        .await
        .context("storing the agent identity")?;
        sqlx::query("UPDATE enrollment_tokens SET used_at = $1, used_by_host = $2 WHERE id = $3")
            .bind(&now_text)
            .bind(host.id)
            .bind(&token_id)
            .execute(&mut *tx)
            .await
            .context("marking the enrollment token used")?;
        let details = serde_json::json!({
            "hostname": host.hostname,
            "token_id": token_id,
            "certificate_sha256": host.fingerprint,
        });
        let entry = AuditEntry {
            actor: "controller",
            action: "host.enrolled",
            subject: host.id,
            details,
        };
        append(&mut tx, &entry).await?;
        tx.commit().await.context("committing the enrollment")?;
        Ok(Ok(()))
    }

    /// The host a client certificate (by SHA-256 of its DER) belongs to, unless revoked.
    pub async fn host_by_fingerprint(&self, fingerprint: &str) -> anyhow::Result<Option<String>> {
        let row = sqlx::query(
            "SELECT host_id FROM agent_identities WHERE fingerprint = $1 AND revoked_at IS NULL",
        )
        .bind(fingerprint)
        .fetch_optional(self.pool())
        .await
        .context("looking up the agent identity")?;
        Ok(row.map(|r| r.try_get("host_id")).transpose()?)
    }

    /// Every identity not revoked: (fingerprint, host).
    pub async fn agent_identities(&self) -> anyhow::Result<Vec<(String, String)>> {
        let rows = sqlx::query(
            "SELECT fingerprint, host_id FROM agent_identities WHERE revoked_at IS NULL",
        )
        .fetch_all(self.pool())
        .await
        .context("reading the agent identities")?;
        rows.iter()
            .map(|r| Ok((r.try_get("fingerprint")?, r.try_get("host_id")?)))
            .collect()
    }

    /// Every host, by hostname.
    pub async fn hosts(&self) -> anyhow::Result<Vec<HostRow>> {
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "{HOST_SELECT} ORDER BY h.hostname, h.id"
        )))
        .fetch_all(self.pool())
        .await
        .context("listing hosts")?;
        rows.iter().map(host_row).collect()
    }

    /// One host, if enrolled.
    pub async fn host(&self, id: &str) -> anyhow::Result<Option<HostRow>> {
        let row = sqlx::query(sqlx::AssertSqlSafe(format!(
            "{HOST_SELECT} WHERE h.id = $1"
        )))
        .bind(id)
        .fetch_optional(self.pool())
        .await
        .with_context(|| format!("reading host {id}"))?;
        row.as_ref().map(host_row).transpose()
    }

    /// The host's last inventory, if any (its package list decompressed and parsed).
    pub async fn inventory(&self, host_id: &str) -> anyhow::Result<Option<InventoryRow>> {
        Ok(self
            .inventory_with_digest(host_id)
            .await?
            .map(|(row, _)| row))
    }

    /// [`Store::inventory`] with the stored content's digest (pw-protocol's
    /// `InventoryContent::digest` of its packages and history; `None` in a row not converted
    /// since migration 0034): what a scan digests into its ranking's basis instead of the
    /// package list.
    pub async fn inventory_with_digest(
        &self,
        host_id: &str,
    ) -> anyhow::Result<Option<(InventoryRow, Option<String>)>> {
        let row = sqlx::query(
            "SELECT collected_at, os, packages, reboot_required, reboot_required_by, restart,
                    backport_history, digest
               FROM inventories WHERE host_id = $1",
        )
        .bind(host_id)
        .fetch_optional(self.pool())
        .await
        .with_context(|| format!("reading the inventory of host {host_id}"))?;
        row.map(|r| crate::inventory_codec::inventory_of_row(&r, host_id))
            .transpose()
    }

    /// Every host's pending updates by host id; hosts whose agent did not report them (or
    /// with no inventory) are absent. One read for a whole fleet (plans of a group).
    pub async fn all_pending_updates(
        &self,
    ) -> anyhow::Result<std::collections::HashMap<String, Vec<PendingRow>>> {
        let reported: Vec<String> =
            sqlx::query_scalar("SELECT host_id FROM inventories WHERE pending_reported = 1")
                .fetch_all(self.pool())
                .await
                .context("reading the inventories")?;
        let mut out: std::collections::HashMap<String, Vec<PendingRow>> =
            reported.into_iter().map(|h| (h, Vec::new())).collect();
        let rows = sqlx::query("SELECT * FROM pending_updates ORDER BY host_id, package")
            .fetch_all(self.pool())
            .await
            .context("reading pending updates")?;
        for row in &rows {
            let host: String = row.try_get("host_id")?;
            if let Some(list) = out.get_mut(&host) {
                list.push(pending_row(row)?);
            }
        }
        Ok(out)
    }

    /// The host's pending updates, or `None` when its agent did not report them.
    pub async fn pending_updates(&self, host_id: &str) -> anyhow::Result<Option<Vec<PendingRow>>> {
        let reported = sqlx::query("SELECT pending_reported FROM inventories WHERE host_id = $1")
            .bind(host_id)
            .fetch_optional(self.pool())
            .await
            .context("reading the inventory")?
            .map(|r| crate::flag(&r, "pending_reported"))
            .transpose()?
            .unwrap_or(false);
        if !reported {
            return Ok(None);
        }
        let rows = sqlx::query("SELECT * FROM pending_updates WHERE host_id = $1 ORDER BY package")
            .bind(host_id)
            .fetch_all(self.pool())
            .await
            .context("reading pending updates")?;
        let updates = rows
            .iter()
            .map(pending_row)
            .collect::<anyhow::Result<_>>()?;
        Ok(Some(updates))
    }

    /// Findings of one host (`Some(None)`-like: `None` when never computed).
    pub async fn findings(&self, host_id: &str) -> anyhow::Result<Option<FindingsRow>> {
        let row = sqlx::query(sqlx::AssertSqlSafe(format!(
            "{FINDINGS_SELECT} WHERE f.host_id = $1"
        )))
        .bind(host_id)
        .fetch_optional(self.pool())
        .await
        .with_context(|| format!("reading the findings of host {host_id}"))?;
        row.as_ref().map(findings_row).transpose()
    }

    /// Findings of these hosts by host id (hosts never computed are absent); read in chunks of
    /// 500 hosts.
    pub async fn findings_of(
        &self,
        host_ids: &[&str],
    ) -> anyhow::Result<std::collections::HashMap<String, FindingsRow>> {
        let mut out = std::collections::HashMap::with_capacity(host_ids.len());
        for chunk in host_ids.chunks(500) {
            let marks = crate::db::placeholders(1, chunk.len());
            let sql = format!("{FINDINGS_SELECT} WHERE f.host_id IN ({marks})");
            let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
            for host in chunk {
                query = query.bind(*host);
            }
            let rows = query
                .fetch_all(self.pool())
                .await
                .context("reading the findings of hosts")?;
            for row in &rows {
                let row = findings_row(row)?;
                out.insert(row.host_id.clone(), row);
            }
        }
        Ok(out)
    }

    /// Findings of every host.
    pub async fn all_findings(&self) -> anyhow::Result<Vec<FindingsRow>> {
        let rows = sqlx::query(FINDINGS_SELECT)
            .fetch_all(self.pool())
            .await
            .context("reading findings")?;
        rows.iter().map(findings_row).collect()
    }
}

pub(crate) fn pending_row(r: &sqlx::any::AnyRow) -> anyhow::Result<PendingRow> {
    Ok(PendingRow {
        package: r.try_get("package")?,
        arch: r.try_get("arch")?,
        from_version: r.try_get("from_version")?,
        to_version: r.try_get("to_version")?,
        origin: r.try_get("origin")?,
        suite: r.try_get("suite")?,
        cves: r.try_get("cves")?,
    })
}

/// A host's columns as [`host_row`] reads them, over `hosts h` with [`host_joins!`].
macro_rules! host_columns {
    () => {
        "h.*, i.package_count, i.reboot_required, f.tier_counts"
    };
}
/// The joins [`host_columns!`] reads from, after `hosts h`.
macro_rules! host_joins {
    () => {
        "
     LEFT JOIN inventories i ON i.host_id = h.id
     LEFT JOIN host_findings f ON f.host_id = h.id"
    };
}
pub(crate) const HOST_COLUMNS: &str = host_columns!();
pub(crate) const HOST_JOINS: &str = host_joins!();
pub(crate) const HOST_SELECT: &str =
    concat!("SELECT ", host_columns!(), " FROM hosts h", host_joins!());

const FINDINGS_SELECT: &str = "SELECT f.*, h.hostname FROM host_findings f
     JOIN hosts h ON h.id = f.host_id";

pub(crate) fn host_row(row: &AnyRow) -> anyhow::Result<HostRow> {
    let id: String = row.try_get("id")?;
    Ok(HostRow {
        hostname: row.try_get("hostname")?,
        enrolled_at: parse_time(&row.try_get::<String, _>("enrolled_at")?)?,
        last_seen_at: optional_time(row, "last_seen_at")?,
        agent_version: row.try_get("agent_version")?,
        read_only: crate::flag(row, "read_only")?,
        plan_changes: crate::flag(row, "plan_changes")?,
        os: row.try_get("os")?,
        package_count: row.try_get::<Option<i64>, _>("package_count")?.unwrap_or(0) as usize,
        reboot_required: row
            .try_get::<Option<i64>, _>("reboot_required")?
            .map(|v| v != 0)
            .unwrap_or(false),
        tier_counts: row.try_get("tier_counts")?,
        labels: crate::fleet::parse_labels(&row.try_get::<String, _>("labels")?, &id)?,
        id,
    })
}

fn findings_row(row: &AnyRow) -> anyhow::Result<FindingsRow> {
    Ok(FindingsRow {
        host_id: row.try_get("host_id")?,
        hostname: row.try_get("hostname")?,
        computed_at: parse_time(&row.try_get::<String, _>("computed_at")?)?,
        source: row.try_get("source")?,
        findings: crate::findings_packed::unpack(row)?,
    })
}
