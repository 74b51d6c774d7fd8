//! Shared state of the controller's handlers.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use jiff::{SignedDuration, Timestamp};
use pw_protocol::EnrollmentToken;
use pw_store::Store;
use tokio::sync::{Notify, watch};

use crate::ca::{Ca, new_token, token_sha256};
use crate::findings::IntelligenceCache;
use crate::metrics::Metrics;

/// Default and longest lifetime of an enrollment token.
pub const DEFAULT_TOKEN_TTL: Duration = Duration::from_secs(3600);
pub const MAX_TOKEN_TTL: Duration = Duration::from_secs(7 * 24 * 3600);

/// Everything a handler needs; cheap to clone.
#[derive(Clone)]
pub struct AppState {
    pub store: Store,
    pub ca: Arc<Ca>,
    pub metrics: Arc<Metrics>,
    pub intelligence: Arc<IntelligenceCache>,
    /// One wake-up per host with a long-poll waiting for commands.
    waiters: Arc<Mutex<HashMap<String, Arc<Notify>>>>,
    /// Wakes the rollout scheduler before its next periodic tick.
    scheduler_wake: Arc<Notify>,
    /// Flips to `true` when the controller shuts down (long-polls return at once).
    pub shutdown: watch::Receiver<bool>,
    pub max_poll_wait: Duration,
}

impl AppState {
    pub fn new(
        store: Store,
        ca: Arc<Ca>,
        shutdown: watch::Receiver<bool>,
        max_poll_wait: Duration,
    ) -> AppState {
        AppState {
            intelligence: Arc::new(IntelligenceCache::new(store.clone())),
            store,
            ca,
            metrics: Arc::new(Metrics::new()),
            waiters: Arc::default(),
            scheduler_wake: Arc::default(),
            shutdown,
            max_poll_wait,
        }
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
        let expires_at = Timestamp::now().checked_add(ttl)?;
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

    /// Asks the rollout scheduler for a pass now (an agent reported a result, a rollout was
    /// created, paused, resumed or stopped). Wake-ups during a pass coalesce into one more pass right after it.
    pub fn wake_scheduler(&self) {
        self.scheduler_wake.notify_one();
    }

    /// What [`AppState::wake_scheduler`] notifies; the scheduler waits on it.
    pub fn scheduler_wake(&self) -> Arc<Notify> {
        self.scheduler_wake.clone()
    }

    /// The wake-up handle for a host's long-polls.
    pub fn waiter(&self, host_id: &str) -> Arc<Notify> {
        let mut waiters = self
            .waiters
            .lock()
            .expect("waiters lock poisoned by a panic in another handler");
        waiters.entry(host_id.to_owned()).or_default().clone()
    }
}
