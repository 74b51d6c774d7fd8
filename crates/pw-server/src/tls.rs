//! The controller's start: its data directory, database, CA and TLS settings (HTTP/2 and
//! HTTP/1.1 offered by ALPN), the open-file limit, and the accept loop of `listener.rs`
//! (tokio-rustls → hyper-util → axum, the peer certificate's fingerprint handed to handlers,
//! graceful shutdown).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::WebPkiClientVerifier;
use tokio::sync::watch;
use tokio_rustls::TlsAcceptor;

use crate::ca::Ca;
use crate::settings::ServerSettings;
use crate::state::AppState;

/// How the request arrived; inserted into every request's extensions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Transport {
    Plain,
    Tls {
        /// SHA-256 (hex) of the client certificate, which rustls already verified against the
        /// controller CA.
        client_cert_sha256: Option<String>,
    },
}

/// A running controller.
pub struct Controller {
    /// The bound address (the real port when 0 was asked for).
    pub addr: SocketAddr,
    pub state: AppState,
    shutdown: watch::Sender<bool>,
    task: tokio::task::JoinHandle<()>,
    checkpoints: tokio::task::JoinHandle<()>,
    heartbeats: tokio::task::JoinHandle<()>,
}

impl Controller {
    /// The page's URL (plain HTTP).
    pub fn url(&self) -> String {
        format!("http://{}/", display_addr(self.addr))
    }

    /// The URL agents use (TLS), on loopback when the controller listens on every address.
    pub fn agent_url(&self) -> String {
        format!("https://{}", display_addr(self.addr))
    }

    /// Stops accepting, lets requests in flight finish (at most 10 s), and returns.
    pub async fn shutdown(self) {
        let _ = self.shutdown.send(true);
        let _ = self.task.await;
        let _ = self.checkpoints.await;
        let _ = self.heartbeats.await;
        self.state.store.clone().close().await;
    }
}

fn display_addr(addr: SocketAddr) -> String {
    let ip = match addr.ip() {
        ip if ip.is_unspecified() => "127.0.0.1".parse().expect("literal address"),
        ip => ip,
    };
    SocketAddr::new(ip, addr.port()).to_string()
}

/// Open files the controller asks for.
const OPEN_FILES: u64 = 65_536;

/// Every agent holds one connection (HTTP/2 carries its long-poll, heartbeats and reports;
/// agents built before HTTP/2 speak HTTP/1.1 and open a second one while they report): raise the
/// open-file limit to [`OPEN_FILES`] (root may raise the hard limit; anyone else gets the soft
/// limit raised to the hard one) and say how many agents that allows (docs/server.md).
fn raise_open_files() {
    let raised = match rlimit::getrlimit(rlimit::Resource::NOFILE) {
        Ok((soft, hard)) if soft < OPEN_FILES => {
            rlimit::setrlimit(rlimit::Resource::NOFILE, OPEN_FILES, hard.max(OPEN_FILES))
                .map(|()| OPEN_FILES)
                .or_else(|_| rlimit::increase_nofile_limit(u64::MAX))
        }
        Ok((soft, _)) => Ok(soft),
        Err(error) => Err(error),
    };
    match raised {
        Ok(limit) => tracing::info!(
            open_files = limit,
            agents = limit.saturating_sub(256),
            "open-file limit raised (agents: connected at once over HTTP/2, one socket each)"
        ),
        Err(error) => tracing::warn!(%error, "cannot raise the open-file limit"),
    }
}

/// Opens the database (`settings.database`) and the CA in the data directory, binds, and serves
/// until shut down.
pub async fn start(settings: &ServerSettings) -> anyhow::Result<Controller> {
    start_with_clock(settings, Arc::new(pw_controller::SystemClock)).await
}

