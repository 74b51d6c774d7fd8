//! Unit and property tests of inventory contents, digests and deltas.

use std::collections::BTreeMap;

use proptest::prelude::*;
use pw_model::InstalledPackage;

use super::*;

fn package(name: &str, version: &str, arch: &str) -> InstalledPackage {
    InstalledPackage {
        name: name.into(),
        version: version.into(),
        arch: arch.into(),
        source: None,
        source_version: None,
    }
}

fn history(entries: &[(&str, &[&str])]) -> BackportHistory {
    entries
        .iter()
        .map(|(b, cves)| (b.to_string(), cves.iter().map(|c| c.to_string()).collect()))
        .collect()
}

#[test]
fn the_digest_ignores_order_and_sees_every_field() {
    let a = package("bash", "5.2.15-2+b2", "amd64");
    let b = package("libc6", "2.36-9+deb12u10", "amd64");
    let one = InventoryContent::new(vec![a.clone(), b.clone()], None);
    let other_order = InventoryContent::new(vec![b.clone(), a.clone()], None);
    assert_eq!(one.digest(), other_order.digest());
    assert!(one.digest().starts_with("sha256:") && one.digest().len() == 71);
    let mut with_source = b.clone();
    with_source.source = Some("glibc".into());
    let variants = [
        InventoryContent::new(vec![a.clone()], None),
        InventoryContent::new(vec![a.clone(), with_source], None),
        InventoryContent::new(vec![a.clone(), package("libc6", "2.36-9", "amd64")], None),
        InventoryContent::new(
            vec![a.clone(), package("libc6", "2.36-9+deb12u10", "i386")],
            None,
        ),
        InventoryContent::new(vec![a.clone(), b.clone()], Some(BackportHistory::new())),
        InventoryContent::new(vec![a, b], Some(history(&[("bash", &["CVE-2022-3715"])]))),
    ];
    let mut digests: Vec<String> = variants.iter().map(InventoryContent::digest).collect();
    digests.push(one.digest());
    let distinct: std::collections::HashSet<_> = digests.iter().collect();
    assert_eq!(distinct.len(), digests.len(), "{digests:?}");
}

#[test]
fn a_name_twice_keeps_the_last_entry_and_multiarch_keeps_both() {
    let content = InventoryContent::new(
        vec![
            package("libc6", "1", "amd64"),
            package("libc6", "1", "i386"),
            package("libc6", "2", "amd64"),
        ],
        None,
    );
    assert_eq!(content.package_count(), 2);
    let (packages, _) = content.into_parts();
    assert_eq!(packages[0].version, "2");
    assert_eq!(packages[1].arch, "i386");
}

