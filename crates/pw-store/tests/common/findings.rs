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