/// [`start`] with the use-cases (scheduler passes, scans, deadlines) reading `clock`: tests give
/// one they move instead of sleeping. The HTTP layer's own times (sessions, login tickets,
/// enrollment) stay on the machine's clock.
pub async fn start_with_clock(
    settings: &ServerSettings,
    clock: Arc<dyn pw_controller::Clock>,
) -> anyhow::Result<Controller> {
    pw_store::create_private_dir(&settings.data_dir)?;
    let store = pw_store::Store::connect(&settings.database).await?;
    let secrets = crate::secrets::load(&store, settings).await?;
    let ca = Arc::new(secrets.ca);
    let audit_key = pw_store::AuditKey::load_or_create(&settings.data_dir.join("audit.key"))?;
    warn_when_not_private(&settings.data_dir);
    raise_open_files();
    let listener = crate::listener::bind(settings.listen)
        .with_context(|| format!("cannot listen on {}", settings.listen))?;
    let addr = listener.local_addr()?;
    let acceptor = tls_acceptor(&ca, &server_names(settings, addr))?;
    let (shutdown, shutdown_rx) = watch::channel(false);
    let mut shared = crate::state::Shared::new(
        store,
        clock,
        ca,
        shutdown_rx.clone(),
        Duration::from_secs(settings.max_poll_wait_secs),
    )?;
    shared.login_csrf = Arc::new(secrets.login_csrf);
    shared.heartbeats = Arc::new(crate::heartbeats::Heartbeats::load(&shared.store).await?);
    let identities =
        crate::identities::Identities::load(&shared.store, std::time::Instant::now()).await?;
    shared.identities = Arc::new(identities);
    shared.controller = shared
        .controller
        .clone()
        .with_notifications(notify_settings(settings, addr)?);
    let state = AppState::from(shared);
    let app = crate::routes::app(state.clone());
    tokio::spawn(pw_controller::scheduler::run(
        state.controller.clone(),
        shutdown_rx.clone(),
    ));
    let heartbeats = tokio::spawn({
        let (beats, store) = (state.heartbeats.clone(), state.store.clone());
        let shutdown = shutdown_rx.clone();
        async move { beats.run(store, shutdown).await }
    });
    tokio::spawn(pw_controller::wakeups::relay(
        state.controller.clone(),
        shutdown_rx.clone(),
    ));
    tokio::spawn(pw_controller::notify::dispatch::run(
        state.controller.clone(),
        shutdown_rx.clone(),
    ));
    // Deadlines near or past and silent agents, every minute (several controllers on one
    // database announce the same event ids, which the outbox keeps once).
    tokio::spawn(pw_controller::notify::watch::run(
        state.controller.clone(),
        shutdown_rx.clone(),
    ));
    let limits = crate::listener::ConnectionLimits {
        header_read_timeout: Duration::from_secs(settings.header_read_timeout_secs),
        per_peer: settings.max_connections_per_peer,
    };
    let task = tokio::spawn(crate::listener::accept_loop(
        listener,
        acceptor,
        app,
        limits,
        state.metrics.clone(),
        shutdown_rx.clone(),
    ));
    let checkpoints = tokio::spawn(audit_checkpoints(
        state.store.clone(),
        audit_key,
        settings.data_dir.join("audit.checkpoints"),
        shutdown_rx.clone(),
    ));
    tracing::info!(%addr, "controller listening");
    Ok(Controller {
        addr,
        state,
        shutdown,
        task,
        checkpoints,
        heartbeats,
    })
}

/// How the controller notifies: console links to `public_url` (else the listen address), the
/// retry schedule, and the extra SMTP CA.
fn notify_settings(
    settings: &ServerSettings,
    addr: SocketAddr,
) -> anyhow::Result<pw_controller::notify::NotifySettings> {
    let console_url = settings
        .public_url
        .clone()
        .unwrap_or_else(|| format!("http://{}", display_addr(addr)));
    let retry = pw_notify::RetryPolicy {
        base: jiff::SignedDuration::from_secs(settings.notify_retry_base_secs as i64),
        ..Default::default()
    };
    let roots = match &settings.notify_ca_file {
        Some(path) => Some(
            std::fs::read(path)
                .with_context(|| format!("cannot read notify_ca_file {}", path.display()))?,
        ),
        None => None,
    };
    Ok(pw_controller::notify::NotifySettings::new(
        console_url,
        retry,
        pw_controller::notify::Sender::new(roots),
    ))
}

