//! Fault tests on real Debian 12 containers (pw-testbed), see docs/testbed.md "Fault tests".
//!
//! 1. The controller is SIGKILLed at random points of a rollout, `PW_KILL_ROUNDS` times (20 by
//!    default; soak: `PW_KILL_ROUNDS=200 cargo test -p patchwarden --test rollout_faults -- kill`),
//!    with a seeded RNG (`PW_KILL_SEED` replays a run). A rollout that ends is followed by the
//!    next one before the next kill, so every kill lands while a rollout is active (checked in
//!    the database after each kill). Every host ends `done` in every rollout on exactly the
//!    target, dpkg upgraded each host once, each agent received one `apply_change` per rollout,
//!    the audit chain verifies after every round and its record count never goes down.
//! 2. The canary's container is paused, or its network disconnected, while its guard verifies a
//!    version whose health check fails: the host rolls itself back without the controller and
//!    reports `rolled_back` once reachable again; the rollout stops.
//!
//! Needs Docker and mmdebstrap (see docs/testbed.md).

mod common;

use std::time::{Duration, Instant};

use common::*;
use pw_testbed::repo::packages::{BAD_HEALTH, BASELINE, DEMO, SECURITY_FIX};
use pw_testbed::{Fleet, Mount, Suite, Testbed};
use pw_testkit::fixtures::host_states;
use serde_json::Value;

/// splitmix64: enough randomness for kill points, reproducible from the printed seed.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform-enough in `low..=high`.
    fn between(&mut self, low: u64, high: u64) -> u64 {
        low + self.next() % (high - low + 1)
    }
}

fn env_u64(name: &str) -> Option<u64> {
    std::env::var(name).ok().map(|v| {
        v.trim()
            .parse()
            .unwrap_or_else(|_| panic!("{name} must be a number, got {v:?}"))
    })
}

