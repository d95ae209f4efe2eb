//! The cosmovisor-compatible folder layout.
//!
//! ```text
//! $DAEMON_HOME/
//!   data/upgrade-info.json              written by the node when it halts for a plan
//!   cosmovisor/
//!     genesis/bin/$DAEMON_NAME
//!     upgrades/<name>/bin/$DAEMON_NAME     <name> escaped as cosmovisor does (`v2%20final`)
//!     upgrades/<name>/upgrade-info.json
//!     current -> $DAEMON_HOME/cosmovisor/genesis | .../upgrades/<name>   (absolute symlink)
//!     switchyard/                          our own state (journal, staged records, manual upgrades)
//! ```
//!
//! **The form of `current`.** switchyard writes an *absolute* link, because that is the one form
//! every cosmovisor in use reads: v1.5 and older join the raw link text with `bin/<name>` and so
//! resolve a relative link against their working directory ("current binary is invalid"), while
//! later versions resolve the link properly and take either form. switchyard reads every form
//! it may meet: absolute links (cosmovisor's, ours), relative ones (older switchyard, cosmovisor
//! v1.7, or made by hand, `./` and `..` allowed as long as they stay inside `cosmovisor/`), and
//! stale absolute links into another path's `cosmovisor/` folder (a home that was moved or
//! restored elsewhere: the old path is gone and this home has the folder the link names), read
//! by their last components. [`Layout::ensure_current`]
//! rewrites any of those into the canonical absolute form, and creates a missing `current`
//! pointing at genesis, as cosmovisor does on its first run.
//!
//! `current` is only ever replaced atomically: a new symlink is made beside it and renamed over
//! it, then the folder is fsynced, so a crash leaves either the old target or the new one.

use std::fs;
use std::io;
use std::os::unix::fs::PermissionsExt;
use std::path::{Component, Path, PathBuf};

pub(crate) use switchyard_core::Current;
use switchyard_core::UpgradeName;

use crate::fsutil::sync_dir;

/// Why the layout could not be read or changed.
#[derive(Debug, thiserror::Error)]
pub enum LayoutError {
    /// A file system call on the layout failed (reading `current`, making the new link, renaming
    /// it, syncing `cosmovisor/`, reading a binary's metadata).
    #[error("{path}: {source}")]
    Io {
        /// The path the call was made on.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: io::Error,
    },
    /// `current` points somewhere that is not this home's `genesis/` or `upgrades/<name>/`:
    /// outside `cosmovisor/`, or into another home's `cosmovisor/` that is still there (or whose
    /// folder this home lacks).
    #[error(
        "`current` at {path} points at {target:?}, which is not this home's genesis or upgrades/<name> folder"
    )]
    UnknownCurrent {
        /// The `current` link.
        path: PathBuf,
        /// The link's target as written in it.
        target: PathBuf,
    },
    /// Something other than a symlink is at `current` (holds its path).
    #[error("`current` at {0} is not a symlink; move it away and switchyard (or cosmovisor) recreates it pointing at genesis")]
    NotALink(PathBuf),
    /// Nothing, or something other than a regular file, is at a binary's path (holds the path).
    #[error("no binary at {0} (expected an executable file named after DAEMON_NAME)")]
    MissingBinary(PathBuf),
    /// A binary's file has no execute bit set (holds its path).
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
    /// The node home, `DAEMON_HOME`.
    pub home: PathBuf,
    /// The binary's file name, `DAEMON_NAME` (e.g. `simd`).
    pub daemon_name: String,
}

impl Layout {
    /// The layout of `home` for the daemon `daemon_name`. Touches nothing on disk.
    pub fn new(home: impl Into<PathBuf>, daemon_name: impl Into<String>) -> Self {
        Layout {
            home: home.into(),
            daemon_name: daemon_name.into(),
        }
    }

