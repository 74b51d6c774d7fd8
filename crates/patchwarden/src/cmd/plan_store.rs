//! `patchwarden plans …` and `patchwarden plan --save`: change plans stored in the database and
//! their approval workflow (draft → in_review → approved → scheduled, rejected/expired → reopen).
//!
//! Glue only: the pure `pw_planner::transition` decides, pw-store commits each change in one
//! transaction guarded by the plan's version (`--expect-version N` names the version the actor
//! looked at; a plan that changed since is refused as stale). See docs/planning.md.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, anyhow, bail};
use jiff::{SignedDuration, Timestamp};
use pw_planner::{ApprovalEvent, ApprovalState, Plan};
use pw_store::{PlanEvent, Store, StoredPlan};

use crate::paths::{default_db, runtime};

#[derive(clap::Args)]
pub struct Args {
    /// The database (default: the data directory's patchwarden.db).
    #[arg(long, global = true, env = "PATCHWARDEN_DB")]
    db: Option<PathBuf>,
    #[command(subcommand)]
    command: PlansCommand,
}

#[derive(clap::Subcommand)]
enum PlansCommand {
    /// Stored plans, newest first: id, state, version, author, environments.
    List {
        #[arg(long, default_value = "table", value_parser = ["table", "json"])]
        format: String,
    },
    /// One plan with its current state and approval history.
    Show {
        id: i64,
        #[arg(long, default_value = "markdown", value_parser = ["markdown", "json"])]
        format: String,
    },
    /// The author asks for review (draft → in_review).
    Submit {
        id: i64,
        #[command(flatten)]
        who: Who,
        /// The review must be decided within this time, else it expires: 3d, 12h.
        #[arg(long, default_value = "7d")]
        review_for: String,
    },
    /// A reviewer approves (in_review → approved). Production plans need someone other than the
    /// author and the staging-first gate met.
    Approve {
        id: i64,
        #[command(flatten)]
        who: Who,
        /// Recorded with the approval.
        #[arg(long)]
        comment: Option<String>,
        /// The approval lapses unless the plan is scheduled within this time.
        #[arg(long, default_value = "7d")]
        valid_for: String,
    },
    /// A reviewer turns the plan down (in_review → rejected); the author can reopen it.
    Reject {
        id: i64,
        #[command(flatten)]
        who: Who,
        /// Why (required).
        #[arg(long)]
        reason: String,
    },
    /// Hands an approved plan to the rollout engine (approved → scheduled).
    Schedule {
        id: i64,
        #[command(flatten)]
        who: Who,
        /// Start of the rollout (RFC 3339); default: the plan's first batch.
        #[arg(long)]
        start: Option<String>,
    },
    /// The author takes a rejected or expired plan back to draft.
    Reopen {
        id: i64,
        #[command(flatten)]
        who: Who,
    },
}

/// Who acts, and on which version of the plan.
#[derive(clap::Args)]
struct Who {
    /// The person acting (recorded in the history and the audit log).
    #[arg(long)]
    actor: String,
    /// Act only if the plan is still at this version (the one you reviewed, shown by
    /// `plans show`); default: the current version.
    #[arg(long)]
    expect_version: Option<i64>,
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let db = args.db.unwrap_or_else(default_db);
    if !db.exists() {
        bail!(
            "no database at {} (save a plan first: patchwarden plan … --save)",
            db.display()
        );
    }
    runtime()?.block_on(async {
        let store = Store::open(&db).await?;
        let result = command(&store, args.command).await;
        store.close().await;
        result
    })?;
    Ok(ExitCode::SUCCESS)
}

/// `plan --save`: stores the plan as a draft (or as a new revision of `revise`) and prints its
/// id on stdout; a note for people goes to stderr.
pub fn save(
    db: Option<&Path>,
    plan: &Plan,
    revise: Option<i64>,
    expect_version: Option<i64>,
) -> anyhow::Result<ExitCode> {
    let db = db.map_or_else(default_db, Path::to_path_buf);
    let markdown = pw_planner::to_markdown(plan);
    let stored = runtime()?.block_on(async {
        let store = Store::open(&db).await?;
        let result = match revise {
            None => store.save_plan(plan, &markdown, Timestamp::now()).await,
            Some(id) => {
                let version = match expect_version {
                    Some(version) => version,
                    None => store.plan(id).await?.version,
                };
                store
                    .revise_plan(id, version, plan, &markdown, Timestamp::now())
                    .await
            }
        };
        store.close().await;
        result
    })?;
    println!("{}", stored.id);
    eprintln!(
        "{} plan {} ({}, version {}) in {}; next: patchwarden plans submit {} --actor {}",
        if revise.is_some() { "revised" } else { "saved" },
        stored.id,
        stored.approval.name(),
        stored.version,
        db.display(),
        stored.id,
        stored.author
    );
    Ok(ExitCode::SUCCESS)
}

