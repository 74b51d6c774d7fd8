//! An agent's side of enrollment, as a fake agent in a test speaks it: a fresh key, a CSR, the
//! single-use token over TLS to the controller's CA, and the mutual-TLS client it then uses.

use serde_json::Value;

use crate::http::tls_client;

/// A fresh key and its certificate signing request: (key PEM, CSR PEM).
pub fn key_and_csr() -> (String, String) {
    let key = rcgen::KeyPair::generate().unwrap();
    let csr = rcgen::CertificateParams::default()
        .serialize_request(&key)
        .unwrap()
        .pem()
        .unwrap();
    (key.serialize_pem(), csr)
}

/// `POST {https_base}/api/v1/enroll` with `token` as `hostname`, trusting `ca_pem`:
/// (status, body, the key PEM the certificate is for).
pub async fn enroll(
    https_base: &str,
    ca_pem: &str,
    token: &str,
    hostname: &str,
) -> (u16, Value, String) {
    let (key, csr) = key_and_csr();
    let body = serde_json::json!({
        "protocol_version": 1, "token": token, "csr_pem": csr, "hostname": hostname,
    });
    let answer = tls_client(ca_pem, None)
        .post(format!("{https_base}/api/v1/enroll"))
        .json(&body)
        .send()
        .await
        .unwrap();
    let status = answer.status().as_u16();
    (status, answer.json().await.unwrap(), key)
}

/// The mutual-TLS client of an agent enrolled with `enrolled` (the enroll answer) and `key`.
pub fn agent_client(ca_pem: &str, enrolled: &Value, key: &str) -> reqwest::Client {
    let cert = enrolled["certificate_pem"]
        .as_str()
        .unwrap_or_else(|| panic!("not an enrollment: {enrolled}"));
    tls_client(ca_pem, Some((cert, key)))
}
