//! The controller's connections: one port, plain HTTP or TLS told apart by the first byte;
//! over TLS, HTTP/2 when the client asked for it by ALPN (agents: one connection carries the
//! long-poll, heartbeats and reports) and HTTP/1.1 otherwise; plain HTTP is HTTP/1.1 only. Each
//! client's hold on the listener is bounded: connections per address, the time to its first
//! byte, TLS and each request's headers (HTTP/1.1) or its first request (HTTP/2), streams per
//! HTTP/2 connection, and an HTTP/2 peer that stops answering pings is dropped.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::Context;
use axum::Router;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::{GracefulShutdown, Watcher};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio_rustls::TlsAcceptor;
use tower::ServiceExt;

use crate::ca::fingerprint;
use crate::metrics::Metrics;
use crate::tls::Transport;

/// Streams one HTTP/2 connection may have open at once: an agent needs three (a long-poll, a
/// heartbeat, a report), a browser a page's assets; hyper's default is 200.
const H2_MAX_STREAMS: u32 = 32;

/// An HTTP/2 peer is pinged after this long without traffic, and dropped when it does not
/// answer within [`H2_PING_TIMEOUT`] (an agent whose network vanished holds no socket).
const H2_PING_INTERVAL: Duration = Duration::from_secs(60);
const H2_PING_TIMEOUT: Duration = Duration::from_secs(20);

/// Connections the kernel holds for the accept loop. Rust's and tokio's `bind` listen with
/// 128: 10,000 agents connecting at once (their first requests after enrollment or a
/// controller restart) overflowed it for ~10 s while the controller's cores did TLS
/// handshakes, and the kernel dropped their SYNs and handshake ACKs (SYN retries of 1, 3, 7 s…;
/// ACKs it could not match to a SYN cookie were answered with a reset): agents saw their
/// connections reset or time out while the controller never saw them (issue 15). Linux caps
/// this at `net.core.somaxconn` (4,096 by default since 5.4), so the operator's setting
/// decides, as for Go's servers.
const LISTEN_BACKLOG: u32 = 65_535;

/// The controller's listening socket at `addr`, with [`LISTEN_BACKLOG`].
pub(crate) fn bind(addr: std::net::SocketAddr) -> std::io::Result<TcpListener> {
    let socket = match addr {
        std::net::SocketAddr::V4(_) => tokio::net::TcpSocket::new_v4()?,
        std::net::SocketAddr::V6(_) => tokio::net::TcpSocket::new_v6()?,
    };
    // As std's `bind` on Unix: a restarted controller may bind while old connections linger.
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    socket.listen(LISTEN_BACKLOG)
}

/// What one client may hold of the listener.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ConnectionLimits {
    /// Time to send the first byte, finish TLS, and send each request's headers (HTTP/2: its
    /// first request).
    pub(crate) header_read_timeout: Duration,
    /// Open connections per IP address.
    pub(crate) per_peer: usize,
}

/// Open connections per IP address; a [`PeerSlot`] gives its place back when dropped.
#[derive(Clone, Default)]
struct PeerCounts(Arc<Mutex<HashMap<IpAddr, usize>>>);

struct PeerSlot {
    counts: PeerCounts,
    ip: IpAddr,
}

impl PeerCounts {
    /// A slot for `ip`, or `None` when it already holds `limit` connections.
    fn take(&self, ip: IpAddr, limit: usize) -> Option<PeerSlot> {
        let mut counts = self.0.lock().unwrap_or_else(|e| e.into_inner());
        let open = counts.entry(ip).or_insert(0);
        if *open >= limit {
            return None;
        }
        *open += 1;
        Some(PeerSlot {
            counts: self.clone(),
            ip,
        })
    }
}

impl Drop for PeerSlot {
    fn drop(&mut self) {
        let mut counts = self.counts.0.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(open) = counts.get_mut(&self.ip) {
            *open -= 1;
            if *open == 0 {
                counts.remove(&self.ip);
            }
        }
    }
}

