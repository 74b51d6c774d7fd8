//! Requests their agent abandons before the body is sent (its connection dropped, a timeout, a
//! stopped load generator).

use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use hyper::body::{Bytes, Frame};
use pw_testkit::poll::wait_until;

use crate::limits::series;
use crate::support::{TestController, enrolled};

/// A body that sends its first bytes and then nothing more.
struct Stalled(Option<Bytes>);

impl hyper::body::Body for Stalled {
    type Data = Bytes;
    type Error = std::io::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        _: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, std::io::Error>>> {
        match self.0.take() {
            Some(first) => Poll::Ready(Some(Ok(Frame::data(first)))),
            None => Poll::Pending,
        }
    }
}

/// An agent's heartbeat abandoned after the first bytes of its body (its request reset: a
/// stopped load generator, a timeout, a dropped connection) is counted as 499
/// `body_not_received`, not as a 400 for what it said (issue 15: 11 of 304,220 heartbeats at
/// 10,000 agents); a whole heartbeat on the same connection is answered 200.
#[tokio::test]
async fn a_heartbeat_abandoned_mid_body_is_not_counted_as_a_bad_request() {
    let tc = TestController::start().await;
    let (_, agent) = enrolled(&tc, "web-1").await;
    let body = Stalled(Some(Bytes::from_static(b"{\"protocol_version\": 1,")));
    let sent = agent
        .post(tc.https("/api/v1/agent/heartbeat"))
        .header("content-type", "application/json")
        .body(reqwest::Body::wrap(body))
        .send();
    let abandoned = tokio::time::timeout(Duration::from_millis(500), sent).await;
    assert!(abandoned.is_err(), "the stalled heartbeat was answered");
    let beat = serde_json::json!({
        "protocol_version": 1, "agent_version": "1.0", "read_only": false,
        "plan_changes": false, "sent_at": "2026-12-05T00:00:00Z",
    });
    assert_eq!(tc.agent_post(&agent, "heartbeat", &beat).await, 200);
    let route = r#"method="POST",route="/api/v1/agent/heartbeat""#;
    let counted = |metrics: &str, status: &str| {
        series(
            metrics,
            &format!("patchwarden_http_requests_total{{{route},status=\"{status}\"}}"),
        )
    };
    let (limit, every) = (Duration::from_secs(10), Duration::from_millis(50));
    let metrics = wait_until(
        "the abandoned heartbeat counted",
        limit,
        every,
        async || {
            let (_, metrics) = tc.get_text("/metrics").await;
            match counted(&metrics, "499") + counted(&metrics, "400") {
                0.0 => Err("not yet"),
                _ => Ok(metrics),
            }
        },
    )
    .await;
    assert_eq!(counted(&metrics, "499"), 1.0, "abandoned");
    assert_eq!(counted(&metrics, "400"), 0.0, "refused for what it said");
    assert_eq!(counted(&metrics, "200"), 1.0, "whole");
    tc.controller.shutdown().await;
}
