//! The phases of a load run, in order: enroll every agent, steady heartbeats and long-polls,
//! inventory rounds (ingest rate, then the time until every background scan finished), and an
//! optional rollout across the fleet. Each phase ends with the controller's CPU and RSS.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use anyhow::Context;
use pw_protocol::PackagePin;
use tokio::sync::{Semaphore, watch};

use crate::Args;
use crate::agent::{Shared, SimAgent};
use crate::inventory::InventoryPool;
use crate::operator::{Operator, quantile_bound_ms};
use crate::stats::{self, Latencies, ProcessSample, Summary};
use crate::witness::Witness;

/// Everything measured, as printed.
#[derive(Debug, Default, serde::Serialize)]
pub struct Report {
    pub agents: usize,
    pub packages_per_host: usize,
    pub enroll: Option<Summary>,
    pub enroll_per_sec: f64,
    pub steady: Option<Steady>,
    pub rounds: Vec<Round>,
    /// The feed-import phase: records re-published as they were, then (`--rerank-reopen`)
    /// with their fixes dropped.
    pub rerank: Vec<crate::rerank::RerankFigures>,
    pub rollout: Option<RolloutFigures>,
    /// Command long-polls that failed over the whole run, by kind.
    pub poll_failures: std::collections::BTreeMap<String, u64>,
}

#[derive(Debug, serde::Serialize)]
pub struct Steady {
    /// Every agent's first heartbeat, sent together when the agents start (as after a
    /// controller restart): until the last is answered, and their latencies.
    pub first_heartbeats_secs: f64,
    pub first_heartbeats: Summary,
    /// As the agents saw it (the load generator shares the controller's cores).
    pub heartbeat: Summary,
    /// As one more agent saw it, heartbeating five times a second on its own thread (`witness.rs`):
    /// the controller without the load generator's own queueing.
    pub witness_heartbeat: Summary,
    /// The load generator's own cores during the phase.
    pub loadgen_cores: f64,
    /// TLS connections the controller accepted during the phase (agents reconnecting).
    pub tls_connections: f64,
    /// The controller's own time per heartbeat (its request-duration histogram during the
    /// phase): the bucket bound holding half and 99 % of them.
    pub controller_heartbeat_p50_at_most_ms: f64,
    pub controller_heartbeat_p99_at_most_ms: f64,
    pub controller_cores: f64,
    pub controller_rss_mib: f64,
}

#[derive(Debug, serde::Serialize)]
pub struct Round {
    pub round: u32,
    /// `changed` (every host another package list; the first is every host's first report),
    /// `unchanged`, or `small_change` (a few packages upgraded per host).
    pub kind: &'static str,
    /// Reports sent as deltas, as full reports, and as deltas refused then sent in full.
    pub deltas: u64,
    pub full: u64,
    pub delta_then_full: u64,
    pub inventory: Summary,
    pub ingest_per_sec: f64,
    /// From the round's start until every report of the round was scanned.
    pub scans_done_secs: f64,
    /// Scans the round caused (unchanged reports cause none; a host reporting twice before its
    /// scan ran is scanned once).
    pub scans: f64,
    pub heartbeat_during: Summary,
    /// TLS connections the controller accepted during the round (agents reconnecting).
    pub tls_connections: f64,
    pub controller_cores: f64,
    pub controller_rss_mib: f64,
}

#[derive(Debug, serde::Serialize)]
pub struct RolloutFigures {
    pub id: String,
    pub status: String,
    pub hosts: usize,
    pub batches: usize,
    pub wall_secs: f64,
    pub per_batch_ms: f64,
    /// Per batch boundary: the last result of a batch acknowledged → the first command of the
    /// next received (`batches.rs`); its median and largest.
    pub overhead_ms: Vec<f64>,
    pub overhead_p50_ms: f64,
    pub overhead_max_ms: f64,
    /// Per batch: its first command received → its last result acknowledged.
    pub batch_ms: Vec<f64>,
    /// The controller's scheduler passes during the rollout (`/metrics`
    /// `patchwarden_scheduler_pass_seconds`): how many and their mean duration.
    pub scheduler_passes: f64,
    pub scheduler_pass_mean_ms: f64,
    /// Each step's mean time per pass (`patchwarden_scheduler_step_seconds`), ms.
    pub scheduler_step_mean_ms: std::collections::BTreeMap<String, f64>,
    pub results: Summary,
    /// TLS connections the controller accepted during the rollout (agents reconnecting).
    pub tls_connections: f64,
    pub controller_cores: f64,
    pub controller_rss_mib: f64,
}

