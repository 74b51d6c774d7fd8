//! `console-bench`: the operator console at fleet size (issue 12). A real controller on
//! loopback over a SQLite database filled through pw-store's own writes (enrollment, findings
//! computations with their history) with `--hosts` hosts and `--findings` open findings, then
//! `/hosts` and `/findings` requested as a signed-in browser, each page `--runs` times: the
//! median and slowest answer, and the rows shown. The figures of docs/PERFORMANCE.md.

use std::time::Instant;

use anyhow::Context;
use clap::Parser;
use jiff::{SignedDuration, Timestamp};
use pw_model::{Finding, Tier};
use pw_store::{CurrentFinding, FindingsSnapshot, NewHost, Store};

#[derive(Parser)]
struct Args {
    #[arg(long, default_value_t = 10_000)]
    hosts: usize,
    /// Open findings in all (spread evenly over the hosts).
    #[arg(long, default_value_t = 1_000_000)]
    findings: usize,
    /// Distinct source packages the findings are drawn from (updates ≈ packages × 2 versions).
    #[arg(long, default_value_t = 3_000)]
    packages: usize,
    #[arg(long, default_value_t = 15)]
    runs: usize,
    /// Keep the controller's data here and reuse it: a directory already filled by an earlier
    /// run with the same sizes is measured again without filling it (so two builds can be
    /// compared on one database). Default: a temporary directory, removed at the end.
    #[arg(long)]
    data_dir: Option<std::path::PathBuf>,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let _ = rustls::crypto::ring::default_provider().install_default();
    let temporary = tempfile::tempdir()?;
    let dir = args.data_dir.as_deref().unwrap_or(temporary.path());
    let filled = dir.join("console-bench.filled");
    let sizes = format!("{} {} {}", args.hosts, args.findings, args.packages);
    let settings = pw_server::ServerSettings::loopback(dir);
    let controller = pw_server::start(&settings).await?;
    let store = &controller.state.store;
    match std::fs::read_to_string(&filled) {
        Ok(found) if found == sizes => println!("reusing the fleet in {}", dir.display()),
        Ok(found) => anyhow::bail!(
            "{} holds a fleet of other sizes ({found}); use another --data-dir",
            dir.display()
        ),
        Err(_) => {
            fill(store, &args).await?;
            std::fs::write(&filled, &sizes)?;
        }
    }
    let cookie = session(&controller, store).await?;
    let base = format!("http://{}", controller.addr);
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()?;
    println!("page | median | slowest | rows");
    for path in [
        "/hosts",
        "/hosts?page=150",
        "/hosts?tier=T0&overdue=1",
        "/hosts?os=debian&seen=silent-7d&page=20",
        "/findings",
        "/findings?page=40",
        "/findings?tier=T1&overdue=1",
        "/findings?kev=1",
        "/findings?cve=CVE-2026-10077",
    ] {
        let mut times = Vec::new();
        let mut rows = 0;
        for _ in 0..args.runs {
            let begun = Instant::now();
            let answer = client
                .get(format!("{base}{path}"))
                .header("cookie", &cookie)
                .send()
                .await?;
            let status = answer.status();
            let html = answer.text().await?;
            anyhow::ensure!(status == 200, "{path}: {status}: {html}");
            times.push(begun.elapsed());
            rows =
                html.matches("class=\"host\"").count() + html.matches("class=\"update\"").count();
        }
        times.sort();
        println!(
            "{path} | {:.1?} | {:.1?} | {rows}",
            times[times.len() / 2],
            times[times.len() - 1]
        );
    }
    Ok(())
}

/// Enrolls the hosts, records their findings and adds the operator `bench`.
async fn fill(store: &Store, args: &Args) -> anyhow::Result<()> {
    let started = Instant::now();
    let ids = enroll(store, args.hosts).await?;
    println!("{} hosts enrolled in {:.1?}", ids.len(), started.elapsed());
    let started = Instant::now();
    let per_host = args.findings / args.hosts.max(1);
    let mut rng = fastrand::Rng::with_seed(12);
    for (i, id) in ids.iter().enumerate() {
        record(store, id, per_host, args.packages, &mut rng).await?;
        if i % 1000 == 999 {
            println!(
                "  {} hosts' findings recorded ({:.1?})",
                i + 1,
                started.elapsed()
            );
        }
    }
    println!(
        "{} findings recorded in {:.1?}",
        per_host * ids.len(),
        started.elapsed()
    );
    pw_server::create_operator(store, "bench", pw_store::Role::Admin, "bench").await?;
    Ok(())
}

