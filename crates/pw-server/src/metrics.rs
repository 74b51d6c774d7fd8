//! Prometheus metrics (`patchwarden_<area>_<name>_<unit>`, counters end in `_total`), each
//! counted by one small function next to its log line.

use std::sync::Mutex;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::registry::Registry;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct HttpLabels {
    pub method: String,
    pub route: String,
    pub status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct OutcomeLabels {
    pub outcome: String,
}

/// Every metric of the controller.
pub struct Metrics {
    registry: Mutex<Registry>,
    http_requests: Family<HttpLabels, Counter>,
    enrollments: Family<OutcomeLabels, Counter>,
    heartbeats: Counter,
    inventory_reports: Counter,
    command_results: Family<OutcomeLabels, Counter>,
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
        let enrollments = Family::<OutcomeLabels, Counter>::default();
        registry.register(
            "agent_enrollments",
            "Enrollment attempts by outcome",
            enrollments.clone(),
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
        let command_results = Family::<OutcomeLabels, Counter>::default();
        registry.register(
            "agent_command_results",
            "Command results received, by status",
            command_results.clone(),
        );
        Metrics {
            registry: Mutex::new(registry),
            http_requests,
            enrollments,
            heartbeats,
            inventory_reports,
            command_results,
        }
    }

    pub fn http_request(&self, method: &str, route: &str, status: u16) {
        self.http_requests
            .get_or_create(&HttpLabels {
                method: method.to_owned(),
                route: route.to_owned(),
                status,
            })
            .inc();
    }

    pub fn enrollment(&self, outcome: &str) {
        tracing::info!(outcome, "enrollment");
        self.enrollments
            .get_or_create(&OutcomeLabels {
                outcome: outcome.to_owned(),
            })
            .inc();
    }

    pub fn heartbeat(&self) {
        self.heartbeats.inc();
    }

    pub fn inventory_report(&self, host_id: &str, packages: usize) {
        tracing::info!(host_id, packages, "inventory stored");
        self.inventory_reports.inc();
    }

    pub fn command_result(&self, command_id: &str, status: &str) {
        tracing::info!(command_id, status, "command result");
        self.command_results
            .get_or_create(&OutcomeLabels {
                outcome: status.to_owned(),
            })
            .inc();
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

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new()
    }
}
