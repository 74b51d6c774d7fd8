//! Vulnerability ids: CVE syntax and the CVE hidden in distro-prefixed ids.
//!
//! CVE ids are `CVE-YYYY-NNNN` with at least four digits after the year; the syntax check lives in
//! pw-model (`pw_model::is_cve_id`, re-exported here). Distributions prefix them for their own
//! per-CVE records (`UBUNTU-CVE-2024-6387`, `DEBIAN-CVE-…`, and this project's `DEBCL-CVE-…`);
//! such an id names the same CVE.

pub use pw_model::is_cve_id;

/// The CVE an id names: the id itself when it is a CVE id, or the CVE after an upper-case
/// prefix and a dash (`UBUNTU-CVE-2024-6387` → `CVE-2024-6387`).
pub fn cve_of(id: &str) -> Option<&str> {
    if is_cve_id(id) {
        return Some(id);
    }
    let start = id.find("-CVE-")?;
    let prefix = &id[..start];
    let cve = &id[start + 1..];
    let prefix_ok = !prefix.is_empty()
        && prefix
            .bytes()
            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit());
    (prefix_ok && is_cve_id(cve)).then_some(cve)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_cve_behind_prefixed_ids() {
        assert_eq!(cve_of("CVE-2024-6387"), Some("CVE-2024-6387"));
        assert_eq!(cve_of("UBUNTU-CVE-2024-6387"), Some("CVE-2024-6387"));
        assert_eq!(cve_of("DEBIAN-CVE-2023-4911"), Some("CVE-2023-4911"));
        assert_eq!(cve_of("DEBCL-CVE-2004-2541"), Some("CVE-2004-2541"));
        assert_eq!(cve_of("USN-6859-1"), None);
        assert_eq!(cve_of("ALSA-2024:1234"), None);
        assert_eq!(cve_of("-CVE-2024-6387"), None);
        assert_eq!(cve_of("x-CVE-2024-6387"), None);
        assert_eq!(cve_of("UBUNTU-CVE-2024-63"), None);
    }
}
