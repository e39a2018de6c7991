//! Audit events (`audit.k8s.io/v1` `Event`) and a reader that follows a JSON-lines log.

use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use serde::Deserialize;

/// The fields of an audit event this plugin reads; the rest are ignored.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase", default)]
pub struct Event {
    #[serde(rename = "auditID")]
    pub audit_id: String,
    pub stage: String,
    pub level: String,
    pub verb: String,
    #[serde(rename = "requestURI")]
    pub request_uri: String,
    pub user: User,
    #[serde(rename = "sourceIPs")]
    pub source_ips: Vec<String>,
    pub user_agent: String,
    pub response_status: Option<ResponseStatus>,
    pub request_received_timestamp: Option<jiff::Timestamp>,
}

#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(default)]
pub struct User {
    pub username: String,
    pub groups: Vec<String>,
}

#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(default)]
pub struct ResponseStatus {
    pub code: u16,
}

impl Event {
    pub fn code(&self) -> Option<u16> {
        self.response_status.as_ref().map(|s| s.code)
    }
}

/// Follows a JSON-lines log file the way `tail -F` does: from where it starts, one complete
/// line at a time (a line still being written is left for the next read). When the file is
/// rotated (renamed away and created anew), the rest of the old file is read first, then the
/// new one from its start; when it is truncated in place, reading starts over at its start.
pub struct LogFollower {
    path: PathBuf,
    file: Option<(std::fs::File, FileId)>,
    offset: u64,
    partial: Vec<u8>,
}

/// Which file a path names: rotation replaces it with another.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct FileId {
    device: u64,
    inode: u64,
}

impl FileId {
    fn of(metadata: &std::fs::Metadata) -> FileId {
        use std::os::unix::fs::MetadataExt;
        FileId {
            device: metadata.dev(),
            inode: metadata.ino(),
        }
    }
}

/// What one read of a followed file brought.
#[derive(Debug, Default)]
pub struct NewLines {
    /// Complete lines, without their newline.
    pub lines: Vec<Vec<u8>>,
    /// The file was replaced or truncated since the last read.
    pub reopened: bool,
    /// The read stopped at its size limit: more is there to read now.
    pub more: bool,
}

/// At most this much is read at once, so a large backlog is taken in steps.
const READ_CHUNK: u64 = 16 << 20;

impl LogFollower {
    /// Starts at the current end of the file: only events written from now on are read.
    pub fn from_end(path: &Path) -> std::io::Result<LogFollower> {
        let file = std::fs::File::open(path)?;
        let metadata = file.metadata()?;
        Ok(LogFollower {
            path: path.to_path_buf(),
            offset: metadata.len(),
            file: Some((file, FileId::of(&metadata))),
            partial: Vec::new(),
        })
    }

