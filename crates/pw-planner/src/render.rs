//! A plan as a Markdown document an operator can hand to management: overview, quantified risk
//! summary, the five-risk checklist, groups, batches, rollback plan and notifications.

use std::collections::BTreeMap;
use std::fmt::Write;

use crate::duration::format_duration;
use crate::plan::Plan;

/// Renders the plan as Markdown.
pub fn to_markdown(plan: &Plan) -> String {
    let mut out = String::new();
    overview(plan, &mut out);
    summary(plan, &mut out);
    checklist(plan, &mut out);
    groups(plan, &mut out);
    batches(plan, &mut out);
    rollback(plan, &mut out);
    notifications(plan, &mut out);
    if !plan.problems.is_empty() {
        out.push_str("\n## Input problems\n\n");
        for problem in &plan.problems {
            let _ = writeln!(out, "- {}", cell(problem));
        }
    }
    out
}

fn overview(plan: &Plan, out: &mut String) {
    let s = &plan.summary;
    let _ = writeln!(out, "# Change plan {}\n", plan.id);
    out.push_str("| | |\n|---|---|\n");
    let _ = writeln!(out, "| Author | {} |", cell(&plan.author));
    let _ = writeln!(out, "| Status | {} |", plan.approval.name());
    let _ = writeln!(out, "| Created | {} |", plan.created_at);
    let _ = writeln!(out, "| Horizon | {} – {} |", plan.from, plan.until);
    let _ = writeln!(
        out,
        "| Hosts | {} with changes ({} scheduled, {} unscheduled) of {} in scope, {} group(s) |",
        s.hosts_with_changes,
        s.hosts_scheduled,
        s.hosts_unscheduled,
        s.hosts_in_scope,
        plan.groups.len()
    );
    let _ = writeln!(out, "| Package changes | {} |", s.package_changes);
    match (
        plan.batches.first(),
        plan.batches.iter().map(|b| b.end).max(),
    ) {
        (Some(first), Some(end)) => {
            let _ = writeln!(
                out,
                "| Batches | {} from {} to {} |",
                plan.batches.len(),
                first.start,
                end
            );
        }
        _ => out.push_str("| Batches | none |\n"),
    }
    let _ = writeln!(
        out,
        "| Failure budget | any canary failure stops the rollout; {} failed host(s) after the canaries stop it |",
        plan.failure_policy.rollout_max_failures
    );
    let approval = if plan.gates.production {
        "an approver other than the author (production)"
    } else {
        "one approver"
    };
    let _ = writeln!(out, "| Approval needs | {approval} |");
    let gate = if plan.gates.staging_problems.is_empty() {
        "satisfied or not required".to_owned()
    } else {
        format!(
            "**not met** ({} problem(s), see rollback failure)",
            plan.gates.staging_problems.len()
        )
    };
    let _ = writeln!(out, "| Staging-first gate | {gate} |");
}

fn summary(plan: &Plan, out: &mut String) {
    let s = &plan.summary;
    out.push_str("\n## Risk summary\n\n| Tier | Meaning | Findings | Advisories | Hosts |\n|---|---|---:|---:|---:|\n");
    for tier in &s.by_tier {
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {} |",
            tier.tier,
            tier.tier.title(),
            tier.findings,
            tier.advisories,
            tier.hosts
        );
    }
    out.push('\n');
    let _ = writeln!(
        out,
        "- Actively exploited (CISA KEV): {} advisories on {} hosts",
        s.kev_advisories, s.kev_hosts
    );
    let _ = writeln!(
        out,
        "- EPSS: highest {}; {} advisories with EPSS ≥ 0.5",
        s.epss_max.map_or("unknown".into(), |e| format!("{e:.2}")),
        s.epss_high_advisories
    );
    let _ = writeln!(
        out,
        "- CVSS: highest {}; {} critical (≥ 9.0), {} high (7.0–8.9)",
        s.cvss_max.map_or("unknown".into(), |c| format!("{c:.1}")),
        s.cvss_critical_advisories,
        s.cvss_high_advisories
    );
    let _ = writeln!(
        out,
        "- Exposure: oldest open for {:.1} days; {:.1} host-days today, {:.1} when this plan completes",
        s.exposure_max_days, s.exposure_host_days_now, s.exposure_host_days_at_completion
    );
    let _ = writeln!(
        out,
        "- Deadlines: {} findings overdue now; {} scheduled after their deadline",
        s.overdue_findings, s.planned_after_deadline
    );
    let _ = writeln!(
        out,
        "- Without a fix (not planned): {} findings",
        s.no_fix_findings
    );
}

fn checklist(plan: &Plan, out: &mut String) {
    out.push_str("\n## Risk checklist\n\n| Risk | Level | Evidence |\n|---|---|---|\n");
    for item in &plan.risks {
        let evidence: Vec<String> = item
            .evidence
            .iter()
            .map(|e| format!("{}: {}", e.level.as_str(), cell(&e.text)))
            .collect();
        let _ = writeln!(
            out,
            "| {} | **{}** | {} |",
            item.risk.title(),
            item.level.as_str().to_uppercase(),
            if evidence.is_empty() {
                "–".into()
            } else {
                evidence.join("<br>")
            }
        );
    }
}

