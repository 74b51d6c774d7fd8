//! The controller CA: created on first start in the data directory (key file mode 0600), it
//! signs the server certificate at every start and each agent's client certificate at enrollment.
//! Also enrollment-token secrets and certificate fingerprints.

use std::fmt;
use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::Context;
use rcgen::{
    BasicConstraints, CertificateParams, CertificateSigningRequestParams, DistinguishedName,
    DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair, KeyUsagePurpose, SanType,
};
use ring::rand::SecureRandom;
use sha2::{Digest, Sha256};

/// How long a client certificate is valid.
pub const CLIENT_CERT_DAYS: i64 = 365;

/// The CA: its certificate (PEM) and signing key. `Debug` never shows the key.
pub struct Ca {
    cert_pem: String,
    issuer: Issuer<'static, KeyPair>,
}

impl fmt::Debug for Ca {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Ca")
            .field("cert_sha256", &self.cert_sha256())
            .field("key", &"<redacted>")
            .finish()
    }
}

/// A signed certificate with its private key (PEM). `Debug` never shows the key.
pub struct Issued {
    pub cert_pem: String,
    pub key_pem: String,
}

impl fmt::Debug for Issued {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Issued")
            .field("cert_pem", &self.cert_pem)
            .field("key_pem", &"<redacted>")
            .finish()
    }
}

/// A client certificate signed from an agent's CSR.
#[derive(Debug)]
pub struct ClientCert {
    pub cert_pem: String,
    /// SHA-256 (hex) of the DER: how the controller recognizes the agent.
    pub fingerprint: String,
    pub not_after: jiff::Timestamp,
}

impl Ca {
    /// Loads the CA from `dir` (`ca.pem`, `ca.key`), creating it when absent.
    pub fn load_or_create(dir: &Path) -> anyhow::Result<Ca> {
        let cert_path = dir.join("ca.pem");
        let key_path = dir.join("ca.key");
        if let Some(ca) = Ca::load(dir)? {
            return Ok(ca);
        }
        anyhow::ensure!(
            !cert_path.exists(),
            "{} is there without {}: this data directory's CA is kept in the database (start \
             with the --secret-key-file the other controllers use)",
            cert_path.display(),
            key_path.display()
        );
        let ca = Ca::generate("patchwarden controller CA")?;
        pw_store::create_private_dir(dir)?;
        write_private(&key_path, ca.issuer.key().serialize_pem().as_bytes())?;
        write_private(&cert_path, ca.cert_pem.as_bytes())?;
        tracing::info!(path = %cert_path.display(), sha256 = %ca.cert_sha256(), "created the controller CA");
        Ok(ca)
    }

    /// The CA in `dir` (`ca.pem`, `ca.key`) when both are there.
    pub fn load(dir: &Path) -> anyhow::Result<Option<Ca>> {
        let cert_path = dir.join("ca.pem");
        let key_path = dir.join("ca.key");
        if !(cert_path.exists() && key_path.exists()) {
            return Ok(None);
        }
        let what = format!("{} and {}", cert_path.display(), key_path.display());
        Ca::from_pem(read(&cert_path)?, &read(&key_path)?, &what).map(Some)
    }

    /// The CA from its certificate and key (PEM); `what` names where they came from in errors.
    pub fn from_pem(cert_pem: String, key_pem: &str, what: &str) -> anyhow::Result<Ca> {
        let key = KeyPair::from_pem(key_pem)
            .with_context(|| format!("{what}: the CA key is not a private key"))?;
        let issuer = Issuer::from_ca_cert_pem(&cert_pem, key)
            .with_context(|| format!("{what}: not a CA certificate"))?;
        Ok(Ca { cert_pem, issuer })
    }

    /// The CA's private key (PEM), to be sealed in the database; never log it.
    pub(crate) fn key_pem(&self) -> String {
        self.issuer.key().serialize_pem()
    }

    /// A fresh CA in memory (ECDSA P-256, 10 years).
    pub fn generate(common_name: &str) -> anyhow::Result<Ca> {
        let key = KeyPair::generate().context("generating the CA key")?;
        let mut params = CertificateParams::default();
        params.distinguished_name = name(common_name);
        params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
        params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        params.not_before = time::OffsetDateTime::now_utc() - time::Duration::hours(1);
        params.not_after = time::OffsetDateTime::now_utc() + time::Duration::days(3650);
        let cert = params.self_signed(&key).context("self-signing the CA")?;
        Ok(Ca {
            cert_pem: cert.pem(),
            issuer: Issuer::new(params, key),
        })
    }

    /// The CA certificate (PEM).
    pub fn cert_pem(&self) -> &str {
        &self.cert_pem
    }

    /// SHA-256 (hex) of the CA certificate's DER, for pinning by operators.
    pub fn cert_sha256(&self) -> String {
        use rustls_pki_types::pem::PemObject;
        rustls_pki_types::CertificateDer::from_pem_slice(self.cert_pem.as_bytes())
            .map(|der| fingerprint(&der))
            .unwrap_or_default()
    }

