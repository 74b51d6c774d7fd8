//! Real receivers on 127.0.0.1 for every vendor, each checking the vendor's published rule
//! itself (HMAC computed here from the rule, never with patchwarden's signer) and answering as
//! the vendor does: DingTalk and WeCom `{"errcode":…}` with HTTP 200, Feishu `{"code":…}` with
//! HTTP 200, Slack `ok` or a 4xx with a plain reason, the generic webhook 204 or 401.
#![allow(dead_code)]

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Query, RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use pw_testkit::webhook::hmac_sha256;
use serde_json::{Value, json};

/// The secret every signing receiver expects.
pub const SECRET: &str = "SEC0123456789abcdef";
/// The WeCom robot key the receiver accepts.
pub const WECOM_KEY: &str = "wecom-key-1";

/// What the receivers took (accepted messages, per vendor) and how often each idempotency key
/// arrived.
#[derive(Clone, Default)]
pub struct Received {
    pub accepted: Arc<Mutex<Vec<(String, Value)>>>,
    pub by_key: Arc<Mutex<HashMap<String, usize>>>,
}

impl Received {
    fn take(&self, vendor: &str, headers: &HeaderMap, body: &Value) {
        self.accepted
            .lock()
            .unwrap()
            .push((vendor.to_owned(), body.clone()));
        if let Some(key) = headers
            .get("x-patchwarden-idempotency-key")
            .and_then(|v| v.to_str().ok())
        {
            *self
                .by_key
                .lock()
                .unwrap()
                .entry(key.to_owned())
                .or_default() += 1;
        }
    }

    pub fn vendors(&self) -> Vec<String> {
        self.accepted
            .lock()
            .unwrap()
            .iter()
            .map(|(v, _)| v.clone())
            .collect()
    }
}

fn now_ms() -> i64 {
    jiff::Timestamp::now().as_millisecond()
}

/// Generic webhook: `X-Patchwarden-Signature: sha256=<hex HMAC-SHA256(secret, body)>`.
async fn webhook(State(r): State<Received>, headers: HeaderMap, body: Bytes) -> Response {
    let want = format!(
        "sha256={}",
        hex::encode(hmac_sha256(SECRET.as_bytes(), &body))
    );
    let given = headers.get("x-patchwarden-signature").map(|v| v.as_bytes());
    if given != Some(want.as_bytes()) {
        return (StatusCode::UNAUTHORIZED, "bad signature").into_response();
    }
    let Ok(value) = serde_json::from_slice::<Value>(&body) else {
        return (StatusCode::BAD_REQUEST, "not JSON").into_response();
    };
    if value["event"] != "test" || !value["title"].is_string() || !value["link"].is_string() {
        return (StatusCode::BAD_REQUEST, "missing fields").into_response();
    }
    r.take("webhook", &headers, &value);
    StatusCode::NO_CONTENT.into_response()
}

/// DingTalk: `timestamp` (ms, within an hour) and `sign` = urlencode(base64(HMAC-SHA256(secret,
/// timestamp + "\n" + secret))) in the query; `{"msgtype":"markdown","markdown":{title,text}}`.
async fn dingtalk(
    State(r): State<Received>,
    RawQuery(raw): RawQuery,
    Query(query): Query<HashMap<String, String>>,
    headers: HeaderMap,
    Json(body): Json<Value>,
) -> Json<Value> {
    let refuse = |code: i64, msg: &str| Json(json!({"errcode": code, "errmsg": msg}));
    let raw = raw.unwrap_or_default();
    let (Some(timestamp), Some(sign)) = (query.get("timestamp"), query.get("sign")) else {
        return refuse(310000, "sign not match, more: missing timestamp or sign");
    };
    // The sign travels URL-encoded: no raw '+', '/' or '=' of base64 in the query string.
    let raw_sign = raw
        .split('&')
        .find_map(|p| p.strip_prefix("sign="))
        .unwrap_or_default();
    if raw_sign.contains(['+', '/', '=']) {
        return refuse(310000, "sign not match, more: sign is not URL-encoded");
    }
    let ts: i64 = timestamp.parse().unwrap_or_default();
    if (now_ms() - ts).abs() > 3_600_000 {
        return refuse(
            310000,
            "sign not match, more: timestamp is not within one hour",
        );
    }
    let text = format!("{timestamp}\n{SECRET}");
    let want = STANDARD.encode(hmac_sha256(SECRET.as_bytes(), text.as_bytes()));
    if *sign != want || query.get("access_token").map(String::as_str) != Some("ding-token") {
        return refuse(310000, "sign not match");
    }
    if body["msgtype"] != "markdown"
        || !body["markdown"]["title"].is_string()
        || !body["markdown"]["text"].is_string()
    {
        return refuse(40035, "缺少参数 json");
    }
    r.take("dingtalk", &headers, &body);
    refuse(0, "ok")
}

