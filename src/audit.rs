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

/// Reads the events appended to a log file after a starting point, one complete line at a
/// time (a line still being written is left for the next read).
pub struct LogFollower {
    path: PathBuf,
    offset: u64,
    partial: Vec<u8>,
}

impl LogFollower {
    /// Starts at the current end of the file: only events written from now on are read.
    pub fn from_end(path: &Path) -> std::io::Result<LogFollower> {
        let offset = std::fs::metadata(path)?.len();
        Ok(LogFollower {
            path: path.to_path_buf(),
            offset,
            partial: Vec::new(),
        })
    }

    /// The events completed since the last read; lines that are not events are skipped.
    pub fn read_new(&mut self) -> std::io::Result<Vec<Event>> {
        let mut file = std::fs::File::open(&self.path)?;
        let len = file.metadata()?.len();
        if len < self.offset {
            // Truncated or replaced: start over from its beginning.
            self.offset = 0;
            self.partial.clear();
        }
        file.seek(SeekFrom::Start(self.offset))?;
        let mut bytes = Vec::new();
        file.read_to_end(&mut bytes)?;
        self.offset += bytes.len() as u64;
        self.partial.extend_from_slice(&bytes);
        let complete = match self.partial.iter().rposition(|&b| b == b'\n') {
            Some(end) => self.partial.drain(..=end).collect::<Vec<u8>>(),
            None => return Ok(Vec::new()),
        };
        Ok(complete
            .split(|&b| b == b'\n')
            .filter(|line| !line.is_empty())
            .filter_map(|line| serde_json::from_slice(line).ok())
            .collect())
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
}
