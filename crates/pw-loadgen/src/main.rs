//! `pw-loadgen`: thousands of simulated agents against one running controller, each with its own
//! key and certificate from a real enrollment (single-use tokens), speaking the real agent
//! protocol over mutual TLS: heartbeats, command long-polls, inventory rounds of ~1,500 real
//! Debian packages (deltas against the acknowledged inventory, as the agent sends them), and an ad-hoc rollout across all of them with simulated installs. Prints
//! the figures docs/PERFORMANCE.md records (issue 15): heartbeat and check-in latency,
//! inventory ingest rate, time until every scan finished, controller CPU and RSS (from
//! `/proc/PID` with `--controller-pid`), rollout time and per-batch overhead.

mod agent;
mod batches;
mod inventory;
mod operator;
mod phases;
mod rerank;
mod stats;
mod witness;

use std::path::PathBuf;

use anyhow::Context;
use clap::Parser;

#[derive(Parser, Debug)]
#[command(
    name = "pw-loadgen",
    about = "Simulated agents against one patchwarden controller"
)]
pub struct Args {
    /// The controller's address (`127.0.0.1:8420`): the operator API over HTTP, agents over
    /// HTTPS with mutual TLS, on the same port.
    #[arg(long)]
    pub server: String,
    /// The controller CA certificate (`DATA_DIR/ca/ca.pem`).
    #[arg(long)]
    pub ca: PathBuf,
    /// A file holding an admin operator's API token (`DATA_DIR/admin.token`).
    #[arg(long)]
    pub token_file: PathBuf,
    /// The controller's process id, for its CPU time and resident memory.
    #[arg(long)]
    pub controller_pid: Option<u32>,
    #[arg(long, default_value_t = 1000)]
    pub agents: usize,
    /// Packages per simulated host.
    #[arg(long, default_value_t = 1500)]
    pub packages: usize,
    /// Distinct inventories (agent i reports number i modulo this).
    #[arg(long, default_value_t = 200)]
    pub distinct: usize,
    /// The shared data folder (pw-bench's synthetic fleet reads the real package lists there).
    #[arg(long, default_value = "../shared/data")]
    pub data_dir: PathBuf,
    /// Inventory rounds in which every agent reports a different inventory than before (the
    /// first is the fleet's first report; later ones change every host's package list).
    #[arg(long, default_value_t = 2)]
    pub rounds: u32,
    /// Then rounds in which every agent reports its last inventory again, unchanged.
    #[arg(long, default_value_t = 1)]
    pub unchanged_rounds: u32,
    /// Then rounds in which every agent upgrades a few packages (`--small-change-packages`),
    /// as a daily upgrade does.
    #[arg(long, default_value_t = 0)]
    pub small_change_rounds: u32,
    /// Packages each agent upgrades per small-change round.
    #[arg(long, default_value_t = 5)]
    pub small_change_packages: usize,
    /// Send every inventory in full, as agents from before inventory deltas do.
    #[arg(long)]
    pub full_reports: bool,
    /// Enrollments and inventory reports in flight at once.
    #[arg(long, default_value_t = 64)]
    pub concurrency: usize,
    /// Seconds of steady heartbeats and long-polls measured before the first inventory round.
    #[arg(long, default_value_t = 40)]
    pub steady_secs: u64,
    /// Seconds each command long-poll asks the controller to wait.
    #[arg(long, default_value_t = 30)]
    pub poll_wait: u64,
    /// Also run an ad-hoc rollout across every simulated host, in batches of this many hosts.
    #[arg(long)]
    pub rollout_batch: Option<usize>,
    /// The package and version the rollout installs (simulated).
    #[arg(long, default_value = "base-files")]
    pub rollout_package: String,
    #[arg(long, default_value = "99:0.loadgen")]
    pub rollout_version: String,
    /// After the inventory rounds, import records of this real OSV feed while the controller
    /// runs (`patchwarden feeds import`, `--database`) and measure until every host is ranked
    /// against them.
    #[arg(long)]
    pub rerank_feed: Option<PathBuf>,
    /// How many of the feed's records to re-publish (evenly spread; 0: all of them).
    #[arg(long, default_value_t = 50)]
    pub rerank_records: usize,
    /// Then import the same records again without their `fixed` events (hosts with their
    /// packages get new findings).
    #[arg(long)]
    pub rerank_reopen: bool,
    /// Leave out the feed's records of this source package before choosing (repeatable; e.g.
    /// `linux`: most days' imports do not touch the kernel, whose records are 57 % of the
    /// changelog feed and ~90 % of a Debian host's findings).
    #[arg(long, value_name = "PACKAGE")]
    pub rerank_skip_source: Vec<String>,
    /// The controller's database URL, for `patchwarden feeds import` (`sqlite://D/patchwarden.db`,
    /// `postgres://…`).
    #[arg(long)]
    pub database: Option<String>,
    /// The `patchwarden` binary (default: beside pw-loadgen).
    #[arg(long)]
    pub patchwarden: Option<PathBuf>,
    /// Prefix of the simulated host names (`PREFIX-00042`).
    #[arg(long, default_value = "lg")]
    pub name_prefix: String,
    /// Give up on a phase after this many seconds.
    #[arg(long, default_value_t = 900)]
    pub phase_timeout: u64,
    /// Also write the figures as JSON here.
    #[arg(long)]
    pub json: Option<PathBuf>,
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    // ring, the workspace's one crypto provider, also for the operator's plain-HTTP client.
    let _ = rustls::crypto::ring::default_provider().install_default();
    raise_open_files(args.agents as u64 + 1024)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the runtime")?;
    let report = runtime.block_on(phases::run(&args))?;
    let text = serde_json::to_string_pretty(&report)?;
    println!("{text}");
    if let Some(path) = &args.json {
        std::fs::write(path, &text).with_context(|| format!("writing {}", path.display()))?;
    }
    Ok(())
}

/// One socket per simulated agent (HTTP/2 carries its long-poll and its reports): raise the
/// open-file limit.
fn raise_open_files(want: u64) -> anyhow::Result<()> {
    let (soft, hard) = rlimit::getrlimit(rlimit::Resource::NOFILE)?;
    if soft >= want {
        return Ok(());
    }
    // Root may raise the hard limit too; anyone may raise the soft one up to the hard one.
    let target = want.max(soft);
    if rlimit::setrlimit(rlimit::Resource::NOFILE, target, target.max(hard)).is_err() {
        rlimit::setrlimit(rlimit::Resource::NOFILE, hard.min(target), hard)
            .context("raising the open-file limit")?;
    }
    let (now, _) = rlimit::getrlimit(rlimit::Resource::NOFILE)?;
    anyhow::ensure!(
        now >= want,
        "the open-file limit is {now}; {want} are needed for {} agents (raise the hard limit)",
        want - 1024
    );
    Ok(())
}
