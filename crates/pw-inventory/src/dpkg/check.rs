//! Name and version checks of kept values. A table-driven pass accepts the common shapes
//! (`libssl3`, `1:2.36-9+deb12u4`) in a few cycles per byte; anything else goes to the full
//! validators (`PackageName::validate`, `Scheme::Dpkg.validate`), which also give the error. The
//! quick pass accepts nothing the full ones reject (tested below against them).

use pw_model::PackageName;
use pw_version::Scheme;

use crate::InventoryError;

const ALNUM: u8 = 1;
/// `.`, `+`, `-`, `_`: allowed in a name after its first character.
const NAME_MARK: u8 = 2;
/// `.`, `+`, `~`, `-`: allowed in a dpkg upstream version and revision.
const VERSION_MARK: u8 = 4;
const DIGIT: u8 = 8;

const CLASS: [u8; 256] = {
    let mut class = [0u8; 256];
    let mut b = 0;
    while b < 256 {
        let c = b as u8;
        if c.is_ascii_alphanumeric() {
            class[b] |= ALNUM;
        }
        if c.is_ascii_digit() {
            class[b] |= DIGIT;
        }
        if matches!(c, b'.' | b'+' | b'-' | b'_') {
            class[b] |= NAME_MARK;
        }
        if matches!(c, b'.' | b'+' | b'~' | b'-') {
            class[b] |= VERSION_MARK;
        }
        b += 1;
    }
    class
};

/// Checks a package name (`Package`, or the name of `Source`).
pub(super) fn name(name: &str, line: usize, field: &'static str) -> Result<(), InventoryError> {
    if quick_name(name.as_bytes()) {
        return Ok(());
    }
    PackageName::validate(name).map_err(|source| InventoryError::BadName {
        line,
        field,
        source,
    })
}

/// Checks a dpkg version (`Version`, or the version of `Source`).
pub(super) fn version(
    version: &str,
    line: usize,
    field: &'static str,
) -> Result<(), InventoryError> {
    if quick_version(version.as_bytes()) {
        return Ok(());
    }
    Scheme::Dpkg
        .validate(version)
        .map_err(|source| InventoryError::BadVersion {
            line,
            field,
            source,
        })
}

/// A letter or digit, then letters, digits and `.+-_`; at most 128 bytes.
fn quick_name(name: &[u8]) -> bool {
    let [first, rest @ ..] = name else {
        return false;
    };
    name.len() <= 128
        && CLASS[usize::from(*first)] & ALNUM != 0
        && rest
            .iter()
            .all(|&b| CLASS[usize::from(b)] & (ALNUM | NAME_MARK) != 0)
}

/// `[epoch:]upstream[-revision]` with an epoch of 1 to 9 digits, letters, digits and `.+~-`
/// after it (no second colon), the last `-` neither first nor last. One pass, few branches.
fn quick_version(version: &[u8]) -> bool {
    if version.is_empty() || version.len() > pw_version::MAX_LEN {
        return false;
    }
    let (mut allowed, mut colons, mut colon, mut dash) = (true, 0, 0, usize::MAX);
    for (i, &b) in version.iter().enumerate() {
        allowed &= CLASS[usize::from(b)] & (ALNUM | VERSION_MARK) != 0 || b == b':';
        colons += usize::from(b == b':');
        colon = if b == b':' { i } else { colon };
        dash = if b == b'-' { i } else { dash };
    }
    let rest_start = match colons {
        0 => 0,
        1 => {
            let epoch = &version[..colon];
            if !(1..=9).contains(&epoch.len())
                || !epoch.iter().all(|&b| CLASS[usize::from(b)] & DIGIT != 0)
            {
                return false;
            }
            colon + 1
        }
        _ => return false,
    };
    // A dash before the colon would be in the epoch, which is digits only.
    allowed
        && rest_start < version.len()
        && (dash == usize::MAX || (dash > rest_start && dash < version.len() - 1))
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    #[test]
    fn common_shapes_take_the_quick_pass() {
        for name in [
            "libssl3",
            "g++-12",
            "libstdc++6",
            "python3.11",
            "x",
            "0ad",
            "a_b",
        ] {
            assert!(quick_name(name.as_bytes()), "{name}");
        }
        for bad in ["", "-a", ".a", "a b", "é", "a:b", &"a".repeat(129)] {
            assert!(!quick_name(bad.as_bytes()), "{bad}");
        }
        for version in [
            "1",
            "1:2.36-9+deb12u4",
            "3.0.17-1~deb12u2",
            "2:9.0.1378-2",
            "1.0-",
        ] {
            let quick = quick_version(version.as_bytes());
            assert_eq!(quick, !version.ends_with('-'), "{version}");
        }
        for odd in [
            "",
            ":1",
            "a:1",
            "1234567890:1",
            "1:",
            "-1",
            "1:2:3-4",
            "1 0",
            "1_0",
        ] {
            assert!(!quick_version(odd.as_bytes()), "{odd}");
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(5000))]
        /// The quick name check is exactly the full one.
        #[test]
        fn quick_name_is_the_full_check(name in "[a-zA-Z0-9.+_~:é -]{0,6}") {
            prop_assert_eq!(quick_name(name.as_bytes()), PackageName::validate(&name).is_ok());
        }

        /// The quick version check accepts only what the full one accepts.
        #[test]
        fn quick_version_implies_the_full_check(
            version in prop_oneof!["[0-9a-z.+~:_é -]{0,9}", "([0-9]{0,11}:)?[0-9a-z.+~:-]{0,8}"]
        ) {
            if quick_version(version.as_bytes()) {
                prop_assert!(Scheme::Dpkg.validate(&version).is_ok(), "{}", version);
            }
        }
    }
}
