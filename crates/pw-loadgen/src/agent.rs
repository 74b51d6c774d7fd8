//! One simulated agent: the real protocol over its own mutual-TLS client (its own key and
//! certificate from a real enrollment), a control loop like the real agent's (heartbeat when
//! due, then a command long-poll, commands answered at once) and an inventory task that reports
//! whenever the load generator starts a round (beside the long-poll, as the real agent does),
//! through the agent's own `send_inventory`: a delta against the state the controller
//! acknowledged, the full report when there is none or the controller asks for it (or always,
//! with `--full-reports`, as agents before deltas did). Changes are simulated: an
//! `apply_change` is answered `done` on its exact targets.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use pw_agent::Identity;
use pw_protocol::{
    ChangeOutcome, ChangeReport, Command, CommandBatch, CommandEnvelope, CommandResult,
    CommandStatus, Heartbeat, HeartbeatAck, InventoryDelta, PROTOCOL_VERSION, VersionSeen,
};
use tokio::sync::{Semaphore, watch};

use crate::inventory::{HostState, InventoryPool};
use crate::stats::Latencies;

/// What every simulated agent shares: the inventories, the knobs and the measurements.
pub struct Shared {
    pub pool: InventoryPool,
    /// Bounds the inventory reports in flight (the load generator's own concurrency).
    pub inventory_gate: Semaphore,
    pub poll_wait_secs: u64,
    /// Rounds up to this one report a different inventory than the round before (pool entry
    /// `index + round - 1`); later rounds repeat the last one unchanged, then rounds after
    /// `small_changes_after` upgrade a few packages each.
    pub changed_rounds: u32,
    pub small_changes_after: u32,
    /// Always send full reports (agents from before deltas).
    pub full_reports: bool,
    /// Reports sent as a delta, as a full report, and as a delta refused then a full report.
    pub forms: [AtomicU64; 3],
    pub heartbeats: Latencies,
    pub inventories: Latencies,
    pub results: Latencies,
    /// Command long-polls that failed (their latency is the wait, not measured).
    pub poll_failures: crate::stats::Failures,
    pub inventories_done: AtomicU64,
    pub changes_applied: AtomicU64,
    /// Commands answered by kind other than `apply_change` (evidence, refresh, …).
    pub other_commands: AtomicU64,
    /// Each simulated install's arrival and acknowledgement (the per-batch overhead).
    pub applies: crate::batches::Applies,
}

pub struct SimAgent {
    pub index: usize,
    pub hostname: String,
    pub host_id: String,
    http: reqwest::Client,
    base: String,
    /// The state whose content the controller acknowledged last.
    acknowledged: Mutex<Option<HostState>>,
}

