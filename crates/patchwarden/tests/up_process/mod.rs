//! `patchwarden up` as a child process for the CLI tests: started on a data directory, read up
//! to its first line, killed when dropped.

#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;

/// A child process killed (and reaped) when dropped.
pub struct Killed(pub Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// `patchwarden up` on `data`, and the first line it printed.
pub fn start_up(data: &Path) -> (Killed, String) {
    start_up_with(data, &[])
}

/// Like [`start_up`], with `extra` arguments for `up`.
pub fn start_up_with(data: &Path, extra: &[&str]) -> (Killed, String) {
    let (child, first_line, _) = spawn(data, extra, false);
    (child, first_line)
}

/// The controller's base URL from the sign-in link in `up`'s first line.
pub fn base_url(first_line: &str) -> String {
    let url = first_line
        .split_whitespace()
        .find(|w| w.starts_with("http://"))
        .unwrap_or_else(|| panic!("no URL printed: {first_line:?}"));
    url[..url.find("/login").unwrap()].to_owned()
}

/// Like [`start_up`], with its stderr lines arriving on the channel.
pub fn start_up_logging(data: &Path) -> (Killed, String, mpsc::Receiver<String>) {
    spawn(data, &[], true)
}

fn spawn(data: &Path, extra: &[&str], logging: bool) -> (Killed, String, mpsc::Receiver<String>) {
    let child = Command::new(env!("CARGO_BIN_EXE_patchwarden"))
        .args(["up", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(data)
        .args(extra)
        .env("NO_COLOR", "1")
        .stdout(Stdio::piped())
        .stderr(if logging {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .spawn()
        .unwrap();
    let mut child = Killed(child);
    let (send, lines) = mpsc::channel();
    if let Some(stderr) = child.0.stderr.take() {
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                let _ = send.send(line);
            }
        });
    }
    let mut first_line = String::new();
    BufReader::new(child.0.stdout.as_mut().unwrap())
        .read_line(&mut first_line)
        .unwrap();
    (child, first_line, lines)
}
