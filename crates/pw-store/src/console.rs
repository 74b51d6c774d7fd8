//! The operator console's reads at fleet size: hosts and updates to apply, filtered and paged in
//! SQL (migrations 0024 and 0026), never by loading the fleet into memory. The updates to apply
//! and each host's earliest open deadline come from summaries the findings write path keeps
//! (`update_summary.rs`); an update's advisories, packages and hosts from the open findings.
//!
//! The queries are built from pieces with `?` marks, numbered `$1`, `$2`, … when complete
//! ([`crate::db::numbered`]); the few pieces where SQLite and PostgreSQL differ (reading JSON, an
//! index hint) are chosen by [`Dialect`], next to the query that uses them.
//!
//! An update to apply is one package upgrade — the package the advisories are matched on and the
//! version fixing them — with every open finding it resolves, across every host needing it.

use anyhow::Context;
use jiff::Timestamp;
use sqlx::Row;

use crate::controller::{HOST_COLUMNS, HOST_JOINS, HostRow, host_row};
use crate::db::numbered;
use crate::instants::{nanos, optional_instant};
use crate::zdict::{TEXTS, Unpacker, text_columns};
use crate::{Backend, Store};

/// One page: rows `offset..offset + limit` of the ordered result.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PageRequest {
    pub offset: u32,
    pub limit: u32,
}

/// Hosts matching a [`HostFilter`]; every condition set must hold.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct HostFilter {
    /// Only these hosts (a group's or an environment's members, resolved by the caller).
    pub ids: Option<Vec<String>>,
    /// Host name contains this text (case-insensitive).
    pub name: Option<String>,
    /// OS (`debian:12`, …) starts with this text.
    pub os: Option<String>,
    /// Has current findings of this tier (0–4).
    pub tier: Option<u8>,
    /// Has an open finding whose deadline is before this instant.
    pub overdue_at: Option<Timestamp>,
    /// Last seen at or after this instant.
    pub seen_after: Option<Timestamp>,
    /// Last seen before this instant, or never.
    pub silent_since: Option<Timestamp>,
}

/// A page of hosts and how many match in all.
#[derive(Debug, Clone, PartialEq)]
pub struct HostPage {
    pub total: u64,
    pub hosts: Vec<HostRow>,
}

/// Updates matching an [`UpdateFilter`].
#[derive(Debug, Clone, Default, PartialEq)]
pub struct UpdateFilter {
    /// The update's most urgent tier is this one (0–4).
    pub tier: Option<u8>,
    /// The update's earliest deadline is before this instant.
    pub overdue_at: Option<Timestamp>,
    /// An advisory id or alias (a CVE id) the update fixes, exactly (case-insensitive).
    pub advisory: Option<String>,
    /// Package name contains this text.
    pub package: Option<String>,
    /// One of its advisories is in CISA KEV.
    pub kev_only: bool,
}

/// One update to apply, aggregated over its open findings.
#[derive(Debug, Clone, PartialEq)]
pub struct UpdateRow {
    pub package: String,
    /// `None`: no fixed version exists yet.
    pub fixed: Option<String>,
    pub tier: u8,
    pub deadline: Option<Timestamp>,
    pub hosts: u64,
    pub findings: u64,
    pub kev: bool,
    pub epss: Option<f64>,
}

/// A page of updates and how many match in all.
#[derive(Debug, Clone, PartialEq)]
pub struct UpdatePage {
    pub total: u64,
    pub updates: Vec<UpdateRow>,
}

/// One advisory an update fixes: a stored finding showing it (JSON of `pw_model::Finding`, its
/// text as stored: `deadline` null, since deadlines are per host) and on how many hosts it is
/// open.
#[derive(Debug, Clone, PartialEq)]
pub struct UpdateAdvisory {
    pub advisory: String,
    pub finding: String,
    pub hosts: u64,
}

/// A bound value of a built query.
#[derive(Clone)]
pub(crate) enum Bind {
    Text(String),
    Int(i64),
}