    /// A server certificate for `names` (DNS names or IP addresses), valid 90 days.
    pub fn issue_server(&self, names: &[String]) -> anyhow::Result<Issued> {
        let key = KeyPair::generate().context("generating the server key")?;
        let mut params = CertificateParams::default();
        params.distinguished_name = name("patchwarden controller");
        params.subject_alt_names = names
            .iter()
            .map(|n| match n.parse::<std::net::IpAddr>() {
                Ok(ip) => Ok(SanType::IpAddress(ip)),
                Err(_) => n
                    .clone()
                    .try_into()
                    .map(SanType::DnsName)
                    .with_context(|| format!("{n:?} is not a valid DNS name")),
            })
            .collect::<anyhow::Result<_>>()?;
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params.not_before = time::OffsetDateTime::now_utc() - time::Duration::hours(1);
        params.not_after = time::OffsetDateTime::now_utc() + time::Duration::days(90);
        let cert = params
            .signed_by(&key, self.issuer())
            .context("signing the server certificate")?;
        Ok(Issued {
            cert_pem: cert.pem(),
            key_pem: key.serialize_pem(),
        })
    }

    /// Signs a client certificate for `host_id` with the public key of the CSR. Everything else
    /// in the CSR (names, extensions) is ignored.
    pub fn sign_csr(&self, csr_pem: &str, host_id: &str) -> Result<ClientCert, rcgen::Error> {
        let csr = CertificateSigningRequestParams::from_pem(csr_pem)?;
        let mut params = CertificateParams::default();
        params.distinguished_name = name(host_id);
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        let now = time::OffsetDateTime::now_utc();
        params.not_before = now - time::Duration::hours(1);
        params.not_after = now + time::Duration::days(CLIENT_CERT_DAYS);
        let cert = params.signed_by(&csr.public_key, self.issuer())?;
        let not_after = jiff::Timestamp::from_second(params.not_after.unix_timestamp())
            .unwrap_or(jiff::Timestamp::MAX);
        Ok(ClientCert {
            fingerprint: fingerprint(cert.der()),
            cert_pem: cert.pem(),
            not_after,
        })
    }

    /// A client certificate with a fresh key, as an agent would get it (tests, foreign CAs).
    pub fn issue_client(&self, host_id: &str) -> anyhow::Result<Issued> {
        let key = KeyPair::generate().context("generating a client key")?;
        let csr = CertificateParams::default()
            .serialize_request(&key)
            .context("creating a CSR")?
            .pem()
            .context("encoding the CSR")?;
        let cert = self.sign_csr(&csr, host_id).context("signing the CSR")?;
        Ok(Issued {
            cert_pem: cert.cert_pem,
            key_pem: key.serialize_pem(),
        })
    }

    fn issuer(&self) -> &Issuer<'static, KeyPair> {
        &self.issuer
    }
}

/// SHA-256 (hex) of a certificate's DER.
pub fn fingerprint(der: &[u8]) -> String {
    hex::encode(Sha256::digest(der))
}

/// A new enrollment token secret: `pwt_` + 32 random bytes in hex.
pub fn new_token() -> anyhow::Result<String> {
    new_secret("pwt_")
}

/// A random 256-bit secret, hex, after a prefix that tells what it is (`pwt_` enrollment
/// token, `pwo_` operator token, `pws_` session, `pwc_` CSRF token, `pwl_` login ticket).
pub fn new_secret(prefix: &str) -> anyhow::Result<String> {
    let mut bytes = [0u8; 32];
    ring::rand::SystemRandom::new()
        .fill(&mut bytes)
        .map_err(|_| anyhow::anyhow!("the system random generator failed"))?;
    Ok(format!("{prefix}{}", hex::encode(bytes)))
}

/// What is stored of a token: the SHA-256 (hex) of its text.
pub fn token_sha256(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

fn name(common_name: &str) -> DistinguishedName {
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, common_name);
    dn
}

fn read(path: &Path) -> anyhow::Result<String> {
    std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))
}

/// Writes a file readable only by its owner (0600), atomically (temporary file + rename).
pub fn write_private(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    use std::os::unix::fs::OpenOptionsExt;
    let tmp: PathBuf = path.with_extension("tmp");
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ca_is_created_once_with_a_private_key_file() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let first = Ca::load_or_create(dir.path()).unwrap();
        let mode = std::fs::metadata(dir.path().join("ca.key"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
        let second = Ca::load_or_create(dir.path()).unwrap();
        assert_eq!(first.cert_pem(), second.cert_pem());
        assert!(!format!("{first:?}").contains("PRIVATE"));
    }

    #[test]
    fn tokens_are_random_and_hashed() {
        let a = new_token().unwrap();
        let b = new_token().unwrap();
        assert_ne!(a, b);
        assert!(a.starts_with("pwt_") && a.len() == 68);
        assert_eq!(token_sha256(&a).len(), 64);
        assert_ne!(token_sha256(&a), a);
    }

    #[test]
    fn garbage_csr_is_refused() {
        let ca = Ca::generate("test").unwrap();
        assert!(ca.sign_csr("not a csr", "h").is_err());
    }
}
