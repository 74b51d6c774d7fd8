//! The controller's application layer (DESIGN.md §10): the use-cases the API, the console and
//! the CLI call alike — create a rollout (ad hoc or from an approved plan), act on it (pause,
//! resume, stop, clear a block, read its log), drive every active rollout (the scheduler). Operations over pw-store with an injected clock; no HTTP,
//! TLS or rendering (that is pw-server, the edge that calls this crate).
//!
//! Errors a caller must tell apart are [`Refusal`]s (each maps to one API status and code in
//! pw-server); anything else is an internal error.

pub mod change_reports;
mod change_rescan;
pub mod change_result;
pub mod compliance;
mod error;
pub mod evidence;
pub mod findings;
pub mod fleet;
mod fleet_groups;
mod gates;
mod list_scan;
pub mod notify;
pub mod observe;
mod own_thread;
mod plan_checks;
mod plan_rollout;
mod plan_rollouts;
pub mod plans;
pub mod promql;
pub mod protection;
mod ranked_list;
mod ranked_write;
pub mod ranking_basis;
mod recipe;
pub mod reports;
pub mod rerank;
mod rerank_advisories;
mod rerank_scan;
pub mod restarts;
pub mod rollout_ops;
pub mod rollouts;
pub mod scan_group;
pub mod scan_queue;
pub mod scheduler;
mod supervise;
pub mod wakeups;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use jiff::Timestamp;
use pw_store::Store;
use tokio::sync::Notify;

pub use error::Refusal;

/// Where the controller reads the time. Production uses [`SystemClock`]; tests pass their own
/// to drive deadlines, windows and timeouts without sleeping.
pub trait Clock: Send + Sync {
    fn now(&self) -> Timestamp;
}

/// The machine's clock.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Timestamp {
        Timestamp::now()
    }
}

/// What the use-cases report for monitoring (pw-server exports it as Prometheus metrics).
/// Every method has a no-op default.
pub trait Observer: Send + Sync {
    /// A host changed state; `blocked` versions were blocked fleet-wide by the transition.
    fn host_transition(&self, _state: &str, _blocked: usize) {}
    /// The scheduler ran a pass (`trigger`: `interval` or `woken`).
    fn scheduler_pass(&self, _trigger: &str) {}
    /// How long a scheduler pass took (seconds).
    fn scheduler_pass_took(&self, _seconds: f64) {}
    /// How long one step of a scheduler pass took (seconds; `scheduler.rs` names the steps).
    fn scheduler_step_took(&self, _step: &'static str, _seconds: f64) {}
    /// A scheduler pass panicked (logged; the scheduler was started again).
    fn scheduler_panicked(&self) {}
    /// Rollouts still active after a pass.
    fn active_rollouts(&self, _count: usize) {}
    /// An operator paused, resumed or stopped a rollout.
    fn rollout_control(&self, _action: &str) {}
    /// An operator cleared a fleet-wide block.
    fn block_cleared(&self) {}
    /// Notifications delivered.
    fn notifications_sent(&self, _count: usize) {}
    /// Delivery attempts that failed (and notifications that could not be enqueued).
    fn notifications_failed(&self, _count: usize) {}
    /// Notifications waiting in the outbox (pending or being sent).
    fn notifications_pending(&self, _count: u64) {}
    /// A scan of a stored inventory ended (`stored`; `unchanged`: the same ranking, not
    /// written; `untouched`: a feed import cannot change it, not scanned; `dropped` as
    /// outdated; `failed`).
    fn scan(&self, _outcome: &str) {}
    /// The hosts feed import `id` can change (and every earlier import's) are queued.
    fn feed_import_queued(&self, _id: i64) {}
}

/// An observer that records nothing.
#[derive(Debug, Default, Clone, Copy)]
pub struct NoObserver;

impl Observer for NoObserver {}

/// The controller: the store, the time and the wake-ups between use-cases. Cheap to clone.
#[derive(Clone)]
pub struct Controller {
    pub store: Store,
    clock: Arc<dyn Clock>,
    observer: Arc<dyn Observer>,
    /// One wake-up per host with a long-poll waiting for commands.
    waiters: Arc<Mutex<HashMap<String, Arc<Notify>>>>,
    /// Wakes the rollout scheduler before its next periodic tick.
    scheduler_wake: Arc<Notify>,
    /// Wake-ups since the scheduler's last pass began (each result is one).
    scheduler_wakes: Arc<std::sync::atomic::AtomicUsize>,
    /// Where notifications link to, how they are retried and sent.
    notify: Arc<notify::NotifySettings>,
    /// The PromQL gates' last answers (each queried at most once per its interval).
    promql: Arc<promql::PromqlGates>,
    /// The host states the scheduler parsed, by rollout, with their lock versions
    /// (`scheduler_load.rs`).
    host_states: Arc<scheduler::HostStates>,
    /// The fleet document's groups of the hosts, kept between scheduler passes
    /// (`fleet_groups.rs`).
    fleet_groups: Arc<fleet_groups::GroupMemo>,
}

impl Controller {
    pub fn new(store: Store, clock: Arc<dyn Clock>, observer: Arc<dyn Observer>) -> Controller {
        Controller {
            store,
            clock,
            observer,
            waiters: Arc::default(),
            scheduler_wake: Arc::default(),
            scheduler_wakes: Arc::default(),
            notify: Arc::new(notify::NotifySettings::new(
                "http://127.0.0.1:8420".to_owned(),
                pw_notify::RetryPolicy::default(),
                notify::Sender::default(),
            )),
            promql: Arc::default(),
            host_states: Arc::default(),
            fleet_groups: Arc::default(),
        }
    }