/// `sql` (with `?` marks) numbered and bound.
pub(crate) fn query_with(
    sql: &str,
    binds: Vec<Bind>,
) -> sqlx::query::Query<'static, sqlx::Any, sqlx::any::AnyArguments> {
    let mut query = sqlx::query(sqlx::AssertSqlSafe(numbered(sql)));
    for bind in binds {
        query = match bind {
            Bind::Text(text) => query.bind(text),
            Bind::Int(n) => query.bind(n),
        };
    }
    query
}

/// The update `u` has an open finding of an advisory known by the name bound at each of the
/// three `?`: the packages of those advisories' texts first (by index), then the exact update —
/// one of its texts of those advisories is open on one of its hosts (`open_update_hosts`): that
/// host's episode of one of the advisories' finding keys (read once per statement, a scan of
/// `finding_keys`) by the primary key names the text (the open set has no index by text since
/// migration 0046). The first such episode found ends the look.
pub(crate) const FIXES_ADVISORY: &str = "u.package IN (SELECT k.package FROM finding_texts t
       JOIN update_keys k ON k.id = t.update_key
       WHERE t.advisory IN (SELECT a.advisory FROM advisory_aliases a WHERE a.alias = ?))
     AND EXISTS (SELECT 1 FROM update_keys k CROSS JOIN finding_texts t
       CROSS JOIN open_update_hosts uh CROSS JOIN open_episodes o
       WHERE k.package = u.package AND k.fixed = u.fixed AND t.update_key = k.id
         AND t.advisory IN (SELECT a.advisory FROM advisory_aliases a WHERE a.alias = ?)
         AND uh.update_key = k.id AND o.host_key = uh.host_key
         AND o.key_id IN (SELECT f.id FROM finding_keys f
           WHERE f.advisory IN (SELECT a.advisory FROM advisory_aliases a WHERE a.alias = ?))
         AND o.text_id = t.id)";

/// The SQL pieces that differ between the backends.
struct Dialect(Backend);

impl Dialect {
    /// The text values of the JSON array bound at `?`.
    fn json_texts(&self) -> &'static str {
        match self.0 {
            Backend::Sqlite => "SELECT value FROM json_each(?)",
            Backend::Postgres => "SELECT jsonb_array_elements_text(CAST(? AS jsonb))",
        }
    }

    /// The host's number of findings of the tier bound at `?` (0 when it has none).
    fn tier_count(&self) -> &'static str {
        match self.0 {
            Backend::Sqlite => "coalesce(json_extract(f.tier_counts, '$[' || ? || ']'), 0)",
            Backend::Postgres => {
                "coalesce(CAST(CAST(f.tier_counts AS jsonb) ->> CAST(? AS integer) AS bigint), 0)"
            }
        }
    }
}

/// `LIKE` text matching `text` literally somewhere (`\` escapes).
fn like_containing(text: &str) -> String {
    let escaped = text
        .replace('\\', "\\\\")
        .replace('%', "\\%")
        .replace('_', "\\_");
    format!("%{escaped}%")
}