pub async fn run(args: &Args) -> anyhow::Result<Report> {
    let token = std::fs::read_to_string(&args.token_file)
        .with_context(|| format!("reading {}", args.token_file.display()))?;
    let ca_pem = std::fs::read_to_string(&args.ca)
        .with_context(|| format!("reading {}", args.ca.display()))?;
    let operator = Operator::new(&format!("http://{}", args.server), &token)?;
    let started = Instant::now();
    let pool = InventoryPool::build(
        &args.data_dir,
        (args.packages, args.distinct),
        args.small_change_packages,
    )?;
    eprintln!(
        "pool of {} inventories built in {:.1?}",
        args.distinct,
        started.elapsed()
    );
    let shared = Arc::new(Shared {
        pool,
        inventory_gate: Semaphore::new(args.concurrency),
        poll_wait_secs: args.poll_wait,
        changed_rounds: args.rounds,
        small_changes_after: args.rounds + args.unchanged_rounds,
        full_reports: args.full_reports,
        forms: Default::default(),
        heartbeats: Latencies::default(),
        inventories: Latencies::default(),
        results: Latencies::default(),
        poll_failures: Default::default(),
        inventories_done: Default::default(),
        changes_applied: Default::default(),
        other_commands: Default::default(),
        applies: Default::default(),
    });
    let mut report = Report {
        agents: args.agents,
        packages_per_host: shared.pool.packages_per_host(),
        ..Report::default()
    };
    let (agents, enroll) = enroll_all(args, &operator, &ca_pem).await?;
    report.enroll_per_sec = args.agents as f64 / enroll.1;
    report.enroll = Some(enroll.0);
    let (stop_tx, stop) = watch::channel(false);
    let (round_tx, rounds) = watch::channel(0u32);
    for agent in &agents {
        tokio::spawn(agent.clone().control_loop(shared.clone(), stop.clone()));
        tokio::spawn(agent.clone().inventory_loop(shared.clone(), rounds.clone()));
    }
    let probe = Probe(args.controller_pid);
    let witness = (args.agents, ca_pem.as_str());
    report.steady = Some(steady(args, (&shared, witness), &operator, &probe).await?);
    for round in 1..=args.rounds + args.unchanged_rounds + args.small_change_rounds {
        let figures = inventory_round(args, &shared, &operator, &probe, (round, &round_tx)).await?;
        report.rounds.push(figures);
    }
    if let Some(feed) = &args.rerank_feed {
        for reopen in [false, true]
            .into_iter()
            .filter(|r| !r || args.rerank_reopen)
        {
            let figures = crate::rerank::run(args, &operator, &probe, (feed, reopen)).await?;
            report.rerank.push(figures);
        }
    }
    if let Some(batch) = args.rollout_batch {
        report.rollout = Some(rollout(args, &shared, &operator, &probe, &agents, batch).await?);
    }
    stop_tx.send_replace(true);
    report.poll_failures = shared.poll_failures.take(true);
    Ok(report)
}

/// The controller's process, when its pid was given.
pub(crate) struct Probe(pub(crate) Option<u32>);

impl Probe {
    pub(crate) fn sample(&self) -> anyhow::Result<Option<ProcessSample>> {
        self.0.map(stats::sample_process).transpose()
    }

    /// Cores used since `before` and the RSS now (zeros without a pid).
    pub(crate) fn since(&self, before: Option<ProcessSample>) -> anyhow::Result<(f64, f64)> {
        Ok(match (before, self.sample()?) {
            (Some(a), Some(b)) => (stats::cores_between(&a, &b), b.rss_mib),
            _ => (0.0, 0.0),
        })
    }
}

/// Tokens and enrollments, `concurrency` at a time; the enrollment latencies and the seconds
/// the whole phase took.
async fn enroll_all(
    args: &Args,
    operator: &Operator,
    ca_pem: &str,
) -> anyhow::Result<(Vec<Arc<SimAgent>>, (Summary, f64))> {
    let base = format!("https://{}", args.server);
    let latencies = Arc::new(Latencies::default());
    let gate = Arc::new(Semaphore::new(args.concurrency));
    let started = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for index in 0..args.agents {
        let token = operator.enrollment_token().await?;
        let permit = gate.clone().acquire_owned().await?;
        let (latencies, base, ca_pem) = (latencies.clone(), base.clone(), ca_pem.to_owned());
        let hostname = format!("{}-{index:05}", args.name_prefix);
        tasks.spawn(async move {
            let _permit = permit;
            let t = Instant::now();
            let identity = pw_agent::enroll_in_memory(&base, &token, &ca_pem, &hostname).await?;
            latencies.record(t.elapsed());
            SimAgent::new(index, hostname, &identity, &base).map(Arc::new)
        });
    }
    let mut agents = Vec::with_capacity(args.agents);
    while let Some(joined) = tasks.join_next().await {
        agents.push(joined.context("an enrollment task panicked")??);
    }
    agents.sort_by_key(|a| a.index);
    let took = started.elapsed().as_secs_f64();
    eprintln!("{} agents enrolled in {took:.1} s", agents.len());
    Ok((agents, (latencies.summary(true), took)))
}