    /// `$DAEMON_HOME/cosmovisor`.
    pub fn root(&self) -> PathBuf {
        self.home.join("cosmovisor")
    }
    /// `cosmovisor/genesis`, the folder of the binary the chain started with.
    pub fn genesis_dir(&self) -> PathBuf {
        self.root().join("genesis")
    }
    /// `cosmovisor/upgrades`, which holds one folder per upgrade.
    pub fn upgrades_dir(&self) -> PathBuf {
        self.root().join("upgrades")
    }
    /// `cosmovisor/upgrades/<folder>`, the folder of one upgrade: where cosmovisor puts it, the
    /// name escaped as [`UpgradeName::folder_name`] says (`v2%20final` for `v2 final`), unless
    /// only a folder spelt as the name itself exists (made by hand, or by older switchyard), which
    /// is then used. For ordinary names both are the same folder. New folders are made where
    /// cosmovisor makes them.
    pub fn upgrade_dir(&self, name: &UpgradeName) -> PathBuf {
        let escaped = self.upgrades_dir().join(name.folder_name());
        if name.folder_name() != name.as_str() && fs::symlink_metadata(&escaped).is_err() {
            let plain = self.upgrades_dir().join(name.as_str());
            if fs::symlink_metadata(&plain).is_ok() {
                return plain;
            }
        }
        escaped
    }
    /// `cosmovisor/current`, the symlink to the folder of the binary to run.
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
    /// `$DAEMON_HOME/data`, the node's chain data.
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

    /// The daemon binary in the folder a [`Current`] names.
    pub fn binary_of(&self, which: &Current) -> PathBuf {
        self.binary_in(&self.dir_of(which))
    }

    /// `cosmovisor/upgrades/<name>/bin/<DAEMON_NAME>`.
    pub fn upgrade_binary(&self, name: &UpgradeName) -> PathBuf {
        self.binary_in(&self.upgrade_dir(name))
    }

    /// Reads where `current` points. A missing link means genesis (cosmovisor's rule).
    pub fn current(&self) -> Result<Current, LayoutError> {
        Ok(self
            .read_current()?
            .map(|r| r.which)
            .unwrap_or(Current::Genesis))
    }

    /// Reads `current` and says in which form it is written (`None`: there is no link).
    fn read_current(&self) -> Result<Option<ReadCurrent>, LayoutError> {
        let link = self.current_link();
        let meta = match fs::symlink_metadata(&link) {
            Ok(m) => m,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(io_err(&link)(e)),
        };
        if !meta.file_type().is_symlink() {
            return Err(LayoutError::NotALink(link));
        }
        let target = fs::read_link(&link).map_err(io_err(&link))?;
        let unknown = || LayoutError::UnknownCurrent {
            path: link.clone(),
            target: target.clone(),
        };
        let root = self.root();
        let (rel, form) = if target.is_absolute() {
            match normalize(&target).strip_prefix(&root) {
                Ok(rel) => (rel.to_path_buf(), LinkForm::Canonical),
                // Another home's cosmovisor/ folder: this home was moved or restored elsewhere.
                Err(_) => (
                    tail_after_cosmovisor(&target).ok_or_else(unknown)?,
                    LinkForm::Foreign,
                ),
            }
        } else {
            let joined = normalize(&root.join(&target));
            let rel = joined.strip_prefix(&root).map_err(|_| unknown())?;
            (rel.to_path_buf(), LinkForm::Relative)
        };
        let which = parse_current(&rel).ok_or_else(unknown)?;
        // Read a foreign link as ours only when it is stale (its target is gone) and this home has
        // the folder it names; a live link into another folder is not ours to reinterpret.
        if form == LinkForm::Foreign && (target.exists() || !self.dir_of(&which).is_dir()) {
            return Err(unknown());
        }
        // A canonical link names exactly the folder we would write.
        let form = if form == LinkForm::Canonical && target != self.dir_of(&which) {
            LinkForm::Relative
        } else {
            form
        };
        Ok(Some(ReadCurrent {
            which,
            target,
            form,
        }))
    }

    /// Makes `current` a link every cosmovisor reads: creates it pointing at genesis when it is
    /// missing (and `genesis/` exists), and rewrites a relative link, a non-canonical absolute one
    /// or one into a moved home's old path into the absolute form. Call it only while holding
    /// the home's run lock, so it never races another switch of `current`.
    pub fn ensure_current(&self) -> Result<CurrentRepair, LayoutError> {
        match self.read_current()? {
            None => {
                if !self.genesis_dir().is_dir() {
                    return Ok(CurrentRepair::Unchanged);
                }
                self.set_current(&Current::Genesis)?;
                Ok(CurrentRepair::CreatedGenesis)
            }
            Some(r) if r.form == LinkForm::Canonical => Ok(CurrentRepair::Unchanged),
            Some(r) => {
                self.set_current(&r.which)?;
                Ok(CurrentRepair::Rewritten {
                    from: r.target,
                    to: self.dir_of(&r.which),
                })
            }
        }
    }