impl Store {
    /// Hosts matching `filter`, by host name, one page of them.
    pub async fn host_page(
        &self,
        filter: &HostFilter,
        page: PageRequest,
    ) -> anyhow::Result<HostPage> {
        let dialect = Dialect(self.backend());
        let ids_in = format!("h.id IN ({})", dialect.json_texts());
        let tier_in = format!("{} > 0", dialect.tier_count());
        let mut conditions: Vec<&str> = Vec::new();
        let mut binds = Vec::new();
        if let Some(ids) = &filter.ids {
            conditions.push(&ids_in);
            binds.push(Bind::Text(serde_json::to_string(ids)?));
        }
        if let Some(name) = &filter.name {
            conditions.push("lower(h.hostname) LIKE lower(?) ESCAPE '\\'");
            binds.push(Bind::Text(like_containing(name)));
        }
        if let Some(os) = &filter.os {
            conditions.push("lower(h.os) LIKE lower(?) ESCAPE '\\'");
            let prefix = like_containing(os);
            binds.push(Bind::Text(prefix[1..].to_owned()));
        }
        if let Some(tier) = filter.tier {
            conditions.push(&tier_in);
            binds.push(Bind::Int(i64::from(tier)));
        }
        if let Some(at) = filter.overdue_at {
            conditions.push("f.earliest_deadline < ?");
            binds.push(Bind::Int(nanos(at)));
        }
        if let Some(at) = filter.seen_after {
            conditions.push("h.last_seen_at >= ?");
            binds.push(Bind::Text(at.to_string()));
        }
        if let Some(at) = filter.silent_since {
            conditions.push("(h.last_seen_at IS NULL OR h.last_seen_at < ?)");
            binds.push(Bind::Text(at.to_string()));
        }
        let filter_sql = if conditions.is_empty() {
            String::new()
        } else {
            format!(" WHERE {}", conditions.join(" AND "))
        };
        // The page's ids first, in name order from `hosts_by_name` (the filters read only the
        // hosts row and `host_findings_console`), then the page's 50 rows joined: a page deep
        // in the fleet no longer sorts every host's joined row before skipping.
        let sql = format!(
            "SELECT {HOST_COLUMNS}, counted.total FROM (SELECT h.id FROM hosts h
               LEFT JOIN host_findings f ON f.host_id = h.id{filter_sql}
               ORDER BY h.hostname, h.id LIMIT ? OFFSET ?) AS page
             JOIN hosts h ON h.id = page.id{HOST_JOINS},
             (SELECT COUNT(*) AS total FROM hosts h
               LEFT JOIN host_findings f ON f.host_id = h.id{filter_sql}) AS counted
             ORDER BY h.hostname, h.id"
        );
        // The filter appears twice: once for the page, once for the count.
        let mut doubled = binds.clone();
        doubled.push(Bind::Int(i64::from(page.limit)));
        doubled.push(Bind::Int(i64::from(page.offset)));
        doubled.extend(binds.iter().cloned());
        let rows = query_with(&sql, doubled)
            .fetch_all(self.pool())
            .await
            .context("listing a page of hosts")?;
        let total = match rows.first() {
            Some(row) => row.try_get::<i64, _>("total")? as u64,
            None => self.host_count_matching(&filter_sql, binds).await?,
        };
        let hosts = rows.iter().map(host_row).collect::<anyhow::Result<_>>()?;
        Ok(HostPage { total, hosts })
    }

    /// How many hosts match (a page past the end has no row to carry the count).
    async fn host_count_matching(&self, filter_sql: &str, binds: Vec<Bind>) -> anyhow::Result<u64> {
        let sql = format!(
            "SELECT COUNT(*) FROM hosts h LEFT JOIN host_findings f ON f.host_id = h.id{filter_sql}"
        );
        let row = query_with(&sql, binds)
            .fetch_one(self.pool())
            .await
            .context("counting hosts")?;
        Ok(row.try_get::<i64, _>(0)? as u64)
    }

    /// Updates to apply matching `filter`, most urgent first (tier, earliest deadline, package),
    /// one page of them, from the summary of open updates (`open_updates`).
    pub async fn update_page(
        &self,
        filter: &UpdateFilter,
        page: PageRequest,
    ) -> anyhow::Result<UpdatePage> {
        let mut conditions: Vec<&str> = Vec::new();
        let mut binds = Vec::new();
        if let Some(package) = &filter.package {
            conditions.push("lower(u.package) LIKE lower(?) ESCAPE '\\'");
            binds.push(Bind::Text(like_containing(package)));
        }
        if let Some(advisory) = &filter.advisory {
            // The update fixes it: one of its open findings is of an advisory known by that
            // name (advisory_aliases, by index).
            conditions.push(FIXES_ADVISORY);
            let wanted = advisory.trim().to_ascii_uppercase();
            binds.extend([(); 3].map(|()| Bind::Text(wanted.clone())));
        }
        if let Some(tier) = filter.tier {
            conditions.push("u.tier = ?");
            binds.push(Bind::Int(i64::from(tier)));
        }
        if let Some(at) = filter.overdue_at {
            conditions.push("u.deadline < ?");
            binds.push(Bind::Int(nanos(at)));
        }
        if filter.kev_only {
            conditions.push("u.kev = 1");
        }
        let where_sql = if conditions.is_empty() {
            String::new()
        } else {
            format!(" WHERE {}", conditions.join(" AND "))
        };
        let sql = format!(
            "SELECT u.package, u.fixed, u.tier, u.deadline, u.hosts, u.findings, u.kev, u.epss,
                    COUNT(*) OVER () AS total
             FROM open_updates u{where_sql}
             ORDER BY u.tier, u.deadline IS NULL, u.deadline, u.package, u.fixed
             LIMIT ? OFFSET ?"
        );
        binds.push(Bind::Int(i64::from(page.limit)));
        binds.push(Bind::Int(i64::from(page.offset)));
        let rows = query_with(&sql, binds)
            .fetch_all(self.pool())
            .await
            .context("listing a page of updates")?;
        let total = rows
            .first()
            .map(|r| r.try_get::<i64, _>("total"))
            .transpose()?
            .unwrap_or(0) as u64;
        let updates = rows
            .iter()
            .map(|r| {
                let fixed: String = r.try_get("fixed")?;
                Ok(UpdateRow {
                    package: r.try_get("package")?,
                    fixed: (!fixed.is_empty()).then_some(fixed),
                    tier: r.try_get::<i64, _>("tier")? as u8,
                    deadline: optional_instant(r, "deadline")?,
                    hosts: r.try_get::<i64, _>("hosts")? as u64,
                    findings: r.try_get::<i64, _>("findings")? as u64,
                    kev: r.try_get::<i64, _>("kev")? != 0,
                    epss: r.try_get("epss")?,
                })
            })
            .collect::<anyhow::Result<_>>()?;
        Ok(UpdatePage { total, updates })
    }

    /// The advisories each of `updates` fixes, by id, in the order of `updates`: one statement
    /// per [`UPDATES_PER_STATEMENT`] updates (a console page's 50), reading the open episodes
    /// of the hosts needing them ([`advisories_sql`]); each advisory shown by its first
    /// stored text (without a host's deadline: the update's row carries the earliest).
    pub async fn updates_advisories(
        &self,
        updates: &[UpdateKey<'_>],
    ) -> anyhow::Result<Vec<Vec<UpdateAdvisory>>> {
        let mut found = vec![Vec::new(); updates.len()];
        let mut unpacker = Unpacker::new(&TEXTS);
        for chunk in chunks(updates) {
            let (sql, binds) = advisories_sql(chunk.keys);
            let rows = query_with(&sql, binds)
                .fetch_all(self.pool())
                .await
                .context("reading the advisories of a page of updates")?;
            for r in &rows {
                let advisory = UpdateAdvisory {
                    advisory: r.try_get("advisory")?,
                    finding: unpacker.text_of_row(r)?,
                    hosts: r.try_get::<i64, _>("hosts")? as u64,
                };
                chunk.place(r, &mut found, advisory)?;
            }
        }
        Ok(found)
    }

    /// The installed (binary) packages one update upgrades, by name.
    pub async fn update_binaries(
        &self,
        package: &str,
        fixed: Option<&str>,
    ) -> anyhow::Result<Vec<String>> {
        self.updates_binaries(&[(package, fixed)])
            .await
            .with_context(|| format!("reading the packages of the update of {package}"))
    }

    /// The installed (binary) packages any of `updates` upgrades, by name: one statement per
    /// [`UPDATES_PER_STATEMENT`] updates, reading the open episodes of the hosts needing them
    /// ([`binaries_sql`]).
    pub async fn updates_binaries(&self, updates: &[UpdateKey<'_>]) -> anyhow::Result<Vec<String>> {
        let mut binaries = Vec::new();
        for chunk in chunks(updates) {
            let (sql, binds) = binaries_sql(chunk.keys);
            let rows: Vec<String> = query_with(&sql, binds)
                .fetch_all(self.pool())
                .await
                .context("reading the packages of updates")?
                .iter()
                .map(|r| r.try_get(0))
                .collect::<Result<_, _>>()?;
            binaries.extend(rows);
        }
        binaries.sort();
        binaries.dedup();
        Ok(binaries)
    }

    /// The hosts needing each of `updates`, `(id, host name)` by name, at most `limit` each, in
    /// the order of `updates`: from the per-host update summary (`open_update_hosts`, one row per
    /// host and update, keyed by integers since 0043), one statement per
    /// [`UPDATES_PER_STATEMENT`] updates.
    pub async fn updates_hosts(
        &self,
        updates: &[UpdateKey<'_>],
        limit: u32,
    ) -> anyhow::Result<Vec<Vec<(String, String)>>> {
        let mut found = vec![Vec::new(); updates.len()];
        for chunk in chunks(updates) {
            let (condition, mut binds) = updates_condition("k", chunk.keys);
            binds.push(Bind::Int(i64::from(limit)));
            let sql = format!(
                "SELECT package, fixed, id, hostname FROM
                   (SELECT k.package, k.fixed, h.id, h.hostname, ROW_NUMBER() OVER
                      (PARTITION BY k.package, k.fixed ORDER BY h.hostname, h.id) AS n
                    FROM update_keys k
                    JOIN open_update_hosts o ON o.update_key = k.id
                    JOIN finding_hosts fh ON fh.key = o.host_key
                    JOIN hosts h ON h.id = fh.host_id
                    WHERE {condition}) AS ranked
                 WHERE n <= ? ORDER BY package, fixed, n"
            );
            let rows = query_with(&sql, binds)
                .fetch_all(self.pool())
                .await
                .context("reading the hosts needing a page of updates")?;
            for r in &rows {
                let host = (r.try_get("id")?, r.try_get("hostname")?);
                chunk.place(r, &mut found, host)?;
            }
        }
        Ok(found)
    }
}

/// An update: its package and fixed version (`None`: no fixed version exists yet).
pub type UpdateKey<'a> = (&'a str, Option<&'a str>);

/// The most updates one statement names (two parameters each: SQLite finds a `$N` parameter by
/// a linear search, findings_write.rs).
const UPDATES_PER_STATEMENT: usize = 50;

/// Some of the updates asked for, and where each stands in the whole request.
struct Chunk<'k, 'a> {
    keys: &'k [UpdateKey<'a>],
    first: usize,
}

impl Chunk<'_, '_> {
    /// Appends `value` to the answer of every position asking for the update of row `r`
    /// (columns `package`, `fixed`).
    fn place<T: Clone>(
        &self,
        r: &sqlx::any::AnyRow,
        found: &mut [Vec<T>],
        value: T,
    ) -> anyhow::Result<()> {
        let package: String = r.try_get("package")?;
        let fixed: String = r.try_get("fixed")?;
        for (i, (p, f)) in self.keys.iter().enumerate() {
            if *p == package && f.unwrap_or_default() == fixed {
                found[self.first + i].push(value.clone());
            }
        }
        Ok(())
    }
}

fn chunks<'k, 'a>(updates: &'k [UpdateKey<'a>]) -> impl Iterator<Item = Chunk<'k, 'a>> {
    updates
        .chunks(UPDATES_PER_STATEMENT)
        .enumerate()
        .map(|(n, keys)| Chunk {
            keys,
            first: n * UPDATES_PER_STATEMENT,
        })
}

