//! End to end on real Debian 12 containers (pw-testbed): the built `patchwarden server` and two
//! hosts running `patchwarden agent`, real apt. The fleet document gives the hosts' group a
//! one-minute window every two minutes, the first one about a minute away. The rollout waits
//! for it (closed, naming the slot), the canary changes in it, and the second host — which no
//! longer fits the rest of the slot with its estimate, verification and 30 % rollback buffer —
//! carries over to the next slot and changes there. Real time (the controller is a separate
//! process with the system clock); about three minutes. Needs Docker and mmdebstrap.

mod common;

use std::time::Duration;

use common::*;
use jiff::{SignedDuration, Timestamp};
use pw_testbed::repo::packages::SECURITY_FIX;
use pw_testbed::{Mount, Suite, Testbed};
use serde_json::Value;

/// When `host` was claimed in rollout `id`, from the rollout's operation log.
async fn claimed_at(controller: &Controller, id: &str, host: &str) -> Timestamp {
    let log = controller.get(&format!("/api/v1/rollouts/{id}/log")).await;
    let entry = log["entries"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["host_id"] == host && e["step"] == "claimed")
        .unwrap_or_else(|| panic!("no claim of {host}: {log:#}"));
    entry["at"].as_str().unwrap().parse().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rollout_starts_in_its_window_and_carries_over_to_the_next_slot() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let testbed = Testbed::shared();
    let mount = Mount {
        source: env!("CARGO_BIN_EXE_patchwarden").into(),
        target: AGENT_BIN.into(),
    };
    let fleet = testbed.fleet_with_mounts(2, &Suite::ALL, &[mount]).unwrap();
    let gateway = fleet.network.gateway().unwrap().to_string();
    let controller = start_controller(&gateway);
    let hosts = fleet_with_agents(&controller, &fleet, &gateway).await;

    // Slots of 60 s, the second 120 s after the first, about a minute away. A host's estimate
    // is 10 s + 10 s (one package), verification 15 s, rollback buffer 18 s (30 %): it is
    // claimed only in a slot's first 7 s, and the canary alone takes longer (a 12 s protection
    // step), so the second host must wait for the next slot.
    // Whole minutes (windows are daily rules with times of day): the next minute at least 50 s
    // away, and two minutes later.
    let now = Timestamp::now().as_second();
    let start = Timestamp::from_second((now + 50 + 59) / 60 * 60).unwrap();
    let next = start + SignedDuration::from_secs(120);
    let utc = |t: Timestamp| t.to_zoned(jiff::tz::TimeZone::UTC).datetime();
    let (first, second) = (utc(start), utc(next));
    let hours = if first.hour() == second.hour() {
        first.hour().to_string()
    } else {
        format!("{},{}", first.hour(), second.hour())
    };
    let rrule = format!(
        "FREQ=DAILY;BYHOUR={hours};BYMINUTE={},{}",
        first.minute(),
        second.minute()
    );
    let local = first;
    let document = format!(
        r#"
[estimates]
apply = "10s"
rollback = "10s"
host_overhead = "10s"

[groups.lab]
environment = "test"
owners = ["lab@example.com"]
windows = [{{ name = "every-2m", rrule = "{rrule}", dtstart = "{local}", tz = "UTC", duration = "1m" }}]
[groups.lab.members]
hostnames = ["*"]
"#
    );
    let answer = controller
        .api()
        .put(controller.url("/api/v1/fleet"))
        .header("content-type", "application/toml")
        .body(document)
        .send()
        .await
        .unwrap();
    let status = answer.status().as_u16();
    let body: Value = answer.json().await.unwrap();
    assert_eq!(status, 200, "{body:#}");

    let mut request = rollout_body_verifying(&hosts, SECURITY_FIX, 15);
    request["batch_size"] = 1.into();
    // A protection step of 12 s makes every host change outlast the 7 s claim window.
    request["protection_steps"] = serde_json::json!([{"name": "slow-snapshot",
        "argv": ["/bin/sleep", "12"], "timeout_seconds": 60}]);
    let (status, created) = controller.post("/api/v1/rollouts", request).await;
    assert_eq!(status, 201, "{created}");
    let id = created["id"].as_str().unwrap().to_owned();

    // Before the window: nothing claimed, waiting for the slot at `start` (a pass says so).
    let path = format!("/api/v1/rollouts/{id}");
    let every = Duration::from_millis(200);
    let waiting = async || {
        let view = controller.get(&path).await;
        match view["detail"]["waiting"][0]["kind"].is_string() {
            true => Ok(view),
            false => Err(view),
        }
    };
    let view =
        pw_testkit::wait_until("a pass's wait", Duration::from_secs(10), every, waiting).await;
    assert!(
        Timestamp::now() < start,
        "the test was too slow to see the wait"
    );
    let wait = &view["detail"]["waiting"][0];
    assert_eq!(wait["kind"], "window", "{view:#}");
    assert_eq!(wait["wait"]["kind"], "closed", "{view:#}");
    assert_eq!(wait["wait"]["next"]["start"], start.to_string().as_str());
    for host in view["hosts"].as_array().unwrap() {
        assert_eq!(host["state"], "pending", "{view:#}");
    }

    let view = controller.wait_rollout(&id, Duration::from_secs(300)).await;
    assert_eq!(view["status"], "completed", "{view:#}");
    for host in &fleet.hosts {
        assert_eq!(demo_version(host), SECURITY_FIX, "{}", host.name);
    }
    let first = claimed_at(&controller, &id, &hosts[0]).await;
    let second = claimed_at(&controller, &id, &hosts[1]).await;
    eprintln!("window {start}: canary claimed at {first}, carried-over host at {second}");
    assert!(
        first >= start && first < start + SignedDuration::from_secs(7),
        "{first}"
    );
    assert!(
        second >= next && second < next + SignedDuration::from_secs(7),
        "{second}"
    );
    assert!(audit_verify(&controller) > 0);
}
