//! Enrollment, mutual TLS, agent endpoints, bad input, audit chain, metrics and OpenAPI.

use std::time::Duration;

use pw_server::{Ca, token_sha256};
use pw_store::{ChainCheck, NewHost, Store};
use serde_json::{Value, json};

use crate::support::{TestController, inventory_body, tls_client};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn enrolled_agent_reports_and_gets_commands_over_mtls_only() {
    let t = TestController::start().await;
    let token = t.token().await;
    let (status, enrolled, key) = t.enroll(&token, "web-1").await;
    assert_eq!(status, 200, "{enrolled}");
    let host_id = enrolled["host_id"].as_str().unwrap().to_owned();
    let cert = enrolled["certificate_pem"].as_str().unwrap();
    let agent = tls_client(&t.ca_pem(), Some((cert, &key)));

    let beat = json!({"protocol_version": 1, "agent_version": "0.1.0", "read_only": true,
        "sent_at": "2026-11-01T00:00:00Z"});
    let answer = agent
        .post(t.https("/api/v1/agent/heartbeat"))
        .json(&beat)
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 200);
    let answer = agent
        .post(t.https("/api/v1/agent/inventory"))
        .json(&inventory_body("web-1"))
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 200, "{}", answer.text().await.unwrap());

    let (_, hosts) = t.get_json("/api/v1/hosts").await;
    assert_eq!(hosts["hosts"][0]["hostname"], "web-1");
    assert_eq!(hosts["hosts"][0]["packages"], 2);
    let mut findings = Value::Null;
    for _ in 0..300 {
        let (status, body) = t
            .get_json(&format!("/api/v1/hosts/{host_id}/findings"))
            .await;
        assert_eq!(status, 200);
        if body["computed_at"].is_string() {
            findings = body;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(findings["pending_updates"][0]["suite"], "bookworm-security");
    assert!(findings["findings"].is_array(), "{findings}");

    // A change command reaches the agent by long-poll; a result is recorded once.
    let command = json!({"command": {"kind": "install_packages",
        "packages": [{"name": "libssl3", "version": "3.0.17-1~deb12u2"}]}});
    let created: Value = t
        .api()
        .post(t.http(&format!("/api/v1/hosts/{host_id}/commands")))
        .json(&command)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let command_id = created["id"].as_str().unwrap().to_owned();
    let batch: Value = agent
        .get(t.https("/api/v1/agent/commands?wait=2"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(batch["commands"][0]["id"], command_id.as_str());
    let result =
        json!({"status": "refused", "message": "read-only", "finished_at": "2026-11-01T00:00:01Z"});
    let url = t.https(&format!("/api/v1/agent/commands/{command_id}/result"));
    let first: Value = agent
        .post(&url)
        .json(&result)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(first["recorded"], true);
    let again =
        json!({"status": "succeeded", "message": "x", "finished_at": "2026-11-01T00:00:02Z"});
    let second: Value = agent
        .post(&url)
        .json(&again)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(second["recorded"], false);
    let (_, view) = t.get_json(&format!("/api/v1/commands/{command_id}")).await;
    assert_eq!(view["state"], "refused");
    let batch: Value = agent
        .get(t.https("/api/v1/agent/commands?wait=0"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(batch["commands"], json!([]));

    // The same endpoints without a client certificate, or over plain HTTP, are refused.
    let anonymous = tls_client(&t.ca_pem(), None);
    let answer = anonymous
        .post(t.https("/api/v1/agent/heartbeat"))
        .json(&beat)
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 401);
    let body: Value = answer.json().await.unwrap();
    assert_eq!(body["error"]["code"], "client_certificate_required");
    let answer = t
        .api()
        .post(t.http("/api/v1/agent/heartbeat"))
        .json(&beat)
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 403);

    // The page shows the host by name; metrics count what happened.
    let page = t.page("/").await;
    assert!(
        page.contains("web-1") && page.contains("Rollouts"),
        "{page}"
    );
    let page_zh = t.page("/?lang=zh-CN").await;
    assert!(page_zh.contains("主机名"));
    // /metrics stays public (no token): counters only, see docs/server.md.
    let metrics = reqwest::get(t.http("/metrics"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains("patchwarden_agent_enrollments_total{outcome=\"enrolled\"} 1"),
        "{metrics}"
    );
    assert!(
        metrics.contains("patchwarden_agent_heartbeats_total 1"),
        "{metrics}"
    );
    assert!(
        metrics.contains("patchwarden_http_requests_total"),
        "{metrics}"
    );
    // The controller's own latency per route: every heartbeat request answered (refused ones
    // too) is observed once, and each falls in the top bucket.
    let route = "method=\"POST\",route=\"/api/v1/agent/heartbeat\"";
    let answered: u64 = (metrics.lines())
        .filter(|l| l.starts_with("patchwarden_http_requests_total{") && l.contains(route))
        .map(|l| l.rsplit(' ').next().unwrap().parse::<u64>().unwrap())
        .sum();
    assert!(answered >= 1, "{metrics}");
    for series in [
        format!("patchwarden_http_request_duration_seconds_count{{{route}}} {answered}"),
        format!(
            "patchwarden_http_request_duration_seconds_bucket{{le=\"60.0\",{route}}} {answered}"
        ),
    ] {
        assert!(metrics.contains(&series), "{series} not in {metrics}");
    }

    // Audit: intact, then broken at exactly the tampered row.
    let store = t.controller.state.store.clone();
    assert!(
        matches!(store.verify_audit().await.unwrap(), ChainCheck::Intact { records } if records >= 4)
    );
    sqlx_tamper(&store, 2).await;
    match store.verify_audit().await.unwrap() {
        ChainCheck::Broken { seq, reason } => {
            assert_eq!(seq, 2);
            assert!(reason.contains("altered"), "{reason}");
        }
        intact => panic!("tampering went unnoticed: {intact:?}"),
    }
}

/// Rewrites one audit row's details, as someone with write access to the file could.
async fn sqlx_tamper(store: &Store, seq: i64) {
    let pool = store.pool();
    sqlx::query("DROP TRIGGER audit_no_update")
        .execute(pool)
        .await
        .unwrap();
    sqlx::query("UPDATE audit SET details = '{\"forged\":true}' WHERE seq = ?")
        .bind(seq)
        .execute(pool)
        .await
        .unwrap();
}

#[tokio::test]
async fn audit_rows_cannot_be_updated_or_deleted_through_sql() {
    let t = TestController::start().await;
    t.token().await;
    let pool = t.controller.state.store.pool();
    let error = sqlx::query("DELETE FROM audit")
        .execute(pool)
        .await
        .unwrap_err();
    assert!(error.to_string().contains("append-only"), "{error}");
}

#[tokio::test]
async fn a_reused_token_is_refused_with_409_and_nothing_changes() {
    let t = TestController::start().await;
    let token = t.token().await;
    assert_eq!(t.enroll(&token, "first").await.0, 200);
    let (status, body, _) = t.enroll(&token, "second").await;
    assert_eq!(status, 409);
    assert_eq!(body["error"]["code"], "token_already_used");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("already used")
    );
    assert_eq!(t.host_count().await, 1);
}

#[tokio::test]
async fn an_expired_or_unknown_token_is_refused() {
    let t = TestController::start().await;
    let store = &t.controller.state.store;
    let past = jiff::Timestamp::now() - jiff::SignedDuration::from_secs(60);
    store
        .create_enrollment_token("tok-old", &token_sha256("pwt_old"), past, None, "test")
        .await
        .unwrap();
    let (status, body, _) = t.enroll("pwt_old", "late").await;
    assert_eq!(status, 410);
    assert_eq!(body["error"]["code"], "token_expired");
    let (status, body, _) = t.enroll("pwt_never_issued", "stranger").await;
    assert_eq!(status, 401);
    assert_eq!(body["error"]["code"], "token_invalid");
    assert_eq!(t.host_count().await, 0);
}

#[tokio::test]
async fn enrollment_over_plain_http_is_refused() {
    let t = TestController::start().await;
    let token = t.token().await;
    let answer = t
        .api()
        .post(t.http("/api/v1/enroll"))
        .json(&json!({"protocol_version": 1, "token": token, "csr_pem": "x", "hostname": "h"}))
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 403);
    // The token is still good: the refused attempt did not consume it.
    assert_eq!(t.enroll(&token, "h").await.0, 200);
}

#[tokio::test]
async fn a_certificate_from_another_ca_is_refused() {
    let t = TestController::start().await;
    let foreign = Ca::generate("someone else").unwrap();
    let issued = foreign.issue_client("host-forged").unwrap();
    // Make the foreign certificate's fingerprint known, so only the CA check can refuse it.
    let forged = pw_server::fingerprint(
        &rustls::pki_types::pem::PemObject::from_pem_slice(issued.cert_pem.as_bytes())
            .map(|c: rustls::pki_types::CertificateDer<'static>| c.to_vec())
            .unwrap(),
    );
    let host = NewHost {
        id: "host-forged",
        hostname: "forged",
        fingerprint: &forged,
        not_after: jiff::Timestamp::MAX,
    };
    let store = &t.controller.state.store;
    store
        .create_enrollment_token(
            "tok-f",
            &token_sha256("pwt_f"),
            jiff::Timestamp::MAX,
            None,
            "test",
        )
        .await
        .unwrap();
    store
        .enroll(&token_sha256("pwt_f"), jiff::Timestamp::now(), &host)
        .await
        .unwrap()
        .unwrap();
    let client = tls_client(&t.ca_pem(), Some((&issued.cert_pem, &issued.key_pem)));
    let beat = json!({"protocol_version": 1, "agent_version": "0", "read_only": true,
        "sent_at": "2026-11-01T00:00:00Z"});
    let outcome = client
        .post(t.https("/api/v1/agent/heartbeat"))
        .json(&beat)
        .send()
        .await;
    match outcome {
        Err(_) => {} // refused in the TLS handshake
        Ok(answer) => assert_eq!(answer.status(), 401, "foreign certificate accepted"),
    }
    let (_, host) = t.get_json("/api/v1/hosts/host-forged").await;
    assert!(host["last_seen_at"].is_null(), "{host}");
}

#[tokio::test]
async fn malformed_bodies_get_400_or_422_with_a_message_and_store_nothing() {
    let t = TestController::start().await;
    let store = &t.controller.state.store;
    let before = store.audit_tail(1000).await.unwrap().len();
    let post = |path: &str, body: &'static str| {
        t.api()
            .post(t.http(path))
            .header("content-type", "application/json")
            .body(body)
            .send()
    };
    let answer = post("/api/v1/enrollment-tokens", "{\"ttl_secs\": ")
        .await
        .unwrap();
    assert_eq!(answer.status(), 400);
    let body: Value = answer.json().await.unwrap();
    assert_eq!(body["error"]["code"], "malformed_body");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("not valid JSON")
    );
    let answer = post("/api/v1/enrollment-tokens", "{\"ttl_secs\": \"soon\"}")
        .await
        .unwrap();
    assert_eq!(answer.status(), 422);
    let body: Value = answer.json().await.unwrap();
    assert_eq!(body["error"]["code"], "invalid_body");
    let answer = post("/api/v1/enrollment-tokens", "{\"ttl\": 5}")
        .await
        .unwrap();
    assert_eq!(answer.status(), 422);
    let answer = t
        .api()
        .post(t.http("/api/v1/enrollment-tokens"))
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 415);
    let answer = tls_client(&t.ca_pem(), None)
        .post(t.https("/api/v1/enroll"))
        .header("content-type", "application/json")
        .body("{\"token\": ")
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 400);
    assert_eq!(store.audit_tail(1000).await.unwrap().len(), before);
    assert_eq!(t.host_count().await, 0);
}