/// The hosts needing any of `updates` (`h.host_key`, each once), and the binds: from the
/// per-host update summary (`open_update_hosts`, by its indexes on the update's key). The open
/// set has no index by text since migration 0046: a read of the updates' open episodes reads
/// these hosts' by the primary key, at most one pass over the open set however many updates.
fn hosts_of_updates(updates: &[UpdateKey<'_>]) -> (String, Vec<Bind>) {
    let (hosts_of, binds) = updates_condition("n", updates);
    let sql = format!(
        "(SELECT DISTINCT uh.host_key FROM update_keys n
           JOIN open_update_hosts uh ON uh.update_key = n.id WHERE {hosts_of}) AS h"
    );
    (sql, binds)
}

/// The statement of [`Store::updates_advisories`] for `updates` (at most
/// [`UPDATES_PER_STATEMENT`]), and its binds: the open episodes of the hosts needing them
/// ([`hosts_of_updates`]) by the primary key, those with one of the updates' texts (a set read
/// once) kept and counted per update and advisory (each text by its integer key).
pub(crate) fn advisories_sql(updates: &[UpdateKey<'_>]) -> (String, Vec<Bind>) {
    let (hosts, mut binds) = hosts_of_updates(updates);
    let (texts_of, texts_binds) = updates_condition("m", updates);
    binds.extend(texts_binds);
    let sql = format!(
        "SELECT k.package, k.fixed, g.advisory, g.hosts, {}
         FROM (SELECT t.update_key, t.advisory, COUNT(DISTINCT o.host_key) AS hosts,
                      MIN(t.id) AS text_id
               FROM {hosts} CROSS JOIN open_episodes o CROSS JOIN finding_texts t
               WHERE o.host_key = h.host_key AND o.text_id IN (SELECT x.id FROM update_keys m
                   JOIN finding_texts x ON x.update_key = m.id WHERE {texts_of})
                 AND t.id = o.text_id
               GROUP BY t.update_key, t.advisory) AS g
         JOIN update_keys k ON k.id = g.update_key
         JOIN finding_texts x ON x.id = g.text_id
         ORDER BY k.package, k.fixed, g.advisory",
        text_columns("x"),
    );
    (sql, binds)
}

/// The statement of [`Store::updates_binaries`] for `updates` (at most
/// [`UPDATES_PER_STATEMENT`]), and its binds: the finding keys of the open episodes of the hosts
/// needing them ([`hosts_of_updates`]) whose texts name one of them.
pub(crate) fn binaries_sql(updates: &[UpdateKey<'_>]) -> (String, Vec<Bind>) {
    let (hosts, mut binds) = hosts_of_updates(updates);
    let (texts_of, texts_binds) = updates_condition("m", updates);
    binds.extend(texts_binds);
    let sql = format!(
        "SELECT DISTINCT f.binary_name FROM finding_keys f
         WHERE f.id IN (SELECT o.key_id FROM {hosts} CROSS JOIN open_episodes o
           WHERE o.host_key = h.host_key AND o.text_id IN (SELECT x.id FROM update_keys m
             JOIN finding_texts x ON x.update_key = m.id WHERE {texts_of}))
         ORDER BY f.binary_name"
    );
    (sql, binds)
}

/// `(A.package = ? AND A.fixed = ?) OR …` for each update (`A` the table's alias), and its binds.
fn updates_condition(alias: &str, updates: &[UpdateKey<'_>]) -> (String, Vec<Bind>) {
    let condition = updates
        .iter()
        .map(|_| format!("({alias}.package = ? AND {alias}.fixed = ?)"))
        .collect::<Vec<_>>()
        .join(" OR ");
    let binds = updates
        .iter()
        .flat_map(|(package, fixed)| {
            [
                Bind::Text((*package).to_owned()),
                Bind::Text(fixed.unwrap_or_default().to_owned()),
            ]
        })
        .collect();
    (condition, binds)
}

/// Audit records matching every condition set.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuditFilter {
    /// The operator (or `controller`, `agent:…`) exactly.
    pub actor: Option<String>,
    /// The action starts with this text (`plan.`, `rollout.paused`).
    pub action: Option<String>,
    /// The subject (a host, plan or rollout id) exactly.
    pub subject: Option<String>,
}

impl Store {
    /// Up to `limit` audit records matching `filter` older than `before` (a `seq`; the newest
    /// when `None`), newest first.
    pub async fn audit_filtered(
        &self,
        filter: &AuditFilter,
        before: Option<i64>,
        limit: u32,
    ) -> anyhow::Result<Vec<crate::AuditRecord>> {
        let mut sql = String::from("SELECT * FROM audit WHERE seq < ?");
        let mut binds = vec![Bind::Int(before.unwrap_or(i64::MAX))];
        if let Some(actor) = &filter.actor {
            sql.push_str(" AND actor = ?");
            binds.push(Bind::Text(actor.clone()));
        }
        if let Some(action) = &filter.action {
            sql.push_str(" AND lower(action) LIKE lower(?) ESCAPE '\\'");
            let pattern = like_containing(action);
            binds.push(Bind::Text(pattern[1..].to_owned()));
        }
        if let Some(subject) = &filter.subject {
            sql.push_str(" AND subject = ?");
            binds.push(Bind::Text(subject.clone()));
        }
        sql.push_str(" ORDER BY seq DESC LIMIT ?");
        binds.push(Bind::Int(i64::from(limit)));
        let rows = query_with(&sql, binds)
            .fetch_all(self.pool())
            .await
            .context("reading audit records")?;
        rows.iter().map(crate::audit::audit_record).collect()
    }
}