    /// Follows a file from its end, or, when it does not exist yet, from its start once it
    /// appears. Any other failure to open it is an error.
    pub fn waiting_for(path: &Path) -> std::io::Result<LogFollower> {
        match LogFollower::from_end(path) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(LogFollower {
                path: path.to_path_buf(),
                file: None,
                offset: 0,
                partial: Vec::new(),
            }),
            other => other,
        }
    }

    /// The file did not exist when last looked for.
    pub fn is_waiting(&self) -> bool {
        self.file.is_none()
    }

    /// The events completed since the last read; lines that are not events are skipped.
    pub fn read_new(&mut self) -> std::io::Result<Vec<Event>> {
        Ok(self
            .read_lines()?
            .lines
            .iter()
            .filter_map(|line| serde_json::from_slice(line).ok())
            .collect())
    }

    /// The lines completed since the last read. A path that is missing for a while (between
    /// a rotation's rename and create) is not an error; a file that cannot be read is.
    pub fn read_lines(&mut self) -> std::io::Result<NewLines> {
        let mut new = NewLines::default();
        // Drain what the open file still holds, even if it has been renamed away.
        self.read_open_file(&mut new)?;
        if new.more {
            return Ok(new);
        }
        let current = match std::fs::metadata(&self.path) {
            Ok(metadata) => metadata,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(new),
            Err(e) => return Err(e),
        };
        let replaced = match &self.file {
            Some((_, id)) => *id != FileId::of(&current),
            None => true,
        };
        if replaced {
            let file = std::fs::File::open(&self.path)?;
            let id = FileId::of(&file.metadata()?);
            // A line the old file left unfinished will never be finished.
            self.partial.clear();
            self.file = Some((file, id));
            self.offset = 0;
            new.reopened = true;
            self.read_open_file(&mut new)?;
        }
        Ok(new)
    }

    fn read_open_file(&mut self, new: &mut NewLines) -> std::io::Result<()> {
        let Some((file, _)) = &mut self.file else {
            return Ok(());
        };
        let len = file.metadata()?.len();
        if len < self.offset {
            // Truncated in place (copytruncate): start over from its beginning.
            self.offset = 0;
            self.partial.clear();
            new.reopened = true;
        }
        file.seek(SeekFrom::Start(self.offset))?;
        let mut bytes = Vec::new();
        Read::by_ref(file)
            .take(READ_CHUNK)
            .read_to_end(&mut bytes)?;
        new.more = bytes.len() as u64 == READ_CHUNK;
        self.offset += bytes.len() as u64;
        self.partial.extend_from_slice(&bytes);
        if let Some(end) = self.partial.iter().rposition(|&b| b == b'\n') {
            let complete: Vec<u8> = self.partial.drain(..=end).collect();
            new.lines.extend(
                complete
                    .split(|&b| b == b'\n')
                    .filter(|line| !line.is_empty())
                    .map(<[u8]>::to_vec),
            );
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    const EVENT: &str = r#"{"kind":"Event","apiVersion":"audit.k8s.io/v1","level":"Metadata","auditID":"a1","stage":"ResponseComplete","requestURI":"/api/v1/namespaces/kube-system/secrets","verb":"list","user":{"username":"system:serviceaccount:kube-system:tiller","groups":["system:serviceaccounts"]},"sourceIPs":["127.0.0.1"],"userAgent":"x (drill d1)","responseStatus":{"metadata":{},"code":403},"requestReceivedTimestamp":"2026-11-28T10:00:00.000000Z"}"#;

    #[test]
    fn an_event_line_parses_into_the_fields_we_use() {
        let event: Event = serde_json::from_str(EVENT).unwrap();
        assert_eq!(event.audit_id, "a1");
        assert_eq!(
            event.user.username,
            "system:serviceaccount:kube-system:tiller"
        );
        assert_eq!(event.code(), Some(403));
        assert_eq!(event.request_uri, "/api/v1/namespaces/kube-system/secrets");
        assert_eq!(event.source_ips, vec!["127.0.0.1"]);
        assert!(event.request_received_timestamp.is_some());
    }

    #[test]
    fn the_follower_reads_only_new_complete_lines() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("audit.log");
        std::fs::write(&path, format!("{EVENT}\n")).unwrap();
        let mut follower = LogFollower::from_end(&path).unwrap();
        assert!(follower.read_new().unwrap().is_empty());

        let mut file = std::fs::OpenOptions::new()
            .append(true)
            .open(&path)
            .unwrap();
        let (head, tail) = EVENT.split_at(40);
        write!(file, "not json\n{head}").unwrap();
        assert!(
            follower.read_new().unwrap().is_empty(),
            "a half-written line is not read"
        );
        writeln!(file, "{tail}").unwrap();
        let events = follower.read_new().unwrap();
        assert_eq!(events.len(), 1);
        assert_eq!(events[0].audit_id, "a1");
    }

    #[test]
    fn the_follower_starts_over_when_the_file_is_truncated() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("audit.log");
        std::fs::write(&path, format!("{EVENT}\n{EVENT}\n")).unwrap();
        let mut follower = LogFollower::from_end(&path).unwrap();
        std::fs::write(&path, format!("{EVENT}\n")).unwrap();
        assert_eq!(follower.read_new().unwrap().len(), 1);
    }

    #[test]
    fn the_follower_reads_the_rest_of_a_rotated_file_then_the_new_one() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("audit.log");
        std::fs::write(&path, "").unwrap();
        let mut follower = LogFollower::from_end(&path).unwrap();
        let mut file = std::fs::OpenOptions::new()
            .append(true)
            .open(&path)
            .unwrap();
        writeln!(file, "{}", EVENT.replace("a1", "before")).unwrap();
        // Rotated as kube-apiserver's lumberjack does: renamed, then a new file made.
        std::fs::rename(&path, dir.path().join("audit-2026-11-28T10-00-00.000.log")).unwrap();
        writeln!(file, "{}", EVENT.replace("a1", "late")).unwrap();
        drop(file);
        // Between the rename and the create, the path is missing: not an error.
        let gap = follower.read_lines().unwrap();
        assert_eq!(gap.lines.len(), 2);
        std::fs::write(&path, format!("{}\n", EVENT.replace("a1", "after"))).unwrap();
        let new = follower.read_lines().unwrap();
        assert!(new.reopened);
        let ids: Vec<String> = new
            .lines
            .iter()
            .map(|l| serde_json::from_slice::<Event>(l).unwrap().audit_id)
            .collect();
        assert_eq!(ids, vec!["after"]);
        assert!(follower.read_lines().unwrap().lines.is_empty());
    }

    #[test]
    fn a_file_that_appears_later_is_read_from_its_start() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("audit.log");
        let mut follower = LogFollower::waiting_for(&path).unwrap();
        assert!(follower.is_waiting());
        assert!(follower.read_lines().unwrap().lines.is_empty());
        std::fs::write(&path, format!("{EVENT}\n")).unwrap();
        assert_eq!(follower.read_new().unwrap().len(), 1);
        assert!(!follower.is_waiting());
    }
}