/// Enrolls `n` hosts through the store's enrollment (a token each, as agents redeem them).
async fn enroll(store: &Store, n: usize) -> anyhow::Result<Vec<String>> {
    let now = Timestamp::now();
    let later = now + SignedDuration::from_hours(24);
    let mut ids = Vec::with_capacity(n);
    for i in 0..n {
        let sha = format!("{:064x}", i);
        store
            .create_enrollment_token(&format!("tok-{i}"), &sha, later, None, "bench")
            .await?;
        let id = format!("host-{i:05}");
        let host = NewHost {
            id: &id,
            hostname: &format!("node-{i:05}"),
            fingerprint: &format!("{:064x}", (i + 1) << 32),
            not_after: later,
        };
        store
            .enroll(&sha, now, &host)
            .await?
            .map_err(|p| anyhow::anyhow!("enrolling {id}: {p:?}"))?;
        ids.push(id);
    }
    Ok(ids)
}

/// Records `n` findings for `host` as one computation: source packages drawn from `packages`,
/// two binaries each, tiers and deadlines spread (a third overdue).
async fn record(
    store: &Store,
    host: &str,
    n: usize,
    packages: usize,
    rng: &mut fastrand::Rng,
) -> anyhow::Result<()> {
    let now = Timestamp::now();
    let mut findings: Vec<Finding> = Vec::with_capacity(n);
    let mut seen = std::collections::HashSet::new();
    while findings.len() < n {
        let p = rng.usize(..packages);
        let binary = rng.usize(..2);
        if !seen.insert((p, binary)) {
            continue;
        }
        let tier = [
            Tier::T0,
            Tier::T1,
            Tier::T1,
            Tier::T2,
            Tier::T3,
            Tier::T3,
            Tier::T4,
        ][p % 7];
        let days = (p % 90) as i64 - 30;
        findings.push(Finding {
            binary: format!("lib{p}-{binary}"),
            installed: "1.0-1".into(),
            package: format!("src{p}"),
            package_version: "1.0-1".into(),
            advisory: format!("PW-2026-{}", 10_000 + p),
            aliases: vec![format!("CVE-2026-{}", 10_000 + p)],
            fixed: Some(format!("1.0-{}", 2 + p % 2)),
            tier,
            deadline: (tier != Tier::T4).then(|| now + SignedDuration::from_hours(24 * days)),
            reasons: vec!["bug fix".into()],
            summary: format!("src{p} problem"),
            published: None,
            cvss: Some(7.5),
            epss: Some(0.01 * (p % 100) as f64),
            kev: p.is_multiple_of(50),
        });
    }
    let mut counts = [0usize; 5];
    for f in &findings {
        counts[f.tier.index()] += 1;
    }
    let current: Vec<CurrentFinding> = findings
        .iter()
        .map(CurrentFinding::of)
        .collect::<anyhow::Result<_>>()?;
    let snapshot = FindingsSnapshot {
        host_id: host,
        inventory_collected_at: now,
        computed_at: now,
        source: "bench",
        findings_json: &serde_json::to_string(&findings)?,
        tier_counts_json: &serde_json::to_string(&counts)?,
        current: &current,
        backported: &[],
    };
    store
        .record_findings(&snapshot)
        .await
        .with_context(|| format!("recording the findings of {host}"))?;
    Ok(())
}

/// A signed-in browser's cookie, through a login link as `patchwarden up` prints it.
async fn session(controller: &pw_server::Controller, store: &Store) -> anyhow::Result<String> {
    let ticket = pw_server::issue_login_ticket(store, "bench").await?;
    let answer = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()?
        .get(format!("http://{}/login?ticket={ticket}", controller.addr))
        .send()
        .await?;
    let cookie = answer
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with("pw_session="))
        .context("no session cookie")?;
    Ok(cookie.split(';').next().unwrap_or_default().to_owned())
}
