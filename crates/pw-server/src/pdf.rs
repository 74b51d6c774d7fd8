//! PDF of a report: the report's HTML printed by headless Chromium (`--print-to-pdf`), the
//! decision recorded in docs/design/decisions.md — the same page as the HTML, Chinese text
//! with the system's CJK fonts, no PDF layout code of our own.
//!
//! - Which browser: `$PATCHWARDEN_CHROMIUM` (a path), else the first of `chromium`,
//!   `chromium-browser`, `google-chrome` on `PATH`. None: 503 `pdf_renderer_unavailable`, the
//!   other formats keep working.
//! - One print at a time (a print takes 1–3 s and a few hundred MB), each bounded by 60 s and
//!   killed past it; a fresh profile in a private temporary directory, removed afterwards.
//! - The page has a Content-Security-Policy of no scripts and no fetches (`report.html`): the
//!   text it prints (host names, reasons) is escaped data. (Turning scripts off in Blink with
//!   `--blink-settings=scriptEnabled=false` makes Chromium 156 exit 0 without writing the PDF.)
//! - The last PDF is kept with the SHA-256 of its HTML: the same page asked again (the HTML shows
//!   the time to the minute) is answered without printing, so repeated requests cost one print.
//! - As root Chromium refuses its sandbox, so `--no-sandbox` is passed then (and only then).

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use sha2::{Digest, Sha256};
use tokio::sync::Semaphore;

/// How long one print may take, waiting for the previous one included.
const PRINT_TIMEOUT: Duration = Duration::from_secs(60);

/// The last print: SHA-256 of its HTML and the PDF.
type LastPrint = ([u8; 32], Arc<Vec<u8>>);

/// Prints HTML to PDF with headless Chromium.
#[derive(Debug)]
pub struct PdfRenderer {
    chromium: Option<PathBuf>,
    permits: Semaphore,
    last: Mutex<Option<LastPrint>>,
}

/// Why no PDF came out.
#[derive(Debug, thiserror::Error)]
pub enum PdfError {
    #[error(
        "no Chromium to print the PDF with: install Debian's `chromium` or set PATCHWARDEN_CHROMIUM to its path (HTML, CSV and JSON work without it)"
    )]
    Unavailable,
    #[error("printing the PDF failed: {0}")]
    Failed(String),
}

impl PdfRenderer {
    /// The browser from `$PATCHWARDEN_CHROMIUM` or `PATH`.
    pub fn from_env() -> Self {
        let chromium = match std::env::var_os("PATCHWARDEN_CHROMIUM") {
            Some(path) if !path.is_empty() => Some(PathBuf::from(path)),
            _ => ["chromium", "chromium-browser", "google-chrome"]
                .iter()
                .find_map(|name| on_path(name)),
        };
        Self::with(chromium)
    }

    /// A renderer using `chromium` (`None`: PDF unavailable).
    pub fn with(chromium: Option<PathBuf>) -> Self {
        Self {
            chromium,
            permits: Semaphore::new(1),
            last: Mutex::new(None),
        }
    }

    /// The browser in use, if any.
    pub fn chromium(&self) -> Option<&Path> {
        self.chromium.as_deref()
    }

    /// `html` as a PDF document.
    pub async fn render(&self, html: &str) -> Result<Arc<Vec<u8>>, PdfError> {
        let chromium = self.chromium.as_ref().ok_or(PdfError::Unavailable)?;
        match tokio::time::timeout(PRINT_TIMEOUT, self.print(chromium, html)).await {
            Ok(result) => result,
            Err(_) => Err(PdfError::Failed(format!(
                "no PDF within {} s",
                PRINT_TIMEOUT.as_secs()
            ))),
        }
    }

    fn cached(&self, digest: &[u8; 32]) -> Option<Arc<Vec<u8>>> {
        let last = self
            .last
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        last.as_ref()
            .filter(|(kept, _)| kept == digest)
            .map(|(_, pdf)| pdf.clone())
    }

    async fn print(&self, chromium: &Path, html: &str) -> Result<Arc<Vec<u8>>, PdfError> {
        let digest: [u8; 32] = Sha256::digest(html.as_bytes()).into();
        if let Some(pdf) = self.cached(&digest) {
            return Ok(pdf);
        }
        let _permit = self
            .permits
            .acquire()
            .await
            .map_err(|e| PdfError::Failed(e.to_string()))?;
        // Printed by the request that held the permit before this one?
        if let Some(pdf) = self.cached(&digest) {
            return Ok(pdf);
        }
        let dir = std::env::temp_dir().join(format!("patchwarden-pdf-{}", uuid::Uuid::now_v7()));
        let result = print_in(chromium, html, &dir).await.map(Arc::new);
        if let Err(e) = tokio::fs::remove_dir_all(&dir).await {
            tracing::warn!(dir = %dir.display(), error = %e, "removing the PDF work directory");
        }
        if let Ok(pdf) = &result {
            *self
                .last
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner()) = Some((digest, pdf.clone()));
        }
        result
    }
}

