//! The cosmovisor-compatible folder layout.
//!
//! ```text
//! $DAEMON_HOME/
//!   data/upgrade-info.json              written by the node when it halts for a plan
//!   cosmovisor/
//!     genesis/bin/$DAEMON_NAME
//!     upgrades/<name>/bin/$DAEMON_NAME
//!     upgrades/<name>/upgrade-info.json
//!     current -> genesis | upgrades/<name>   (relative symlink)
//!     switchyard/                          our own state (journal, staged records, manual upgrades)
//! ```
//!
//! `current` is only ever replaced atomically: a new symlink is made beside it and renamed over
//! it, then the folder is fsynced, so a crash leaves either the old target or the new one.

use std::fs;
use std::io;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

pub use switchyard_core::Current;
use switchyard_core::UpgradeName;

use crate::fsutil::sync_dir;

#[derive(Debug, thiserror::Error)]
pub enum LayoutError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error(
        "`current` at {path} points at {target:?}, which is neither genesis nor upgrades/<name>"
    )]
    UnknownCurrent { path: PathBuf, target: PathBuf },
    #[error("no binary at {0} (expected an executable file named after DAEMON_NAME)")]
    MissingBinary(PathBuf),
    #[error("{0} is not executable (chmod +x it)")]
    NotExecutable(PathBuf),
}

fn io_err(path: &Path) -> impl FnOnce(io::Error) -> LayoutError + '_ {
    move |source| LayoutError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// Paths of one node home, for one daemon name.
#[derive(Debug, Clone)]
pub struct Layout {
    pub home: PathBuf,
    pub daemon_name: String,
}

impl Layout {
    pub fn new(home: impl Into<PathBuf>, daemon_name: impl Into<String>) -> Self {
        Layout {
            home: home.into(),
            daemon_name: daemon_name.into(),
        }
    }

    pub fn root(&self) -> PathBuf {
        self.home.join("cosmovisor")
    }
    pub fn genesis_dir(&self) -> PathBuf {
        self.root().join("genesis")
    }
    pub fn upgrades_dir(&self) -> PathBuf {
        self.root().join("upgrades")
    }
    pub fn upgrade_dir(&self, name: &UpgradeName) -> PathBuf {
        self.upgrades_dir().join(name.as_str())
    }
    pub fn current_link(&self) -> PathBuf {
        self.root().join("current")
    }
    /// Our own state folder.
    pub fn state_dir(&self) -> PathBuf {
        self.root().join("switchyard")
    }
    /// The node's own upgrade-info file, written at a plan halt.
    pub fn data_upgrade_info(&self) -> PathBuf {
        self.home.join("data").join("upgrade-info.json")
    }
    pub fn data_dir(&self) -> PathBuf {
        self.home.join("data")
    }

    /// The folder a [`Current`] names.
    pub fn dir_of(&self, which: &Current) -> PathBuf {
        match which {
            Current::Genesis => self.genesis_dir(),
            Current::Upgrade(n) => self.upgrade_dir(n),
        }
    }

    /// The daemon binary inside a folder like `genesis/` or `upgrades/<name>/`.
    pub fn binary_in(&self, dir: &Path) -> PathBuf {
        dir.join("bin").join(&self.daemon_name)
    }

    pub fn binary_of(&self, which: &Current) -> PathBuf {
        self.binary_in(&self.dir_of(which))
    }

    pub fn upgrade_binary(&self, name: &UpgradeName) -> PathBuf {
        self.binary_in(&self.upgrade_dir(name))
    }