pub(crate) async fn accept_loop(
    listener: TcpListener,
    acceptor: TlsAcceptor,
    app: Router,
    limits: ConnectionLimits,
    metrics: Arc<Metrics>,
    mut shutdown: watch::Receiver<bool>,
) {
    let graceful = GracefulShutdown::new();
    let builders = Builders::new(limits.header_read_timeout);
    let peers = PeerCounts::default();
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(error) => {
                    tracing::warn!(error = %error, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            _ = shutdown.changed() => break,
        };
        let Some(slot) = peers.take(peer.ip(), limits.per_peer) else {
            tracing::warn!(%peer, limit = limits.per_peer, "too many connections from this address: closed");
            metrics.connection("refused");
            drop(stream);
            continue;
        };
        let acceptor = acceptor.clone();
        let app = app.clone();
        let builders = builders.clone();
        let watcher = graceful.watcher();
        let timeout = limits.header_read_timeout;
        let metrics = metrics.clone();
        tokio::spawn(async move {
            let served = serve(stream, acceptor, app, &builders, timeout, watcher, &metrics);
            if let Err(error) = served.await {
                tracing::debug!(%peer, error = format!("{error:#}"), "connection ended");
            }
            drop(slot);
        });
    }
    drop(listener);
    tracing::info!("shutting down: waiting for requests in flight");
    if tokio::time::timeout(Duration::from_secs(10), graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!("some connections did not finish within 10 s");
    }
}

/// The connection builders: HTTP/1.1 only, and HTTP/2 only (chosen by ALPN, never guessed
/// from the first bytes: a half-sent HTTP/2 preface would otherwise wait with no timeout).
#[derive(Clone)]
struct Builders {
    http1: auto::Builder<TokioExecutor>,
    http2: auto::Builder<TokioExecutor>,
}

impl Builders {
    fn new(header_read_timeout: Duration) -> Builders {
        let mut http1 = auto::Builder::new(TokioExecutor::new()).http1_only();
        http1
            .http1()
            .timer(TokioTimer::new())
            .header_read_timeout(header_read_timeout);
        let mut http2 = auto::Builder::new(TokioExecutor::new()).http2_only();
        http2
            .http2()
            .timer(TokioTimer::new())
            .max_concurrent_streams(H2_MAX_STREAMS)
            .keep_alive_interval(H2_PING_INTERVAL)
            .keep_alive_timeout(H2_PING_TIMEOUT);
        Builders { http1, http2 }
    }
}

async fn serve(
    stream: TcpStream,
    acceptor: TlsAcceptor,
    app: Router,
    builders: &Builders,
    timeout: Duration,
    watcher: Watcher,
    metrics: &Metrics,
) -> anyhow::Result<()> {
    let mut first = [0u8; 1];
    let n = tokio::time::timeout(timeout, stream.peek(&mut first))
        .await
        .context("no data")??;
    if n == 0 {
        return Ok(());
    }
    let asked = Arc::new(AtomicBool::new(false));
    // 0x16: a TLS handshake record.
    if first[0] != 0x16 {
        metrics.connection("plain");
        let service = service(app, Transport::Plain, asked);
        let connection = builders
            .http1
            .serve_connection(TokioIo::new(stream), service);
        return watcher
            .watch(connection.into_owned())
            .await
            .map_err(|e| anyhow::anyhow!(e));
    }
    let accepted = tokio::time::timeout(timeout, acceptor.accept(stream)).await;
    let tls = match accepted {
        Ok(Ok(tls)) => tls,
        Ok(Err(error)) => {
            metrics.connection("failed");
            return Err(anyhow::Error::new(error).context("TLS handshake failed"));
        }
        Err(elapsed) => {
            metrics.connection("failed");
            return Err(anyhow::Error::new(elapsed).context("TLS handshake timed out"));
        }
    };
    let session = &tls.get_ref().1;
    let client_cert_sha256 = (session.peer_certificates())
        .and_then(|certs| certs.first())
        .map(|cert| fingerprint(cert));
    let http2 = session.alpn_protocol() == Some(b"h2");
    metrics.connection(if http2 { "h2" } else { "http1" });
    let service = service(app, Transport::Tls { client_cert_sha256 }, asked.clone());
    if !http2 {
        let connection = builders.http1.serve_connection(TokioIo::new(tls), service);
        return watcher
            .watch(connection.into_owned())
            .await
            .map_err(|e| anyhow::anyhow!(e));
    }
    let connection = builders.http2.serve_connection(TokioIo::new(tls), service);
    let connection = watcher.watch(connection.into_owned());
    tokio::pin!(connection);
    if let Some(ended) = first_request(connection.as_mut(), &asked, timeout).await? {
        return ended.map_err(|e| anyhow::anyhow!(e));
    }
    connection.await.map_err(|e| anyhow::anyhow!(e))
}

