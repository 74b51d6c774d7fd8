//! The rollout loop in-process with fake agents over real mTLS: canary first, then batches;
//! a health failure on the canary stops the rollout, blocks the version and touches nothing
//! else; command ids are deterministic and every transition is audited.

use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::fleet::{
    create_rollout, create_rollout_with, enroll_fleet, guard_answer, poll, report, run_to_end,
    serve_once,
};
use crate::support::TestController;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_good_version_goes_canary_then_batches_and_every_host_ends_done() {
    let t = TestController::start().await;
    let agents = enroll_fleet(&t, 5).await;
    let id = create_rollout(&t, &agents, "1.0-2").await;
    let (view, seen) = run_to_end(&t, &agents, &id).await;
    assert_eq!(view["status"], "completed", "{view}");
    for host in view["hosts"].as_array().unwrap() {
        assert_eq!(host["state"], "done", "{view}");
    }
    // One command per host, with the deterministic id, never repeated.
    assert_eq!(seen.len(), 5, "{seen:?}");
    assert!(seen[0].starts_with(&format!("{id}:{}:record_versions:", agents[0].host_id)));
    let (_, audit) = t.get_json("/api/v1/audit").await;
    let transitions = audit["records"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["action"] == "rollout.host.transition")
        .count();
    // Per host: claimed, then the guard's one report (done). Nothing invented in between.
    assert_eq!(transitions, 5 * 2, "{audit}");
    let page = t.page("/").await;
    assert!(page.contains(&id) && page.contains("done"), "{page}");
    // The operation log under the rollout: who did what to which host.
    assert!(page.contains("Operation log"), "{page}");
    assert!(page.contains("<td>guard_reported</td>"), "{page}");
    assert!(
        page.contains(&format!(
            "<td>agent:{}</td><td>web-0</td>",
            agents[0].host_id
        )),
        "{page}"
    );
    let zh = t.page("/?lang=zh-CN").await;
    assert!(zh.contains("操作日志"), "{zh}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_health_failure_on_the_canary_stops_the_rollout_and_blocks_the_version() {
    let t = TestController::start().await;
    let agents = enroll_fleet(&t, 3).await;
    let id = create_rollout(&t, &agents, "1.0-3").await;
    let (view, seen) = run_to_end(&t, &agents, &id).await;
    assert_eq!(view["status"], "stopped", "{view}");
    assert_eq!(view["hosts"][0]["state"], "rolled_back", "{view}");
    assert_eq!(view["hosts"][1]["state"], "pending");
    assert_eq!(view["hosts"][2]["state"], "pending");
    assert_eq!(seen.len(), 1, "only the canary got a command: {seen:?}");
    let (_, list) = t.get_json("/api/v1/rollouts").await;
    assert_eq!(list["blocked"][0]["package"], "pw-demo");
    assert_eq!(list["blocked"][0]["version"], "1.0-3");
    // A new rollout of the blocked version claims nobody.
    let again = create_rollout(&t, &agents, "1.0-3").await;
    // Two scheduler passes after its creation: what they would claim, they have claimed.
    t.pass().await;
    t.pass().await;
    assert!(serve_once(&t, &agents[0]).await.is_empty());
    let (_, view) = t.get_json(&format!("/api/v1/rollouts/{again}")).await;
    assert!(
        view["hosts"]
            .as_array()
            .unwrap()
            .iter()
            .all(|h| h["state"] == "pending"),
        "{view}"
    );
}

#[tokio::test]
async fn rollout_requests_are_checked() {
    let t = TestController::start().await;
    let post = |body: Value| t.api().post(t.http("/api/v1/rollouts")).json(&body).send();
    let answer = post(json!({"hosts": ["nope"], "targets": [{"name": "pw-demo", "version": "1"}]}))
        .await
        .unwrap();
    assert_eq!(answer.status(), 404);
    let answer =
        post(json!({"hosts": ["x"], "targets": [{"name": "pw-demo", "version": "-1;rm"}]}))
            .await
            .unwrap();
    assert_eq!(answer.status(), 400);
    let targets = json!([{"name": "pw-demo", "version": "1"}]);
    for (body, wanted) in [
        (
            json!({"hosts": ["x"], "targets": targets, "canary_size": 0, "drill": "canaries"}),
            "needs canary_size of at least 1",
        ),
        (json!({"plan": 7, "drill": "all"}), "leave out drill"),
        (
            json!({"hosts": ["x"], "targets": targets, "drill": "sometimes"}),
            "unknown variant `sometimes`",
        ),
    ] {
        let answer = post(body.clone()).await.unwrap();
        let status = answer.status().as_u16();
        let text = answer.text().await.unwrap();
        assert!(status == 400 || status == 422, "{body}: {status} {text}");
        assert!(text.contains(wanted), "{body}: {text}");
    }
    let (status, body) = t.get_json("/api/v1/rollouts/ro-unknown").await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (404, Some("rollout_not_found"))
    );
}

