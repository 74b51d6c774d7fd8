//! CVE id syntax: `CVE-YYYY-NNNN`, upper case, a four-digit year and four or more digits after it
//! (the CVE program dropped the fixed four-digit sequence number in 2014).

/// Whether `id` is a syntactically valid CVE id (`CVE-` + 4-digit year + `-` + 4 or more digits).
/// Upper case only: callers that accept `cve-…` from operators upper-case it first.
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
            "CVE-2024-",
            "CVE-２０２４-6387",
        ] {
            assert!(!is_cve_id(bad), "{bad}");
        }
    }
}
