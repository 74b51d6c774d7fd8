//! CVSS base scores computed from vectors.
//!
//! v3.0, v3.1 and v4.0 vectors are scored with the `cvss` crate (RustSec; v4.0 uses the
//! official macro-vector lookup). That crate has no v2 support, so CVSS v2 base scores are
//! computed here with the v2 formula (FIRST, CVSS v2 guide §3.2.1). Only the base score is
//! computed; temporal and environmental metrics in a v2 vector are accepted and ignored.

use std::str::FromStr;

pub use pw_model::CvssVersion;

/// A vector and its base score (0.0–10.0).
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct CvssScore {
    pub version: CvssVersion,
    pub vector: String,
    pub score: f64,
}

/// A vector that could not be scored.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("cannot score CVSS vector \"{vector}\": {reason}")]
pub struct CvssError {
    pub vector: String,
    pub reason: String,
}

/// Scores a vector. v3/v4 vectors carry their version in the `CVSS:x.y/` prefix; a vector
/// without a prefix is read as v2 (OSV's `CVSS_V2` type has none). Never panics.
pub fn score_vector(vector: &str) -> Result<CvssScore, CvssError> {
    let vector = vector.trim();
    let fail = |reason: String| CvssError {
        vector: vector.to_owned(),
        reason,
    };
    if vector.len() > 512 {
        return Err(fail("the vector is longer than 512 bytes".to_owned()));
    }
    if !vector.starts_with("CVSS:") {
        let score = score_v2(vector).map_err(fail)?;
        return Ok(CvssScore {
            version: CvssVersion::V2,
            vector: vector.to_owned(),
            score,
        });
    }
    if let Some(body) = vector.strip_prefix("CVSS:2.0/") {
        let score = score_v2(body).map_err(fail)?;
        return Ok(CvssScore {
            version: CvssVersion::V2,
            vector: vector.to_owned(),
            score,
        });
    }
    let parsed = cvss::Cvss::from_str(vector).map_err(|e| fail(e.to_string()))?;
    let version = match &parsed {
        cvss::Cvss::CvssV30(_) => CvssVersion::V3_0,
        cvss::Cvss::CvssV31(_) => CvssVersion::V3_1,
        cvss::Cvss::CvssV40(_) => CvssVersion::V4_0,
        _ => return Err(fail("unsupported CVSS version".to_owned())),
    };
    let score = parsed.score();
    if !(0.0..=10.0).contains(&score) {
        return Err(fail(format!("score {score} is outside 0–10")));
    }
    Ok(CvssScore {
        version,
        vector: vector.to_owned(),
        score,
    })
}