fn agent_mount() -> Mount {
    Mount {
        source: env!("CARGO_BIN_EXE_patchwarden").into(),
        target: AGENT_BIN.into(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn controller_sigkilled_at_random_points_loses_and_repeats_nothing() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let test_started = Instant::now();
    let rounds = env_u64("PW_KILL_ROUNDS").unwrap_or(20);
    let seed = env_u64("PW_KILL_SEED").unwrap_or_else(|| {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos() as u64
    });
    eprintln!("controller kill rounds: {rounds}, seed: {seed} (replay with PW_KILL_SEED={seed})");
    let mut rng = Rng(seed);

    let testbed = Testbed::shared();
    let fleet = testbed
        .fleet_with_mounts(6, &Suite::ALL, &[agent_mount()])
        .unwrap();
    let gateway = fleet.network.gateway().unwrap().to_string();
    let mut controller = start_controller(&gateway);
    let hosts = fleet_with_agents(&controller, &fleet, &gateway).await;
    let mut rollouts = vec![create(&controller, &hosts).await];
    let rollout_started = Instant::now();

    // The first kill lands a random time after the rollout was created; every later one a
    // random time after a fresh start on the same port and data directory. Right before each
    // kill, a rollout that has ended is followed by the next one (the same exact target again:
    // each agent's guard records, finds nothing to install, verifies), so a kill hits a
    // controller with an active rollout; the database says so after each kill. A rollout can
    // still end between that look and the kill (its last host's result in those milliseconds):
    // such a kill is not counted, and `rounds` kills must land on an active rollout within
    // twice as many.
    let mut records = 0;
    let mut progressed = 0;
    let mut idle_kills = 0;
    let mut sleeps = Vec::new();
    let mut round = 0;
    while round - idle_kills < rounds && round < 2 * rounds {
        round += 1;
        let sleep = rng.between(50, 1500);
        sleeps.push(sleep);
        tokio::time::sleep(Duration::from_millis(sleep)).await;
        let current = rollouts.last().unwrap().clone();
        if let Some(status) = quick_status(&controller, &current).await
            && status != "running"
        {
            assert_eq!(status, "completed", "round {round}, seed {seed}");
            rollouts.push(create(&controller, &hosts).await);
        }
        controller.child.kill().unwrap();
        controller.child.wait().unwrap();
        if active_rollouts(&controller).await == 0 {
            idle_kills += 1;
        }
        let now = audit_verify(&controller);
        assert!(
            now >= records,
            "round {round}: audit records went from {records} to {now} (seed {seed})"
        );
        if now > records {
            progressed += 1;
        }
        records = now;
        let port = controller.base.split(':').nth(1).unwrap().parse().unwrap();
        controller.child = spawn_server(controller.dir.path(), port, &gateway);
    }
    eprintln!(
        "{round} kills in {:?} (sleeps {sleeps:?} ms) over {} chained rollouts; {idle_kills} kills with no active rollout; audit records grew in {progressed} rounds, {records} after the last",
        rollout_started.elapsed(),
        rollouts.len()
    );
    assert_eq!(
        round - idle_kills,
        rounds,
        "{rounds} kills land while a rollout is active, within {} (seed {seed})",
        2 * rounds
    );
    wait_controller_up(&controller, Duration::from_secs(20)).await;
    for id in &rollouts {
        let view = controller.wait_rollout(id, Duration::from_secs(150)).await;
        assert_eq!(view["status"], "completed", "seed {seed}: {view:#}");
        assert!(
            host_states(&view).iter().all(|s| s == "done"),
            "seed {seed}: {view:#}"
        );
    }
    eprintln!(
        "last rollout seen completed {:?} after the first was created ({:?} since the test began)",
        rollout_started.elapsed(),
        test_started.elapsed()
    );
    for host in &fleet.hosts {
        assert_eq!(demo_version(host), SECURITY_FIX, "{}", host.name);
        // Only the first rollout changed anything: one upgrade per host in dpkg's own log.
        assert_eq!(
            demo_upgrades_to(host, SECURITY_FIX),
            1,
            "{} upgraded more than once (seed {seed})",
            host.name
        );
        let dpkg_log = host.read_file("/var/log/dpkg.log").unwrap();
        let upgrades = dpkg_log
            .lines()
            .filter(|l| l.contains(&format!(" upgrade {DEMO}:")))
            .count();
        assert_eq!(upgrades, 1, "{}: {dpkg_log}", host.name);
        // Each rollout sent each agent exactly one `apply_change`, run once (journal).
        let journal = agent_journal(host);
        for id in &rollouts {
            let received = journal
                .lines()
                .filter(|l| l.contains("\"event\":\"received\""))
                .filter(|l| l.contains(&format!("\"rollout\":\"{id}\"")))
                .count();
            assert_eq!(
                received, 1,
                "{} in {id} (seed {seed}): {journal}",
                host.name
            );
        }
    }
    let last = audit_verify(&controller);
    assert!(
        last >= records,
        "audit records went from {records} to {last}"
    );
    // 4 minutes for the CI default; a soak gets 2 s more per extra round.
    let bound = Duration::from_secs(240 + 2 * rounds.saturating_sub(20));
    assert!(
        test_started.elapsed() < bound,
        "the kill test took {:?}, over its bound {bound:?}",
        test_started.elapsed()
    );
}

/// A rollout of the security fix over every host (4 s verification).
async fn create(controller: &Controller, hosts: &[String]) -> String {
    let body = rollout_body_verifying(hosts, SECURITY_FIX, 4);
    let (status, created) = controller.post("/api/v1/rollouts", body).await;
    assert_eq!(status, 201, "{created}");
    created["id"].as_str().unwrap().to_owned()
}

/// The rollout's status if the controller answers within 300 ms (it may be starting).
async fn quick_status(controller: &Controller, id: &str) -> Option<String> {
    let answer = controller
        .api()
        .get(controller.url(&format!("/api/v1/rollouts/{id}")))
        .timeout(Duration::from_millis(300))
        .send()
        .await
        .ok()?;
    let view: Value = answer.json().await.ok()?;
    view["status"].as_str().map(str::to_owned)
}

/// Rollouts the killed controller left `running` or `paused`, read from its database.
async fn active_rollouts(controller: &Controller) -> i64 {
    let store = pw_store::Store::open(&controller.dir.path().join("patchwarden.db"))
        .await
        .unwrap();
    let count: i64 =
        sqlx::query_scalar("SELECT count(*) FROM rollouts WHERE status IN ('running', 'paused')")
            .fetch_one(store.pool())
            .await
            .unwrap();
    store.pool().close().await;
    count
}

enum Fault {
    Pause,
    Disconnect,
}

/// A 2-host rollout of the bad-health version; the fault hits the canary once the bad version is
/// installed (its guard is verifying).
async fn bad_version_with_canary_fault(fault: Fault) {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let testbed = Testbed::shared();
    let fleet: Fleet = testbed
        .fleet_with_mounts(2, &Suite::ALL, &[agent_mount()])
        .unwrap();
    let gateway = fleet.network.gateway().unwrap().to_string();
    let controller = start_controller(&gateway);
    let hosts = fleet_with_agents(&controller, &fleet, &gateway).await;
    let started = Instant::now();
    let (status, created) = controller
        .post(
            "/api/v1/rollouts",
            rollout_body_verifying(&hosts, BAD_HEALTH, 6),
        )
        .await;
    assert_eq!(status, 201, "{created}");
    let id = created["id"].as_str().unwrap().to_owned();
    let canary = &fleet.hosts[0];
    while demo_configured_version(canary) != BAD_HEALTH {
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "never installed"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let installed = started.elapsed();
    match fault {
        Fault::Pause => {
            canary.pause().unwrap();
            // Frozen past the whole verification period: nothing runs in the container.
            tokio::time::sleep(Duration::from_secs(10)).await;
            let view = controller.get(&format!("/api/v1/rollouts/{id}")).await;
            assert_eq!(view["status"], "running", "{view:#}");
            assert_ne!(host_states(&view)[0], "rolled_back", "{view:#}");
            canary.unpause().unwrap();
        }
        Fault::Disconnect => {
            let finished = agent_journal(canary)
                .matches("\"event\":\"finished\"")
                .count();
            canary.disconnect().unwrap();
            // The guard finishes alone: the check keeps failing, the period ends, it rolls
            // back to the recorded version — with no route to the controller.
            while demo_version(canary) != BASELINE {
                assert!(
                    started.elapsed() < Duration::from_secs(90),
                    "never rolled back while disconnected"
                );
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            // ... and journals the result, which it cannot report yet.
            let wait = Instant::now();
            loop {
                let journal = agent_journal(canary);
                if journal.matches("\"event\":\"finished\"").count() > finished {
                    break;
                }
                assert!(wait.elapsed() < Duration::from_secs(30), "{journal}");
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            let view = controller.get(&format!("/api/v1/rollouts/{id}")).await;
            assert_eq!(view["status"], "running", "{view:#}");
            assert_ne!(host_states(&view)[0], "rolled_back", "{view:#}");
            canary.connect().unwrap();
        }
    }
    let reachable = started.elapsed();
    let view = controller.wait_rollout(&id, Duration::from_secs(90)).await;
    eprintln!(
        "bad version installed after {installed:?}, canary reachable again after {reachable:?}, rollout stopped after {:?}",
        started.elapsed()
    );
    assert_eq!(view["status"], "stopped", "{view:#}");
    let states = host_states(&view);
    assert_eq!(states, ["rolled_back", "pending"], "{view:#}");
    assert_eq!(
        view["hosts"][0]["detail"]["recorded"][0]["version"], BASELINE,
        "{view:#}"
    );
    for host in &fleet.hosts {
        assert_eq!(demo_version(host), BASELINE, "{}", host.name);
    }
    let journal = agent_journal(canary);
    assert_eq!(
        journal.matches("\"kind\":\"apply_change\"").count(),
        1,
        "{journal}"
    );
    assert!(journal.contains("\"step\":\"rolling_back\""), "{journal}");
    assert_eq!(
        journal.matches("\"event\":\"finished\"").count(),
        journal.matches("\"event\":\"reported\"").count(),
        "every result reported: {journal}"
    );
    audit_verify(&controller);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn agent_paused_while_verifying_a_bad_version_rolls_back_and_reports() {
    bad_version_with_canary_fault(Fault::Pause).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn agent_disconnected_while_verifying_a_bad_version_rolls_back_alone_and_reports() {
    bad_version_with_canary_fault(Fault::Disconnect).await;
}
