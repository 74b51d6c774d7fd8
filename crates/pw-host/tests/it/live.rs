//! The live machine: os-release and the dpkg database, checked against dpkg-query itself.

use std::collections::BTreeSet;
use std::process::Command;

use pw_model::OsFamily;

#[test]
fn local_os_and_inventory() {
    let os = pw_host::read_local_os().unwrap();
    if !matches!(os.family, OsFamily::Debian | OsFamily::Ubuntu) {
        // An RPM machine: run the real rpm.
        let inventory = pw_host::read_local_inventory(&os).unwrap();
        assert!(
            inventory.problems.is_empty(),
            "{:?}",
            inventory.problem_messages()
        );
        assert!(inventory.packages.iter().any(|p| p.name == "rpm"));
        return;
    }
    let inventory = pw_host::read_local_inventory(&os).unwrap();
    assert_eq!(inventory.origin, "/var/lib/dpkg/status");
    assert_eq!(inventory.problem_messages(), Vec::<String>::new());
    assert!(inventory.packages.iter().any(|p| p.name == "dpkg"));

    // Independent check: dpkg-query's own view of installed packages (same states counted).
    let output = Command::new("dpkg-query")
        .args([
            "-W",
            "-f",
            "${Package}\t${Architecture}\t${Version}\t${db:Status-Status}\n",
        ])
        .output()
        .unwrap();
    assert!(output.status.success());
    let expected: BTreeSet<String> = String::from_utf8(output.stdout)
        .unwrap()
        .lines()
        .filter_map(|line| {
            let (rest, state) = line.rsplit_once('\t')?;
            matches!(state, "installed" | "triggers-pending" | "triggers-awaited")
                .then(|| rest.to_owned())
        })
        .collect();
    let got: BTreeSet<String> = inventory
        .packages
        .iter()
        .map(|p| format!("{}\t{}\t{}", p.name, p.arch, p.version))
        .collect();
    assert_eq!(got, expected);
    assert_eq!(inventory.packages.len(), expected.len());
}