/// Heartbeats and long-polls only, for `steady_secs`.
async fn steady(
    args: &Args,
    (shared, (witness_index, ca_pem)): (&Shared, (usize, &str)),
    operator: &Operator,
    probe: &Probe,
) -> anyhow::Result<Steady> {
    // Every agent's first heartbeat and long-poll (and its TLS handshake) come at once after
    // enrollment: the steady phase is measured from 5 s after as many heartbeats as agents
    // were answered.
    let started = Instant::now();
    until(
        args,
        ("first heartbeats", Duration::from_millis(100)),
        async || Ok(shared.heartbeats.recorded() >= args.agents),
    )
    .await?;
    let first_heartbeats_secs = started.elapsed().as_secs_f64();
    let first_heartbeats = shared.heartbeats.summary(true);
    eprintln!(
        "first heartbeats: the last answered after {first_heartbeats_secs:.1} s, p99 {:.1} ms, \
         {} failed {:?}; long-polls failed so far {:?}",
        first_heartbeats.p99_ms,
        first_heartbeats.failed,
        first_heartbeats.failures,
        shared.poll_failures.take(false),
    );
    let base = format!("https://{}", args.server);
    let token = operator.enrollment_token().await?;
    let hostname = format!("{}-witness", args.name_prefix);
    let witness = Witness::start(witness_index, hostname, (&base, &token, ca_pem)).await?;
    tokio::time::sleep(Duration::from_secs(5)).await;
    let before = probe.sample()?;
    let own = Probe(Some(std::process::id()));
    let own_before = own.sample()?;
    witness.window();
    // The controller's histogram is a second view: a busy controller that cannot answer
    // /metrics now leaves it out (`null`) rather than ending the run.
    let buckets = async || {
        (operator.heartbeat_buckets().await)
            .inspect_err(|e| eprintln!("steady: /metrics unanswered: {e:#}"))
            .unwrap_or_default()
    };
    let buckets_before = buckets().await;
    let connections_before = operator.tls_connections().await?;
    shared.heartbeats.summary(true);
    tokio::time::sleep(Duration::from_secs(args.steady_secs)).await;
    let (controller_cores, controller_rss_mib) = probe.since(before)?;
    let (loadgen_cores, _) = own.since(own_before)?;
    let heartbeat = shared.heartbeats.summary(true);
    let witness_heartbeat = witness.stop().await;
    let buckets_after = buckets().await;
    let tls_connections = operator.tls_connections().await? - connections_before;
    let quantile = |share| match buckets_before.is_empty() {
        true => f64::NAN,
        false => quantile_bound_ms(&buckets_before, &buckets_after, share),
    };
    let controller_heartbeat_p50_at_most_ms = quantile(0.5);
    let controller_heartbeat_p99_at_most_ms = quantile(0.99);
    eprintln!(
        "steady: heartbeat p99 {:.1} ms over {} beats (the controller's own: p99 ≤ {} ms; \
         the witness's: p99 {:.1} ms over {}; the load generator used {loadgen_cores:.2} cores; \
         {tls_connections} TLS connections accepted)",
        heartbeat.p99_ms,
        heartbeat.count,
        controller_heartbeat_p99_at_most_ms,
        witness_heartbeat.p99_ms,
        witness_heartbeat.count
    );
    Ok(Steady {
        first_heartbeats_secs,
        first_heartbeats,
        heartbeat,
        witness_heartbeat,
        loadgen_cores,
        tls_connections,
        controller_heartbeat_p50_at_most_ms,
        controller_heartbeat_p99_at_most_ms,
        controller_cores,
        controller_rss_mib,
    })
}

/// Waits until `done()` holds, checking every `every`, for at most the phase timeout.
async fn until(
    args: &Args,
    (what, every): (&str, Duration),
    mut done: impl AsyncFnMut() -> anyhow::Result<bool>,
) -> anyhow::Result<()> {
    let deadline = Instant::now() + Duration::from_secs(args.phase_timeout);
    while !done().await? {
        anyhow::ensure!(
            Instant::now() < deadline,
            "{what}: not done after {} s",
            args.phase_timeout
        );
        tokio::time::sleep(every).await;
    }
    Ok(())
}

