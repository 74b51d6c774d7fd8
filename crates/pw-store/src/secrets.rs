//! Secrets shared by every controller on one database (issue 15 item 2): the controller CA and
//! the login form's CSRF key, so that an agent enrolled through one replica talks mutual TLS
//! to any other and a login form served by one is accepted by another.
//!
//! Each value is sealed with the operator's [`SecretKey`] (a file every replica is given,
//! never stored in the database) by ChaCha20-Poly1305 (ring's AEAD; a random 96-bit nonce per
//! value, the row's name as associated data) in `controller_secrets` (`0021_controller_secrets.sql`).
//! The first controller started with the key writes a value; the others read it. A key that
//! does not open a stored value is refused at start, naming the key file and the value — never
//! the key or the value.

use std::path::{Path, PathBuf};

use anyhow::Context;
use ring::aead::{Aad, CHACHA20_POLY1305, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use ring::rand::SecureRandom;
use sqlx::Row;

use crate::Store;

/// The operator's secret key: 32 bytes, written as 64 hex digits in a file. `Debug` never
/// shows it.
pub struct SecretKey {
    key: LessSafeKey,
    /// The file it came from, for error messages.
    source: PathBuf,
}

impl std::fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SecretKey")
            .field("source", &self.source)
            .field("key", &"<redacted>")
            .finish()
    }
}

impl SecretKey {
    /// Reads the key file at `path` (64 hex digits; surrounding white space ignored).
    pub fn load(path: &Path) -> anyhow::Result<SecretKey> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("reading the secret key file {}", path.display()))?;
        let bytes = hex::decode(text.trim())
            .ok()
            .filter(|b| b.len() == 32)
            .with_context(|| {
                format!(
                    "the secret key file {} does not hold 64 hex digits (make one with: \
                     openssl rand -hex 32 > {})",
                    path.display(),
                    path.display()
                )
            })?;
        SecretKey::from_bytes(&bytes, path)
    }

    /// A key from its 32 bytes; `source` names it in errors.
    pub fn from_bytes(bytes: &[u8], source: &Path) -> anyhow::Result<SecretKey> {
        let unbound = UnboundKey::new(&CHACHA20_POLY1305, bytes)
            .map_err(|_| anyhow::anyhow!("{}: a secret key is 32 bytes", source.display()))?;
        Ok(SecretKey {
            key: LessSafeKey::new(unbound),
            source: source.to_path_buf(),
        })
    }

    /// The file the key came from.
    pub fn source(&self) -> &Path {
        &self.source
    }

    /// `plain` sealed under `name`: (nonce, ciphertext with tag), both hex.
    fn seal(&self, name: &str, plain: &[u8]) -> anyhow::Result<(String, String)> {
        let mut nonce = [0u8; NONCE_LEN];
        ring::rand::SystemRandom::new()
            .fill(&mut nonce)
            .map_err(|_| anyhow::anyhow!("the system random generator failed"))?;
        let mut sealed = plain.to_vec();
        self.key
            .seal_in_place_append_tag(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(name.as_bytes()),
                &mut sealed,
            )
            .map_err(|_| anyhow::anyhow!("sealing the controller secret {name}"))?;
        Ok((hex::encode(nonce), hex::encode(sealed)))
    }

    /// The value sealed under `name`, or an error saying this is not the key that sealed it.
    fn open(&self, name: &str, nonce: &str, sealed: &str) -> anyhow::Result<Vec<u8>> {
        let wrong = || {
            anyhow::anyhow!(
                "the secret key {} does not open the controller secret {name:?} stored in the \
                 database: it is not the key the first controller on this database was started \
                 with (every controller on one database needs the same --secret-key-file)",
                self.source.display()
            )
        };
        let nonce: [u8; NONCE_LEN] = hex::decode(nonce)
            .ok()
            .and_then(|n| n.try_into().ok())
            .with_context(|| format!("the stored controller secret {name:?} is damaged (nonce)"))?;
        let mut bytes = hex::decode(sealed)
            .with_context(|| format!("the stored controller secret {name:?} is damaged (hex)"))?;
        let plain = self
            .key
            .open_in_place(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(name.as_bytes()),
                &mut bytes,
            )
            .map_err(|_| wrong())?;
        Ok(plain.to_vec())
    }
}

