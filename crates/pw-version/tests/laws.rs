//! Property tests: the orderings are total orders consistent with equality, and parsing is
//! lossless.

use std::cmp::Ordering;

use proptest::prelude::*;
use pw_version::{DebVersion, RpmVersion, Scheme};

/// Version-like strings built from the characters that matter to the algorithms.
fn dpkg_text() -> impl Strategy<Value = String> {
    (
        prop::option::of("[0-9]{1,2}"),
        "[0-9][0-9a-z.+~]{0,8}",
        prop::option::of("[0-9a-z.+~]{1,6}"),
    )
        .prop_map(|(epoch, upstream, revision)| {
            let mut s = String::new();
            if let Some(e) = epoch {
                s.push_str(&e);
                s.push(':');
            }
            s.push_str(&upstream);
            if let Some(r) = revision {
                s.push('-');
                s.push_str(&r);
            }
            s
        })
}

fn rpm_text() -> impl Strategy<Value = String> {
    (
        prop::option::of("[0-9]{1,2}"),
        "[0-9a-z._+~^]{1,8}",
        "[0-9a-z._+~^]{1,6}",
    )
        .prop_map(|(epoch, version, release)| match epoch {
            Some(e) => format!("{e}:{version}-{release}"),
            None => format!("{version}-{release}"),
        })
}

fn check_laws(scheme: Scheme, a: &str, b: &str, c: &str) {
    let cmp = |x, y| scheme.compare_unchecked(x, y);
    // Reflexive and antisymmetric.
    assert_eq!(cmp(a, a), Ordering::Equal);
    assert_eq!(cmp(a, b), cmp(b, a).reverse());
    // Transitive.
    if cmp(a, b) != Ordering::Greater && cmp(b, c) != Ordering::Greater {
        assert_ne!(
            cmp(a, c),
            Ordering::Greater,
            "{a} <= {b} <= {c} but {a} > {c}"
        );
    }
    // Equal elements are interchangeable.
    if cmp(a, b) == Ordering::Equal {
        assert_eq!(cmp(a, c), cmp(b, c));
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(4000))]

    #[test]
    fn dpkg_is_a_total_order(a in dpkg_text(), b in dpkg_text(), c in dpkg_text()) {
        check_laws(Scheme::Dpkg, &a, &b, &c);
    }

    #[test]
    fn rpm_is_a_total_order(a in rpm_text(), b in rpm_text(), c in rpm_text()) {
        check_laws(Scheme::Rpm, &a, &b, &c);
    }

    #[test]
    fn dpkg_parsing_is_lossless(text in dpkg_text()) {
        let v = DebVersion::parse(&text).unwrap();
        prop_assert_eq!(v.to_string(), text.clone());
        let mut rebuilt = String::new();
        if let Some(e) = v.epoch() { rebuilt.push_str(e); rebuilt.push(':'); }
        rebuilt.push_str(v.upstream());
        if let Some(r) = v.revision() { rebuilt.push('-'); rebuilt.push_str(r); }
        prop_assert_eq!(rebuilt, text);
    }

    #[test]
    fn rpm_parsing_is_lossless(text in rpm_text()) {
        let v = RpmVersion::parse(&text).unwrap();
        prop_assert_eq!(v.to_string(), text.clone());
        let epoch = v.epoch().map(|e| format!("{e}:")).unwrap_or_default();
        prop_assert_eq!(format!("{epoch}{}-{}", v.version(), v.release()), text);
    }

    #[test]
    fn validation_never_panics(text in "\\PC{0,20}") {
        let _ = Scheme::Dpkg.validate(&text);
        let _ = Scheme::Rpm.validate(&text);
        let _ = Scheme::Dpkg.compare_unchecked(&text, "1.0");
        let _ = Scheme::Rpm.compare_unchecked(&text, "1.0-1");
    }
}
