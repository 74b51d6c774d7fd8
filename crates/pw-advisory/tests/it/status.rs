//! A tiny test-only reader of dpkg status text (the real parser lives in pw-inventory): enough
//! to build `InstalledPackage` values from the real status file.

use pw_model::InstalledPackage;

/// The installed packages (`Status: install ok installed`) of a dpkg status text.
pub fn installed_packages(text: &str) -> Vec<InstalledPackage> {
    text.split("\n\n")
        .filter_map(|stanza| {
            let field = |name: &str| {
                stanza.lines().find_map(|line| {
                    let (key, value) = line.split_once(':')?;
                    (key == name).then(|| value.trim().to_owned())
                })
            };
            if field("Status")?.as_str() != "install ok installed" {
                return None;
            }
            let name = field("Package")?;
            let version = field("Version")?;
            let (source, source_version) = match field("Source") {
                None => (None, None),
                Some(text) => {
                    let mut parts = text.split_whitespace();
                    let source = parts.next().map(str::to_owned);
                    let source_version =
                        parts.next().map(|v| v.trim_matches(['(', ')']).to_owned());
                    (source, source_version)
                }
            };
            Some(InstalledPackage {
                arch: field("Architecture").unwrap_or_default(),
                name,
                version,
                source,
                source_version,
            })
        })
        .collect()
}