impl Store {
    /// The shared secret `name`, opened with `key`. When the database holds none yet, `create`
    /// makes it and it is stored sealed — in one write transaction, so two controllers starting
    /// together store one value and both get it.
    pub async fn shared_secret(
        &self,
        key: &SecretKey,
        name: &str,
        create: impl FnOnce() -> anyhow::Result<Vec<u8>>,
    ) -> anyhow::Result<Vec<u8>> {
        let mut tx = self.begin_immediate().await?;
        let row = sqlx::query("SELECT nonce, sealed FROM controller_secrets WHERE name = $1")
            .bind(name)
            .fetch_optional(&mut *tx)
            .await
            .with_context(|| format!("reading the controller secret {name:?}"))?;
        if let Some(row) = row {
            tx.rollback().await.ok();
            let nonce: String = row.try_get("nonce")?;
            let sealed: String = row.try_get("sealed")?;
            return key.open(name, &nonce, &sealed);
        }
        let plain = create()?;
        let (nonce, sealed) = key.seal(name, &plain)?;
        sqlx::query(
            "INSERT INTO controller_secrets (name, nonce, sealed, created_at) VALUES ($1, $2, $3, $4)",
        )
        .bind(name)
        .bind(&nonce)
        .bind(&sealed)
        .bind(jiff::Timestamp::now().to_string())
        .execute(&mut *tx)
        .await
        .with_context(|| format!("storing the controller secret {name:?}"))?;
        tx.commit()
            .await
            .with_context(|| format!("storing the controller secret {name:?}"))?;
        tracing::info!(name, "stored a new shared controller secret (sealed)");
        Ok(plain)
    }

    /// The names of the shared secrets stored (never their values), sorted.
    pub async fn shared_secret_names(&self) -> anyhow::Result<Vec<String>> {
        let rows = sqlx::query("SELECT name FROM controller_secrets ORDER BY name")
            .fetch_all(self.pool())
            .await
            .context("listing the controller secrets")?;
        rows.iter()
            .map(|r| r.try_get("name").map_err(anyhow::Error::from))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(byte: u8) -> SecretKey {
        SecretKey::from_bytes(&[byte; 32], Path::new("test.key")).unwrap()
    }

    #[test]
    fn sealed_values_open_with_their_key_and_name_only() {
        let (nonce, sealed) = key(1).seal("ca", b"secret").unwrap();
        assert!(!sealed.contains(&hex::encode(b"secret")));
        assert_eq!(key(1).open("ca", &nonce, &sealed).unwrap(), b"secret");
        let wrong = key(2).open("ca", &nonce, &sealed).unwrap_err().to_string();
        assert!(
            wrong.contains("test.key") && wrong.contains("\"ca\""),
            "{wrong}"
        );
        assert!(key(1).open("other", &nonce, &sealed).is_err());
        let (again, _) = key(1).seal("ca", b"secret").unwrap();
        assert_ne!(again, nonce, "a fresh nonce each time");
        assert!(!format!("{:?}", key(1)).contains("01010101"));
    }

    #[test]
    fn a_key_file_must_hold_64_hex_digits() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("secret.key");
        std::fs::write(&path, format!("{}\n", "ab".repeat(32))).unwrap();
        SecretKey::load(&path).unwrap();
        std::fs::write(&path, "abcd").unwrap();
        let error = SecretKey::load(&path).unwrap_err().to_string();
        assert!(error.contains("64 hex digits") && error.contains("openssl rand -hex 32"));
        assert!(SecretKey::load(&dir.path().join("missing")).is_err());
    }
}
