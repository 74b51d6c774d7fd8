//! Agreement with the reference implementations: every pair in the shared vectors (computed with
//! libapt-pkg and librpm, see tests/data/PROVENANCE.md) must give the reference's sign.

use std::cmp::Ordering;

use pw_version::Scheme;

fn check_file(scheme: Scheme, tsv: &str) -> usize {
    let mut checked = 0;
    let mut failures = Vec::new();
    for (index, line) in tsv.lines().enumerate().skip(1) {
        let fields: Vec<&str> = line.split('\t').collect();
        let [a, b, expected, origin] = fields[..] else {
            panic!("line {}: expected 4 tab-separated fields", index + 1);
        };
        let expected = match expected {
            "-1" => Ordering::Less,
            "0" => Ordering::Equal,
            "1" => Ordering::Greater,
            other => panic!("line {}: bad expected value {other}", index + 1),
        };
        match scheme.compare(a, b) {
            Ok(got) if got == expected => {}
            Ok(got) => failures.push(format!(
                "{a} vs {b} ({origin}): got {got:?}, want {expected:?}"
            )),
            Err(e) => failures.push(format!("{a} vs {b} ({origin}): {e}")),
        }
        assert_eq!(
            scheme.compare_unchecked(b, a),
            expected.reverse(),
            "{b} vs {a} reversed"
        );
        checked += 1;
    }
    assert!(
        failures.is_empty(),
        "{} disagreements:\n{}",
        failures.len(),
        failures.join("\n")
    );
    checked
}

#[test]
fn dpkg_agrees_with_libapt_pkg() {
    let n = check_file(Scheme::Dpkg, include_str!("data/dpkg-vercmp-public.tsv"));
    assert_eq!(n, 300);
}

#[test]
fn rpm_agrees_with_librpm() {
    let n = check_file(Scheme::Rpm, include_str!("data/rpm-vercmp-public.tsv"));
    assert_eq!(n, 300);
}
