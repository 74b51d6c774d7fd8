//! The dpkg status file (`/var/lib/dpkg/status`): installed packages with their source package.
//!
//! What counts as installed: the third word of `Status:` (dpkg's package state) is `installed`,
//! `triggers-pending` or `triggers-awaited`. The last two are fully unpacked and configured
//! packages that only wait for trigger processing (common right after an `apt-get` run), so their
//! files and version are those on disk. The want and flag words do not matter: `hold ok installed`
//! and `install reinstreq installed` count. Not counted: `not-installed`, `config-files` (e.g.
//! `deinstall ok config-files`: only conffiles are left), `half-installed`, `unpacked` and
//! `half-configured` (`dpkg --audit` reports those; their version is not reliably what runs).
//!
//! Speed (1.6x the plain line-by-line parser on the real file, `cargo bench -p pw-inventory`):
//! newlines are found 64 bytes at a time (`dpkg/lines.rs`); fields other than Package, Status,
//! Version, Architecture and Source cost one look at their name; the input is checked for UTF-8
//! once, so kept values need no check of their own; names and versions of the usual shape pass a
//! table-driven check (`dpkg/check.rs`); only the kept values of an installed package are
//! allocated. `dpkg/reference.rs` keeps the plain parser as a test oracle: both must agree
//! exactly, problems and line numbers included.

use pw_model::InstalledPackage;

use crate::{Inventory, InventoryError, excerpt, valid_arch};

mod check;
mod conffiles;
mod lines;
#[cfg(test)]
mod reference;

/// Bytes of status text per installed package, roughly (Debian 12: 700 to 900), to size the
/// output once.
const BYTES_PER_STANZA: usize = 700;

/// Parses a dpkg status file (deb822). Returns the installed packages and one problem per
/// malformed stanza (that stanza is skipped). Never panics.
pub fn parse_dpkg_status(input: &[u8]) -> Inventory {
    let mut out = Inventory {
        packages: Vec::with_capacity(input.len() / BYTES_PER_STANZA + 1),
        problems: Vec::new(),
    };
    read(input, &mut out);
    out
}

pub use conffiles::{Conffile, Conffiles, parse_dpkg_conffiles};

/// What a pass over the status file keeps of each stanza: the installed package
/// ([`Inventory`]) or the conffiles ([`Conffiles`]). One reader of deb822 stanzas for both.
trait Projection {
    /// Whether the `Conffiles:` field (with its continuation lines) is kept.
    const CONFFILES: bool;
    /// Takes what it needs of a complete stanza (the stanza is reset afterwards).
    fn stanza(&mut self, stanza: &mut Stanza, text: &Text<'_>);
}

impl Projection for Inventory {
    const CONFFILES: bool = false;

    fn stanza(&mut self, stanza: &mut Stanza, text: &Text<'_>) {
        match stanza.package(text) {
            Ok(Some(package)) => self.packages.push(package),
            Ok(None) => {}
            Err(problem) => self.problems.push(problem),
        }
    }
}

/// Reads every stanza of `input` into `out`.
fn read<P: Projection>(input: &[u8], out: &mut P) {
    let text = Text::new(input);
    let mut stanza = Stanza::default();
    // Plain locals (not fields of a struct whose address escapes) stay in registers.
    let (mut start, mut line_no) = (0, 0);
    for end in lines::NewlineIter::new(input) {
        line_no += 1;
        line(input, start, end, line_no, &mut stanza, &text, out);
        start = end + 1;
    }
    // The last line may lack its newline.
    if start < input.len() {
        line_no += 1;
        line(input, start, input.len(), line_no, &mut stanza, &text, out);
    }
    stanza.finish(&text, out);
}

/// Reads line `line_no`, `input[start..end]` (`end` excludes the newline).
#[inline(always)]
fn line<P: Projection>(
    input: &[u8],
    start: usize,
    end: usize,
    line_no: usize,
    stanza: &mut Stanza,
    text: &Text<'_>,
    out: &mut P,
) {
    let mut line = &input[start..end];
    if let [rest @ .., b'\r'] = line {
        line = rest;
    }
    match line.first() {
        None => stanza.finish(text, out),
        Some(b' ' | b'\t') => {
            // A continuation line, or a blank one when it has nothing but spaces and tabs.
            if line.iter().all(|&b| b == b' ' || b == b'\t') {
                stanza.finish(text, out);
            } else if stanza.first_line == 0 {
                stanza.orphan(line, line_no);
            } else if P::CONFFILES && stanza.in_conffiles {
                stanza.extend_conffiles(end);
            }
        }
        Some(_) => {
            if stanza.first_line == 0 {
                stanza.first_line = line_no;
            }
            stanza.field::<P>(input, start, line, line_no);
        }
    }
}

/// Whether a `Status:` value (`want flag state`) means installed (see the module docs); `None`
/// when it is not three of dpkg's words.
pub fn is_installed_status(value: &str) -> Option<bool> {
    let mut words = value.split_ascii_whitespace();
    let (want, flag, state) = (words.next()?, words.next()?, words.next()?);
    if words.next().is_some() {
        return None;
    }
    let want_ok = matches!(want, "unknown" | "install" | "hold" | "deinstall" | "purge");
    let flag_ok = matches!(flag, "ok" | "reinstreq");
    if !want_ok || !flag_ok {
        return None;
    }
    match state {
        "installed" | "triggers-pending" | "triggers-awaited" => Some(true),
        "not-installed" | "config-files" | "half-installed" | "unpacked" | "half-configured" => {
            Some(false)
        }
        _ => None,
    }
}

/// Writes a package as a minimal installed dpkg status stanza (ending in a blank line) that
/// [`parse_dpkg_status`] reads back to the same value.
pub fn format_dpkg_stanza(package: &InstalledPackage) -> String {
    let mut text = format!(
        "Package: {}\nStatus: install ok installed\nArchitecture: {}\n",
        package.name, package.arch
    );
    match (&package.source, &package.source_version) {
        (_, Some(version)) => {
            text += &format!("Source: {} ({version})\n", package.source_name());
        }
        (Some(source), None) => text += &format!("Source: {source}\n"),
        (None, None) => {}
    }
    text += &format!("Version: {}\n\n", package.version);
    text
}

/// The input's longest valid UTF-8 prefix, checked once (at memory speed): a kept value inside
/// it is text without a check of its own.
struct Text<'a> {
    input: &'a [u8],
    valid: &'a str,
}

