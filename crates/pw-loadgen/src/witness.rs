//! The witness: one more enrolled agent that heartbeats five times a second on its own thread and
//! runtime while the steady phase runs. The simulated agents' latencies include the load
//! generator's own queueing (10,000 agents' tasks and TLS on the same two cores as the
//! controller); the witness's are what one agent alone sees of the controller, so the two
//! together tell where a slow heartbeat waited.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

use anyhow::Context;

use crate::agent::SimAgent;
use crate::stats::{Latencies, Summary};

/// How often the witness heartbeats: often enough for a p99 over a minute (300 samples), a
/// thirtieth of what 10,000 agents send.
const EVERY: Duration = Duration::from_millis(200);

pub struct Witness {
    latencies: Arc<Latencies>,
    stop: Arc<AtomicBool>,
    thread: JoinHandle<()>,
}

impl Witness {
    /// Enrolls the witness as agent `index` (`PREFIX-witness`) and starts its heartbeats.
    pub async fn start(
        index: usize,
        hostname: String,
        (base, token, ca_pem): (&str, &str, &str),
    ) -> anyhow::Result<Witness> {
        let identity = pw_agent::enroll_in_memory(base, token, ca_pem, &hostname)
            .await
            .context("enrolling the witness agent")?;
        let latencies = Arc::new(Latencies::default());
        let stop = Arc::new(AtomicBool::new(false));
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .context("starting the witness's runtime")?;
        let agent = SimAgent::new(index, hostname, &identity, base)?;
        let (seen, stopped) = (latencies.clone(), stop.clone());
        let thread = std::thread::Builder::new()
            .name("witness".into())
            .spawn(move || {
                runtime.block_on(async {
                    while !stopped.load(Ordering::Relaxed) {
                        let _ = agent.heartbeat(&seen).await;
                        tokio::time::sleep(EVERY).await;
                    }
                })
            })
            .context("starting the witness's thread")?;
        Ok(Witness {
            latencies,
            stop,
            thread,
        })
    }

    /// The heartbeats since the last call (the first call starts the window).
    pub fn window(&self) -> Summary {
        self.latencies.summary(true)
    }

    /// Stops the heartbeats; the last window's.
    pub async fn stop(self) -> Summary {
        self.stop.store(true, Ordering::Relaxed);
        let thread = self.thread;
        let _ = tokio::task::spawn_blocking(move || thread.join()).await;
        self.latencies.summary(true)
    }
}
