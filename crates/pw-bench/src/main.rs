//! `fleet-bench`: the scan benchmark of issue 3. Builds a synthetic fleet from the real package
//! lists (see `fleet.rs`), then for every host measures parsing its dpkg status (the floor) and
//! matching + classifying its findings, against all advisories of the shared data. Prints the
//! figures recorded in docs/PERFORMANCE.md; `--write-hosts` saves hosts for the python reference
//! (`reference/match.py`) so both sides can be compared, findings count included.

use pw_bench::fleet;

use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::Context;
use clap::Parser;
use jiff::Timestamp;
use pw_feeds::Silent;
use pw_model::OsRelease;
use pw_priority::PriorityPolicy;
use pw_scan::{Intelligence, ScanContext};

#[derive(Parser)]
struct Args {
    /// The shared data folder (Packages files, status, changelog versions, feeds).
    #[arg(long, default_value = "../shared/data")]
    data: PathBuf,
    /// Number of hosts.
    #[arg(long, default_value_t = 10_000)]
    hosts: u64,
    /// Packages per host.
    #[arg(long, default_value_t = 1500)]
    packages: usize,
    /// Write the first N hosts' status files here (for the python reference).
    #[arg(long)]
    write_hosts: Option<PathBuf>,
    #[arg(long, default_value_t = 100)]
    write_count: u64,
    /// Classify every match afresh (`Intelligence::findings`) instead of remembering the
    /// classification of each advisory set across hosts (`Classifier`).
    #[arg(long)]
    no_memo: bool,
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let started = Instant::now();
    let corpus = fleet::Corpus::load(&args.data)?;
    let shape = fleet::Shape {
        packages: args.packages,
        ..fleet::Shape::default()
    };
    println!("corpus loaded in {:.2?}", started.elapsed());

    let started = Instant::now();
    let feeds = [
        "osv-debian12-changelogs.jsonl.gz",
        "osv-ubuntu-sample.jsonl.gz",
        "osv-almalinux.jsonl.gz",
        "kev.json.gz",
        "epss-sample.csv.gz",
    ];
    let paths: Vec<PathBuf> = feeds.iter().map(|f| args.data.join(f)).collect();
    let mut parsed = pw_feeds::parse_inputs(&pw_feeds::read_paths(&paths)?, &Silent)?;
    let advisories = parsed.advisories();
    let count = advisories.len();
    let intelligence = Intelligence::new(advisories, parsed.kev.as_ref(), &parsed.epss);
    println!(
        "{count} advisories read, parsed and indexed in {:.2?}",
        started.elapsed()
    );

    if let Some(dir) = &args.write_hosts {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        for host in 0..args.write_count.min(args.hosts) {
            std::fs::write(
                dir.join(format!("host-{host:05}.status")),
                corpus.host_status(&shape, host),
            )?;
        }
    }

    let os = OsRelease::parse("debian:12")?;
    let policy = PriorityPolicy::default();
    let context = ScanContext {
        policy: &policy,
        group: None,
        first_seen: None,
        now: Timestamp::now(),
    };
    let mut matcher = intelligence.matcher(&os, false);
    let mut classifier = intelligence.classifier();
    let (mut parse, mut matching, mut classify) = (Duration::ZERO, Duration::ZERO, Duration::ZERO);
    let (loop_started, loop_cpu) = (Instant::now(), on_cpu());
    let (mut bytes, mut packages, mut findings, mut sample_findings) =
        (0usize, 0usize, 0usize, 0usize);
    for host in 0..args.hosts {
        let text = corpus.host_status(&shape, host);
        let t0 = Instant::now();
        let inventory = pw_inventory::parse_dpkg_status(text.as_bytes());
        let t1 = Instant::now();
        let matches = matcher.match_packages(&inventory.packages);
        let t2 = Instant::now();
        let found = if args.no_memo {
            intelligence.findings(&matches, &context)
        } else {
            classifier.findings(&matches, &context)
        };
        let t3 = Instant::now();
        parse += t1 - t0;
        matching += t2 - t1;
        classify += t3 - t2;
        bytes += text.len();
        packages += inventory.packages.len();
        findings += found.len();
        if host < args.write_count {
            sample_findings += found.len();
        }
        anyhow::ensure!(
            inventory.problems.is_empty(),
            "host {host}: {:?}",
            inventory.problems.first()
        );
    }
    let (loop_wall, loop_cpu) = (
        loop_started.elapsed(),
        on_cpu().zip(loop_cpu).map(|(end, start)| end - start),
    );
    let hosts = args.hosts as f64;
    println!(
        "hosts: {}, packages: {packages} ({:.0} per host), status text: {:.1} MiB",
        args.hosts,
        packages as f64 / hosts,
        bytes as f64 / 1048576.0
    );
    println!(
        "parse (floor): {:.3} s total, {:.1} µs per host, {:.0} MiB/s",
        parse.as_secs_f64(),
        parse.as_secs_f64() * 1e6 / hosts,
        bytes as f64 / 1048576.0 / parse.as_secs_f64()
    );
    println!(
        "match: {:.3} s total, {:.1} µs per host",
        matching.as_secs_f64(),
        matching.as_secs_f64() * 1e6 / hosts
    );
    println!(
        "classify into findings ({}): {:.3} s total, {:.1} µs per host",
        if args.no_memo { "afresh" } else { "remembered" },
        classify.as_secs_f64(),
        classify.as_secs_f64() * 1e6 / hosts
    );
    if !args.no_memo {
        let (hits, misses) = classifier.stats();
        println!("classifications remembered: {hits}, made: {misses}");
    }
    println!(
        "match / parse floor: {:.2}; match + classify / parse floor: {:.2}",
        matching.as_secs_f64() / parse.as_secs_f64(),
        (matching + classify).as_secs_f64() / parse.as_secs_f64()
    );
    println!(
        "parse + match per host: {:.1} µs; parse + match + classify: {:.1} µs",
        (parse + matching).as_secs_f64() * 1e6 / hosts,
        (parse + matching + classify).as_secs_f64() * 1e6 / hosts
    );
    println!(
        "findings: {findings} ({:.1} per host); first {} hosts: {sample_findings}",
        findings as f64 / hosts,
        args.write_count.min(args.hosts)
    );
    // Far less CPU than wall time means other processes took the CPU: the figures are inflated.
    println!(
        "host loop (generating hosts included): {:.2} s wall, {} on CPU",
        loop_wall.as_secs_f64(),
        loop_cpu.map_or("unknown".into(), |cpu| format!(
            "{:.2} s",
            cpu.as_secs_f64()
        ))
    );
    println!(
        "peak RSS: {}",
        peak_rss().unwrap_or_else(|| "unknown".into())
    );
    Ok(())
}

/// `VmHWM` of this process (Linux).
fn peak_rss() -> Option<String> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    status
        .lines()
        .find(|l| l.starts_with("VmHWM:"))
        .map(|l| l["VmHWM:".len()..].trim().to_owned())
}

/// Time this thread has run on a CPU (Linux `/proc/thread-self/schedstat`, nanoseconds).
fn on_cpu() -> Option<Duration> {
    let stat = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
    let nanos = stat.split_whitespace().next()?.parse().ok()?;
    Some(Duration::from_nanos(nanos))
}
