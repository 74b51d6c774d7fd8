//! Evidence from the agents through the real controller: an operator asks
//! (`POST /api/v1/hosts/{id}/evidence`), a read-only fake agent over real mTLS gets the
//! `collect_evidence` command and answers; a malformed report is refused naming the field and
//! nothing is stored; a valid one is stored, audited, shown by `GET …/evidence` with its
//! collection time and converts to planner input.

use serde_json::{Value, json};

use crate::fleet::{enroll_fleet, poll};
use crate::support::{TestController, client_with_token};

const COLLECTED_AT: &str = "2026-12-03T21:00:00Z";

/// A report like the one the agent sent in `evidence_e2e` (pw-demo 1.0-1 → 1.0-2 on a test bed
/// host with a locally edited conffile).
fn report(targets: &Value) -> Value {
    json!({
        "protocol_version": 1,
        "targets": targets,
        "collected_at": COLLECTED_AT,
        "simulation": {
            "actions": [
                {"action": "install", "package": "pw-demo", "from": "1.0-1", "version": "1.0-2",
                 "origin": "PatchwardenTest-Security:12/security", "arch": "all"},
                {"action": "configure", "package": "pw-demo", "version": "1.0-2"}
            ],
            "errors": [], "warnings": []
        },
        "availability": [{"package": "pw-demo", "installed": "1.0-1", "candidate": "1.0-4",
                          "downloadable": ["1.0-1", "1.0-2", "1.0-3", "1.0-4"]}],
        "conffiles": [{"package": "pw-demo", "path": "/etc/pw-demo/pw-demo.conf",
                       "md5": "0f1e2d3c4b5a69788796a5b4c3d2e1f0", "obsolete": false,
                       "modified": true}],
        "services": [{"package": "pw-demo", "unit": "pw-demo.service", "running": null}],
        "reboot": {"required_now": false, "required_by": [], "kernel_packages": []},
        "problems": []
    })
}

async fn answer(
    t: &TestController,
    agent: &reqwest::Client,
    id: &str,
    result: &Value,
) -> (u16, Value) {
    let reply = agent
        .post(t.https(&format!("/api/v1/agent/commands/{id}/result")))
        .json(result)
        .send()
        .await
        .unwrap();
    (reply.status().as_u16(), reply.json().await.unwrap())
}

fn result(evidence: Value) -> Value {
    json!({"status": "succeeded", "message": "evidence collected",
           "finished_at": "2026-12-03T21:00:01Z", "evidence": evidence})
}

