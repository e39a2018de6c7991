//! `scan`: find every use of the decoys in audit logs (JSON lines, `.gz`, stdin, or
//! `EventList` documents). Each read of a few MiB is searched as a whole for the decoys' user
//! names in quotes (see [`crate::audit::Matcher`]), and only the lines around a match are parsed, which is
//! what keeps a scan of gigabytes at the speed of reading them.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read};
use std::path::Path;

use serde::Serialize;

use crate::audit::{DecoySecret, Event, LINE_LIMIT, Matcher, Signal, events_in};
use crate::cli::{GlobalArgs, ScanArgs};
use crate::decoy::tracking::{DrillClaim, drill_claim};
use crate::error::Error;
use crate::exit::Outcome;
use crate::home::Home;
use crate::home::Key;
use crate::ui::output;
use crate::ui::table::{Cell, Table, Tone};
use crate::ui::terminal::printable;

/// Which event showed a use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum SignalKind {
    /// The request made with the decoy's token.
    Request,
    /// The API server's stamp of the decoy's Secret: its token authenticated (first use
    /// since re-arm). The request itself may be in no log (`/version`, `/healthz`); who made
    /// it and from where is in its own event, when there is one.
    Stamp,
}

/// One request made with a decoy token, or the API server's stamp that one was made.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Use {
    pub time: Option<jiff::Timestamp>,
    /// `request` or `stamp`.
    pub signal: SignalKind,
    /// The decoy user whose token was used (for a stamp: the Secret's account).
    pub user: String,
    /// For a stamp: the decoy Secret stamped, `namespace/name`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub secret: Option<String>,
    pub verb: String,
    #[serde(rename = "requestURI")]
    pub request_uri: String,
    #[serde(rename = "sourceIPs")]
    pub source_ips: Vec<String>,
    pub user_agent: String,
    pub code: Option<u16>,
    /// A drill of this key: its drill ID is signed with the key. A stamp counts as a drill's
    /// when a genuine drill request of the same decoy follows it within
    /// [`DRILL_STAMP_LEAD`] (the drill's first request is stamped; the policy may drop it).
    pub drill: bool,
    /// What the user agent claims; `forged` and `unverified` claims count as real use.
    pub drill_mark: DrillClaim,
    #[serde(rename = "auditID")]
    pub audit_id: String,
    pub source: String,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Summary {
    pub lines: u64,
    /// Lines that held a decoy's name (quoted, as a JSON string) but were not an audit
    /// event (or a list of them).
    pub malformed: u64,
    /// Lines over [`LINE_LIMIT`], skipped to their end without being parsed.
    pub oversized: u64,
    /// Of those, the lines that held a decoy's name (quoted): a use may be among them, so
    /// the scan is incomplete.
    pub oversized_with_decoy: u64,
    /// Sources that could not be read to their end, with why.
    pub unreadable: Vec<String>,
}

impl Summary {
    /// Whether every source was read to its end and no skipped line could hold a use.
    pub fn is_whole(&self) -> bool {
        self.unreadable.is_empty() && self.oversized_with_decoy == 0
    }
}

/// How much of a source is read at once. Each read is searched as a whole for the decoys'
/// names; only the lines around a match are parsed.
const CHUNK: usize = 2 << 20;

/// Scans one source. Events of a request are merged by audit ID: the request is reported
/// once, with the response code its last stage carries. Lines over [`LINE_LIMIT`] are
/// skipped without being held in memory, and counted.
pub fn scan_reader<R: Read>(
    reader: R,
    source: &str,
    matcher: &Matcher,
    drill_key: Option<&Key>,
    uses: &mut BTreeMap<String, Use>,
    summary: &mut Summary,
) {
    scan_reader_limited(
        reader, source, matcher, drill_key, uses, summary, LINE_LIMIT,
    );
}

/// [`scan_reader`] with another line limit (in bytes, without the newline).
///
/// The source is read in chunks of up to [`CHUNK`] bytes into one buffer, which holds the
/// line left unfinished by the last read (at most `limit` bytes) and what came after it.
/// The whole lines in it are counted with one pass of `memchr` and searched with one pass
/// of the matcher; only the lines a match falls in are parsed. A line that grows past the
/// limit before its newline is dropped as it comes, and only searched for a decoy's name.
pub fn scan_reader_limited<R: Read>(
    mut reader: R,
    source: &str,
    matcher: &Matcher,
    drill_key: Option<&Key>,
    uses: &mut BTreeMap<String, Use>,
    summary: &mut Summary,
    limit: usize,
) {
    let mut sink = Sink {
        source,
        matcher,
        drill_key,
        uses,
        summary,
        limit,
    };
    let mut buffer: Vec<u8> = Vec::new();
    // The unfinished line is `buffer[start..end]`.
    let (mut start, mut end) = (0, 0);
    // Inside a line over the limit: whether a decoy's name was seen in it so far, and the
    // end of what was searched (for a name across two reads).
    let mut skipping: Option<(bool, Vec<u8>)> = None;
    loop {
        // The unfinished line goes to the front (once: a long line stays there).
        if start > 0 {
            buffer.copy_within(start..end, 0);
            end -= start;
            start = 0;
        }
        if buffer.len() < end + CHUNK {
            buffer.resize(end + CHUNK, 0);
        }
        let read = match reader.read(&mut buffer[end..end + CHUNK]) {
            Ok(read) => read,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => {
                sink.summary.unreadable.push(format!(
                    "{source}: {e} (after {} lines)",
                    sink.summary.lines
                ));
                return;
            }
        };
        if read == 0 {
            // The last line, when the source does not end with a newline.
            match skipping {
                Some((names_decoy, _)) => sink.oversized(names_decoy),
                None if end > start => sink.last_line(&buffer[start..end]),
                None => {}
            }
            return;
        }
        let fresh = end;
        end += read;
        if let Some((names_decoy, carry)) = &mut skipping {
            let newline = memchr::memchr(b'\n', &buffer[fresh..end]);
            let rest = &buffer[fresh..newline.map_or(end, |i| fresh + i)];
            if !*names_decoy {
                *names_decoy = matcher.may_match_stream(carry, rest);
            }
            match newline {
                None => {
                    start = end;
                    continue;
                }
                Some(i) => {
                    sink.oversized(*names_decoy);
                    skipping = None;
                    start = fresh + i + 1;
                }
            }
        }
        // Before `fresh` the unfinished line holds no newline.
        let from = start.max(fresh);
        if let Some(last) = memchr::memrchr(b'\n', &buffer[from..end]) {
            let last = from + last;
            sink.whole_lines(&buffer[start..=last]);
            start = last + 1;
        }
        if end - start > limit {
            let mut carry = Vec::new();
            let names_decoy = matcher.may_match_stream(&mut carry, &buffer[start..end]);
            skipping = Some((names_decoy, carry));
            start = end;
        }
    }
}