impl<'a> Text<'a> {
    fn new(input: &'a [u8]) -> Self {
        let valid = match std::str::from_utf8(input) {
            Ok(valid) => valid,
            Err(e) => std::str::from_utf8(&input[..e.valid_up_to()]).unwrap_or_default(),
        };
        Text { input, valid }
    }

    /// A value as text, or `NotUtf8`.
    fn get(&self, value: Value, field: &'static str) -> Result<&'a str, InventoryError> {
        let (start, end) = (value.start, value.end);
        match self.valid.get(start..end) {
            Some(text) => Ok(text),
            None => {
                std::str::from_utf8(&self.input[start..end]).map_err(|_| InventoryError::NotUtf8 {
                    line: value.line,
                    field,
                })
            }
        }
    }

    fn bytes(&self, value: Value) -> &'a [u8] {
        &self.input[value.start..value.end]
    }
}

/// Where a field value is in the input (trimmed), and its line.
#[derive(Clone, Copy)]
struct Value {
    start: usize,
    end: usize,
    line: usize,
}

/// The fields of the stanza being read.
#[derive(Default)]
struct Stanza {
    /// Line of the stanza's first line; 0 while no stanza is open.
    first_line: usize,
    package: Option<Value>,
    status: Option<Value>,
    version: Option<Value>,
    arch: Option<Value>,
    source: Option<Value>,
    /// `Conffiles:` from its first line to the end of its last continuation line (kept only
    /// when the projection wants it).
    conffiles: Option<Value>,
    /// The field being read is `Conffiles:`: continuation lines extend it.
    in_conffiles: bool,
    /// The first problem found; the stanza is skipped when set.
    problem: Option<Box<InventoryError>>,
}

impl Stanza {
    #[cold]
    #[inline(never)]
    fn fail(&mut self, problem: InventoryError) {
        if self.problem.is_none() {
            self.problem = Some(Box::new(problem));
        }
    }

    #[cold]
    #[inline(never)]
    fn orphan(&mut self, line: &[u8], line_no: usize) {
        self.first_line = line_no;
        self.fail(InventoryError::OrphanContinuation {
            line: line_no,
            text: excerpt(line),
        });
    }

    /// A field line starting at byte `at` of the input.
    #[inline(always)]
    fn field<P: Projection>(&mut self, input: &[u8], at: usize, line: &[u8], line_no: usize) {
        let Some(colon) = lines::first_colon(input, at, line).filter(|&c| c > 0) else {
            return self.bad_field_line(line, line_no);
        };
        let name = &line[..colon];
        if P::CONFFILES {
            self.in_conffiles = name.eq_ignore_ascii_case(b"Conffiles");
        }
        let (slot, field) = match name.len() {
            6 if name.eq_ignore_ascii_case(b"Status") => (&mut self.status, "Status"),
            6 if name.eq_ignore_ascii_case(b"Source") => (&mut self.source, "Source"),
            7 if name.eq_ignore_ascii_case(b"Package") => (&mut self.package, "Package"),
            7 if name.eq_ignore_ascii_case(b"Version") => (&mut self.version, "Version"),
            12 if name.eq_ignore_ascii_case(b"Architecture") => (&mut self.arch, "Architecture"),
            9 if P::CONFFILES && self.in_conffiles => (&mut self.conffiles, "Conffiles"),
            _ => return,
        };
        if slot.is_some() {
            return self.fail(InventoryError::DuplicateField {
                line: line_no,
                field,
            });
        }
        let value = &line[colon + 1..];
        let lead = value.len() - value.trim_ascii_start().len();
        let start = at + colon + 1 + lead;
        *slot = Some(Value {
            start,
            end: start + value[lead..].trim_ascii_end().len(),
            line: line_no,
        });
    }

