//! What `scan` and `downgrade check` read: one host's inventory (a dpkg status file, `rpm -qa`
//! output or this machine), the intelligence (files given, else the database, else the snapshot
//! embedded in the binary) and the priority policy.

use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use pw_feeds::{Parsed, Silent};
use pw_model::OsRelease;
use pw_priority::PriorityPolicy;

use crate::paths::default_db;

/// Where the host's installed packages come from.
#[derive(clap::Args)]
#[command(group(clap::ArgGroup::new("inventory").required(true).args(["dpkg_status", "rpm_qa", "local"])))]
pub struct InventoryArgs {
    /// A dpkg status file (plain or .gz), e.g. a copy of /var/lib/dpkg/status.
    #[arg(long, value_name = "FILE")]
    pub dpkg_status: Option<PathBuf>,
    /// Output of `rpm -qa --queryformat '%{NAME}\t%{EPOCH}\t%{VERSION}\t%{RELEASE}\t%{ARCH}\n'`
    /// or plain `rpm -qa` (plain or .gz).
    #[arg(long, value_name = "FILE")]
    pub rpm_qa: Option<PathBuf>,
    /// This machine (reads /etc/os-release and the dpkg or rpm database).
    #[arg(long)]
    pub local: bool,
    /// The release of the host: debian:12, ubuntu:22.04, almalinux:9, … (required with a file;
    /// detected with --local).
    #[arg(long, value_name = "FAMILY:RELEASE")]
    pub os: Option<OsRelease>,
}

impl InventoryArgs {
    /// The host's release and installed packages.
    pub fn read(&self) -> anyhow::Result<(OsRelease, pw_host::HostInventory)> {
        if self.local {
            let os = match &self.os {
                Some(os) => os.clone(),
                None => pw_host::read_local_os()?,
            };
            let inventory = pw_host::read_local_inventory(&os)?;
            return Ok((os, inventory));
        }
        let Some(os) = self.os.clone() else {
            bail!("--os is required with an inventory file (e.g. --os debian:12)");
        };
        let (inventory, scheme_ok) = match (&self.dpkg_status, &self.rpm_qa) {
            (Some(path), _) => (
                pw_host::read_dpkg_status_file(path)?,
                os.scheme() == pw_version::Scheme::Dpkg,
            ),
            (_, Some(path)) => (
                pw_host::read_rpm_qa_file(path)?,
                os.scheme() == pw_version::Scheme::Rpm,
            ),
            _ => bail!("give --dpkg-status FILE, --rpm-qa FILE or --local"),
        };
        if !scheme_ok {
            bail!("--os {os} does not use the package format of the inventory file given");
        }
        Ok((os, inventory))
    }

    /// The inventory file's path, or this machine's host name.
    pub fn host_name(&self) -> String {
        let file = self.dpkg_status.as_ref().or(self.rpm_qa.as_ref());
        match file {
            Some(path) => path.display().to_string(),
            None => std::fs::read_to_string("/etc/hostname")
                .map(|h| h.trim().to_owned())
                .unwrap_or_else(|_| "localhost".into()),
        }
    }
}

/// Where advisories, KEV and EPSS come from.
#[derive(clap::Args)]
pub struct IntelligenceArgs {
    /// OSV files or directories to match against instead of the database.
    #[arg(long, value_name = "PATH", num_args = 1..)]
    pub advisories: Vec<PathBuf>,
    /// A CISA KEV catalog (JSON, optionally .gz).
    #[arg(long, value_name = "FILE")]
    pub kev: Option<PathBuf>,
    /// An EPSS CSV (optionally .gz).
    #[arg(long, value_name = "FILE")]
    pub epss: Option<PathBuf>,
    /// Database with imported feeds (default: the data directory's patchwarden.db).
    #[arg(long, env = "PATCHWARDEN_DB")]
    pub db: Option<PathBuf>,
}

impl IntelligenceArgs {
    /// Loads advisories, KEV and EPSS: files given, else the database, else the snapshot; and
    /// says where they came from.
    pub async fn load(&self, os: &OsRelease) -> anyhow::Result<(Parsed, String)> {
        let mut base = Parsed::default();
        let mut source = String::new();
        let needs_base = self.advisories.is_empty() || self.kev.is_none() || self.epss.is_none();
        if needs_base {
            let db = self.db.clone().unwrap_or_else(default_db);
            (base, source) = pw_feeds::load_for_release(&db, os).await?;
        }
        if !self.advisories.is_empty() {
            base.osv = parse_files(&self.advisories)?.osv;
            source = format!("files {}", join_paths(&self.advisories));
        }
        if let Some(kev) = &self.kev {
            base.kev = parse_files(std::slice::from_ref(kev))?
                .kev
                .with_context(|| format!("{} is not a KEV catalog", kev.display()))?
                .into();
        }
        if let Some(epss) = &self.epss {
            base.epss = parse_files(std::slice::from_ref(epss))?.epss;
            if base.epss.is_empty() {
                bail!("{} is not an EPSS file", epss.display());
            }
        }
        Ok((base, source))
    }
}

/// How findings are ranked: the policy, the group, the instant, Ubuntu Pro.
#[derive(clap::Args)]
pub struct RankingArgs {
    /// Also match Ubuntu Pro (ESM) advisories of the release.
    #[arg(long)]
    pub ubuntu_pro: bool,
    /// A policy file; its `[priority]` table sets tier rules and deadlines (docs/priority.md).
    #[arg(long, value_name = "FILE")]
    pub policy: Option<PathBuf>,
    /// The host's group, for per-group rules of the policy.
    #[arg(long)]
    pub group: Option<String>,
    /// The instant deadlines are judged against (default: now); for reproducible reports.
    #[arg(long, value_name = "INSTANT")]
    pub now: Option<jiff::Timestamp>,
}

impl RankingArgs {
    /// `--now`, or now.
    pub fn now(&self) -> jiff::Timestamp {
        self.now.unwrap_or_else(jiff::Timestamp::now)
    }

    /// The policy file's `[priority]` table, or the default policy.
    pub fn policy(&self) -> anyhow::Result<PriorityPolicy> {
        read_policy(self.policy.as_deref())
    }
}

/// The `[priority]` table of a policy file, or the default policy.
fn read_policy(path: Option<&Path>) -> anyhow::Result<PriorityPolicy> {
    let Some(path) = path else {
        return Ok(PriorityPolicy::default());
    };
    let text =
        std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    let value: toml::Table =
        toml::from_str(&text).with_context(|| format!("{}: invalid TOML", path.display()))?;
    match value.get("priority") {
        None => Ok(PriorityPolicy::default()),
        Some(table) => PriorityPolicy::from_toml_value(table).map_err(|errors| {
            anyhow::anyhow!(
                "{}: invalid policy:\n{}",
                path.display(),
                errors.with_prefix("priority")
            )
        }),
    }
}

/// Reads and parses feed files or directories given on the command line.
fn parse_files(paths: &[PathBuf]) -> anyhow::Result<Parsed> {
    pw_feeds::parse_inputs(&pw_feeds::read_paths(paths)?, &Silent)
}

fn join_paths(paths: &[PathBuf]) -> String {
    paths
        .iter()
        .map(|p| p.display().to_string())
        .collect::<Vec<_>>()
        .join(", ")
}