/// Where the lines of one source go.
struct Sink<'a> {
    source: &'a str,
    matcher: &'a Matcher,
    drill_key: Option<&'a Key>,
    uses: &'a mut BTreeMap<String, Use>,
    summary: &'a mut Summary,
    limit: usize,
}

impl Sink<'_> {
    /// Lines that each end with a newline.
    fn whole_lines(&mut self, region: &[u8]) {
        let newlines = memchr::memchr_iter(b'\n', region);
        if region.len() - 1 <= self.limit {
            // No line in it can be over the limit.
            self.summary.lines += newlines.count() as u64;
        } else {
            let mut line_start = 0;
            for newline in newlines {
                self.summary.lines += 1;
                if newline - line_start > self.limit {
                    self.summary.oversized += 1;
                }
                line_start = newline + 1;
            }
        }
        for line in self.matcher.candidate_lines(region) {
            if line.len() > self.limit {
                self.summary.oversized_with_decoy += 1;
            } else {
                self.parse(line);
            }
        }
    }

    /// A last line without a newline, at most the limit.
    fn last_line(&mut self, line: &[u8]) {
        self.summary.lines += 1;
        if self.matcher.may_match(line) {
            self.parse(line);
        }
    }

    fn oversized(&mut self, names_decoy: bool) {
        self.summary.lines += 1;
        self.summary.oversized += 1;
        if names_decoy {
            self.summary.oversized_with_decoy += 1;
        }
    }

    fn parse(&mut self, line: &[u8]) {
        match events_in(line) {
            Some(events) => {
                for event in events {
                    match self.matcher.signal(&event) {
                        Some(Signal::Request) => {
                            record(self.uses, event, self.source, self.drill_key)
                        }
                        Some(Signal::Stamp(secret)) => {
                            record_stamp(self.uses, event, secret, self.source)
                        }
                        None => {}
                    }
                }
            }
            None => self.summary.malformed += 1,
        }
    }
}

fn record(uses: &mut BTreeMap<String, Use>, event: Event, source: &str, drill_key: Option<&Key>) {
    // Stages of one request share all of these; a client can choose its audit ID, so the
    // ID alone must not fold its request into another one (a drill's, say).
    let key = if event.audit_id.is_empty() {
        format!("{source}#{}", uses.len())
    } else {
        [
            event.audit_id.as_str(),
            &event.user.username,
            &event.user_agent,
            &event.source_ips.join(","),
            &event.verb,
            &event.request_uri,
        ]
        .join("\0")
    };
    let code = event.code();
    let drill_mark = drill_claim(
        &event.user_agent,
        &event.user.username,
        event.request_received_timestamp,
        drill_key,
    );
    let entry = uses.entry(key).or_insert_with(|| Use {
        time: event.request_received_timestamp,
        signal: SignalKind::Request,
        secret: None,
        drill: drill_mark == DrillClaim::Genuine,
        drill_mark,
        user: event.user.username.clone(),
        verb: event.verb.clone(),
        request_uri: event.request_uri.clone(),
        source_ips: event.source_ips.clone(),
        user_agent: event.user_agent.clone(),
        code: None,
        audit_id: event.audit_id.clone(),
        source: source.to_string(),
    });
    if code.is_some() {
        entry.code = code;
    }
}

/// The API server's stamp of a decoy Secret. It says nothing of the client (its user agent
/// and address are the API server's own), so those stay empty; the URI and audit ID are the
/// stamp's, to look it up by.
fn record_stamp(
    uses: &mut BTreeMap<String, Use>,
    event: Event,
    secret: &DecoySecret,
    source: &str,
) {
    let key = if event.audit_id.is_empty() {
        format!("{source}#{}", uses.len())
    } else {
        [
            "stamp",
            event.audit_id.as_str(),
            &secret.namespace,
            &secret.name,
        ]
        .join("\0")
    };
    let code = event.code();
    let entry = uses.entry(key).or_insert_with(|| Use {
        time: event.request_received_timestamp,
        signal: SignalKind::Stamp,
        user: secret.user.clone(),
        secret: Some(secret.shown()),
        verb: event.verb.clone(),
        request_uri: event.request_uri.clone(),
        source_ips: Vec::new(),
        user_agent: String::new(),
        code: None,
        drill: false,
        drill_mark: DrillClaim::None,
        audit_id: event.audit_id.clone(),
        source: source.to_string(),
    });
    if code.is_some() {
        entry.code = code;
    }
}

/// How long before a genuine drill request of the same decoy a stamp may be received and
/// still be the drill's: the drill's first request (`GET /version`, which policies drop) is
/// the one stamped, and its logged requests follow within a second. An attacker's use in
/// that span before a drill is not stamped again by the drill (the API server caches the
/// token's authentication for 10 s), so its stamp would be taken for the drill's: the
/// attacker's own logged requests still show as real.
pub const DRILL_STAMP_LEAD: jiff::SignedDuration = jiff::SignedDuration::from_secs(5);