async fn command(store: &Store, command: PlansCommand) -> anyhow::Result<()> {
    let now = Timestamp::now();
    let stored = match command {
        PlansCommand::List { format } => return list(store, &format).await,
        PlansCommand::Show { id, format } => return show(store, id, &format).await,
        PlansCommand::Submit {
            id,
            who,
            review_for,
        } => {
            let review_deadline = after(now, &review_for, "--review-for")?;
            let event = |_: &StoredPlan| {
                Ok(ApprovalEvent::Submitted {
                    by: who.actor.clone(),
                    review_deadline,
                })
            };
            act(store, id, &who, event, None, now).await?
        }
        PlansCommand::Approve {
            id,
            who,
            comment,
            valid_for,
        } => {
            let valid_until = after(now, &valid_for, "--valid-for")?;
            let event = |plan: &StoredPlan| {
                Ok(ApprovalEvent::Approved {
                    by: who.actor.clone(),
                    gates: plan.gates.clone(),
                    valid_until,
                })
            };
            act(store, id, &who, event, comment.as_deref(), now).await?
        }
        PlansCommand::Reject { id, who, reason } => {
            let event = |_: &StoredPlan| {
                Ok(ApprovalEvent::Declined {
                    by: who.actor.clone(),
                    reason: reason.clone(),
                })
            };
            act(store, id, &who, event, Some(&reason), now).await?
        }
        PlansCommand::Schedule { id, who, start } => {
            let event = |plan: &StoredPlan| {
                Ok(ApprovalEvent::Scheduled {
                    start: schedule_start(plan, start.as_deref())?,
                })
            };
            act(store, id, &who, event, None, now).await?
        }
        PlansCommand::Reopen { id, who } => {
            let event = |_: &StoredPlan| {
                Ok(ApprovalEvent::Reopened {
                    by: who.actor.clone(),
                })
            };
            act(store, id, &who, event, None, now).await?
        }
    };
    println!(
        "plan {} is {} (version {})",
        stored.id,
        describe(&stored.approval),
        stored.version
    );
    Ok(())
}

/// Applies one event. A review or approval whose deadline passed is first recorded as expired
/// (by `patchwarden`), and the requested action is refused.
async fn act(
    store: &Store,
    id: i64,
    who: &Who,
    event: impl FnOnce(&StoredPlan) -> anyhow::Result<ApprovalEvent>,
    comment: Option<&str>,
    now: Timestamp,
) -> anyhow::Result<StoredPlan> {
    let current = store.plan(id).await?;
    let version = who.expect_version.unwrap_or(current.version);
    if version == current.version
        && let Some((what, deadline)) = lapsed(&current.approval, now)
    {
        let comment = format!("{what} deadline {deadline} passed");
        store
            .apply_plan_event(
                id,
                version,
                "patchwarden",
                &ApprovalEvent::Expired,
                Some(&comment),
                now,
            )
            .await?;
        bail!(
            "plan {id}: the {what} expired at {deadline}, so the plan is expired now; its author \
             reopens it (patchwarden plans reopen {id} --actor {}) and submits it again",
            current.author
        );
    }
    let event = event(&current)?;
    store
        .apply_plan_event(id, version, &who.actor, &event, comment, now)
        .await
}

/// The deadline of a review or approval that has passed.
fn lapsed(state: &ApprovalState, now: Timestamp) -> Option<(&'static str, Timestamp)> {
    match state {
        ApprovalState::InReview {
            review_deadline, ..
        } if now >= *review_deadline => Some(("review", *review_deadline)),
        ApprovalState::Approved { valid_until, .. } if now >= *valid_until => {
            Some(("approval", *valid_until))
        }
        _ => None,
    }
}

fn schedule_start(plan: &StoredPlan, start: Option<&str>) -> anyhow::Result<Timestamp> {
    if let Some(text) = start {
        return text.parse().map_err(|e| {
            anyhow!(
                "--start {text:?}: expected an RFC 3339 instant such as 2026-11-29T00:00:00Z ({e})"
            )
        });
    }
    let first = plan.plan["batches"][0]["start"].as_str().ok_or_else(|| {
        anyhow!(
            "plan {} has no batches to start; pass --start INSTANT",
            plan.id
        )
    })?;
    first
        .parse()
        .with_context(|| format!("plan {}: first batch start {first:?}", plan.id))
}

