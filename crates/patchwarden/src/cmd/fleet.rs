//! `patchwarden fleet apply|show|groups`: the controller's fleet document through its API
//! (docs/fleet.md), as an operator with a token (see `api_client.rs` for where the URL and the
//! token come from). `apply` needs the admin role; `show` and `groups` a viewer.

use std::fmt::Write as _;
use std::io::Read as _;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use pw_protocol::{FleetApplied, FleetView, GroupList, MembershipConflict};
use reqwest::Method;

use crate::api_client::{ApiArgs, ApiClient};
use crate::paths::runtime;

#[derive(clap::Args)]
pub struct Args {
    #[command(flatten)]
    api: ApiArgs,
    #[command(subcommand)]
    command: FleetCommand,
}

#[derive(clap::Subcommand)]
enum FleetCommand {
    /// Validates FILE as a whole and stores it as the next version (admin); prints what changed.
    Apply {
        /// The fleet document (TOML); `-` reads standard input.
        file: PathBuf,
        /// Validate and print the diff against the current version; store nothing.
        #[arg(long)]
        dry_run: bool,
        /// Apply only if the current version is N (0: none applied yet); otherwise nothing is
        /// stored and the command fails (409).
        #[arg(long, value_name = "N")]
        expect_version: Option<i64>,
    },
    /// Prints the current document, after a comment naming its version, operator and time.
    Show,
    /// Every group with environment, staging counterpart, owners and the known hosts in it;
    /// conflicts and hosts in no group.
    Groups {
        #[arg(long, default_value = "table", value_parser = ["table", "json"])]
        format: String,
    },
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let client = ApiClient::from_args(&args.api)?;
    let text = runtime()?.block_on(async {
        match args.command {
            FleetCommand::Apply {
                file,
                dry_run,
                expect_version,
            } => apply(&client, &file, dry_run, expect_version).await,
            FleetCommand::Show => show(&client).await,
            FleetCommand::Groups { format } => groups(&client, &format).await,
        }
    })?;
    print!("{text}");
    Ok(ExitCode::SUCCESS)
}

async fn apply(
    client: &ApiClient,
    file: &PathBuf,
    dry_run: bool,
    expect_version: Option<i64>,
) -> anyhow::Result<String> {
    let document = if file.as_os_str() == "-" {
        let mut text = String::new();
        std::io::stdin()
            .read_to_string(&mut text)
            .context("reading the fleet document from standard input")?;
        text
    } else {
        std::fs::read_to_string(file).with_context(|| format!("cannot read {}", file.display()))?
    };
    let mut path = format!("/api/v1/fleet?dry_run={dry_run}");
    if let Some(version) = expect_version {
        write!(path, "&expected_version={version}")?;
    }
    let applied: FleetApplied = client
        .send_text(Method::PUT, &path, "application/toml", document)
        .await
        .with_context(|| format!("fleet document {}", file.display()))?;
    Ok(render_applied(&applied))
}

fn render_applied(applied: &FleetApplied) -> String {
    let mut out = String::new();
    let count = applied.changes.len();
    let changes = format!("{count} change{}", if count == 1 { "" } else { "s" });
    match applied.version {
        None => writeln!(
            out,
            "dry run: valid; {changes} against version {} (nothing stored)",
            applied.previous_version
        ),
        Some(version) => writeln!(
            out,
            "applied fleet document version {version} ({changes} against version {})",
            applied.previous_version
        ),
    }
    .expect("writing to a String");
    for change in &applied.changes {
        writeln!(out, "  {}", change.text).expect("writing to a String");
    }
    out
}

async fn show(client: &ApiClient) -> anyhow::Result<String> {
    let fleet: FleetView = client.get("/api/v1/fleet").await?;
    let mut out = format!(
        "# fleet document version {} applied by {} at {} (sha256 {})\n",
        fleet.version, fleet.operator, fleet.applied_at, fleet.sha256
    );
    out.push_str(&fleet.document);
    if !out.ends_with('\n') {
        out.push('\n');
    }
    Ok(out)
}

async fn groups(client: &ApiClient, format: &str) -> anyhow::Result<String> {
    let list: GroupList = client.get("/api/v1/groups").await?;
    if format == "json" {
        return Ok(serde_json::to_string_pretty(&list)? + "\n");
    }
    Ok(render_groups(&list))
}

fn render_groups(list: &GroupList) -> String {
    let mut out = String::new();
    let Some(version) = list.fleet_version else {
        out.push_str("no fleet document applied yet: no groups (patchwarden fleet apply FILE)\n");
        return out;
    };
    let _ = writeln!(out, "fleet document version {version}");
    for group in &list.groups {
        let staging = group
            .staging_counterpart
            .as_deref()
            .map(|s| format!(", staging {s}"))
            .unwrap_or_default();
        let _ = writeln!(
            out,
            "\n{} ({}{staging}) owners: {}",
            group.name,
            group.environment,
            group.owners.join(", ")
        );
        if group.members.is_empty() {
            out.push_str("  no hosts\n");
        }
        for member in &group.members {
            let _ = writeln!(out, "  {} (by {})", member.hostname, member.matched_by);
        }
        for conflict in &group.conflicts {
            let _ = writeln!(out, "  conflict: {}", conflict_line(conflict));
        }
    }
    if !list.conflicts.is_empty() {
        out.push_str("\nconflicts (these hosts are in no group until the document is fixed):\n");
        for conflict in &list.conflicts {
            let _ = writeln!(out, "  {}", conflict_line(conflict));
        }
    }
    if !list.ungrouped.is_empty() {
        let names: Vec<&str> = list.ungrouped.iter().map(|h| h.hostname.as_str()).collect();
        let _ = writeln!(out, "\nin no group: {}", names.join(", "));
    }
    out
}

fn conflict_line(conflict: &MembershipConflict) -> String {
    format!(
        "{} is matched by {} of {}",
        conflict.hostname,
        conflict.level,
        conflict.groups.join(" and ")
    )
}
