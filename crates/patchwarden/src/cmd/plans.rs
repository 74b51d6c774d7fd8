//! `patchwarden plans list|show|create|submit|approve|reject|refresh`: change plans in the
//! controller through its API (docs/planning.md, *Plans in the controller*), as the operator
//! whose token the CLI holds (see `api_client.rs` for where the URL and the token come from).
//! The controller builds plans from live agent data and enforces the workflow: the token's
//! operator is the actor, approving needs the approver role and never the plan's author.

use std::fmt::Write as _;
use std::process::ExitCode;

use anyhow::Context as _;
use pw_protocol::{
    ApprovePlan, CreatePlan, PlanList, PlanView, RefreshPlan, RejectPlan, RiskAcceptanceRequest,
    SubmitPlan, UpdateKind, UpdateSelector,
};
use reqwest::Method;
use serde_json::Value;

use crate::api_client::{ApiArgs, ApiClient};
use crate::paths::runtime;

#[derive(clap::Args)]
pub struct Args {
    #[command(flatten)]
    api: ApiArgs,
    #[command(subcommand)]
    command: PlansCommand,
}

#[derive(clap::Subcommand)]
enum PlansCommand {
    /// Every plan, newest first: id, state, version, author, environments.
    List {
        #[arg(long, default_value = "table", value_parser = ["table", "json"])]
        format: String,
    },
    /// One plan: hosts with their exact changes, slots, rollback versions, risks and history;
    /// and why it is stale when the live versions moved.
    Show {
        id: i64,
        #[arg(long, default_value = "text", value_parser = ["text", "json"])]
        format: String,
    },
    /// Builds a plan from the hosts' live data (operator); prints it.
    Create {
        /// A name for people, e.g. "2026-12 security".
        #[arg(long)]
        name: String,
        /// A host by the name its agent reports (repeatable); or --group.
        #[arg(
            long = "host",
            conflicts_with = "group",
            required_unless_present = "group"
        )]
        hosts: Vec<String>,
        /// A group of the fleet document: its current members.
        #[arg(long)]
        group: Option<String>,
        /// Which pending upgrades: security (offered from a security suite, and what they pull
        /// in) or all.
        #[arg(long, default_value = "security", value_parser = ["security", "all"], conflicts_with_all = ["packages", "downgrade"])]
        updates: String,
        /// Only these packages' offered upgrades (repeatable).
        #[arg(long = "package", conflicts_with = "downgrade")]
        packages: Vec<String>,
        /// A downgrade plan: this installed package goes to this exact lower version
        /// (repeatable; docs/downgrade.md).
        #[arg(long, value_name = "PKG=VERSION")]
        downgrade: Vec<String>,
        /// A downgrade's local archive: a directory of .deb files on the hosts offered to apt
        /// for this change only, beside the host's sources (docs/downgrade.md).
        #[arg(long, value_name = "DIR", requires = "downgrade")]
        archive: Option<String>,
        /// How far ahead window slots are searched (1 to 90 days).
        #[arg(long, value_name = "DAYS")]
        horizon_days: Option<u32>,
        /// The change's hooks as JSON (conffiles, stop_units, migrations, benchmark;
        /// docs/downgrade.md "Hooks"), approved with the plan.
        #[arg(long, value_name = "FILE")]
        hooks: Option<std::path::PathBuf>,
        #[arg(long, default_value = "text", value_parser = ["text", "json"])]
        format: String,
    },
    /// The author asks for review (draft → in_review).
    Submit {
        id: i64,
        /// Only if the plan is still at version N (the one you reviewed).
        #[arg(long, value_name = "N")]
        expect_version: Option<i64>,
        /// The review must be decided within this many hours (default 168).
        #[arg(long, value_name = "HOURS")]
        review_hours: Option<u32>,
    },
    /// Approve (approver; never the plan's author). The plan is then scheduled and its rollout
    /// starts at its first window slot.
    Approve {
        id: i64,
        #[arg(long, value_name = "N")]
        expect_version: Option<i64>,
        /// Recorded with the approval.
        #[arg(long)]
        comment: Option<String>,
        /// A downgrade bringing back T0/T1 advisories: why you accept that risk (with
        /// --risk-expires).
        #[arg(long, value_name = "REASON", requires = "risk_expires")]
        accept_risk: Option<String>,
        /// Until when the risk is accepted (RFC 3339, at most 365 days ahead).
        #[arg(long, value_name = "INSTANT", requires = "accept_risk")]
        risk_expires: Option<jiff::Timestamp>,
    },
    /// Turn the plan down (approver), with a reason.
    Reject {
        id: i64,
        #[arg(long)]
        reason: String,
        #[arg(long, value_name = "N")]
        expect_version: Option<i64>,
    },
    /// Rebuild the plan from its request and today's live data (back to draft).
    Refresh {
        id: i64,
        #[arg(long, value_name = "N")]
        expect_version: Option<i64>,
    },
}

