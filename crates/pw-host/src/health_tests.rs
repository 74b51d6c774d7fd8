//! Health checks against this machine: real commands, a temporary log file, a TCP/HTTP server
//! on a loopback port 0 started by the test, and a real TLS server (rustls) with a certificate
//! for a host name issued by a CA the test makes (rcgen).

use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;

use super::*;
use crate::runner::LocalRunner;

#[test]
fn command_check() {
    let ok = run_check(
        &LocalRunner,
        &Check::Command(Invocation::new("true", ["x"])),
    );
    assert!(ok.is_healthy(), "{ok:?}");
    let failed = run_check(
        &LocalRunner,
        &Check::Command(Invocation::new("false", ["x"])),
    );
    assert!(failed.is_unhealthy(), "{failed:?}");
    let missing = run_check(
        &LocalRunner,
        &Check::Command(Invocation::new("pw-no-such-check", ["x"])),
    );
    assert!(missing.is_unhealthy(), "{missing:?}");
}

#[test]
fn tcp_and_http_checks() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let server = std::thread::spawn(move || {
        // Exactly three connections: the TCP probe, then two HTTP requests.
        for (index, stream) in listener.incoming().take(3).enumerate() {
            let mut stream = stream.unwrap();
            if index == 0 {
                continue;
            }
            let mut request = String::new();
            BufReader::new(&stream).read_line(&mut request).unwrap();
            let status = if request.starts_with("GET /health ") {
                "200 OK"
            } else {
                "500 Internal Server Error"
            };
            write!(stream, "HTTP/1.1 {status}\r\nContent-Length: 0\r\n\r\n").unwrap();
        }
    });
    let timeout = Duration::from_secs(5);
    assert!(run_check(&LocalRunner, &Check::TcpPort { addr, timeout }).is_healthy());
    let http = |path: &str| HttpCheck::plain(addr, path, 200, timeout);
    let healthy = run_check(&LocalRunner, &Check::Http(http("/health")));
    assert!(healthy.is_healthy(), "{healthy:?}");
    let unhealthy = run_check(&LocalRunner, &Check::Http(http("/other")));
    assert_eq!(
        unhealthy,
        Verdict::Unhealthy(format!(
            "GET http://{addr}/other answered 500, expected 200"
        ))
    );
    server.join().unwrap();
    // A port bound but not listening refuses connections, and stays ours while the probe runs
    // (a closed listener's port could be taken by another test meanwhile).
    let closed = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
    closed
        .bind(&std::net::SocketAddr::from(([127, 0, 0, 1], 0)).into())
        .unwrap();
    let closed_addr = closed.local_addr().unwrap().as_socket().unwrap();
    let refused = run_check(
        &LocalRunner,
        &Check::TcpPort {
            addr: closed_addr,
            timeout,
        },
    );
    assert!(refused.is_unhealthy(), "{refused:?}");
    drop(closed);
    let bad_path = run_check(&LocalRunner, &Check::Http(http("/a b\r\nX: y")));
    assert!(matches!(bad_path, Verdict::Unhealthy(m) if m.starts_with("invalid HTTP URL")));
}

#[test]
fn systemd_unit_check_is_safe_everywhere() {
    let verdict = run_check(&LocalRunner, &Check::SystemdUnit("-x;y".into()));
    assert!(matches!(verdict, Verdict::Unhealthy(m) if m.starts_with("invalid systemd unit")));
    let systemd = std::path::Path::new("/run/systemd/system").is_dir();
    let verdict = run_check(
        &LocalRunner,
        &Check::SystemdUnit("pw-no-such-unit.service".into()),
    );
    if systemd {
        assert!(verdict.is_unhealthy(), "{verdict:?}");
    } else {
        assert!(matches!(verdict, Verdict::NotApplicable(_)), "{verdict:?}");
    }
}

#[test]
fn wait_healthy_is_bounded() {
    let started = Instant::now();
    let verdict = wait_healthy(
        &LocalRunner,
        &Check::Command(Invocation::new("false", ["x"])),
        Duration::from_millis(300),
        Duration::from_millis(100),
    );
    assert!(verdict.is_unhealthy());
    assert!(started.elapsed() < Duration::from_secs(2));
}
