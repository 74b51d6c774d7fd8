//! A current-thread runtime on an OS thread of its own, for work that must not wait behind the
//! requests on the runtime's workers: each step after an await runs as soon as what it waited
//! for is done, not when a worker gets to it among hundreds of agents' requests.
//!
//! Used by the scans' writes (`scan_queue::writer`) and the rollout scheduler
//! (`scheduler::run`). The thread lives as long as the process; tasks spawned from it (by
//! `tokio::spawn` inside its futures) run on it too.

/// Starts a thread named `name` running a current-thread runtime (I/O and time enabled) and
/// answers its handle; spawn the work on it.
pub(crate) fn runtime(name: &str) -> tokio::runtime::Handle {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap_or_else(|e| panic!("the runtime of thread {name} starts: {e}"));
    let handle = runtime.handle().clone();
    std::thread::Builder::new()
        .name(name.into())
        .spawn(move || runtime.block_on(std::future::pending::<()>()))
        .unwrap_or_else(|e| panic!("thread {name} starts: {e}"));
    handle
}

/// Runs `work` to its end on a thread named `name` with a current-thread runtime of its own,
/// and answers its output; the thread and its runtime (with any task `work` spawned) end with
/// it. Panics in `work` reach the caller as a panic.
pub(crate) async fn run<F>(name: &str, work: F) -> F::Output
where
    F: std::future::Future + Send + 'static,
    F::Output: Send + 'static,
{
    let (done, output) = tokio::sync::oneshot::channel();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap_or_else(|e| panic!("the runtime of thread {name} starts: {e}"));
    let thread = std::thread::Builder::new()
        .name(name.into())
        .spawn(move || {
            let _ = done.send(runtime.block_on(work));
        })
        .unwrap_or_else(|e| panic!("thread {name} starts: {e}"));
    match output.await {
        Ok(output) => output,
        Err(_) => match thread.join() {
            Err(panic) => std::panic::resume_unwind(panic),
            Ok(()) => unreachable!("thread {name} ended without its output"),
        },
    }
}

#[cfg(test)]
mod tests {
    #[tokio::test]
    async fn work_runs_on_its_own_named_thread_and_answers() {
        let caller = std::thread::current().id();
        let (name, id) = super::run("pw-test-own", async {
            // A task spawned by the work runs on the same thread's runtime.
            let spawned = tokio::spawn(async { std::thread::current().id() }).await;
            let here = std::thread::current();
            assert_eq!(spawned.ok(), Some(here.id()));
            (here.name().map(str::to_owned), here.id())
        })
        .await;
        assert_eq!(name.as_deref(), Some("pw-test-own"));
        assert_ne!(id, caller);
    }

    #[tokio::test]
    #[should_panic(expected = "the work's own panic")]
    async fn a_panic_in_the_work_reaches_the_caller() {
        super::run("pw-test-panic", async { panic!("the work's own panic") }).await;
    }

    #[tokio::test]
    async fn a_kept_runtime_runs_what_is_spawned_on_its_thread() {
        let handle = super::runtime("pw-test-kept");
        let name = handle
            .spawn(async { std::thread::current().name().map(str::to_owned) })
            .await
            .ok()
            .flatten();
        assert_eq!(name.as_deref(), Some("pw-test-kept"));
    }
}