/// The `--hooks` file: JSON, checked here so a mistake names the file and the field.
fn read_hooks(path: &std::path::Path) -> anyhow::Result<pw_protocol::ChangeHooks> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("reading the hooks file {}", path.display()))?;
    let hooks: pw_protocol::ChangeHooks = serde_json::from_str(&text)
        .with_context(|| format!("{}: not a hooks document", path.display()))?;
    hooks
        .validate()
        .map_err(|problems| anyhow::anyhow!("{}: {}", path.display(), problems.join("; ")))?;
    Ok(hooks)
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let client = ApiClient::from_args(&args.api)?;
    let text = runtime()?.block_on(command(&client, args.command))?;
    print!("{text}");
    Ok(ExitCode::SUCCESS)
}

async fn command(client: &ApiClient, command: PlansCommand) -> anyhow::Result<String> {
    let (view, format) = match command {
        PlansCommand::List { format } => {
            let list: PlanList = client.get("/api/v1/plans").await?;
            return list_text(&list, &format);
        }
        PlansCommand::Show { id, format } => {
            (client.get(&format!("/api/v1/plans/{id}")).await?, format)
        }
        PlansCommand::Create {
            name,
            hosts,
            group,
            updates,
            packages,
            downgrade,
            archive,
            horizon_days,
            hooks,
            format,
        } => {
            let hooks = hooks.as_deref().map(read_hooks).transpose()?;
            let updates = match (packages.is_empty(), updates.as_str()) {
                _ if !downgrade.is_empty() => UpdateSelector::Downgrade {
                    downgrade: downgrade_targets(&downgrade)?,
                    archive,
                },
                (false, _) => UpdateSelector::Packages { packages },
                (true, "all") => UpdateSelector::Kind(UpdateKind::All),
                (true, _) => UpdateSelector::Kind(UpdateKind::Security),
            };
            let request = CreatePlan {
                name,
                hosts,
                group,
                updates,
                horizon_days,
                hooks,
            };
            let view = client
                .send_json(Method::POST, "/api/v1/plans", &request)
                .await?;
            (view, format)
        }
        PlansCommand::Submit {
            id,
            expect_version,
            review_hours,
        } => {
            let body = SubmitPlan {
                expected_version: expect_version,
                review_hours,
            };
            (step(client, id, "submit", &body).await?, "text".into())
        }
        PlansCommand::Approve {
            id,
            expect_version,
            comment,
            accept_risk,
            risk_expires,
        } => {
            let body = ApprovePlan {
                expected_version: expect_version,
                comment,
                risk_acceptance: accept_risk
                    .zip(risk_expires)
                    .map(|(reason, expires_at)| RiskAcceptanceRequest { reason, expires_at }),
            };
            (step(client, id, "approve", &body).await?, "text".into())
        }
        PlansCommand::Reject {
            id,
            reason,
            expect_version,
        } => {
            let body = RejectPlan {
                expected_version: expect_version,
                reason,
            };
            (step(client, id, "reject", &body).await?, "text".into())
        }
        PlansCommand::Refresh { id, expect_version } => {
            let body = RefreshPlan {
                expected_version: expect_version,
            };
            (step(client, id, "refresh", &body).await?, "text".into())
        }
    };
    match format.as_str() {
        "json" => Ok(format!("{}\n", serde_json::to_string_pretty(&view)?)),
        _ => Ok(plan_text(&view)),
    }
}

/// `--downgrade PKG=VERSION` flags as the request's map (the controller validates them).
fn downgrade_targets(
    given: &[String],
) -> anyhow::Result<std::collections::BTreeMap<String, String>> {
    let mut out = std::collections::BTreeMap::new();
    for text in given {
        let Some((name, version)) = text.split_once('=') else {
            anyhow::bail!("--downgrade {text:?}: expected PKG=VERSION");
        };
        if out.insert(name.to_owned(), version.to_owned()).is_some() {
            anyhow::bail!("--downgrade {name}: named more than once");
        }
    }
    Ok(out)
}

async fn step<B: serde::Serialize>(
    client: &ApiClient,
    id: i64,
    action: &str,
    body: &B,
) -> anyhow::Result<PlanView> {
    client
        .send_json(Method::POST, &format!("/api/v1/plans/{id}/{action}"), body)
        .await
}

