//! Commands handed out by long-polls, marked delivered after the answer and together (issue 15:
//! a batch's boundary at 10,000 agents). A long-poll answered its commands only after an UPDATE
//! marking them delivered had its turn in the store's line of writers, and at a batch's start
//! the scheduler's next claims went ahead of it there: the first agents of a batch waited for
//! the claims of the whole batch. The mark is bookkeeping — a delivered command is handed out
//! again until its result arrives, and the agent's journal answers a known id — so it is now
//! written after the answer, the marks of every long-poll answered meanwhile in one write.
//! A mark lost in a crash leaves the command `queued`: handed out again, as a delivered one is.

use std::sync::{Arc, Mutex};

use jiff::Timestamp;
use pw_store::Store;

#[derive(Default)]
pub struct Deliveries {
    /// Command ids handed out and not marked yet.
    pending: Mutex<Vec<String>>,
    /// Held by the one task writing the marks taken from `pending`.
    writing: tokio::sync::Mutex<()>,
}

impl Deliveries {
    /// Marks `ids` delivered now, after the caller's answer: queued with any others waiting
    /// and written by a task of their own (at most one writing at a time; the next takes all
    /// that queued up meanwhile).
    pub fn mark(self: &Arc<Self>, store: &Store, ids: Vec<String>) {
        if ids.is_empty() {
            return;
        }
        self.pending.lock().expect("deliveries lock").extend(ids);
        let (this, store) = (self.clone(), store.clone());
        tokio::spawn(async move { this.write(&store).await });
    }

    /// Writes every mark queued so far (none: an earlier task took them).
    async fn write(&self, store: &Store) {
        let _writing = self.writing.lock().await;
        let ids = std::mem::take(&mut *self.pending.lock().expect("deliveries lock"));
        let ids: Vec<&str> = ids.iter().map(String::as_str).collect();
        if let Err(error) = store.mark_delivered(&ids, Timestamp::now()).await {
            // The commands stay queued: handed out again, as delivered ones are.
            tracing::warn!(
                error = format!("{error:#}"),
                commands = ids.len(),
                "marking commands delivered failed"
            );
        }
    }
}
