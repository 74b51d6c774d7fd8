//! Shared state of the controller's handlers.

use std::sync::Arc;
use std::time::Duration;

use jiff::SignedDuration;
use pw_controller::{Clock, Controller};
use pw_protocol::EnrollmentToken;
use pw_store::Store;
use tokio::sync::{Notify, watch};

use crate::ca::{Ca, new_token, token_sha256};
use crate::metrics::Metrics;
use pw_controller::findings::IntelligenceCache;
use pw_controller::scan_queue::ScanQueue;

/// Default and longest lifetime of an enrollment token.
pub const DEFAULT_TOKEN_TTL: Duration = Duration::from_secs(3600);
pub const MAX_TOKEN_TTL: Duration = Duration::from_secs(7 * 24 * 3600);

/// Everything a handler needs ([`Shared`]), behind one pointer: every request's middleware and
/// handler hold their own clone of it while they run — a waiting long-poll holds several, at
/// 10,000 agents ~10,000 of each (the whole state inline was 376 bytes a clone, twice in each
/// middleware's future).
#[derive(Clone)]
pub struct AppState(Arc<Shared>);

impl std::ops::Deref for AppState {
    type Target = Shared;

    fn deref(&self) -> &Shared {
        &self.0
    }
}

impl From<Shared> for AppState {
    fn from(shared: Shared) -> AppState {
        AppState(Arc::new(shared))
    }
}

/// What the handlers share (through [`AppState`]).
pub struct Shared {
    /// The use-cases (pw-controller); its store is [`Shared::store`].
    pub controller: Controller,
    pub store: Store,
    pub ca: Arc<Ca>,
    pub metrics: Arc<Metrics>,
    pub intelligence: Arc<IntelligenceCache>,
    /// Hosts whose reported inventory waits for its scan (`scan_queue.rs`).
    pub scans: Arc<ScanQueue>,
    /// Flips to `true` when the controller shuts down (long-polls return at once).
    pub shutdown: watch::Receiver<bool>,
    pub max_poll_wait: Duration,
    /// Signs the login form's CSRF values.
    pub login_csrf: Arc<crate::auth::LoginCsrf>,
    /// Prints reports to PDF (headless Chromium, `$PATCHWARDEN_CHROMIUM` or `PATH`).
    pub pdf: Arc<crate::pdf::PdfRenderer>,
    /// Agents' heartbeats, written once a second (`heartbeats.rs`).
    pub heartbeats: Arc<crate::heartbeats::Heartbeats>,
    /// Agents' hosts by certificate fingerprint, remembered (`identities.rs`).
    pub identities: Arc<crate::identities::Identities>,
    /// Hosts whose commands were last found empty (`idle.rs`).
    pub idle: Arc<crate::idle::IdleHosts>,
    /// Commands handed out, marked delivered after the answer (`deliveries.rs`).
    pub deliveries: Arc<crate::deliveries::Deliveries>,
}

impl Shared {
    pub fn new(
        store: Store,
        clock: Arc<dyn Clock>,
        ca: Arc<Ca>,
        shutdown: watch::Receiver<bool>,
        max_poll_wait: Duration,
    ) -> anyhow::Result<Shared> {
        let metrics = Arc::new(Metrics::new());
        let intelligence = Arc::new(IntelligenceCache::new(store.clone()));
        let scans = Arc::new(ScanQueue::default());
        // One scan worker per core: a scan is CPU work (matching) between two database calls.
        let workers = std::thread::available_parallelism().map_or(2, |n| n.get().clamp(1, 8));
        let controller = Controller::new(store.clone(), clock, metrics.clone());
        for _ in 0..workers {
            tokio::spawn(pw_controller::scan_queue::worker(
                controller.clone(),
                scans.clone(),
                intelligence.clone(),
                shutdown.clone(),
            ));
        }
        tokio::spawn(pw_controller::rerank::on_import(
            controller.clone(),
            scans.clone(),
            shutdown.clone(),
        ));
        Ok(Shared {
            controller,
            intelligence,
            scans,
            store,
            ca,
            metrics,
            shutdown,
            max_poll_wait,
            login_csrf: Arc::new(crate::auth::LoginCsrf::new()?),
            pdf: Arc::new(crate::pdf::PdfRenderer::from_env()),
            heartbeats: Arc::default(),
            identities: Arc::default(),
            idle: Arc::default(),
            deliveries: Arc::default(),
        })
    }

    /// Issues a single-use token (only its hash is stored) valid for `ttl`.
    pub async fn create_enrollment_token(
        &self,
        ttl: Duration,
        note: Option<&str>,
        actor: &str,
    ) -> anyhow::Result<EnrollmentToken> {
        let token = new_token()?;
        let id = format!("tok-{}", uuid::Uuid::now_v7());
        let ttl = SignedDuration::try_from(ttl.min(MAX_TOKEN_TTL))?;
        let expires_at = self.controller.now().checked_add(ttl)?;
        self.store
            .create_enrollment_token(&id, &token_sha256(&token), expires_at, note, actor)
            .await?;
        Ok(EnrollmentToken {
            id,
            token,
            expires_at,
            ca_certificate_pem: self.ca.cert_pem().to_owned(),
        })
    }

    /// Asks the rollout scheduler for a pass now ([`Controller::wake_scheduler`]).
    pub fn wake_scheduler(&self) {
        self.controller.wake_scheduler();
    }

    /// The wake-up handle for a host's long-polls.
    pub fn waiter(&self, host_id: &str) -> Arc<Notify> {
        self.controller.waiter(host_id)
    }
}
