//! The `patchwarden` binary: command-line parsing and wiring of the crates (kept thin).

mod cmd;

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
    /// Compare version pairs read from stdin (`A<TAB>B` per line); prints -1, 0 or 1 per line.
    Vercmp(cmd::vercmp::Args),
    /// Maintenance windows: next occurrences of a rule, a policy's slots after blackouts, .ics feed.
    Windows(cmd::windows::Args),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Vercmp(args) => cmd::vercmp::run(args),
        Command::Windows(args) => cmd::windows::run(args),
    };
    match result {
        Ok(code) => code,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}
