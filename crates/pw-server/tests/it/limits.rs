//! Bounded inputs (issue 14.2): bodies capped per route and refused with 413 before they are
//! read, the transport checked before an enrollment body is read, a header-read timeout
//! (slowloris), a connection cap per peer, bounded metric labels. Raw sockets on loopback,
//! bounded in count and time.

use std::time::{Duration, Instant};

use rustls::pki_types::pem::PemObject;
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::support::TestController;

/// Reads until the peer closes or `within` passes; returns what came and whether it closed.
async fn read_until_closed(
    stream: &mut (impl tokio::io::AsyncRead + Unpin),
    within: Duration,
) -> (String, bool) {
    let deadline = tokio::time::Instant::now() + within;
    let mut seen = Vec::new();
    let mut buffer = [0u8; 4096];
    loop {
        match tokio::time::timeout_at(deadline, stream.read(&mut buffer)).await {
            Err(_) => return (String::from_utf8_lossy(&seen).into_owned(), false),
            Ok(Ok(0)) | Ok(Err(_)) => return (String::from_utf8_lossy(&seen).into_owned(), true),
            Ok(Ok(n)) => seen.extend_from_slice(&buffer[..n]),
        }
    }
}

/// Every connection is closed by the server within 4 s of `started` (a header-read timeout of
/// 1 s, with room for a loaded machine).
async fn all_closed_soon(streams: &mut [impl tokio::io::AsyncRead + Unpin], started: Instant) {
    for (i, stream) in streams.iter_mut().enumerate() {
        let (_, closed) = read_until_closed(stream, Duration::from_secs(5)).await;
        let elapsed = started.elapsed();
        assert!(closed, "connection {i} still open after {elapsed:?}");
    }
    let elapsed = started.elapsed();
    assert!(elapsed < Duration::from_secs(4), "{elapsed:?}");
}

/// Sends `head` (request line and headers, no body) and returns the answer's status line and
/// JSON body, read within `within` — the server must answer without the body.
async fn answer_to_head(tc: &TestController, head: &str, within: Duration) -> (String, Value) {
    let mut stream = TcpStream::connect(tc.controller.addr).await.unwrap();
    stream.write_all(head.as_bytes()).await.unwrap();
    let (text, _) = read_until_closed(&mut stream, within).await;
    let (head, body) = text
        .split_once("\r\n\r\n")
        .unwrap_or_else(|| panic!("no answer within {within:?}: {text:?}"));
    let status = head.lines().next().unwrap_or_default().to_owned();
    (status, serde_json::from_str(body).unwrap_or(Value::Null))
}

#[tokio::test]
async fn enroll_over_plain_http_is_refused_before_its_body_is_read() {
    let tc = TestController::start().await;
    // 10 MB announced, none sent: the refusal must not wait for (or read) the body.
    let head = "POST /api/v1/enroll HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n\
                Content-Length: 10000000\r\nConnection: close\r\n\r\n";
    let (status, body) = answer_to_head(&tc, head, Duration::from_secs(5)).await;
    assert!(status.contains(" 403 "), "{status}");
    assert_eq!(body["error"]["code"], "tls_required", "{body}");
    tc.controller.shutdown().await;
}

#[tokio::test]
async fn a_declared_body_over_the_route_cap_gets_413_without_being_read() {
    let tc = TestController::start().await;
    let token = &tc.admin_token;
    // 200 MB announced to an operator route (cap 1 MiB): 413 at once, nothing read.
    let head = format!(
        "POST /api/v1/rollouts HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {token}\r\n\
         Content-Type: application/json\r\nContent-Length: 200000000\r\nConnection: close\r\n\r\n"
    );
    let (status, body) = answer_to_head(&tc, &head, Duration::from_secs(5)).await;
    assert!(status.contains(" 413 "), "{status}");
    assert_eq!(body["error"]["code"], "body_too_large", "{body}");
    let message = body["error"]["message"].as_str().unwrap();
    assert!(message.contains("accepts at most 1048576"), "{message}");
    // Without a token nothing is read either: 401 first.
    let head = "POST /api/v1/rollouts HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n\
                Content-Length: 200000000\r\nConnection: close\r\n\r\n";
    let (status, body) = answer_to_head(&tc, head, Duration::from_secs(5)).await;
    assert!(status.contains(" 401 "), "{status}");
    assert_eq!(body["error"]["code"], "auth_required", "{body}");
    tc.controller.shutdown().await;
}

#[tokio::test]
async fn oversized_bodies_are_refused_with_413_and_json() {
    let tc = TestController::start().await;
    // Sent in full with a length: enrollment over TLS takes 64 KiB at most.
    let big = "x".repeat(100 * 1024);
    let body =
        serde_json::json!({"protocol_version": 1, "token": big, "csr_pem": "", "hostname": "h"});
    let answer = crate::support::tls_client(&tc.ca_pem(), None)
        .post(tc.https("/api/v1/enroll"))
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 413);
    let json: Value = answer.json().await.unwrap();
    assert_eq!(json["error"]["code"], "body_too_large", "{json}");

    // Chunked, no length: cut at the cap (1 MiB for an operator route) with 413.
    let token = &tc.admin_token;
    let mut stream = TcpStream::connect(tc.controller.addr).await.unwrap();
    let head = format!(
        "POST /api/v1/rollouts HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {token}\r\n\
         Content-Type: application/json\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    let chunk = vec![b' '; 256 * 1024];
    for _ in 0..5 {
        let size = format!("{:x}\r\n", chunk.len());
        if stream.write_all(size.as_bytes()).await.is_err()
            || stream.write_all(&chunk).await.is_err()
            || stream.write_all(b"\r\n").await.is_err()
        {
            break; // the server answered and closed: fine
        }
    }
    let _ = stream.write_all(b"0\r\n\r\n").await;
    let (text, _) = read_until_closed(&mut stream, Duration::from_secs(5)).await;
    assert!(text.starts_with("HTTP/1.1 413 "), "{text:.200}");
    assert!(text.contains("\"body_too_large\""), "{text:.400}");
    tc.controller.shutdown().await;
}

