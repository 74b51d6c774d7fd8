//! The feed-import phase: while the controller runs, `patchwarden feeds import` (another
//! process on the same database, as operators run it) re-publishes records of a real OSV feed —
//! `--rerank-records` of them, evenly spread over the file (without the records of the source
//! packages `--rerank-skip-source` names), each with `modified` set to now;
//! with `--rerank-reopen`, a second import then drops their `fixed` events too (the advisory now
//! affects every version, so every host with the package gets new findings). Measured from the import's
//! commit (the command's exit) until the controller queued the import's hosts
//! (`patchwarden_feed_import_queued` reaches the new import) and no scan is pending: every host
//! is ranked against the new data (docs/PERFORMANCE.md).

use std::collections::BTreeSet;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::Context;

use crate::Args;
use crate::operator::Operator;
use crate::phases::Probe;

/// What the phase measured.
#[derive(Debug, serde::Serialize)]
pub struct RerankFigures {
    pub feed: String,
    pub records: usize,
    pub reopened: bool,
    /// Source packages whose records were left out before choosing (`--rerank-skip-source`).
    pub skipped_sources: Vec<String>,
    /// Source packages the re-published records name.
    pub packages: usize,
    /// The `feeds import` command, start to exit (parse and one write transaction).
    pub import_secs: f64,
    /// From the import's commit until every host is ranked against it.
    pub rerank_secs: f64,
    /// Scans the import caused, by outcome: written, the same ranking (nothing written), not
    /// scanned because the import cannot touch the host.
    pub stored: f64,
    pub unchanged: f64,
    pub untouched: f64,
    pub controller_cores: f64,
    pub controller_rss_mib: f64,
}