fn after(now: Timestamp, text: &str, option: &str) -> anyhow::Result<Timestamp> {
    let seconds = pw_planner::duration::parse_duration(text)
        .map_err(|e| anyhow!("{option} {text:?}: {e}"))?;
    now.checked_add(SignedDuration::from_secs(
        i64::try_from(seconds).unwrap_or(i64::MAX),
    ))
    .map_err(|e| anyhow!("{option} {text:?} is too far: {e}"))
}

async fn list(store: &Store, format: &str) -> anyhow::Result<()> {
    let plans = store.plans().await?;
    if format == "json" {
        println!("{}", serde_json::to_string_pretty(&plans)?);
        return Ok(());
    }
    if plans.is_empty() {
        println!("no plans stored");
        return Ok(());
    }
    println!(
        "{:<5} {:<10} {:>7}  {:<12} {:<20} {:<20} NAME",
        "ID", "STATE", "VERSION", "AUTHOR", "ENVIRONMENTS", "UPDATED"
    );
    for plan in plans {
        println!(
            "{:<5} {:<10} {:>7}  {:<12} {:<20} {:<20} {}",
            plan.id,
            plan.state,
            plan.version,
            plan.author,
            plan.environments.join(","),
            seconds(&plan.updated_at),
            plan.name
        );
    }
    Ok(())
}

async fn show(store: &Store, id: i64, format: &str) -> anyhow::Result<()> {
    let plan = store.plan(id).await?;
    let history = store.plan_events(id).await?;
    if format == "json" {
        let mut content = plan.plan.clone();
        content["approval"] = serde_json::to_value(&plan.approval)?;
        let record = serde_json::json!({
            "id": plan.id,
            "name": plan.name,
            "author": plan.author,
            "state": plan.approval.name(),
            "version": plan.version,
            "approval": plan.approval,
            "gates": plan.gates,
            "environments": plan.environments,
            "created_at": plan.created_at,
            "updated_at": plan.updated_at,
            "history": history,
            "plan": content,
        });
        println!("{}", serde_json::to_string_pretty(&record)?);
    } else {
        print!("{}", markdown(&plan, &history));
    }
    Ok(())
}

/// The stored Markdown with today's status and the approval history appended.
fn markdown(plan: &StoredPlan, history: &[PlanEvent]) -> String {
    let status = format!(
        "| Status | {} (stored plan {}, version {}) |",
        describe(&plan.approval),
        plan.id,
        plan.version
    );
    let mut replaced = false;
    let mut out = String::with_capacity(plan.markdown.len() + 1024);
    for line in plan.markdown.lines() {
        if !replaced && line.starts_with("| Status | ") {
            out.push_str(&status);
            replaced = true;
        } else {
            out.push_str(line);
        }
        out.push('\n');
    }
    if !replaced {
        let _ = writeln!(out, "\n{status}");
    }
    out.push_str("\n## Approval history\n\n| # | At | Actor | Event | From | To | Version | Comment |\n|---:|---|---|---|---|---|---:|---|\n");
    for event in history {
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {} | {} | {} | {} |",
            event.seq,
            event.at,
            cell(&event.actor),
            event.event,
            event.from_state.as_deref().unwrap_or("–"),
            event.to_state,
            event.version,
            cell(event.comment.as_deref().unwrap_or(""))
        );
    }
    out
}

/// The state with the data people ask about next.
fn describe(state: &ApprovalState) -> String {
    match state {
        ApprovalState::Draft { .. } => "draft".into(),
        ApprovalState::InReview {
            review_deadline, ..
        } => format!("in_review until {review_deadline}"),
        ApprovalState::Approved {
            approver,
            valid_until,
            ..
        } => format!("approved by {approver}, valid until {valid_until}"),
        ApprovalState::Scheduled {
            approver, start, ..
        } => format!("scheduled to start {start} (approved by {approver})"),
        ApprovalState::Rejected { by, reason, .. } => format!("rejected by {by}: {reason}"),
        ApprovalState::Expired { at, .. } => format!("expired at {at}"),
    }
}

/// A stored instant to the second, for tables.
fn seconds(text: &str) -> String {
    match text.parse::<Timestamp>() {
        Ok(at) => at.round(jiff::Unit::Second).unwrap_or(at).to_string(),
        Err(_) => text.to_owned(),
    }
}

fn cell(text: &str) -> String {
    text.replace('|', "\\|").replace('\n', " ")
}
