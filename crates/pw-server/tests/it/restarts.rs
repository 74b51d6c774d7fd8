//! "Patched means patched" (issue 11.4) through the real controller with fake agents over real
//! mTLS: a verified change that leaves a service running replaced code and the reboot flag is
//! not `done` until the agent restarted the unit and came back from a new boot, at most one
//! host rebooting at once; an operator can defer instead (audited, role operator); the host's
//! restart state is in `GET /api/v1/hosts/{id}`.

use std::collections::BTreeMap;
use std::time::Duration;

use serde_json::{Value, json};

use crate::fleet::{FakeAgent, create_rollout, enroll_fleet, poll, wait_for};
use crate::support::{TestController, client_with_token, inventory_body};
use pw_testkit::fixtures::host_states;

/// The agent's restart facts: boot `boot`, the reboot flag, `pw-demo.service` stale or not.
fn facts(boot: &str, reboot: bool, stale: bool) -> Value {
    let stale: Vec<Value> = if stale {
        vec![
            json!({"pid": 42, "command": "httpd", "unit": "pw-demo.service",
                    "deleted": ["/usr/lib/x86_64-linux-gnu/libdemo.so.1"]}),
        ]
    } else {
        vec![]
    };
    json!({"collected_at": "2026-12-04T03:00:00Z",
           "boot": {"boot_id": boot, "init_started": 1},
           "running_kernel": "6.1.0-57-amd64", "newest_kernel": null,
           "reboot_flag": reboot, "reboot_flag_packages": if reboot { vec!["pw-demo"] } else { vec![] },
           "stale_processes": stale, "dpkg_audit": [], "problems": []})
}

async fn post_result(t: &TestController, agent: &FakeAgent, id: &str, result: &Value) {
    let reply = agent
        .client
        .post(t.https(&format!("/api/v1/agent/commands/{id}/result")))
        .json(result)
        .send()
        .await
        .unwrap();
    assert_eq!(reply.status(), 200, "{}", reply.text().await.unwrap());
}

/// The agent back from a new boot: its inventory with the new boot's facts.
async fn came_back(t: &TestController, agent: &FakeAgent, boot: &str) {
    let mut body = inventory_body("web");
    body["restart"] = facts(boot, false, false);
    let status = t.agent_post(&agent.client, "inventory", &body).await;
    assert_eq!(status, 200);
}