#[test]
fn the_canonical_bytes_read_back() {
    let mut with_source = package("libssl3", "3.0.17-1~deb12u2", "amd64");
    with_source.source = Some("openssl".into());
    with_source.source_version = Some("3.0.17-1~deb12u2".into());
    let content = InventoryContent::new(
        vec![package("bash", "5.2.15-2+b2", "amd64"), with_source],
        Some(history(&[("libssl3", &["CVE-2023-0286"])])),
    );
    let encoded = content.encode();
    assert_eq!(encoded.count, 2);
    assert!(
        std::str::from_utf8(&encoded.packages_json)
            .unwrap()
            .starts_with(r#"[["bash","amd64","5.2.15-2+b2",null,null],["libssl3""#)
    );
    let back =
        InventoryContent::decode(&encoded.packages_json, content.backport_history().cloned())
            .unwrap();
    assert_eq!(back, content);
    assert_eq!(back.digest(), encoded.digest);
    assert!(InventoryContent::decode(b"[[\"bash\"]]", None).is_err());
}

#[test]
fn a_delta_names_only_what_changed() {
    let base = InventoryContent::new(
        vec![
            package("bash", "5.2.15-2+b2", "amd64"),
            package("curl", "7.88.1-10+deb12u5", "amd64"),
            package("vim", "2:9.0.1378-2", "amd64"),
        ],
        Some(history(&[("curl", &["CVE-2023-38545"]), ("vim", &[])])),
    );
    let new = InventoryContent::new(
        vec![
            package("bash", "5.2.15-2+b2", "amd64"),
            package("curl", "7.88.1-10+deb12u12", "amd64"),
            package("jq", "1.6-2.1", "amd64"),
        ],
        Some(history(&[("curl", &["CVE-2023-38545", "CVE-2024-2398"])])),
    );
    let delta = base.delta_to(&new);
    let names: Vec<&str> = delta.changed.iter().map(|p| p.name.as_str()).collect();
    assert_eq!(names, ["curl", "jq"]);
    assert_eq!(
        delta.removed,
        [PackageKey {
            name: "vim".into(),
            arch: "amd64".into()
        }]
    );
    let history_delta = delta.backport_history.clone().unwrap();
    assert_eq!(history_delta.removed, ["vim"]);
    assert_eq!(history_delta.changed.len(), 1);
    let mut applied = base.clone();
    applied.apply(&delta);
    assert_eq!(applied, new);
    assert_eq!(applied.digest(), new.digest());
    // The same content again: an empty delta, a few bytes on the wire.
    let none = new.delta_to(&new);
    assert!(none.packages_unchanged());
    assert_eq!(
        serde_json::to_string(&none).unwrap(),
        r#"{"backport_history":{}}"#
    );
}

#[test]
fn a_delta_drops_or_starts_the_history() {
    let with = InventoryContent::new(vec![], Some(history(&[("bash", &["CVE-1"])])));
    let without = InventoryContent::new(vec![], None);
    let mut applied = with.clone();
    applied.apply(&with.delta_to(&without));
    assert_eq!(applied, without);
    let mut applied = without.clone();
    applied.apply(&without.delta_to(&with));
    assert_eq!(applied, with);
}

#[test]
fn the_delta_message_reads_back_and_older_acks_ask_for_nothing() {
    let report = InventoryReport {
        protocol_version: 1,
        hostname: "web-1".into(),
        os: "debian:12".into(),
        packages: vec![package("bash", "5.2.15-2+b2", "amd64")],
        pending_updates: None,
        reboot_required: false,
        reboot_required_by: vec![],
        collected_at: jiff::Timestamp::UNIX_EPOCH,
        labels: Some(BTreeMap::new()),
        backport_history: None,
        restart: None,
    };
    let base = InventoryContent::default();
    let content = InventoryContent::of_report(&report);
    let digest = content.digest();
    let delta = InventoryDelta::from_report(&report, (&base, &base.digest()), (&content, &digest));
    let json = serde_json::to_string(&delta).unwrap();
    let back: InventoryDelta = serde_json::from_str(&json).unwrap();
    assert_eq!(back, delta);
    let mut applied = base.clone();
    applied.apply(&back.changes);
    assert_eq!(applied.digest(), back.digest);
    let old: InventoryAck = serde_json::from_str(r#"{"host_id":"h","packages":1}"#).unwrap();
    assert!(!old.full_inventory_needed && !old.acknowledges(&digest));
    let ack = InventoryAck {
        host_id: "h".into(),
        packages: 1,
        digest: Some(digest.clone()),
        full_inventory_needed: false,
    };
    assert!(ack.acknowledges(&digest));
    assert_eq!(
        serde_json::to_value(&ack).unwrap()["digest"],
        serde_json::Value::String(digest)
    );
}

fn packages() -> impl Strategy<Value = Vec<InstalledPackage>> {
    let one = (
        "[a-e]{1,2}",
        // Now and then a character JSON escapes, or one beyond ASCII: read back by serde.
        "[0-3][0-3.~+é\"\\\\\u{1}]{0,2}",
        prop_oneof![Just("amd64"), Just("i386")],
        proptest::option::of("[a-c]{1,2}"),
    )
        .prop_map(|(name, version, arch, source)| InstalledPackage {
            name,
            version,
            arch: arch.into(),
            source,
            source_version: None,
        });
    proptest::collection::vec(one, 0..24)
}

fn histories() -> impl Strategy<Value = Option<BackportHistory>> {
    proptest::option::of(proptest::collection::btree_map(
        "[a-e]{1,2}",
        proptest::collection::vec("CVE-[0-3]", 0..3),
        0..6,
    ))
}

proptest! {
    /// A report's packages encoded in place are the content `new` makes of them, encoded: the
    /// same bytes, digest and count, whatever their order and keys named twice.
    #[test]
    fn packages_encode_in_place_as_their_content(list in packages(), history in histories()) {
        let content = InventoryContent::new(list.clone(), history.clone());
        let mut sorted = list;
        let encoded = InventoryContent::encode_packages(&mut sorted, history.as_ref());
        prop_assert_eq!(encoded, content.encode());
    }

    /// Any base and any new content: the delta applied to the base is the new content, with
    /// its digest, and the canonical bytes read back to the same content.
    #[test]
    fn deltas_round_trip(
        old in packages(), old_history in histories(),
        new in packages(), new_history in histories(),
    ) {
        let base = InventoryContent::new(old, old_history);
        let target = InventoryContent::new(new, new_history);
        let delta = base.delta_to(&target);
        let wire: ContentDelta =
            serde_json::from_str(&serde_json::to_string(&delta).unwrap()).unwrap();
        let mut applied = base.clone();
        applied.apply(&wire);
        prop_assert_eq!(applied.digest(), target.digest());
        prop_assert_eq!(&applied, &target);
        prop_assert_eq!(base == target, base.digest() == target.digest());
        let encoded = target.encode();
        let back = InventoryContent::decode(
            &encoded.packages_json,
            target.backport_history().cloned(),
        ).unwrap();
        prop_assert_eq!(&back, &target);
        let parts = InventoryContent::decode_parts(
            &encoded.packages_json,
            target.backport_history().cloned(),
        ).unwrap();
        prop_assert_eq!(&parts, &back.into_parts());
        // Those kept by name or source name, as decoded whole and filtered.
        let keep = |name: &str, source: Option<&str>| name.len().is_multiple_of(2) || source.is_some();
        let kept = InventoryContent::decode_packages_where(&encoded.packages_json, keep).unwrap();
        let expected: Vec<InstalledPackage> = (parts.0.into_iter())
            .filter(|p| keep(&p.name, p.source.as_deref()))
            .collect();
        prop_assert_eq!(kept, expected);
    }
}

#[test]
fn parts_of_rows_out_of_key_order_are_read_as_a_content() {
    // Not written by `encode` (a key twice, keys out of order): read as `decode` reads them.
    let rows = br#"[["zlib1g","amd64","1",null,null],["bash","amd64","5",null,null],
        ["bash","amd64","6","bash","6"]]"#;
    let parts = InventoryContent::decode_parts(rows, None).unwrap();
    assert_eq!(
        parts,
        InventoryContent::decode(rows, None).unwrap().into_parts()
    );
    let names: Vec<(&str, &str)> = (parts.0.iter())
        .map(|p| (p.name.as_str(), p.version.as_str()))
        .collect();
    assert_eq!(names, [("bash", "6"), ("zlib1g", "1")]);
}

#[test]
fn packages_kept_of_rows_out_of_key_order_or_escaped_are_those_decoded() {
    let all = |_: &str, _: Option<&str>| true;
    for rows in [
        &br#"[["zlib1g","amd64","1",null,null],["bash","amd64","5",null,null],
            ["bash","amd64","6","bash","6"]]"#[..],
        br#"[["b\u0061sh","amd64","5",null,null],["zlib1g","amd64","1","z\"lib","1"]]"#,
    ] {
        let (whole, _) = InventoryContent::decode_parts(rows, None).unwrap();
        assert_eq!(
            InventoryContent::decode_packages_where(rows, all).unwrap(),
            whole
        );
        let bash = |name: &str, _: Option<&str>| name == "bash";
        let kept = InventoryContent::decode_packages_where(rows, bash).unwrap();
        assert_eq!(
            kept,
            (whole.into_iter())
                .filter(|p| p.name == "bash")
                .collect::<Vec<_>>()
        );
    }
    assert!(InventoryContent::decode_packages_where(b"[1]", all).is_err());
}

