//! Prometheus metrics (`patchwarden_<area>_<name>_<unit>`, counters end in `_total`), each
//! counted by one small function next to its log line.

use std::sync::Mutex;
use std::time::Duration;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

/// How long the findings gauges (a read of every open finding) are served before a scrape
/// computes them again.
const FINDINGS_REFRESH: Duration = Duration::from_secs(15);

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct HttpLabels {
    pub method: String,
    pub route: String,
    pub status: u16,
}

/// A request's route without its status: the latency histogram's labels (bounded: one series
/// per route and method).
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RouteLabels {
    pub method: String,
    pub route: String,
}

/// Upper bounds of the request latency buckets, in seconds: 1 ms to 1 min (command long-polls
/// are answered after up to 30 s and land in the top buckets of their own route).
const LATENCY_BUCKETS: [f64; 15] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0,
];

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct OutcomeLabels {
    pub outcome: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct StateLabels {
    pub state: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ActionLabels {
    pub action: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct TriggerLabels {
    pub trigger: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct StepLabels {
    pub step: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct TierLabels {
    pub tier: String,
}

/// Findings per tier at the last scrape: open (overdue included), overdue, accepted.
struct FindingMetrics {
    open: Family<TierLabels, Gauge>,
    overdue: Family<TierLabels, Gauge>,
    accepted: Family<TierLabels, Gauge>,
}

impl FindingMetrics {
    fn register(registry: &mut Registry) -> FindingMetrics {
        let metrics = FindingMetrics {
            open: Family::default(),
            overdue: Family::default(),
            accepted: Family::default(),
        };
        registry.register(
            "findings_open",
            "Open findings (overdue included, accepted risks not), by tier",
            metrics.open.clone(),
        );
        registry.register(
            "findings_overdue",
            "Open findings past their deadline, by tier",
            metrics.overdue.clone(),
        );
        registry.register(
            "findings_accepted",
            "Findings hidden by an accepted risk in force, by tier",
            metrics.accepted.clone(),
        );
        metrics
    }
}

/// Every metric of the controller.
pub struct Metrics {
    registry: Mutex<Registry>,
    http_requests: Family<HttpLabels, Counter>,
    http_latency: Family<RouteLabels, Histogram, fn() -> Histogram>,
    enrollments: Family<OutcomeLabels, Counter>,
    connections: Family<OutcomeLabels, Counter>,
    heartbeats: Counter,
    inventory_reports: Counter,
    command_results: Family<OutcomeLabels, Counter>,
    inventory_unchanged: Counter,
    inventory_deltas: Family<OutcomeLabels, Counter>,
    scans_pending: Gauge,
    feed_import_queued: Gauge,
    findings_at: Mutex<Option<std::time::Instant>>,
    scans: Family<OutcomeLabels, Counter>,
    rollout: RolloutMetrics,
    findings: FindingMetrics,
    notifications: NotificationMetrics,
}

/// The notification outbox: deliveries, failed attempts, rows waiting.
struct NotificationMetrics {
    sent: Counter,
    failed: Counter,
    pending: Gauge,
}

impl NotificationMetrics {
    fn register(registry: &mut Registry) -> NotificationMetrics {
        let metrics = NotificationMetrics {
            sent: Counter::default(),
            failed: Counter::default(),
            pending: Gauge::default(),
        };
        registry.register(
            "notifications_sent",
            "Notifications delivered to their channel",
            metrics.sent.clone(),
        );
        registry.register(
            "notifications_failed",
            "Notification delivery attempts that failed (each is retried or given up; see GET /api/v1/notifications)",
            metrics.failed.clone(),
        );
        registry.register(
            "notifications_pending",
            "Notifications waiting in the outbox (pending or being sent) at the dispatcher's last pass",
            metrics.pending.clone(),
        );
        metrics
    }
}

/// The rollout engine's counters and the active-rollouts gauge.
struct RolloutMetrics {
    host_transitions: Family<StateLabels, Counter>,
    rollbacks: Counter,
    blocks: Counter,
    blocks_cleared: Counter,
    controls: Family<ActionLabels, Counter>,
    active: Gauge,
    scheduler_passes: Family<TriggerLabels, Counter>,
    scheduler_pass_seconds: Histogram,
    scheduler_step_seconds: Family<StepLabels, Histogram, fn() -> Histogram>,
    scheduler_panics: Counter,
}

impl RolloutMetrics {
    fn register(registry: &mut Registry) -> RolloutMetrics {
        let metrics = RolloutMetrics {
            host_transitions: Family::default(),
            rollbacks: Counter::default(),
            blocks: Counter::default(),
            blocks_cleared: Counter::default(),
            controls: Family::default(),
            active: Gauge::default(),
            scheduler_passes: Family::default(),
            // 1 ms … 16 s.
            scheduler_pass_seconds: Histogram::new(exponential_buckets(0.001, 2.0, 15)),
            // 0.1 ms … 1.6 s.
            scheduler_step_seconds: Family::new_with_constructor(|| {
                Histogram::new(exponential_buckets(0.0001, 2.0, 15))
            }),
            scheduler_panics: Counter::default(),
        };
        registry.register(
            "rollout_host_transitions",
            "Host transitions persisted by the rollout scheduler, by the state entered",
            metrics.host_transitions.clone(),
        );
        registry.register(
            "rollout_rollbacks",
            "Hosts that ended rolled back to their recorded versions",
            metrics.rollbacks.clone(),
        );
        registry.register(
            "rollout_blocked_versions",
            "Versions blocked fleet-wide after a health failure",
            metrics.blocks.clone(),
        );
        registry.register(
            "rollout_blocks_cleared",
            "Fleet-wide blocks cleared by an operator",
            metrics.blocks_cleared.clone(),
        );
        registry.register(
            "rollout_operator_controls",
            "Operator pause / resume / stop actions accepted",
            metrics.controls.clone(),
        );
        registry.register(
            "rollouts_active",
            "Rollouts the scheduler drives (running or paused) at its last pass",
            metrics.active.clone(),
        );
        registry.register(
            "scheduler_passes",
            "Rollout scheduler passes, by trigger (woken: a result or a new rollout; interval)",
            metrics.scheduler_passes.clone(),
        );
        registry.register(
            "scheduler_pass_seconds",
            "Duration of the rollout scheduler's passes (every active rollout driven once)",
            metrics.scheduler_pass_seconds.clone(),
        );
        registry.register(
            "scheduler_step_seconds",
            "Duration of each step of the rollout scheduler's passes (observe, gates, load, \
             results, timeouts, restarts, decide, releases, claims, status, notes), summed over \
             the rollouts of a pass",
            metrics.scheduler_step_seconds.clone(),
        );
        registry.register(
            "scheduler_panics",
            "Rollout scheduler passes that panicked (logged; the scheduler was started again)",
            metrics.scheduler_panics.clone(),
        );
        metrics
    }
}

impl Metrics {
    pub fn new() -> Metrics {
        let mut registry = Registry::with_prefix("patchwarden");
        let http_requests = Family::<HttpLabels, Counter>::default();
        registry.register(
            "http_requests",
            "HTTP requests answered, by route and status",
            http_requests.clone(),
        );
        let http_latency: Family<RouteLabels, Histogram, fn() -> Histogram> =
            Family::new_with_constructor(|| Histogram::new(LATENCY_BUCKETS));
        registry.register(
            "http_request_duration_seconds",
            "Time from a request's arrival to its answer's head, by route (the controller's \
             own share of an agent's or operator's latency)",
            http_latency.clone(),
        );
        let enrollments = Family::<OutcomeLabels, Counter>::default();
        registry.register(
            "agent_enrollments",
            "Enrollment attempts by outcome",
            enrollments.clone(),
        );
        let connections = Family::<OutcomeLabels, Counter>::default();
        registry.register(
            "connections",
            "Connections accepted, by what they became (h2, http1: after a TLS handshake; plain: \
             HTTP without TLS; refused: over the per-address limit; failed: no handshake). Agents \
             hold one HTTP/2 connection each: a rate near the agents' request rate is a \
             reconnecting fleet (a TLS handshake each)",
            connections.clone(),
        );
        let heartbeats = Counter::default();
        registry.register(
            "agent_heartbeats",
            "Heartbeats received",
            heartbeats.clone(),
        );
        let inventory_reports = Counter::default();
        registry.register(
            "agent_inventory_reports",
            "Inventory reports stored",
            inventory_reports.clone(),
        );
        let inventory_unchanged = Counter::default();
        registry.register(
            "agent_inventory_unchanged",
            "Inventory reports equal to the stored one (not stored again, not scanned)",
            inventory_unchanged.clone(),
        );
        let inventory_deltas = Family::<OutcomeLabels, Counter>::default();
        registry.register(
            "agent_inventory_deltas",
            "Inventory delta reports by outcome (applied, full_inventory_needed)",
            inventory_deltas.clone(),
        );
        let scans_pending = Gauge::default();
        registry.register(
            "findings_scans_pending",
            "Scans of stored inventory reports waiting or running",
            scans_pending.clone(),
        );
        let feed_import_queued = Gauge::default();
        registry.register(
            "feed_import_queued",
            "The last feed import whose hosts to rank again are queued (its feed_imports id)",
            feed_import_queued.clone(),
        );
        let command_results = Family::<OutcomeLabels, Counter>::default();
        registry.register(
            "agent_command_results",
            "Command results received, by status",
            command_results.clone(),
        );
        let scans = Family::<OutcomeLabels, Counter>::default();
        registry.register(
            "findings_scans",
            "Background scans of reported inventories, by outcome (stored, dropped: a newer \
             inventory arrived meanwhile, failed)",
            scans.clone(),
        );
        let rollout = RolloutMetrics::register(&mut registry);
        let findings = FindingMetrics::register(&mut registry);
        let notifications = NotificationMetrics::register(&mut registry);
        Metrics {
            notifications,
            rollout,
            findings,
            registry: Mutex::new(registry),
            http_requests,
            http_latency,
            enrollments,
            connections,
            heartbeats,
            inventory_reports,
            inventory_unchanged,
            inventory_deltas,
            scans_pending,
            feed_import_queued,
            findings_at: Mutex::new(None),
            command_results,
            scans,
        }
    }

    pub fn http_request(&self, method: &str, route: &str, status: u16, took: Duration) {
        self.http_requests
            .get_or_create(&HttpLabels {
                method: method.to_owned(),
                route: route.to_owned(),
                status,
            })
            .inc();
        self.http_latency
            .get_or_create(&RouteLabels {
                method: method.to_owned(),
                route: route.to_owned(),
            })
            .observe(took.as_secs_f64());
    }

    pub fn enrollment(&self, outcome: &str) {
        tracing::info!(outcome, "enrollment");
        self.enrollments
            .get_or_create(&OutcomeLabels {
                outcome: outcome.to_owned(),
            })
            .inc();
    }

    /// Whether the findings gauges are due for a new computation (never computed, or over
    /// [`FINDINGS_REFRESH`] ago); marks them computed now when they are.
    pub fn findings_due(&self) -> bool {
        let mut last = self
            .findings_at
            .lock()
            .expect("findings gauge time lock poisoned");
        let due = last.is_none_or(|at| at.elapsed() >= FINDINGS_REFRESH);
        if due {
            *last = Some(std::time::Instant::now());
        }
        due
    }

    /// Sets the findings gauges (every tier, zeros included: the label set stays bounded).
    pub fn findings(&self, tally: &pw_model::TierTally) {
        for tier in pw_model::Tier::ALL {
            let labels = TierLabels {
                tier: tier.to_string(),
            };
            let i = tier.index();
            let set = |family: &Family<TierLabels, Gauge>, value: usize| {
                family
                    .get_or_create(&labels)
                    .set(i64::try_from(value).unwrap_or(i64::MAX));
            };
            set(&self.findings.open, tally.open[i]);
            set(&self.findings.overdue, tally.overdue[i]);
            set(&self.findings.accepted, tally.accepted[i]);
        }
    }

    /// A connection accepted, by what it became (`h2`, `http1`, `plain`, `refused`, `failed`).
    pub fn connection(&self, outcome: &str) {
        self.connections
            .get_or_create(&OutcomeLabels {
                outcome: outcome.to_owned(),
            })
            .inc();
    }

    pub fn heartbeat(&self) {
        self.heartbeats.inc();
    }

    /// An inventory report stored; `changed: false` when it equalled the stored one.
    pub fn inventory_report(&self, host_id: &str, packages: usize, changed: bool) {
        tracing::info!(host_id, packages, changed, "inventory stored");
        self.inventory_reports.inc();
        if !changed {
            self.inventory_unchanged.inc();
        }
    }

    /// A delta report: `applied` (stored or unchanged) or `full_inventory_needed`.
    pub fn inventory_delta(&self, outcome: &str) {
        self.inventory_deltas
            .get_or_create(&OutcomeLabels {
                outcome: outcome.to_owned(),
            })
            .inc();
    }

    pub fn command_result(&self, command_id: &str, status: &str) {
        tracing::info!(command_id, status, "command result");
        self.command_results
            .get_or_create(&OutcomeLabels {
                outcome: status.to_owned(),
            })
            .inc();
    }

    /// A background scan of a stored inventory ended: `stored`, `unchanged`, `untouched`,
    /// `dropped` or `failed`.
    pub fn scan(&self, outcome: &str) {
        self.scans
            .get_or_create(&OutcomeLabels {
                outcome: outcome.to_owned(),
            })
            .inc();
    }

    /// Scans of stored reports not finished (waiting or running), at the scrape.
    pub fn scans_pending(&self, pending: usize) {
        self.scans_pending
            .set(i64::try_from(pending).unwrap_or(i64::MAX));
    }

    /// The OpenMetrics text exposition.
    pub fn encode(&self) -> String {
        let mut out = String::new();
        let registry = self
            .registry
            .lock()
            .expect("metrics registry lock poisoned by a panic while encoding");
        // Writing into a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut out, &registry);
        out
    }
}

/// The use-cases' reports (pw-controller) as metrics.
impl pw_controller::Observer for Metrics {
    fn scan(&self, outcome: &str) {
        Metrics::scan(self, outcome);
    }

    fn feed_import_queued(&self, id: i64) {
        self.feed_import_queued.set(id);
    }

    /// A persisted host transition into `state`, with the versions it blocked.
    fn host_transition(&self, state: &str, blocked: usize) {
        let labels = StateLabels {
            state: state.to_owned(),
        };
        self.rollout.host_transitions.get_or_create(&labels).inc();
        if state == "rolled_back" {
            self.rollout.rollbacks.inc();
        }
        self.rollout.blocks.inc_by(blocked as u64);
    }

    fn rollout_control(&self, action: &str) {
        let labels = ActionLabels {
            action: action.to_owned(),
        };
        self.rollout.controls.get_or_create(&labels).inc();
    }

    fn block_cleared(&self) {
        self.rollout.blocks_cleared.inc();
    }

    /// `trigger`: `woken` or `interval`.
    fn scheduler_pass(&self, trigger: &str) {
        let labels = TriggerLabels {
            trigger: trigger.to_owned(),
        };
        self.rollout.scheduler_passes.get_or_create(&labels).inc();
    }

    fn scheduler_pass_took(&self, seconds: f64) {
        self.rollout.scheduler_pass_seconds.observe(seconds);
    }

    fn scheduler_step_took(&self, step: &'static str, seconds: f64) {
        (self.rollout.scheduler_step_seconds)
            .get_or_create(&StepLabels { step })
            .observe(seconds);
    }

    fn scheduler_panicked(&self) {
        self.rollout.scheduler_panics.inc();
    }

    fn active_rollouts(&self, count: usize) {
        self.rollout
            .active
            .set(i64::try_from(count).unwrap_or(i64::MAX));
    }

    fn notifications_sent(&self, count: usize) {
        self.notifications.sent.inc_by(count as u64);
    }

    fn notifications_failed(&self, count: usize) {
        self.notifications.failed.inc_by(count as u64);
    }

    fn notifications_pending(&self, count: u64) {
        self.notifications
            .pending
            .set(i64::try_from(count).unwrap_or(i64::MAX));
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new()
    }
}