/// Answers every command of one poll like a real agent on a host whose change leaves
/// `pw-demo.service` stale and the reboot flag set; returns the command kinds answered.
async fn serve(t: &TestController, agent: &FakeAgent, boot: &str) -> Vec<String> {
    let batch = poll(t, agent, 0).await;
    let mut kinds = Vec::new();
    for envelope in batch["commands"].as_array().unwrap() {
        let id = envelope["id"].as_str().unwrap();
        let command = &envelope["command"];
        let kind = command["kind"].as_str().unwrap().to_owned();
        let mut result = json!({"status": "succeeded", "message": format!("fake {kind}"),
            "finished_at": "2026-12-04T03:00:01Z"});
        match kind.as_str() {
            "apply_change" => {
                result["change"] = json!({"outcome": "done",
                    "recorded": [{"name": "pw-demo", "version": "1.0-1"}],
                    "final_versions": [{"name": "pw-demo", "version": "1.0-2"}],
                    "installed_at": "2026-12-04T03:00:00Z", "passed_checks": ["http"],
                    "failed_check": null, "restart": facts(boot, true, true)});
            }
            "restart_services" => {
                assert_eq!(command["units"], json!(["pw-demo.service"]), "{command}");
                result["restart"] = json!({"restarted": ["pw-demo.service"],
                    "status": facts(boot, true, false)});
            }
            "reboot" => {
                result["restart"] = json!({"restarted": [], "status": facts(boot, true, false)});
            }
            other => panic!("unexpected command {other}"),
        }
        post_result(t, agent, id, &result).await;
        kinds.push(kind);
    }
    kinds
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restart_then_reboot_one_host_at_a_time_before_done() {
    let t = TestController::start().await;
    let agents = enroll_fleet(&t, 3).await;
    let id = create_rollout(&t, &agents, "1.0-2").await;
    let mut kinds: BTreeMap<usize, Vec<String>> = BTreeMap::new();
    // A host's reboot answered in one round comes back in the next one.
    let mut rebooted: Vec<usize> = Vec::new();
    let mut most_rebooting = 0;
    let mut view = Value::Null;
    for _ in 0..200 {
        for index in std::mem::take(&mut rebooted) {
            came_back(&t, &agents[index], &format!("boot-{index}-b")).await;
        }
        for (index, agent) in agents.iter().enumerate() {
            let boot = format!("boot-{index}-a");
            let answered = serve(&t, agent, &boot).await;
            if answered.iter().any(|k| k == "reboot") {
                rebooted.push(index);
            }
            kinds.entry(index).or_default().extend(answered);
        }
        view = t.get_json(&format!("/api/v1/rollouts/{id}")).await.1;
        let rebooting = host_states(&view)
            .iter()
            .filter(|s| *s == "rebooting")
            .count();
        most_rebooting = most_rebooting.max(rebooting);
        if view["status"] != "running" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(150)).await;
    }
    assert_eq!(view["status"], "completed", "{view:#}");
    assert_eq!(host_states(&view), ["done", "done", "done"]);
    assert_eq!(most_rebooting, 1, "the reboot budget is 1");
    for (index, host) in view["hosts"].as_array().unwrap().iter().enumerate() {
        assert_eq!(
            kinds[&index],
            ["apply_change", "restart_services", "reboot"],
            "host {index}"
        );
        let cleared = &host["detail"]["cleared"];
        assert_eq!(cleared["restarted"], json!(["pw-demo.service"]), "{host}");
        let proof = &cleared["rebooted"];
        assert_eq!(proof["from"]["boot_id"], format!("boot-{index}-a"));
        assert_eq!(proof["to"]["boot_id"], format!("boot-{index}-b"));
        assert_eq!(proof["container_restart"], false);
        assert_eq!(
            proof["reasons"],
            json!(["/run/reboot-required (by pw-demo)"])
        );
        assert!(
            host["command_id"]
                .as_str()
                .unwrap()
                .starts_with(&format!("{id}:{}:reboot:", agents[index].host_id)),
            "{host}"
        );
    }
    // The host view shows the last facts: nothing left to do.
    let (status, host) = t
        .get_json(&format!("/api/v1/hosts/{}", agents[0].host_id))
        .await;
    assert_eq!(status, 200, "{host}");
    assert_eq!(host["restart"]["state"]["reboot"], "not_required", "{host}");
    assert_eq!(host["restart"]["state"]["restart"], "not_required");
    assert_eq!(host["restart"]["facts"]["boot"]["boot_id"], "boot-0-b");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_operator_defers_the_reboot_and_the_host_is_done() {
    let t = TestController::start().await;
    let agents = enroll_fleet(&t, 1).await;
    let host = agents[0].host_id.clone();
    // Before any change: the host view says what its agent reported.
    let mut body = inventory_body("web-0");
    body["restart"] = facts("boot-x", true, true);
    let status = t.agent_post(&agents[0].client, "inventory", &body).await;
    assert_eq!(status, 200);
    let (_, view) = t.get_json(&format!("/api/v1/hosts/{host}")).await;
    let state = &view["restart"]["state"];
    assert_eq!(state["reboot"], "required", "{view}");
    assert_eq!(state["units"], json!(["pw-demo.service"]));
    assert_eq!(state["dpkg_clean"], true);
    // A unit name that is no unit is refused at the edge.
    body["restart"]["stale_processes"][0]["unit"] = json!("--now.service");
    let status = t.agent_post(&agents[0].client, "inventory", &body).await;
    assert_eq!(status, 422);

    let id = create_rollout(&t, &agents, "1.0-2").await;
    let path = format!("/api/v1/rollouts/{id}/hosts/{host}/defer");
    let reason = json!({"reason": "reboot in Sunday's window"});
    // Nothing to defer while the change runs.
    let (status, answer) = t.post_json(&path, &reason).await;
    assert_eq!(status, 409, "{answer}");
    // apply_change answered; the restart is answered too; the reboot is never answered.
    for _ in 0..60 {
        let answered = serve(&t, &agents[0], "boot-x").await;
        if answered.iter().any(|k| k == "reboot") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(150)).await;
    }
    let view = wait_for(&t, &id, |v| v["hosts"][0]["state"] == "rebooting").await;
    assert_eq!(
        view["status"], "running",
        "not done while rebooting: {view}"
    );
    // A viewer may not; no reason is refused; an operator may.
    let viewer = t.operator("vic", pw_server::Role::Viewer).await;
    let denied = client_with_token(&viewer)
        .post(t.http(&path))
        .json(&reason)
        .send()
        .await
        .unwrap();
    assert_eq!(denied.status(), 403);
    let (status, _) = t.post_json(&path, &json!({"reason": " "})).await;
    assert_eq!(status, 400);
    let operator = t.operator("olga", pw_server::Role::Operator).await;
    let answer = client_with_token(&operator)
        .post(t.http(&path))
        .json(&reason)
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 200);
    let view = wait_for(&t, &id, |v| v["status"] == "completed").await;
    let deferred = &view["hosts"][0]["detail"]["cleared"]["deferred"];
    assert_eq!(deferred["by"], "olga", "{view}");
    assert_eq!(deferred["reason"], "reboot in Sunday's window");
    assert_eq!(
        deferred["left"],
        json!(["reboot: /run/reboot-required (by pw-demo)"])
    );
    assert_eq!(
        view["hosts"][0]["detail"]["cleared"]["restarted"],
        json!(["pw-demo.service"])
    );
    // Audited with the operator as actor.
    let (_, audit) = t.get_json("/api/v1/audit").await;
    let deferral = audit["records"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["details"]["event"]["event"] == "deferred")
        .unwrap_or_else(|| panic!("no deferral in {audit}"));
    assert_eq!(deferral["actor"], "olga", "{deferral}");
    // Done: nothing left to defer.
    let (status, _) = t.post_json(&path, &reason).await;
    assert_eq!(status, 409);
}
