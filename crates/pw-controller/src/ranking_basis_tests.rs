//! The ranking basis: changed by any input, by nothing else; the same bytes across builds.

use std::collections::BTreeSet;

use jiff::SignedDuration;
use pw_priority::{CriticalFix, EmergencyFlag, PriorityPolicy, Tier};
use pw_store::PendingRow;

use super::basis;

fn pending(package: &str, cves: Option<&str>) -> PendingRow {
    PendingRow {
        package: package.into(),
        arch: "amd64".into(),
        from_version: "1.0-1".into(),
        to_version: "1.0-2".into(),
        origin: "Debian".into(),
        suite: "bookworm-security".into(),
        cves: cves.map(str::to_owned),
    }
}

/// The inputs of one basis.
#[derive(Clone)]
struct Inputs {
    inventory: Option<String>,
    os: String,
    pending: Option<Vec<PendingRow>>,
    policy: PriorityPolicy,
    group: Option<String>,
}

impl Inputs {
    fn basis(&self) -> Option<Vec<u8>> {
        basis(
            self.inventory.as_deref(),
            &self.os,
            self.pending.as_deref(),
            &self.policy,
            self.group.as_deref(),
        )
        .unwrap()
    }
}

fn base() -> Inputs {
    Inputs {
        inventory: Some("sha256:00ff".into()),
        os: "debian:12".into(),
        pending: Some(vec![
            pending("openssl", Some(r#"["CVE-2026-1"]"#)),
            pending("bash", None),
        ]),
        policy: PriorityPolicy::default(),
        group: Some("web".into()),
    }
}

/// One change of every input the basis digests, each a different host's inputs.
fn changed() -> Vec<(&'static str, Inputs)> {
    let edit = |what: &'static str, change: &dyn Fn(&mut Inputs)| {
        let mut inputs = base();
        change(&mut inputs);
        (what, inputs)
    };
    let pending_column = |column: usize| {
        move |i: &mut Inputs| {
            let row = &mut i.pending.as_mut().unwrap()[0];
            let fields = [
                &mut row.package,
                &mut row.arch,
                &mut row.from_version,
                &mut row.to_version,
                &mut row.origin,
                &mut row.suite,
            ];
            if let Some(field) = fields.into_iter().nth(column) {
                field.push('x');
            } else {
                row.cves = None;
            }
        }
    };
    let mut all = vec![
        edit("inventory", &|i| i.inventory = Some("sha256:00fe".into())),
        edit("os", &|i| i.os = "debian:13".into()),
        edit("no pending reported", &|i| i.pending = None),
        edit("no pending", &|i| i.pending = Some(Vec::new())),
        edit("a pending row fewer", &|i| {
            i.pending.as_mut().unwrap().pop();
        }),
        edit("no group", &|i| i.group = None),
        edit("another group", &|i| i.group = Some("db".into())),
        edit("T0 deadline", &|i| {
            i.policy.rules.t0.deadline = SignedDuration::from_hours(12)
        }),
        edit("T1 CVSS", &|i| i.policy.rules.t1.cvss_min = 7.5),
        edit("T2 words", &|i| {
            i.policy.rules.t2.severity_words.push("x".into())
        }),
        edit("T3 deadline", &|i| {
            i.policy.rules.t3.deadline = SignedDuration::from_hours(1)
        }),
        edit("unknown severity", &|i| {
            i.policy.rules.unknown_severity = Tier::T1
        }),
        edit("a group's rules", &|i| {
            let mut rules = i.policy.rules.clone();
            rules.t0.kev = false;
            i.policy.groups.insert("web".into(), rules);
        }),
        edit("a severity word", &|i| {
            i.policy.distro_severity.insert("low".into(), Tier::T1);
        }),
        edit("an emergency flag", &|i| {
            i.policy.emergency.push(EmergencyFlag {
                cve: "CVE-2026-9".into(),
                reason: "0-day".into(),
            })
        }),
        edit("a critical fix", &|i| {
            i.policy.critical_fixes.push(CriticalFix {
                advisory: "DSA-1".into(),
                reason: "outage".into(),
            })
        }),
    ];
    for column in 0..7 {
        all.push(edit("a pending column", &pending_column(column)));
    }
    all
}

#[test]
fn any_input_changes_the_basis_and_nothing_else_does() {
    let base = base();
    let expected = base.basis().expect("a digest gives a basis");
    assert_eq!(
        base.clone().basis().as_ref(),
        Some(&expected),
        "equal inputs"
    );
    let mut reordered = base.clone();
    reordered.pending.as_mut().unwrap().reverse();
    assert_eq!(
        reordered.basis().as_ref(),
        Some(&expected),
        "pending rows as a set"
    );
    let mut seen = BTreeSet::from([expected]);
    for (what, inputs) in changed() {
        let basis = inputs.basis().expect("a basis");
        assert!(seen.insert(basis), "{what}: a basis seen before");
    }
    let mut unknown = base;
    unknown.inventory = None;
    assert_eq!(unknown.basis(), None, "no content digest: no basis");
}

#[test]
fn the_basis_is_the_same_bytes_in_every_build() {
    // A stable encoding (not `Debug` forms): this digest may change only with `VERSION`.
    let basis = hex(&base().basis().unwrap());
    assert_eq!(
        basis, "af52ceae40015ad60cb22ded47bbfaf5f81aaef50cdf103a775713ac18828aca",
        "the basis of the same inputs changed: bump VERSION if intended"
    );
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
