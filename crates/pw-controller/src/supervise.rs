//! Supervision of a long-running task: a panic inside it is logged with its message, reported to
//! the caller (the scheduler counts it in /metrics) and the task started again after a pause,
//! so one bug met by one pass does not end rollouts for the controller's lifetime.
//!
//! Why a fresh task per start and not `catch_unwind` around a pass: `tokio::spawn` already turns
//! a panic into a `JoinError`, leaves no half-borrowed state behind (the task owns what it
//! uses) and needs no extra crate; a start per panic is cheap (at most one per `pause`).

use std::future::Future;
use std::time::Duration;

/// Runs `start()` as a task until it returns; when it panics, logs the panic, calls `panicked`
/// and starts it again after `pause`. Returns when the task returns (its own shutdown) or is
/// cancelled (the runtime is shutting down).
pub async fn supervise<F, Fut>(name: &str, pause: Duration, mut start: F, panicked: impl Fn())
where
    F: FnMut() -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    loop {
        match tokio::spawn(start()).await {
            Ok(()) => return,
            Err(error) if error.is_panic() => {
                let panic = error.into_panic();
                let message = panic
                    .downcast_ref::<&str>()
                    .map(|s| (*s).to_owned())
                    .or_else(|| panic.downcast_ref::<String>().cloned())
                    .unwrap_or_else(|| "(no message)".to_owned());
                tracing::error!(task = name, panic = message, "task panicked; restarting it");
                panicked();
                tokio::time::sleep(pause).await;
            }
            Err(_) => return,
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;

    #[tokio::test]
    async fn a_panicking_task_is_counted_and_started_again_until_it_returns() {
        let starts = Arc::new(AtomicUsize::new(0));
        let panics = AtomicUsize::new(0);
        let task = {
            let starts = starts.clone();
            move || {
                let n = starts.fetch_add(1, Ordering::SeqCst);
                async move {
                    if n < 2 {
                        panic!("pass {n} met a bug");
                    }
                }
            }
        };
        let counted = || {
            panics.fetch_add(1, Ordering::SeqCst);
        };
        supervise("test", Duration::from_millis(1), task, counted).await;
        assert_eq!(
            starts.load(Ordering::SeqCst),
            3,
            "started again after each panic"
        );
        assert_eq!(panics.load(Ordering::SeqCst), 2, "each panic counted once");
    }
}
