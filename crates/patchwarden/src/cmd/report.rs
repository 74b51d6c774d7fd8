//! `patchwarden report compliance|risk|change`: the controller's compliance report, management
//! risk summary and change reports (docs/reports.md) through its API, as JSON, CSV, HTML or PDF,
//! to stdout or a file.
//! The controller builds and renders them (the PDF with its headless Chromium); the CLI only
//! asks and writes. See `api_client.rs` for where the URL and the token come from.

use std::io::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, bail};

use crate::api_client::{ApiArgs, ApiClient};
use crate::paths::runtime;

#[derive(clap::Args)]
pub struct Args {
    #[command(flatten)]
    api: ApiArgs,
    /// compliance: patch state against deadlines per group and host, time to remediate,
    /// accepted risks, GB/T 22239-2019 evidence. risk: KEV/EPSS/CVSS exposure and the updates
    /// that remove the most of it. change: a plan's or rollout's plan vs actual, post-verify
    /// and postmortem draft (give ID).
    #[arg(value_parser = ["compliance", "risk", "change"])]
    kind: String,
    /// change: a plan's number (`7`) or a rollout's id (`ro-…`).
    id: Option<String>,
    /// Only the members of this group of the fleet document.
    #[arg(long)]
    group: Option<String>,
    #[arg(long, default_value = "json", value_parser = ["json", "csv", "html", "pdf"])]
    format: String,
    /// Language of HTML and PDF.
    #[arg(long, default_value = "en", value_parser = ["en", "zh-CN"])]
    lang: String,
    /// How far back fixes count for the time to remediate (e.g. 30d, 12w; 1h to 730d).
    #[arg(long, default_value = "90d")]
    period: String,
    /// How many updates the risk summary ranks (1 to 100).
    #[arg(long)]
    top: Option<usize>,
    /// The CSV table: compliance hosts|overdue|risks, risk updates|signals.
    #[arg(long, value_parser = ["hosts", "overdue", "risks", "updates", "signals"])]
    table: Option<String>,
    /// Write to FILE instead of stdout (required for pdf).
    #[arg(long, short = 'o', value_name = "FILE")]
    output: Option<PathBuf>,
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    if args.format == "pdf" && args.output.is_none() {
        bail!(
            "a PDF needs --output FILE (it is not written to a terminal) / PDF 需要 --output FILE（不输出到终端）"
        );
    }
    let path = match args.kind.as_str() {
        "change" => change_path(&args)?,
        _ => report_path(&args)?,
    };
    let client = ApiClient::from_args(&args.api)?;
    let body = runtime()?.block_on(client.get_bytes(&path))?;
    match &args.output {
        Some(file) => {
            std::fs::write(file, &body)
                .with_context(|| format!("cannot write the report to {}", file.display()))?;
            eprintln!(
                "wrote the {} report to {} ({} bytes) / {} 报告已写入 {}（{} 字节）",
                args.kind,
                file.display(),
                body.len(),
                match args.kind.as_str() {
                    "risk" => "风险",
                    "change" => "变更",
                    _ => "合规",
                },
                file.display(),
                body.len()
            );
        }
        None => {
            let mut stdout = std::io::stdout().lock();
            stdout.write_all(&body).context("writing the report")?;
            if !body.ends_with(b"\n") {
                stdout.write_all(b"\n").context("writing the report")?;
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// `/api/v1/reports/change/plans/N` or `…/rollouts/ID` with the format and language.
fn change_path(args: &Args) -> anyhow::Result<String> {
    let Some(id) = args.id.as_deref() else {
        bail!(
            "report change needs an ID: a plan's number or a rollout's id / 需要计划编号或发布 ID"
        );
    };
    if args.format == "csv" {
        bail!("a change report is json, html or pdf (not csv) / 变更报告只有 json、html、pdf 格式");
    }
    let foreign: Vec<&str> = [
        ("--group", args.group.is_some()),
        ("--top", args.top.is_some()),
        ("--table", args.table.is_some()),
        ("--period", args.period != "90d"),
    ]
    .iter()
    .filter(|(_, given)| *given)
    .map(|(name, _)| *name)
    .collect();
    if !foreign.is_empty() {
        bail!(
            "report change takes no {} (those are for compliance and risk) / 变更报告不接受 {}",
            foreign.join(", "),
            foreign.join(", ")
        );
    }
    let collection = match id.bytes().all(|b| b.is_ascii_digit()) {
        true => "plans",
        false => "rollouts",
    };
    let mut url = reqwest::Url::parse("http://controller/api/v1/reports/change/")
        .context("building the report URL")?;
    url.path_segments_mut()
        .map_err(|()| anyhow::anyhow!("building the report URL"))?
        .pop_if_empty()
        .extend([collection, id]);
    url.query_pairs_mut()
        .append_pair("format", &args.format)
        .append_pair("lang", &args.lang);
    Ok(format!("{}?{}", url.path(), url.query().unwrap_or("")))
}

/// `/api/v1/reports/KIND?…` with every option given, percent-encoded.
fn report_path(args: &Args) -> anyhow::Result<String> {
    if let Some(id) = &args.id {
        bail!(
            "report {} takes no ID (got {id:?}); only report change does",
            args.kind
        );
    }
    let mut url = reqwest::Url::parse("http://controller/api/v1/reports/")
        .and_then(|base| base.join(&args.kind))
        .context("building the report URL")?;
    {
        let mut query = url.query_pairs_mut();
        query.append_pair("format", &args.format);
        query.append_pair("lang", &args.lang);
        query.append_pair("period", &args.period);
        if let Some(group) = &args.group {
            query.append_pair("group", group);
        }
        if let Some(top) = args.top {
            query.append_pair("top", &top.to_string());
        }
        if let Some(table) = &args.table {
            query.append_pair("table", table);
        }
    }
    Ok(format!("{}?{}", url.path(), url.query().unwrap_or("")))
}