/// Marks the stamps that belong to a drill (see [`DRILL_STAMP_LEAD`]).
pub fn attribute_stamps(uses: &mut [Use]) {
    let drills: Vec<(String, jiff::Timestamp)> = uses
        .iter()
        .filter(|u| u.signal == SignalKind::Request && u.drill)
        .filter_map(|u| Some((u.user.clone(), u.time?)))
        .collect();
    for stamp in uses.iter_mut().filter(|u| u.signal == SignalKind::Stamp) {
        let Some(at) = stamp.time else { continue };
        let drill = drills.iter().any(|(user, time)| {
            let after = time.duration_since(at);
            *user == stamp.user && after >= jiff::SignedDuration::ZERO && after <= DRILL_STAMP_LEAD
        });
        if drill {
            stamp.drill = true;
            stamp.drill_mark = DrillClaim::Genuine;
        }
    }
}

/// Opens a path (`-` is stdin), unpacking gzip when it starts with gzip's magic bytes. A
/// regular file, a FIFO or a pipe (read as a stream, to its end, like stdin) is read; a
/// directory or a device is refused.
fn open(path: &Path) -> std::io::Result<Box<dyn BufRead>> {
    const BUFFER: usize = 1 << 20;
    let mut input: Box<dyn Read> = if path == Path::new("-") {
        Box::new(std::io::stdin())
    } else {
        Box::new(open_file_or_stream(path)?)
    };
    // The magic bytes are read once and put back in front: a stream cannot be opened again.
    let mut magic = [0u8; 2];
    let mut got = 0;
    while got < magic.len() {
        match input.read(&mut magic[got..]) {
            Ok(0) => break,
            Ok(n) => got += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    let gzip = magic[..got] == [0x1f, 0x8b];
    let whole = std::io::Cursor::new(magic[..got].to_vec()).chain(input);
    Ok(if gzip {
        Box::new(BufReader::with_capacity(
            BUFFER,
            flate2::read::MultiGzDecoder::new(whole),
        ))
    } else {
        Box::new(BufReader::with_capacity(BUFFER, whole))
    })
}

/// A regular file, or a FIFO (waited on until a writer opens it, as `cat` does).
fn open_file_or_stream(path: &Path) -> std::io::Result<std::fs::File> {
    use std::os::unix::fs::FileTypeExt;
    let refuse = |file_type: std::fs::FileType| match crate::input::special_kind(file_type) {
        Some(kind) if !file_type.is_fifo() => Err(crate::input::NotAFile { kind }.into_io()),
        _ => Ok(()),
    };
    refuse(std::fs::metadata(path)?.file_type())?;
    let file = std::fs::File::open(path)?;
    refuse(file.metadata()?.file_type())?;
    Ok(file)
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ScanReport {
    pub kind: &'static str,
    pub schema_version: u32,
    pub users: Vec<String>,
    /// The decoy Secrets whose stamps were looked for, `namespace/name`.
    pub secrets: Vec<String>,
    pub uses: Vec<Use>,
    /// Uses that are no drill's, stamps included.
    pub real_uses: usize,
    /// Uses seen as the API server's stamp (`signal: stamp`), drills' included.
    pub stamps: usize,
    pub summary: Summary,
}

/// The columns of a scan's table, a row per use.
const USE_COLUMNS: [&str; 10] = [
    "time",
    "signal",
    "decoy",
    "verb",
    "uri",
    "code",
    "source ips",
    "user agent",
    "drill",
    "audit id",
];

/// The columns `-o wide` adds: where a request came from, with what client, and its audit
/// ID to find its event by. The rest tells when which decoy was used for what, and whether
/// a drill explains it, which reads at 80 columns.
const WIDE_COLUMNS: [&str; 3] = ["source ips", "user agent", "audit id"];

fn table(report: &ScanReport) -> String {
    format!("{}\n", use_table(report))
}

/// A row per use; where it came from with `-o wide`.
fn use_table(report: &ScanReport) -> Table {
    let mut table = output::table(&USE_COLUMNS);
    table.wide_only(&WIDE_COLUMNS);
    // Every field but the time and code is what a client or the log's writer chose.
    let shown = |text: &str| printable(text).into_owned();
    for found in &report.uses {
        // A decoy as status names it, NS/NAME; a user of another form as it is.
        let decoy = match crate::decoy::Decoy::parse(&found.user) {
            Ok(decoy) => format!("{}/{}", decoy.namespace, decoy.account),
            Err(_) => shown(&found.user),
        };
        let row: Vec<Cell> = vec![
            found
                .time
                .map(|t| t.strftime("%Y-%m-%d %H:%M:%SZ").to_string())
                .unwrap_or_default()
                .into(),
            match found.signal {
                SignalKind::Request => "request",
                SignalKind::Stamp => "stamp",
            }
            .into(),
            decoy.into(),
            shown(&found.verb).into(),
            shown(&found.request_uri).into(),
            found.code.map(|c| c.to_string()).unwrap_or_default().into(),
            shown(&found.source_ips.join(",")).into(),
            shown(&found.user_agent).into(),
            match found.drill_mark {
                DrillClaim::Genuine => "drill".into(),
                DrillClaim::None => Cell::new("REAL", Tone::Bad),
                DrillClaim::Replayed => Cell::new("REAL (copied drill mark)", Tone::Bad),
                DrillClaim::Forged => Cell::new("REAL (forged drill mark)", Tone::Bad),
                DrillClaim::Unverified => {
                    Cell::new("REAL? (drill mark, no key to check)", Tone::Bad)
                }
            },
            shown(&found.audit_id).into(),
        ];
        table.add_row(row);
    }
    table
}

pub async fn run(args: &ScanArgs, global: &GlobalArgs, home: &Home) -> Result<Outcome, Error> {
    let sought = crate::cluster::sought::decoys_to_look_for(
        &args.user,
        &args.secret,
        &global.target(),
        global.namespace.as_deref(),
        home,
    )
    .await?;
    if sought.secrets.is_empty() {
        eprintln!(
            "the API server's stamps of the decoys' Secrets (the token authenticated) are not looked for: name the Secrets with --secret NAMESPACE/NAME"
        );
    }
    let users = sought.users.clone();
    let secrets: Vec<String> = sought.secrets.iter().map(DecoySecret::shown).collect();
    let matcher = Matcher::with_secrets(sought.users, sought.secrets);
    // Without the key, drills cannot be told from requests that copy their user agent.
    let drill_key = home.key().ok();
    let mut uses = BTreeMap::new();
    let mut summary = Summary::default();
    let paths: Vec<std::path::PathBuf> = if args.files.is_empty() {
        vec!["-".into()]
    } else {
        args.files.clone()
    };
    for path in &paths {
        let source = path.display().to_string();
        match open(path) {
            Ok(reader) => scan_reader(
                reader,
                &source,
                &matcher,
                drill_key.as_ref(),
                &mut uses,
                &mut summary,
            ),
            Err(e) => summary.unreadable.push(format!("{source}: {e}")),
        }
    }
    let mut uses: Vec<Use> = uses.into_values().collect();
    uses.sort_by_key(|u| u.time);
    attribute_stamps(&mut uses);
    let report = ScanReport {
        kind: "ScanReport",
        schema_version: 1,
        real_uses: uses.iter().filter(|u| !u.drill).count(),
        stamps: uses
            .iter()
            .filter(|u| u.signal == SignalKind::Stamp)
            .count(),
        users,
        secrets,
        uses,
        summary,
    };
    match output::structured(global.output, &report)? {
        Some(text) => print!("{text}"),
        // A clean verdict only for input read whole: what was not read may hold a use.
        None if report.uses.is_empty() && report.summary.is_whole() => {
            println!("no use of {} found", report.users.join(", "))
        }
        None if report.uses.is_empty() => println!(
            "no use of {} found in what could be read; the scan is incomplete (why is on stderr)",
            report.users.join(", ")
        ),
        None => print!("{}", table(&report)),
    }
    eprintln!(
        "scanned {}: {} of the decoys ({} real, {}; {} of them {} of a decoy's Secret); {} with a decoy's name skipped",
        output::count(report.summary.lines, "line", "lines"),
        output::count(report.uses.len(), "use", "uses"),
        report.real_uses,
        output::count(report.uses.len() - report.real_uses, "drill", "drills"),
        report.stamps,
        if report.stamps == 1 {
            "a stamp"
        } else {
            "stamps"
        },
        output::count(
            report.summary.malformed,
            "malformed line",
            "malformed lines"
        )
    );
    if report.summary.oversized > 0 {
        eprintln!(
            "skipped {} line(s) over the {} line limit without parsing them; {} of them name a decoy{}",
            report.summary.oversized,
            crate::input::size(LINE_LIMIT as u64),
            report.summary.oversized_with_decoy,
            if report.summary.oversized_with_decoy > 0 {
                ": a use may be among them"
            } else {
                ""
            }
        );
    }
    for problem in &report.summary.unreadable {
        eprintln!("could not read to the end: {problem}");
    }
    Ok(if report.real_uses > 0 {
        Outcome::Tripped
    } else if !report.summary.is_whole() {
        Outcome::Incomplete
    } else {
        Outcome::Success
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const DECOY: &str = "system:serviceaccount:kube-system:tiller";

    fn event(id: &str, stage: &str, user: &str, agent: &str, code: Option<u16>) -> String {
        let status = code
            .map(|c| format!(r#","responseStatus":{{"code":{c}}}"#))
            .unwrap_or_default();
        format!(
            r#"{{"kind":"Event","apiVersion":"audit.k8s.io/v1","level":"Metadata","auditID":"{id}","stage":"{stage}","requestURI":"/api/v1/namespaces/kube-system/secrets","verb":"list","user":{{"username":"{user}"}},"sourceIPs":["10.0.0.9"],"userAgent":"{agent}","requestReceivedTimestamp":"2026-11-28T10:00:00Z"{status}}}"#
        )
    }

    fn scan(text: &[u8]) -> (Vec<Use>, Summary) {
        let matcher = Matcher::new(vec![DECOY.to_string()]);
        let mut uses = BTreeMap::new();
        let mut summary = Summary::default();
        scan_reader(
            text,
            "test",
            &matcher,
            Some(&key()),
            &mut uses,
            &mut summary,
        );
        (uses.into_values().collect(), summary)
    }

    #[test]
    fn a_request_is_reported_once_with_its_final_code() {
        let log = format!(
            "{}\n{}\n{}\n",
            event("a1", "RequestReceived", DECOY, "kubectl/v1.30", None),
            event("a1", "ResponseComplete", DECOY, "kubectl/v1.30", Some(403)),
            event(
                "b1",
                "ResponseComplete",
                "admin",
                "kubectl/v1.30",
                Some(200)
            ),
        );
        let (uses, summary) = scan(log.as_bytes());
        assert_eq!(uses.len(), 1);
        assert_eq!(uses[0].code, Some(403));
        assert_eq!(uses[0].verb, "list");
        assert_eq!(uses[0].source_ips, vec!["10.0.0.9"]);
        assert!(!uses[0].drill);
        assert_eq!(summary.lines, 3);
        assert_eq!(summary.malformed, 0);
    }

    fn key() -> Key {
        Key::from_bytes([7; 32])
    }

    /// A write of Secret `ns/name` as `user`, as the bed's log has it; the API server's
    /// stamp is `write("s1", "system:apiserver", "kube-system", SECRET, "")`.
    fn write(id: &str, user: &str, namespace: &str, name: &str, query: &str) -> String {
        format!(
            r#"{{"kind":"Event","apiVersion":"audit.k8s.io/v1","level":"Metadata","auditID":"{id}","stage":"ResponseComplete","requestURI":"/api/v1/namespaces/{namespace}/secrets/{name}{query}","verb":"patch","user":{{"username":"{user}","groups":["system:authenticated","system:masters"]}},"sourceIPs":["127.0.0.1"],"userAgent":"kube-apiserver/v1.36.3 (linux/amd64) kubernetes/$Format","objectRef":{{"resource":"secrets","namespace":"{namespace}","name":"{name}","apiVersion":"v1"}},"responseStatus":{{"metadata":{{}},"code":200}},"requestReceivedTimestamp":"2026-11-28T10:00:00.5Z"}}"#
        )
    }

    const SECRET: &str = "tiller-token-bcdfg";

    fn scan_with_secret(text: &[u8]) -> (Vec<Use>, Summary) {
        let secret =
            crate::cluster::sought::parse_secret(&format!("kube-system/{SECRET}")).unwrap();
        let matcher = Matcher::with_secrets(vec![DECOY.to_string()], vec![secret]);
        let mut uses = BTreeMap::new();
        let mut summary = Summary::default();
        for most in [3, 64, usize::MAX] {
            uses.clear();
            summary = Summary::default();
            scan_reader(
                Trickle::new(text, most),
                "test",
                &matcher,
                Some(&key()),
                &mut uses,
                &mut summary,
            );
        }
        let mut uses: Vec<Use> = uses.into_values().collect();
        uses.sort_by_key(|u| u.time);
        attribute_stamps(&mut uses);
        (uses, summary)
    }

    #[test]
    fn the_api_servers_stamp_of_the_decoy_secret_is_a_use_and_nothing_else_is() {
        let log = [
            // The stamp.
            write("s1", "system:apiserver", "kube-system", SECRET, ""),
            // The re-arm, by kubectl label and by a client without a query.
            write(
                "r1",
                "operator",
                "kube-system",
                SECRET,
                "?fieldManager=kubectl-label",
            ),
            write(
                "r2",
                "system:serviceaccount:ops:watcher",
                "kube-system",
                SECRET,
                "",
            ),
            // Stamps of every other legacy token of the namespace, and of a Secret whose
            // name begins with the decoy's.
            write(
                "o1",
                "system:apiserver",
                "kube-system",
                "default-token-x7k2p",
                "",
            ),
            write(
                "o2",
                "system:apiserver",
                "kube-system",
                &format!("{SECRET}x"),
                "",
            ),
            write("o3", "system:apiserver", "apps", SECRET, ""),
            // The API server reading it is no stamp.
            write("g1", "system:apiserver", "kube-system", SECRET, "")
                .replace(r#""verb":"patch""#, r#""verb":"get""#),
        ]
        .join("\n")
            + "\n";
        let (uses, summary) = scan_with_secret(log.as_bytes());
        assert_eq!(uses.len(), 1, "{uses:#?}");
        let stamp = &uses[0];
        assert_eq!(stamp.signal, SignalKind::Stamp);
        assert_eq!(stamp.user, DECOY);
        assert_eq!(
            stamp.secret.as_deref(),
            Some("kube-system/tiller-token-bcdfg")
        );
        assert_eq!(stamp.audit_id, "s1");
        assert_eq!(stamp.code, Some(200));
        assert!(!stamp.drill);
        assert!(stamp.source_ips.is_empty() && stamp.user_agent.is_empty());
        assert_eq!(summary.malformed, 0);
        assert_eq!(summary.lines, 7);
        let json = serde_json::to_value(stamp).unwrap();
        assert_eq!(json["signal"], "stamp");
    }

    #[test]
    fn a_stamp_just_before_a_drills_requests_is_the_drills() {
        let started = "2026-11-28T10:00:00Z".parse().unwrap();
        let id = crate::decoy::tracking::signed_drill_id(&key(), DECOY, started, "x1y2z3");
        let drill = event(
            "d1",
            "ResponseComplete",
            DECOY,
            &format!("kubectl-honeytoken-drill/0.1.0 (drill {id})"),
            Some(403),
        )
        .replace("10:00:00Z", "10:00:01Z");
        let stamp = write("s1", "system:apiserver", "kube-system", SECRET, "");
        let (uses, _) = scan_with_secret(format!("{stamp}\n{drill}\n").as_bytes());
        assert_eq!(uses.len(), 2);
        assert!(uses.iter().all(|u| u.drill), "{uses:#?}");
        // A stamp with no drill after it (an attacker's GET /version) is real use.
        let late = stamp.replace("10:00:00.5Z", "10:00:09Z");
        let (uses, _) = scan_with_secret(format!("{drill}\n{late}\n").as_bytes());
        let real: Vec<_> = uses.iter().filter(|u| !u.drill).collect();
        assert_eq!(real.len(), 1);
        assert_eq!(real[0].signal, SignalKind::Stamp);
    }

    #[test]
    fn drills_of_this_key_are_marked_and_copied_marks_are_real_use() {
        let started = "2026-11-28T10:00:00Z".parse().unwrap();
        let id = crate::decoy::tracking::signed_drill_id(&key(), DECOY, started, "x1y2z3");
        let genuine = event(
            "d1",
            "ResponseComplete",
            DECOY,
            &format!("kubectl-honeytoken-drill/0.1.0 (drill {id})"),
            Some(403),
        );
        let forged = event(
            "d2",
            "ResponseComplete",
            DECOY,
            "kubectl-honeytoken-drill/0.1.0 (drill x1y2z3-0123456789abcdef)",
            Some(403),
        );
        let (uses, _) = scan(format!("{genuine}\n{forged}\n").as_bytes());
        assert!(uses[0].drill);
        assert_eq!(uses[0].drill_mark, DrillClaim::Genuine);
        assert!(!uses[1].drill);
        assert_eq!(uses[1].drill_mark, DrillClaim::Forged);
    }

    #[test]
    fn a_request_reusing_a_drills_audit_id_is_its_own_use() {
        let started = "2026-11-28T10:00:00Z".parse().unwrap();
        let id = crate::decoy::tracking::signed_drill_id(&key(), DECOY, started, "x1y2z3");
        let drill = event(
            "d1",
            "ResponseComplete",
            DECOY,
            &format!("kubectl-honeytoken-drill/0.1.0 (drill {id})"),
            Some(403),
        );
        let copy = event("d1", "ResponseComplete", DECOY, "curl/8.5.0", Some(403));
        let (uses, _) = scan(format!("{drill}\n{copy}\n").as_bytes());
        assert_eq!(uses.len(), 2);
        assert_eq!(uses.iter().filter(|u| !u.drill).count(), 1);
    }

    #[test]
    fn garbage_and_truncated_lines_are_counted_not_fatal() {
        let good = event("a1", "ResponseComplete", DECOY, "k", Some(403));
        // Cut after the user name, as a log rotated mid-write leaves it.
        let truncated = &good[..good.find("sourceIPs").unwrap()];
        let log =
            format!("garbage \"{DECOY}\"\n{truncated}\nnot json at all\ngarbage {DECOY}\n{good}\n");
        let (uses, summary) = scan(log.as_bytes());
        assert_eq!(uses.len(), 1);
        // "not json at all" lacks the name, and the other garbage has it without its
        // quotes, so neither is even parsed.
        assert_eq!(summary.malformed, 2);
        assert_eq!(summary.lines, 5);
    }

    #[test]
    fn an_event_list_line_yields_its_events() {
        let list = format!(
            r#"{{"kind":"EventList","apiVersion":"audit.k8s.io/v1","items":[{},{}]}}"#,
            event("a1", "ResponseComplete", DECOY, "k", Some(403)),
            event("a2", "ResponseComplete", "admin", "k", Some(200))
        );
        let (uses, _) = scan(list.as_bytes());
        assert_eq!(
            uses.iter().map(|u| u.audit_id.as_str()).collect::<Vec<_>>(),
            vec!["a1"]
        );
    }

    #[test]
    fn a_line_of_many_megabytes_is_handled() {
        let mut big = event("a1", "ResponseComplete", DECOY, "k", Some(403));
        big.insert_str(1, &format!(r#""padding":"{}","#, "x".repeat(8 << 20)));
        let (uses, summary) = scan(format!("{big}\n").as_bytes());
        assert_eq!(uses.len(), 1);
        assert_eq!(summary.malformed, 0);
    }

    fn scan_files(paths: &[&Path]) -> (Vec<Use>, Summary) {
        let matcher = Matcher::new(vec![DECOY.to_string()]);
        let mut uses = BTreeMap::new();
        let mut summary = Summary::default();
        for path in paths {
            let source = path.display().to_string();
            match open(path) {
                Ok(reader) => scan_reader(
                    reader,
                    &source,
                    &matcher,
                    Some(&key()),
                    &mut uses,
                    &mut summary,
                ),
                Err(e) => summary.unreadable.push(format!("{source}: {e}")),
            }
        }
        (uses.into_values().collect(), summary)
    }

    fn five_uses() -> String {
        (1..=5)
            .map(|i| {
                event(
                    &format!("u{i}"),
                    "ResponseComplete",
                    DECOY,
                    "curl/8",
                    Some(403),
                ) + "\n"
            })
            .collect()
    }

    #[test]
    fn a_gzip_line_over_the_limit_is_counted_and_the_next_file_is_still_read() {
        use std::io::Write;
        let dir = tempfile::tempdir().unwrap();
        // A few KiB of gzip that unpack to one line longer than the limit.
        let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
        let chunk = vec![b'x'; 1 << 20];
        for _ in 0..=(LINE_LIMIT >> 20) {
            encoder.write_all(&chunk).unwrap();
        }
        encoder.write_all(b"\n").unwrap();
        let bomb = dir.path().join("bomb.log.gz");
        std::fs::write(&bomb, encoder.finish().unwrap()).unwrap();
        let real = dir.path().join("audit.log");
        std::fs::write(&real, five_uses()).unwrap();

        let (uses, summary) = scan_files(&[&bomb, &real]);
        assert_eq!(uses.len(), 5);
        assert_eq!(summary.oversized, 1);
        assert_eq!(summary.oversized_with_decoy, 0);
        assert_eq!(summary.lines, 6);
        assert!(summary.unreadable.is_empty(), "{summary:?}");
    }

    #[test]
    fn an_oversized_line_naming_a_decoy_is_told_even_when_the_name_spans_two_reads() {
        let matcher = Matcher::new(vec![DECOY.to_string()]);
        let filler = "y".repeat(200);
        let quoted = format!("\"{DECOY}\"");
        for capacity in [1, 7, 16, 64, 4096] {
            for (line, names) in [
                (format!("{filler}{quoted}{filler}"), true),
                (format!("{quoted}{filler}"), true),
                (format!("{filler}{quoted}"), true),
                (format!("{filler}{}", &quoted[1..]), false),
                // Another user whose name begins with the decoy's.
                (format!("{filler}\"{DECOY}-deployer\"{filler}"), false),
                (filler.repeat(2), false),
            ] {
                let text = format!("{line}\nshort line after it\n");
                let mut uses = BTreeMap::new();
                let mut summary = Summary::default();
                scan_reader_limited(
                    Trickle::new(text.as_bytes(), capacity),
                    "test",
                    &matcher,
                    None,
                    &mut uses,
                    &mut summary,
                    100,
                );
                assert_eq!(summary.oversized, 1, "{capacity} {line}");
                assert_eq!(
                    summary.oversized_with_decoy,
                    u64::from(names),
                    "{capacity} {line}"
                );
                assert_eq!(summary.lines, 2);
                assert!(uses.is_empty());
            }
        }
    }

    #[test]
    fn lines_at_the_limit_are_read_and_one_byte_more_is_not() {
        let matcher = Matcher::new(vec![DECOY.to_string()]);
        let good = event("a1", "ResponseComplete", DECOY, "k", Some(403));
        for (limit, read) in [(good.len(), true), (good.len() - 1, false)] {
            for text in [format!("{good}\n"), good.clone()] {
                let mut uses = BTreeMap::new();
                let mut summary = Summary::default();
                scan_reader_limited(
                    Trickle::new(text.as_bytes(), 16),
                    "test",
                    &matcher,
                    None,
                    &mut uses,
                    &mut summary,
                    limit,
                );
                assert_eq!(uses.len(), usize::from(read), "{limit}");
                assert_eq!(summary.oversized, u64::from(!read));
                assert_eq!(summary.oversized_with_decoy, u64::from(!read));
                assert_eq!(summary.lines, 1);
            }
        }
    }

    fn mkfifo(path: &Path) {
        let c = std::ffi::CString::new(path.to_str().unwrap()).unwrap();
        // SAFETY: mkfifo on a path in a temporary folder.
        assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
    }

    #[test]
    fn a_fifo_is_read_as_a_stream_from_its_first_byte() {
        let dir = tempfile::tempdir().unwrap();
        let fifo = dir.path().join("fifo");
        mkfifo(&fifo);
        let writer = {
            let fifo = fifo.clone();
            std::thread::spawn(move || std::fs::write(fifo, five_uses()).unwrap())
        };
        let (uses, summary) = scan_files(&[&fifo]);
        writer.join().unwrap();
        assert_eq!(uses.len(), 5, "{summary:?}");
        assert_eq!(summary.malformed, 0);
    }

    #[test]
    fn directories_and_devices_are_refused_and_the_next_file_is_read() {
        let dir = tempfile::tempdir().unwrap();
        let real = dir.path().join("audit.log");
        std::fs::write(&real, five_uses()).unwrap();
        let (uses, summary) = scan_files(&[dir.path(), Path::new("/dev/zero"), &real]);
        assert_eq!(uses.len(), 5);
        assert_eq!(summary.unreadable.len(), 2, "{summary:?}");
        assert!(
            summary.unreadable[0].ends_with("is a directory, not a regular file"),
            "{summary:?}"
        );
        assert!(
            summary.unreadable[1].ends_with("is a character device, not a regular file"),
            "{summary:?}"
        );
    }

    /// A source that gives at most `most` bytes a read, as a pipe may.
    struct Trickle<'a> {
        rest: &'a [u8],
        most: usize,
    }

    impl Trickle<'_> {
        fn new(text: &[u8], most: usize) -> Trickle<'_> {
            Trickle { rest: text, most }
        }
    }

    impl Read for Trickle<'_> {
        fn read(&mut self, out: &mut [u8]) -> std::io::Result<usize> {
            let n = self.rest.len().min(self.most).min(out.len());
            out[..n].copy_from_slice(&self.rest[..n]);
            self.rest = &self.rest[n..];
            Ok(n)
        }
    }

    #[test]
    fn only_lines_holding_a_decoys_quoted_name_are_parsed() {
        let near = format!("{DECOY}-deployer");
        let cut = |line: String| line[..line.find("sourceIPs").unwrap()].to_string();
        let annotated = event("n1", "ResponseComplete", "admin", "k", Some(200)).replacen(
            "{",
            &format!(r#"{{"annotations":{{"note":"{DECOY}"}},"#),
            1,
        );
        let log = [
            // Cut after the user name: a near miss is not even parsed, the decoy's is.
            cut(event("t1", "ResponseComplete", &near, "k", Some(200))),
            cut(event("t2", "ResponseComplete", DECOY, "k", Some(403))),
            event("m1", "ResponseComplete", &near, "k", Some(200)),
            // The decoy named in quotes elsewhere: parsed, and not a use.
            annotated,
            event("a1", "ResponseComplete", DECOY, "k", Some(403)),
        ]
        .join("\n");
        for most in [1, 5, 64, 700, usize::MAX] {
            let matcher = Matcher::new(vec![DECOY.to_string()]);
            let mut uses = BTreeMap::new();
            let mut summary = Summary::default();
            scan_reader(
                Trickle::new(log.as_bytes(), most),
                "test",
                &matcher,
                None,
                &mut uses,
                &mut summary,
            );
            let ids: Vec<_> = uses.values().map(|u| u.audit_id.as_str()).collect();
            assert_eq!(ids, vec!["a1"], "{most}");
            assert_eq!(summary.malformed, 1, "{most}");
            assert_eq!(summary.lines, 5, "{most}");
        }
    }

    #[test]
    fn several_decoys_are_searched_at_once() {
        let other = "system:serviceaccount:ci:deployer";
        let matcher = Matcher::new(vec![DECOY.to_string(), other.to_string()]);
        let log = [
            event("a1", "ResponseComplete", DECOY, "k", Some(403)),
            event(
                "n1",
                "ResponseComplete",
                &format!("{other}-x"),
                "k",
                Some(200),
            ),
            event("b1", "ResponseComplete", other, "k", Some(403)),
            event("c1", "ResponseComplete", "admin", "k", Some(200)),
        ]
        .join("\n")
            + "\n";
        let mut uses = BTreeMap::new();
        let mut summary = Summary::default();
        scan_reader(log.as_bytes(), "t", &matcher, None, &mut uses, &mut summary);
        let mut ids: Vec<_> = uses.values().map(|u| u.audit_id.as_str()).collect();
        ids.sort();
        assert_eq!(ids, vec!["a1", "b1"]);
        assert_eq!(summary.lines, 4);
        let lines: Vec<_> = matcher.candidate_lines(log.as_bytes()).collect();
        assert_eq!(lines.len(), 2, "the near miss is no candidate");
    }

    #[test]
    fn another_user_whose_name_contains_the_decoys_is_not_a_use() {
        let log = event(
            "a1",
            "ResponseComplete",
            &format!("{DECOY}-helper"),
            "k",
            Some(403),
        );
        let (uses, _) = scan(log.as_bytes());
        assert!(uses.is_empty());
    }

    #[test]
    fn gzip_files_are_unpacked_and_a_truncated_one_is_reported() {
        use std::io::Write;
        let dir = tempfile::tempdir().unwrap();
        let text = format!(
            "{}\n",
            event("a1", "ResponseComplete", DECOY, "k", Some(403))
        )
        .repeat(2000);
        let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        encoder.write_all(text.as_bytes()).unwrap();
        let bytes = encoder.finish().unwrap();
        let whole = dir.path().join("audit.log.gz");
        std::fs::write(&whole, &bytes).unwrap();
        let truncated = dir.path().join("cut.log.gz");
        std::fs::write(&truncated, &bytes[..bytes.len() / 2]).unwrap();

        let matcher = Matcher::new(vec![DECOY.to_string()]);
        let mut uses = BTreeMap::new();
        let mut summary = Summary::default();
        scan_reader(
            open(&whole).unwrap(),
            "whole",
            &matcher,
            None,
            &mut uses,
            &mut summary,
        );
        assert_eq!(summary.lines, 2000);
        assert_eq!(uses.len(), 1, "one audit ID");
        scan_reader(
            open(&truncated).unwrap(),
            "cut",
            &matcher,
            None,
            &mut uses,
            &mut summary,
        );
        assert_eq!(summary.unreadable.len(), 1, "{summary:?}");
        assert!(summary.unreadable[0].starts_with("cut:"), "{summary:?}");
    }

    #[test]
    fn the_table_shows_control_and_bidi_characters_escaped() {
        let agent = r"kubectl\u001b[2J\u001b]0;pwned\u0007\u009b1A\u202eexe.txt\nforged row";
        let mut line = event("a1", "ResponseComplete", DECOY, agent, Some(403));
        line = line.replace(
            "/api/v1/namespaces/kube-system/secrets",
            r"/api/v1/secrets\r\u007f",
        );
        let (uses, _) = scan(line.as_bytes());
        assert_eq!(
            uses[0].user_agent,
            "kubectl\u{1b}[2J\u{1b}]0;pwned\u{7}\u{9b}1A\u{202e}exe.txt\nforged row"
        );
        let report = report_of(uses);
        let text = use_table(&report).render(
            crate::ui::table::Fit {
                width: None,
                wide: true,
            },
            false,
        );
        assert!(
            !text
                .chars()
                .any(|c| crate::ui::terminal::is_unsafe_for_terminal(c) && c != '\n'),
            "{text:?}"
        );
        assert!(text.contains(r"\u{1b}[2J"), "{text}");
        assert!(
            text.contains(r"\u{9b}1A") && text.contains(r"\u{202e}exe.txt"),
            "{text}"
        );
        assert!(text.contains(r"/api/v1/secrets\u{d}\u{7f}"), "{text}");
        // The forged new line does not start a row of its own.
        assert_eq!(text.lines().count(), 2, "{text}");
    }

    /// A report of one decoy's real uses, for the table.
    fn report_of(uses: Vec<Use>) -> ScanReport {
        ScanReport {
            kind: "ScanReport",
            schema_version: 1,
            users: vec![DECOY.into()],
            secrets: vec![],
            stamps: 0,
            real_uses: 1,
            uses,
            summary: Summary::default(),
        }
    }

    #[test]
    fn the_table_reads_at_80_columns_and_wide_adds_where_requests_came_from() {
        let request = format!(
            "{}\n",
            event(
                "4f1c2a7e-9d3b-4c55-8a0e-2b6f1d9c3e71",
                "ResponseComplete",
                DECOY,
                "kubectl/v1.36.3 (linux/amd64) kubernetes/abcdef0",
                Some(403)
            )
        );
        let (uses, _) = scan(request.as_bytes());
        let report = report_of(uses);
        let table = use_table(&report);
        let narrow = table.render(crate::ui::table::Fit::terminal(80), false);
        let lines: Vec<&str> = narrow.lines().collect();
        assert!(
            lines[0].starts_with("TIME") && lines[0].ends_with("DRILL"),
            "{narrow}"
        );
        for title in ["SIGNAL", "DECOY", "VERB", "URI", "CODE"] {
            assert!(lines[0].contains(title), "{title}: {narrow}");
        }
        for title in WIDE_COLUMNS {
            assert!(!narrow.contains(&title.to_uppercase()), "{narrow}");
        }
        assert!(lines.iter().all(|l| l.chars().count() <= 80), "{narrow}");
        // The cells an operator reads first are whole; only the URI, a path longer than
        // what 80 columns leave it, is cut short (from its start, with `…`).
        let words: Vec<&str> = narrow.split_whitespace().collect();
        for word in [
            "2026-11-28",
            "10:00:00Z",
            "request",
            "kube-system/tiller",
            "list",
            "403",
            "REAL",
        ] {
            assert!(words.contains(&word), "{word}: {narrow}");
        }
        let uri = "/api/v1/namespaces/kube-system/secrets";
        let cut: Vec<&&str> = words.iter().filter(|w| w.ends_with('…')).collect();
        assert_eq!(cut.len(), 1, "{narrow}");
        let head = cut[0].trim_end_matches('…');
        assert!(head.len() >= 16 && uri.starts_with(head), "{narrow}");
        let wide = table.render(
            crate::ui::table::Fit {
                width: None,
                wide: true,
            },
            false,
        );
        for shown in [
            "SOURCE IPS",
            "USER AGENT",
            "AUDIT ID",
            "10.0.0.9",
            "kubectl/v1.36.3 (linux/amd64) kubernetes/abcdef0",
            "4f1c2a7e-9d3b-4c55-8a0e-2b6f1d9c3e71",
        ] {
            assert!(wide.contains(shown), "{shown}: {wide}");
        }
        // A stamp says so, and names its decoy the same way.
        let mut stamp = report.uses[0].clone();
        stamp.signal = SignalKind::Stamp;
        let report = ScanReport {
            uses: vec![stamp],
            ..report
        };
        let stamped = use_table(&report).render(crate::ui::table::Fit::PIPE, false);
        let row = stamped.lines().nth(1).unwrap();
        assert!(
            row.contains(" stamp ") && row.contains("kube-system/tiller"),
            "{stamped}"
        );
    }
}
