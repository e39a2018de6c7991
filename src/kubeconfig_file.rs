//! Writing the decoy kubeconfig: a new file made whole and private before it has its name,
//! or an existing kubeconfig replaced at once, under kubectl's own lock, by a copy that was
//! checked on disk first. A run that fails leaves no file behind and the old one as it was.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use secrecy::{ExposeSecret, SecretString};

use crate::decoy::bait::{BaitError, MergeProblem};

/// The most read of a kubeconfig to merge into; real ones are a few KiB.
pub const KUBECONFIG_LIMIT: u64 = 4 << 20;

/// The mode every file written here has, unless an existing one was stricter.
pub const PRIVATE: u32 = 0o600;

/// An existing kubeconfig, as read before merging.
pub struct Existing {
    /// The file itself, symbolic links followed (`~/.kube/config` is often one).
    pub path: PathBuf,
    /// Its text: it holds credentials.
    pub text: SecretString,
    /// Its permission bits.
    pub mode: u32,
    uid: u32,
    gid: u32,
}

/// Reads the kubeconfig to merge into: a regular file, bounded.
pub fn read(path: &Path) -> Result<Existing, BaitError> {
    let read_error = |source| BaitError::Read {
        path: path.to_path_buf(),
        source,
    };
    let resolved =
        std::fs::canonicalize(path).map_err(|e| read_error(crate::input::InputError::Io(e)))?;
    let text =
        crate::input::read_text(&resolved, KUBECONFIG_LIMIT, "a kubeconfig").map_err(read_error)?;
    let metadata =
        std::fs::metadata(&resolved).map_err(|e| read_error(crate::input::InputError::Io(e)))?;
    Ok(Existing {
        path: resolved,
        text: SecretString::from(text),
        mode: metadata.permissions().mode() & 0o7777,
        uid: metadata.uid(),
        gid: metadata.gid(),
    })
}

/// The mode a replaced file gets: its own when only its owner may read or write it, else
/// 0600.
pub fn kept_mode(mode: u32) -> u32 {
    if mode & 0o7777 & !PRIVATE == 0 {
        mode & 0o7777
    } else {
        PRIVATE
    }
}

/// A temporary file beside `path`, made with mode 0600 (never readable by others, not even
/// for a moment), removed again unless it is kept.
struct Temporary {
    path: PathBuf,
    file: Option<File>,
    kept: bool,
}

impl Temporary {
    fn beside(path: &Path) -> std::io::Result<Temporary> {
        let dir = match path.parent() {
            Some(dir) if !dir.as_os_str().is_empty() => dir.to_path_buf(),
            _ => PathBuf::from("."),
        };
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let mut random = [0u8; 6];
        getrandom::fill(&mut random).map_err(|e| std::io::Error::other(e.to_string()))?;
        let unique: String = random.iter().map(|b| format!("{b:02x}")).collect();
        let temporary = dir.join(format!(".{name}.{}.{unique}.tmp", std::process::id()));
        let file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(PRIVATE)
            .open(&temporary)?;
        Ok(Temporary {
            path: temporary,
            file: Some(file),
            kept: false,
        })
    }

    /// Writes everything and makes it durable.
    fn fill(&mut self, content: &[u8]) -> std::io::Result<()> {
        let file = self.file.as_mut().expect("an open temporary file");
        file.write_all(content)?;
        file.sync_all()
    }
}

impl Drop for Temporary {
    fn drop(&mut self) {
        self.file.take();
        if !self.kept {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

/// Makes a rename or link in `path`'s folder durable; best effort, as the change is made.
fn sync_folder(path: &Path) {
    let dir = match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    };
    if let Ok(folder) = File::open(dir) {
        let _ = folder.sync_all();
    }
}

/// Writes a new file, mode 0600 from its creation: whole, synced, then given its name. An
/// existing file is replaced only with `force`; without it the name is taken with a hard
/// link, which fails if anything has it, so nothing is ever overwritten by a race.
pub fn write_new(path: &Path, content: &SecretString, force: bool) -> Result<(), BaitError> {
    let write_error = |source| BaitError::Write {
        path: path.to_path_buf(),
        source,
    };
    let exists = std::fs::symlink_metadata(path).is_ok();
    if exists && !force {
        return Err(BaitError::Exists {
            path: path.to_path_buf(),
        });
    }
    if std::fs::metadata(path).is_ok_and(|m| m.is_dir()) {
        return Err(write_error(std::io::Error::other("it is a directory")));
    }
    let mut temporary = Temporary::beside(path).map_err(write_error)?;
    temporary
        .fill(content.expose_secret().as_bytes())
        .map_err(write_error)?;
    if force {
        std::fs::rename(&temporary.path, path).map_err(write_error)?;
        temporary.kept = true;
    } else {
        match std::fs::hard_link(&temporary.path, path) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                return Err(BaitError::Exists {
                    path: path.to_path_buf(),
                });
            }
            Err(e) => return Err(write_error(e)),
        }
    }
    sync_folder(path);
    Ok(())
}

