//! The agent's main loop: enroll once, then heartbeat, report inventory, long-poll commands,
//! run each command id at most once (journal), and report results — retrying with capped backoff
//! while the controller is away.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use anyhow::Context;
use jiff::Timestamp;
use pw_protocol::{
    ChangeOutcome, ChangeReport, Command, CommandBatch, CommandEnvelope, CommandResult,
    CommandStatus, Heartbeat, HeartbeatAck, PROTOCOL_VERSION,
};
use tokio::sync::watch;

use crate::guard::{self, ChangeSpec};
use crate::identity::{self, Identity};
use crate::journal::{GuardStep, Journal, JournalEntry};
use crate::{client, report};

/// A secret string whose `Debug` never shows it.
#[derive(Clone)]
pub struct Secret(pub String);

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("<redacted>")
    }
}

/// How the agent runs.
#[derive(Debug, Clone)]
pub struct AgentSettings {
    /// The controllers, `https://controller:port`, in order of preference (several replicas on
    /// one database): the agent talks to one and moves to the next when it cannot be reached.
    pub servers: Vec<String>,
    /// The enrollment token; needed only until the agent has enrolled.
    pub token: Option<Secret>,
    /// The controller CA (PEM) to trust while enrolling.
    pub ca_pem: Option<String>,
    pub data_dir: PathBuf,
    /// Refuse every command that changes the host (but see `plan_changes`).
    pub read_only: bool,
    /// With `read_only`: still accept `apply_change` commands that carry an approved plan
    /// (`--allow-approved-plans`; "no change without an approved plan").
    pub plan_changes: bool,
    /// Seconds a command long-poll asks the controller to wait.
    pub poll_wait_secs: u64,
    /// Labels sent with every inventory (`--label KEY=VALUE`; checked with
    /// `pw_model::check_labels` before the agent starts).
    pub labels: BTreeMap<String, String>,
    /// The command a `reboot` runs (argv; `systemctl reboot` by default, `--reboot-command`).
    pub reboot_command: Vec<String>,
}

/// Runs until `shutdown` turns true. Fails only when enrollment is impossible (no identity and
/// no token, or the controller refused the token); network trouble is retried.
pub async fn run(
    settings: AgentSettings,
    mut shutdown: watch::Receiver<bool>,
) -> anyhow::Result<()> {
    pw_model::check_labels(&settings.labels).context("the agent's labels")?;
    anyhow::ensure!(!settings.servers.is_empty(), "no controller to talk to");
    let identity = ensure_enrolled(&settings).await?;
    let http = client::mtls_client(&identity)?;
    let servers = settings
        .servers
        .iter()
        .map(|s| s.trim_end_matches('/').to_owned())
        .collect();
    let mut journal = Journal::open(&settings.data_dir.join("journal.jsonl"))?;
    tracing::info!(host_id = %identity.host_id, read_only = settings.read_only, "agent running");
    let agent = Agent {
        http,
        servers,
        current: AtomicUsize::new(0),
        read_only: settings.read_only,
        plan_changes: settings.read_only && settings.plan_changes,
        poll_wait_secs: settings.poll_wait_secs,
        labels: settings.labels.clone(),
        changelog_cache: settings.data_dir.join("changelog-cache"),
        reboot_command: settings.reboot_command.clone(),
        acknowledged: Default::default(),
    };
    agent.finish_interrupted(&mut journal).await?;
    let mut backoff = Duration::from_secs(1);
    let mut next_heartbeat = tokio::time::Instant::now();
    // The inventory (with changelogs it may download) is collected in the background so that
    // commands, refusals and stops never wait behind it.
    let mut inventory = InventoryTask::due();
    while !*shutdown.borrow() {
        let step = async {
            if tokio::time::Instant::now() >= next_heartbeat {
                let ack = agent.heartbeat().await?;
                next_heartbeat = tokio::time::Instant::now()
                    + Duration::from_secs(ack.next_heartbeat_secs.clamp(5, 600));
            }
            agent.report_unreported(&mut journal).await?;
            inventory.start_if_due(&agent);
            let Some(batch) = inventory.poll_beside(&agent).await? else {
                return anyhow::Ok(());
            };
            for envelope in batch.commands {
                if agent.handle(&mut journal, envelope).await? {
                    inventory.mark_due();
                }
            }
            anyhow::Ok(())
        };
        let outcome = tokio::select! {
            outcome = step => outcome,
            _ = shutdown.changed() => break,
        };
        match outcome {
            Ok(()) => backoff = Duration::from_secs(1),
            Err(error) => {
                tracing::warn!(error = format!("{error:#}"), server = agent.server(), retry_in = ?backoff, "controller unreachable or refused");
                // The next controller; the wait grows only once every one has failed.
                let wrapped = agent.fail_over();
                tokio::select! {
                    _ = tokio::time::sleep(backoff) => {}
                    _ = shutdown.changed() => break,
                }
                if wrapped {
                    backoff = (backoff * 2).min(Duration::from_secs(60));
                }
            }
        }
    }
    inventory.abort();
    tracing::info!("agent stopped");
    Ok(())
}

