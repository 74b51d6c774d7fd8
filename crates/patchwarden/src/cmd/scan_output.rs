//! Rendering a scan: the stable JSON document (docs/scan.md) and the table for humans, grouped
//! by tier with a summary line.

use std::collections::BTreeMap;
use std::io::Write;

use jiff::Timestamp;
use pw_model::{Finding, OsRelease, Tier};

/// Output formats of `scan`.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum Format {
    Table,
    Json,
}

/// The JSON document (schema `patchwarden-scan/1`).
#[derive(serde::Serialize)]
pub struct Report {
    pub schema: &'static str,
    pub generated_at: Timestamp,
    pub host: Host,
    pub intelligence: IntelligenceInfo,
    pub summary: Summary,
    pub findings: Vec<Finding>,
    /// Findings not pending because the installed changelog names their CVEs (`--local` on
    /// Debian/Ubuntu), each with the reason.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub backported: Vec<BackportedFinding>,
    /// What this machine still needs after its changes — reboot, service restarts, `dpkg
    /// --audit` (`--local` on Debian/Ubuntu; docs/restarts.md).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub restart: Option<pw_protocol::HostRestart>,
}

#[derive(serde::Serialize)]
pub struct BackportedFinding {
    pub binary: String,
    pub installed: String,
    pub advisory: String,
    pub aliases: Vec<String>,
    pub reason: String,
}

#[derive(serde::Serialize)]
pub struct Host {
    pub name: String,
    pub os: String,
    pub packages: usize,
}

#[derive(serde::Serialize)]
pub struct IntelligenceInfo {
    pub source: String,
    pub advisories: usize,
}

#[derive(serde::Serialize)]
pub struct Summary {
    pub findings: usize,
    pub by_tier: BTreeMap<Tier, usize>,
    pub overdue: usize,
    pub packages: usize,
    /// Findings without a fix, left out of `findings` (use `--include-unfixed`).
    pub unfixed_hidden: usize,
    /// Findings fixed by a backport (listed in `backported`).
    pub backported: usize,
}

impl Report {
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        host: String,
        os: &OsRelease,
        packages: usize,
        source: String,
        advisories: usize,
        now: Timestamp,
        mut findings: Vec<Finding>,
        include_unfixed: bool,
    ) -> Report {
        let before = findings.len();
        if !include_unfixed {
            findings.retain(|f| f.fixed.is_some());
        }
        let counts = pw_scan::summarize(&findings, now);
        Report {
            schema: "patchwarden-scan/1",
            generated_at: now,
            host: Host {
                name: host,
                os: os.to_string(),
                packages,
            },
            intelligence: IntelligenceInfo { source, advisories },
            summary: Summary {
                findings: findings.len(),
                by_tier: Tier::ALL
                    .iter()
                    .map(|t| (*t, counts.by_tier[t.index()]))
                    .collect(),
                overdue: counts.overdue,
                packages: counts.packages,
                unfixed_hidden: before - findings.len(),
                backported: 0,
            },
            findings,
            backported: Vec::new(),
            restart: None,
        }
    }

    /// Adds this machine's restart facts and what they mean.
    pub fn with_restart(mut self, facts: pw_protocol::RestartStatus) -> Report {
        self.restart = Some(pw_protocol::HostRestart {
            state: facts.state(),
            facts,
        });
        self
    }

    /// Adds the findings fixed by a backport.
    pub fn with_backported(mut self, backported: Vec<pw_scan::Backported>) -> Report {
        self.summary.backported = backported.len();
        self.backported = backported
            .into_iter()
            .map(|b| BackportedFinding {
                binary: b.finding.binary,
                installed: b.finding.installed,
                advisory: b.finding.advisory,
                aliases: b.finding.aliases,
                reason: b.reason,
            })
            .collect();
        self
    }
}

/// Writes the report in the chosen format.
pub fn render(report: &Report, format: Format, out: &mut impl Write) -> std::io::Result<()> {
    match format {
        Format::Json => {
            serde_json::to_writer_pretty(&mut *out, report)?;
            writeln!(out)
        }
        Format::Table => table(report, out),
    }
}

/// The first line of a table: the host and where the advisories came from.
pub(super) fn header(
    host: &Host,
    intelligence: &IntelligenceInfo,
    out: &mut impl Write,
) -> std::io::Result<()> {
    writeln!(
        out,
        "{} ({}, {} packages) — advisories: {} ({} records)",
        host.name, host.os, host.packages, intelligence.source, intelligence.advisories
    )
}