impl SimAgent {
    /// An enrolled agent's client: mutual TLS with its certificate, the agent's own TLS
    /// settings (HTTP/2: its long-poll, heartbeats and reports share one connection).
    pub fn new(
        index: usize,
        hostname: String,
        identity: &Identity,
        base: &str,
    ) -> anyhow::Result<Self> {
        let config = pw_agent::mtls_config(identity)?;
        let http = reqwest::Client::builder()
            .tls_backend_preconfigured(config)
            .connect_timeout(Duration::from_secs(30))
            .timeout(Duration::from_secs(120))
            // The pool as the real agent's (pw-agent's client.rs: reqwest's defaults, 90 s
            // idle). hyper's pool drops an HTTP/2 connection no request has started on for
            // its idle timeout, even with a long-poll on it; the 5 s this had made every
            // simulated agent open a new connection — a TLS handshake — for each long-poll
            // (10 % of the controller's CPU at 10,000 agents, which real agents never cost).
            .local_address(Some(source_address(index)))
            .user_agent("pw-loadgen")
            .build()?;
        Ok(SimAgent {
            index,
            hostname,
            host_id: identity.host_id.clone(),
            http,
            base: base.trim_end_matches('/').to_owned(),
            acknowledged: Mutex::new(None),
        })
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// Heartbeat when due, long-poll, answer; until `stop` turns true.
    pub async fn control_loop(
        self: Arc<Self>,
        shared: Arc<Shared>,
        mut stop: watch::Receiver<bool>,
    ) {
        let mut next_heartbeat = Instant::now();
        while !*stop.borrow() {
            let step = async {
                if Instant::now() >= next_heartbeat {
                    let wait = self.heartbeat(&shared.heartbeats).await?;
                    next_heartbeat = Instant::now() + wait;
                }
                let batch = self.poll(&shared).await?;
                let received = Instant::now();
                for envelope in batch.commands {
                    self.answer(&shared, envelope, received).await?;
                }
                anyhow::Ok(())
            };
            let failed = tokio::select! {
                outcome = step => outcome.is_err(),
                _ = stop.changed() => break,
            };
            if failed {
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        }
    }

    /// Reports the inventory once per round the load generator starts.
    pub async fn inventory_loop(
        self: Arc<Self>,
        shared: Arc<Shared>,
        mut rounds: watch::Receiver<u32>,
    ) {
        let mut reported = 0;
        loop {
            let round = *rounds.borrow_and_update();
            if round > reported {
                let _permit = shared.inventory_gate.acquire().await;
                let started = Instant::now();
                match self.inventory(&shared, round).await {
                    Ok(_) => {
                        shared.inventories.record(started.elapsed());
                        shared.inventories_done.fetch_add(1, Ordering::Relaxed);
                        reported = round;
                    }
                    Err(error) => shared.inventories.failed(&error),
                }
                continue;
            }
            if rounds.changed().await.is_err() {
                return;
            }
        }
    }

    /// One heartbeat, its latency recorded in `latencies`; the wait the controller asks for.
    pub(crate) async fn heartbeat(&self, latencies: &Latencies) -> anyhow::Result<Duration> {
        let beat = Heartbeat {
            protocol_version: PROTOCOL_VERSION,
            agent_version: "pw-loadgen".into(),
            read_only: false,
            plan_changes: false,
            sent_at: jiff::Timestamp::now(),
        };
        let started = Instant::now();
        let request = self
            .http
            .post(self.url("/api/v1/agent/heartbeat"))
            .json(&beat);
        match pw_agent::send_json::<HeartbeatAck>(request).await {
            Ok(ack) => {
                latencies.record(started.elapsed());
                Ok(Duration::from_secs(ack.next_heartbeat_secs.clamp(5, 600)))
            }
            Err(error) => {
                latencies.failed(&error);
                Err(error)
            }
        }
    }

    /// Sends round `round`'s inventory the way the agent does (`pw_agent::send_inventory`).
    async fn inventory(&self, shared: &Shared, round: u32) -> anyhow::Result<()> {
        let state = HostState {
            entry: self.index + round.min(shared.changed_rounds).saturating_sub(1) as usize,
            upgrades: round.saturating_sub(shared.small_changes_after),
        };
        let inventory = shared.pool.inventory(state)?;
        let base = match shared.full_reports {
            true => None,
            false => self.acknowledged.lock().expect("agent lock").take(),
        };
        let now = jiff::Timestamp::now();
        let delta = match base {
            Some(base) => Some(InventoryDelta {
                protocol_version: PROTOCOL_VERSION,
                hostname: self.hostname.clone(),
                os: "debian:12".into(),
                base_digest: shared.pool.inventory(base)?.digest.clone(),
                digest: inventory.digest.clone(),
                changes: (*shared.pool.changes(base, state)?).clone(),
                pending_updates: None,
                reboot_required: false,
                reboot_required_by: Vec::new(),
                collected_at: now,
                labels: None,
                restart: None,
            }),
            None => None,
        };
        let full = || Ok(inventory.report_body(&self.hostname, now));
        let (ack, form) =
            pw_agent::send_inventory(&self.http, &self.base, delta.as_ref(), full).await?;
        if ack.acknowledges(&inventory.digest) {
            *self.acknowledged.lock().expect("agent lock") = Some(state);
        }
        let slot = match form {
            pw_agent::InventoryForm::Delta => 0,
            pw_agent::InventoryForm::Full => 1,
            pw_agent::InventoryForm::DeltaThenFull => 2,
        };
        shared.forms[slot].fetch_add(1, Ordering::Relaxed);
        Ok(())
    }

    async fn poll(&self, shared: &Shared) -> anyhow::Result<CommandBatch> {
        let url = format!("/api/v1/agent/commands?wait={}", shared.poll_wait_secs);
        let batch = pw_agent::send_json(self.http.get(self.url(&url))).await;
        if let Err(error) = &batch {
            shared.poll_failures.add(error);
        }
        batch
    }

    /// Answers one command at once: changes succeed on their exact targets, read-only
    /// commands are refused (a simulated host has no evidence to collect).
    async fn answer(
        &self,
        shared: &Shared,
        envelope: CommandEnvelope,
        received: Instant,
    ) -> anyhow::Result<()> {
        let install = matches!(envelope.command, Command::ApplyChange { .. });
        let now = jiff::Timestamp::now();
        let result = match &envelope.command {
            Command::ApplyChange { targets, .. } => {
                shared.changes_applied.fetch_add(1, Ordering::Relaxed);
                let seen = |version: Option<&str>, name: &str| VersionSeen {
                    name: name.to_owned(),
                    version: version.map(str::to_owned),
                };
                let report = ChangeReport {
                    outcome: ChangeOutcome::Done,
                    recorded: targets
                        .iter()
                        .map(|t| seen(shared.pool.version(self.index, &t.name), &t.name))
                        .collect(),
                    final_versions: targets
                        .iter()
                        .map(|t| seen(Some(&t.version), &t.name))
                        .collect(),
                    installed_at: Some(now),
                    passed_checks: Vec::new(),
                    failed_check: None,
                    protection: Vec::new(),
                    restored: Vec::new(),
                    resumed: Vec::new(),
                    drill: None,
                    restart: None,
                    downgrade: None,
                    hooks: None,
                };
                CommandResult {
                    checks: None,
                    status: CommandStatus::Succeeded,
                    message: "simulated install".into(),
                    finished_at: now,
                    change: Some(report),
                    evidence: None,
                    restart: None,
                }
            }
            other => {
                shared.other_commands.fetch_add(1, Ordering::Relaxed);
                CommandResult {
                    checks: None,
                    status: CommandStatus::Refused,
                    message: format!("pw-loadgen simulates {} only", other.kind()),
                    finished_at: now,
                    change: None,
                    evidence: None,
                    restart: None,
                }
            }
        };
        let started = Instant::now();
        let url = self.url(&format!("/api/v1/agent/commands/{}/result", envelope.id));
        let answer: anyhow::Result<serde_json::Value> =
            pw_agent::send_json(self.http.post(url).json(&result)).await;
        match &answer {
            Ok(_) => {
                shared.results.record(started.elapsed());
                if install {
                    shared.applies.record(crate::batches::Apply {
                        agent: self.index,
                        received,
                        acknowledged: Instant::now(),
                    });
                }
            }
            Err(error) => shared.results.failed(error),
        }
        answer.map(|_| ())
    }
}

/// Agent `index`'s own loopback source address (127.1.0.1, 127.1.0.2, …; all of 127.0.0.0/8 is
/// the loopback interface on Linux): as from separate hosts, so the controller's limit on
/// connections per address applies per agent, as in a real fleet.
pub(crate) fn source_address(index: usize) -> std::net::IpAddr {
    let [_, b, c, d] = u32::try_from(index).unwrap_or(u32::MAX).to_be_bytes();
    let host = u32::from_be_bytes([0, b, c, d]).wrapping_add(0x01_00_01);
    let [_, b, c, d] = host.to_be_bytes();
    std::net::IpAddr::V4(std::net::Ipv4Addr::new(127, b, c, d))
}

#[cfg(test)]
mod tests {
    #[test]
    fn every_agent_has_its_own_loopback_address() {
        let addresses: std::collections::HashSet<_> =
            (0..70_000).map(super::source_address).collect();
        assert_eq!(addresses.len(), 70_000);
        assert_eq!(super::source_address(0).to_string(), "127.1.0.1");
        assert_eq!(super::source_address(255).to_string(), "127.1.1.0");
        assert!(addresses.iter().all(|a| a.is_loopback()));
    }
}
