//! `patchwarden scan`: one inventory × advisories × KEV/EPSS × policy → findings by tier.
//!
//! Intelligence comes, part by part, from the files given (`--advisories`, `--kev`, `--epss`),
//! else from the database when feeds were imported, else from the snapshot embedded in the
//! binary (see crates/pw-feeds/snapshot/PROVENANCE.md).

use std::process::ExitCode;

use anyhow::Context;
use pw_scan::{Intelligence, ScanContext};

use super::scan_input::{IntelligenceArgs, InventoryArgs, RankingArgs};
use super::scan_output::{Format, Report, render};
use crate::paths::runtime;

#[derive(clap::Args)]
pub struct Args {
    #[command(flatten)]
    inventory: InventoryArgs,
    #[command(flatten)]
    intelligence: IntelligenceArgs,
    #[command(flatten)]
    ranking: RankingArgs,
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
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let now = args.ranking.now();
    let (os, inventory) = args.inventory.read()?;
    for problem in inventory.problem_messages().iter().take(10) {
        eprintln!("warning: {problem}");
    }
    let policy = args.ranking.policy()?;
    let (mut parsed, source) = runtime()?.block_on(args.intelligence.load(&os))?;
    let advisories = parsed.advisories();
    let intelligence = Intelligence::new(advisories, parsed.kev.as_ref(), &parsed.epss);
    let mut matcher = intelligence.matcher(&os, args.ranking.ubuntu_pro);
    let context = ScanContext {
        policy: &policy,
        group: args.ranking.group.as_deref(),
        first_seen: None,
        now,
    };
    let mut findings = intelligence.scan(&mut matcher, &inventory.packages, &context);
    let mut backported = Vec::new();
    let local_dpkg = args.inventory.local && os.scheme() == pw_version::Scheme::Dpkg;
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
        args.inventory.host_name(),
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
