//! What the plugin keeps outside the cluster, in one folder (`HONEYTOKEN_HOME`, default
//! `~/.config/kubectl-honeytoken`):
//!
//! - `key`: 32 random bytes. Decoy Secret names are derived from it (see `tracking`), so
//!   whoever has the key recognises the decoys and nobody else can tell them apart. Share it
//!   (or set `HONEYTOKEN_KEY` to its hex) to run `status` and `remove` from elsewhere.
//! - `state.json`: the decoys planted from here (with their UIDs) and the drills run from
//!   here, so `status` tells a drill from an attack.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

pub const KEY_LEN: usize = 32;

#[derive(Debug, thiserror::Error)]
pub enum HomeError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot write {path}: {source}")]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{origin} does not hold a {KEY_LEN}-byte key as {len} hex digits", len = KEY_LEN * 2)]
    BadKey { origin: String },
    #[error(
        "no key in {path} and HONEYTOKEN_KEY is not set: decoys are recognised by the key of \
         the workstation that planted them; copy that file here (or set HONEYTOKEN_HOME or \
         HONEYTOKEN_KEY)"
    )]
    NoKey { path: PathBuf },
    #[error("{path} is not valid: {source}")]
    BadState {
        path: PathBuf,
        source: serde_json::Error,
    },
}

/// The secret that lets this plugin, and nobody else, recognise its decoys.
#[derive(Clone)]
pub struct Key([u8; KEY_LEN]);

impl std::fmt::Debug for Key {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Key(..)")
    }
}

impl Key {
    pub fn from_bytes(bytes: [u8; KEY_LEN]) -> Self {
        Key(bytes)
    }

    pub fn bytes(&self) -> &[u8; KEY_LEN] {
        &self.0
    }

    pub fn parse_hex(text: &str, origin: &str) -> Result<Key, HomeError> {
        let text = text.trim();
        let bad = || HomeError::BadKey {
            origin: origin.to_string(),
        };
        if text.len() != KEY_LEN * 2 || !text.is_ascii() {
            return Err(bad());
        }
        let mut bytes = [0u8; KEY_LEN];
        for (i, byte) in bytes.iter_mut().enumerate() {
            *byte = u8::from_str_radix(&text[2 * i..2 * i + 2], 16).map_err(|_| bad())?;
        }
        Ok(Key(bytes))
    }

    pub fn to_hex(&self) -> String {
        self.0.iter().map(|b| format!("{b:02x}")).collect()
    }
}

/// A decoy planted from this workstation. Written before the first object is created
/// (`complete: false`, no UIDs yet) and updated as each object is made, so an interrupted
/// `plant` leaves a record that `plant`, `remove` and `status` all pick up.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlantedRecord {
    pub profile: String,
    pub namespace: String,
    pub account: String,
    /// Empty until the API server has answered the account's creation.
    #[serde(default)]
    pub account_uid: String,
    pub secret: String,
    /// Empty until the API server has answered the Secret's creation.
    #[serde(default)]
    pub secret_uid: String,
    pub server: String,
    pub planted_at: jiff::Timestamp,
    /// Whether `plant` finished (token filled). Records written before this field existed
    /// were only written once a plant had finished.
    #[serde(default = "finished")]
    pub complete: bool,
    /// The profile, when it was the operator's own (`plant --profile-file`), as planted:
    /// the commands that find the decoy later need its shape.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub profile_definition: Option<serde_json::Value>,
}

fn finished() -> bool {
    true
}

impl PlantedRecord {
    pub fn account_uid(&self) -> Option<&str> {
        Some(self.account_uid.as_str()).filter(|uid| !uid.is_empty())
    }

    pub fn secret_uid(&self) -> Option<&str> {
        Some(self.secret_uid.as_str()).filter(|uid| !uid.is_empty())
    }
}

/// One drill: the decoy's token used on purpose.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DrillRecord {
    pub id: String,
    pub namespace: String,
    pub secret: String,
    /// The drilled Secret's UID: drills are told apart by it, never by name, so a decoy
    /// planted again under the same name inherits no drill.
    pub secret_uid: String,
    pub started_at: jiff::Timestamp,
    /// What the drill did with the tripwire; None while it runs (or if it never finished).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tripwire: Option<DrillTripwire>,
}