async fn print_in(chromium: &Path, html: &str, dir: &Path) -> Result<Vec<u8>, PdfError> {
    let failed = |what: &str, e: std::io::Error| PdfError::Failed(format!("{what}: {e}"));
    create_private_dir(dir)
        .await
        .map_err(|e| failed("creating the work directory", e))?;
    let page = dir.join("report.html");
    let pdf = dir.join("report.pdf");
    tokio::fs::write(&page, html)
        .await
        .map_err(|e| failed("writing the page", e))?;
    let mut command = tokio::process::Command::new(chromium);
    command
        .arg("--headless")
        .arg("--disable-gpu")
        .arg("--no-first-run")
        .arg("--disable-extensions")
        .arg("--disable-background-networking")
        .arg("--no-pdf-header-footer")
        .arg(format!("--user-data-dir={}", dir.join("profile").display()))
        .arg(format!("--print-to-pdf={}", pdf.display()))
        .env("HOME", dir)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    if running_as_root() {
        command.arg("--no-sandbox");
    }
    command.arg(format!("file://{}", page.display()));
    let output = command
        .output()
        .await
        .map_err(|e| failed(&format!("starting {}", chromium.display()), e))?;
    let bytes = tokio::fs::read(&pdf).await.unwrap_or_default();
    if !output.status.success() || !bytes.starts_with(b"%PDF-") {
        let stderr = String::from_utf8_lossy(&output.stderr);
        let tail: Vec<&str> = stderr.lines().rev().take(3).collect();
        return Err(PdfError::Failed(format!(
            "{} exited with {} and no PDF ({})",
            chromium.display(),
            output.status,
            tail.into_iter().rev().collect::<Vec<_>>().join(" | ")
        )));
    }
    Ok(bytes)
}

async fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::DirBuilderExt;
    let dir = dir.to_owned();
    tokio::task::spawn_blocking(move || std::fs::DirBuilder::new().mode(0o700).create(dir))
        .await
        .map_err(std::io::Error::other)?
}

fn on_path(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(name))
        .find(|candidate| candidate.is_file())
}

/// Whether the effective user is root (Chromium refuses its sandbox then).
fn running_as_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| {
            status
                .lines()
                .find_map(|line| line.strip_prefix("Uid:"))
                .and_then(|ids| ids.split_whitespace().nth(1).map(|euid| euid == "0"))
        })
        .unwrap_or(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn without_a_browser_the_pdf_is_unavailable() {
        let renderer = PdfRenderer::with(None);
        assert!(matches!(
            renderer.render("<p>x</p>").await,
            Err(PdfError::Unavailable)
        ));
    }

    #[tokio::test]
    async fn a_browser_that_writes_no_pdf_is_a_failure_naming_it() {
        let renderer = PdfRenderer::with(Some(PathBuf::from("/bin/true")));
        let error = renderer.render("<p>x</p>").await.unwrap_err();
        assert!(
            error
                .to_string()
                .contains("/bin/true exited with exit status: 0 and no PDF"),
            "{error}"
        );
        let missing = PdfRenderer::with(Some(PathBuf::from("/nonexistent/chromium")));
        let error = missing.render("<p>x</p>").await.unwrap_err();
        assert!(
            error.to_string().contains("starting /nonexistent/chromium"),
            "{error}"
        );
    }

    /// A stand-in browser: writes a minimal PDF to the `--print-to-pdf=` path and counts its
    /// runs in a file beside itself.
    fn counting_browser(dir: &Path) -> PathBuf {
        use std::os::unix::fs::PermissionsExt;
        let script = dir.join("browser");
        let count = dir.join("runs");
        std::fs::write(
            &script,
            format!(
                "#!/bin/sh\necho run >> {}\nfor a in \"$@\"; do case \"$a\" in --print-to-pdf=*) printf '%%PDF-1.4 test' > \"${{a#--print-to-pdf=}}\";; esac; done\n",
                count.display()
            ),
        )
        .unwrap();
        std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
        script
    }

    #[tokio::test]
    async fn the_same_page_is_printed_once() {
        let dir = tempfile::tempdir().unwrap();
        let renderer = PdfRenderer::with(Some(counting_browser(dir.path())));
        let runs = || {
            std::fs::read_to_string(dir.path().join("runs"))
                .unwrap()
                .lines()
                .count()
        };
        let first = renderer.render("<p>a</p>").await.unwrap();
        assert!(first.starts_with(b"%PDF-"));
        renderer.render("<p>a</p>").await.unwrap();
        assert_eq!(runs(), 1);
        renderer.render("<p>b</p>").await.unwrap();
        renderer.render("<p>a</p>").await.unwrap();
        assert_eq!(runs(), 3);
    }
}
