//! Files named on the command line, opened so that the wrong kind of file is refused at once
//! instead of being waited on (a FIFO without a writer) or read without end (`/dev/zero`),
//! and so that what is read whole is bounded.

use std::fs::{File, FileType};
use std::io::Read;
use std::os::unix::fs::{FileTypeExt, OpenOptionsExt};
use std::path::Path;

/// Why a file given on the command line was not read.
#[derive(Debug, thiserror::Error)]
pub enum InputError {
    /// A directory, FIFO, device or socket where a regular file belongs.
    #[error("{0}")]
    NotAFile(#[source] NotAFile),
    /// Larger than what this file can sensibly hold.
    #[error("is over {}, the most read as {what}", size(*.limit))]
    TooLarge { limit: u64, what: &'static str },
    #[error(transparent)]
    Io(#[from] std::io::Error),
}

/// A path that names something other than a regular file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("is {kind}, not a regular file")]
pub struct NotAFile {
    /// "a directory", "a FIFO (named pipe)", ...
    pub kind: &'static str,
}

impl NotAFile {
    /// The error as `std::io` reports it, for readers that speak `std::io::Result`.
    pub fn into_io(self) -> std::io::Error {
        std::io::Error::new(std::io::ErrorKind::InvalidInput, self)
    }
}

/// What kind of file this is, in words; `None` for a regular file.
pub fn special_kind(file_type: FileType) -> Option<&'static str> {
    Some(if file_type.is_file() {
        return None;
    } else if file_type.is_dir() {
        "a directory"
    } else if file_type.is_fifo() {
        "a FIFO (named pipe)"
    } else if file_type.is_char_device() {
        "a character device"
    } else if file_type.is_block_device() {
        "a block device"
    } else if file_type.is_socket() {
        "a socket"
    } else {
        "not a file"
    })
}

/// Opens a regular file for reading, following symbolic links. Anything else is refused
/// without waiting: the open does not block on a FIFO, and what was opened is checked, not
/// what the path named a moment before.
pub fn open_regular(path: &Path) -> std::io::Result<File> {
    let file = match std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(path)
    {
        Ok(file) => file,
        // A socket cannot be opened at all ("no such device or address"): say what it is.
        Err(e) => {
            let kind = std::fs::metadata(path)
                .ok()
                .and_then(|m| special_kind(m.file_type()));
            return Err(kind.map_or(e, |kind| NotAFile { kind }.into_io()));
        }
    };
    if let Some(kind) = special_kind(file.metadata()?.file_type()) {
        return Err(NotAFile { kind }.into_io());
    }
    // Back to blocking reads; O_NONBLOCK means nothing to a regular file on Linux, but the
    // descriptor should say what it is used as.
    use std::os::fd::AsRawFd;
    let fd = file.as_raw_fd();
    // SAFETY: F_GETFL/F_SETFL on a descriptor this function owns.
    unsafe {
        let flags = libc::fcntl(fd, libc::F_GETFL);
        if flags >= 0 {
            libc::fcntl(fd, libc::F_SETFL, flags & !libc::O_NONBLOCK);
        }
    }
    Ok(file)
}

/// Reads a regular file of at most `limit` bytes as text. `what` names what the file
/// should be ("an audit policy"), for the message when it is larger.
pub fn read_text(path: &Path, limit: u64, what: &'static str) -> Result<String, InputError> {
    let file = open_regular(path).map_err(|e| match not_a_file(&e) {
        Some(not) => InputError::NotAFile(not),
        None => InputError::Io(e),
    })?;
    let mut bytes = Vec::new();
    // One byte past the limit tells a file at the limit from a larger one, whatever its
    // size said (files under /proc and /sys report none).
    file.take(limit + 1).read_to_end(&mut bytes)?;
    if bytes.len() as u64 > limit {
        return Err(InputError::TooLarge { limit, what });
    }
    String::from_utf8(bytes).map_err(|_| {
        InputError::Io(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            "is not UTF-8 text",
        ))
    })
}

/// The kind of special file an error from [`open_regular`] reports, if that is what it is.
pub fn not_a_file(error: &std::io::Error) -> Option<NotAFile> {
    error
        .get_ref()
        .and_then(|inner| inner.downcast_ref::<NotAFile>())
        .copied()
}

/// A size in the units the README uses: whole MiB or KiB when exact, bytes otherwise.
pub fn size(bytes: u64) -> String {
    if bytes >= 1 << 20 && bytes.is_multiple_of(1 << 20) {
        format!("{} MiB", bytes >> 20)
    } else if bytes >= 1 << 10 && bytes.is_multiple_of(1 << 10) {
        format!("{} KiB", bytes >> 10)
    } else {
        format!("{bytes} bytes")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_regular_file_is_read_and_its_limit_holds() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        std::fs::write(&path, "x".repeat(10)).unwrap();
        assert_eq!(read_text(&path, 10, "a test file").unwrap().len(), 10);
        let err = read_text(&path, 9, "a test file").unwrap_err();
        assert!(
            matches!(err, InputError::TooLarge { limit: 9, .. }),
            "{err}"
        );
    }

    #[test]
    fn special_files_are_refused_without_blocking() {
        let dir = tempfile::tempdir().unwrap();
        let fifo = dir.path().join("fifo");
        let c = std::ffi::CString::new(fifo.to_str().unwrap()).unwrap();
        // SAFETY: mkfifo on a path in a temporary folder.
        assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
        for (path, kind) in [
            (dir.path(), "a directory"),
            (fifo.as_path(), "a FIFO (named pipe)"),
            (Path::new("/dev/zero"), "a character device"),
        ] {
            let err = open_regular(path).unwrap_err();
            assert_eq!(not_a_file(&err), Some(NotAFile { kind }), "{path:?}");
            let err = read_text(path, 1 << 20, "a test file").unwrap_err();
            assert!(
                err.to_string()
                    .contains(&format!("is {kind}, not a regular file")),
                "{err}"
            );
        }
    }

    #[test]
    fn sizes_read_as_people_write_them() {
        assert_eq!(size(16 << 20), "16 MiB");
        assert_eq!(size(64 << 10), "64 KiB");
        assert_eq!(size(1000), "1000 bytes");
    }
}