/// What a drill did with the tripwire (the `legacy-token-last-used` label).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "outcome", rename_all = "camelCase")]
pub enum DrillTripwire {
    /// The drill stamped it and then removed the stamp: armed again from `at`.
    Rearmed { at: jiff::Timestamp },
    /// The drill stamped it and could not re-arm it: that day's stamp is the drill's.
    Left { reason: String },
    /// Stamped before the drill by a use no drill explains; left alone as evidence.
    AlreadyStamped { day: String },
    /// The drill's requests did not stamp it.
    NotStamped,
}

impl DrillRecord {
    /// The day the API server stamps into `legacy-token-last-used` for this drill (UTC).
    pub fn day(&self) -> String {
        utc_day(self.started_at)
    }

    /// Whether this drill accounts for a stamp of `day` on the Secret with `uid` at `now`:
    /// it drilled that Secret on that day and could not remove its own stamp, or it is
    /// still running (started in the last [`DRILL_RUNS_AT_MOST`]). A stamp after a
    /// re-armed drill, or after one that did not stamp at all, is a use of its own; so is
    /// one a drill that never finished left behind: the alarm is the safer error.
    pub fn explains(&self, uid: &str, day: &str, now: jiff::Timestamp) -> bool {
        let running = self.tripwire.is_none()
            && now.duration_since(self.started_at) < DRILL_RUNS_AT_MOST
            && now >= self.started_at;
        !uid.is_empty()
            && self.secret_uid == uid
            && self.day() == day
            && (running || matches!(self.tripwire, Some(DrillTripwire::Left { .. })))
    }

    pub fn rearmed_at(&self) -> Option<jiff::Timestamp> {
        match self.tripwire {
            Some(DrillTripwire::Rearmed { at }) => Some(at),
            _ => None,
        }
    }
}

/// How long a drill's stamp counts as the drill's before the drill has said what it did:
/// its requests and re-arm take seconds; a drill that has not finished by then died.
pub const DRILL_RUNS_AT_MOST: jiff::SignedDuration = jiff::SignedDuration::from_secs(120);

