//! A PDF's words as `pdftotext` reads them (reports and change reports are printed by headless
//! Chromium). Fails loudly when pdftotext is missing: scripts/install-test-deps.sh installs it
//! (Debian package poppler-utils).

/// The text of `pdf`, whitespace collapsed (pdftotext breaks long lines).
pub fn pdf_words(pdf: &[u8]) -> String {
    assert!(pdf.starts_with(b"%PDF-"), "not a PDF");
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("report.pdf");
    std::fs::write(&file, pdf).unwrap();
    let output = std::process::Command::new("pdftotext")
        .arg(&file)
        .arg("-")
        .output()
        .expect(
            "pdftotext (Debian package poppler-utils; scripts/install-test-deps.sh) must be installed",
        );
    assert!(output.status.success(), "pdftotext failed: {output:?}");
    String::from_utf8_lossy(&output.stdout)
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
}
