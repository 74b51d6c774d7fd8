//! Installed packages as reported by dpkg or rpm: the input of advisory matching.

/// One installed package. On Debian/Ubuntu, `source`/`source_version` hold the source package
/// when it differs from the binary (advisories name source packages); on RPM systems they are
/// `None` and `version` is the full `[epoch:]version-release`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct InstalledPackage {
    /// Binary package name (`libssl3`, `kernel-core`).
    pub name: String,
    /// Installed version, exactly as the package manager reports it (with epoch when present).
    pub version: String,
    /// Architecture (`amd64`, `all`, `x86_64`, `noarch`); empty when unknown.
    pub arch: String,
    /// Source package name when it differs from `name`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    /// Source package version when it differs from `version` (binNMUs: `+bN`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_version: Option<String>,
}

impl InstalledPackage {
    /// The name advisories are matched on for dpkg systems: the source package or the binary.
    pub fn source_name(&self) -> &str {
        self.source.as_deref().unwrap_or(&self.name)
    }

    /// The version of [`Self::source_name`].
    pub fn source_version(&self) -> &str {
        self.source_version.as_deref().unwrap_or(&self.version)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn source_defaults_to_binary() {
        let mut p = InstalledPackage {
            name: "libssl3".into(),
            version: "3.0.17-1~deb12u2".into(),
            arch: "amd64".into(),
            source: None,
            source_version: None,
        };
        assert_eq!(
            (p.source_name(), p.source_version()),
            ("libssl3", "3.0.17-1~deb12u2")
        );
        p.source = Some("openssl".into());
        assert_eq!(
            (p.source_name(), p.source_version()),
            ("openssl", "3.0.17-1~deb12u2")
        );
        p.source_version = Some("3.0.17-1~deb12u1".into());
        assert_eq!(p.source_version(), "3.0.17-1~deb12u1");
    }
}
