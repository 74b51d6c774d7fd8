//! The controller's own secrets — its CA and the login form's CSRF key — from the data
//! directory (one controller), or shared by every controller on one database, sealed in it
//! with the operator's secret key (`--secret-key-file`; pw-store's `shared_secret`).
//!
//! With a key, the first controller stores the CA — the data directory's own when it has one,
//! so agents enrolled before keep working, else a new one — and every other loads it; each
//! writes the CA certificate (never the key) to `ca/ca.pem` in its data directory for
//! operators. Without a key, a database that holds shared secrets is refused: that controller
//! would make its own CA, which the agents of the others do not trust.

use std::path::Path;

use anyhow::Context;
use pw_store::{SecretKey, Store};

use crate::auth::LoginCsrf;
use crate::ca::{Ca, write_private};
use crate::settings::ServerSettings;

/// The name of the sealed CA (JSON: `cert_pem`, `key_pem`).
const CA_SECRET: &str = "controller_ca";
/// The name of the sealed login CSRF key (32 random bytes).
const LOGIN_CSRF_SECRET: &str = "login_csrf_key";

/// What the controller signs with.
pub struct ControllerSecrets {
    pub ca: Ca,
    pub login_csrf: LoginCsrf,
}

#[derive(serde::Serialize, serde::Deserialize)]
struct SealedCa {
    cert_pem: String,
    key_pem: String,
}

/// The CA and login key for the controller `settings` describe.
pub async fn load(store: &Store, settings: &ServerSettings) -> anyhow::Result<ControllerSecrets> {
    let ca_dir = settings.data_dir.join("ca");
    let Some(path) = &settings.secret_key_file else {
        let shared = store.shared_secret_names().await?;
        anyhow::ensure!(
            shared.is_empty(),
            "the database {} holds the controllers' shared CA and keys (sealed): start this \
             controller with --secret-key-file FILE (the same key file as the others)",
            settings.database
        );
        return Ok(ControllerSecrets {
            ca: Ca::load_or_create(&ca_dir)?,
            login_csrf: LoginCsrf::new()?,
        });
    };
    if let Some(mode) = pw_store::wider_than_private(path) {
        tracing::warn!(
            path = %path.display(),
            mode = format!("{mode:o}"),
            "the secret key file is open to other users; run: chmod 600 {}",
            path.display()
        );
    }
    let key = SecretKey::load(path)?;
    let ca = shared_ca(store, &key, &ca_dir).await?;
    let csrf = store
        .shared_secret(&key, LOGIN_CSRF_SECRET, random_key)
        .await?;
    Ok(ControllerSecrets {
        ca,
        login_csrf: LoginCsrf::from_key(&csrf),
    })
}

/// The CA sealed in the database (stored from `ca_dir`, or new, by the first controller), its
/// certificate written to `ca_dir/ca.pem`.
async fn shared_ca(store: &Store, key: &SecretKey, ca_dir: &Path) -> anyhow::Result<Ca> {
    let sealed = store
        .shared_secret(key, CA_SECRET, || {
            let ca = match Ca::load(ca_dir)? {
                Some(ca) => {
                    tracing::info!(dir = %ca_dir.display(), sha256 = %ca.cert_sha256(), "storing this data directory's CA in the database, sealed");
                    ca
                }
                None => Ca::generate("patchwarden controller CA")?,
            };
            let sealed = SealedCa {
                cert_pem: ca.cert_pem().to_owned(),
                key_pem: ca.key_pem(),
            };
            Ok(serde_json::to_vec(&sealed)?)
        })
        .await?;
    let sealed: SealedCa = serde_json::from_slice(&sealed)
        .context("the controller CA stored in the database is damaged")?;
    let ca = Ca::from_pem(
        sealed.cert_pem,
        &sealed.key_pem,
        "the database's controller CA",
    )?;
    match Ca::load(ca_dir) {
        Ok(Some(own)) if own.cert_pem() != ca.cert_pem() => tracing::warn!(
            dir = %ca_dir.display(),
            own = %own.cert_sha256(),
            shared = %ca.cert_sha256(),
            "this data directory's own CA is not used: the database's shared CA is (agents \
             enrolled with the data directory's CA must enroll again)"
        ),
        _ => {
            pw_store::create_private_dir(ca_dir)?;
            write_private(&ca_dir.join("ca.pem"), ca.cert_pem().as_bytes())?;
        }
    }
    tracing::info!(sha256 = %ca.cert_sha256(), "controller CA shared through the database");
    Ok(ca)
}

/// 32 random bytes.
fn random_key() -> anyhow::Result<Vec<u8>> {
    let mut bytes = vec![0u8; 32];
    ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut bytes)
        .map_err(|_| anyhow::anyhow!("the system random generator failed"))?;
    Ok(bytes)
}