pub fn utc_day(at: jiff::Timestamp) -> String {
    at.strftime("%Y-%m-%d").to_string()
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct State {
    #[serde(default)]
    pub planted: Vec<PlantedRecord>,
    #[serde(default)]
    pub drills: Vec<DrillRecord>,
}

impl State {
    /// What this workstation recorded of planting a decoy on that server, if it did.
    pub fn planted_record(
        &self,
        server: &str,
        namespace: &str,
        account: &str,
    ) -> Option<&PlantedRecord> {
        self.planted
            .iter()
            .find(|r| r.server == server && r.namespace == namespace && r.account == account)
    }

    /// Adds or replaces the record of one decoy.
    pub fn record_planted(&mut self, record: PlantedRecord) {
        self.forget_planted(&record.server, &record.namespace, &record.account);
        self.planted.push(record);
    }

    pub fn forget_planted(&mut self, server: &str, namespace: &str, account: &str) {
        self.planted
            .retain(|r| !(r.server == server && r.namespace == namespace && r.account == account));
    }
}

/// The drills recorded of the Secret with this UID, oldest first.
pub fn drills_of(home_state: &State, secret_uid: &str) -> Vec<DrillRecord> {
    let mut drills: Vec<DrillRecord> = home_state
        .drills
        .iter()
        .filter(|d| !secret_uid.is_empty() && d.secret_uid == secret_uid)
        .cloned()
        .collect();
    drills.sort_by_key(|d| d.started_at);
    drills
}

#[derive(Debug, Clone)]
pub struct Home {
    dir: PathBuf,
}

impl Home {
    /// `HONEYTOKEN_HOME`, else `$XDG_CONFIG_HOME/kubectl-honeytoken`, else
    /// `~/.config/kubectl-honeytoken`.
    pub fn from_env() -> Home {
        let dir = std::env::var_os("HONEYTOKEN_HOME")
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
            .or_else(|| {
                std::env::var_os("XDG_CONFIG_HOME")
                    .filter(|v| !v.is_empty())
                    .map(|d| PathBuf::from(d).join("kubectl-honeytoken"))
            })
            .or_else(|| {
                std::env::var_os("HOME")
                    .map(|h| PathBuf::from(h).join(".config").join("kubectl-honeytoken"))
            })
            .unwrap_or_else(|| PathBuf::from(".kubectl-honeytoken"));
        Home { dir }
    }

    pub fn at(dir: impl Into<PathBuf>) -> Home {
        Home { dir: dir.into() }
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn key_path(&self) -> PathBuf {
        self.dir.join("key")
    }

    fn state_path(&self) -> PathBuf {
        self.dir.join("state.json")
    }

    /// The key from `HONEYTOKEN_KEY` or the key file; an error when there is none.
    pub fn key(&self) -> Result<Key, HomeError> {
        if let Some(hex) = std::env::var("HONEYTOKEN_KEY")
            .ok()
            .filter(|v| !v.is_empty())
        {
            return Key::parse_hex(&hex, "HONEYTOKEN_KEY");
        }
        let path = self.key_path();
        match std::fs::read_to_string(&path) {
            Ok(text) => Key::parse_hex(&text, &path.display().to_string()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Err(HomeError::NoKey { path }),
            Err(source) => Err(HomeError::Read { path, source }),
        }
    }

    /// The key, made on first use (only a real `plant` makes one). Made under the state
    /// lock, so two plants racing on a new folder agree on one key.
    pub fn key_or_create(&self) -> Result<Key, HomeError> {
        match self.key() {
            Err(HomeError::NoKey { .. }) => {}
            other => return other,
        }
        let _lock = self.lock()?;
        match self.key() {
            Err(HomeError::NoKey { .. }) => {}
            other => return other,
        }
        let key = Key(random_bytes().map_err(|source| HomeError::Write {
            path: self.key_path(),
            source,
        })?);
        self.write_private(&self.key_path(), format!("{}\n", key.to_hex()).as_bytes())?;
        Ok(key)
    }

    /// The key if there is one; else a new one that is not saved, for plans that only
    /// show what a real run would make (`plant --dry-run`, `verify`); the flag says the
    /// key is such a new one.
    pub fn key_or_ephemeral(&self) -> Result<(Key, bool), HomeError> {
        match self.key() {
            Ok(key) => Ok((key, false)),
            Err(HomeError::NoKey { .. }) => {
                let bytes = random_bytes().map_err(|source| HomeError::Write {
                    path: self.key_path(),
                    source,
                })?;
                Ok((Key(bytes), true))
            }
            Err(other) => Err(other),
        }
    }

    pub fn load(&self) -> Result<State, HomeError> {
        let path = self.state_path();
        match std::fs::read(&path) {
            Ok(bytes) => serde_json::from_slice(&bytes)
                .map_err(|source| HomeError::BadState { path, source }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(State::default()),
            Err(source) => Err(HomeError::Read { path, source }),
        }
    }

    /// Reads, changes and writes the state under an exclusive lock, so runs sharing this
    /// folder never lose each other's records; the write replaces the file in one step.
    pub fn update(&self, change: impl FnOnce(&mut State)) -> Result<State, HomeError> {
        let _lock = self.lock()?;
        let mut state = self.load()?;
        change(&mut state);
        let text = serde_json::to_vec_pretty(&state).expect("state serializes");
        self.write_private(&self.state_path(), &text)?;
        Ok(state)
    }

    /// An exclusive lock on `state.lock`, held until dropped (the OS drops it if the
    /// process dies).
    fn lock(&self) -> Result<std::fs::File, HomeError> {
        let (path, file) = self.open_lock("state.lock")?;
        file.lock()
            .map_err(|source| HomeError::Write { path, source })?;
        Ok(file)
    }

    /// The lock that runs one drill of a Secret at a time from this folder: each drill
    /// must see its own stamp and re-arm before the next one uses the token. None when
    /// another drill holds it.
    pub fn try_drill_lock(&self, secret_uid: &str) -> Result<Option<std::fs::File>, HomeError> {
        let (path, file) = self.open_lock(&drill_lock_name(secret_uid))?;
        match file.try_lock() {
            Ok(()) => Ok(Some(file)),
            Err(std::fs::TryLockError::WouldBlock) => Ok(None),
            Err(std::fs::TryLockError::Error(source)) => Err(HomeError::Write { path, source }),
        }
    }

    /// The same lock, waited for.
    pub fn drill_lock(&self, secret_uid: &str) -> Result<std::fs::File, HomeError> {
        let (path, file) = self.open_lock(&drill_lock_name(secret_uid))?;
        file.lock()
            .map_err(|source| HomeError::Write { path, source })?;
        Ok(file)
    }

    fn open_lock(&self, name: &str) -> Result<(PathBuf, std::fs::File), HomeError> {
        let path = self.dir.join(name);
        let lock_error = |source| HomeError::Write {
            path: path.clone(),
            source,
        };
        std::fs::create_dir_all(&self.dir).map_err(lock_error)?;
        let mut options = std::fs::OpenOptions::new();
        options.read(true).write(true).create(true).truncate(false);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            options.mode(0o600);
        }
        let file = options.open(&path).map_err(lock_error)?;
        Ok((path, file))
    }

    fn write_private(&self, path: &Path, contents: &[u8]) -> Result<(), HomeError> {
        let write_error = |source| HomeError::Write {
            path: path.to_path_buf(),
            source,
        };
        std::fs::create_dir_all(&self.dir).map_err(write_error)?;
        // A name of its own per writer: two writers never share a half-written file.
        let unique = random_bytes()
            .map_err(write_error)?
            .iter()
            .take(6)
            .map(|b| format!("{b:02x}"))
            .collect::<String>();
        let temporary = path.with_extension(format!("{}.{unique}.tmp", std::process::id()));
        {
            use std::io::Write;
            let mut options = std::fs::OpenOptions::new();
            options.write(true).create(true).truncate(true);
            #[cfg(unix)]
            {
                use std::os::unix::fs::OpenOptionsExt;
                options.mode(0o600);
            }
            let mut file = options.open(&temporary).map_err(write_error)?;
            let written = file
                .write_all(contents)
                .and_then(|()| file.sync_all())
                .and_then(|()| std::fs::rename(&temporary, path));
            if let Err(error) = written {
                let _ = std::fs::remove_file(&temporary);
                return Err(write_error(error));
            }
        }
        Ok(())
    }
}

/// A file name for a Secret's drill lock; a UID the API server made is letters, digits and
/// dashes, anything else is replaced so the name stays inside the folder.
fn drill_lock_name(secret_uid: &str) -> String {
    let safe: String = secret_uid
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' {
                c
            } else {
                '_'
            }
        })
        .collect();
    format!("drill-{safe}.lock")
}

