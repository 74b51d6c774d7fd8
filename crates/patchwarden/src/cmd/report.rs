//! `patchwarden report compliance|risk`: the controller's compliance report and management risk
//! summary (docs/reports.md) through its API, as JSON, CSV, HTML or PDF, to stdout or a file.
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
    /// that remove the most of it.
    #[arg(value_parser = ["compliance", "risk"])]
    kind: String,
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
    let client = ApiClient::from_args(&args.api)?;
    let path = report_path(&args)?;
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
                if args.kind == "risk" {
                    "风险"
                } else {
                    "合规"
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

/// `/api/v1/reports/KIND?…` with every option given, percent-encoded.
fn report_path(args: &Args) -> anyhow::Result<String> {
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
