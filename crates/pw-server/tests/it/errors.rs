//! Uniform refusals (issue 14.8): every refusal is the JSON error with a code, out-of-range
//! values are refused rather than cut.

use serde_json::{Value, json};

use crate::support::TestController;

async fn refusal(answer: reqwest::Response) -> (u16, String, Value) {
    let status = answer.status().as_u16();
    let media = answer
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default();
    let text = answer.text().await.unwrap();
    let body = serde_json::from_str(&text)
        .unwrap_or_else(|_| panic!("{status} {media}: not JSON: {text:?}"));
    (status, media, body)
}

#[tokio::test]
async fn every_refusal_is_the_json_error_with_a_code() {
    let tc = TestController::start().await;
    let api = tc.api();
    // 405 had an empty body.
    let answer = api.delete(tc.http("/api/v1/hosts")).send().await.unwrap();
    assert!(answer.headers().contains_key("allow"));
    let (status, media, body) = refusal(answer).await;
    assert_eq!((status, media.as_str()), (405, "application/json"));
    assert_eq!(body["error"]["code"], "method_not_allowed", "{body}");
    // A path segment that is not UTF-8 had a text/plain 400.
    for path in [
        "/api/v1/hosts/%FF",
        "/api/v1/commands/%C3%28",
        "/api/v1/rollouts/%FE/log",
    ] {
        let answer = api.get(tc.http(path)).send().await.unwrap();
        let (status, media, body) = refusal(answer).await;
        assert_eq!(
            (status, media.as_str()),
            (400, "application/json"),
            "{path}"
        );
        assert_eq!(body["error"]["code"], "invalid_request", "{path}: {body}");
    }
    // A body that is not JSON: 415 with the JSON error.
    let answer = api
        .post(tc.http("/api/v1/enrollment-tokens"))
        .header("content-type", "text/plain")
        .body("{}")
        .send()
        .await
        .unwrap();
    let (status, _, body) = refusal(answer).await;
    assert_eq!(status, 415);
    assert_eq!(body["error"]["code"], "not_json", "{body}");
    tc.controller.shutdown().await;
}

#[tokio::test]
async fn bodies_must_be_objects_and_values_in_range() {
    let tc = TestController::start().await;
    let cases = [
        (json!([]), 422, "invalid_body", "must be a JSON object"),
        (json!(7), 422, "invalid_body", "must be a JSON object"),
        (
            json!({"ttl_secs": u64::MAX}),
            422,
            "invalid_body",
            "ttl_secs: 18446744073709551615 is outside 1–604800",
        ),
        (
            json!({"ttl_secs": 604801}),
            422,
            "invalid_body",
            "is outside 1–604800",
        ),
        (
            json!({"ttl_secs": 0}),
            422,
            "invalid_body",
            "is outside 1–604800",
        ),
        (json!({"ttl_secs": -1}), 422, "invalid_body", "ttl_secs"),
    ];
    for (body, want_status, want_code, want_text) in cases {
        let (status, answer) = tc.post_json("/api/v1/enrollment-tokens", &body).await;
        assert_eq!(status, want_status, "{body}: {answer}");
        assert_eq!(answer["error"]["code"], want_code, "{body}: {answer}");
        let message = answer["error"]["message"].as_str().unwrap();
        assert!(message.contains(want_text), "{body}: {message}");
    }
    // Garbage stays a syntax error (400); the longest lifetime is still accepted.
    let answer = tc
        .api()
        .post(tc.http("/api/v1/enrollment-tokens"))
        .header("content-type", "application/json")
        .body("[1,")
        .send()
        .await
        .unwrap();
    let (status, _, body) = refusal(answer).await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["error"]["code"], "malformed_body");
    let (status, _) = tc
        .post_json("/api/v1/enrollment-tokens", &json!({"ttl_secs": 604800}))
        .await;
    assert_eq!(status, 201);
    tc.controller.shutdown().await;
}
