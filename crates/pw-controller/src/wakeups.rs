//! Wakes this controller's long-polls for commands other controllers on the same PostgreSQL
//! database queued (pw-store's `CommandListener`: LISTEN/NOTIFY, announced in the transaction
//! that queues them). When the listening connection is lost, every long-poll is woken (each
//! looks at the database once: nothing announced meanwhile is missed) and listening resumes;
//! while PostgreSQL cannot be reached, it is retried every few seconds. On SQLite there is
//! nothing to listen to: the local wake-up is the only one.

use std::time::Duration;

use tokio::sync::watch;

use crate::Controller;

/// How long to wait before listening again after a failure.
const RETRY: Duration = Duration::from_secs(2);

/// Relays announcements to long-polls until shutdown.
pub async fn relay(controller: Controller, mut shutdown: watch::Receiver<bool>) {
    loop {
        let listener = tokio::select! {
            listener = controller.store.listen_for_commands() => listener,
            _ = shutdown.changed() => return,
        };
        let mut listener = match listener {
            Ok(Some(listener)) => listener,
            Ok(None) => return,
            Err(error) => {
                tracing::warn!(
                    error = format!("{error:#}"),
                    "cannot listen for new commands; retrying"
                );
                if sleep_or_stop(&mut shutdown).await {
                    return;
                }
                continue;
            }
        };
        loop {
            let next = tokio::select! {
                next = listener.next() => next,
                _ = shutdown.changed() => return,
            };
            match next {
                Ok(Some(hosts)) => {
                    for host in &hosts {
                        controller.waiter(host).notify_one();
                    }
                }
                Ok(None) => {
                    tracing::warn!(
                        "the new-command listener lost its connection; waking every long-poll"
                    );
                    controller.wake_every_waiter();
                }
                Err(error) => {
                    tracing::warn!(
                        error = format!("{error:#}"),
                        "the new-command listener failed; waking every long-poll"
                    );
                    controller.wake_every_waiter();
                    if sleep_or_stop(&mut shutdown).await {
                        return;
                    }
                    break;
                }
            }
        }
    }
}

/// Waits [`RETRY`]; true when the controller is shutting down instead.
async fn sleep_or_stop(shutdown: &mut watch::Receiver<bool>) -> bool {
    tokio::select! {
        _ = tokio::time::sleep(RETRY) => *shutdown.borrow(),
        _ = shutdown.changed() => true,
    }
}
