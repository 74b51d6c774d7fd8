//! The rollout scheduler runs supervised: a pass that panics is logged, counted in /metrics
//! (`patchwarden_scheduler_panics_total`) and the pass loop started again. The panic is made by
//! a pass the test hands to `run_with` (production always runs `scheduler::tick`), so nothing
//! in the shipped controller can trigger it.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use pw_controller::Controller;
use tokio::sync::watch;

use crate::support::TestController;

fn panics(metrics: &str) -> Option<u64> {
    metrics
        .lines()
        .find_map(|l| l.strip_prefix("patchwarden_scheduler_panics_total "))
        .and_then(|n| n.parse().ok())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_panicking_pass_is_logged_counted_and_the_scheduler_started_again() {
    let t = TestController::start().await;
    let (_, metrics) = t.get_text("/metrics").await;
    assert_eq!(panics(&metrics), Some(0), "{metrics}");
    let passes = Arc::new(AtomicUsize::new(0));
    let counted = passes.clone();
    let pass = move |controller: Controller| {
        let n = counted.fetch_add(1, Ordering::SeqCst);
        async move {
            assert!(n != 0, "a test-only bug in the first pass");
            pw_controller::scheduler::tick(&controller).await
        }
    };
    let (stop, shutdown) = watch::channel(false);
    let controller = t.controller.state.controller.clone();
    let supervised = tokio::spawn(pw_controller::scheduler::run_with(
        controller, shutdown, pass,
    ));
    for _ in 0..50 {
        if passes.load(Ordering::SeqCst) >= 3 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(
        passes.load(Ordering::SeqCst) >= 3,
        "passes after the panic: the loop was started again"
    );
    let (_, metrics) = t.get_text("/metrics").await;
    assert_eq!(panics(&metrics), Some(1), "{metrics}");
    stop.send(true).unwrap();
    tokio::time::timeout(Duration::from_secs(5), supervised)
        .await
        .expect("the restarted loop stops at shutdown")
        .unwrap();
}
