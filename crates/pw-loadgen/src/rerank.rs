//! The feed-import phase: while the controller runs, `patchwarden feeds import` (another
//! process on the same database, as operators run it) re-publishes records of a real OSV feed —
//! `--rerank-records` of them, evenly spread over the file, each with `modified` set to now;
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
    let (file, packages) = republish(feed, args.rerank_records, reopen)?;
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

/// Writes `count` records of `feed` (0: all), evenly spread, with `modified` now (and without
/// `fixed` events when `reopen`); also returns how many packages they name.
fn republish(feed: &Path, count: usize, reopen: bool) -> anyhow::Result<(Republished, usize)> {
    let mut text = String::new();
    let raw = std::fs::read(feed).with_context(|| format!("reading {}", feed.display()))?;
    if feed.extension().is_some_and(|e| e == "gz") {
        flate2::read::GzDecoder::new(&raw[..]).read_to_string(&mut text)?;
    } else {
        text = String::from_utf8(raw)?;
    }
    let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    let count = if count == 0 {
        lines.len()
    } else {
        count.min(lines.len())
    };
    let now = jiff::Timestamp::now().to_string();
    let mut out = String::new();
    let mut packages = BTreeSet::new();
    for i in 0..count {
        let line = lines[i * lines.len() / count];
        let mut record: serde_json::Value = serde_json::from_str(line)?;
        record["modified"] = now.clone().into();
        for affected in record["affected"].as_array_mut().into_iter().flatten() {
            if let Some(name) = affected["package"]["name"].as_str() {
                packages.insert(name.to_owned());
            }
            for range in affected["ranges"].as_array_mut().into_iter().flatten() {
                if let (true, Some(events)) = (reopen, range["events"].as_array_mut()) {
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
