//! `patchwarden plan`: a change plan from a fleet description and a policy file.
//!
//! Glue only: reads the files, expands each group's windows and blackouts with pw-calendar into
//! open slots over `[--from, --from + --horizon)`, parses the evidence files (apt/dpkg output)
//! named by the fleet file, and hands everything to `pw_planner::build_plan`. Offline: it prints
//! the plan for reading. Plans to approve and roll out are built by the controller from live
//! agent data (`patchwarden plans create`, [`super::plans`]). See docs/planning.md.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, anyhow, bail};
use jiff::{SignedDuration, Timestamp};
use pw_inventory::apt::{Availability, Simulation};
use pw_inventory::dpkg_query::parse_verify;
use pw_inventory::parse_dpkg_conffiles;
use pw_planner::{
    Evidence, EvidenceFiles, FleetFile, Host, PlanInput, Policy, ScanFile, Scope, WindowSlot,
};

#[derive(clap::Args)]
pub struct Args {
    /// Fleet description (TOML, or JSON when the name ends in .json).
    #[arg(long)]
    fleet: PathBuf,
    /// Policy file (TOML) with [groups.<name>] tables.
    #[arg(long)]
    policy: PathBuf,
    /// Plan from this instant (RFC 3339, e.g. 2026-11-23T00:00:00Z); default: --now.
    #[arg(long)]
    from: Option<String>,
    /// Judge deadlines and exposure at this instant (RFC 3339) instead of the clock's now:
    /// the same inputs then give the same plan on any day.
    #[arg(long)]
    now: Option<String>,
    /// How far ahead to plan: 30d, 12w, 8760h.
    #[arg(long, default_value = "30d")]
    horizon: String,
    /// Output format.
    #[arg(long, default_value = "markdown", value_parser = ["json", "markdown"])]
    format: String,
    /// Only these groups (repeatable).
    #[arg(long = "group")]
    groups: Vec<String>,
    /// Only hosts with this label, KEY=VALUE (repeatable, all must match).
    #[arg(long = "label")]
    labels: Vec<String>,
    /// Only findings of this tier or more urgent (T0…T4).
    #[arg(long)]
    max_tier: Option<String>,
    /// The plan's author (default: $USER).
    #[arg(long)]
    author: Option<String>,
    /// The plan's id (default: plan-<from>).
    #[arg(long)]
    id: Option<String>,
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let policy_text = std::fs::read_to_string(&args.policy)
        .with_context(|| format!("reading policy {}", args.policy.display()))?;
    let policy = Policy::from_toml_str(&policy_text)
        .map_err(|errors| anyhow!("invalid policy {}: {errors}", args.policy.display()))?;
    let now = match &args.now {
        Some(text) => instant("--now", text)?,
        None => Timestamp::now(),
    };
    let from = match &args.from {
        Some(text) => instant("--from", text)?,
        None => now,
    };
    let horizon = pw_planner::duration::parse_duration(&args.horizon)
        .map_err(|e| anyhow!("--horizon {:?}: {e}", args.horizon))?;
    let until = from
        .checked_add(SignedDuration::from_secs(
            i64::try_from(horizon).unwrap_or(i64::MAX),
        ))
        .map_err(|e| anyhow!("--horizon {:?} is too far: {e}", args.horizon))?;
    let slots = window_slots(&policy, from, until)
        .map_err(|e| anyhow!("invalid policy {}: {e}", args.policy.display()))?;
    let fleet = load_fleet(&args.fleet)?;
    let scope = scope(&args)?;
    let input = PlanInput {
        plan_id: args
            .id
            .clone()
            .unwrap_or_else(|| format!("plan-{}", from.strftime("%Y%m%dT%H%MZ"))),
        author: args
            .author
            .clone()
            .or_else(|| std::env::var("USER").ok())
            .unwrap_or_else(|| "unknown".into()),
        hosts: fleet.hosts,
        group_evidence: fleet.group_evidence,
        host_evidence: fleet.host_evidence,
        staging: fleet.staging,
        slots,
        scope,
        from,
        until,
    };
    let plan = pw_planner::build_plan(&input, &policy, now.max(from));
    match args.format.as_str() {
        "json" => println!("{}", plan.to_json()),
        _ => print!("{}", pw_planner::to_markdown(&plan)),
    }
    Ok(ExitCode::SUCCESS)
}

/// An RFC 3339 instant given with `flag`.
fn instant(flag: &str, text: &str) -> anyhow::Result<Timestamp> {
    text.parse::<Timestamp>().map_err(|e| {
        anyhow!("{flag} {text:?}: expected an RFC 3339 instant such as 2026-11-23T00:00:00Z ({e})")
    })
}