    /// The binary `current` resolves to.
    pub fn current_binary(&self) -> Result<PathBuf, LayoutError> {
        Ok(self.binary_of(&self.current()?))
    }

    /// Points `current` at `which` with an absolute link (see the module docs for why),
    /// atomically and durably.
    pub fn set_current(&self, which: &Current) -> Result<(), LayoutError> {
        let root = self.root();
        fs::create_dir_all(&root).map_err(io_err(&root))?;
        let target = self.dir_of(which);
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

    /// Adds the execute bits (`a+x`) to the regular file at `path` when it has none, as
    /// cosmovisor does to an upgrade binary before it switches to it (its `add-upgrade` writes the
    /// file with mode 0600). Whether it changed anything; [`LayoutError::MissingBinary`] when
    /// no regular file is there.
    pub fn add_execute_bits(path: &Path) -> Result<bool, LayoutError> {
        match Self::check_executable(path) {
            Ok(()) => Ok(false),
            Err(LayoutError::NotExecutable(_)) => {
                let mode = fs::metadata(path)
                    .map_err(io_err(path))?
                    .permissions()
                    .mode();
                fs::set_permissions(path, fs::Permissions::from_mode((mode & 0o7777) | 0o111))
                    .map_err(io_err(path))?;
                Ok(true)
            }
            Err(e) => Err(e),
        }
    }

    /// Whether an upgrade folder holds its binary: a regular file, with or without execute
    /// bits (a binary cosmovisor's `add-upgrade` wrote has none until it is staged or switched
    /// to; see [`Layout::add_execute_bits`]).
    pub fn has_upgrade_binary(&self, name: &UpgradeName) -> bool {
        fs::metadata(self.upgrade_binary(name)).is_ok_and(|m| m.is_file())
    }
}

/// What [`Layout::ensure_current`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CurrentRepair {
    /// `current` was already in the canonical absolute form, or is missing and there is no
    /// `genesis/` folder to point it at.
    Unchanged,
    /// `current` was missing; it now points at genesis.
    CreatedGenesis,
    /// `current` named its target in another form; it now names `to`.
    Rewritten {
        /// The link's target as it was written.
        from: PathBuf,
        /// The absolute folder it names now.
        to: PathBuf,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum LinkForm {
    /// Absolute, exactly `<root>/genesis` or `<root>/upgrades/<name>`.
    Canonical,
    /// Relative, or absolute under the root but spelt differently (`./`, `..`, trailing `/`).
    Relative,
    /// Absolute, into some other `.../cosmovisor/` folder.
    Foreign,
}

struct ReadCurrent {
    which: Current,
    target: PathBuf,
    form: LinkForm,
}

/// Removes `.` and resolves `..` lexically (without touching the disk).
fn normalize(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for c in path.components() {
        match c {
            Component::CurDir => {}
            Component::ParentDir => {
                out.pop();
            }
            other => out.push(other),
        }
    }
    out
}

/// For an absolute link into another home: what follows its last `cosmovisor` component.
fn tail_after_cosmovisor(target: &Path) -> Option<PathBuf> {
    let norm = normalize(target);
    let parts: Vec<_> = norm.components().collect();
    let at = parts.iter().rposition(|c| c.as_os_str() == "cosmovisor")?;
    Some(parts[at + 1..].iter().collect())
}

/// `genesis` or `upgrades/<name>`, relative to the cosmovisor folder.
fn parse_current(rel: &Path) -> Option<Current> {
    let parts: Vec<_> = rel
        .components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect();
    match parts.as_slice() {
        [g] if g == "genesis" => Some(Current::Genesis),
        [u, folder] if u == "upgrades" => UpgradeName::from_folder(folder).map(Current::Upgrade),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn name(s: &str) -> UpgradeName {
        UpgradeName::parse(s, false).unwrap()
    }

    fn link(l: &Layout, target: impl AsRef<Path>) {
        fs::create_dir_all(l.root()).unwrap();
        let _ = fs::remove_file(l.current_link());
        std::os::unix::fs::symlink(target, l.current_link()).unwrap();
    }

    #[test]
    fn current_defaults_to_genesis_and_follows_set_current() {
        let dir = tempfile::tempdir().unwrap();
        let l = Layout::new(dir.path(), "simd");
        assert_eq!(l.current().unwrap(), Current::Genesis);
        l.set_current(&Current::Upgrade(name("v2"))).unwrap();
        assert_eq!(l.current().unwrap(), Current::Upgrade(name("v2")));
        // Absolute: the form cosmovisor v1.5 needs (it does not resolve relative links).
        assert_eq!(
            fs::read_link(l.current_link()).unwrap(),
            dir.path().join("cosmovisor/upgrades/v2")
        );
        assert_eq!(
            l.current_binary().unwrap(),
            dir.path().join("cosmovisor/upgrades/v2/bin/simd")
        );
        l.set_current(&Current::Genesis).unwrap();
        assert_eq!(l.current().unwrap(), Current::Genesis);
        assert_eq!(fs::read_link(l.current_link()).unwrap(), l.genesis_dir());
    }

    #[test]
    fn every_form_of_link_met_in_the_field_is_read() {
        let dir = tempfile::tempdir().unwrap();
        let l = Layout::new(dir.path(), "simd");
        fs::create_dir_all(l.upgrade_dir(&name("v3"))).unwrap();
        let v3 = Current::Upgrade(name("v3"));
        for target in [
            l.upgrade_dir(&name("v3")),      // cosmovisor <= v1.6, and us
            PathBuf::from("upgrades/v3"),    // older switchyard, cosmovisor v1.7
            PathBuf::from("./upgrades/v3/"), // by hand
            PathBuf::from("../cosmovisor/upgrades/v3"),
            l.root().join("upgrades/../upgrades/v3"),
        ] {
            link(&l, &target);
            assert_eq!(l.current().unwrap(), v3, "{target:?}");
        }
        link(&l, "genesis");
        assert_eq!(l.current().unwrap(), Current::Genesis);
    }

    #[test]
    fn foreign_current_target_is_a_clear_error() {
        let dir = tempfile::tempdir().unwrap();
        let l = Layout::new(dir.path(), "simd");
        for target in ["/usr/bin", "../../etc", "upgrades/v2/bin", "upgrades"] {
            link(&l, target);
            let err = l.current().unwrap_err().to_string();
            assert!(err.contains(target), "{err}");
        }
        // A live link into another home's folder is not reinterpreted as ours.
        let other = tempfile::tempdir().unwrap();
        let theirs = other.path().join("cosmovisor/upgrades/v2");
        fs::create_dir_all(&theirs).unwrap();
        fs::create_dir_all(l.upgrade_dir(&name("v2"))).unwrap();
        link(&l, &theirs);
        assert!(matches!(
            l.current(),
            Err(LayoutError::UnknownCurrent { .. })
        ));
        assert_eq!(
            l.ensure_current().unwrap_err().to_string(),
            l.current().unwrap_err().to_string()
        );
    }

    #[test]
    fn a_current_that_is_not_a_link_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let l = Layout::new(dir.path(), "simd");
        fs::create_dir_all(l.current_link()).unwrap();
        assert!(matches!(l.current(), Err(LayoutError::NotALink(_))));
    }

    #[test]
    fn ensure_current_creates_a_missing_link_and_rewrites_other_forms() {
        let dir = tempfile::tempdir().unwrap();
        let l = Layout::new(dir.path(), "simd");
        // No genesis folder yet: nothing to point at, nothing created.
        assert_eq!(l.ensure_current().unwrap(), CurrentRepair::Unchanged);
        assert!(fs::symlink_metadata(l.current_link()).is_err());

        fs::create_dir_all(l.genesis_dir().join("bin")).unwrap();
        assert_eq!(l.ensure_current().unwrap(), CurrentRepair::CreatedGenesis);
        assert_eq!(fs::read_link(l.current_link()).unwrap(), l.genesis_dir());
        assert_eq!(l.ensure_current().unwrap(), CurrentRepair::Unchanged);

        let v2 = l.upgrade_dir(&name("v2"));
        fs::create_dir_all(&v2).unwrap();
        link(&l, "upgrades/v2");
        assert_eq!(
            l.ensure_current().unwrap(),
            CurrentRepair::Rewritten {
                from: PathBuf::from("upgrades/v2"),
                to: v2.clone()
            }
        );
        assert_eq!(fs::read_link(l.current_link()).unwrap(), v2);

        // A home restored under another path: the old absolute link is stale.
        let old = Path::new("/nonexistent-old-home/.gaia/cosmovisor/upgrades/v2");
        link(&l, old);
        assert_eq!(l.current().unwrap(), Current::Upgrade(name("v2")));
        assert!(matches!(
            l.ensure_current().unwrap(),
            CurrentRepair::Rewritten { .. }
        ));
        assert_eq!(fs::read_link(l.current_link()).unwrap(), v2);
        // ...unless this home lacks the folder it names.
        link(&l, "/nonexistent-old-home/.gaia/cosmovisor/upgrades/v9");
        assert!(l.current().is_err());
    }

    /// cosmovisor's folder for `V2 Final` is `upgrades/v2%20final` (issue 24 #10).
    #[test]
    fn upgrade_folders_are_where_cosmovisor_puts_them_and_plain_ones_are_found() {
        let dir = tempfile::tempdir().unwrap();
        let l = Layout::new(dir.path(), "simd");
        let n = name("V2 Final");
        assert_eq!(l.upgrade_dir(&n), l.upgrades_dir().join("v2%20final"));
        assert_eq!(
            l.upgrade_binary(&n),
            l.upgrades_dir().join("v2%20final/bin/simd")
        );
        // Only the unescaped folder there: that one is used.
        fs::create_dir_all(l.upgrades_dir().join("v2 final/bin")).unwrap();
        assert_eq!(l.upgrade_dir(&n), l.upgrades_dir().join("v2 final"));
        // Both: cosmovisor's wins.
        fs::create_dir_all(l.upgrades_dir().join("v2%20final/bin")).unwrap();
        assert_eq!(l.upgrade_dir(&n), l.upgrades_dir().join("v2%20final"));
        // A `current` cosmovisor wrote into the escaped folder names the upgrade.
        link(&l, l.upgrades_dir().join("v2%20final"));
        assert_eq!(l.current().unwrap(), Current::Upgrade(n.clone()));
        assert_eq!(l.ensure_current().unwrap(), CurrentRepair::Unchanged);
        l.set_current(&Current::Upgrade(n.clone())).unwrap();
        assert_eq!(
            fs::read_link(l.current_link()).unwrap(),
            l.upgrades_dir().join("v2%20final")
        );
        // Ordinary names: one folder, the name.
        assert_eq!(l.upgrade_dir(&name("v2")), l.upgrades_dir().join("v2"));
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

    /// A binary written with mode 0600 (cosmovisor's `add-upgrade`) counts as placed, and gets
    /// `a+x` as cosmovisor gives it at the switch (issue 24 #11).
    #[test]
    fn a_binary_without_execute_bits_is_placed_and_gets_them() {
        let dir = tempfile::tempdir().unwrap();
        let l = Layout::new(dir.path(), "simd");
        let v2 = name("v2");
        assert!(!l.has_upgrade_binary(&v2));
        let bin = l.upgrade_binary(&v2);
        fs::create_dir_all(bin.parent().unwrap()).unwrap();
        fs::write(&bin, "#!/bin/sh\n").unwrap();
        fs::set_permissions(&bin, fs::Permissions::from_mode(0o600)).unwrap();
        assert!(l.has_upgrade_binary(&v2));
        assert!(Layout::add_execute_bits(&bin).unwrap());
        let mode = fs::metadata(&bin).unwrap().permissions().mode() & 0o7777;
        assert_eq!(mode, 0o711);
        assert!(!Layout::add_execute_bits(&bin).unwrap());
        assert!(matches!(
            Layout::add_execute_bits(&dir.path().join("none")),
            Err(LayoutError::MissingBinary(_))
        ));
        fs::create_dir_all(dir.path().join("adir")).unwrap();
        assert!(Layout::add_execute_bits(&dir.path().join("adir")).is_err());
    }
}