/// How often the audit log's head is anchored outside the database while it grows.
const AUDIT_CHECKPOINT_EVERY: Duration = Duration::from_secs(10);

/// Appends a signed checkpoint of the audit log's head to `file` (and the log) every
/// [`AUDIT_CHECKPOINT_EVERY`] when it grew, and once more at shutdown (pw_store::audit_anchor).
async fn audit_checkpoints(
    store: pw_store::Store,
    key: pw_store::AuditKey,
    file: std::path::PathBuf,
    mut shutdown: watch::Receiver<bool>,
) {
    loop {
        let stopping = tokio::select! {
            _ = tokio::time::sleep(AUDIT_CHECKPOINT_EVERY) => false,
            _ = shutdown.changed() => true,
        };
        match store.write_checkpoint(&key, &file).await {
            Ok(Some(c)) => {
                tracing::info!(seq = c.seq, hash = %c.hash, mac = %c.mac, at = %c.at, "audit checkpoint")
            }
            Ok(None) => {}
            Err(error) => tracing::error!(error = format!("{error:#}"), "audit checkpoint failed"),
        }
        if stopping || *shutdown.borrow() {
            return;
        }
    }
}

/// Logs a warning for each file of the data directory that group or others may open.
fn warn_when_not_private(data_dir: &std::path::Path) {
    let paths = [
        data_dir.to_owned(),
        data_dir.join("patchwarden.db"),
        data_dir.join("patchwarden.db-wal"),
        data_dir.join("ca"),
        data_dir.join("ca").join("ca.key"),
        data_dir.join("admin.token"),
        data_dir.join("audit.key"),
    ];
    for path in paths {
        if let Some(mode) = pw_store::wider_than_private(&path) {
            let want = if path.is_dir() { "700" } else { "600" };
            tracing::warn!(
                path = %path.display(),
                mode = format!("{mode:o}"),
                "{} is open to other users (mode {mode:o}); run: chmod {want} {}",
                path.display(),
                path.display()
            );
        }
    }
}

fn server_names(settings: &ServerSettings, addr: SocketAddr) -> Vec<String> {
    let mut names = vec![
        "localhost".to_owned(),
        "127.0.0.1".to_owned(),
        "::1".to_owned(),
    ];
    if !addr.ip().is_unspecified() {
        names.push(addr.ip().to_string());
    }
    if let Ok(hostname) = std::fs::read_to_string("/proc/sys/kernel/hostname") {
        names.push(hostname.trim().to_owned());
    }
    names.extend(settings.server_names.iter().cloned());
    names.retain(|n| !n.is_empty());
    names.sort();
    names.dedup();
    names
}

/// TLS with an optional client certificate: when one is presented it must chain to the CA,
/// or the handshake fails.
fn tls_acceptor(ca: &Ca, names: &[String]) -> anyhow::Result<TlsAcceptor> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let issued = ca.issue_server(names)?;
    let certs = CertificateDer::pem_slice_iter(issued.cert_pem.as_bytes())
        .collect::<Result<Vec<_>, _>>()
        .context("reading the server certificate")?;
    let key = PrivateKeyDer::from_pem_slice(issued.key_pem.as_bytes())
        .context("reading the server key")?;
    let mut roots = rustls::RootCertStore::empty();
    roots
        .add(CertificateDer::from_pem_slice(ca.cert_pem().as_bytes()).context("reading the CA")?)
        .context("trusting the CA")?;
    let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider.clone())
        .allow_unauthenticated()
        .build()
        .context("building the client certificate verifier")?;
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .context("choosing TLS versions")?
        .with_client_cert_verifier(verifier)
        .with_single_cert(certs, key)
        .context("loading the server certificate")?;
    // HTTP/2 first: an agent's long-poll, heartbeats and reports share one connection (one
    // socket per agent instead of two while it reports); HTTP/1.1 for older agents and tools.
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(TlsAcceptor::from(Arc::new(config)))
}
