//! Text patchwarden generates in English — a finding's tier reasons (pw-priority's
//! `classify`), the reason and summary of an offered upgrade (pw-scan's `upgrades`), a host's
//! reboot reasons (pw-protocol's `RestartStatus`) — in Simplified Chinese for the zh-CN pages.
//!
//! Each known sentence shape is matched by its fixed words and its values (CVE ids, versions,
//! scores) are kept; a sentence of no known shape (an advisory's own summary from a feed, an
//! operator's words) is shown as written. `tests` holds one example of every shape.

/// `text` for the page language `lang` (`en` returns it unchanged).
pub fn translate(lang: &str, text: &str) -> String {
    if lang != "zh-CN" {
        return text.to_owned();
    }
    zh(text).unwrap_or_else(|| text.to_owned())
}

/// Sentences without values.
const FIXED: &[(&str, &str)] = &[
    ("feature enhancement only", "仅功能增强"),
    ("bug fix", "缺陷修复"),
    (
        "security fix of unknown severity (no CVSS score, no known distro severity)",
        "严重性未知的安全修复（无 CVSS 评分，也无已知的发行版严重性）",
    ),
];

fn zh(text: &str) -> Option<String> {
    if let Some((_, zh)) = FIXED.iter().find(|(en, _)| *en == text) {
        return Some((*zh).to_owned());
    }
    if let Some(rest) = text.strip_prefix("operator emergency flag on ") {
        let (cve, reason) = rest.split_once(": ")?;
        return Some(format!("操作员紧急标记 {cve}：{reason}"));
    }
    if let Some(rest) = text.strip_prefix("operator marked ") {
        let (advisory, reason) = rest.split_once(" critical: ")?;
        return Some(format!("操作员将 {advisory} 标记为关键修复：{reason}"));
    }
    if let Some(reason) = text.strip_prefix("critical fix: ") {
        return Some(format!("关键修复：{reason}"));
    }
    if let Some(rest) = text.strip_prefix("advisory severity ") {
        let word = rest.strip_suffix(" marks a critical fix")?;
        return Some(format!("公告严重性 {word} 表示关键修复"));
    }
    if let Some(rest) = text.strip_prefix("distro severity ") {
        if let Some(word) = rest.strip_suffix(" is not in the policy's distro_severity words") {
            return Some(format!(
                "发行版严重性 {word} 不在策略的 distro_severity 词表中"
            ));
        }
        return Some(format!("发行版严重性 {rest}"));
    }
    if text.starts_with("EPSS ") {
        if let Some((epss, cvss)) = text.split_once(" with CVSS ") {
            return Some(format!("{epss}，且 CVSS {cvss}"));
        }
        return None;
    }
    if let Some((cve, date)) = text.split_once(" is in CISA KEV since ") {
        return Some(format!(
            "{cve} 自 {date} 起列入 CISA KEV（已知被利用漏洞目录）"
        ));
    }
    if let Some(rest) = text.strip_prefix("pending ") {
        return pending_summary(rest);
    }
    if text.contains(" offered by ") {
        return offered_by(text);
    }
    if let Some(rest) = text.strip_prefix("kernel ") {
        let (installed, running) = rest.split_once(" is installed, ")?;
        let running = running.strip_suffix(" runs")?;
        return Some(format!("已安装内核 {installed}，正在运行 {running}"));
    }
    if let Some(by) = text.strip_prefix("/run/reboot-required (by ") {
        let by = by.strip_suffix(')')?;
        return Some(format!("/run/reboot-required（由 {by} 设置）"));
    }
    None
}

/// `pending security update 1.0 → 1.1 from bookworm-security`.
fn pending_summary(rest: &str) -> Option<String> {
    let kinds = [
        ("security update ", "安全更新"),
        ("bug-fix update ", "缺陷修复更新"),
        ("enhancement ", "功能增强"),
    ];
    let (what, versions) = kinds
        .iter()
        .find_map(|(en, zh)| rest.strip_prefix(en).map(|v| (*zh, v)))?;
    let (change, suite) = versions.split_once(" from ")?;
    Some(format!("待处理的{what} {change}，来自 {suite}"))
}

/// `libssl3 3.0.17-1~deb12u2 offered by bookworm-security (Debian-Security), its changelog
/// names CVE-2025-1, CVE-2025-2`.
fn offered_by(text: &str) -> Option<String> {
    let (package, rest) = text.split_once(" offered by ")?;
    let (source, cves) = match rest.split_once("), ") {
        Some((source, cves)) => (format!("{source})"), Some(cves)),
        None => (rest.to_owned(), None),
    };
    let source = source.replacen(" (", "（", 1).replacen(')', "）", 1);
    let cves = match cves {
        None => String::new(),
        Some("its changelog names no CVE") => "，其变更日志未提到 CVE".to_owned(),
        Some(other) => format!(
            "，其变更日志提到 {}",
            other.strip_prefix("its changelog names ")?
        ),
    };
    Some(format!("{source} 提供 {package}{cves}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn zh(text: &str) -> String {
        translate("zh-CN", text)
    }

    #[test]
    fn every_generated_shape_reads_in_chinese_with_its_values() {
        let cases = [
            ("bug fix", "缺陷修复"),
            (
                "operator emergency flag on CVE-2024-1: wormable",
                "操作员紧急标记 CVE-2024-1：wormable",
            ),
            (
                "operator marked DSA-1 critical: payment path",
                "操作员将 DSA-1 标记为关键修复：payment path",
            ),
            ("critical fix: data loss", "关键修复：data loss"),
            (
                "advisory severity critical marks a critical fix",
                "公告严重性 critical 表示关键修复",
            ),
            ("distro severity high", "发行版严重性 high"),
            (
                "EPSS 0.97 ≥ 0.5 with CVSS 9.8 (v3.1)",
                "EPSS 0.97 ≥ 0.5，且 CVSS 9.8 (v3.1)",
            ),
            (
                "CVE-2024-3094 is in CISA KEV since 2024-03-29",
                "CVE-2024-3094 自 2024-03-29 起列入 CISA KEV（已知被利用漏洞目录）",
            ),
            (
                "pending security update 1.0 → 1.1 from bookworm-security",
                "待处理的安全更新 1.0 → 1.1，来自 bookworm-security",
            ),
            (
                "libssl3 3.0.17 offered by bookworm-security (Debian-Security), its changelog names CVE-2025-1",
                "bookworm-security（Debian-Security） 提供 libssl3 3.0.17，其变更日志提到 CVE-2025-1",
            ),
            (
                "kernel 6.1.0-30-amd64 (linux-image-amd64 6.1.124-1) is installed, 6.1.0-28-amd64 runs",
                "已安装内核 6.1.0-30-amd64 (linux-image-amd64 6.1.124-1)，正在运行 6.1.0-28-amd64",
            ),
        ];
        for (en, expected) in cases {
            assert_eq!(zh(en), expected, "{en}");
        }
    }

    #[test]
    fn unknown_text_and_english_pages_stay_as_written() {
        assert_eq!(zh("Heap overflow in libfoo"), "Heap overflow in libfoo");
        assert_eq!(translate("en", "bug fix"), "bug fix");
        assert_eq!(zh("CVSS 9.8 (v3.1) ≥ 9.0"), "CVSS 9.8 (v3.1) ≥ 9.0");
    }
}