pub async fn run(
    args: &Args,
    operator: &Operator,
    probe: &Probe,
    (feed, reopen): (&Path, bool),
) -> anyhow::Result<RerankFigures> {
    let choice = Choice {
        count: args.rerank_records,
        reopen,
        skip: &args.rerank_skip_source,
    };
    let (file, packages) = republish(feed, &choice)?;
    let scans = async |outcome: &str| {
        let name = format!("patchwarden_findings_scans_total{{outcome=\"{outcome}\"}}");
        operator.metric_series(&name).await
    };
    let before = [
        scans("stored").await?,
        scans("unchanged").await?,
        scans("untouched").await?,
    ];
    let queued_before = operator.metric("patchwarden_feed_import_queued").await?;
    let sample = probe.sample()?;
    let started = Instant::now();
    let cli = patchwarden_cli(args)?;
    let database = args
        .database
        .clone()
        .context("--rerank-feed needs --database (the controller's database URL)")?;
    let status = tokio::process::Command::new(&cli)
        .args(["feeds", "--database", &database, "import"])
        .arg(&file.path)
        .stdout(std::process::Stdio::null())
        .status()
        .await
        .with_context(|| format!("running {}", cli.display()))?;
    anyhow::ensure!(status.success(), "feeds import failed: {status}");
    let committed = Instant::now();
    let deadline = committed + Duration::from_secs(args.phase_timeout);
    loop {
        let queued = operator.metric("patchwarden_feed_import_queued").await?;
        if queued > queued_before
            && operator
                .metric("patchwarden_findings_scans_pending")
                .await?
                == 0.0
        {
            break;
        }
        anyhow::ensure!(
            Instant::now() < deadline,
            "re-rank not done after the timeout"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let rerank_secs = committed.elapsed().as_secs_f64();
    let (controller_cores, controller_rss_mib) = probe.since(sample)?;
    let figures = RerankFigures {
        feed: feed.display().to_string(),
        records: file.records,
        reopened: reopen,
        skipped_sources: args.rerank_skip_source.clone(),
        packages,
        import_secs: (committed - started).as_secs_f64(),
        rerank_secs,
        stored: scans("stored").await? - before[0],
        unchanged: scans("unchanged").await? - before[1],
        untouched: scans("untouched").await? - before[2],
        controller_cores,
        controller_rss_mib,
    };
    eprintln!(
        "feed import of {} records: ranked after {rerank_secs:.1} s ({} written, {} unchanged, {} untouched)",
        figures.records, figures.stored, figures.unchanged, figures.untouched
    );
    Ok(figures)
}

/// `--patchwarden`, else `patchwarden` beside this binary.
fn patchwarden_cli(args: &Args) -> anyhow::Result<PathBuf> {
    if let Some(path) = &args.patchwarden {
        return Ok(path.clone());
    }
    let me = std::env::current_exe().context("locating pw-loadgen")?;
    Ok(me.with_file_name("patchwarden"))
}

/// The re-published records, in a file removed on drop.
struct Republished {
    path: PathBuf,
    records: usize,
}

impl Drop for Republished {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

/// Which records to re-publish and how.
struct Choice<'a> {
    /// How many (0: all).
    count: usize,
    /// Without their `fixed` events.
    reopen: bool,
    /// Source packages whose records are left out.
    skip: &'a [String],
}

/// The package names a record's `affected` entries name.
fn affected_names(record: &serde_json::Value) -> impl Iterator<Item = &str> {
    (record["affected"].as_array().into_iter().flatten())
        .filter_map(|affected| affected["package"]["name"].as_str())
}

/// The feed's records, parsed, without those naming a package of `skip`.
fn records(text: &str, skip: &[String]) -> anyhow::Result<Vec<serde_json::Value>> {
    let mut records = Vec::new();
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let record: serde_json::Value = serde_json::from_str(line)?;
        if !affected_names(&record).any(|name| skip.iter().any(|s| s == name)) {
            records.push(record);
        }
    }
    Ok(records)
}

/// Writes `choice.count` records of `feed` (0: all), evenly spread over those left after
/// `choice.skip`, with `modified` now (and without `fixed` events when `choice.reopen`); also
/// returns how many packages they name.
fn republish(feed: &Path, choice: &Choice) -> anyhow::Result<(Republished, usize)> {
    let mut text = String::new();
    let raw = std::fs::read(feed).with_context(|| format!("reading {}", feed.display()))?;
    if feed.extension().is_some_and(|e| e == "gz") {
        flate2::read::GzDecoder::new(&raw[..]).read_to_string(&mut text)?;
    } else {
        text = String::from_utf8(raw)?;
    }
    let records = records(&text, choice.skip)?;
    let count = match choice.count {
        0 => records.len(),
        count => count.min(records.len()),
    };
    let now = jiff::Timestamp::now().to_string();
    let mut out = String::new();
    let mut packages = BTreeSet::new();
    for i in 0..count {
        let mut record = records[i * records.len() / count].clone();
        packages.extend(affected_names(&record).map(str::to_owned));
        record["modified"] = now.clone().into();
        for affected in record["affected"].as_array_mut().into_iter().flatten() {
            for range in affected["ranges"].as_array_mut().into_iter().flatten() {
                if let (true, Some(events)) = (choice.reopen, range["events"].as_array_mut()) {
                    events.retain(|e| e.get("fixed").is_none());
                }
            }
        }
        out.push_str(&serde_json::to_string(&record)?);
        out.push('\n');
    }
    let path = std::env::temp_dir().join(format!(
        "pw-loadgen-republished-{}.jsonl",
        std::process::id()
    ));
    std::fs::write(&path, out).with_context(|| format!("writing {}", path.display()))?;
    Ok((
        Republished {
            path,
            records: count,
        },
        packages.len(),
    ))
}

#[cfg(test)]
mod tests {
    use super::{Choice, republish};

    fn record(id: &str, package: &str) -> String {
        format!(
            r#"{{"id": "{id}", "modified": "2020-01-01T00:00:00Z", "affected": [{{"package": {{"ecosystem": "Debian:12", "name": "{package}"}}, "ranges": [{{"type": "ECOSYSTEM", "events": [{{"introduced": "0"}}, {{"fixed": "1.0-2"}}]}}]}}]}}"#
        )
    }

    /// The ids of the records `choice` re-publishes of `feed`, and how many packages they name.
    fn chosen(feed: &std::path::Path, choice: &Choice) -> (Vec<String>, usize) {
        let (file, packages) = republish(feed, choice).unwrap();
        let written = std::fs::read_to_string(&file.path).unwrap();
        let ids = (written.lines())
            .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
            .inspect(|r| assert_eq!(r.to_string().contains("fixed"), !choice.reopen))
            .map(|r| r["id"].as_str().unwrap().to_owned())
            .collect();
        (ids, packages)
    }

    #[test]
    fn records_of_a_skipped_source_are_not_chosen() {
        let feed =
            std::env::temp_dir().join(format!("pw-loadgen-feed-{}.jsonl", std::process::id()));
        let lines = [
            record("A-1", "linux"),
            record("A-2", "openssl"),
            record("A-3", "linux"),
            record("A-4", "curl"),
            record("A-5", "linux"),
            record("A-6", "bash"),
        ];
        std::fs::write(&feed, lines.join("\n")).unwrap();
        let skip = ["linux".to_owned()];
        let choice = Choice {
            count: 2,
            reopen: true,
            skip: &skip,
        };
        let skipped = chosen(&feed, &choice);
        let all = chosen(
            &feed,
            &Choice {
                skip: &[],
                reopen: false,
                ..choice
            },
        );
        std::fs::remove_file(&feed).unwrap();
        // Evenly spread over the records left.
        assert_eq!(skipped, (vec!["A-2".to_owned(), "A-4".to_owned()], 2));
        assert_eq!(all, (vec!["A-1".to_owned(), "A-4".to_owned()], 2));
    }
}
