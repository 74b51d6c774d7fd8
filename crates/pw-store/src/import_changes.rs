//! What a feed import changed (migration 0035, `feed_imports.changes`), so that a running
//! controller ranks again only the hosts the import can have changed (issue 15: feed import →
//! every host re-ranked in ≤ 30 s). An OSV import collects, for every record it inserts or
//! replaces, the package names the stored record and the new one affect and every CVE id
//! either text names (a superset of the CVEs the advisory carries: its id, aliases, upstream and
//! related ids); a record kept unchanged adds nothing. Where that does not bound the change —
//! KEV and EPSS runs, the first advisories stored (scans then leave the built-in snapshot) —
//! the run records no changes, which reads as "anything may have changed".

use std::collections::BTreeSet;

use anyhow::Context;
use sqlx::Row;

use crate::Store;

/// The package names and CVE ids an import's changed records name, and their ids.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ImportChanges {
    pub packages: BTreeSet<String>,
    pub cves: BTreeSet<String>,
    /// The ids of the records inserted or replaced; `None`: not known (an import stored before
    /// they were kept): any advisory of the packages named may have changed.
    #[serde(default)]
    pub advisories: Option<BTreeSet<String>>,
}

impl ImportChanges {
    /// No change yet, the records' ids kept.
    pub fn none() -> ImportChanges {
        ImportChanges {
            advisories: Some(BTreeSet::new()),
            ..ImportChanges::default()
        }
    }

    /// Adds a record's id, its affected package names and the CVE ids its text names.
    pub(crate) fn add_record<'a>(
        &mut self,
        id: &str,
        packages: impl IntoIterator<Item = &'a str>,
        text: &str,
    ) {
        if let Some(advisories) = &mut self.advisories {
            advisories.insert(id.to_owned());
        }
        self.packages
            .extend(packages.into_iter().map(str::to_owned));
        self.cves.extend(cve_ids(text));
    }

    pub fn is_empty(&self) -> bool {
        self.packages.is_empty() && self.cves.is_empty()
    }

    fn extend(&mut self, other: ImportChanges) {
        self.packages.extend(other.packages);
        self.cves.extend(other.cves);
        self.advisories = match (self.advisories.take(), other.advisories) {
            (Some(mut these), Some(those)) => {
                these.extend(those);
                Some(these)
            }
            _ => None,
        };
    }
}

/// Every `CVE-YYYY-N…` in `text`, in upper case (also inside longer ids such as
/// `DEBIAN-CVE-2024-1234`, and written in lower case).
pub(crate) fn cve_ids(text: &str) -> BTreeSet<String> {
    let text = text.to_ascii_uppercase();
    let text = text.as_str();
    let mut out = BTreeSet::new();
    let bytes = text.as_bytes();
    let mut from = 0;
    while let Some(found) = text[from..].find("CVE-") {
        let start = from + found;
        let mut end = start + 4;
        let digits = |i: usize| {
            let mut j = i;
            while j < bytes.len() && bytes[j].is_ascii_digit() {
                j += 1;
            }
            j
        };
        let year_end = digits(end);
        if year_end == end + 4 && bytes.get(year_end) == Some(&b'-') {
            let number_end = digits(year_end + 1);
            if number_end >= year_end + 5 {
                end = number_end;
                out.insert(text[start..end].to_owned());
            }
        }
        from = start + 4;
    }
    out
}

/// The feed imports after some import, as the controller's re-ranking needs them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImportsSince {
    /// The last import (`None`: there is none).
    pub last: Option<i64>,
    /// What they changed together; `None` when one of them may have changed anything.
    pub changes: Option<ImportChanges>,
}

impl Store {
    /// The imports committed after import `after` (every import when `None`) and what they
    /// changed together.
    pub async fn imports_since(&self, after: Option<i64>) -> anyhow::Result<ImportsSince> {
        let rows = sqlx::query("SELECT id, changes FROM feed_imports WHERE id > $1 ORDER BY id")
            .bind(after.unwrap_or(0))
            .fetch_all(self.pool())
            .await
            .context("reading the feed imports")?;
        let mut since = ImportsSince {
            last: after,
            changes: Some(ImportChanges::none()),
        };
        for row in &rows {
            since.last = Some(row.try_get("id")?);
            let text: Option<String> = row.try_get("changes")?;
            let changes = text
                .map(|t| serde_json::from_str::<ImportChanges>(&t))
                .transpose()
                .context("stored import changes unreadable")?;
            since.changes = match (since.changes, changes) {
                (Some(mut all), Some(these)) => {
                    all.extend(these);
                    Some(all)
                }
                _ => None,
            };
        }
        Ok(since)
    }
}

#[cfg(test)]
mod tests {
    use super::{ImportChanges, cve_ids};

    #[test]
    fn changes_stored_without_ids_know_none_and_stay_unknown_when_merged() {
        let old: ImportChanges =
            serde_json::from_str(r#"{"packages":["curl"],"cves":["CVE-2024-0001"]}"#).unwrap();
        assert_eq!(old.advisories, None);
        let mut new = ImportChanges::none();
        new.add_record("DSA-1", ["zlib"], "CVE-2024-0002");
        let text = serde_json::to_string(&new).unwrap();
        assert_eq!(serde_json::from_str::<ImportChanges>(&text).unwrap(), new);
        assert_eq!(new.advisories, Some(["DSA-1".to_owned()].into()));
        let mut both = ImportChanges::none();
        both.extend(new.clone());
        assert_eq!(both, new);
        both.extend(old);
        assert_eq!(both.advisories, None);
        assert_eq!(both.packages.len(), 2);
    }

    #[test]
    fn finds_every_cve_id_in_a_record_text() {
        let text = r#"{"id":"DEBIAN-CVE-2024-1234","aliases":["CVE-2023-12345"],
            "related":["CVE-20-1","CVE-2022-123","CVE-2021-0001x"],"summary":"cve-2020-1111"}"#;
        let found: Vec<String> = cve_ids(text).into_iter().collect();
        assert_eq!(
            found,
            [
                "CVE-2020-1111",
                "CVE-2021-0001",
                "CVE-2023-12345",
                "CVE-2024-1234"
            ]
            .map(String::from)
        );
    }
}
