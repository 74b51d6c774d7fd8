//! The Ansible side: `ansible-playbook` with the `ansible.builtin.apt` module, `serial` hosts at
//! a time, over the `community.docker.docker` connection, timed with `/usr/bin/time`.

use std::path::Path;
use std::process::Command;

use anyhow::{Context, ensure};
use pw_testbed::Fleet;
use pw_testbed::repo::packages::{DEMO, SECURITY_FIX};

use crate::{Measure, Options, TempDir, check_all_upgraded};

/// The playbook: the same change patchwarden's guard makes (exact version, no recommends, keep
/// local conffiles, no downgrade, no cache update: both sides use the lists fetched when the
/// host started).
pub fn playbook(serial: usize) -> String {
    format!(
        "- hosts: hosts
  serial: {serial}
  gather_facts: false
  tasks:
    - name: upgrade {DEMO} to {SECURITY_FIX}
      ansible.builtin.apt:
        name: \"{DEMO}={SECURITY_FIX}\"
        state: present
        update_cache: false
        install_recommends: false
        allow_downgrade: false
        dpkg_options: force-confdef,force-confold
        lock_timeout: 120
"
    )
}

/// Runs the playbook against `fleet` and returns its wall time and CPU (the whole process tree,
/// the `docker exec` clients its connection plugin starts included).
pub fn run(options: &Options, fleet: &Fleet) -> anyhow::Result<Measure> {
    let dir = TempDir::new("ansible")?;
    let mut inventory = String::from("[hosts]\n");
    for host in &fleet.hosts {
        inventory.push_str(&format!(
            "{} ansible_connection=community.docker.docker \
             ansible_python_interpreter=/usr/bin/python3\n",
            host.name
        ));
    }
    std::fs::write(dir.0.join("inventory.ini"), inventory)?;
    std::fs::write(dir.0.join("playbook.yml"), playbook(options.batch))?;
    let times = dir.0.join("time.txt");
    let out = Command::new("/usr/bin/time")
        .args(["-f", "%e %U %S", "-o"])
        .arg(&times)
        .arg(&options.ansible_playbook)
        .args(["-i", "inventory.ini", "--forks", &options.batch.to_string()])
        .arg("playbook.yml")
        .current_dir(&dir.0)
        .env("ANSIBLE_LOCAL_TEMP", dir.0.join("tmp"))
        .env("ANSIBLE_NOCOLOR", "1")
        .env("ANSIBLE_RETRY_FILES_ENABLED", "0")
        .env(
            "ANSIBLE_PIPELINING",
            if options.ansible_pipelining {
                "True"
            } else {
                "False"
            },
        )
        .output()
        .context("running ansible-playbook under /usr/bin/time")?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    ensure!(
        out.status.success(),
        "ansible-playbook failed: {stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    ensure!(
        stdout.contains("changed=1"),
        "ansible-playbook changed nothing: {stdout}"
    );
    if let Some(recap) = stdout.find("PLAY RECAP") {
        eprintln!("{}", &stdout[recap..]);
    }
    let measure = parse_time(&times)?;
    check_all_upgraded(fleet)?;
    Ok(measure)
}

fn parse_time(path: &Path) -> anyhow::Result<Measure> {
    let text = std::fs::read_to_string(path)?;
    let line = text.lines().last().context("empty /usr/bin/time output")?;
    let numbers: Vec<f64> = line
        .split_whitespace()
        .map(str::parse)
        .collect::<Result<_, _>>()
        .with_context(|| format!("unexpected /usr/bin/time output: {text}"))?;
    ensure!(
        numbers.len() == 3,
        "unexpected /usr/bin/time output: {text}"
    );
    Ok(Measure {
        wall: numbers[0],
        cpu: numbers[1] + numbers[2],
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_playbook_pins_the_exact_version_with_the_apt_module() {
        let text = playbook(5);
        assert!(text.contains("serial: 5\n"));
        assert!(text.contains("ansible.builtin.apt:\n"));
        assert!(text.contains(&format!("name: \"{DEMO}={SECURITY_FIX}\"\n")));
        assert!(text.contains("allow_downgrade: false\n"));
        assert!(!text.contains("raw"));
    }
}
