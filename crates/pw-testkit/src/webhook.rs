//! A real webhook receiver on 127.0.0.1 for the notification tests: it keeps every request's
//! headers and body, answers with the status the test sets, and [`signed`] checks the generic
//! webhook's signature from its definition (`sha256=` + hex HMAC-SHA256(secret, raw body)),
//! not through the sender's code.

use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use hmac::{Hmac, Mac};
use sha2::Sha256;

/// What the receiver got, and how it answers. Clones share both.
#[derive(Clone)]
pub struct Receiver {
    /// Each request's headers and body, in arrival order.
    pub requests: Arc<Mutex<Vec<(HeaderMap, Bytes)>>>,
    /// The status it answers with (200 unless the test sets another).
    pub status: Arc<Mutex<u16>>,
}

impl Default for Receiver {
    fn default() -> Receiver {
        Receiver {
            requests: Arc::default(),
            status: Arc::new(Mutex::new(200)),
        }
    }
}

impl Receiver {
    /// Answer every further request with `status` (500: the receiver is down).
    pub fn answer(&self, status: u16) {
        *self.status.lock().unwrap() = status;
    }

    /// The requests so far.
    pub fn received(&self) -> Vec<(HeaderMap, Bytes)> {
        self.requests.lock().unwrap().clone()
    }

    /// Serves `POST /hook` on 127.0.0.1 (a free port) until the runtime ends; returns its URL.
    pub async fn start(&self) -> String {
        let app = axum::Router::new()
            .route("/hook", axum::routing::post(receive))
            .with_state(self.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        format!("http://{addr}/hook")
    }
}

async fn receive(
    State(receiver): State<Receiver>,
    headers: HeaderMap,
    body: Bytes,
) -> (StatusCode, &'static str) {
    receiver.requests.lock().unwrap().push((headers, body));
    let status = *receiver.status.lock().unwrap();
    let text = if status == 200 {
        "ok"
    } else {
        "boom: receiver is down"
    };
    (StatusCode::from_u16(status).unwrap(), text)
}

/// `HMAC-SHA256(key, message)`.
pub fn hmac_sha256(key: &[u8], message: &[u8]) -> Vec<u8> {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).unwrap();
    mac.update(message);
    mac.finalize().into_bytes().to_vec()
}

/// Whether `headers` carry the generic webhook's signature of `body` under `secret`.
pub fn signed(secret: &str, headers: &HeaderMap, body: &[u8]) -> bool {
    let want = format!(
        "sha256={}",
        hex::encode(hmac_sha256(secret.as_bytes(), body))
    );
    headers
        .get("x-patchwarden-signature")
        .is_some_and(|v| v.as_bytes() == want.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_signature_rule_is_checked_from_its_definition() {
        // RFC 4231 test case 2: HMAC-SHA256("Jefe", "what do ya want for nothing?").
        let mac = hmac_sha256(b"Jefe", b"what do ya want for nothing?");
        assert_eq!(
            hex::encode(&mac),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
        let mut headers = HeaderMap::new();
        let value = format!("sha256={}", hex::encode(&mac));
        headers.insert("x-patchwarden-signature", value.parse().unwrap());
        assert!(signed("Jefe", &headers, b"what do ya want for nothing?"));
        assert!(!signed("Jefe", &headers, b"what do ya want for nothing!"));
        assert!(!signed("jefe", &headers, b"what do ya want for nothing?"));
    }
}