/// The inventory report: due (at start, after a change, while candidate changelogs remain to
/// be read) or running beside the command long-poll.
struct InventoryTask {
    due: bool,
    running: Option<tokio::task::JoinHandle<anyhow::Result<bool>>>,
}

impl InventoryTask {
    fn due() -> Self {
        InventoryTask {
            due: true,
            running: None,
        }
    }

    fn mark_due(&mut self) {
        self.due = true;
    }

    fn start_if_due(&mut self, agent: &Agent) {
        if self.due && self.running.is_none() {
            self.due = false;
            self.running = Some(tokio::spawn(agent.inventory()));
        }
    }

    /// Long-polls for commands; when the running inventory finishes first, takes its outcome
    /// instead (`None`: poll again). A poll cut short is safe: the controller hands delivered
    /// but unfinished commands out again.
    async fn poll_beside(&mut self, agent: &Agent) -> anyhow::Result<Option<CommandBatch>> {
        let Some(running) = self.running.as_mut() else {
            return agent.poll().await.map(Some);
        };
        let finished = tokio::select! {
            batch = agent.poll() => return batch.map(Some),
            finished = running => finished,
        };
        self.running = None;
        match finished.context("collecting the inventory panicked")? {
            Ok(more) => {
                // More candidate changelogs to read: report again.
                self.due |= more;
                Ok(None)
            }
            Err(error) => {
                self.due = true;
                Err(error)
            }
        }
    }

    fn abort(&mut self) {
        if let Some(running) = self.running.take() {
            running.abort();
        }
    }
}

async fn ensure_enrolled(settings: &AgentSettings) -> anyhow::Result<Identity> {
    if let Some(identity) = identity::load_identity(&settings.data_dir)? {
        return Ok(identity);
    }
    let token = settings.token.as_ref().context(
        "this agent has not enrolled yet: give --token (from POST /api/v1/enrollment-tokens)",
    )?;
    let ca_pem = settings.ca_pem.as_deref().context(
        "this agent has not enrolled yet: give --ca-cert (the controller's ca/ca.pem) to trust",
    )?;
    identity::enroll_this_host(&settings.data_dir, &settings.servers, &token.0, ca_pem).await
}

struct Agent {
    http: reqwest::Client,
    /// The controllers (at least one), and the index of the one in use.
    servers: Vec<String>,
    current: AtomicUsize,
    read_only: bool,
    plan_changes: bool,
    poll_wait_secs: u64,
    labels: BTreeMap<String, String>,
    /// Where candidate changelogs' CVEs are cached (`<data dir>/changelog-cache`).
    changelog_cache: PathBuf,
    reboot_command: Vec<String>,
    /// The inventory content the controller acknowledged last (in memory: after a restart the
    /// first report is full).
    acknowledged: std::sync::Arc<crate::inventory::Acknowledged>,
}