fn list_text(list: &PlanList, format: &str) -> anyhow::Result<String> {
    if format == "json" {
        return Ok(format!("{}\n", serde_json::to_string_pretty(list)?));
    }
    if list.plans.is_empty() {
        return Ok("no plans\n".into());
    }
    let mut out = format!(
        "{:>4}  {:<10}  {:>7}  {:<12}  {:<24}  {}\n",
        "ID", "STATE", "VERSION", "AUTHOR", "ENVIRONMENTS", "NAME"
    );
    for plan in &list.plans {
        let _ = writeln!(
            out,
            "{:>4}  {:<10}  {:>7}  {:<12}  {:<24}  {}",
            plan.id,
            plan.state,
            plan.version,
            plan.author,
            plan.environments.join(","),
            plan.name
        );
    }
    Ok(out)
}

/// A plan for reading in a terminal; `--format json` has every field.
fn plan_text(plan: &PlanView) -> String {
    let mut out = format!(
        "plan {} \"{}\": {}, version {}, by {}\n",
        plan.id, plan.name, plan.state, plan.version, plan.author
    );
    let _ = writeln!(
        out,
        "environments: {}; four eyes: {}",
        plan.environments.join(", "),
        if plan.production {
            "required"
        } else {
            "by policy"
        }
    );
    for problem in strings(&plan.gates["staging_problems"]) {
        let _ = writeln!(out, "staging gate: {problem}");
    }
    for back in strings(&plan.gates["reintroduced"]) {
        let _ = writeln!(out, "reintroduced (needs --accept-risk to approve): {back}");
    }
    if plan.kind == "downgrade" {
        let _ = writeln!(
            out,
            "downgrade: {} advisor{} brought back",
            plan.reintroduced.len(),
            if plan.reintroduced.len() == 1 {
                "y"
            } else {
                "ies"
            }
        );
        for r in &plan.reintroduced {
            let _ = writeln!(
                out,
                "  {} {} {} -> {}: {} {} (fixed in {})",
                r.hostname,
                r.binary,
                r.installed,
                r.target,
                r.advisory,
                r.tier,
                r.fixed.as_deref().unwrap_or("no fix")
            );
        }
    }
    for reason in &plan.stale {
        let _ = writeln!(
            out,
            "STALE: {reason} (patchwarden plans refresh {})",
            plan.id
        );
    }
    for problem in &plan.problems {
        let _ = writeln!(out, "problem: {problem}");
    }
    if let Some(rollout) = &plan.rollout {
        let _ = writeln!(out, "rollout: {rollout}");
    }
    out.push_str("\nhosts:\n");
    for host in &plan.hosts {
        let batch = host
            .batch
            .map_or("not placed".into(), |b| format!("batch {b}"));
        let _ = writeln!(
            out,
            "  {} ({}, {}, {batch})",
            host.hostname, host.group, host.environment
        );
        for change in &host.changes {
            let _ = writeln!(
                out,
                "    {} {} -> {}  {}{}{}{}",
                change.package,
                change.from.as_deref().unwrap_or("(new)"),
                change.to,
                change.reason,
                change
                    .tier
                    .as_deref()
                    .map(|t| format!(" {t}"))
                    .unwrap_or_default(),
                change
                    .deadline
                    .map(|d| format!(" due {d}"))
                    .unwrap_or_default(),
                if change.advisories.is_empty() {
                    String::new()
                } else {
                    format!(" [{}]", change.advisories.join(", "))
                }
            );
        }
    }
    if !plan.slots.is_empty() {
        out.push_str("\nwindow slots:\n");
    }
    for slot in &plan.slots {
        let _ = writeln!(
            out,
            "  {} {}: {} to {}, usable {} min, rollback buffer {} min, batches {:?}",
            slot.group,
            slot.window,
            slot.start,
            slot.end,
            slot.usable_seconds / 60,
            slot.rollback_buffer_seconds / 60,
            slot.batches
        );
    }
    out.push_str("\nrollback to:\n");
    for host in &plan.rollback {
        let _ = writeln!(out, "  {}: {}", host.hostname, host.versions.join(" "));
    }
    if let Some(risks) = plan.risks.as_array().filter(|r| !r.is_empty()) {
        out.push_str("\nrisks:\n");
        for risk in risks {
            let first = risk["evidence"][0]["text"].as_str().unwrap_or_default();
            let _ = writeln!(
                out,
                "  {} {}: {first}",
                text(&risk["level"]),
                text(&risk["risk"])
            );
        }
    }
    out.push_str("\nhistory:\n");
    for entry in &plan.history {
        let comment = entry
            .comment
            .as_deref()
            .map(|c| format!(": {c}"))
            .unwrap_or_default();
        let _ = writeln!(
            out,
            "  {} {} {} -> {} (v{}){comment}",
            entry.at, entry.actor, entry.event, entry.to_state, entry.version
        );
    }
    out
}

fn strings(value: &Value) -> Vec<&str> {
    value
        .as_array()
        .map(|items| items.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default()
}

fn text(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}
