//! Bounded waits for what a test cannot drive: a real process, container or agent. Each wait
//! has a limit and fails the test with what it saw last; nothing here sleeps a fixed time to
//! "let things happen" (drive the scheduler with `pw_controller::scheduler::tick` instead).

use std::fmt::Display;
use std::time::{Duration, Instant};

/// Calls `probe` every `every` until it answers `Ok`, at most `limit`; panics then with
/// `what` and the last `Err` (the state seen).
pub async fn wait_until<T, E: Display>(
    what: &str,
    limit: Duration,
    every: Duration,
    mut probe: impl AsyncFnMut() -> Result<T, E>,
) -> T {
    let started = Instant::now();
    loop {
        match probe().await {
            Ok(done) => return done,
            Err(last) => assert!(
                started.elapsed() < limit,
                "{what}: not within {limit:?}; last seen: {last}"
            ),
        }
        tokio::time::sleep(every).await;
    }
}

/// [`wait_until`] for a blocking test (no runtime): the same limit and message.
pub fn wait_until_blocking<T, E: Display>(
    what: &str,
    limit: Duration,
    every: Duration,
    mut probe: impl FnMut() -> Result<T, E>,
) -> T {
    let started = Instant::now();
    loop {
        match probe() {
            Ok(done) => return done,
            Err(last) => assert!(
                started.elapsed() < limit,
                "{what}: not within {limit:?}; last seen: {last}"
            ),
        }
        std::thread::sleep(every);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn returns_the_first_ok_and_fails_past_its_limit() {
        let mut calls = 0;
        let got = wait_until_blocking("third call", Duration::from_secs(5), Duration::ZERO, || {
            calls += 1;
            if calls == 3 { Ok(calls) } else { Err(calls) }
        });
        assert_eq!(got, 3);
        let failed = std::panic::catch_unwind(|| {
            wait_until_blocking(
                "never",
                Duration::from_millis(30),
                Duration::from_millis(10),
                || Err::<(), _>("still no"),
            )
        });
        let message = *failed.unwrap_err().downcast::<String>().unwrap();
        assert!(message.contains("never: not within") && message.contains("still no"));
    }

    #[tokio::test]
    async fn the_async_wait_polls_the_same_way() {
        let mut calls = 0;
        let got = wait_until(
            "second call",
            Duration::from_secs(5),
            Duration::ZERO,
            async || {
                calls += 1;
                if calls == 2 {
                    Ok("done")
                } else {
                    Err("not yet")
                }
            },
        )
        .await;
        assert_eq!((got, calls), ("done", 2));
    }
}