impl Agent {
    /// The controller in use.
    fn server(&self) -> &str {
        &self.servers[self.current.load(Ordering::Relaxed) % self.servers.len()]
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.server())
    }

    /// Moves to the next controller (after a failure); true when that wraps around to the
    /// first (every controller was tried), always with one controller.
    fn fail_over(&self) -> bool {
        let next = (self.current.load(Ordering::Relaxed) + 1) % self.servers.len();
        self.current.store(next, Ordering::Relaxed);
        if self.servers.len() > 1 {
            tracing::warn!(server = %self.servers[next], "moving to the next controller");
        }
        next == 0
    }

    async fn heartbeat(&self) -> anyhow::Result<HeartbeatAck> {
        let beat = Heartbeat {
            protocol_version: PROTOCOL_VERSION,
            agent_version: env!("CARGO_PKG_VERSION").to_owned(),
            read_only: self.read_only,
            plan_changes: self.plan_changes,
            sent_at: Timestamp::now(),
        };
        client::send_json(
            self.http
                .post(self.url("/api/v1/agent/heartbeat"))
                .json(&beat),
        )
        .await
        .context("heartbeat")
    }

    /// Collects and sends one inventory report (a task of its own): changes against the last
    /// acknowledged content, or the full report (`inventory.rs`). Returns whether candidate
    /// changelogs remain to be read.
    fn inventory(&self) -> impl std::future::Future<Output = anyhow::Result<bool>> + use<> {
        let labels = self.labels.clone();
        let cache = self.changelog_cache.clone();
        let (http, server) = (self.http.clone(), self.server().to_owned());
        let acknowledged = self.acknowledged.clone();
        async move {
            let (report, more) =
                tokio::task::spawn_blocking(move || report::collect_inventory(labels, &cache))
                    .await
                    .context("collecting the inventory panicked")??;
            let (ack, form) = acknowledged.send(&http, &server, &report).await?;
            tracing::info!(packages = ack.packages, form = ?form, pending = ?report.pending_updates.as_ref().map(Vec::len), "inventory reported");
            Ok(more)
        }
    }

    async fn poll(&self) -> anyhow::Result<CommandBatch> {
        let url = self.url(&format!(
            "/api/v1/agent/commands?wait={}",
            self.poll_wait_secs
        ));
        client::send_json(self.http.get(url))
            .await
            .context("polling for commands")
    }

    /// Runs (or, when already finished, re-reports) one command. Returns whether a fresh
    /// inventory is due.
    async fn handle(
        &self,
        journal: &mut Journal,
        envelope: CommandEnvelope,
    ) -> anyhow::Result<bool> {
        let id = envelope.id.clone();
        if journal.finished(&id).is_some() {
            tracing::info!(command_id = %id, "already finished; reporting the recorded result");
            self.report_unreported(journal).await?;
            return Ok(false);
        }
        journal.record(&JournalEntry::Received {
            command: envelope.clone(),
        })?;
        let (result, refresh) = self.execute(journal, &envelope, &[]).await?;
        journal.record(&JournalEntry::Finished {
            id: id.clone(),
            result: result.clone(),
        })?;
        self.report_unreported(journal).await?;
        if matches!(envelope.command, Command::Reboot { .. })
            && result.status == CommandStatus::Succeeded
        {
            // Journaled and reported first: a reboot is asked for at most once per command id.
            let argv = self.reboot_command.clone();
            tokio::task::spawn_blocking(move || {
                crate::restart::request_reboot(&pw_host::LocalRunner, &argv)
            })
            .await
            .context("the reboot request panicked")?;
        }
        Ok(refresh)
    }

    /// Finishes commands the journal shows as received but never finished (the agent stopped
    /// mid-command): a half-done change is rolled back unless its verification had passed.
    async fn finish_interrupted(&self, journal: &mut Journal) -> anyhow::Result<()> {
        for (envelope, steps) in journal.interrupted().to_vec() {
            tracing::warn!(command_id = %envelope.id, steps = steps.len(), "finishing a command interrupted by a restart");
            let (result, _) = self.execute(journal, &envelope, &steps).await?;
            journal.record(&JournalEntry::Finished {
                id: envelope.id.clone(),
                result,
            })?;
        }
        Ok(())
    }

    async fn execute(
        &self,
        journal: &Journal,
        envelope: &CommandEnvelope,
        prior: &[GuardStep],
    ) -> anyhow::Result<(CommandResult, bool)> {
        let command = &envelope.command;
        if let Some(message) = refusal(command, self.read_only, self.plan_changes) {
            let mut result = done(CommandStatus::Refused, message.clone());
            if matches!(command, Command::ApplyChange { .. }) {
                // An explicit report: the controller ends the host's change at once.
                let outcome = ChangeOutcome::Refused { detail: message };
                result.change = Some(ChangeReport::untouched(outcome));
            }
            return Ok((result, false));
        }
        if let Command::ApplyChange {
            targets,
            checks,
            verification_seconds,
            protection_steps,
            drill,
            plan,
            hooks,
            ..
        } = command
        {
            let spec = ChangeSpec {
                id: envelope.id.clone(),
                targets: targets.clone(),
                checks: checks.clone(),
                verification: Duration::from_secs(*verification_seconds),
                protection: protection_steps.clone(),
                drill: *drill,
                downgrade: plan.as_ref().is_some_and(|p| p.downgrade),
                archive: plan.as_ref().and_then(|p| p.archive.clone()),
                hooks: hooks.clone(),
            };
            let mut log = journal.appender()?;
            let prior = prior.to_vec();
            let result = tokio::task::spawn_blocking(move || {
                let mut result = guard::run_change(&pw_host::LocalRunner, &mut log, &spec, &prior);
                // What the verified change left to do: restarts, a reboot.
                if let Some(report) = result.change.as_mut()
                    && report.outcome == ChangeOutcome::Done
                {
                    report.restart = Some(Box::new(crate::restart::collect_status(
                        &pw_host::LocalRunner,
                    )));
                }
                result
            })
            .await
            .context("the change guard panicked")?;
            return Ok((result, true));
        }
        Ok(self.execute_simple(command).await)
    }

    async fn execute_simple(&self, command: &Command) -> (CommandResult, bool) {
        match command {
            Command::RefreshInventory => match self.inventory().await {
                Ok(_) => (
                    done(CommandStatus::Succeeded, "inventory sent".into()),
                    false,
                ),
                Err(error) => (done(CommandStatus::Failed, format!("{error:#}")), true),
            },
            Command::InstallPackages { packages } => {
                let packages = packages.clone();
                let outcome = tokio::task::spawn_blocking(move || install(&packages)).await;
                match outcome {
                    Ok(Ok(message)) => (done(CommandStatus::Succeeded, message), true),
                    Ok(Err(error)) => (done(CommandStatus::Failed, format!("{error:#}")), true),
                    Err(error) => (
                        done(CommandStatus::Failed, format!("install panicked: {error}")),
                        true,
                    ),
                }
            }
            Command::ApplyChange { .. } => (
                done(
                    CommandStatus::Refused,
                    "apply_change runs in the guard".into(),
                ),
                false,
            ),
            Command::CollectEvidence { targets, archive } => {
                (evidence(targets, archive).await, false)
            }
            Command::RestartServices { units, .. } => {
                let units = units.clone();
                let outcome = tokio::task::spawn_blocking(move || {
                    crate::restart::restart_services(&pw_host::LocalRunner, &units)
                })
                .await;
                (blocking_result(outcome, "restart_services"), true)
            }
            Command::Reboot { .. } => {
                let outcome = tokio::task::spawn_blocking(|| {
                    crate::restart::before_reboot(&pw_host::LocalRunner)
                })
                .await;
                (blocking_result(outcome, "reboot"), false)
            }
            Command::RunChecks { checks, marks, .. } => {
                let (checks, marks) = (checks.clone(), marks.clone());
                let outcome = tokio::task::spawn_blocking(move || {
                    crate::late::run_checks(&pw_host::LocalRunner, &checks, &marks)
                })
                .await;
                (blocking_result(outcome, "run_checks"), false)
            }
            Command::LateRollback {
                recorded,
                checks,
                verification_seconds,
                ..
            } => {
                let (recorded, checks) = (recorded.clone(), checks.clone());
                let verification = Duration::from_secs(*verification_seconds);
                let outcome = tokio::task::spawn_blocking(move || {
                    crate::late::late_rollback(
                        &pw_host::LocalRunner,
                        &recorded,
                        &checks,
                        verification,
                    )
                })
                .await;
                (blocking_result(outcome, "late_rollback"), true)
            }
        }
    }

    async fn report_unreported(&self, journal: &mut Journal) -> anyhow::Result<()> {
        for (id, result) in journal.unreported() {
            let url = self.url(&format!("/api/v1/agent/commands/{id}/result"));
            let answer: anyhow::Result<serde_json::Value> =
                client::send_json(self.http.post(url).json(&result)).await;
            match answer {
                Ok(_) => journal.record(&JournalEntry::Reported { id })?,
                // The controller forgot the command (e.g. a new database): stop retrying it.
                Err(error) if error.to_string().contains("command_not_found") => {
                    tracing::warn!(command_id = %id, "controller does not know this command");
                    journal.record(&JournalEntry::Reported { id })?;
                }
                Err(error) => return Err(error.context(format!("reporting command {id}"))),
            }
        }
        Ok(())
    }
}

