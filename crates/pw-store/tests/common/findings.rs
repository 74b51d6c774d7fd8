//! Findings for the write path's tests.

use pw_store::CurrentFinding;

use super::at;

/// Finding `A{index}` of binary `p{index % 2}-bin` (source `p{index % 2}`, fixed in 1.1): tier
/// `index % 4`, its deadline the first of month `1 + index % 3` of 2026, EPSS 0.25.
pub fn finding(index: u32, summary: &str, kev: bool) -> CurrentFinding {
    let package = format!("p{}", index % 2);
    let deadline = at(&format!("2026-0{}-01T00:00:00Z", 1 + index % 3));
    let json = serde_json::json!({
        "binary": format!("{package}-bin"), "package": package, "advisory": format!("A{index}"),
        "fixed": "1.1", "kev": kev, "epss": 0.25, "summary": summary,
        "deadline": deadline.to_string(),
    });
    CurrentFinding {
        binary: format!("{package}-bin"),
        advisory: format!("A{index}"),
        tier: (index % 4) as u8,
        deadline: Some(deadline),
        json: json.to_string(),
    }
}

/// Finding `k` as the scanner makes it: binary `lib{k}` 1.0-1 of source `src{k % 2}`, advisory
/// `DEBIAN-CVE-2025-{k:05}`, fixed in 1.0-2 (update key 1 + k % 2 in a fresh database); tier
/// T1, no deadline, EPSS or KEV — each test sets what it varies.
pub fn model_finding(k: usize) -> pw_model::Finding {
    pw_model::Finding {
        binary: format!("lib{k}"),
        installed: "1.0-1".into(),
        package: format!("src{}", k % 2),
        package_version: "1.0-1".into(),
        advisory: format!("DEBIAN-CVE-2025-{k:05}"),
        aliases: Vec::new(),
        fixed: Some("1.0-2".into()),
        tier: pw_model::Tier::T1,
        deadline: None,
        reasons: Vec::new(),
        summary: format!("problem {k}"),
        published: None,
        cvss: None,
        epss: None,
        kev: false,
    }
}