fn random_bytes() -> std::io::Result<[u8; KEY_LEN]> {
    let mut bytes = [0u8; KEY_LEN];
    getrandom::fill(&mut bytes).map_err(|e| std::io::Error::other(e.to_string()))?;
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_round_trips_through_hex_and_rejects_bad_text() {
        let key = Key::from_bytes([7u8; KEY_LEN]);
        let parsed = Key::parse_hex(&key.to_hex(), "test").unwrap();
        assert_eq!(parsed.bytes(), key.bytes());
        assert!(Key::parse_hex("abc", "test").is_err());
        assert!(Key::parse_hex(&"zz".repeat(KEY_LEN), "test").is_err());
        assert_eq!(format!("{key:?}"), "Key(..)");
    }

    #[test]
    fn the_key_is_made_once_privately_and_then_reused() {
        let dir = tempfile::tempdir().unwrap();
        let home = Home::at(dir.path().join("h"));
        assert!(matches!(home.key(), Err(HomeError::NoKey { .. })));
        let made = home.key_or_create().unwrap();
        let again = home.key_or_create().unwrap();
        assert_eq!(made.bytes(), again.bytes());
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(dir.path().join("h/key"))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(
                mode & 0o077,
                0,
                "the key file must not be readable by others"
            );
        }
    }

    #[test]
    fn state_updates_persist() {
        let dir = tempfile::tempdir().unwrap();
        let home = Home::at(dir.path());
        assert_eq!(home.load().unwrap(), State::default());
        let drill = DrillRecord {
            id: "d1".into(),
            namespace: "kube-system".into(),
            secret: "tiller-token-abcde".into(),
            secret_uid: "u1".into(),
            started_at: "2026-11-28T23:59:59Z".parse().unwrap(),
            tripwire: Some(DrillTripwire::Rearmed {
                at: "2026-11-29T00:00:01Z".parse().unwrap(),
            }),
        };
        home.update(|s| s.drills.push(drill.clone())).unwrap();
        assert_eq!(home.load().unwrap().drills, vec![drill.clone()]);
        assert_eq!(drill.day(), "2026-11-28");
    }

    fn record(account: &str) -> PlantedRecord {
        PlantedRecord {
            profile: "tiller".into(),
            namespace: "kube-system".into(),
            account: account.into(),
            account_uid: String::new(),
            secret: format!("{account}-token-bcdfg"),
            secret_uid: String::new(),
            server: "https://127.0.0.1:6443".into(),
            planted_at: "2026-11-28T10:00:00Z".parse().unwrap(),
            complete: false,
            profile_definition: None,
        }
    }

    #[test]
    fn parallel_updates_lose_no_record_and_leave_no_temporary_files() {
        let dir = tempfile::tempdir().unwrap();
        let threads: Vec<_> = (0..16)
            .map(|i| {
                let home = Home::at(dir.path());
                std::thread::spawn(move || {
                    for round in 0..5 {
                        home.update(|s| s.record_planted(record(&format!("a{i}-{round}"))))
                            .unwrap();
                    }
                })
            })
            .collect();
        for thread in threads {
            thread.join().unwrap();
        }
        let state = Home::at(dir.path()).load().unwrap();
        assert_eq!(state.planted.len(), 80);
        let leftovers: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|name| name.ends_with(".tmp"))
            .collect();
        assert!(leftovers.is_empty(), "{leftovers:?}");
    }

    #[test]
    fn parallel_first_plants_agree_on_one_key() {
        let dir = tempfile::tempdir().unwrap();
        let threads: Vec<_> = (0..8)
            .map(|_| {
                let home = Home::at(dir.path());
                std::thread::spawn(move || home.key_or_create().unwrap().to_hex())
            })
            .collect();
        let keys: std::collections::BTreeSet<String> =
            threads.into_iter().map(|t| t.join().unwrap()).collect();
        assert_eq!(keys.len(), 1, "{keys:?}");
        assert_eq!(
            Home::at(dir.path()).key().unwrap().to_hex(),
            keys.into_iter().next().unwrap()
        );
    }

    #[test]
    fn one_drill_of_a_secret_at_a_time() {
        let dir = tempfile::tempdir().unwrap();
        let home = Home::at(dir.path());
        let held = home.try_drill_lock("u-1").unwrap().expect("free at first");
        assert!(home.try_drill_lock("u-1").unwrap().is_none(), "held");
        assert!(home.try_drill_lock("u-2").unwrap().is_some(), "per Secret");
        drop(held);
        assert!(home.try_drill_lock("u-1").unwrap().is_some(), "released");
        assert_eq!(drill_lock_name("../x/y"), "drill-___x_y.lock");
    }

    #[test]
    fn an_ephemeral_key_is_never_saved() {
        let dir = tempfile::tempdir().unwrap();
        let home = Home::at(dir.path().join("h"));
        let (_, ephemeral) = home.key_or_ephemeral().unwrap();
        assert!(ephemeral);
        assert!(matches!(home.key(), Err(HomeError::NoKey { .. })));
        let made = home.key_or_create().unwrap();
        let (again, ephemeral) = home.key_or_ephemeral().unwrap();
        assert!(!ephemeral);
        assert_eq!(again.bytes(), made.bytes());
    }

    #[test]
    fn records_written_before_intent_was_recorded_read_as_complete() {
        let old = r#"{"planted":[{"profile":"tiller","namespace":"kube-system","account":"tiller",
            "account_uid":"a1","secret":"tiller-token-bcdfg","secret_uid":"s1",
            "server":"https://x","planted_at":"2026-11-28T10:00:00Z"}],"drills":[]}"#;
        let state: State = serde_json::from_str(old).unwrap();
        assert!(state.planted[0].complete);
        assert_eq!(state.planted[0].account_uid(), Some("a1"));
        assert_eq!(record("x").account_uid(), None);
    }

    #[test]
    fn a_corrupt_state_file_is_an_error_that_names_it() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("state.json"), "{nope").unwrap();
        let error = Home::at(dir.path()).load().unwrap_err().to_string();
        assert!(error.contains("state.json"), "{error}");
    }

    fn drill(uid: &str, at: &str, tripwire: Option<DrillTripwire>) -> DrillRecord {
        DrillRecord {
            id: "x".into(),
            namespace: "kube-system".into(),
            secret: "tiller-token-aaaaa".into(),
            secret_uid: uid.into(),
            started_at: at.parse().unwrap(),
            tripwire,
        }
    }

    #[test]
    fn drills_are_found_by_secret_uid_never_by_name() {
        let state = State {
            planted: vec![],
            drills: vec![
                drill("s2", "2026-11-21T10:00:00Z", None),
                drill("s1", "2026-11-20T10:00:00Z", None),
                drill("s1", "2026-11-19T10:00:00Z", None),
            ],
        };
        let days: Vec<String> = drills_of(&state, "s1").iter().map(|d| d.day()).collect();
        assert_eq!(days, ["2026-11-19", "2026-11-20"]);
        // Same name, another Secret: planted again, it inherits nothing.
        assert!(drills_of(&state, "s3").is_empty());
        assert!(drills_of(&state, "").is_empty());
    }

    #[test]
    fn only_a_drill_that_left_its_stamp_explains_it() {
        let at = "2026-11-20T10:00:00Z";
        let rearmed = DrillTripwire::Rearmed {
            at: "2026-11-20T10:00:05Z".parse().unwrap(),
        };
        let during: jiff::Timestamp = "2026-11-20T10:00:30Z".parse().unwrap();
        let later: jiff::Timestamp = "2026-11-20T10:05:00Z".parse().unwrap();
        // A drill still running explains its stamp; one that never finished does not.
        assert!(drill("s1", at, None).explains("s1", "2026-11-20", during));
        assert!(!drill("s1", at, None).explains("s1", "2026-11-20", later));
        let left = DrillTripwire::Left {
            reason: "forbidden".into(),
        };
        assert!(drill("s1", at, Some(left)).explains("s1", "2026-11-20", later));
        assert!(
            !drill("s1", at, Some(DrillTripwire::NotStamped)).explains("s1", "2026-11-20", during),
            "a drill that did not stamp explains no stamp"
        );
        assert!(!drill("s1", at, Some(rearmed.clone())).explains("s1", "2026-11-20", during));
        let found = DrillTripwire::AlreadyStamped {
            day: "2026-11-20".into(),
        };
        assert!(!drill("s1", at, Some(found)).explains("s1", "2026-11-20", during));
        assert!(!drill("s1", at, None).explains("s1", "2026-11-21", during));
        assert!(!drill("s1", at, None).explains("s2", "2026-11-20", during));
        assert!(!drill("", at, None).explains("", "2026-11-20", during));
        assert_eq!(
            drill("s1", at, Some(rearmed)).rearmed_at(),
            Some("2026-11-20T10:00:05Z".parse().unwrap())
        );
    }

    #[test]
    fn drills_recorded_before_the_tripwire_read_as_unfinished() {
        let old = r#"{"planted":[],"drills":[{"id":"d","namespace":"kube-system",
            "secret":"tiller-token-bcdfg","secret_uid":"s1","started_at":"2026-11-28T10:00:00Z"}]}"#;
        let state: State = serde_json::from_str(old).unwrap();
        assert_eq!(state.drills[0].tripwire, None);
        let written = serde_json::to_value(drill(
            "s1",
            "2026-11-28T10:00:00Z",
            Some(DrillTripwire::AlreadyStamped {
                day: "2026-11-27".into(),
            }),
        ))
        .unwrap();
        assert_eq!(written["tripwire"]["outcome"], "alreadyStamped");
        assert_eq!(written["tripwire"]["day"], "2026-11-27");
    }
}