/// Feishu: `timestamp` (seconds, a string, within an hour) and `sign` = base64(HMAC-SHA256(key =
/// timestamp + "\n" + secret, message = empty)) in the body; `msg_type` text.
async fn feishu(
    State(r): State<Received>,
    headers: HeaderMap,
    Json(body): Json<Value>,
) -> Json<Value> {
    let refuse = |code: i64, msg: &str| Json(json!({"code": code, "msg": msg, "data": {}}));
    let (Some(timestamp), Some(sign)) = (body["timestamp"].as_str(), body["sign"].as_str()) else {
        return refuse(
            19021,
            "sign match fail or timestamp is not within one hour from current time",
        );
    };
    let ts: i64 = timestamp.parse().unwrap_or_default();
    let key = format!("{timestamp}\n{SECRET}");
    let want = STANDARD.encode(hmac_sha256(key.as_bytes(), b""));
    if sign != want || (now_ms() / 1000 - ts).abs() > 3600 {
        return refuse(
            19021,
            "sign match fail or timestamp is not within one hour from current time",
        );
    }
    if body["msg_type"] != "text" || !body["content"]["text"].is_string() {
        return refuse(9499, "Bad Request");
    }
    r.take("feishu", &headers, &body);
    refuse(0, "success")
}

/// WeCom: the robot's `key` in the query, `{"msgtype":"markdown","markdown":{"content":…}}`.
async fn wecom(
    State(r): State<Received>,
    Query(query): Query<HashMap<String, String>>,
    headers: HeaderMap,
    Json(body): Json<Value>,
) -> Json<Value> {
    if query.get("key").map(String::as_str) != Some(WECOM_KEY) {
        return Json(
            json!({"errcode": 93000, "errmsg": "invalid webhook url, hint: [1700000000_1_abc]"}),
        );
    }
    if body["msgtype"] != "markdown" || !body["markdown"]["content"].is_string() {
        return Json(json!({"errcode": 40008, "errmsg": "invalid message type"}));
    }
    r.take("wecom", &headers, &body);
    Json(json!({"errcode": 0, "errmsg": "ok"}))
}

/// Slack: `{"text": …}`; `ok`, or 400 `invalid_payload`; an unknown hook is 404 `no_service`.
async fn slack(State(r): State<Received>, headers: HeaderMap, body: Bytes) -> Response {
    match serde_json::from_slice::<Value>(&body) {
        Ok(value) if value["text"].is_string() => {
            r.take("slack", &headers, &value);
            (StatusCode::OK, "ok").into_response()
        }
        _ => (StatusCode::BAD_REQUEST, "invalid_payload").into_response(),
    }
}

async fn no_service() -> Response {
    (StatusCode::NOT_FOUND, "no_service").into_response()
}

/// Starts every receiver on one port of 127.0.0.1; returns the base URL.
pub async fn start(received: Received) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    start_on(listener, received).await
}

/// Serves the receivers on `listener`.
pub async fn start_on(listener: tokio::net::TcpListener, received: Received) -> String {
    use axum::routing::post;
    let app = axum::Router::new()
        .route("/hook", post(webhook))
        .route("/robot/send", post(dingtalk))
        .route("/open-apis/bot/v2/hook/feishu-1", post(feishu))
        .route("/cgi-bin/webhook/send", post(wecom))
        .route("/services/T0/B0/XYZ", post(slack))
        .route("/services/gone", post(no_service))
        .with_state(received);
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    format!("http://{addr}")
}
