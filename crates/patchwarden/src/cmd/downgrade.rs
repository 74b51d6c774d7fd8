//! `patchwarden downgrade check`: which advisories going back to older versions brings back
//! (docs/downgrade.md). Offline: the inventory, advisories and policy are read like `scan`'s;
//! the check itself is pw-scan's `Intelligence::downgrade_check`.

use std::collections::BTreeMap;
use std::io::Write;
use std::process::ExitCode;

use anyhow::{Context, bail};
use jiff::Timestamp;
use pw_model::Tier;
use pw_scan::{DowngradeCheck, DowngradeTarget, Intelligence, ScanContext};

use super::scan_input::{IntelligenceArgs, InventoryArgs, RankingArgs};
use super::scan_output::{
    Format, Host, IntelligenceInfo, advisory_and_cve, header, plural, write_table,
};
use crate::paths::runtime;

#[derive(clap::Args)]
pub struct Args {
    #[command(subcommand)]
    command: Command,
}

#[derive(clap::Subcommand)]
enum Command {
    /// The advisories that match at the target versions but not at the installed ones, with
    /// their tiers (matching by source package on Debian/Ubuntu, exactly like `scan`).
    Check(CheckArgs),
}

#[derive(clap::Args)]
struct CheckArgs {
    #[command(flatten)]
    inventory: InventoryArgs,
    /// A package and the exact lower version to go to, e.g. libssl3=3.0.15-1~deb12u1
    /// (repeatable; several per flag).
    #[arg(long, value_name = "PKG=VERSION", num_args = 1.., required = true)]
    target: Vec<String>,
    #[command(flatten)]
    intelligence: IntelligenceArgs,
    #[command(flatten)]
    ranking: RankingArgs,
    /// Output format.
    #[arg(long, value_enum, default_value = "table")]
    format: Format,
}

/// The JSON document (schema `patchwarden-downgrade-check/1`).
#[derive(serde::Serialize)]
struct Report {
    schema: &'static str,
    generated_at: Timestamp,
    host: Host,
    intelligence: IntelligenceInfo,
    summary: Summary,
    #[serde(flatten)]
    check: DowngradeCheck,
}

#[derive(serde::Serialize)]
struct Summary {
    changes: usize,
    reintroduced: usize,
    by_tier: BTreeMap<Tier, usize>,
    /// Whether a T0 or T1 advisory comes back: approving such a downgrade in the controller
    /// needs an explicit risk acceptance.
    needs_risk_acceptance: bool,
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    match args.command {
        Command::Check(args) => check(args),
    }
}

fn check(args: CheckArgs) -> anyhow::Result<ExitCode> {
    let now = args.ranking.now();
    let (os, inventory) = args.inventory.read()?;
    for problem in inventory.problem_messages().iter().take(10) {
        eprintln!("warning: {problem}");
    }
    let scheme = os.scheme();
    let mut errors = Vec::new();
    let targets: Vec<DowngradeTarget> = args
        .target
        .iter()
        .filter_map(|t| {
            DowngradeTarget::parse(t, scheme)
                .map_err(|e| errors.push(e))
                .ok()
        })
        .collect();
    if !errors.is_empty() {
        bail!(listed(&errors));
    }
    let policy = args.ranking.policy()?;
    let (mut parsed, source) = runtime()?.block_on(args.intelligence.load(&os))?;
    let intelligence = Intelligence::new(parsed.advisories(), parsed.kev.as_ref(), &parsed.epss);
    let mut matcher = intelligence.matcher(&os, args.ranking.ubuntu_pro);
    let context = ScanContext {
        policy: &policy,
        group: args.ranking.group.as_deref(),
        first_seen: None,
        now,
    };
    let check = intelligence
        .downgrade_check(
            &mut matcher,
            scheme,
            &inventory.packages,
            &targets,
            &context,
        )
        .map_err(|errors| anyhow::anyhow!(listed(&errors)))?;
    let by_tier = check.by_tier();
    let needs_risk_acceptance = check.at_least(Tier::T1).next().is_some();
    let report = Report {
        schema: "patchwarden-downgrade-check/1",
        generated_at: now,
        host: Host {
            name: args.inventory.host_name(),
            os: os.to_string(),
            packages: inventory.packages.len(),
        },
        intelligence: IntelligenceInfo {
            source,
            advisories: intelligence.index().advisories().len(),
        },
        summary: Summary {
            changes: check.changes.len(),
            reintroduced: check.reintroduced.len(),
            by_tier: Tier::ALL.iter().map(|t| (*t, by_tier[t.index()])).collect(),
            needs_risk_acceptance,
        },
        check,
    };
    let mut out = std::io::stdout().lock();
    match args.format {
        Format::Json => {
            serde_json::to_writer_pretty(&mut out, &report)?;
            writeln!(out)
        }
        Format::Table => table(&report, &mut out),
    }
    .context("writing the result")?;
    Ok(ExitCode::SUCCESS)
}

/// Every problem, one per line.
fn listed(errors: &[pw_scan::DowngradeError]) -> String {
    let lines: Vec<String> = errors.iter().map(|e| format!("  - {e}")).collect();
    format!(
        "{} bad downgrade target{}:\n{}",
        errors.len(),
        plural(errors.len()),
        lines.join("\n")
    )
}

fn table(report: &Report, out: &mut impl Write) -> std::io::Result<()> {
    header(&report.host, &report.intelligence, out)?;
    for c in &report.check.changes {
        writeln!(
            out,
            "downgrade {} {} → {} (source {} {} → {})",
            c.binary, c.installed, c.target, c.package, c.package_installed, c.package_target
        )?;
    }
    for tier in Tier::ALL {
        let rows: Vec<[String; 5]> = report
            .check
            .reintroduced
            .iter()
            .filter(|r| r.tier == tier)
            .map(|r| {
                [
                    r.binary.clone(),
                    r.target.clone(),
                    r.fixed.clone().unwrap_or_else(|| "no fix".into()),
                    advisory_and_cve(&r.advisory, &r.aliases),
                    r.reasons.first().cloned().unwrap_or_default(),
                ]
            })
            .collect();
        if rows.is_empty() {
            continue;
        }
        writeln!(
            out,
            "\n{tier} {} — {} reintroduced",
            tier.title(),
            rows.len()
        )?;
        write_table(
            out,
            ["PACKAGE", "TARGET", "FIXED IN", "ADVISORY", "WHY"],
            &rows,
        )?;
    }
    let s = &report.summary;
    let tiers: Vec<String> = s.by_tier.iter().map(|(t, n)| format!("{t} {n}")).collect();
    writeln!(
        out,
        "\n{} advisor{} reintroduced by {} change{} ({})",
        s.reintroduced,
        if s.reintroduced == 1 { "y" } else { "ies" },
        s.changes,
        plural(s.changes),
        tiers.join(", ")
    )?;
    if s.needs_risk_acceptance {
        writeln!(
            out,
            "T0/T1 advisories come back: approving this downgrade needs an explicit risk acceptance"
        )?;
    }
    Ok(())
}
