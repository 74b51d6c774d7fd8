//! The package manager's floor (issue 9): the same `apt-get install` the agent runs (pw-host's
//! [`apt::install_exact`], the same argv and options) on fresh hosts, started straight through
//! `docker exec` with no orchestrator at all, never more than `in_flight` at once and the next
//! host started as soon as one finishes. No tool that upgrades with apt, one host per process,
//! can be faster than this on the same machine; its ratio to Ansible's wall time is the best
//! ratio any orchestrator could reach here.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use anyhow::ensure;
use pw_host::apt::{self, PackageTarget};
use pw_testbed::Fleet;
use pw_testbed::repo::packages::{DEMO, SECURITY_FIX};

/// Wall time of upgrading every host of `fleet`, `in_flight` at a time, rolling.
pub fn run(fleet: &Fleet, in_flight: usize) -> anyhow::Result<f64> {
    let target = PackageTarget::parse(DEMO, SECURITY_FIX)?;
    let next = AtomicUsize::new(0);
    let started = Instant::now();
    let outcomes: Vec<anyhow::Result<()>> = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..in_flight)
            .map(|_| {
                scope.spawn(|| -> anyhow::Result<()> {
                    loop {
                        let index = next.fetch_add(1, Ordering::SeqCst);
                        let Some(host) = fleet.hosts.get(index) else {
                            return Ok(());
                        };
                        let outcome =
                            apt::install_exact(host.runner(), std::slice::from_ref(&target))?;
                        ensure!(outcome.succeeded(), "{}: {outcome:?}", host.name);
                    }
                })
            })
            .collect();
        workers
            .into_iter()
            .map(|w| {
                w.join()
                    .unwrap_or_else(|_| Err(anyhow::anyhow!("worker panicked")))
            })
            .collect()
    });
    let wall = started.elapsed().as_secs_f64();
    for outcome in outcomes {
        outcome?;
    }
    Ok(wall)
}