/// Each group's open slots; every window/blackout problem of every group is reported at once.
fn window_slots(
    policy: &Policy,
    from: Timestamp,
    until: Timestamp,
) -> anyhow::Result<BTreeMap<String, Vec<WindowSlot>>> {
    pw_fleet::window_slots(policy, from, until).map_err(|problems| {
        let list: Vec<String> = problems.iter().map(ToString::to_string).collect();
        anyhow::anyhow!(
            "{} window problem(s):\n  - {}",
            list.len(),
            list.join("\n  - ")
        )
    })
}

struct LoadedFleet {
    hosts: Vec<Host>,
    group_evidence: BTreeMap<String, Evidence>,
    host_evidence: BTreeMap<String, Evidence>,
    staging: Vec<pw_planner::StagingRun>,
}

fn load_fleet(path: &Path) -> anyhow::Result<LoadedFleet> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("reading fleet {}", path.display()))?;
    let json = path.extension().is_some_and(|e| e == "json");
    let fleet = FleetFile::parse(&text, json)
        .map_err(|e| anyhow!("invalid fleet file {}: {e}", path.display()))?;
    let base = path.parent().unwrap_or(Path::new("."));
    let mut hosts = Vec::with_capacity(fleet.hosts.len());
    let mut host_evidence = BTreeMap::new();
    for entry in fleet.hosts {
        let findings = match (entry.findings, &entry.scan) {
            (Some(_), Some(_)) => bail!(
                "fleet {}: host {:?} has both findings and scan; keep one",
                path.display(),
                entry.id
            ),
            (Some(findings), None) => findings,
            (None, Some(scan)) => {
                let file = base.join(scan);
                let text = std::fs::read_to_string(&file).with_context(|| {
                    format!("host {:?}: reading scan {}", entry.id, file.display())
                })?;
                let scan: ScanFile = serde_json::from_str(&text).with_context(|| {
                    format!(
                        "host {:?}: scan {} is not a `patchwarden scan --format json` output",
                        entry.id,
                        file.display()
                    )
                })?;
                scan.findings
            }
            (None, None) => Vec::new(),
        };
        if let Some(files) = &entry.evidence {
            host_evidence.insert(
                entry.id.clone(),
                load_evidence(base, files)
                    .with_context(|| format!("host {:?} evidence", entry.id))?,
            );
        }
        hosts.push(Host {
            id: entry.id,
            hostname: entry.hostname,
            group: entry.group,
            environment: entry.environment,
            labels: entry.labels,
            os: entry.os,
            findings,
            targets: entry.targets,
            installed: Default::default(),
        });
    }
    let mut group_evidence = BTreeMap::new();
    for (group, files) in &fleet.evidence {
        group_evidence.insert(
            group.clone(),
            load_evidence(base, files).with_context(|| format!("evidence of group {group:?}"))?,
        );
    }
    Ok(LoadedFleet {
        hosts,
        group_evidence,
        host_evidence,
        staging: fleet.staging,
    })
}

fn load_evidence(base: &Path, files: &EvidenceFiles) -> anyhow::Result<Evidence> {
    let read = |name: &Option<String>| -> anyhow::Result<Option<String>> {
        name.as_ref()
            .map(|n| {
                let file = base.join(n);
                std::fs::read_to_string(&file)
                    .with_context(|| format!("reading {}", file.display()))
            })
            .transpose()
    };
    let mut evidence = Evidence {
        simulation: read(&files.apt_simulation)?.map(|t| Simulation::parse(&t)),
        conffiles: read(&files.dpkg_status)?.map(|t| parse_dpkg_conffiles(t.as_bytes()).packages),
        modified_conffiles: read(&files.dpkg_verify)?.map(|t| parse_verify(&t)),
        availability: None,
    };
    let policy = read(&files.apt_cache_policy)?;
    let madison = read(&files.apt_cache_madison)?;
    if policy.is_some() || madison.is_some() {
        let mut availability = Availability::default();
        if let Some(text) = policy {
            availability.add_policy(&text);
        }
        if let Some(text) = madison {
            availability.add_madison(&text);
        }
        evidence.availability = Some(availability);
    }
    if let Some(list) = &files.modified_conffiles {
        evidence
            .modified_conffiles
            .get_or_insert_default()
            .extend(list.iter().cloned());
    }
    Ok(evidence)
}

fn scope(args: &Args) -> anyhow::Result<Scope> {
    let mut labels = BTreeMap::new();
    for pair in &args.labels {
        let Some((key, value)) = pair.split_once('=') else {
            bail!("--label {pair:?}: expected KEY=VALUE, e.g. rack=r1");
        };
        labels.insert(key.to_owned(), value.to_owned());
    }
    let max_tier = args
        .max_tier
        .as_deref()
        .map(|t| t.parse().map_err(|e: String| anyhow!("--max-tier: {e}")))
        .transpose()?;
    Ok(Scope {
        groups: args.groups.clone(),
        labels,
        max_tier,
    })
}
