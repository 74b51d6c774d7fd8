//! Benchmark: a plan built from live data for N stored hosts (issue 9: 10,000 hosts in ≤ 2 s).
//!
//! `cargo run --release -p pw-controller --example plan_bench -- [HOSTS] [RUNS]` (defaults
//! 10000, 3). Sets up a real SQLite store in a temporary directory (or, with
//! `PATCHWARDEN_DATABASE_URL=postgres://…`, that empty PostgreSQL database): a fleet document
//! with one production group matching every host by name, HOSTS enrolled hosts, each with an
//! inventory of 60 packages, three offered upgrades (one from the security suite, two from
//! updates) and ten ranked findings. Then times, RUNS times each, the use-cases the API calls:
//! `plans::create` for the whole group (`updates: security`; the first run also sends every
//! host a `collect_evidence` request, as a real first plan does) and `plans::get` (the plan
//! with its staleness check against every host's live offers). Prints the median and the
//! range of each; the setup is not timed.

use std::sync::Arc;
use std::time::{Duration, Instant};

use jiff::Timestamp;
use pw_controller::{Controller, NoObserver, SystemClock, plans};
use pw_model::{Finding, Tier};
use pw_protocol::{CreatePlan, UpdateKind, UpdateSelector};
use pw_store::{
    DatabaseUrl, FindingsSnapshot, InventoryFacts, InventoryRow, NewHost, PendingRow, Store,
};

const FLEET: &str = r#"
[rollout]
max_in_flight = "10%"

[groups.web]
environment = "production"
owners = ["web-team@example.com"]
windows = [{ name = "nightly", rrule = "FREQ=DAILY;BYHOUR=1", dtstart = "2026-01-01T01:00:00", tz = "UTC", duration = "4h" }]
[groups.web.members]
hostnames = ["web-*"]
"#;

fn finding(binary: &str, index: usize, now: Timestamp) -> Finding {
    Finding {
        binary: binary.into(),
        installed: "1.0-1".into(),
        package: binary.into(),
        package_version: "1.0-1".into(),
        advisory: format!("CVE-2026-{index:05}"),
        aliases: Vec::new(),
        fixed: Some("1.0-2".into()),
        tier: Tier::T2,
        deadline: Some(now + jiff::SignedDuration::from_hours(24 * 7)),
        reasons: vec!["benchmark".into()],
        summary: "a benchmark finding".into(),
        published: None,
        cvss: Some(7.5),
        epss: None,
        kev: false,
    }
}

async fn setup(store: &Store, hosts: usize, now: Timestamp) -> anyhow::Result<()> {
    store.apply_fleet(FLEET, "bench", None, &[], now).await?;
    let packages: Vec<pw_model::InstalledPackage> = (0..60)
        .map(|p| pw_model::InstalledPackage {
            name: format!("pkg{p}"),
            version: "1.0-1".into(),
            arch: "amd64".into(),
            source: None,
            source_version: None,
        })
        .collect();
    let offer = |package: &str, suite: &str| PendingRow {
        package: package.into(),
        arch: "amd64".into(),
        from_version: "1.0-1".into(),
        to_version: "1.0-2".into(),
        origin: "Debian".into(),
        suite: suite.into(),
        cves: None,
    };
    let pending = [
        offer("pkg0", "bookworm-security"),
        offer("pkg1", "bookworm-updates"),
        offer("pkg2", "bookworm-updates"),
    ];
    let findings: Vec<Finding> = (0..10)
        .map(|i| finding(&format!("pkg{}", i % 3), i, now))
        .collect();
    let findings_json = serde_json::to_string(&findings)?;
    let expires: Timestamp = "2100-01-01T00:00:00Z".parse()?;
    for index in 0..hosts {
        let (id, name) = (format!("h{index:05}"), format!("web-{index:05}"));
        let token = format!("token-{index}");
        store
            .create_enrollment_token(&format!("t{index}"), &token, expires, None, "bench")
            .await?;
        let host = NewHost {
            id: &id,
            hostname: &name,
            fingerprint: &format!("fp{index}"),
            not_after: expires,
        };
        store
            .enroll(&token, now, &host)
            .await?
            .map_err(|p| anyhow::anyhow!("{p:?}"))?;
        let inventory = InventoryRow {
            facts: InventoryFacts {
                collected_at: now,
                os: "debian:12".into(),
                reboot_required: false,
                reboot_required_by: "[]".into(),
                restart: None,
            },
            packages: packages.clone(),
            backport_history: None,
        };
        store
            .store_inventory(&id, &name, inventory, Some(&pending))
            .await?;
        let snapshot = FindingsSnapshot {
            host_id: &id,
            inventory_collected_at: now,
            computed_at: now,
            source: "bench",
            findings_json: &findings_json,
            tier_counts_json: "[0,0,10,0,0]",
            current: &[],
            backported: &[],
        };
        store.record_findings(&snapshot).await?;
    }
    Ok(())
}

fn report(what: &str, mut times: Vec<Duration>) {
    times.sort();
    println!(
        "{what}: median {:.3} s (min {:.3} s, max {:.3} s, {} runs)",
        times[times.len() / 2].as_secs_f64(),
        times[0].as_secs_f64(),
        times[times.len() - 1].as_secs_f64(),
        times.len()
    );
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let hosts: usize = args.next().map_or(Ok(10_000), |a| a.parse())?;
    let runs: usize = args.next().map_or(Ok(3), |a| a.parse())?;
    let dir = tempfile::tempdir()?;
    // PATCHWARDEN_DATABASE_URL (an empty PostgreSQL database) measures that backend instead.
    let store = match std::env::var("PATCHWARDEN_DATABASE_URL") {
        Ok(url) if !url.is_empty() => Store::connect(&DatabaseUrl::parse(&url)?).await?,
        _ => Store::open(&dir.path().join("patchwarden.db")).await?,
    };
    println!("database: {}", store.backend().as_str());
    let started = Instant::now();
    setup(&store, hosts, Timestamp::now()).await?;
    println!(
        "setup: {hosts} hosts in {:.1} s (not timed below)",
        started.elapsed().as_secs_f64()
    );
    let controller = Controller::new(store, Arc::new(SystemClock), Arc::new(NoObserver));
    let request = CreatePlan {
        name: "bench".into(),
        hosts: Vec::new(),
        group: Some("web".into()),
        updates: UpdateSelector::Kind(UpdateKind::Security),
        horizon_days: None,
        hooks: None,
    };
    let (mut create, mut get) = (Vec::new(), Vec::new());
    for run in 0..runs {
        let started = Instant::now();
        let plan = plans::create(&controller, "alice", &request).await?;
        create.push(started.elapsed());
        let changes: usize = plan.hosts.iter().map(|h| h.changes.len()).sum();
        assert_eq!(plan.hosts.len(), hosts, "every host is in the plan");
        assert_eq!(changes, hosts, "one security change per host");
        let started = Instant::now();
        let shown = plans::get(&controller, plan.id).await?;
        get.push(started.elapsed());
        assert!(shown.stale.is_empty(), "{:?}", shown.stale);
        println!(
            "run {run}: plan {} with {} hosts, {} batches, {} evidence requests",
            plan.id,
            plan.hosts.len(),
            plan.batches.as_array().map_or(0, Vec::len),
            plan.evidence_requested.len()
        );
    }
    report("plans::create (POST /api/v1/plans)", create);
    report("plans::get (GET /api/v1/plans/{id})", get);
    Ok(())
}
