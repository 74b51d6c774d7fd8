//! Validated package names. Names reach package managers as single argv entries, never a shell,
//! and are validated at every boundary so that nothing looking like an option or a shell word
//! gets through.

use std::fmt;

/// A package name valid for dpkg or rpm: starts with an ASCII letter or digit, then letters,
/// digits and `.+-_` (rpm allows `_`; Debian policy does not, but accepting it costs nothing).
/// At most 128 bytes.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
#[serde(transparent)]
pub struct PackageName(Box<str>);

/// Why a package name was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PackageNameError {
    #[error("package name is empty")]
    Empty,
    #[error("package name \"{0}\" is longer than 128 bytes")]
    TooLong(String),
    #[error(
        "package name \"{name}\" has {found:?} at byte {position}; allowed: letters, digits and . + - _ (not first)"
    )]
    BadChar {
        name: String,
        position: usize,
        found: char,
    },
}

impl PackageName {
    /// Validates a package name.
    pub fn parse(name: &str) -> Result<Self, PackageNameError> {
        Self::validate(name)?;
        Ok(PackageName(name.into()))
    }

    /// Checks a package name without allocating (for parsers that keep the name as a `String`).
    pub fn validate(name: &str) -> Result<(), PackageNameError> {
        if name.is_empty() {
            return Err(PackageNameError::Empty);
        }
        if name.len() > 128 {
            return Err(PackageNameError::TooLong(name.to_owned()));
        }
        for (position, found) in name.char_indices() {
            let ok = found.is_ascii_alphanumeric()
                || (position > 0 && matches!(found, '.' | '+' | '-' | '_'));
            if !ok {
                return Err(PackageNameError::BadChar {
                    name: name.to_owned(),
                    position,
                    found,
                });
            }
        }
        Ok(())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for PackageName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for PackageName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}", &*self.0)
    }
}

impl<'de> serde::Deserialize<'de> for PackageName {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        PackageName::parse(&text).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_real_names() {
        for name in [
            "libc6",
            "g++-12",
            "libstdc++6",
            "python3.11",
            "kernel-64k-core",
            "NetworkManager",
            "perl_base",
        ] {
            assert_eq!(PackageName::parse(name).unwrap().as_str(), name);
        }
    }

    #[test]
    fn rejects_options_and_shell_words() {
        assert_eq!(PackageName::parse(""), Err(PackageNameError::Empty));
        assert!(matches!(
            PackageName::parse("-oDebug=1"),
            Err(PackageNameError::BadChar {
                position: 0,
                found: '-',
                ..
            })
        ));
        assert!(matches!(
            PackageName::parse("vim;rm"),
            Err(PackageNameError::BadChar {
                position: 3,
                found: ';',
                ..
            })
        ));
        assert!(matches!(
            PackageName::parse("a b"),
            Err(PackageNameError::BadChar { position: 1, .. })
        ));
        assert!(matches!(
            PackageName::parse(&"a".repeat(129)),
            Err(PackageNameError::TooLong(_))
        ));
    }
}