/// HTTP/2 has no header-read timeout: a connection without a request after `timeout` is closed
/// (an error). `Some` when the connection ended before; `None` when it goes on. The connection
/// is polled before the deadline is looked at: a controller whose task comes round late (10,000
/// agents' TLS handshakes on its cores) reads the request that arrived meanwhile first; picked
/// at random, the elapsed deadline closed ~470 of 10,000 agents' first connections with their
/// first heartbeat unread (issue 15).
async fn first_request<C: std::future::Future + Unpin>(
    connection: C,
    asked: &AtomicBool,
    timeout: Duration,
) -> anyhow::Result<Option<C::Output>> {
    tokio::select! {
        biased;
        ended = connection => return Ok(Some(ended)),
        () = tokio::time::sleep(timeout) => {}
    }
    anyhow::ensure!(
        asked.load(Ordering::Relaxed),
        "no HTTP/2 request within {timeout:?}: closed"
    );
    Ok(None)
}

/// The router as a hyper service: every request carries how it arrived, and marks `asked`.
fn service(
    app: Router,
    transport: Transport,
    asked: Arc<AtomicBool>,
) -> hyper_util::service::TowerToHyperService<
    impl tower::Service<
        hyper::Request<hyper::body::Incoming>,
        Response = axum::response::Response,
        Error = std::convert::Infallible,
        Future = impl Send,
    > + Clone,
> {
    let service = tower::service_fn(move |mut request: hyper::Request<hyper::body::Incoming>| {
        asked.store(true, Ordering::Relaxed);
        request.extensions_mut().insert(transport.clone());
        app.clone().oneshot(request.map(axum::body::Body::new))
    });
    hyper_util::service::TowerToHyperService::new(service)
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    /// Connections no one has accepted yet complete their TCP handshake while the listen queue
    /// has room: 400 at once, where Rust's default queue (128) drops the SYNs past its 129th
    /// (their retry comes a second later).
    #[tokio::test]
    async fn connections_arriving_together_wait_in_the_listen_queue() {
        let listener = super::bind("127.0.0.1:0".parse().unwrap()).unwrap();
        let addr = listener.local_addr().unwrap();
        let room: usize = std::fs::read_to_string("/proc/sys/net/core/somaxconn")
            .ok()
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or(4096);
        let want = room.min(400);
        let mut connects = tokio::task::JoinSet::new();
        for _ in 0..want {
            connects.spawn(tokio::time::timeout(
                Duration::from_millis(700),
                tokio::net::TcpStream::connect(addr),
            ));
        }
        let mut streams = Vec::new();
        while let Some(connected) = connects.join_next().await {
            if let Ok(Ok(stream)) = connected.unwrap() {
                streams.push(stream);
            }
        }
        assert_eq!(streams.len(), want, "connections in the queue");
        drop(listener);
    }

    /// A connection whose task comes round only after its first-request deadline (the thread
    /// busy meanwhile) reads the request that arrived before the deadline is looked at.
    #[tokio::test]
    async fn a_request_that_arrived_while_the_controller_was_busy_is_read_first() {
        use std::sync::atomic::{AtomicBool, Ordering};
        use std::task::Poll;
        for _ in 0..32 {
            let asked = AtomicBool::new(false);
            let mut polls = 0;
            // Its first poll keeps the thread past the deadline; the next reads the request.
            let connection = std::future::poll_fn(|cx| {
                polls += 1;
                match polls {
                    1 => {
                        std::thread::sleep(Duration::from_millis(30));
                        cx.waker().wake_by_ref();
                    }
                    _ => asked.store(true, Ordering::Relaxed),
                }
                Poll::<()>::Pending
            });
            let timeout = Duration::from_millis(10);
            let outcome = super::first_request(std::pin::pin!(connection), &asked, timeout).await;
            assert!(matches!(outcome, Ok(None)), "{outcome:?}");
        }
    }
}
