//! `stat --printf '%a\t%U\t%G\t%n\n' -- PATH…`: a file's permission bits, owner and group (the
//! downgrade's permission comparison, docs/downgrade.md). Missing files are reported by stat on
//! stderr and simply have no line here.

use std::collections::BTreeMap;

/// The `stat` arguments whose output [`parse_stat`] reads (before the paths).
pub const STAT_ARGS: [&str; 3] = ["--printf", "%a\t%U\t%G\t%n\n", "--"];

/// One file's mode (octal digits as stat prints them), owner and group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileMode {
    pub mode: String,
    pub owner: String,
    pub group: String,
}

/// Path → mode, owner, group; lines that are not four tab-separated fields with an octal mode
/// and an absolute path are skipped.
pub fn parse_stat(output: &str) -> BTreeMap<String, FileMode> {
    output
        .lines()
        .filter_map(|line| {
            let mut fields = line.splitn(4, '\t');
            let (mode, owner, group, path) = (
                fields.next()?,
                fields.next()?,
                fields.next()?,
                fields.next()?,
            );
            let octal = !mode.is_empty()
                && mode.len() <= 4
                && mode.bytes().all(|b| (b'0'..=b'7').contains(&b));
            (octal && path.starts_with('/') && !owner.is_empty() && !group.is_empty()).then(|| {
                (
                    path.to_owned(),
                    FileMode {
                        mode: mode.to_owned(),
                        owner: owner.to_owned(),
                        group: group.to_owned(),
                    },
                )
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_modes_owners_and_groups_and_skips_noise() {
        let text = "644\troot\troot\t/etc/pw-demo/pw-demo.conf\n\
                    600\twww-data\tadm\t/etc/with\ttab\n\
                    x\troot\troot\t/etc/bad\n\
                    755\troot\troot\trelative\n\
                    stat: cannot statx '/etc/gone': No such file or directory\n";
        let parsed = parse_stat(text);
        assert_eq!(parsed.len(), 2, "{parsed:?}");
        assert_eq!(
            parsed["/etc/pw-demo/pw-demo.conf"],
            FileMode {
                mode: "644".into(),
                owner: "root".into(),
                group: "root".into()
            }
        );
        assert_eq!(parsed["/etc/with\ttab"].owner, "www-data");
    }
}
