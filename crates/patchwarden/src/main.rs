//! The `patchwarden` binary: command-line parsing and wiring of the crates (kept thin).

mod allocator;
mod api_client;
mod cmd;
mod paths;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Patch, update and downgrade management for Linux server fleets.
#[derive(Parser)]
#[command(name = "patchwarden", version, about, propagate_version = true)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Start the controller and a read-only agent for this machine; prints the page's URL.
    Up(cmd::up::Args),
    /// The controller: HTTP API, agent endpoints (mTLS), web page, metrics.
    Server(cmd::server::Args),
    /// The agent: enrolls with a token, then reports and takes commands over mutual TLS.
    Agent(cmd::agent::Args),
    /// Operators of the controller's API and page: add (prints the token once), list, revoke.
    Operators(cmd::operators::Args),
    /// The audit log: `audit verify` checks its hash chain.
    Audit(cmd::audit::Args),
    /// This machine's or an inventory file's findings: matched advisories ranked by tier T0–T4
    /// with deadlines and reasons.
    Scan(cmd::scan::Args),
    /// Downgrades: `downgrade check` lists the advisories going back to older versions brings
    /// back, with their tiers (offline, like `scan`).
    Downgrade(cmd::downgrade::Args),
    /// Import (offline) or download advisory feeds: OSV, CISA KEV, EPSS.
    Feeds(cmd::feeds::Args),
    /// Compare version pairs read from stdin (`A<TAB>B` per line); prints -1, 0 or 1 per line.
    Vercmp(cmd::vercmp::Args),
    /// Maintenance windows: next occurrences of a rule, a policy's slots after blackouts, .ics feed.
    Windows(cmd::windows::Args),
    /// A change plan from a fleet file and a policy: batches in window slots, risk checklist,
    /// rollback plan and approvals, as Markdown or JSON.
    Plan(cmd::plan::Args),
    /// The controller's fleet document (groups, membership, policies, emergency flags) through
    /// its API: apply (validated as a whole, versioned, audited), show, groups.
    Fleet(cmd::fleet::Args),
    /// Change plans in the controller, built from live agent data: list, show, create, submit,
    /// approve, reject, refresh (through its API, as the token's operator).
    Plans(cmd::plans::Args),
    /// Reports from the controller: `compliance` (patch state against deadlines per group and
    /// host, time to remediate, accepted risks, GB/T 22239-2019 evidence) or `risk` (KEV/EPSS/
    /// CVSS exposure for a maintenance window), as JSON, CSV, HTML or PDF.
    Report(cmd::report::Args),
    /// Notifications: `notify test` sends one test message to a channel (webhook, DingTalk,
    /// Feishu, WeCom, Slack, email) and shows what its receiver answered.
    Notify(cmd::notify::Args),
}

fn main() -> ExitCode {
    // One TLS crypto provider for the whole process (ring; see docs/design/dependencies.md).
    let _ = rustls::crypto::ring::default_provider().install_default();
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Up(args) => cmd::up::run(args),
        Command::Server(args) => cmd::server::run(args),
        Command::Agent(args) => cmd::agent::run(args),
        Command::Operators(args) => cmd::operators::run(args),
        Command::Audit(args) => cmd::audit::run(args),
        Command::Scan(args) => cmd::scan::run(args),
        Command::Downgrade(args) => cmd::downgrade::run(args),
        Command::Feeds(args) => cmd::feeds::run(args),
        Command::Vercmp(args) => cmd::vercmp::run(args),
        Command::Windows(args) => cmd::windows::run(args),
        Command::Plan(args) => cmd::plan::run(args),
        Command::Plans(args) => cmd::plans::run(args),
        Command::Report(args) => cmd::report::run(args),
        Command::Fleet(args) => cmd::fleet::run(args),
        Command::Notify(args) => cmd::notify::run(args),
    };
    match result {
        Ok(code) => code,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}