#[test]
fn rows_read_by_hand_are_those_serde_reads_in_the_form_encode_writes() {
    let content = InventoryContent::new(
        vec![
            package("bash", "5.2.15-2+b7", "amd64"),
            from_glibc(package("libc6", "2.36-9+deb12u13", "amd64")),
            from_glibc(package("libc6", "2.36-9+deb12u13", "i386")),
        ],
        None,
    );
    let json = content.encode().packages_json;
    let by_hand = ordered_plain_rows(&json).expect("the form encode writes");
    let by_serde: Vec<CanonicalRef<'_>> = serde_json::from_slice(&json).unwrap();
    assert_eq!(by_hand, by_serde);
    assert_eq!(ordered_plain_rows(b"[]").unwrap(), []);
    // Any other form is left to serde: spaces, escapes, control characters, rows out of order
    // or twice, a missing field, trailing bytes, not UTF-8.
    for other in [
        &br#"[ ["bash","amd64","5",null,null]]"#[..],
        br#"[["b\u0061sh","amd64","5",null,null]]"#,
        b"[[\"ba\x01sh\",\"amd64\",\"5\",null,null]]",
        br#"[["zlib1g","amd64","1",null,null],["bash","amd64","5",null,null]]"#,
        br#"[["bash","amd64","5",null,null],["bash","amd64","6",null,null]]"#,
        br#"[["bash","amd64","5",null]]"#,
        br#"[["bash","amd64","5",null,null]],"#,
        b"[[\"b\xffsh\",\"amd64\",\"5\",null,null]]",
        b"",
    ] {
        assert!(
            ordered_plain_rows(other).is_none(),
            "{}",
            String::from_utf8_lossy(other)
        );
    }
}

fn from_glibc(package: InstalledPackage) -> InstalledPackage {
    InstalledPackage {
        source: Some("glibc".to_owned()),
        source_version: Some(package.version.clone()),
        ..package
    }
}
