//! The agent's settings file (`/etc/patchwarden/agent.toml`): what `patchwarden agent install`
//! writes and `patchwarden agent --config FILE` reads. Flags on the command line win over it.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::Context;
use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;

/// Where the package's unit expects things (packaging/systemd/patchwarden-agent.service).
pub const CONFIG_DIR: &str = "/etc/patchwarden";
pub const CONFIG_FILE: &str = "agent.toml";
pub const DATA_DIR: &str = "/var/lib/patchwarden/agent";
pub const UNIT: &str = "patchwarden-agent.service";

/// The file's contents. Every key is optional so that flags can supply the rest.
#[derive(Debug, Default, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AgentFile {
    /// The controller, `https://…`; several replicas comma-separated.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub server: Option<String>,
    /// Single-use enrollment token, used only by the first start (before `identity.json`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub token: Option<String>,
    /// The controller CA trusted while enrolling.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ca_cert: Option<PathBuf>,
    /// Where the key, certificate, identity and journal live (`--data-dir`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub data_dir: Option<PathBuf>,
    #[serde(default, skip_serializing_if = "is_false")]
    pub read_only: bool,
    #[serde(default, skip_serializing_if = "is_false")]
    pub allow_approved_plans: bool,
    /// `--reboot-command` entries, one argv element each.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub reboot_command: Vec<String>,
    /// This machine's labels (`--label KEY=VALUE`).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
}

fn is_false(value: &bool) -> bool {
    !value
}

impl AgentFile {
    /// Reads and parses `path` (unknown keys are errors, naming the file).
    pub fn load(path: &Path) -> anyhow::Result<AgentFile> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read {}", path.display()))?;
        toml::from_str(&text)
            .with_context(|| format!("{} is not a valid agent file", path.display()))
    }

    /// Labels as `KEY=VALUE` strings, the form `--label` takes.
    pub fn label_args(&self) -> Vec<String> {
        self.labels
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect()
    }

    /// The TOML text with a header saying what wrote it.
    pub fn render(&self) -> anyhow::Result<String> {
        let body = toml::to_string(self).context("serializing the agent settings")?;
        Ok(format!(
            "# Written by `patchwarden agent install`; read by patchwarden-agent.service\n\
             # (`patchwarden agent --config`). Flags on its command line win over this file.\n\
             # The agent's identity (key, certificate, identity.json) is in data_dir.\n{body}"
        ))
    }
}

/// The controllers of a comma-separated `server` value (several replicas), blanks dropped.
pub fn split_servers(text: &str) -> Vec<String> {
    text.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect()
}

/// The controller URL as the agent needs it: `https://` with a host.
pub fn check_server_url(url: &str) -> anyhow::Result<()> {
    let parsed =
        reqwest::Url::parse(url).with_context(|| format!("--server {url:?} is not a URL"))?;
    anyhow::ensure!(
        parsed.scheme() == "https",
        "--server {url:?} must use https:// (agents talk to the controller over TLS only)"
    );
    anyhow::ensure!(
        parsed.host_str().is_some_and(|h| !h.is_empty()),
        "--server {url:?} has no host"
    );
    Ok(())
}

/// An enrollment token: one word, no whitespace or quotes.
pub fn check_token(token: &str) -> anyhow::Result<()> {
    anyhow::ensure!(!token.is_empty(), "--token is empty");
    anyhow::ensure!(
        token
            .chars()
            .all(|c| c.is_ascii_graphic() && c != '"' && c != '\\'),
        "--token must be one word of printable ASCII (the pwt_… token of POST /api/v1/enrollment-tokens)"
    );
    Ok(())
}

/// The CA file's text when it holds at least one PEM certificate and nothing unparsable.
pub fn read_ca(path: &Path) -> anyhow::Result<String> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read --ca {}", path.display()))?;
    let mut count = 0;
    for cert in CertificateDer::pem_slice_iter(text.as_bytes()) {
        cert.map_err(|e| anyhow::anyhow!("--ca {}: bad PEM: {e:?}", path.display()))?;
        count += 1;
    }
    anyhow::ensure!(
        count > 0,
        "--ca {}: no PEM certificate (-----BEGIN CERTIFICATE-----) in it; use the controller's \
         ca/ca.pem",
        path.display()
    );
    Ok(text)
}