fn groups(plan: &Plan, out: &mut String) {
    out.push_str("\n## Groups\n");
    for g in &plan.groups {
        let _ = writeln!(out, "\n### {} ({})\n", g.name, g.environment);
        let _ = writeln!(out, "- Owners: {}", g.owners.join(", "));
        let _ = writeln!(
            out,
            "- Hosts: {} planned of {} in the fleet",
            g.hosts_planned, g.hosts_in_fleet
        );
        let _ = writeln!(
            out,
            "- Rollout: canary {} host(s), at most {} in flight, anti-affinity {}",
            g.canary_size,
            g.max_in_flight,
            if g.anti_affinity.is_empty() {
                "none".into()
            } else {
                g.anti_affinity.join(", ")
            }
        );
        let _ = writeln!(
            out,
            "- Window use: verification {} per batch, rollback buffer {}% of each window",
            format_duration(g.verification_seconds),
            g.rollback_buffer_percent
        );
        let _ = writeln!(
            out,
            "- Failures: {} tolerated in the canary, {} after it{}",
            g.canary_max_failures,
            g.max_failures,
            if g.continue_after_failed_batch {
                "; continues past a failed batch"
            } else {
                ""
            }
        );
        let _ = writeln!(
            out,
            "- RTO {}, RPO {}{}",
            g.rto_seconds.map_or("not set".into(), format_duration),
            g.rpo_seconds.map_or("not set".into(), format_duration),
            if g.protection_required {
                " (snapshot or backup mandatory)"
            } else {
                ""
            }
        );
        let _ = writeln!(out, "- Protection: {}", g.protection_steps.join("; "));
        let checks: Vec<String> = g
            .health_checks
            .iter()
            .map(|c| format!("{} ({:?} `{}`)", c.name, c.kind, c.target).replace('|', "\\|"))
            .collect();
        let _ = writeln!(
            out,
            "- Health checks: {}",
            if checks.is_empty() {
                "none".into()
            } else {
                checks.join(", ")
            }
        );
        if let Some(counterpart) = &g.staging_counterpart {
            let _ = writeln!(out, "- Staging counterpart: {counterpart}");
        }
    }
}

fn host_list(hosts: &[String]) -> String {
    if hosts.len() <= 4 {
        hosts.join(", ")
    } else {
        format!("{} hosts ({}, …)", hosts.len(), hosts[..3].join(", "))
    }
}

fn batches(plan: &Plan, out: &mut String) {
    out.push_str("\n## Batches\n\n| # | Group | Kind | Hosts | Window | Start | End | Apply | Rollback | Notes |\n|---:|---|---|---|---|---|---|---|---|---|\n");
    for b in &plan.batches {
        let _ = writeln!(
            out,
            "| {} | {} | {:?} | {} | {} | {} | {} | {} | {} | {} |",
            b.number,
            b.group,
            b.kind,
            host_list(&b.hosts),
            cell(&b.window),
            b.start,
            b.end,
            format_duration(b.apply_seconds),
            format_duration(b.rollback_seconds),
            cell(&b.notes.join("; "))
        );
    }
    if !plan.unscheduled.is_empty() {
        out.push_str("\n### Not scheduled\n\n");
        for u in &plan.unscheduled {
            let _ = writeln!(
                out,
                "- {}: {} — {}",
                u.group,
                host_list(&u.hosts),
                cell(&u.reason)
            );
        }
    }
}

fn rollback(plan: &Plan, out: &mut String) {
    out.push_str("\n## Rollback plan\n");
    let mut sets: BTreeMap<&str, BTreeMap<String, usize>> = BTreeMap::new();
    for host in &plan.hosts {
        *sets
            .entry(host.group.as_str())
            .or_default()
            .entry(host.rollback_to.join(" "))
            .or_default() += 1;
    }
    for g in &plan.groups {
        let _ = writeln!(out, "\n{}: {}\n", g.name, g.rollback_method);
        for (versions, count) in sets.remove(g.name.as_str()).unwrap_or_default() {
            let versions = if versions.is_empty() {
                "(versions recorded on the host)".into()
            } else {
                format!("`{versions}`")
            };
            let _ = writeln!(out, "- {versions} — {count} host(s)");
        }
    }
}

fn notifications(plan: &Plan, out: &mut String) {
    out.push_str(
        "\n## Notifications\n\n| When | Kind | Group | To | Subject |\n|---|---|---|---|---|\n",
    );
    for n in &plan.notifications {
        let _ = writeln!(
            out,
            "| {} | {:?} | {} | {} | {} |",
            n.at,
            n.kind,
            n.group,
            cell(&n.to.join(", ")),
            cell(&n.subject)
        );
    }
}

/// Text safe inside a table cell.
fn cell(text: &str) -> String {
    text.replace('|', "\\|").replace('\n', " ")
}
