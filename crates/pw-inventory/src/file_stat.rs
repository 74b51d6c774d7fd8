//! `stat --printf '%a\t%U\t%G\t%n\n' -- PATH…`: a file's permission bits, owner and group (the
//! downgrade's permission comparison, docs/downgrade.md). Missing files are reported by stat on
//! stderr and simply have no line here. And `find DIR -maxdepth 1 -printf …` ([`FIND_ARGS`]):
//! a directory and its entries with type, mode and owner (a downgrade's local archive).

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

/// The `find` arguments after the directory whose output [`parse_listing`] reads: the
/// directory itself (depth 0) and its entries, NUL-terminated, never descending. The `\t`
/// and `\0` are find's own escapes (an argv entry cannot hold a NUL byte).
pub const FIND_ARGS: [&str; 4] = ["-maxdepth", "1", "-printf", r"%d\t%y\t%m\t%u\t%f\0"];

/// One entry of a [`FIND_ARGS`] listing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListedEntry {
    /// 0 for the directory listed, 1 for its entries.
    pub depth: u8,
    /// find's `%y`: `d` directory, `f` regular file, `l` symbolic link, …
    pub kind: char,
    /// Octal permission bits (`644`).
    pub mode: String,
    pub owner: String,
    /// The name (for depth 0 the directory's own last component).
    pub name: String,
}

/// The entries of a [`FIND_ARGS`] listing; records that are not five tab-separated fields with
/// a depth of 0 or 1, one type letter and an octal mode are skipped.
pub fn parse_listing(output: &[u8]) -> Vec<ListedEntry> {
    output
        .split(|b| *b == 0)
        .filter_map(|record| {
            let text = std::str::from_utf8(record).ok()?;
            let mut fields = text.splitn(5, '\t');
            let (depth, kind, mode, owner, name) = (
                fields.next()?,
                fields.next()?,
                fields.next()?,
                fields.next()?,
                fields.next()?,
            );
            let depth = match depth {
                "0" => 0,
                "1" => 1,
                _ => return None,
            };
            let mut letters = kind.chars();
            let kind = letters.next().filter(|_| letters.next().is_none())?;
            let octal = !mode.is_empty()
                && mode.len() <= 4
                && mode.bytes().all(|b| (b'0'..=b'7').contains(&b));
            (octal && !owner.is_empty() && !name.is_empty()).then(|| ListedEntry {
                depth,
                kind,
                mode: mode.to_owned(),
                owner: owner.to_owned(),
                name: name.to_owned(),
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

    #[test]
    fn reads_a_directory_listing_and_skips_noise() {
        let text = b"0\td\t755\troot\tpw-archive\0\
                     1\tf\t644\troot\tpw-demo_1.0-1_all.deb\0\
                     1\tl\t777\troot\tlink.deb\0\
                     2\tf\t644\troot\tdeep.deb\0\
                     1\tf\t64x\troot\tbad-mode.deb\0\
                     1\tf\t600\twww-data\twith\ttab.deb\0";
        let parsed = parse_listing(text);
        let names: Vec<&str> = parsed.iter().map(|e| e.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "pw-archive",
                "pw-demo_1.0-1_all.deb",
                "link.deb",
                "with\ttab.deb"
            ]
        );
        assert_eq!((parsed[0].depth, parsed[0].kind), (0, 'd'));
        assert_eq!(
            (parsed[2].kind, parsed[3].owner.as_str()),
            ('l', "www-data")
        );
    }
}
