//! A lock between processes sharing the cache directory (several test binaries, several clones
//! on one CI machine): a directory created atomically, holding the owner's pid. A lock whose owner
//! is gone (killed test run) is taken over.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};

/// Held while the directory exists; removed on drop.
#[derive(Debug)]
pub struct DirLock {
    path: PathBuf,
}

impl DirLock {
    /// Waits (at most `timeout`) for the lock at `path`.
    pub fn acquire(path: &Path, timeout: Duration) -> anyhow::Result<DirLock> {
        let started = Instant::now();
        loop {
            match std::fs::create_dir(path) {
                Ok(()) => {
                    let pid_file = path.join("pid");
                    std::fs::write(&pid_file, std::process::id().to_string())
                        .with_context(|| format!("writing {}", pid_file.display()))?;
                    return Ok(DirLock {
                        path: path.to_owned(),
                    });
                }
                Err(error) if error.kind() == std::io::ErrorKind::AlreadyExists => {
                    if is_abandoned(path) {
                        let _ = std::fs::remove_dir_all(path);
                        continue;
                    }
                }
                Err(error) => {
                    return Err(error).with_context(|| format!("creating {}", path.display()));
                }
            }
            if started.elapsed() > timeout {
                bail!(
                    "{} is still held after {} s (by pid {}); remove it if no test bed build is running",
                    path.display(),
                    timeout.as_secs(),
                    std::fs::read_to_string(path.join("pid")).unwrap_or_default()
                );
            }
            std::thread::sleep(Duration::from_millis(250));
        }
    }
}

impl Drop for DirLock {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.path);
    }
}

/// The owner pid is not running, or no pid was written within 30 s of creation.
fn is_abandoned(path: &Path) -> bool {
    match std::fs::read_to_string(path.join("pid")) {
        Ok(pid) => {
            let pid = pid.trim();
            !pid.is_empty() && !Path::new("/proc").join(pid).exists()
        }
        Err(_) => std::fs::metadata(path)
            .and_then(|m| m.modified())
            .is_ok_and(|t| t.elapsed().unwrap_or_default() > Duration::from_secs(30)),
    }
}

/// Whether a process with this pid runs on this machine.
pub fn pid_alive(pid: &str) -> bool {
    !pid.is_empty()
        && pid.bytes().all(|b| b.is_ascii_digit())
        && Path::new("/proc").join(pid).exists()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lock_excludes_and_is_taken_over_from_a_dead_owner() {
        let dir = tempfile_dir();
        let path = dir.join("build.lock");
        let held = DirLock::acquire(&path, Duration::from_secs(1)).unwrap();
        let error = DirLock::acquire(&path, Duration::from_millis(300)).unwrap_err();
        assert!(error.to_string().contains("is still held"), "{error}");
        drop(held);
        assert!(!path.exists());
        std::fs::create_dir(&path).unwrap();
        std::fs::write(path.join("pid"), "999999999").unwrap();
        let _taken = DirLock::acquire(&path, Duration::from_secs(1)).unwrap();
        assert_eq!(
            std::fs::read_to_string(path.join("pid")).unwrap(),
            std::process::id().to_string()
        );
        drop(_taken);
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn pids() {
        assert!(pid_alive(&std::process::id().to_string()));
        assert!(!pid_alive("999999999"));
        assert!(!pid_alive("../1"));
        assert!(!pid_alive(""));
    }

    fn tempfile_dir() -> PathBuf {
        let dir = std::env::temp_dir().join(format!(
            "pw-testbed-lock-{}-{:?}",
            std::process::id(),
            std::thread::current().id()
        ));
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }
}
