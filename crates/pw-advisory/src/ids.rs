//! Vulnerability ids: CVE syntax and the CVE hidden in distro-prefixed ids.
//!
//! CVE ids are `CVE-YYYY-NNNN` with at least four digits after the year. Distributions prefix
//! them for their own per-CVE records (`UBUNTU-CVE-2024-6387`, `DEBIAN-CVE-…`, and this
//! project's `DEBCL-CVE-…`); such an id names the same CVE.

/// Whether `id` is a syntactically valid CVE id (`CVE-` + 4-digit year + `-` + 4 or more digits).
pub fn is_cve_id(id: &str) -> bool {
    let Some(rest) = id.strip_prefix("CVE-") else {
        return false;
    };
    let bytes = rest.as_bytes();
    bytes.len() >= 9
        && bytes[..4].iter().all(u8::is_ascii_digit)
        && bytes[4] == b'-'
        && bytes[5..].iter().all(u8::is_ascii_digit)
}

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
    fn recognises_cve_ids() {
        for good in ["CVE-2024-6387", "CVE-1999-0001", "CVE-2021-1234567"] {
            assert!(is_cve_id(good), "{good}");
        }
        for bad in [
            "",
            "CVE-2024-638",
            "cve-2024-6387",
            "CVE-24-6387",
            "CVE-2024-63a7",
            "CVE-2024_6387",
            "USN-6859-1",
            "CVE-2024-6387 ",
        ] {
            assert!(!is_cve_id(bad), "{bad}");
        }
    }

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