/// Writes `contents` to `path` with `mode` from the first byte on (a temporary file in the same
/// directory, fsync'd, then renamed over `path`).
pub fn write_private(path: &Path, contents: &[u8], mode: u32) -> anyhow::Result<()> {
    use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
    let name = path.file_name().context("a file name")?.to_string_lossy();
    let temp = path.with_file_name(format!(".{name}.tmp"));
    let _ = std::fs::remove_file(&temp);
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .open(&temp)
        .with_context(|| format!("cannot create {}", temp.display()))?;
    // The umask may have cleared bits of `mode`; set it exactly.
    file.set_permissions(std::fs::Permissions::from_mode(mode))?;
    file.write_all(contents)?;
    file.sync_all()?;
    drop(file);
    std::fs::rename(&temp, path)
        .with_context(|| format!("cannot move {} to {}", temp.display(), path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn ca_pem() -> String {
        let key = rcgen::KeyPair::generate().unwrap();
        let params = rcgen::CertificateParams::new(vec!["ca.test".into()]).unwrap();
        params.self_signed(&key).unwrap().pem()
    }

    #[test]
    fn the_file_round_trips_with_quoted_label_keys() {
        let file = AgentFile {
            server: Some("https://controller.example:8420".into()),
            token: Some("pwt_abc".into()),
            ca_cert: Some("/etc/patchwarden/ca.pem".into()),
            data_dir: Some("/var/lib/patchwarden/agent".into()),
            read_only: true,
            allow_approved_plans: true,
            reboot_command: vec!["/sbin/reboot".into(), "-f".into()],
            labels: [("role", "web"), ("topology.example.com/rack", "r1")]
                .map(|(k, v)| (k.to_owned(), v.to_owned()))
                .into(),
        };
        let text = file.render().unwrap();
        assert!(
            text.starts_with("# Written by `patchwarden agent install`"),
            "{text}"
        );
        assert!(
            text.contains("\"topology.example.com/rack\" = \"r1\""),
            "{text}"
        );
        assert_eq!(toml::from_str::<AgentFile>(&text).unwrap(), file);
        assert_eq!(
            file.label_args(),
            ["role=web", "topology.example.com/rack=r1"]
        );
    }

    #[test]
    fn defaults_are_left_out_and_unknown_keys_refused() {
        let text = AgentFile::default().render().unwrap();
        assert!(!text.contains("read_only"), "{text}");
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("agent.toml");
        std::fs::write(&path, "server = \"https://x\"\nreadonly = true\n").unwrap();
        let error = format!("{:#}", AgentFile::load(&path).unwrap_err());
        assert!(error.contains("unknown field `readonly`"), "{error}");
    }

    #[test]
    fn the_server_must_be_an_https_url_with_a_host() {
        check_server_url("https://10.0.0.1:8420").unwrap();
        let plain = check_server_url("http://10.0.0.1:8420")
            .unwrap_err()
            .to_string();
        assert!(plain.contains("must use https://"), "{plain}");
        assert!(check_server_url("controller:8420").is_err());
        assert!(check_server_url("not a url").is_err());
    }

    #[test]
    fn tokens_are_one_printable_word() {
        check_token("pwt_0123abc").unwrap();
        assert!(check_token("").is_err());
        assert!(check_token("pwt_a b").is_err());
        assert!(check_token("pwt_\"x").is_err());
    }

    #[test]
    fn the_ca_must_hold_pem_certificates() {
        let dir = tempfile::tempdir().unwrap();
        let good = dir.path().join("ca.pem");
        std::fs::write(&good, ca_pem()).unwrap();
        assert!(read_ca(&good).unwrap().contains("BEGIN CERTIFICATE"));
        let empty = dir.path().join("empty.pem");
        std::fs::write(&empty, "hello\n").unwrap();
        let error = read_ca(&empty).unwrap_err().to_string();
        assert!(error.contains("no PEM certificate"), "{error}");
        let broken = dir.path().join("broken.pem");
        std::fs::write(
            &broken,
            "-----BEGIN CERTIFICATE-----\n!!!\n-----END CERTIFICATE-----\n",
        )
        .unwrap();
        assert!(read_ca(&broken).is_err());
        assert!(read_ca(&dir.path().join("missing.pem")).is_err());
    }

    #[test]
    fn private_files_get_their_mode_and_replace_the_old_one() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("agent.toml");
        std::fs::write(&path, "old").unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        write_private(&path, b"new", 0o600).unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "new");
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    }
}
