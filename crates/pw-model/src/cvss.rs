//! The CVSS specification version of a score: one type for the advisories that carry scores
//! (pw-advisory) and the classification that weighs them (pw-priority).

use std::fmt;

/// The CVSS version a vector is written in (serialised as `2.0`, `3.0`, `3.1`, `4.0`).
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
pub enum CvssVersion {
    #[serde(rename = "2.0")]
    V2,
    #[serde(rename = "3.0")]
    V3_0,
    #[serde(rename = "3.1")]
    V3_1,
    #[serde(rename = "4.0")]
    V4_0,
}

impl CvssVersion {
    /// `v3.1`-style label used in reasons.
    pub fn label(self) -> &'static str {
        match self {
            CvssVersion::V2 => "v2.0",
            CvssVersion::V3_0 => "v3.0",
            CvssVersion::V3_1 => "v3.1",
            CvssVersion::V4_0 => "v4.0",
        }
    }
}

impl fmt::Display for CvssVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.label()[1..])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shown_and_labelled_alike() {
        assert_eq!(CvssVersion::V3_1.to_string(), "3.1");
        assert_eq!(CvssVersion::V4_0.to_string(), "4.0");
        assert_eq!(CvssVersion::V2.label(), "v2.0");
    }
}
