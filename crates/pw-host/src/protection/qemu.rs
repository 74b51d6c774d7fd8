//! qemu-img internal snapshots of a qcow2 image (the VM stopped, or the image otherwise not in
//! use — qemu-img refuses an image a running VM holds locked): `qemu-img snapshot -c NAME`,
//! verified by the snapshot being listed and `qemu-img check` passing (exit 0, or 3: leaked
//! clusters only, harmless); reverted with `-a NAME` on rollback; pruned with `-d NAME`.

use std::time::Instant;

use super::{Budget, Taken, expired};
use crate::Runner;

/// Takes snapshot `name` of `image` and verifies it.
pub fn take(
    runner: &dyn Runner,
    budget: &Budget,
    image: &str,
    name: &str,
) -> anyhow::Result<Taken> {
    let started = Instant::now();
    budget.run_ok(runner, "qemu-img", &["snapshot", "-c", name, image])?;
    let take = started.elapsed();
    let started = Instant::now();
    let verified = if !list(runner, budget, image)?.iter().any(|n| n == name) {
        Err(format!(
            "snapshot {name} is not listed by qemu-img snapshot -l"
        ))
    } else {
        let invocation =
            crate::Invocation::new("qemu-img", ["check", image]).timeout(budget.left()?);
        let output = runner.run(&invocation)?;
        match output.code {
            Some(0) => Ok(format!("snapshot {name} listed; qemu-img check: no errors")),
            Some(3) => Ok(format!(
                "snapshot {name} listed; qemu-img check: leaked clusters only"
            )),
            code => Err(format!(
                "qemu-img check {image} exit {code:?}: {}",
                output.tail(3)
            )),
        }
    };
    Ok(Taken {
        location: format!("{image}@{name}"),
        size_bytes: allocated(runner, budget, image)?,
        take,
        verify: started.elapsed(),
        verified,
    })
}

/// The image back to snapshot `name`.
pub fn revert(
    runner: &dyn Runner,
    budget: &Budget,
    image: &str,
    name: &str,
) -> anyhow::Result<String> {
    budget.run_ok(runner, "qemu-img", &["snapshot", "-a", name, image])?;
    Ok(format!("{image} reverted to snapshot {name}"))
}

/// Snapshot tags of the image (`qemu-img snapshot -l`).
pub fn list(runner: &dyn Runner, budget: &Budget, image: &str) -> anyhow::Result<Vec<String>> {
    let output = budget.run_ok(runner, "qemu-img", &["snapshot", "-l", image])?;
    Ok(parse_list(&output.stdout_text()))
}

/// The TAG column of `qemu-img snapshot -l` (rows after the `ID TAG …` header).
pub fn parse_list(text: &str) -> Vec<String> {
    text.lines()
        .skip_while(|l| !l.trim_start().starts_with("ID"))
        .skip(1)
        .filter_map(|l| l.split_whitespace().nth(1).map(str::to_owned))
        .collect()
}

/// Deletes this image's `pw-` snapshots taken before `cutoff` (unix seconds), never `keep`.
pub fn prune(
    runner: &dyn Runner,
    budget: &Budget,
    image: &str,
    cutoff: i64,
    keep: &str,
) -> anyhow::Result<Vec<String>> {
    let mut pruned = Vec::new();
    for name in list(runner, budget, image)? {
        if expired(&name, cutoff, keep) {
            budget.run_ok(runner, "qemu-img", &["snapshot", "-d", &name, image])?;
            pruned.push(format!("{image}@{name}"));
        }
    }
    Ok(pruned)
}

/// Bytes the image file occupies (`stat` blocks × block size).
fn allocated(runner: &dyn Runner, budget: &Budget, image: &str) -> anyhow::Result<u64> {
    let output = budget.run_ok(runner, "stat", &["-c", "%b %B", "--", image])?;
    let text = output.stdout_text();
    let mut numbers = text.split_whitespace().map(str::parse::<u64>);
    match (numbers.next(), numbers.next()) {
        (Some(Ok(blocks)), Some(Ok(size))) => Ok(blocks * size),
        _ => anyhow::bail!("stat of {image} printed {text:?}"),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_list_gives_the_tags() {
        let text = "Snapshot list:\nID        TAG               VM SIZE                DATE     VM CLOCK     ICOUNT\n1         pw-1700000000-snap      0 B 2026-12-04 18:50:00 00:00:00.000          0\n2         other      0 B 2026-12-04 18:50:00 00:00:00.000          0\n";
        assert_eq!(super::parse_list(text), ["pw-1700000000-snap", "other"]);
        assert!(super::parse_list("").is_empty());
    }
}