/// Why a read-only agent refuses `command`, if it does: every change, except an `apply_change`
/// carrying an approved plan when the agent accepts plan-approved changes.
fn refusal(command: &Command, read_only: bool, plan_changes: bool) -> Option<String> {
    if !read_only || !command.changes_host() {
        return None;
    }
    let kind = command.kind();
    match command {
        Command::ApplyChange { plan: Some(_), .. }
        | Command::RestartServices { plan: Some(_), .. }
        | Command::Reboot { plan: Some(_), .. }
            if plan_changes =>
        {
            None
        }
        Command::ApplyChange { plan: None, .. } if plan_changes => Some(format!(
            "refused: this agent is read-only and accepts only changes of an approved plan \
             (--allow-approved-plans); this {kind} carries no plan"
        )),
        _ if plan_changes => Some(format!(
            "refused: this agent is read-only and accepts only apply_change of an approved plan \
             (--allow-approved-plans); {kind} changes the host"
        )),
        _ => Some(format!(
            "refused: this agent runs read-only (started with --read-only); {kind} changes the host"
        )),
    }
}

pub(crate) fn done(status: CommandStatus, message: String) -> CommandResult {
    CommandResult {
        checks: None,
        status,
        message,
        finished_at: Timestamp::now(),
        change: None,
        evidence: None,
        restart: None,
    }
}

