//! Real Debian 12 changelogs (`tests/data/changelog/`, PROVENANCE.md): entries and CVE ids
//! counted with zcat/grep, and the backport split at the installed version.

use pw_inventory::changelog::parse_debian_changelog;

use crate::data;

fn parse(name: &str) -> pw_inventory::changelog::Changelog {
    parse_debian_changelog(&data(&format!("changelog/{name}.changelog.Debian.gz")))
}

fn all_cves(log: &pw_inventory::changelog::Changelog) -> usize {
    let mut cves: Vec<_> = log.entries.iter().flat_map(|e| e.cves.iter()).collect();
    cves.sort();
    cves.dedup();
    cves.len()
}

#[test]
fn counts_match_the_shell_tools() {
    // (file, entries, distinct CVE ids): grep -cE '^[a-z0-9][^ ]* \(' and
    // grep -oiE 'CVE-[0-9]{4}-[0-9]{4,}' | sort -u, both before "Old Changelog:".
    for (name, entries, cves) in [
        ("less", 9, 3),
        ("libssl3", 51, 62),
        ("libxml2", 32, 35),
        ("patch", 56, 5),
    ] {
        let log = parse(name);
        assert_eq!(log.problems, vec![], "{name}");
        assert_eq!(log.entries.len(), entries, "{name}");
        assert_eq!(all_cves(&log), cves, "{name}");
    }
}

#[test]
fn the_installed_versions_history_names_the_backported_fixes() {
    // less 590-2.1~deb12u2 is installed: CVE-2024-32487 was fixed by Debian's backport. Its
    // changelog was trimmed by dh_installchangelogs (the comment at its end).
    let less = parse("less");
    assert!(less.truncated);
    assert_eq!(less.entries[0].version, "590-2.1~deb12u2");
    assert_eq!(less.entries[0].distributions, ["bookworm-security"]);
    // The fix is in unstable's 590-2.1, a higher version listed below the installed one.
    let history = less.history_of("590-2.1~deb12u2").unwrap();
    assert_eq!(
        history,
        ["CVE-2022-46663", "CVE-2022-48624", "CVE-2024-32487"]
    );
    assert!(less.news_since("590-2.1~deb12u2").is_empty());
    assert_eq!(less.news_since("590-2"), history[1..]);
    assert!(!parse("patch").truncated);

    // libssl3 (source openssl) 3.0.19-1~deb12u2: the top entry's five CVEs are news to a host
    // still on 3.0.19-1~deb12u1, and history to one on 3.0.19-1~deb12u2.
    let openssl = parse("libssl3");
    assert_eq!(openssl.entries[0].source, "openssl");
    let news = openssl.news_since("3.0.19-1~deb12u1");
    assert_eq!(
        news,
        [
            "CVE-2026-28387",
            "CVE-2026-28389",
            "CVE-2026-28390",
            "CVE-2026-31789",
            "CVE-2026-31790"
        ]
    );
    let before = openssl.history_of("3.0.19-1~deb12u1").unwrap();
    assert!(news.iter().all(|cve| !before.contains(cve)));
    let after = openssl.history_of("3.0.19-1~deb12u2").unwrap();
    assert!(news.iter().all(|cve| after.contains(cve)));

    // libxml2: the entries from ~deb12u4 downwards name 34 distinct CVE ids (awk from the
    // ~deb12u4 header to the end | grep -oiE … | sort -u); ~deb12u5 fixes CVE-2025-9714 and
    // names CVE-2025-7425 again ("Amend d/p/CVE-2025-7425.patch"): a mention is a mention.
    let libxml2 = parse("libxml2");
    let history = libxml2.history_of("2.9.14+dfsg-1.3~deb12u4").unwrap();
    assert_eq!(history.len(), 34);
    assert_eq!(
        libxml2.news_since("2.9.14+dfsg-1.3~deb12u4"),
        ["CVE-2025-7425", "CVE-2025-9714"]
    );
}
