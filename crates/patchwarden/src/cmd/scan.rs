//! `patchwarden scan`: one inventory × advisories × KEV/EPSS × policy → findings by tier.
//!
//! Intelligence comes, part by part, from the files given (`--advisories`, `--kev`, `--epss`),
//! else from the database when feeds were imported, else from the snapshot embedded in the
//! binary (see crates/pw-feeds/snapshot/PROVENANCE.md).

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, bail};
use jiff::Timestamp;
use pw_feeds::{Parsed, Silent};
use pw_model::OsRelease;
use pw_priority::PriorityPolicy;
use pw_scan::{Intelligence, ScanContext};

use super::scan_output::{Format, Report, render};
use crate::paths::{default_db, runtime};

#[derive(clap::Args)]
#[command(group(clap::ArgGroup::new("inventory").required(true).args(["dpkg_status", "rpm_qa", "local"])))]
pub struct Args {
    /// A dpkg status file (plain or .gz), e.g. a copy of /var/lib/dpkg/status.
    #[arg(long, value_name = "FILE")]
    dpkg_status: Option<PathBuf>,
    /// Output of `rpm -qa --queryformat '%{NAME}\t%{EPOCH}\t%{VERSION}\t%{RELEASE}\t%{ARCH}\n'`
    /// or plain `rpm -qa` (plain or .gz).
    #[arg(long, value_name = "FILE")]
    rpm_qa: Option<PathBuf>,
    /// Scan this machine (reads /etc/os-release and the dpkg or rpm database).
    #[arg(long)]
    local: bool,
    /// The release of the scanned host: debian:12, ubuntu:22.04, almalinux:9, … (required with
    /// a file; detected with --local).
    #[arg(long, value_name = "FAMILY:RELEASE")]
    os: Option<OsRelease>,
    /// Also match Ubuntu Pro (ESM) advisories of the release.
    #[arg(long)]
    ubuntu_pro: bool,
    /// OSV files or directories to match against instead of the database.
    #[arg(long, value_name = "PATH", num_args = 1..)]
    advisories: Vec<PathBuf>,
    /// A CISA KEV catalog (JSON, optionally .gz).
    #[arg(long, value_name = "FILE")]
    kev: Option<PathBuf>,
    /// An EPSS CSV (optionally .gz).
    #[arg(long, value_name = "FILE")]
    epss: Option<PathBuf>,
    /// A policy file; its `[priority]` table sets tier rules and deadlines (docs/priority.md).
    #[arg(long, value_name = "FILE")]
    policy: Option<PathBuf>,
    /// The host's group, for per-group rules of the policy.
    #[arg(long)]
    group: Option<String>,
    /// Database with imported feeds (default: the data directory's patchwarden.db).
    #[arg(long, env = "PATCHWARDEN_DB")]
    db: Option<PathBuf>,
    /// Output format.
    #[arg(long, value_enum, default_value = "table")]
    format: Format,
    /// Also list findings that have no fix yet (hidden by default).
    #[arg(long)]
    include_unfixed: bool,
    /// With --local: do not download candidate packages to read their changelogs (the CVEs
    /// pending upgrades fix are then those of the advisories only).
    #[arg(long)]
    no_download: bool,
    /// The instant deadlines are judged against (default: now); for reproducible reports.
    #[arg(long, value_name = "INSTANT")]
    now: Option<Timestamp>,
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let now = args.now.unwrap_or_else(Timestamp::now);
    let (os, inventory) = read_inventory(&args)?;
    for problem in inventory.problem_messages().iter().take(10) {
        eprintln!("warning: {problem}");
    }
    let policy = read_policy(args.policy.as_deref())?;
    let (mut parsed, source) = runtime()?.block_on(load_intelligence(&args, &os))?;
    let advisories = parsed.advisories();
    let intelligence = Intelligence::new(advisories, parsed.kev.as_ref(), &parsed.epss);
    let mut matcher = intelligence.matcher(&os, args.ubuntu_pro);
    let context = ScanContext {
        policy: &policy,
        group: args.group.as_deref(),
        first_seen: None,
        now,
    };
    let mut findings = intelligence.scan(&mut matcher, &inventory.packages, &context);
    let mut backported = Vec::new();
    let local_dpkg = args.local && os.scheme() == pw_version::Scheme::Dpkg;
    if local_dpkg {
        let cache = crate::paths::default_data_dir().join("changelog-cache");
        let cache = (!args.no_download).then_some(cache.as_path());
        let evidence = super::scan_local::collect(&inventory.packages, cache);
        (findings, backported) = super::scan_local::apply(
            &intelligence,
            findings,
            &evidence,
            &inventory.packages,
            &ScanContext {
                first_seen: Some(now),
                ..context
            },
        );
    }
    let report = Report::new(
        host_name(&args),
        &os,
        inventory.packages.len(),
        source,
        intelligence.index().advisories().len(),
        now,
        findings,
        args.include_unfixed,
    )
    .with_backported(backported);
    // What this machine still needs after its changes (docs/restarts.md).
    let report = if local_dpkg {
        report.with_restart(pw_agent::restart::collect_status(&pw_host::LocalRunner))
    } else {
        report
    };
    let mut out = std::io::stdout().lock();
    render(&report, args.format, &mut out).context("writing the report")?;
    Ok(ExitCode::SUCCESS)
}