#[tokio::test]
async fn request_deliver_store_and_show() {
    let t = TestController::start().await;
    let agents = enroll_fleet(&t, 1).await;
    let (host, agent) = (&agents[0].host_id, &agents[0].client);
    let beat = json!({"protocol_version": 1, "agent_version": "test", "read_only": true,
                      "sent_at": "2026-12-03T20:59:00Z"});
    assert_eq!(t.agent_post(agent, "heartbeat", &beat).await, 200);
    let path = format!("/api/v1/hosts/{host}/evidence");
    let targets = json!([{"name": "pw-demo", "version": "1.0-2"}]);

    let (status, body) = t.get_json(&path).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (404, Some("evidence_not_found"))
    );

    // Roles: a viewer may read, not ask.
    let viewer = client_with_token(&t.operator("vera", pw_server::Role::Viewer).await);
    let asked = viewer
        .post(t.http(&path))
        .json(&json!({"targets": targets}))
        .send()
        .await
        .unwrap();
    assert_eq!(asked.status(), 403);

    // Bad requests name the field; nothing is queued.
    for (body, field) in [
        (
            json!({"targets": [{"name": "pw-demo", "version": "1.0 2"}]}),
            "targets[0].version",
        ),
        (
            json!({"targets": [{"name": "pw demo", "version": "1"}]}),
            "targets[0].name",
        ),
        (json!({"targets": []}), "targets"),
    ] {
        let (status, answer) = t.post_json(&path, &body).await;
        assert_eq!(status, 422, "{answer}");
        let message = answer["error"]["message"].as_str().unwrap();
        assert!(
            message.contains(&format!(": {field}: ")),
            "{field}: {message}"
        );
    }
    let (status, _) = t
        .post_json(
            "/api/v1/hosts/host-nope/evidence",
            &json!({"targets": targets}),
        )
        .await;
    assert_eq!(status, 404);
    assert_eq!(poll(&t, &agents[0], 0).await["commands"], json!([]));

    // A malformed report is refused with the field; the command ends failed, nothing stored.
    let (status, queued) = t.post_json(&path, &json!({"targets": targets})).await;
    assert_eq!(status, 202, "{queued}");
    let first = queued["command_id"].as_str().unwrap().to_owned();
    let batch = poll(&t, &agents[0], 0).await;
    assert_eq!(batch["commands"][0]["id"], first.as_str());
    assert_eq!(
        batch["commands"][0]["command"],
        json!({"kind": "collect_evidence", "targets": targets})
    );
    let mut bad = report(&targets);
    bad["simulation"]["actions"][0]["package"] = json!("Bad Name");
    let (status, answer_body) = answer(&t, agent, &first, &result(bad.clone())).await;
    assert_eq!(status, 422, "{answer_body}");
    let message = answer_body["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("evidence.simulation.actions[0].package"),
        "{message}"
    );
    let (_, command) = t.get_json(&format!("/api/v1/commands/{first}")).await;
    assert_eq!(command["state"], "failed", "{command}");
    assert_eq!(t.get_json(&path).await.0, 404);
    // The agent's retry is answered "already finished", so it stops retrying.
    let (status, again) = answer(&t, agent, &first, &result(bad)).await;
    assert_eq!((status, &again["recorded"]), (200, &json!(false)));

    // A valid report from the read-only agent is stored and shown with its collection time.
    let (status, queued) = t.post_json(&path, &json!({"targets": targets})).await;
    assert_eq!(status, 202);
    let second = queued["command_id"].as_str().unwrap().to_owned();
    let batch = poll(&t, &agents[0], 0).await;
    assert_eq!(batch["commands"][0]["id"], second.as_str());
    let (status, stored) = answer(&t, agent, &second, &result(report(&targets))).await;
    assert_eq!(status, 200, "{stored}");
    let (status, shown) = t.get_json(&path).await;
    assert_eq!(status, 200, "{shown}");
    assert_eq!(shown["collected_at"], COLLECTED_AT);
    assert_eq!(shown["command_id"], second.as_str());
    assert_eq!(shown["targets"], targets);
    assert_eq!(shown["evidence"]["conffiles"][0]["modified"], true);
    assert_eq!(shown["evidence"]["services"][0]["unit"], "pw-demo.service");

    let (_, audit) = t.get_json("/api/v1/audit").await;
    let actions: Vec<(String, String)> = audit["records"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["action"].as_str().unwrap().to_owned(),
                r["subject"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    for expected in [
        ("command.created", &first),
        ("command.finished", &first),
        ("command.created", &second),
        ("evidence.recorded", &second),
    ] {
        let expected = (expected.0.to_owned(), expected.1.clone());
        assert!(actions.contains(&expected), "{expected:?}");
    }
    assert!(!actions.contains(&("evidence.recorded".to_owned(), first.clone())));

    // The plan builder's input: the one conversion from the stored report.
    let latest = pw_controller::evidence::latest_evidence(&t.controller.state.store, host)
        .await
        .unwrap()
        .unwrap();
    let input = latest.planner_input().unwrap();
    let availability = input.availability.unwrap();
    assert_eq!(availability.can_download("pw-demo", "1.0-1"), Some(true));
    assert!(
        input
            .modified_conffiles
            .unwrap()
            .contains("/etc/pw-demo/pw-demo.conf")
    );
    assert_eq!(
        input.simulation.unwrap().upgrades(),
        [("pw-demo", "1.0-1", "1.0-2")]
    );
}