/// A blocking command's result, or a failure when it panicked.
fn blocking_result(
    outcome: Result<CommandResult, tokio::task::JoinError>,
    kind: &str,
) -> CommandResult {
    outcome.unwrap_or_else(|error| done(CommandStatus::Failed, format!("{kind} panicked: {error}")))
}

/// Runs `collect_evidence` on this machine; the result carries the report.
async fn evidence(targets: &[pw_protocol::PackagePin], archive: &Option<String>) -> CommandResult {
    let (targets, archive) = (targets.to_vec(), archive.clone());
    let outcome = tokio::task::spawn_blocking(move || {
        let archive = archive.as_deref();
        crate::evidence::collect_evidence_with(
            &pw_host::LocalRunner,
            &targets,
            archive,
            Timestamp::now,
        )
    })
    .await;
    match outcome {
        Ok(Ok(report)) => {
            let mut result = done(CommandStatus::Succeeded, crate::evidence::summary(&report));
            result.evidence = Some(Box::new(report));
            result
        }
        Ok(Err(error)) => done(CommandStatus::Failed, format!("{error:#}")),
        Err(error) => done(
            CommandStatus::Failed,
            format!("evidence collection panicked: {error}"),
        ),
    }
}

/// Installs exact versions with apt (argv only, never a shell).
fn install(packages: &[pw_protocol::PackagePin]) -> anyhow::Result<String> {
    let targets = packages
        .iter()
        .map(|p| pw_host::apt::PackageTarget::parse(&p.name, &p.version))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let outcome = pw_host::apt::install_exact(&pw_host::LocalRunner, &targets)?;
    if outcome.succeeded() {
        Ok(format!("installed: {}", outcome.command))
    } else {
        anyhow::bail!(
            "install failed (exit {:?}); not at the wanted version: {:?}\n{}",
            outcome.exit_code,
            outcome.mismatches,
            outcome.output_tail
        )
    }
}

#[cfg(test)]
#[path = "runner_tests.rs"]
mod tests;