fn table(report: &Report, out: &mut impl Write) -> std::io::Result<()> {
    let now = report.generated_at;
    header(&report.host, &report.intelligence, out)?;
    for tier in Tier::ALL {
        let rows: Vec<&Finding> = report.findings.iter().filter(|f| f.tier == tier).collect();
        if rows.is_empty() {
            continue;
        }
        writeln!(
            out,
            "\n{tier} {} — {} finding{}",
            tier.title(),
            rows.len(),
            plural(rows.len())
        )?;
        let cells: Vec<[String; 6]> = rows
            .iter()
            .map(|f| {
                [
                    f.binary.clone(),
                    f.installed.clone(),
                    f.fixed.clone().unwrap_or_else(|| "no fix".into()),
                    ids(f),
                    deadline(f, now),
                    f.reasons.first().cloned().unwrap_or_default(),
                ]
            })
            .collect();
        let headers = [
            "PACKAGE",
            "INSTALLED",
            "FIXED IN",
            "ADVISORY",
            "DEADLINE",
            "WHY",
        ];
        write_table(out, headers, &cells)?;
    }
    let s = &report.summary;
    let tiers: Vec<String> = s.by_tier.iter().map(|(t, n)| format!("{t} {n}")).collect();
    writeln!(
        out,
        "\n{} finding{} on {} package{} ({}); {} overdue{}",
        s.findings,
        plural(s.findings),
        s.packages,
        plural(s.packages),
        tiers.join(", "),
        s.overdue,
        if s.unfixed_hidden > 0 {
            format!(
                "; {} without a fix hidden (--include-unfixed)",
                s.unfixed_hidden
            )
        } else {
            String::new()
        }
    )?;
    if s.backported > 0 {
        writeln!(
            out,
            "{} more fixed by backports: the installed changelogs name their CVEs (--format json lists them)",
            s.backported
        )?;
    }
    if let Some(restart) = &report.restart {
        restart_lines(&restart.state, out)?;
    }
    Ok(())
}

/// `reboot: required (…)`, `restart: required (units)`, `dpkg --audit: clean`.
fn restart_lines(state: &pw_protocol::RestartState, out: &mut impl Write) -> std::io::Result<()> {
    let why = |items: &[String]| {
        if items.is_empty() {
            String::new()
        } else {
            format!(" ({})", items.join("; "))
        }
    };
    writeln!(
        out,
        "reboot: {}{}",
        state.reboot,
        why(&state.reboot_reasons)
    )?;
    writeln!(out, "restart: {}{}", state.restart, why(&state.units))?;
    if !state.processes_without_unit.is_empty() {
        writeln!(
            out,
            "running replaced code outside a service unit: {}",
            state.processes_without_unit.join(", ")
        )?;
    }
    let audit = match state.dpkg_clean {
        Some(true) => "clean",
        Some(false) => "problems (--format json lists them)",
        None => "not run",
    };
    writeln!(out, "dpkg --audit: {audit}")
}

/// Writes a table: headers, then the rows, columns as wide as their widest cell (at most 48).
pub(super) fn write_table<const N: usize>(
    out: &mut impl Write,
    headers: [&str; N],
    cells: &[[String; N]],
) -> std::io::Result<()> {
    let mut widths = headers.map(str::len);
    for row in cells {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count()).min(48);
        }
    }
    write_row(out, &headers.map(String::from), &widths)?;
    for row in cells {
        write_row(out, row, &widths)?;
    }
    Ok(())
}

/// Writes one row of a table: every cell but the last cut to its width, the last as is.
pub(super) fn write_row<const N: usize>(
    out: &mut impl Write,
    row: &[String; N],
    widths: &[usize; N],
) -> std::io::Result<()> {
    let mut line = String::new();
    for (i, (cell, width)) in row.iter().zip(widths).enumerate() {
        let last = i + 1 == N;
        let cell: String = if !last && cell.chars().count() > *width {
            cell.chars().take(width - 1).chain(['…']).collect()
        } else {
            cell.clone()
        };
        if !last {
            line.push_str(&format!("{cell:<width$}  "));
        } else {
            line.push_str(&cell);
        }
    }
    writeln!(out, "{}", line.trim_end())
}

/// The advisory id and its first CVE alias.
fn ids(f: &Finding) -> String {
    advisory_and_cve(&f.advisory, &f.aliases)
}

/// An advisory id and the first CVE among its aliases, unless the id names it already.
pub(super) fn advisory_and_cve(advisory: &str, aliases: &[String]) -> String {
    match aliases.iter().find(|a| a.starts_with("CVE-")) {
        Some(cve) if advisory != *cve && !advisory.contains(cve.as_str()) => {
            format!("{advisory} {cve}")
        }
        _ => advisory.to_owned(),
    }
}

fn deadline(f: &Finding, now: Timestamp) -> String {
    match f.deadline {
        None if f.tier == Tier::T2 => "next window".into(),
        None => "—".into(),
        Some(d) if d < now => {
            let days = (now.as_second() - d.as_second()) / 86_400;
            format!("OVERDUE {days}d")
        }
        Some(d) => d.strftime("%Y-%m-%d %H:%MZ").to_string(),
    }
}

pub(super) fn plural(n: usize) -> &'static str {
    if n == 1 { "" } else { "s" }
}