#[tokio::test]
async fn unknown_hosts_and_routes_are_404_with_a_code() {
    let t = TestController::start().await;
    for path in [
        "/api/v1/hosts/host-nope",
        "/api/v1/hosts/host-nope/findings",
    ] {
        let (status, body) = t.get_json(path).await;
        assert_eq!(status, 404);
        assert_eq!(body["error"]["code"], "host_not_found");
        assert!(
            body["error"]["message"]
                .as_str()
                .unwrap()
                .contains("host-nope")
        );
    }
    let answer = t
        .api()
        .post(t.http("/api/v1/hosts/host-nope/commands"))
        .json(&json!({"command": {"kind": "refresh_inventory"}}))
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 404);
    let (status, body) = t.get_json("/api/v1/nothing-here").await;
    assert_eq!(status, 404);
    assert_eq!(body["error"]["code"], "not_found");
}

/// A heartbeat that changes what the host's agent says (version, read-only) is written at once;
/// one that only says "still here" moves `last_seen_at` at the next flush, a second later at
/// most (docs/server.md, "Heartbeats").
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn repeated_heartbeats_are_written_together_within_a_second() {
    let t = TestController::start().await;
    let (host_id, agent) = crate::support::enrolled(&t, "web-1").await;
    let beat = |version: &str, read_only: bool| {
        json!({"protocol_version": 1, "agent_version": version, "read_only": read_only,
            "sent_at": "2026-11-01T00:00:00Z"})
    };
    let host = async || {
        let (_, hosts) = t.get_json("/api/v1/hosts").await;
        let hosts = hosts["hosts"].as_array().unwrap().clone();
        hosts
            .into_iter()
            .find(|h| h["id"] == host_id.as_str())
            .unwrap()
    };
    let heard = async |body: Value| -> String {
        let answer: Value = (agent.post(t.https("/api/v1/agent/heartbeat")).json(&body))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        answer["server_time"].as_str().unwrap().to_owned()
    };
    let first = heard(beat("1.0", false)).await;
    assert_eq!(
        host().await["last_seen_at"],
        first,
        "a host's first heartbeat waits"
    );
    // Only "still here": written by the next flush.
    let second = heard(beat("1.0", false)).await;
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while host().await["last_seen_at"] != second {
        assert!(
            std::time::Instant::now() < deadline,
            "never flushed: {}",
            host().await
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // A new agent version is written at once.
    let third = heard(beat("1.1", true)).await;
    let now = host().await;
    assert_eq!(
        (&now["last_seen_at"], &now["agent_version"]),
        (&json!(third), &json!("1.1"))
    );
    t.controller.shutdown().await;
}

/// A host whose commands were found empty is read again only when woken (`idle.rs`): a command
/// written behind the controller's back (no wake-up) is not handed out, and once one is queued
/// through the API both are, to a poll that waits 0 s.
#[tokio::test]
async fn an_idle_host_reads_its_commands_only_when_woken() {
    let t = TestController::start().await;
    let (host_id, agent) = crate::support::enrolled(&t, "web-1").await;
    assert_eq!(t.agent_poll(&agent).await["commands"], json!([]));
    sqlx::query(
        "INSERT INTO commands (id, host_id, kind, payload, state, created_at)
         VALUES ('cmd-unannounced', $1, 'refresh_inventory', '{\"kind\":\"refresh_inventory\"}',
                 'queued', '2026-12-01T00:00:00Z')",
    )
    .bind(&host_id)
    .execute(t.controller.state.store.pool())
    .await
    .unwrap();
    let unwoken = t.agent_poll(&agent).await;
    assert_eq!(unwoken["commands"], json!([]), "not woken, not read");
    let (status, created) = t
        .post_json(
            &format!("/api/v1/hosts/{host_id}/commands"),
            &json!({"command": {"kind": "refresh_inventory"}}),
        )
        .await;
    assert_eq!(status, 201, "{created}");
    let woken = t.agent_poll(&agent).await;
    let ids: Vec<&str> = woken["commands"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["cmd-unannounced", created["id"].as_str().unwrap()]);
}