    /// The `Conffiles:` value now ends at `end` (a continuation line's end).
    fn extend_conffiles(&mut self, end: usize) {
        if let Some(value) = &mut self.conffiles {
            value.end = end;
        }
    }

    #[cold]
    #[inline(never)]
    fn bad_field_line(&mut self, line: &[u8], line_no: usize) {
        self.fail(InventoryError::BadFieldLine {
            line: line_no,
            text: excerpt(line),
        });
    }

    /// Closes the stanza (if one is open): hands it to the projection.
    fn finish<P: Projection>(&mut self, text: &Text<'_>, out: &mut P) {
        if self.first_line == 0 {
            return;
        }
        out.stanza(self, text);
        *self = Stanza::default();
    }

    /// The installed package of a complete stanza, `None` when it is not installed.
    fn package(&mut self, text: &Text<'_>) -> Result<Option<InstalledPackage>, InventoryError> {
        if let Some(problem) = self.problem.take() {
            return Err(*problem);
        }
        let first_line = self.first_line;
        let Some(package) = self.package else {
            return Err(InventoryError::MissingField {
                line: first_line,
                field: "Package",
                package: None,
            });
        };
        let name = text.get(package, "Package")?;
        check::name(name, package.line, "Package")?;
        let missing = |field| InventoryError::MissingField {
            line: first_line,
            field,
            package: Some(name.to_owned()),
        };
        let status = self.status.ok_or_else(|| missing("Status"))?;
        // The usual value first, without a UTF-8 or word check.
        if text.bytes(status) != b"install ok installed" {
            let status_text = text.get(status, "Status")?;
            match is_installed_status(status_text) {
                Some(true) => {}
                Some(false) => return Ok(None),
                None => {
                    return Err(InventoryError::BadStatus {
                        line: status.line,
                        value: status_text.to_owned(),
                    });
                }
            }
        }
        let version = self.version.ok_or_else(|| missing("Version"))?;
        let version_line = version.line;
        let version = text.get(version, "Version")?;
        check::version(version, version_line, "Version")?;
        let arch = self.arch.ok_or_else(|| missing("Architecture"))?;
        let arch_line = arch.line;
        let arch = text.get(arch, "Architecture")?;
        if !valid_arch(arch) {
            return Err(InventoryError::BadArch {
                line: arch_line,
                value: arch.to_owned(),
            });
        }
        let (source, source_version) = match self.source {
            Some(value) => parse_source(text.get(value, "Source")?, value.line, name, version)?,
            None => (None, None),
        };
        Ok(Some(InstalledPackage {
            name: name.to_owned(),
            version: version.to_owned(),
            arch: arch.to_owned(),
            source: source.filter(|&s| s != name).map(str::to_owned),
            source_version: source_version.filter(|&v| v != version).map(str::to_owned),
        }))
    }
}

/// Splits `name` or `name (version)`, validating both parts (a part equal to the package's
/// already validated `package` name or `version` is not validated again).
fn parse_source<'v>(
    value: &'v str,
    line: usize,
    package: &str,
    version: &str,
) -> Result<(Option<&'v str>, Option<&'v str>), InventoryError> {
    let bad = || InventoryError::BadSource {
        line,
        value: value.to_owned(),
    };
    let (name, source_version) = match value.bytes().position(|b| b.is_ascii_whitespace()) {
        None => (value, None),
        Some(space) => {
            let (name, rest) = (&value[..space], &value[space + 1..]);
            let inner = rest
                .trim_ascii()
                .strip_prefix('(')
                .and_then(|r| r.strip_suffix(')'))
                .ok_or_else(bad)?
                .trim_ascii();
            (name, Some(inner))
        }
    };
    if name != package {
        check::name(name, line, "Source")?;
    }
    if let Some(source_version) = source_version.filter(|&v| v != version) {
        check::version(source_version, line, "Source")?;
    }
    Ok((Some(name), source_version))
}

#[cfg(test)]
mod tests;