/// kubectl's lock on a kubeconfig while it writes one (`<file>.lock`, made exclusively), held
/// until dropped.
struct Lock {
    path: PathBuf,
}

impl Lock {
    fn take(file: &Path) -> Result<Lock, BaitError> {
        let mut name = file.as_os_str().to_owned();
        name.push(".lock");
        let path = PathBuf::from(name);
        match OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(PRIVATE)
            .open(&path)
        {
            Ok(_) => Ok(Lock { path }),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Err(BaitError::Locked {
                path: file.to_path_buf(),
                lock: path,
            }),
            Err(source) => Err(BaitError::Write { path, source }),
        }
    }
}

impl Drop for Lock {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

/// What happened to the file's mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ModeChange {
    pub from: u32,
    pub to: u32,
}

/// Replaces `existing` with `content` in one rename, under kubectl's lock: only if the file
/// is still what was read, with its owner, and its mode when that is 0600 or stricter (else
/// 0600). The new file is read back from disk and must pass `check` before it takes the
/// name; otherwise the old file stays untouched.
pub fn replace(
    existing: &Existing,
    content: &SecretString,
    check: impl Fn(&str) -> Result<(), MergeProblem>,
) -> Result<ModeChange, BaitError> {
    let path = &existing.path;
    let write_error = |source| BaitError::Write {
        path: path.clone(),
        source,
    };
    let merge_error = |problem| BaitError::Merge {
        path: path.clone(),
        problem,
    };
    let _lock = Lock::take(path)?;
    let now =
        crate::input::read_text(path, KUBECONFIG_LIMIT, "a kubeconfig").map_err(|source| {
            BaitError::Read {
                path: path.clone(),
                source,
            }
        })?;
    if now != existing.text.expose_secret() {
        return Err(merge_error(MergeProblem::Changed));
    }
    let mode = kept_mode(existing.mode);
    let mut temporary = Temporary::beside(path).map_err(write_error)?;
    {
        let file = temporary.file.as_ref().expect("an open temporary file");
        if mode != PRIVATE {
            file.set_permissions(std::fs::Permissions::from_mode(mode))
                .map_err(write_error)?;
        }
        let made = file.metadata().map_err(write_error)?;
        if (made.uid(), made.gid()) != (existing.uid, existing.gid) {
            use std::os::fd::AsRawFd;
            // SAFETY: fchown on a descriptor this function owns.
            if unsafe { libc::fchown(file.as_raw_fd(), existing.uid, existing.gid) } != 0 {
                return Err(write_error(std::io::Error::other(format!(
                    "cannot give the new file the old one's owner ({}:{}): {}",
                    existing.uid,
                    existing.gid,
                    std::io::Error::last_os_error()
                ))));
            }
        }
    }
    temporary
        .fill(content.expose_secret().as_bytes())
        .map_err(write_error)?;
    let written = crate::input::read_text(&temporary.path, KUBECONFIG_LIMIT, "a kubeconfig")
        .map_err(|source| BaitError::Read {
            path: temporary.path.clone(),
            source,
        })?;
    check(&written).map_err(merge_error)?;
    std::fs::rename(&temporary.path, path).map_err(write_error)?;
    temporary.kept = true;
    sync_folder(path);
    Ok(ModeChange {
        from: existing.mode,
        to: mode,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mode_of(path: &Path) -> u32 {
        std::fs::metadata(path).unwrap().permissions().mode() & 0o7777
    }

    fn secret(text: &str) -> SecretString {
        SecretString::from(text.to_string())
    }

    fn leftovers(dir: &Path) -> Vec<String> {
        std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| n.ends_with(".tmp") || n.ends_with(".lock"))
            .collect()
    }

    #[test]
    fn a_new_file_is_private_and_never_overwritten_without_force() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config");
        write_new(&path, &secret("one\n"), false).unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "one\n");
        assert_eq!(mode_of(&path), 0o600);
        let again = write_new(&path, &secret("two\n"), false).unwrap_err();
        assert!(matches!(again, BaitError::Exists { .. }), "{again}");
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "one\n");
        // Forced over a file others could read: the new one is private all the same.
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        write_new(&path, &secret("two\n"), true).unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "two\n");
        assert_eq!(mode_of(&path), 0o600);
        assert!(
            leftovers(dir.path()).is_empty(),
            "{:?}",
            leftovers(dir.path())
        );
    }

    #[test]
    fn a_new_file_in_a_missing_folder_fails_and_leaves_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("no/such/config");
        let error = write_new(&path, &secret("x"), false).unwrap_err();
        assert!(matches!(error, BaitError::Write { .. }), "{error}");
        let symlink = dir.path().join("link");
        std::os::unix::fs::symlink("/nonexistent/target", &symlink).unwrap();
        assert!(matches!(
            write_new(&symlink, &secret("x"), false),
            Err(BaitError::Exists { .. })
        ));
        assert!(leftovers(dir.path()).is_empty());
    }

    #[test]
    fn modes_are_kept_when_private_and_tightened_otherwise() {
        assert_eq!(kept_mode(0o600), 0o600);
        assert_eq!(kept_mode(0o400), 0o400);
        assert_eq!(kept_mode(0o644), 0o600);
        assert_eq!(kept_mode(0o640), 0o600);
        assert_eq!(kept_mode(0o4600), 0o600);
    }

    #[test]
    fn replace_keeps_a_private_mode_tightens_an_open_one_and_checks_first() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config");
        std::fs::write(&path, "old\n").unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        let existing = read(&path).unwrap();
        let change = replace(&existing, &secret("new\n"), |t| {
            assert_eq!(t, "new\n");
            Ok(())
        })
        .unwrap();
        assert_eq!(
            change,
            ModeChange {
                from: 0o644,
                to: 0o600
            }
        );
        assert_eq!(mode_of(&path), 0o600);
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "new\n");

        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o400)).unwrap();
        let existing = read(&path).unwrap();
        let change = replace(&existing, &secret("newer\n"), |_| Ok(())).unwrap();
        assert_eq!(
            change,
            ModeChange {
                from: 0o400,
                to: 0o400
            }
        );
        assert_eq!(mode_of(&path), 0o400);

        // A failed check leaves the old file as it was, and nothing beside it.
        let existing = read(&path).unwrap();
        let refused = replace(&existing, &secret("bad\n"), |_| {
            Err(MergeProblem::Check("test".into()))
        })
        .unwrap_err();
        assert!(matches!(refused, BaitError::Merge { .. }), "{refused}");
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "newer\n");
        assert!(
            leftovers(dir.path()).is_empty(),
            "{:?}",
            leftovers(dir.path())
        );
    }

    #[test]
    fn replace_follows_a_symlink_and_refuses_a_changed_or_locked_file() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("real");
        let link = dir.path().join("config");
        std::fs::write(&target, "old\n").unwrap();
        std::os::unix::fs::symlink(&target, &link).unwrap();
        let existing = read(&link).unwrap();
        assert_eq!(existing.path, std::fs::canonicalize(&target).unwrap());

        std::fs::write(&target, "changed meanwhile\n").unwrap();
        let changed = replace(&existing, &secret("new\n"), |_| Ok(())).unwrap_err();
        assert!(
            matches!(
                &changed,
                BaitError::Merge {
                    problem: MergeProblem::Changed,
                    ..
                }
            ),
            "{changed}"
        );

        let existing = read(&link).unwrap();
        let lock = dir.path().join("real.lock");
        std::fs::write(&lock, "").unwrap();
        let locked = replace(&existing, &secret("new\n"), |_| Ok(())).unwrap_err();
        assert!(matches!(locked, BaitError::Locked { .. }), "{locked}");
        std::fs::remove_file(&lock).unwrap();

        replace(&existing, &secret("new\n"), |_| Ok(())).unwrap();
        assert!(
            std::fs::symlink_metadata(&link)
                .unwrap()
                .file_type()
                .is_symlink()
        );
        assert_eq!(std::fs::read_to_string(&link).unwrap(), "new\n");
        assert!(
            leftovers(dir.path()).is_empty(),
            "{:?}",
            leftovers(dir.path())
        );
    }

    #[test]
    fn a_missing_file_or_a_folder_is_a_read_error() {
        let dir = tempfile::tempdir().unwrap();
        assert!(matches!(
            read(&dir.path().join("missing")),
            Err(BaitError::Read { .. })
        ));
        assert!(matches!(read(dir.path()), Err(BaitError::Read { .. })));
    }
}