/// CVSS v2 base score of `AV:_/AC:_/Au:_/C:_/I:_/A:_` (optionally in parentheses).
fn score_v2(vector: &str) -> Result<f64, String> {
    let body = vector
        .strip_prefix('(')
        .and_then(|v| v.strip_suffix(')'))
        .unwrap_or(vector);
    let (mut av, mut ac, mut au, mut c, mut i, mut a) = (None, None, None, None, None, None);
    for part in body.split('/') {
        let (key, value) = part
            .split_once(':')
            .ok_or_else(|| format!("\"{part}\" is not METRIC:VALUE"))?;
        let slot = match key {
            "AV" => &mut av,
            "AC" => &mut ac,
            "Au" => &mut au,
            "C" => &mut c,
            "I" => &mut i,
            "A" => &mut a,
            "E" | "RL" | "RC" | "CDP" | "TD" | "CR" | "IR" | "AR" => continue,
            other => return Err(format!("unknown CVSS v2 metric \"{other}\"")),
        };
        if slot.replace(value).is_some() {
            return Err(format!("metric \"{key}\" appears twice"));
        }
    }
    let pick = |slot: Option<&str>, key: &str, table: &[(&str, f64)]| {
        let value = slot.ok_or_else(|| format!("metric \"{key}\" is missing"))?;
        table
            .iter()
            .find(|(name, _)| *name == value)
            .map(|(_, weight)| *weight)
            .ok_or_else(|| format!("\"{key}:{value}\" is not a valid value"))
    };
    let impact_table = [("N", 0.0), ("P", 0.275), ("C", 0.660)];
    let access_vector = pick(av, "AV", &[("L", 0.395), ("A", 0.646), ("N", 1.0)])?;
    let complexity = pick(ac, "AC", &[("H", 0.35), ("M", 0.61), ("L", 0.71)])?;
    let authentication = pick(au, "Au", &[("M", 0.45), ("S", 0.56), ("N", 0.704)])?;
    let confidentiality = pick(c, "C", &impact_table)?;
    let integrity = pick(i, "I", &impact_table)?;
    let availability = pick(a, "A", &impact_table)?;
    let impact = 10.41 * (1.0 - (1.0 - confidentiality) * (1.0 - integrity) * (1.0 - availability));
    let exploitability = 20.0 * access_vector * complexity * authentication;
    let f_impact = if impact == 0.0 { 0.0 } else { 1.176 };
    let raw = ((0.6 * impact) + (0.4 * exploitability) - 1.5) * f_impact;
    Ok(((raw * 10.0).round() / 10.0).clamp(0.0, 10.0))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(vector: &str, version: CvssVersion, expected: f64) {
        let s = score_vector(vector).unwrap();
        assert_eq!((s.version, s.score), (version, expected), "{vector}");
    }

    /// Expected scores are the published NVD base scores of the named CVEs.
    #[test]
    fn scores_published_vectors() {
        use CvssVersion::*;
        // CVE-2024-6387 (regreSSHion), NVD v3.1: 8.1
        check("CVSS:3.1/AV:N/AC:H/PR:N/UI:N/S:U/C:H/I:H/A:H", V3_1, 8.1);
        // CVE-2023-4911 (Looney Tunables), NVD v3.1: 7.8
        check("CVSS:3.1/AV:L/AC:L/PR:L/UI:N/S:U/C:H/I:H/A:H", V3_1, 7.8);
        // CVE-2025-32463 (sudo chroot), NVD v3.1: 9.3
        check("CVSS:3.1/AV:L/AC:L/PR:N/UI:N/S:C/C:H/I:H/A:H", V3_1, 9.3);
        // CVE-2014-0160 (Heartbleed): v3.0 7.5, v2 5.0
        check("CVSS:3.0/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:N/A:N", V3_0, 7.5);
        check("AV:N/AC:L/Au:N/C:P/I:N/A:N", V2, 5.0);
        // CVE-2014-6271 (Shellshock), v2: 10.0
        check("AV:N/AC:L/Au:N/C:C/I:C/A:C", V2, 10.0);
        check("(AV:N/AC:L/Au:N/C:P/I:P/A:P)", V2, 7.5);
        check("AV:N/AC:M/Au:N/C:N/I:P/A:N", V2, 4.3);
        check("AV:N/AC:L/Au:N/C:N/I:N/A:N", V2, 0.0);
        // CVSS v4.0 specification examples: all-high network vector scores 10.0 (base).
        check(
            "CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:H/VI:H/VA:H/SC:H/SI:H/SA:H",
            V4_0,
            10.0,
        );
        check(
            "CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:N/VI:N/VA:N/SC:N/SI:N/SA:N",
            V4_0,
            0.0,
        );
    }

    #[test]
    fn rejects_malformed_vectors_with_the_vector_named() {
        for bad in [
            "",
            "CVSS:3.1/AV:X",
            "CVSS:9.9/AV:N",
            "AV:N/AC:L/Au:N/C:P/I:P",
            "AV:N/AC:L/Au:N/C:P/I:P/A:Q",
            "AV:N/AV:N/AC:L/Au:N/C:P/I:P/A:P",
            "high",
        ] {
            let e = score_vector(bad).unwrap_err();
            assert_eq!(e.vector, bad.trim());
        }
    }
}