    /// Reads where `current` points. A missing link means genesis (cosmovisor's rule).
    pub fn current(&self) -> Result<Current, LayoutError> {
        let link = self.current_link();
        let target = match fs::read_link(&link) {
            Ok(t) => t,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Current::Genesis),
            Err(e) => return Err(io_err(&link)(e)),
        };
        // Accept both our relative links and absolute links written by cosmovisor.
        let rel = target
            .strip_prefix(self.root())
            .map(Path::to_path_buf)
            .unwrap_or_else(|_| target.clone());
        let parts: Vec<_> = rel
            .components()
            .map(|c| c.as_os_str().to_string_lossy().into_owned())
            .filter(|c| !c.is_empty() && c != ".")
            .collect();
        match parts.as_slice() {
            [g] if g == "genesis" => Ok(Current::Genesis),
            [u, name] if u == "upgrades" => UpgradeName::parse(name, true)
                .map(Current::Upgrade)
                .map_err(|_| LayoutError::UnknownCurrent { path: link, target }),
            _ => Err(LayoutError::UnknownCurrent { path: link, target }),
        }
    }

    /// The binary `current` resolves to.
    pub fn current_binary(&self) -> Result<PathBuf, LayoutError> {
        Ok(self.binary_of(&self.current()?))
    }

    /// Points `current` at `which`, atomically and durably.
    pub fn set_current(&self, which: &Current) -> Result<(), LayoutError> {
        let root = self.root();
        fs::create_dir_all(&root).map_err(io_err(&root))?;
        let target = match which {
            Current::Genesis => PathBuf::from("genesis"),
            Current::Upgrade(n) => Path::new("upgrades").join(n.as_str()),
        };
        let tmp = root.join(format!(".current.tmp-{}", std::process::id()));
        let _ = fs::remove_file(&tmp);
        std::os::unix::fs::symlink(&target, &tmp).map_err(io_err(&tmp))?;
        let link = self.current_link();
        fs::rename(&tmp, &link).map_err(io_err(&link))?;
        sync_dir(&root).map_err(io_err(&root))
    }

    /// Checks that `path` is an executable regular file.
    pub fn check_executable(path: &Path) -> Result<(), LayoutError> {
        let meta = match fs::metadata(path) {
            Ok(m) if m.is_file() => m,
            Ok(_) => return Err(LayoutError::MissingBinary(path.to_path_buf())),
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                return Err(LayoutError::MissingBinary(path.to_path_buf()))
            }
            Err(e) => return Err(io_err(path)(e)),
        };
        if meta.permissions().mode() & 0o111 == 0 {
            return Err(LayoutError::NotExecutable(path.to_path_buf()));
        }
        Ok(())
    }

    /// Whether an upgrade folder holds an executable binary.
    pub fn has_upgrade_binary(&self, name: &UpgradeName) -> bool {
        Self::check_executable(&self.upgrade_binary(name)).is_ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn name(s: &str) -> UpgradeName {
        UpgradeName::parse(s, false).unwrap()
    }

    #[test]
    fn current_defaults_to_genesis_and_follows_set_current() {
        let dir = tempfile::tempdir().unwrap();
        let l = Layout::new(dir.path(), "simd");
        assert_eq!(l.current().unwrap(), Current::Genesis);
        l.set_current(&Current::Upgrade(name("v2"))).unwrap();
        assert_eq!(l.current().unwrap(), Current::Upgrade(name("v2")));
        assert_eq!(
            fs::read_link(l.current_link()).unwrap(),
            Path::new("upgrades/v2")
        );
        assert_eq!(
            l.current_binary().unwrap(),
            dir.path().join("cosmovisor/upgrades/v2/bin/simd")
        );
        l.set_current(&Current::Genesis).unwrap();
        assert_eq!(l.current().unwrap(), Current::Genesis);
    }

    #[test]
    fn absolute_links_from_cosmovisor_are_understood() {
        let dir = tempfile::tempdir().unwrap();
        let l = Layout::new(dir.path(), "simd");
        fs::create_dir_all(l.root()).unwrap();
        std::os::unix::fs::symlink(l.upgrade_dir(&name("v3")), l.current_link()).unwrap();
        assert_eq!(l.current().unwrap(), Current::Upgrade(name("v3")));
    }

    #[test]
    fn foreign_current_target_is_a_clear_error() {
        let dir = tempfile::tempdir().unwrap();
        let l = Layout::new(dir.path(), "simd");
        fs::create_dir_all(l.root()).unwrap();
        std::os::unix::fs::symlink("/usr/bin", l.current_link()).unwrap();
        let err = l.current().unwrap_err().to_string();
        assert!(err.contains("/usr/bin"), "{err}");
    }

    #[test]
    fn executable_check_names_the_path() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("simd");
        assert!(Layout::check_executable(&p)
            .unwrap_err()
            .to_string()
            .contains("simd"));
        fs::write(&p, "#!/bin/sh\n").unwrap();
        assert!(matches!(
            Layout::check_executable(&p),
            Err(LayoutError::NotExecutable(_))
        ));
        fs::set_permissions(&p, fs::Permissions::from_mode(0o755)).unwrap();
        Layout::check_executable(&p).unwrap();
    }
}