async fn inventory_round(
    args: &Args,
    shared: &Shared,
    operator: &Operator,
    probe: &Probe,
    (round, start): (u32, &watch::Sender<u32>),
) -> anyhow::Result<Round> {
    // Counted before the round starts: its first scans may finish within milliseconds.
    let scans_before = operator.metric("patchwarden_findings_scans_total").await?;
    let connections_before = operator.tls_connections().await?;
    let before = probe.sample()?;
    let forms_before = forms(shared);
    let started = Instant::now();
    start.send_replace(round);
    let want = u64::from(round) * args.agents as u64;
    until(
        args,
        ("inventory round", Duration::from_millis(100)),
        async || Ok(shared.inventories_done.load(Ordering::Relaxed) >= want),
    )
    .await?;
    let ingest_secs = started.elapsed().as_secs_f64();
    // Every report of the round is acknowledged, so every scan it needs is queued: the round
    // is ranked when none is pending.
    until(
        args,
        ("scans of the round", Duration::from_secs(1)),
        async || {
            Ok(operator
                .metric("patchwarden_findings_scans_pending")
                .await?
                == 0.0)
        },
    )
    .await?;
    let scans_done_secs = started.elapsed().as_secs_f64();
    let scans = operator.metric("patchwarden_findings_scans_total").await? - scans_before;
    let (controller_cores, controller_rss_mib) = probe.since(before)?;
    let sent = forms(shared);
    let kind = if round <= args.rounds {
        "changed"
    } else if round <= args.rounds + args.unchanged_rounds {
        "unchanged"
    } else {
        "small_change"
    };
    let figures = Round {
        round,
        kind,
        deltas: sent[0] - forms_before[0],
        full: sent[1] - forms_before[1],
        delta_then_full: sent[2] - forms_before[2],
        inventory: shared.inventories.summary(true),
        ingest_per_sec: args.agents as f64 / ingest_secs,
        scans_done_secs,
        scans,
        heartbeat_during: shared.heartbeats.summary(true),
        tls_connections: operator.tls_connections().await? - connections_before,
        controller_cores,
        controller_rss_mib,
    };
    eprintln!(
        "round {round} ({kind}): {:.0} inventories/s, {scans} scans done after {scans_done_secs:.1} s, RSS {controller_rss_mib:.0} MiB",
        figures.ingest_per_sec
    );
    Ok(figures)
}

/// The report forms sent so far (delta, full, delta then full).
fn forms(shared: &Shared) -> [u64; 3] {
    shared.forms.each_ref().map(|f| f.load(Ordering::Relaxed))
}

async fn rollout(
    args: &Args,
    shared: &Shared,
    operator: &Operator,
    probe: &Probe,
    agents: &[Arc<SimAgent>],
    batch: usize,
) -> anyhow::Result<RolloutFigures> {
    let hosts: Vec<String> = agents.iter().map(|a| a.host_id.clone()).collect();
    let target = PackagePin {
        name: args.rollout_package.clone(),
        version: args.rollout_version.clone(),
    };
    let before = probe.sample()?;
    let applied_before = shared.changes_applied.load(Ordering::Relaxed);
    shared.results.summary(true);
    shared.applies.take();
    let scheduler_before = operator.scheduler_sample().await?;
    let connections_before = operator.tls_connections().await?;
    let started = Instant::now();
    let created = operator.rollout(hosts, target, batch).await?;
    let mut status = created.status.clone();
    until(args, ("rollout", Duration::from_millis(500)), async || {
        let view = operator.rollout_view(&created.id).await?;
        status = view.status;
        Ok(matches!(status.as_str(), "completed" | "stopped"))
    })
    .await?;
    let wall_secs = started.elapsed().as_secs_f64();
    let (controller_cores, controller_rss_mib) = probe.since(before)?;
    let hosts = (shared.changes_applied.load(Ordering::Relaxed) - applied_before) as usize;
    let batches = 1 + args.agents.saturating_sub(1).div_ceil(batch.max(1));
    let (passes, pass_mean_ms, steps) =
        (operator.scheduler_sample().await?).since(&scheduler_before);
    let timings = crate::batches::figures(&shared.applies.take(), batch);
    let mut sorted = timings.overhead_ms.clone();
    sorted.sort_by(f64::total_cmp);
    eprintln!(
        "rollout {}: {status} after {wall_secs:.1} s, {hosts} hosts changed, overhead per batch {:?} ms",
        created.id, timings.overhead_ms
    );
    Ok(RolloutFigures {
        id: created.id,
        status,
        hosts,
        batches,
        wall_secs,
        per_batch_ms: wall_secs * 1000.0 / batches as f64,
        overhead_p50_ms: sorted.get(sorted.len() / 2).copied().unwrap_or_default(),
        overhead_max_ms: sorted.last().copied().unwrap_or_default(),
        overhead_ms: timings.overhead_ms,
        batch_ms: timings.batch_ms,
        scheduler_passes: passes,
        scheduler_pass_mean_ms: pass_mean_ms,
        scheduler_step_mean_ms: steps,
        results: shared.results.summary(true),
        tls_connections: operator.tls_connections().await? - connections_before,
        controller_cores,
        controller_rss_mib,
    })
}