fn read_inventory(args: &Args) -> anyhow::Result<(OsRelease, pw_host::HostInventory)> {
    if args.local {
        let os = match &args.os {
            Some(os) => os.clone(),
            None => pw_host::read_local_os()?,
        };
        let inventory = pw_host::read_local_inventory(&os)?;
        return Ok((os, inventory));
    }
    let Some(os) = args.os.clone() else {
        bail!("--os is required with an inventory file (e.g. --os debian:12)");
    };
    let (inventory, scheme_ok) = match (&args.dpkg_status, &args.rpm_qa) {
        (Some(path), _) => (
            pw_host::read_dpkg_status_file(path)?,
            os.scheme() == pw_version::Scheme::Dpkg,
        ),
        (_, Some(path)) => (
            pw_host::read_rpm_qa_file(path)?,
            os.scheme() == pw_version::Scheme::Rpm,
        ),
        _ => bail!("give --dpkg-status FILE, --rpm-qa FILE or --local"),
    };
    if !scheme_ok {
        bail!("--os {os} does not use the package format of the inventory file given");
    }
    Ok((os, inventory))
}

fn read_policy(path: Option<&Path>) -> anyhow::Result<PriorityPolicy> {
    let Some(path) = path else {
        return Ok(PriorityPolicy::default());
    };
    let text =
        std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    let value: toml::Table =
        toml::from_str(&text).with_context(|| format!("{}: invalid TOML", path.display()))?;
    match value.get("priority") {
        None => Ok(PriorityPolicy::default()),
        Some(table) => PriorityPolicy::from_toml_value(table).map_err(|errors| {
            anyhow::anyhow!(
                "{}: invalid policy:\n{}",
                path.display(),
                errors.with_prefix("priority")
            )
        }),
    }
}

/// Loads advisories, KEV and EPSS: files given, else the database, else the snapshot.
async fn load_intelligence(args: &Args, os: &OsRelease) -> anyhow::Result<(Parsed, String)> {
    let mut base = Parsed::default();
    let mut source = String::new();
    let needs_base = args.advisories.is_empty() || args.kev.is_none() || args.epss.is_none();
    if needs_base {
        let db = args.db.clone().unwrap_or_else(default_db);
        (base, source) = pw_feeds::load_for_release(&db, os).await?;
    }
    if !args.advisories.is_empty() {
        base.osv = parse_files(&args.advisories)?.osv;
        source = format!("files {}", join_paths(&args.advisories));
    }
    if let Some(kev) = &args.kev {
        base.kev = parse_files(std::slice::from_ref(kev))?
            .kev
            .with_context(|| format!("{} is not a KEV catalog", kev.display()))?
            .into();
    }
    if let Some(epss) = &args.epss {
        base.epss = parse_files(std::slice::from_ref(epss))?.epss;
        if base.epss.is_empty() {
            bail!("{} is not an EPSS file", epss.display());
        }
    }
    Ok((base, source))
}

/// Reads and parses feed files or directories given on the command line.
fn parse_files(paths: &[PathBuf]) -> anyhow::Result<Parsed> {
    pw_feeds::parse_inputs(&pw_feeds::read_paths(paths)?, &Silent)
}

fn host_name(args: &Args) -> String {
    let file = args.dpkg_status.as_ref().or(args.rpm_qa.as_ref());
    match file {
        Some(path) => path.display().to_string(),
        None => std::fs::read_to_string("/etc/hostname")
            .map(|h| h.trim().to_owned())
            .unwrap_or_else(|_| "localhost".into()),
    }
}

fn join_paths(paths: &[PathBuf]) -> String {
    paths
        .iter()
        .map(|p| p.display().to_string())
        .collect::<Vec<_>>()
        .join(", ")
}