    /// The same controller on another store of the same database (the scheduler's own pool:
    /// `scheduler::run`).
    pub fn with_store(mut self, store: Store) -> Controller {
        self.store = store;
        self
    }

    /// The same controller with these notification settings.
    pub fn with_notifications(mut self, settings: notify::NotifySettings) -> Controller {
        self.notify = Arc::new(settings);
        self
    }

    /// The PromQL gates of this controller.
    pub fn promql(&self) -> &promql::PromqlGates {
        &self.promql
    }

    /// How the controller notifies.
    pub fn notify(&self) -> &notify::NotifySettings {
        &self.notify
    }

    /// The controller's current time.
    pub fn now(&self) -> Timestamp {
        self.clock.now()
    }

    pub fn observer(&self) -> &dyn Observer {
        &*self.observer
    }

    /// Asks the rollout scheduler for a pass now (an agent reported a result, a rollout was
    /// created, paused, resumed or stopped). Wake-ups during a pass coalesce into one more
    /// pass right after it.
    pub fn wake_scheduler(&self) {
        (self.scheduler_wakes).fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        self.scheduler_wake.notify_one();
    }

    /// Wake-ups since the scheduler's last pass began, counted from zero again (the pass
    /// loop asks once per pass).
    pub(crate) fn take_scheduler_wakes(&self) -> usize {
        (self.scheduler_wakes).swap(0, std::sync::atomic::Ordering::Relaxed)
    }

    /// Wake-ups since the scheduler's last pass began.
    pub(crate) fn scheduler_wakes(&self) -> usize {
        (self.scheduler_wakes).load(std::sync::atomic::Ordering::Relaxed)
    }

    /// What [`Controller::wake_scheduler`] notifies; the scheduler waits on it.
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

    /// Wakes every host's long-poll (each looks at the database again): new commands may have
    /// been announced while this controller could not hear them ([`wakeups::relay`]).
    pub fn wake_every_waiter(&self) {
        let waiters = self
            .waiters
            .lock()
            .expect("waiters lock poisoned by a panic in another handler");
        for waiter in waiters.values() {
            waiter.notify_one();
        }
    }
}
