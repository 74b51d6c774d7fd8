//! The HTTPS probe against a real TLS server: rustls (ring) serving a certificate for
//! `svc.patchwarden.test` issued by a CA the test makes with rcgen, on a loopback port 0. The
//! probe connects by that name (to 127.0.0.1 through `connect_to`), so SNI, the certificate's
//! name and the `Host` header are all checked for real.

use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::sync::Arc;
use std::sync::mpsc;

use rcgen::{CertificateParams, IsCa, Issuer, KeyPair};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};

use super::*;
use crate::runner::LocalRunner;

const NAME: &str = "svc.patchwarden.test";

struct Pki {
    ca_pem: String,
    cert: CertificateDer<'static>,
    key: PrivateKeyDer<'static>,
}

fn pki(name: &str) -> Pki {
    let ca_key = KeyPair::generate().unwrap();
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "patchwarden test CA");
    let ca_cert = ca_params.self_signed(&ca_key).unwrap();
    let issuer = Issuer::new(ca_params, ca_key);
    let key = KeyPair::generate().unwrap();
    let cert = CertificateParams::new(vec![name.to_owned()])
        .unwrap()
        .signed_by(&key, &issuer)
        .unwrap();
    Pki {
        ca_pem: ca_cert.pem(),
        cert: cert.der().clone(),
        key: PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der())),
    }
}

/// What the server saw of one request: the SNI name and the `Host` header.
#[derive(Debug, PartialEq, Eq)]
struct Seen {
    sni: Option<String>,
    host: Option<String>,
    path: String,
}

/// Serves `connections` TLS connections: `/health` answers 200, anything else 503. A
/// handshake the client aborts (an untrusted certificate) is one connection too.
fn serve(pki: &Pki, connections: usize) -> (u16, mpsc::Receiver<Seen>) {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(vec![pki.cert.clone()], pki.key.clone_key())
        .unwrap();
    let config = Arc::new(config);
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for stream in listener.incoming().take(connections) {
            let Ok(stream) = stream else { continue };
            let connection = rustls::ServerConnection::new(config.clone()).unwrap();
            let mut tls = rustls::StreamOwned::new(connection, stream);
            let mut reader = BufReader::new(&mut tls);
            let mut request_line = String::new();
            if reader.read_line(&mut request_line).is_err() {
                continue; // the client refused our certificate
            }
            let mut host = None;
            loop {
                let mut line = String::new();
                if reader.read_line(&mut line).unwrap_or(0) == 0 || line.trim().is_empty() {
                    break;
                }
                if let Some((key, value)) = line.split_once(':')
                    && key.eq_ignore_ascii_case("host")
                {
                    host = Some(value.trim().to_owned());
                }
            }
            let path = request_line.split(' ').nth(1).unwrap_or("").to_owned();
            let status = if path == "/health" {
                "200 OK"
            } else {
                "503 Service Unavailable"
            };
            let sni = tls.conn.server_name().map(str::to_owned);
            let _ = write!(
                tls,
                "HTTP/1.1 {status}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
            );
            let _ = tls.flush();
            tls.conn.send_close_notify();
            let _ = tls.conn.complete_io(&mut tls.sock);
            let _ = tx.send(Seen { sni, host, path });
        }
    });
    (port, rx)
}

fn https(port: u16, path: &str, ca_file: Option<PathBuf>) -> Check {
    Check::Http(HttpCheck {
        url: format!("https://{NAME}:{port}{path}"),
        connect_to: Some("127.0.0.1".parse().unwrap()),
        ca_file,
        expect_status: 200,
        timeout: Duration::from_secs(5),
    })
}

#[test]
fn https_check_by_host_name_with_a_ca_file() {
    let pki = pki(NAME);
    let dir = tempfile::tempdir().unwrap();
    let ca_file = dir.path().join("ca.pem");
    std::fs::write(&ca_file, &pki.ca_pem).unwrap();
    let (port, seen) = serve(&pki, 2);

    let healthy = run_check(&LocalRunner, &https(port, "/health", Some(ca_file.clone())));
    assert_eq!(
        healthy,
        Verdict::Healthy(format!("GET https://{NAME}:{port}/health answered 200"))
    );
    assert_eq!(
        seen.recv().unwrap(),
        Seen {
            sni: Some(NAME.into()),
            host: Some(format!("{NAME}:{port}")),
            path: "/health".into(),
        }
    );
    let unhealthy = run_check(&LocalRunner, &https(port, "/ready", Some(ca_file)));
    assert_eq!(
        unhealthy,
        Verdict::Unhealthy(format!(
            "GET https://{NAME}:{port}/ready answered 503, expected 200"
        ))
    );
    assert_eq!(seen.recv().unwrap().path, "/ready");
}

#[test]
fn https_check_refuses_an_untrusted_or_misnamed_certificate() {
    let pki = pki(NAME);
    let dir = tempfile::tempdir().unwrap();
    let ca_file = dir.path().join("ca.pem");
    std::fs::write(&ca_file, &pki.ca_pem).unwrap();
    let other = pki_other_ca();
    let other_file = dir.path().join("other.pem");
    std::fs::write(&other_file, other).unwrap();
    let (port, _seen) = serve(&pki, 3);

    // Issued by a CA the check does not trust: the system roots do not know the test CA.
    let untrusted = run_check(&LocalRunner, &https(port, "/health", None));
    assert!(
        matches!(&untrusted, Verdict::Unhealthy(m) if m.contains("certificate")),
        "{untrusted:?}"
    );
    let wrong_ca = run_check(&LocalRunner, &https(port, "/health", Some(other_file)));
    assert!(wrong_ca.is_unhealthy(), "{wrong_ca:?}");
    // The right CA, but another name than the certificate's.
    let misnamed = Check::Http(HttpCheck {
        url: format!("https://other.patchwarden.test:{port}/health"),
        connect_to: Some("127.0.0.1".parse().unwrap()),
        ca_file: Some(ca_file),
        expect_status: 200,
        timeout: Duration::from_secs(5),
    });
    let misnamed = run_check(&LocalRunner, &misnamed);
    assert!(
        matches!(&misnamed, Verdict::Unhealthy(m) if m.contains("certificate")),
        "{misnamed:?}"
    );
}

#[test]
fn bad_http_check_settings_are_named() {
    let dir = tempfile::tempdir().unwrap();
    let empty = dir.path().join("empty.pem");
    std::fs::write(&empty, "not a certificate\n").unwrap();
    for (url, ca_file, expected) in [
        ("ftp://x/", None, "http:// or https://"),
        ("https://user:pw@x/", None, "credentials"),
        (
            "https://x/",
            Some(dir.path().join("missing.pem")),
            "reading the CA file",
        ),
        ("https://x/", Some(empty), "holds no PEM certificate"),
    ] {
        let check = Check::Http(HttpCheck {
            url: url.into(),
            connect_to: None,
            ca_file,
            expect_status: 200,
            timeout: Duration::from_secs(1),
        });
        let verdict = run_check(&LocalRunner, &check);
        assert!(
            matches!(&verdict, Verdict::Unhealthy(m) if m.contains(expected)),
            "{url}: {verdict:?}"
        );
    }
}

fn pki_other_ca() -> String {
    let key = KeyPair::generate().unwrap();
    let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
    params.is_ca = IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    params.self_signed(&key).unwrap().pem()
}
