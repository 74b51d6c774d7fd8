//! The agent's identity in its data directory: `agent.key` (0600), `agent.crt`, `ca.pem` and
//! `identity.json`. Created once by enrollment, then only read.

use std::io::Write;
use std::path::Path;

use anyhow::Context;
use pw_protocol::{EnrollRequest, EnrollResponse, PROTOCOL_VERSION};

use crate::client;

/// What enrollment left in the data directory. `Debug` never shows the key.
pub struct Identity {
    pub host_id: String,
    pub cert_pem: String,
    pub key_pem: String,
    pub ca_pem: String,
}

impl std::fmt::Debug for Identity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Identity")
            .field("host_id", &self.host_id)
            .field("key_pem", &"<redacted>")
            .finish_non_exhaustive()
    }
}

#[derive(serde::Serialize, serde::Deserialize)]
struct IdentityFile {
    host_id: String,
    /// The controller enrollment went through.
    server: String,
    /// Every controller the agent was given at enrollment (replicas), in order.
    #[serde(default)]
    servers: Vec<String>,
}

/// The controllers stored at enrollment in `dir` (empty when the agent has not enrolled; the
/// one it enrolled with when it enrolled before lists were stored).
pub fn stored_servers(dir: &Path) -> anyhow::Result<Vec<String>> {
    let file = dir.join("identity.json");
    if !file.exists() {
        return Ok(vec![]);
    }
    let text = std::fs::read_to_string(&file)
        .with_context(|| format!("cannot read {}", file.display()))?;
    let meta: IdentityFile =
        serde_json::from_str(&text).with_context(|| format!("{} is damaged", file.display()))?;
    Ok(match meta.servers.is_empty() {
        true => vec![meta.server],
        false => meta.servers,
    })
}

/// The identity stored in `dir`, if the agent enrolled before.
pub fn load_identity(dir: &Path) -> anyhow::Result<Option<Identity>> {
    let file = dir.join("identity.json");
    if !file.exists() {
        return Ok(None);
    }
    let read = |name: &str| {
        std::fs::read_to_string(dir.join(name))
            .with_context(|| format!("cannot read {}", dir.join(name).display()))
    };
    let meta: IdentityFile = serde_json::from_str(&read("identity.json")?)
        .with_context(|| format!("{} is damaged", file.display()))?;
    Ok(Some(Identity {
        host_id: meta.host_id,
        cert_pem: read("agent.crt")?,
        key_pem: read("agent.key")?,
        ca_pem: read("ca.pem")?,
    }))
}

/// The files of an identity in the agent's data directory; `identity.json` is written last, so
/// an identity is there only when all of them are.
const FILES: [&str; 4] = ["agent.key", "agent.crt", "ca.pem", "identity.json"];

/// Enrolls this machine under its host name: a fresh key and CSR, the token, and the CA the
/// operator gave us to trust, with the first of `servers` (replicas) that answers; the identity
/// and every server are then written to `dir`. The agent's first start and `patchwarden agent
/// install` both come here.
pub async fn enroll_this_host(
    dir: &Path,
    servers: &[String],
    token: &str,
    ca_pem: &str,
) -> anyhow::Result<Identity> {
    let hostname = tokio::task::spawn_blocking(crate::report::hostname).await?;
    let mut failures = Vec::new();
    for server in servers {
        match enroll_in_memory(server, token, ca_pem, &hostname).await {
            Ok(identity) => {
                save_identity(dir, server, servers, &identity)?;
                tracing::info!(host_id = %identity.host_id, %server, "enrolled");
                return Ok(identity);
            }
            Err(error) => failures.push(format!("{error:#}")),
        }
    }
    anyhow::bail!("enrollment failed: {}", failures.join("; "))
}

/// Writes `identity`, enrolled through `server`, with every controller it may use, to `dir`
/// (created 0700 when missing; every file 0600, `identity.json` last).
pub fn save_identity(
    dir: &Path,
    server: &str,
    servers: &[String],
    identity: &Identity,
) -> anyhow::Result<()> {
    {
        use std::os::unix::fs::DirBuilderExt;
        // Only this user: the agent's key lives here.
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .with_context(|| format!("creating the agent data directory {}", dir.display()))?;
    }
    let meta = IdentityFile {
        host_id: identity.host_id.clone(),
        server: server.to_owned(),
        servers: servers.to_vec(),
    };
    let contents = [
        identity.key_pem.as_bytes().to_vec(),
        identity.cert_pem.as_bytes().to_vec(),
        identity.ca_pem.as_bytes().to_vec(),
        serde_json::to_vec_pretty(&meta)?,
    ];
    for (name, bytes) in FILES.iter().zip(contents) {
        write_private(&dir.join(name), &bytes)?;
    }
    Ok(())
}

/// Removes the identity files from `dir` (those that exist, and their temporary files); the
/// directory and anything else in it stay.
pub fn remove_identity(dir: &Path) -> anyhow::Result<()> {
    for name in FILES {
        for path in [dir.join(name), dir.join(name).with_extension("tmp")] {
            match std::fs::remove_file(&path) {
                Err(error) if error.kind() != std::io::ErrorKind::NotFound => {
                    return Err(error).with_context(|| format!("cannot remove {}", path.display()));
                }
                _ => {}
            }
        }
    }
    Ok(())
}

/// The enrollment exchange alone (key, CSR, `POST /api/v1/enroll`), keeping the identity in
/// memory: [`save_identity`] persists it; the load generator (pw-loadgen) holds thousands at once.
pub async fn enroll_in_memory(
    server: &str,
    token: &str,
    ca_pem: &str,
    hostname: &str,
) -> anyhow::Result<Identity> {
    let key = rcgen::KeyPair::generate().context("generating the agent key")?;
    let mut params = rcgen::CertificateParams::default();
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, hostname);
    let csr = params
        .serialize_request(&key)
        .context("creating the CSR")?
        .pem()
        .context("encoding the CSR")?;
    let http = client::enrollment_client(ca_pem)?;
    let request = EnrollRequest {
        protocol_version: PROTOCOL_VERSION,
        token: token.to_owned(),
        csr_pem: csr,
        hostname: hostname.to_owned(),
    };
    let url = format!("{}/api/v1/enroll", server.trim_end_matches('/'));
    let response: EnrollResponse = client::send_json(http.post(&url).json(&request))
        .await
        .with_context(|| format!("enrolling with {server}"))?;
    Ok(Identity {
        host_id: response.host_id,
        cert_pem: response.certificate_pem,
        key_pem: key.serialize_pem(),
        ca_pem: response.ca_certificate_pem,
    })
}

/// Writes a file only its owner can read (0600), atomically and durably.
fn write_private(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    use std::os::unix::fs::OpenOptionsExt;
    let tmp = path.with_extension("tmp");
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&tmp)
        .with_context(|| format!("cannot create {}", tmp.display()))?;
    file.write_all(bytes)
        .and_then(|()| file.sync_all())
        .with_context(|| format!("cannot write {}", tmp.display()))?;
    std::fs::rename(&tmp, path).with_context(|| format!("cannot write {}", path.display()))
}