/// A stored result wakes the scheduler at once (not at its next 1 s tick: counted as a `woken`
/// pass), and the next host's command reaches that host's already waiting long-poll at once
/// (not at the poll's 10 s deadline).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_result_claims_the_next_host_at_once_and_its_waiting_long_poll_gets_the_command() {
    let t = TestController::start().await;
    let agents = enroll_fleet(&t, 3).await;
    let one_by_one = json!({"canary_size": 1, "batch_size": 1, "verification_seconds": 0,
        "checks": []});
    let id = create_rollout_with(&t, &agents, "1.0-2", one_by_one).await;
    let first = poll(&t, &agents[0], 10).await;
    let mut command = first["commands"][0].clone();
    for (done, next) in agents.iter().zip(&agents[1..]) {
        // The next host is already waiting when the result that frees the slot arrives.
        let waiting = async {
            let started = Instant::now();
            (poll(&t, next, 10).await, started.elapsed())
        };
        let finishing = async {
            tokio::time::sleep(Duration::from_millis(300)).await;
            report(&t, done, &command, guard_answer).await
        };
        let ((batch, waited), _) = tokio::join!(waiting, finishing);
        assert_eq!(
            batch["commands"].as_array().map(Vec::len),
            Some(1),
            "{batch}"
        );
        assert!(
            waited < Duration::from_secs(5),
            "long-poll waited {waited:?}"
        );
        command = batch["commands"][0].clone();
    }
    report(&t, &agents[2], &command, guard_answer).await;
    let mut view = Value::Null;
    for _ in 0..50 {
        view = t.get_json(&format!("/api/v1/rollouts/{id}")).await.1;
        if view["status"] != "running" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(view["status"], "completed", "{view}");
    let metrics = t
        .api()
        .get(t.http("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let woken = metrics
        .lines()
        .find_map(|l| l.strip_prefix("patchwarden_scheduler_passes_total{trigger=\"woken\"} "))
        .and_then(|n| n.parse::<u64>().ok())
        .unwrap_or(0);
    // The creation and each of the three results woke it.
    assert!(woken >= 3, "woken passes: {woken}\n{metrics}");
    // Every step of a pass is timed: as many timings of a step as passes that drove the
    // rollout (claims of three batches among them).
    let count = |series: &str| {
        metrics
            .lines()
            .find_map(|l| {
                l.strip_prefix(series)?
                    .strip_prefix(' ')?
                    .parse::<u64>()
                    .ok()
            })
            .unwrap_or(0)
    };
    let claims = count("patchwarden_scheduler_step_seconds_count{step=\"claims\"}");
    let loads = count("patchwarden_scheduler_step_seconds_count{step=\"load\"}");
    assert!(claims >= 3, "claims timed {claims} times\n{metrics}");
    assert!(loads >= claims, "loads {loads} < claims {claims}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_host_is_in_at_most_one_active_rollout() {
    let t = TestController::start().await;
    let agents = enroll_fleet(&t, 3).await;
    let first = create_rollout(&t, &agents[..2], "1.0-2").await;
    let (_, before) = t.get_json("/api/v1/audit").await;
    // agents[1] is still pending in the first rollout: the second one is refused whole.
    let body = json!({
        "hosts": [agents[2].host_id.clone(), agents[1].host_id.clone()],
        "targets": [{"name": "pw-demo", "version": "1.0-2"}],
        "canary_size": 1, "batch_size": 1,
    });
    let answer = t
        .api()
        .post(t.http("/api/v1/rollouts"))
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 409);
    let error: Value = answer.json().await.unwrap();
    assert_eq!(error["error"]["code"], "rollout_conflict", "{error}");
    let message = error["error"]["message"].as_str().unwrap();
    assert!(message.contains(&agents[1].host_id), "{message}");
    assert!(message.contains(&first), "{message}");
    assert!(!message.contains(&agents[2].host_id), "{message}");
    let (_, list) = t.get_json("/api/v1/rollouts").await;
    assert_eq!(
        list["rollouts"].as_array().unwrap().len(),
        1,
        "nothing stored"
    );
    let (_, after) = t.get_json("/api/v1/audit").await;
    assert_eq!(before["records"], after["records"], "no audit record");
    // Once the first rollout is finished with its hosts, they can join another one.
    let (view, _) = run_to_end(&t, &agents[..2], &first).await;
    assert_eq!(view["status"], "completed", "{view}");
    let answer = t
        .api()
        .post(t.http("/api/v1/rollouts"))
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 201);
}
