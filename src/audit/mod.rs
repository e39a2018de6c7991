//! Audit events (`audit.k8s.io/v1` `Event`), a reader that follows a JSON-lines log, the
//! prefilter `scan` and `watch` share ([`Matcher`]), and audit policies (`policy`).

pub mod policy;
pub mod probes;

use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use serde::Deserialize;

use memchr::memmem;

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
    pub object_ref: Option<ObjectRef>,
}

/// The object a request is about (`objectRef`).
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase", default)]
pub struct ObjectRef {
    pub resource: String,
    pub namespace: String,
    pub name: String,
    pub api_group: String,
    pub subresource: String,
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

/// The longest line read as an audit event: 16 MiB. The API server refuses request bodies
/// over 3 MiB (`--max-request-body-bytes`) and etcd keeps objects up to 1.5 MiB, so an event
/// carrying a request and a response object at `RequestResponse` level stays well below it;
/// only large lists logged with their bodies come near, and those are no decoy's (its
/// requests are refused with a small `Status`). A longer line is skipped to its newline
/// without being held in memory, and counted.
pub const LINE_LIMIT: usize = 16 << 20;

/// How much of a followed file's start is kept to recognise it. Every audit event starts
/// with its own audit ID within its first hundred bytes, so a file truncated and written
/// anew (`copytruncate`) differs from the old one here, whatever its size.
const HEAD: usize = 4096;

/// Follows a JSON-lines log file the way `tail -F` does: from where it starts, one complete
/// line at a time (a line still being written is left for the next read). When the file is
/// rotated (renamed away and created anew), the rest of the old file is read first, then the
/// new one from its start; when it is truncated in place, reading starts over at its start,
/// also when it has grown past the old size again before the next read (its first bytes tell
/// it from the file read so far). Lines over [`LINE_LIMIT`] are counted and skipped.
pub struct LogFollower {
    path: PathBuf,
    file: Option<(std::fs::File, FileId)>,
    offset: u64,
    partial: Vec<u8>,
    /// The file's first bytes as read, at most [`HEAD`]; while shorter, all that was read.
    head: Vec<u8>,
    /// Inside a line over the limit: what comes is dropped up to its newline.
    skipping: bool,
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
    /// Lines over [`LINE_LIMIT`] met in this read, skipped without being read.
    pub oversized: u64,
}

/// At most this much is read at once, so a large backlog is taken in steps.
const READ_CHUNK: u64 = 16 << 20;

/// Up to `len` bytes from the start of a file (fewer when it is shorter now).
fn read_head(file: &std::fs::File, len: usize) -> std::io::Result<Vec<u8>> {
    use std::os::unix::fs::FileExt;
    let mut head = vec![0; len];
    let mut filled = 0;
    while filled < len {
        match file.read_at(&mut head[filled..], filled as u64) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    head.truncate(filled);
    Ok(head)
}

impl LogFollower {
    /// Starts at the current end of the file: only events written from now on are read.
    /// A path that names a directory, FIFO or device is refused (without waiting on it).
    pub fn from_end(path: &Path) -> std::io::Result<LogFollower> {
        let file = crate::input::open_regular(path)?;
        let metadata = file.metadata()?;
        let offset = metadata.len();
        let head = read_head(&file, HEAD.min(offset as usize))?;
        Ok(LogFollower {
            path: path.to_path_buf(),
            offset,
            file: Some((file, FileId::of(&metadata))),
            partial: Vec::new(),
            head,
            skipping: false,
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
                head: Vec::new(),
                skipping: false,
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
        self.read(None)
    }

    /// Like [`LogFollower::read_lines`], but only the lines that hold a decoy's name as
    /// `matcher` looks for it: what was read is searched as a whole, and the other lines
    /// are never split out or copied. Lines over the limit are counted all the same.
    pub fn read_candidates(&mut self, matcher: &Matcher) -> std::io::Result<NewLines> {
        self.read(Some(matcher))
    }

    fn read(&mut self, matcher: Option<&Matcher>) -> std::io::Result<NewLines> {
        let mut new = NewLines::default();
        // Drain what the open file still holds, even if it has been renamed away.
        self.read_open_file(&mut new, matcher)?;
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
            let file = crate::input::open_regular(&self.path)?;
            let id = FileId::of(&file.metadata()?);
            self.file = Some((file, id));
            self.start_over(&mut new);
            self.read_open_file(&mut new, matcher)?;
        }
        Ok(new)
    }

    /// Reads the file from its start from now on.
    fn start_over(&mut self, new: &mut NewLines) {
        // A line the old content left unfinished will never be finished.
        self.partial.clear();
        self.skipping = false;
        self.head.clear();
        self.offset = 0;
        new.reopened = true;
    }

    fn read_open_file(
        &mut self,
        new: &mut NewLines,
        matcher: Option<&Matcher>,
    ) -> std::io::Result<()> {
        let Some((file, _)) = &mut self.file else {
            return Ok(());
        };
        let len = file.metadata()?.len();
        // Truncated in place (copytruncate), and maybe written past the old size again:
        // the file is no longer what was read, so it is read again from its start.
        let rewritten = len < self.offset || read_head(file, self.head.len())? != self.head;
        if rewritten {
            self.start_over(new);
        }
        let Some((file, _)) = &mut self.file else {
            return Ok(());
        };
        file.seek(SeekFrom::Start(self.offset))?;
        let mut bytes = Vec::new();
        Read::by_ref(file)
            .take(READ_CHUNK)
            .read_to_end(&mut bytes)?;
        new.more = bytes.len() as u64 == READ_CHUNK;
        if self.head.len() < HEAD && self.head.len() as u64 == self.offset {
            let wanted = (HEAD - self.head.len()).min(bytes.len());
            self.head.extend_from_slice(&bytes[..wanted]);
        }
        self.offset += bytes.len() as u64;
        self.split_lines(&bytes, new, matcher);
        Ok(())
    }

    /// Adds the complete lines in `bytes` (after what was left unfinished) to `new`, or
    /// only those `matcher` picks; lines over the limit are counted there and dropped, never
    /// held.
    fn split_lines(&mut self, mut bytes: &[u8], new: &mut NewLines, matcher: Option<&Matcher>) {
        loop {
            let newline = memchr::memchr(b'\n', bytes);
            let piece = &bytes[..newline.unwrap_or(bytes.len())];
            if !self.skipping && self.partial.len() + piece.len() > LINE_LIMIT {
                new.oversized += 1;
                self.partial = Vec::new();
                self.skipping = true;
            }
            if !self.skipping {
                self.partial.extend_from_slice(piece);
            }
            let Some(at) = newline else { return };
            if !self.skipping && !self.partial.is_empty() {
                let line = std::mem::take(&mut self.partial);
                if matcher.is_none_or(|m| m.may_match(&line)) {
                    new.lines.push(line);
                }
            }
            self.skipping = false;
            bytes = &bytes[at + 1..];
            // At a line's start with nothing left over: the whole lines that follow are
            // searched at once, when none of them can be over the limit.
            if let Some(matcher) = matcher
                && let Some(last) = memchr::memrchr(b'\n', bytes)
                && last <= LINE_LIMIT
            {
                new.lines
                    .extend(matcher.candidate_lines(&bytes[..=last]).map(<[u8]>::to_vec));
                bytes = &bytes[last + 1..];
            }
        }
    }
}

/// The user the API server makes its own requests as (its loopback client).
pub const APISERVER_USER: &str = "system:apiserver";

/// A decoy's token Secret, and the decoy user its token authenticates as.
///
/// Each time the token authenticates while the Secret lacks the label
/// `kubernetes.io/legacy-token-last-used` of today (first use since it was re-armed, or of
/// the day), the API server stamps it there with a merge patch of its own, as
/// [`APISERVER_USER`]. Seen on the bed (v1.36), at level `Metadata`:
/// `"verb":"patch"`, `"requestURI":"/api/v1/namespaces/NS/secrets/NAME"` (no query),
/// `"user":{"username":"system:apiserver","groups":["system:authenticated","system:masters"]}`,
/// `"userAgent":"kube-apiserver/v1.36.3 ..."`, `"sourceIPs":["127.0.0.1"]`,
/// `"objectRef":{"resource":"secrets","namespace":"NS","name":"NAME","apiVersion":"v1"}`,
/// written just before the event of the request that was authenticated. That event is the
/// audit side of the tripwire: it is logged where the request is not (`/version`,
/// `/healthz` and the like are dropped by most policies; Secret writes are not).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
pub struct DecoySecret {
    pub namespace: String,
    pub name: String,
    /// `system:serviceaccount:<namespace>:<account>`.
    pub user: String,
}

impl DecoySecret {
    /// The path of the API server's stamp (and of any request for the Secret by name).
    pub fn path(&self) -> String {
        format!(
            "/api/v1/namespaces/{}/secrets/{}",
            self.namespace, self.name
        )
    }

    /// `namespace/name`.
    pub fn shown(&self) -> String {
        format!("{}/{}", self.namespace, self.name)
    }
}

/// What a decoy's event tells.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Signal<'a> {
    /// A request made with a decoy's token.
    Request,
    /// The API server's stamp of a decoy Secret: its token authenticated (first use since
    /// re-arm), whether or not the request itself is in the log.
    Stamp(&'a DecoySecret),
}

/// Whether `event` is the API server's stamp of `secret` (see [`DecoySecret`]): a `patch`
/// of exactly that core Secret (no subresource) by [`APISERVER_USER`]. A re-arm (the
/// label removed by the operator or a watcher) and any other user's write are not.
pub fn is_stamp_of(event: &Event, secret: &DecoySecret) -> bool {
    event.user.username == APISERVER_USER
        && event.verb == "patch"
        && event.object_ref.as_ref().is_some_and(|o| {
            o.resource == "secrets"
                && o.api_group.is_empty()
                && o.subresource.is_empty()
                && o.namespace == secret.namespace
                && o.name == secret.name
        })
}

/// Picks the lines that may be a decoy's events, then the events that are.
///
/// A line is a candidate only when it holds a decoy's user name as a whole JSON string: the
/// name between its two quotes, as `"user":{"username":"system:serviceaccount:NS:NAME"}`
/// writes it. The name alone would also pick every line of another user whose name merely
/// begins with it (`...:tiller-deployer`), and parse them all for nothing. JSON may escape
/// any character of a string, but the API server's encoder (Go's `encoding/json`) escapes
/// only quotes, backslashes, control characters, `<`, `>`, `&` and U+2028/U+2029, and a
/// service account's user name holds none of them: its namespace and name are DNS labels
/// and subdomains (`a-z`, `0-9`, `-`, `.`), joined by colons. So a decoy's events always
/// hold these exact bytes. Whether an event is a decoy's is still decided on the parsed
/// event ([`Matcher::matches`]): another field that names a decoy in quotes (an annotation,
/// a user agent) only makes its line parsed, and then rejected.
///
/// The API server's stamps of the decoys' Secrets are found the same way, by their
/// request URI in quotes (`"/api/v1/namespaces/NS/secrets/NAME"`, made of the same
/// characters): the stamp carries no query, so requests for the Secret that do (a re-arm
/// by `kubectl label`, a watch) are not even parsed, and those that do not are parsed and
/// then rejected unless they are the stamp ([`is_stamp_of`]). Stamps of other Secrets
/// (every legacy token of the cluster gets them) never hold these bytes.
pub struct Matcher {
    users: Vec<String>,
    secrets: Vec<DecoySecret>,
    needles: Needles,
    /// The longest needle's length in bytes.
    longest: usize,
}

/// What [`Matcher`] searches for.
enum Needles {
    None,
    One(Box<memmem::Finder<'static>>),
    /// A few needles, each searched on its own: one `memmem` pass per needle over what was
    /// read (still in the cache) costs less than one multi-pattern pass, whose prefilter
    /// keys on the needles' first bytes, which every line holds (`"/api/v1/…`, `"sys…`).
    Few(Vec<memmem::Finder<'static>>),
    /// One decoy and its Secret: one `memmem` pass for a part both needles hold (the
    /// account's name, in its user name and in its Secret's name), each find then checked
    /// against the whole needles around it. One pass, as for a user name alone.
    Anchored {
        anchor: Box<memmem::Finder<'static>>,
        /// Each needle, and where the anchor lies in it.
        needles: Vec<(Vec<u8>, Vec<usize>)>,
    },
    Many(aho_corasick::AhoCorasick),
}

/// An anchor shorter than this would be found too often to pay for the second pass it
/// saves.
const SHORTEST_ANCHOR: usize = 5;

/// The anchored search for `patterns`, when `anchor` is long enough and in every one.
fn anchored(anchor: &str, patterns: &[Vec<u8>]) -> Option<Needles> {
    if anchor.len() < SHORTEST_ANCHOR {
        return None;
    }
    let finder = memmem::Finder::new(anchor.as_bytes()).into_owned();
    let needles: Vec<(Vec<u8>, Vec<usize>)> = patterns
        .iter()
        .map(|p| (p.clone(), finder.find_iter(p).collect::<Vec<usize>>()))
        .collect();
    if needles.iter().any(|(_, at)| at.is_empty()) {
        return None;
    }
    Some(Needles::Anchored {
        anchor: Box::new(finder),
        needles,
    })
}

/// Up to this many needles are searched one by one ([`Needles::Few`]).
const FEW: usize = 8;

/// The bytes a user name is searched by: the name in quotes, when it is of the characters
/// no JSON writer escapes (a service account's always is); any other name alone (it is then
/// only found where it is written unescaped, as before).
fn needle(user: &str) -> Vec<u8> {
    let plain =
        |b: u8| b.is_ascii_alphanumeric() || matches!(b, b':' | b'-' | b'.' | b'_' | b'@' | b'/');
    if !user.is_empty() && user.bytes().all(plain) {
        format!("\"{user}\"").into_bytes()
    } else {
        user.as_bytes().to_vec()
    }
}

impl Matcher {
    /// Looks for requests of these users only.
    pub fn new(users: Vec<String>) -> Matcher {
        Matcher::with_secrets(users, Vec::new())
    }

    /// Looks for requests of these users, and for the API server's stamps of these Secrets.
    pub fn with_secrets(users: Vec<String>, secrets: Vec<DecoySecret>) -> Matcher {
        let patterns: Vec<Vec<u8>> = users
            .iter()
            .map(|u| needle(u))
            .chain(secrets.iter().map(|s| needle(&s.path())))
            .collect();
        let longest = patterns.iter().map(Vec::len).max().unwrap_or(0);
        // One decoy with its Secrets: anchored on its account's name.
        let account = match users.as_slice() {
            [user] if !secrets.is_empty() && secrets.iter().all(|s| s.user == *user) => {
                user.rsplit_once(':').map(|(_, account)| account)
            }
            _ => None,
        };
        let needles = match (
            patterns.as_slice(),
            account.and_then(|a| anchored(a, &patterns)),
        ) {
            (_, Some(anchored)) => anchored,
            (patterns, None) => match patterns {
                [] => Needles::None,
                [one] => Needles::One(Box::new(memmem::Finder::new(one).into_owned())),
                few if few.len() <= FEW => Needles::Few(
                    few.iter()
                        .map(|n| memmem::Finder::new(n).into_owned())
                        .collect(),
                ),
                many => match aho_corasick::AhoCorasick::new(many) {
                    Ok(searcher) => Needles::Many(searcher),
                    // Only a set far beyond any cluster's decoys (millions of bytes of names)
                    // is refused; the first name is still searched rather than none.
                    Err(_) => Needles::One(Box::new(memmem::Finder::new(&many[0]).into_owned())),
                },
            },
        };
        Matcher {
            users,
            secrets,
            needles,
            longest,
        }
    }

    /// The decoy Secrets whose stamps are looked for.
    pub fn secrets(&self) -> &[DecoySecret] {
        &self.secrets
    }

    /// Where the first quoted decoy name in `haystack` starts.
    fn find(&self, haystack: &[u8]) -> Option<usize> {
        match &self.needles {
            Needles::None => None,
            Needles::One(finder) => finder.find(haystack),
            Needles::Few(finders) => finders.iter().filter_map(|f| f.find(haystack)).min(),
            Needles::Anchored { anchor, needles } => anchor.find_iter(haystack).find_map(|at| {
                needles.iter().find_map(|(needle, offsets)| {
                    offsets.iter().find_map(|&offset| {
                        let start = at.checked_sub(offset)?;
                        haystack[start..].starts_with(needle).then_some(start)
                    })
                })
            }),
            Needles::Many(searcher) => searcher.find(haystack).map(|m| m.start()),
        }
    }

    /// Whether `text` (a line, an item) holds a decoy's name as a JSON string.
    pub fn may_match(&self, text: &[u8]) -> bool {
        self.find(text).is_some()
    }

    /// Whether a decoy's name occurs in a stream read in pieces, across their edges too:
    /// `carry` holds the end of what came before, and is updated.
    pub(crate) fn may_match_stream(&self, carry: &mut Vec<u8>, piece: &[u8]) -> bool {
        let keep = self.longest.saturating_sub(1);
        let mut seam = std::mem::take(carry);
        seam.extend_from_slice(&piece[..piece.len().min(keep)]);
        let found = self.may_match(&seam) || self.may_match(piece);
        let tail = if piece.len() >= keep {
            &piece[piece.len() - keep..]
        } else {
            &seam[seam.len().saturating_sub(keep)..]
        };
        *carry = tail.to_vec();
        found
    }

    /// Whether `event` is a decoy's: a request made as a decoy user, or the API server's
    /// stamp of a decoy's Secret.
    pub fn matches(&self, event: &Event) -> bool {
        self.signal(event).is_some()
    }

    /// What a decoy's event tells; `None` for every other event.
    pub fn signal(&self, event: &Event) -> Option<Signal<'_>> {
        if self.users.contains(&event.user.username) {
            return Some(Signal::Request);
        }
        self.secrets
            .iter()
            .find(|secret| is_stamp_of(event, secret))
            .map(Signal::Stamp)
    }

    /// The lines of `region` (whole lines, each ending in a newline) that hold a quoted
    /// decoy name, without their newline. The region is searched as a whole: a line
    /// without a match is never looked at on its own.
    pub fn candidate_lines<'a>(&'a self, region: &'a [u8]) -> impl Iterator<Item = &'a [u8]> {
        let mut at = 0;
        // With a few needles, where each one is next found (from `at` on), so that each
        // searches the region once.
        let mut next: Vec<Option<usize>> = match &self.needles {
            Needles::Few(finders) => finders.iter().map(|f| f.find(region)).collect(),
            _ => Vec::new(),
        };
        std::iter::from_fn(move || {
            let found = match &self.needles {
                Needles::Few(finders) => {
                    for (finder, next) in finders.iter().zip(next.iter_mut()) {
                        if next.is_some_and(|n| n < at) {
                            *next = finder.find(&region[at..]).map(|i| at + i);
                        }
                    }
                    next.iter().flatten().copied().min()?
                }
                _ => at + self.find(&region[at..])?,
            };
            let start = memchr::memrchr(b'\n', &region[at..found]).map_or(at, |i| at + i + 1);
            // A name holds no newline, so the line goes on past the match.
            let end = memchr::memchr(b'\n', &region[found..]).map_or(region.len(), |i| found + i);
            at = (end + 1).min(region.len());
            Some(&region[start..end])
        })
    }
}

/// The events of one line: an `Event`, or an `EventList` as a webhook receives it.
pub fn events_in(line: &[u8]) -> Option<Vec<Event>> {
    #[derive(serde::Deserialize)]
    struct Document {
        #[serde(default)]
        kind: String,
        #[serde(default)]
        items: Vec<Event>,
        #[serde(flatten)]
        event: Event,
    }
    let document: Document = serde_json::from_slice(line).ok()?;
    match document.kind.as_str() {
        "EventList" => Some(document.items),
        "Event" | "" => Some(vec![document.event]),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The followed file, opened to add lines to it as the API server does.
    fn appending(path: &Path) -> std::fs::File {
        std::fs::OpenOptions::new().append(true).open(path).unwrap()
    }
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

        let mut file = appending(&path);
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

    fn ids(lines: &[Vec<u8>]) -> Vec<String> {
        lines
            .iter()
            .map(|l| serde_json::from_slice::<Event>(l).unwrap().audit_id)
            .collect()
    }

    #[test]
    fn a_file_truncated_and_grown_past_its_old_size_between_reads_is_read_from_its_start() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("audit.log");
        std::fs::write(&path, format!("{}\n", EVENT.replace("a1", "old"))).unwrap();
        let mut follower = LogFollower::from_end(&path).unwrap();
        // copytruncate, then the API server writes on before the next read: the file is
        // longer than before, so its size alone cannot tell.
        let regrown: String = ["new-1", "new-2", "new-3"]
            .iter()
            .map(|id| format!("{}\n", EVENT.replace("a1", id)))
            .collect();
        std::fs::write(&path, &regrown).unwrap();
        let read = follower.read_lines().unwrap();
        assert!(read.reopened);
        assert_eq!(ids(&read.lines), vec!["new-1", "new-2", "new-3"]);
        // And then on from where it is, as before.
        let mut file = appending(&path);
        writeln!(file, "{}", EVENT.replace("a1", "new-4")).unwrap();
        let read = follower.read_lines().unwrap();
        assert!(!read.reopened);
        assert_eq!(ids(&read.lines), vec!["new-4"]);
    }

    #[test]
    fn a_file_that_was_small_keeps_being_recognised_as_it_grows() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("audit.log");
        std::fs::write(&path, "").unwrap();
        let mut follower = LogFollower::from_end(&path).unwrap();
        let mut file = appending(&path);
        // Written in pieces across reads, past the part of the start that is compared.
        let (head, tail) = EVENT.split_at(30);
        write!(file, "{head}").unwrap();
        assert!(follower.read_lines().unwrap().lines.is_empty());
        let many = format!("{tail}\n{}", format!("{EVENT}\n").repeat(20));
        write!(file, "{many}").unwrap();
        let read = follower.read_lines().unwrap();
        assert!(!read.reopened);
        assert_eq!(read.lines.len(), 21);
        writeln!(file, "{}", EVENT.replace("a1", "later")).unwrap();
        let read = follower.read_lines().unwrap();
        assert!(!read.reopened);
        assert_eq!(ids(&read.lines), vec!["later"]);
        // Rewritten in place with other content of the same length: read again.
        let text = std::fs::read_to_string(&path).unwrap();
        std::fs::write(&path, text.replacen("a1", "b2", 1)).unwrap();
        let read = follower.read_lines().unwrap();
        assert!(read.reopened);
        assert_eq!(read.lines.len(), 22);
    }

    #[test]
    fn lines_over_the_limit_are_counted_and_skipped_without_being_held() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("audit.log");
        std::fs::write(&path, "").unwrap();
        let mut follower = LogFollower::from_end(&path).unwrap();
        let mut file = appending(&path);
        let over = vec![b'x'; LINE_LIMIT + 1];
        // One whole line over the limit, then an event.
        file.write_all(&over).unwrap();
        writeln!(file, "\n{EVENT}").unwrap();
        let mut lines = Vec::new();
        let mut oversized = 0;
        loop {
            let read = follower.read_lines().unwrap();
            lines.extend(read.lines);
            oversized += read.oversized;
            if !read.more {
                break;
            }
        }
        assert_eq!(oversized, 1);
        assert_eq!(ids(&lines), vec!["a1"]);
        // A line that has not ended yet but is already over the limit is dropped as it
        // comes: nothing of it is kept between reads.
        file.write_all(&over).unwrap();
        file.write_all(&over).unwrap();
        let mut oversized = 0;
        loop {
            let read = follower.read_lines().unwrap();
            assert!(read.lines.is_empty());
            oversized += read.oversized;
            assert!(follower.partial.len() <= LINE_LIMIT);
            if !read.more {
                break;
            }
        }
        assert_eq!(oversized, 1);
        assert!(follower.partial.is_empty());
        writeln!(file, "end of the long line\n{EVENT}").unwrap();
        let read = follower.read_lines().unwrap();
        assert_eq!(read.oversized, 0);
        assert_eq!(ids(&read.lines), vec!["a1"]);
    }

    #[test]
    fn reading_candidates_keeps_only_lines_naming_a_decoy_and_still_counts_long_ones() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("audit.log");
        std::fs::write(&path, "").unwrap();
        let mut follower = LogFollower::from_end(&path).unwrap();
        let matcher = Matcher::new(vec!["system:serviceaccount:kube-system:tiller".into()]);
        let near = EVENT.replace(":tiller\"", ":tiller-deployer\"");
        let mut text = format!("{near}\n{EVENT}\n{}\n", EVENT.replace("a1", "a2"));
        text.push_str(&"x".repeat(LINE_LIMIT + 1));
        text.push_str(&format!("\n{near}\n{}\n", EVENT.replace("a1", "a3")));
        std::fs::write(&path, &text).unwrap();
        let mut lines = Vec::new();
        let mut oversized = 0;
        loop {
            let read = follower.read_candidates(&matcher).unwrap();
            lines.extend(read.lines);
            oversized += read.oversized;
            if !read.more {
                break;
            }
        }
        assert_eq!(ids(&lines), vec!["a1", "a2", "a3"]);
        assert_eq!(oversized, 1);
    }

    #[test]
    fn a_decoy_and_its_secret_are_found_in_one_pass_and_nothing_else_is() {
        let user = "system:serviceaccount:kube-system:tiller";
        let secret = DecoySecret {
            namespace: "kube-system".into(),
            name: "tiller-token-bcdfg".into(),
            user: user.into(),
        };
        let stamp = |name: &str, query: &str| {
            format!(
                r#"{{"auditID":"s","verb":"patch","requestURI":"/api/v1/namespaces/kube-system/secrets/{name}{query}","user":{{"username":"system:apiserver"}},"objectRef":{{"resource":"secrets","namespace":"kube-system","name":"{name}"}}}}"#
            )
        };
        let lines = [
            EVENT.replace(":tiller\"", ":tiller-deployer\""),
            stamp("tiller-token-bcdfg", ""),
            stamp("tiller-token-bcdfg", "?fieldManager=kubectl-label"),
            stamp("tiller-token-zzzzz", ""),
            stamp("tiller-token-bcdfgh", ""),
            EVENT.to_string(),
        ];
        let region = lines.join("\n") + "\n";
        let matcher = Matcher::with_secrets(vec![user.into()], vec![secret.clone()]);
        assert!(matches!(matcher.needles, Needles::Anchored { .. }));
        let found: Vec<&[u8]> = matcher.candidate_lines(region.as_bytes()).collect();
        assert_eq!(
            found,
            vec![lines[1].as_bytes(), lines[5].as_bytes()],
            "the stamp without a query and the decoy's own event"
        );
        for (i, line) in lines.iter().enumerate() {
            assert_eq!(
                matcher.may_match(line.as_bytes()),
                i == 1 || i == 5,
                "{line}"
            );
        }
        // The stamp is the parsed event's signal; the re-arm is not even a candidate.
        let event: Event = serde_json::from_str(&lines[1]).unwrap();
        assert_eq!(matcher.signal(&event), Some(Signal::Stamp(&secret)));
        let event: Event = serde_json::from_str(&lines[5]).unwrap();
        assert_eq!(matcher.signal(&event), Some(Signal::Request));
        // An account name too short to anchor on: each needle is searched on its own,
        // with the same result.
        let short = DecoySecret {
            namespace: "kube-system".into(),
            name: "ci-token-bcdfg".into(),
            user: "system:serviceaccount:kube-system:ci".into(),
        };
        let matcher = Matcher::with_secrets(vec![short.user.clone()], vec![short]);
        assert!(matches!(matcher.needles, Needles::Few(_)));
        let region = region.replace("tiller", "ci");
        assert_eq!(matcher.candidate_lines(region.as_bytes()).count(), 2);
    }

    #[test]
    fn a_line_exactly_at_the_limit_is_read() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("audit.log");
        std::fs::write(&path, "").unwrap();
        let mut follower = LogFollower::from_end(&path).unwrap();
        let mut line = EVENT.as_bytes().to_vec();
        // Padding inside the JSON object, so it still parses.
        let padding = format!(
            r#""padding":"{}","#,
            "x".repeat(LINE_LIMIT - line.len() - 13)
        );
        line.splice(1..1, padding.bytes());
        assert_eq!(line.len(), LINE_LIMIT);
        line.push(b'\n');
        std::fs::write(&path, &line).unwrap();
        let mut lines = Vec::new();
        loop {
            let read = follower.read_lines().unwrap();
            assert_eq!(read.oversized, 0);
            lines.extend(read.lines);
            if !read.more {
                break;
            }
        }
        assert_eq!(ids(&lines), vec!["a1"]);
    }

    #[test]
    fn a_directory_or_fifo_is_refused_at_once() {
        let dir = tempfile::tempdir().unwrap();
        let err = LogFollower::waiting_for(dir.path()).err().unwrap();
        assert!(err.to_string().contains("is a directory"), "{err}");
        let fifo = dir.path().join("fifo");
        let c = std::ffi::CString::new(fifo.to_str().unwrap()).unwrap();
        // SAFETY: mkfifo on a path in a temporary folder.
        assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
        // No writer: opening it for reading the usual way would wait for one.
        let err = LogFollower::waiting_for(&fifo).err().unwrap();
        assert!(err.to_string().contains("is a FIFO"), "{err}");
    }

    #[test]
    fn the_follower_reads_the_rest_of_a_rotated_file_then_the_new_one() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("audit.log");
        std::fs::write(&path, "").unwrap();
        let mut follower = LogFollower::from_end(&path).unwrap();
        let mut file = appending(&path);
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