#[tokio::test]
async fn half_sent_requests_are_closed_after_the_header_read_timeout() {
    let tc = TestController::start_with(|s| s.header_read_timeout_secs = 1).await;
    let started = Instant::now();
    let mut slow = Vec::new();
    // Half a request line and headers (slowloris), nothing at all, half a TLS record.
    for opening in [
        &b"GET /api/v1/openapi.json HTTP/1.1\r\nHost: x\r\n"[..],
        &b""[..],
        &b"\x16\x03\x01"[..],
        // Half the HTTP/2 preface (prior knowledge, no TLS), and the whole of it then nothing.
        &b"PRI * HTTP/2.0\r\n"[..],
        &b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"[..],
    ] {
        let mut stream = TcpStream::connect(tc.controller.addr).await.unwrap();
        stream.write_all(opening).await.unwrap();
        slow.push(stream);
    }
    all_closed_soon(&mut slow, started).await;
    // A complete request on a new connection is still answered.
    let (status, _) = tc.get_json("/api/v1/openapi.json").await;
    assert_eq!(status, 200);
    tc.controller.shutdown().await;
}

/// Over TLS the client picks HTTP/2 by ALPN; a connection that then sends no request — nothing,
/// or half the HTTP/2 preface — is closed after the header-read timeout like an HTTP/1.1 one.
#[tokio::test]
async fn http2_connections_without_a_request_are_closed_after_the_header_read_timeout() {
    let tc = TestController::start_with(|s| s.header_read_timeout_secs = 1).await;
    let mut roots = rustls::RootCertStore::empty();
    let ca = rustls::pki_types::CertificateDer::from_pem_slice(tc.ca_pem().as_bytes()).unwrap();
    roots.add(ca).unwrap();
    let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.alpn_protocols = vec![b"h2".to_vec()];
    let connector = tokio_rustls::TlsConnector::from(std::sync::Arc::new(config));
    let started = Instant::now();
    let mut held = Vec::new();
    for opening in [&b""[..], &b"PRI * HTTP/2.0\r\n"[..]] {
        let tcp = TcpStream::connect(tc.controller.addr).await.unwrap();
        let name = rustls::pki_types::ServerName::try_from("127.0.0.1").unwrap();
        let mut tls = connector.connect(name, tcp).await.unwrap();
        assert_eq!(tls.get_ref().1.alpn_protocol(), Some(&b"h2"[..]));
        tls.write_all(opening).await.unwrap();
        tls.flush().await.unwrap();
        held.push(tls);
    }
    all_closed_soon(&mut held, started).await;
    // Both are counted by what they became (`/metrics` itself comes over plain HTTP).
    let (_, metrics) = tc.get_text("/metrics").await;
    assert_eq!(
        series(&metrics, "patchwarden_connections_total{outcome=\"h2\"}"),
        2.0
    );
    assert!(series(&metrics, "patchwarden_connections_total{outcome=\"plain\"}") >= 1.0);
    tc.controller.shutdown().await;
}

/// One series' value in a `/metrics` text (0 when absent).
pub(crate) fn series(metrics: &str, name: &str) -> f64 {
    (metrics.lines())
        .find_map(|l| l.strip_prefix(name)?.trim().parse().ok())
        .unwrap_or(0.0)
}

#[tokio::test]
async fn connections_per_peer_are_capped() {
    let tc = TestController::start_with(|s| s.max_connections_per_peer = 4).await;
    let mut held = Vec::new();
    for _ in 0..4 {
        held.push(TcpStream::connect(tc.controller.addr).await.unwrap());
    }
    // The fifth from the same address is closed at once.
    let mut fifth = TcpStream::connect(tc.controller.addr).await.unwrap();
    let (text, closed) = read_until_closed(&mut fifth, Duration::from_secs(3)).await;
    assert!(
        closed && text.is_empty(),
        "fifth connection served: {text:?}"
    );
    // Once one is given back, a request gets through again.
    drop(held.pop());
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let answer = reqwest::Client::new()
            .get(tc.http("/api/v1/openapi.json"))
            .send()
            .await;
        match answer {
            Ok(answer) if answer.status() == 200 => break,
            _ if Instant::now() < deadline => tokio::task::yield_now().await,
            other => panic!("no slot given back: {other:?}"),
        }
    }
    drop(held);
    let (_, metrics) = tc.get_text("/metrics").await;
    let refused = series(
        &metrics,
        "patchwarden_connections_total{outcome=\"refused\"}",
    );
    assert!(refused >= 1.0, "{metrics:.3000}");
    tc.controller.shutdown().await;
}

#[tokio::test]
async fn metrics_have_bounded_method_labels() {
    let tc = TestController::start().await;
    let client = reqwest::Client::new();
    for i in 0..20 {
        let method = reqwest::Method::from_bytes(format!("PROBE{i}XXXXXXXX").as_bytes()).unwrap();
        let answer = client
            .request(method, tc.http("/api/v1/hosts"))
            .send()
            .await
            .unwrap();
        assert_eq!(answer.status(), 405);
        let json: Value = answer.json().await.unwrap();
        assert_eq!(json["error"]["code"], "method_not_allowed", "{json}");
    }
    let (_, metrics) = tc.get_text("/metrics").await;
    assert!(!metrics.contains("PROBE"), "a method became a label value");
    assert!(metrics.contains("method=\"other\""), "{metrics:.2000}");
    tc.controller.shutdown().await;
}
