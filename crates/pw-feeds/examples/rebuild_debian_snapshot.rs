//! Rebuilds the shipped Debian snapshot so that a fix backported to a release is dated by the
//! release's own history (`pw_feeds::backports`):
//!
//! ```sh
//! cargo run -p pw-feeds --example rebuild_debian_snapshot -- \
//!     ../shared/data/osv-debian12-changelogs.jsonl.gz \
//!     ../shared/data/debian12-changelog-versions.tsv.gz \
//!     crates/pw-feeds/snapshot/osv-debian12-changelogs.jsonl.gz
//! ```
//!
//! The input is the shared data script's output (the lowest changelog version naming each CVE);
//! the output keeps its records and order, one compact JSON record per line, gzip without a
//! timestamp, so the same inputs give the same bytes.

use std::io::{Read, Write};

use anyhow::Context;
use pw_advisory::{OsvRecord, parse_osv_jsonl};
use pw_feeds::backports::{Histories, redate_backports};

fn gunzip(path: &str) -> anyhow::Result<String> {
    let bytes = std::fs::read(path).with_context(|| format!("cannot read {path}"))?;
    let mut text = String::new();
    flate2::read::MultiGzDecoder::new(&bytes[..])
        .read_to_string(&mut text)
        .with_context(|| format!("{path}: not gzip'd UTF-8"))?;
    Ok(text)
}

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [records, versions, out] = &args[..] else {
        anyhow::bail!(
            "usage: rebuild_debian_snapshot RECORDS.jsonl.gz VERSIONS.tsv.gz OUT.jsonl.gz"
        );
    };
    let batch = parse_osv_jsonl(gunzip(records)?.as_bytes());
    if let Some(problem) = batch.problems.first() {
        anyhow::bail!("{records}: {problem}");
    }
    let mut records: Vec<OsvRecord> = batch.records.into_iter().map(|l| l.record).collect();
    let histories = Histories::parse(&gunzip(versions)?)?;
    let report = redate_backports(&mut records, &histories, "bookworm")?;
    let mut text = String::new();
    for record in &records {
        text.push_str(&serde_json::to_string(record)?);
        text.push('\n');
    }
    let file = std::fs::File::create(out).with_context(|| format!("cannot write {out}"))?;
    let mut gz = flate2::GzBuilder::new().write(file, flate2::Compression::best());
    gz.write_all(text.as_bytes())?;
    gz.finish()?;
    println!(
        "{} records, {} (package, CVE) pairs, {} not in any history, {} re-dated:",
        records.len(),
        report.pairs,
        report.not_in_history,
        report.redated.len()
    );
    for (id, package, from, to) in &report.redated {
        println!("  {id} {package}: {from} -> {to}");
    }
    Ok(())
}
