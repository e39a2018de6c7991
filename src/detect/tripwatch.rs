//! `watch --tripwire`: the cluster itself as a source. Each decoy's token Secret and
//! ServiceAccount are watched by name, metadata only (see [`crate::cluster::watches`]);
//! a stamp is a use of the token, told at once and then re-armed; a deleted, replaced or
//! invalidated Secret, a deleted account or a binding granting it something is a broken
//! decoy. The decisions ([`Tripwire::take`], [`Correlator`]) are pure; [`start`] runs the
//! watches and sends what they see.

use std::collections::{BTreeSet, VecDeque};
use std::time::{Duration, Instant};

use futures::StreamExt;
use tokio::sync::mpsc;

use crate::cluster::watches::{self as watches, Watched};
use crate::cluster::{self, Rearmed};
use crate::decoy::tracking::DrillClaim;
use crate::decoy::tripwire::{Breakage, Finding, Mark, RearmPlan, Sighting, Track, rearm_plan};
use crate::detect::alert::{Alert, new_alert_id};
use crate::detect::notice::DrillBook;
use crate::ui::terminal::printable;

pub use crate::cluster::watches::Decoy;

/// The signals of the tripwire's alerts.
pub const TRIPWIRE: &str = "tripwire";
pub const BROKEN: &str = "broken";

/// The decoys to watch, from the token Secrets sought (their account is the user's).
pub fn decoys_of(secrets: &[crate::audit::DecoySecret]) -> Vec<Decoy> {
    secrets
        .iter()
        .filter_map(|secret| {
            let account = secret.user.rsplit(':').next()?;
            Some(Decoy {
                namespace: secret.namespace.clone(),
                secret: secret.name.clone(),
                account: account.to_string(),
            })
        })
        .collect()
}

/// How often the bindings naming each decoy's account are listed.
pub const BINDINGS_EVERY: Duration = Duration::from_secs(300);

/// What the running watches send to the watcher.
#[derive(Debug)]
pub enum News {
    Secret {
        decoy: usize,
        watched: Watched,
    },
    Account {
        decoy: usize,
        watched: Watched,
    },
    Bindings {
        decoy: usize,
        found: Result<Vec<String>, String>,
        forbidden: bool,
    },
    Rearm {
        decoy: usize,
        outcome: Result<Rearmed, String>,
        forbidden: bool,
    },
    /// The API server answered the periodic look (at the bindings, or, where those may not
    /// be listed, at a decoy Secret's metadata): the cluster is reachable.
    Answered,
}

/// What a piece of news says about the tripwire source's health, for the metrics.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Health {
    /// Every watch has listed (at first, or again after one failed): the source is ready
    /// (told once each time).
    pub ready_now: bool,
    /// A watch failed while the source was ready: it is not, until that watch lists again
    /// (or brings a change).
    pub not_ready_now: bool,
    /// A watch listed again after the source had been ready: it reconnected.
    pub reconnected: bool,
    pub failed: bool,
    /// The cluster told something of a decoy's objects.
    pub seen: bool,
}

/// Tracks which watches have listed, so the source is ready when all have; a watch that
/// fails makes it un-ready until that watch lists again or brings a change (with RBAC
/// revoked or the API server gone, it does not).
#[derive(Debug, Clone)]
pub struct Readiness {
    /// (Secret watch?, decoy) of the watches still to list, at first or after failing.
    waiting: BTreeSet<(bool, usize)>,
    ready: bool,
    /// The source was ready once: a list from now on is a reconnect.
    was_ready: bool,
}

impl Readiness {
    /// Two watches per decoy: its Secret and its account.
    pub fn new(decoys: usize) -> Readiness {
        Readiness {
            waiting: (0..decoys).flat_map(|d| [(true, d), (false, d)]).collect(),
            ready: decoys == 0,
            was_ready: decoys == 0,
        }
    }

    pub fn take(&mut self, news: &News) -> Health {
        let mut health = Health::default();
        let (watch, watched) = match news {
            News::Secret { decoy, watched } => ((true, *decoy), watched),
            News::Account { decoy, watched } => ((false, *decoy), watched),
            // The API server answered the periodic look at bindings (allowed or not): a
            // watch that failed and resumed without listing again brings nothing until
            // its object changes, so this is what says the source works again.
            News::Bindings { .. } | News::Answered => {
                let answered = match news {
                    News::Bindings {
                        found, forbidden, ..
                    } => found.is_ok() || *forbidden,
                    _ => true,
                };
                if answered && self.was_ready && !self.ready {
                    self.waiting.clear();
                    self.ready = true;
                    health.ready_now = true;
                }
                return health;
            }
            // How a re-arm ended is the tripwire's to judge (see `Step::rearmed`).
            News::Rearm { .. } => return health,
        };
        match watched {
            Watched::Failed(_) => {
                health.failed = true;
                self.waiting.insert(watch);
                if std::mem::replace(&mut self.ready, false) {
                    health.not_ready_now = true;
                }
            }
            Watched::Sighting(sighting) => {
                health.seen = true;
                match sighting {
                    Sighting::Relisting if self.was_ready => health.reconnected = true,
                    // A watch that lists, or brings a change, works: after failing, it
                    // is back. (A watch resumed without a list brings nothing until the
                    // object changes; kube's watcher lists again on a 410.)
                    Sighting::ListDone | Sighting::Applied(_) | Sighting::Deleted
                        if !self.ready =>
                    {
                        self.waiting.remove(&watch);
                        if self.waiting.is_empty() {
                            self.ready = true;
                            self.was_ready = true;
                            health.ready_now = true;
                        }
                    }
                    _ => {}
                }
            }
        }
        health
    }
}

/// The running watches; they stop when this is dropped.
pub struct Running {
    tasks: Vec<tokio::task::JoinHandle<()>>,
    client: kube::Client,
    decoys: Vec<Decoy>,
    sender: mpsc::Sender<News>,
}

impl Drop for Running {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
    }
}

/// Starts a watch of each decoy's Secret and account, and a look at its bindings every
/// `bindings_every`. What they see goes to `sender` (bounded: a watcher behind holds the
/// watches up rather than growing).
pub fn start(
    client: kube::Client,
    decoys: &[Decoy],
    bindings_every: Duration,
    sender: mpsc::Sender<News>,
) -> Running {
    let mut tasks = Vec::new();
    for (index, decoy) in decoys.iter().enumerate() {
        tasks.push(forward(
            watches::secret_sightings(&client, &decoy.namespace, &decoy.secret),
            sender.clone(),
            move |watched| News::Secret {
                decoy: index,
                watched,
            },
        ));
        tasks.push(forward(
            watches::account_sightings(&client, &decoy.namespace, &decoy.account),
            sender.clone(),
            move |watched| News::Account {
                decoy: index,
                watched,
            },
        ));
    }
    let to = sender.clone();
    let watching = client.clone();
    let all = decoys.to_vec();
    tasks.push(tokio::spawn(async move {
        let mut every = tokio::time::interval(bindings_every);
        every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut bindings_allowed = true;
        loop {
            every.tick().await;
            if !bindings_allowed {
                // Where bindings may not be listed, a GET the watcher's Role allows says
                // whether the API server answers.
                let first = &all[0];
                if cluster::secret_mark(&watching, &first.namespace, &first.secret)
                    .await
                    .is_ok()
                    && to.send(News::Answered).await.is_err()
                {
                    return;
                }
                continue;
            }
            let result = watches::bindings_naming_accounts(&watching, &all).await;
            let forbidden = result.as_ref().err().is_some_and(watches::forbidden);
            let news: Vec<News> = match result {
                Ok(found) => found
                    .into_iter()
                    .enumerate()
                    .map(|(decoy, names)| News::Bindings {
                        decoy,
                        found: Ok(names),
                        forbidden: false,
                    })
                    .collect(),
                Err(e) => vec![News::Bindings {
                    decoy: 0,
                    found: Err(e.to_string()),
                    forbidden,
                }],
            };
            for news in news {
                if to.send(news).await.is_err() {
                    return;
                }
            }
            bindings_allowed = !forbidden;
        }
    }));
    Running {
        tasks,
        client,
        decoys: decoys.to_vec(),
        sender,
    }
}

/// Sends what one watch sees, as news, until the watcher is gone.
fn forward(
    sightings: impl futures::Stream<Item = Watched> + Send + 'static,
    to: mpsc::Sender<News>,
    news: impl Fn(Watched) -> News + Send + 'static,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut sightings = Box::pin(sightings);
        while let Some(watched) = sightings.next().await {
            if to.send(news(watched)).await.is_err() {
                return;
            }
        }
    })
}

impl Running {
    /// Removes the stamp seen in `mark`, conditionally, in the background; the outcome
    /// comes back as news.
    pub fn rearm(&mut self, decoy: usize, mark: Mark) {
        let Some(target) = self.decoys.get(decoy).cloned() else {
            return;
        };
        let client = self.client.clone();
        let to = self.sender.clone();
        self.tasks.retain(|t| !t.is_finished());
        self.tasks.push(tokio::spawn(async move {
            let result = cluster::rearm(&client, &target.namespace, &target.secret, &mark).await;
            let forbidden = result.as_ref().err().is_some_and(watches::forbidden);
            let _ = to
                .send(News::Rearm {
                    decoy,
                    outcome: result.map_err(|e| e.to_string()),
                    forbidden,
                })
                .await;
        }));
    }
}

/// What the watcher does after one piece of news.
#[derive(Debug, Default)]
pub struct Step {
    /// Alerts to send, in order; with the drill ID a tripwire alert reports, if it is one.
    pub alerts: Vec<(Alert, Option<String>)>,
    /// Lines for stderr.
    pub lines: Vec<String>,
    /// Stamps to remove now.
    pub rearm: Vec<(usize, Mark)>,
    /// A re-arm ended: removed (true), or failed or given up (false). A re-arm refused
    /// because the stamp was already gone (a drill removed it) or that is tried again is
    /// neither.
    pub rearmed: Option<bool>,
}

#[derive(Debug, Default)]
struct Watching {
    secret: Track,
    account: Track,
    bindings: BTreeSet<String>,
    secret_failing: bool,
    account_failing: bool,
    /// Re-arms refused with 409 in a row while the stamp stayed.
    rearm_conflicts: u32,
}

/// Says once that a watch fails, and once that it works again; the sighting, if any.
fn watch_health(
    failing: &mut bool,
    what: &str,
    watched: Watched,
    lines: &mut Vec<String>,
) -> Option<Sighting> {
    match watched {
        Watched::Failed(why) => {
            if !std::mem::replace(failing, true) {
                lines.push(format!(
                    "watch: the watch of {what} failed ({}); retrying with back-off",
                    printable(&why)
                ));
            }
            None
        }
        Watched::Sighting(sighting) => {
            if std::mem::take(failing) {
                lines.push(format!("watch: watching {what} again"));
            }
            Some(sighting)
        }
    }
}

/// The tripwire's state: per decoy, what its watches last showed. Bounded by the number
/// of decoys (and, for stamps left to a drill, by the drill notices).
pub struct Tripwire {
    decoys: Vec<Decoy>,
    watching: Vec<Watching>,
    rearm: bool,
    /// Whether an audit source is on, for the alert's text.
    audit_on: bool,
    /// Decoys whose stamp is to be removed at a time, if still there then: a drill's
    /// when its notice's window ends, and a re-arm tried again after a conflict.
    deferred: Vec<(Instant, usize)>,
    told_bindings_forbidden: bool,
    told_rearm_forbidden: bool,
}

/// How long after a drill's stamp the watcher removes it itself if the drill did not.
pub const DRILL_REARM_AFTER: Duration = Duration::from_secs(30);

/// How often a re-arm refused with 409 (the Secret changed since seen) is tried again, with
/// the version seen last, while the stamp stays; the waits double from [`REARM_RETRY_AFTER`].
pub const REARM_RETRIES: u32 = 3;
pub const REARM_RETRY_AFTER: Duration = Duration::from_secs(1);

impl Tripwire {
    pub fn new(decoys: Vec<Decoy>, rearm: bool, audit_on: bool) -> Tripwire {
        Tripwire {
            watching: decoys.iter().map(|_| Watching::default()).collect(),
            decoys,
            rearm,
            audit_on,
            deferred: Vec::new(),
            told_bindings_forbidden: false,
            told_rearm_forbidden: false,
        }
    }

    pub fn decoys(&self) -> &[Decoy] {
        &self.decoys
    }

    /// When a deferred re-arm is due.
    pub fn next_deadline(&self) -> Option<Instant> {
        self.deferred.iter().map(|(at, _)| *at).min()
    }

    /// Re-arms due by `now`, with the Secret as last seen; none for a decoy whose Secret
    /// no longer shows a stamp (a drill removed its own). A re-arm with the latest version
    /// cannot remove an untold stamp: a use on another day shows as a new stamp and is
    /// told, and one on the same day leaves the label as it is.
    pub fn due(&mut self, now: Instant) -> Vec<(usize, Mark)> {
        let (due, later): (Vec<_>, Vec<_>) =
            self.deferred.drain(..).partition(|(at, _)| *at <= now);
        self.deferred = later;
        let decoys: BTreeSet<usize> = due.into_iter().map(|(_, decoy)| decoy).collect();
        decoys
            .into_iter()
            .filter_map(|decoy| {
                let latest = self.watching.get(decoy)?.secret.latest()?;
                latest.stamped().then(|| (decoy, latest.clone()))
            })
            .collect()
    }

    /// Decides what one piece of news means. `book` tells drills from attacks; `seen` is
    /// the wall-clock time the news arrived.
    pub fn take(
        &mut self,
        news: News,
        book: &mut DrillBook,
        seen: jiff::Timestamp,
        now: Instant,
    ) -> Step {
        let mut step = Step::default();
        match news {
            News::Secret { decoy, watched } => {
                let Some(target) = self.decoys.get(decoy).cloned() else {
                    return step;
                };
                let state = &mut self.watching[decoy];
                let Some(sighting) = watch_health(
                    &mut state.secret_failing,
                    &format!("Secret {}", target.secret_ref()),
                    watched,
                    &mut step.lines,
                ) else {
                    return step;
                };
                for finding in state.secret.sight(sighting) {
                    match finding {
                        Finding::Used { day, mark } => {
                            let drill = book.claim(&target.namespace, &target.secret, seen);
                            step.alerts.push((
                                used_alert(&target, &day, seen, drill.as_deref(), self.audit_on),
                                drill.clone(),
                            ));
                            state.rearm_conflicts = 0;
                            match rearm_plan(self.rearm, drill.is_some()) {
                                RearmPlan::Now => step.rearm.push((decoy, mark)),
                                RearmPlan::AfterDrill => {
                                    self.deferred.push((now + DRILL_REARM_AFTER, decoy))
                                }
                                RearmPlan::Never => {}
                            }
                        }
                        Finding::Broken(breakage) => step
                            .alerts
                            .push((broken_alert(&target, "Secret", &breakage, seen), None)),
                    }
                }
            }
            News::Account { decoy, watched } => {
                let Some(target) = self.decoys.get(decoy).cloned() else {
                    return step;
                };
                let state = &mut self.watching[decoy];
                let Some(sighting) = watch_health(
                    &mut state.account_failing,
                    &format!("ServiceAccount {}/{}", target.namespace, target.account),
                    watched,
                    &mut step.lines,
                ) else {
                    return step;
                };
                for finding in state.account.sight(sighting) {
                    // An account carries no stamp; only its presence and identity count.
                    if let Finding::Broken(breakage) = finding {
                        step.alerts.push((
                            broken_alert(&target, "ServiceAccount", &breakage, seen),
                            None,
                        ));
                    }
                }
            }
            News::Bindings {
                decoy,
                found,
                forbidden,
            } => {
                let Some(target) = self.decoys.get(decoy).cloned() else {
                    return step;
                };
                match found {
                    Ok(names) => {
                        let state = &mut self.watching[decoy];
                        let fresh = crate::decoy::tripwire::new_grants(&state.bindings, &names);
                        state.bindings = names.into_iter().collect();
                        if !fresh.is_empty() {
                            step.alerts.push((
                                broken_alert(
                                    &target,
                                    "ServiceAccount",
                                    &Breakage::Granted { bindings: fresh },
                                    seen,
                                ),
                                None,
                            ));
                        }
                    }
                    Err(why) if forbidden => {
                        if !std::mem::replace(&mut self.told_bindings_forbidden, true) {
                            step.lines.push(format!(
                                "watch: cannot look at the bindings of the decoys ({}); bindings granting them something will not be told, the rest goes on",
                                printable(&why)
                            ));
                        }
                    }
                    Err(why) => step.lines.push(format!(
                        "watch: cannot look at the bindings of the decoys: {}; trying again later",
                        printable(&why)
                    )),
                }
            }
            // Health only (see `Readiness`).
            News::Answered => {}
            News::Rearm {
                decoy,
                outcome,
                forbidden,
            } => {
                let Some(target) = self.decoys.get(decoy) else {
                    return step;
                };
                let state = &mut self.watching[decoy];
                let conflicts = std::mem::take(&mut state.rearm_conflicts);
                match outcome {
                    Ok(Rearmed::Done(_)) => {
                        step.rearmed = Some(true);
                        step.lines.push(format!(
                            "watch: re-armed the tripwire of Secret {}",
                            target.secret_ref()
                        ))
                    }
                    // The Secret changed since it was seen (409). A new stamp is seen and
                    // judged on its own; but a write that left the stamp (another label,
                    // an annotation) leaves it, and while it holds today no use stamps
                    // again: try again with the version seen last, a few times.
                    Ok(Rearmed::Changed) => {
                        if !state.secret.latest().is_some_and(Mark::stamped) {
                            // Gone already (a drill removed its own stamp): nothing failed.
                        } else if conflicts < REARM_RETRIES {
                            state.rearm_conflicts = conflicts + 1;
                            self.deferred
                                .push((now + REARM_RETRY_AFTER * 2u32.pow(conflicts), decoy));
                        } else {
                            step.rearmed = Some(false);
                            step.lines.push(format!(
                                "watch: gave up re-arming the tripwire of Secret {}: it changed before each of {} tries; until its label {} is removed, further uses that day leave no new stamp",
                                target.secret_ref(),
                                conflicts + 1,
                                crate::decoy::tripwire::LAST_USED_LABEL
                            ));
                        }
                    }
                    // Nothing to remove.
                    Ok(Rearmed::NotStamped | Rearmed::Gone) => {}
                    Err(why) if forbidden => {
                        step.rearmed = Some(false);
                        if !std::mem::replace(&mut self.told_rearm_forbidden, true) {
                            step.lines.push(format!(
                                "watch: cannot re-arm the tripwire of Secret {} ({}): give the watcher patch on it, or run with --no-rearm; until the stamp is removed, further uses that day leave no new stamp",
                                target.secret_ref(),
                                printable(&why)
                            ));
                        }
                    }
                    Err(why) => {
                        step.rearmed = Some(false);
                        step.lines.push(format!(
                            "watch: cannot re-arm the tripwire of Secret {}: {}",
                            target.secret_ref(),
                            printable(&why)
                        ))
                    }
                }
            }
        }
        step
    }
}

fn tripwire_alert(
    decoy: &Decoy,
    signal: &'static str,
    drill: bool,
    seen: jiff::Timestamp,
    text: String,
) -> Alert {
    Alert {
        kind: "HoneytokenAlert",
        schema_version: 1,
        drill,
        drill_mark: if drill {
            DrillClaim::Genuine
        } else {
            DrillClaim::None
        },
        user: decoy.username(),
        source_ips: Vec::new(),
        user_agent: String::new(),
        first_seen: Some(seen),
        last_seen: Some(seen),
        requests: Vec::new(),
        requests_not_listed: 0,
        stamps: Vec::new(),
        audit_ids: Vec::new(),
        source: if signal == BROKEN {
            "cluster".into()
        } else {
            "tripwire".into()
        },
        text,
        signal,
        alert_id: new_alert_id(),
        update: false,
        secret: Some(decoy.secret_ref()),
        context: None,
        server: None,
    }
}

/// The token authenticated: the API server stamped its Secret.
pub fn used_alert(
    decoy: &Decoy,
    day: &str,
    seen: jiff::Timestamp,
    drill: Option<&str>,
    audit_on: bool,
) -> Alert {
    let what = format!(
        "the token of Secret {} ({}) authenticated to the API server (stamp {day} seen at {seen})",
        decoy.secret_ref(),
        decoy.username()
    );
    let text = match drill {
        Some(id) => format!("Honeytoken drill (not an attack): {what}; drill notice {id}"),
        None if audit_on => format!(
            "DECOY TOKEN USED: {what}; audit events of the use will follow as updates of this alert, with who and from where"
        ),
        None => format!(
            "DECOY TOKEN USED: {what}; no audit source is watched: the cluster's audit log, if it has one, tells who and from where"
        ),
    };
    tripwire_alert(decoy, TRIPWIRE, drill.is_some(), seen, text)
}

/// The decoy stopped being a working decoy.
pub fn broken_alert(
    decoy: &Decoy,
    object: &str,
    breakage: &Breakage,
    seen: jiff::Timestamp,
) -> Alert {
    let name = match object {
        "Secret" => decoy.secret_ref(),
        _ => format!("{}/{}", decoy.namespace, decoy.account),
    };
    let what = match breakage {
        Breakage::Missing => format!("{object} {name} does not exist"),
        Breakage::Deleted => format!("{object} {name} was deleted"),
        Breakage::Replaced { before, after } => format!(
            "{object} {name} was replaced by another object of the same name (uid {before} -> {after})"
        ),
        Breakage::Invalidated { since } => format!(
            "{object} {name} was invalidated by the legacy token cleaner on {since}: its token no longer authenticates, and its use is no longer stamped with a user"
        ),
        Breakage::TokenRemoved => format!(
            "{object} {name} lost its token (data.token was removed): the decoy no longer authenticates"
        ),
        Breakage::Granted { bindings } => format!(
            "{} is granted permissions by {}: a decoy must grant nothing",
            decoy.username(),
            bindings.join(", ")
        ),
    };
    let text = format!(
        "DECOY BROKEN: {what} (seen at {seen}); run `kubectl honeytoken status`, and plant again if needed"
    );
    tripwire_alert(decoy, BROKEN, false, seen, text)
}

/// Joins alerts about one use: audit alerts that follow a tripwire alert of the same decoy
/// user within the window take its ID and are marked as updates, and a stamp that follows an
/// audit alert (not yet joined by a stamp) joins it. Drills join only drills. Each stamp is
/// one use: a second stamp is never an update of the first.
pub struct Correlator {
    window: Duration,
    recent: VecDeque<Recent>,
}

struct Recent {
    user: String,
    drill: bool,
    alert_id: String,
    at: Instant,
    stamped: bool,
}

/// Alerts remembered for joining, at most.
const RECENT_AT_MOST: usize = 1024;

impl Correlator {
    pub fn new(window: Duration) -> Correlator {
        Correlator {
            window,
            recent: VecDeque::new(),
        }
    }

    pub fn correlate(&mut self, alert: &mut Alert, now: Instant) {
        while self
            .recent
            .front()
            .is_some_and(|r| now.duration_since(r.at) > self.window)
            || self.recent.len() > RECENT_AT_MOST
        {
            self.recent.pop_front();
        }
        let stamp = match alert.signal {
            BROKEN => return,
            TRIPWIRE => true,
            // An audit alert, of requests or of the stamp's own event.
            _ => false,
        };
        let earlier = self.recent.iter_mut().rev().find(|r| {
            r.user == alert.user
                && r.drill == alert.drill
                && (if stamp { !r.stamped } else { r.stamped })
        });
        match earlier {
            Some(earlier) => {
                alert.alert_id = earlier.alert_id.clone();
                alert.update = true;
                earlier.stamped |= stamp;
                earlier.at = now;
            }
            None => self.recent.push_back(Recent {
                user: alert.user.clone(),
                drill: alert.drill,
                alert_id: alert.alert_id.clone(),
                at: now,
                stamped: stamp,
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decoy::tripwire::{LAST_USED_LABEL, Sighting};
    use crate::detect::notice::{DrillBook, notice_for, sign};
    use crate::home::Key;

    fn decoy() -> Decoy {
        Decoy {
            namespace: "kube-system".into(),
            secret: "tiller-token-abcde".into(),
            account: "tiller".into(),
        }
    }

    fn mark(uid: &str, version: &str, day: Option<&str>) -> Mark {
        Mark {
            uid: Some(uid.into()),
            resource_version: Some(version.into()),
            last_used: day.map(String::from),
            invalid_since: None,
            token_managed: None,
        }
    }

    fn secret(sighting: Sighting) -> News {
        News::Secret {
            decoy: 0,
            watched: Watched::Sighting(sighting),
        }
    }

    fn at(text: &str) -> jiff::Timestamp {
        text.parse().unwrap()
    }

    fn started(tripwire: &mut Tripwire, book: &mut DrillBook, first: Mark) -> Step {
        let now = Instant::now();
        tripwire.take(
            secret(Sighting::Relisting),
            book,
            at("2026-12-03T10:00:00Z"),
            now,
        );
        let step = tripwire.take(
            secret(Sighting::Listed(first)),
            book,
            at("2026-12-03T10:00:00Z"),
            now,
        );
        tripwire.take(
            secret(Sighting::ListDone),
            book,
            at("2026-12-03T10:00:00Z"),
            now,
        );
        step
    }

    #[test]
    fn a_stamp_is_an_attack_alert_and_is_re_armed_at_once() {
        let mut tripwire = Tripwire::new(vec![decoy()], true, false);
        let mut book = DrillBook::new(Some(Key::from_bytes([1; 32])));
        assert!(
            started(&mut tripwire, &mut book, mark("u", "1", None))
                .alerts
                .is_empty()
        );
        let stamped = mark("u", "2", Some("2026-12-03"));
        let step = tripwire.take(
            secret(Sighting::Applied(stamped.clone())),
            &mut book,
            at("2026-12-03T10:00:05Z"),
            Instant::now(),
        );
        assert_eq!(step.alerts.len(), 1);
        let (alert, drill) = &step.alerts[0];
        assert_eq!(drill, &None);
        assert!(!alert.drill);
        assert_eq!(alert.signal, TRIPWIRE);
        assert_eq!(alert.user, "system:serviceaccount:kube-system:tiller");
        assert_eq!(
            alert.secret.as_deref(),
            Some("kube-system/tiller-token-abcde")
        );
        assert!(
            alert
                .text
                .starts_with("DECOY TOKEN USED: the token of Secret"),
            "{}",
            alert.text
        );
        assert!(alert.text.contains("no audit source"), "{}", alert.text);
        assert_eq!(step.rearm, vec![(0, stamped)]);
        // Its re-arm is no news.
        let step = tripwire.take(
            secret(Sighting::Applied(mark("u", "3", None))),
            &mut book,
            at("2026-12-03T10:00:05Z"),
            Instant::now(),
        );
        assert!(step.alerts.is_empty() && step.rearm.is_empty());
    }

    #[test]
    fn a_stamp_found_at_start_is_reported_and_no_rearm_leaves_it() {
        let mut tripwire = Tripwire::new(vec![decoy()], false, true);
        let mut book = DrillBook::new(None);
        let step = started(&mut tripwire, &mut book, mark("u", "1", Some("2026-12-02")));
        assert_eq!(step.alerts.len(), 1);
        assert!(
            step.alerts[0]
                .0
                .text
                .contains("audit events of the use will follow")
        );
        assert!(step.rearm.is_empty());
    }

    #[test]
    fn an_announced_drill_is_a_drill_once_and_a_second_stamp_is_an_attack() {
        let key = Key::from_bytes([1; 32]);
        let mut tripwire = Tripwire::new(vec![decoy()], true, false);
        let mut book = DrillBook::new(Some(key.clone()));
        started(&mut tripwire, &mut book, mark("u", "1", None));
        let issued = at("2026-12-03T10:00:01Z");
        let notice = notice_for(
            "kube-system",
            "tiller-token-abcde",
            issued,
            Duration::from_secs(60),
        );
        let id = book
            .accept(&serde_json::to_vec(&sign(&key, notice)).unwrap(), issued)
            .unwrap();
        let now = Instant::now();
        let step = tripwire.take(
            secret(Sighting::Applied(mark("u", "2", Some("2026-12-03")))),
            &mut book,
            at("2026-12-03T10:00:02Z"),
            now,
        );
        let (alert, drill) = &step.alerts[0];
        assert!(alert.drill);
        assert_eq!(drill.as_deref(), Some(id.as_str()));
        assert!(alert.text.starts_with("Honeytoken drill (not an attack)"));
        // Left to the drill, removed by the watcher if still there later.
        assert!(step.rearm.is_empty());
        assert_eq!(tripwire.next_deadline(), Some(now + DRILL_REARM_AFTER));
        assert!(tripwire.due(now).is_empty());

        // The drill removed its stamp: the watcher's later re-arm is not tried (it would
        // only be refused, 409, and look like a failure).
        let step = tripwire.take(
            secret(Sighting::Applied(mark("u", "3", None))),
            &mut book,
            at("2026-12-03T10:00:03Z"),
            now,
        );
        assert!(step.alerts.is_empty() && step.rearm.is_empty());
        assert!(tripwire.due(now + DRILL_REARM_AFTER).is_empty());
        assert_eq!(tripwire.next_deadline(), None);
        let step = tripwire.take(
            secret(Sighting::Applied(mark("u", "4", Some("2026-12-03")))),
            &mut book,
            at("2026-12-03T10:00:15Z"),
            now,
        );
        assert!(
            !step.alerts[0].0.drill,
            "the same minute, a second stamp: an attack"
        );
        assert_eq!(step.rearm.len(), 1);
    }

    #[test]
    fn deleted_replaced_and_invalidated_secrets_and_deleted_accounts_are_broken() {
        let mut tripwire = Tripwire::new(vec![decoy()], true, false);
        let mut book = DrillBook::new(None);
        started(&mut tripwire, &mut book, mark("u1", "1", None));
        let seen = at("2026-12-03T10:00:05Z");
        let now = Instant::now();
        let mut invalid = mark("u1", "2", None);
        invalid.invalid_since = Some("2026-12-03".into());
        let step = tripwire.take(secret(Sighting::Applied(invalid)), &mut book, seen, now);
        assert!(
            step.alerts[0].0.text.contains("invalidated"),
            "{}",
            step.alerts[0].0.text
        );
        let step = tripwire.take(secret(Sighting::Deleted), &mut book, seen, now);
        assert_eq!(step.alerts[0].0.signal, BROKEN);
        assert!(step.alerts[0].0.text.contains("was deleted"));
        let step = tripwire.take(
            secret(Sighting::Applied(mark("u2", "9", None))),
            &mut book,
            seen,
            now,
        );
        assert!(
            step.alerts[0].0.text.contains("replaced"),
            "{}",
            step.alerts[0].0.text
        );

        let account = |sighting| News::Account {
            decoy: 0,
            watched: Watched::Sighting(sighting),
        };
        tripwire.take(account(Sighting::Relisting), &mut book, seen, now);
        tripwire.take(
            account(Sighting::Listed(mark("a1", "1", None))),
            &mut book,
            seen,
            now,
        );
        tripwire.take(account(Sighting::ListDone), &mut book, seen, now);
        let step = tripwire.take(account(Sighting::Deleted), &mut book, seen, now);
        assert!(
            step.alerts[0]
                .0
                .text
                .contains("ServiceAccount kube-system/tiller was deleted"),
            "{}",
            step.alerts[0].0.text
        );
    }

    #[test]
    fn a_granting_binding_is_told_once_and_forbidden_lists_are_said_once() {
        let mut tripwire = Tripwire::new(vec![decoy()], true, false);
        let mut book = DrillBook::new(None);
        let seen = at("2026-12-03T10:00:05Z");
        let now = Instant::now();
        let bindings = |names: &[&str]| News::Bindings {
            decoy: 0,
            found: Ok(names.iter().map(|n| n.to_string()).collect()),
            forbidden: false,
        };
        assert!(
            tripwire
                .take(bindings(&[]), &mut book, seen, now)
                .alerts
                .is_empty()
        );
        let step = tripwire.take(bindings(&["ClusterRoleBinding x"]), &mut book, seen, now);
        assert!(step.alerts[0].0.text.contains("ClusterRoleBinding x"));
        assert!(
            tripwire
                .take(bindings(&["ClusterRoleBinding x"]), &mut book, seen, now)
                .alerts
                .is_empty()
        );
        let forbidden = || News::Bindings {
            decoy: 0,
            found: Err("forbidden".into()),
            forbidden: true,
        };
        assert_eq!(
            tripwire.take(forbidden(), &mut book, seen, now).lines.len(),
            1
        );
        assert!(
            tripwire
                .take(forbidden(), &mut book, seen, now)
                .lines
                .is_empty()
        );
    }

    #[test]
    fn a_failing_watch_is_told_once_until_it_works_again() {
        let mut tripwire = Tripwire::new(vec![decoy()], true, false);
        let mut book = DrillBook::new(None);
        let seen = at("2026-12-03T10:00:05Z");
        let now = Instant::now();
        let failed = || News::Secret {
            decoy: 0,
            watched: Watched::Failed("connection refused".into()),
        };
        assert_eq!(tripwire.take(failed(), &mut book, seen, now).lines.len(), 1);
        assert!(
            tripwire
                .take(failed(), &mut book, seen, now)
                .lines
                .is_empty()
        );
        let step = tripwire.take(secret(Sighting::Relisting), &mut book, seen, now);
        assert!(step.lines[0].contains("again"));
    }

    fn audit_alert(user: &str, drill: bool) -> Alert {
        let mut alert = used_alert(
            &decoy(),
            "2026-12-03",
            at("2026-12-03T10:00:00Z"),
            None,
            true,
        );
        alert.signal = "request";
        alert.user = user.into();
        alert.drill = drill;
        alert.alert_id = new_alert_id();
        alert
    }

    #[test]
    fn audit_alerts_of_a_use_join_its_tripwire_alert_and_a_second_stamp_pages_again() {
        let mut correlator = Correlator::new(Duration::from_secs(22));
        let t0 = Instant::now();
        let user = decoy().username();
        let mut stamp = used_alert(
            &decoy(),
            "2026-12-03",
            at("2026-12-03T10:00:00Z"),
            None,
            true,
        );
        correlator.correlate(&mut stamp, t0);
        assert!(!stamp.update);
        let mut audit = audit_alert(&user, false);
        correlator.correlate(&mut audit, t0 + Duration::from_secs(3));
        assert!(audit.update);
        assert_eq!(audit.alert_id, stamp.alert_id);
        let mut second = used_alert(
            &decoy(),
            "2026-12-03",
            at("2026-12-03T10:00:15Z"),
            None,
            true,
        );
        correlator.correlate(&mut second, t0 + Duration::from_secs(15));
        assert!(!second.update, "each stamp is a use");
        assert_ne!(second.alert_id, stamp.alert_id);
        // A drill's audit alert never becomes an update of an attack.
        let mut drill = audit_alert(&user, true);
        correlator.correlate(&mut drill, t0 + Duration::from_secs(16));
        assert!(!drill.update);
        // Outside the window: a new alert.
        let mut late = audit_alert(&user, false);
        correlator.correlate(&mut late, t0 + Duration::from_secs(60));
        assert!(!late.update);
    }

    #[test]
    fn a_stamp_after_its_audit_alert_joins_it_once() {
        let mut correlator = Correlator::new(Duration::from_secs(22));
        let t0 = Instant::now();
        let mut audit = audit_alert(&decoy().username(), false);
        correlator.correlate(&mut audit, t0);
        let mut stamp = used_alert(
            &decoy(),
            "2026-12-03",
            at("2026-12-03T10:00:00Z"),
            None,
            true,
        );
        correlator.correlate(&mut stamp, t0 + Duration::from_secs(1));
        assert!(stamp.update);
        assert_eq!(stamp.alert_id, audit.alert_id);
        let mut again = used_alert(
            &decoy(),
            "2026-12-03",
            at("2026-12-03T10:00:12Z"),
            None,
            true,
        );
        correlator.correlate(&mut again, t0 + Duration::from_secs(12));
        assert!(!again.update);
    }

    #[test]
    fn broken_alerts_are_never_joined() {
        let mut correlator = Correlator::new(Duration::from_secs(22));
        let mut alert = broken_alert(
            &decoy(),
            "Secret",
            &Breakage::Deleted,
            at("2026-12-03T10:00:00Z"),
        );
        let id = alert.alert_id.clone();
        correlator.correlate(&mut alert, Instant::now());
        assert_eq!(alert.alert_id, id);
        assert!(!alert.update);
        let _ = LAST_USED_LABEL;
    }

    #[test]
    fn the_source_is_ready_once_every_watch_has_listed_and_a_later_list_is_a_reconnect() {
        let secret = |decoy, sighting| News::Secret {
            decoy,
            watched: Watched::Sighting(sighting),
        };
        let account = |decoy, sighting| News::Account {
            decoy,
            watched: Watched::Sighting(sighting),
        };
        let mut readiness = Readiness::new(2);
        assert!(!readiness.take(&secret(0, Sighting::Relisting)).reconnected);
        assert!(!readiness.take(&secret(0, Sighting::ListDone)).ready_now);
        assert!(!readiness.take(&account(0, Sighting::ListDone)).ready_now);
        assert!(!readiness.take(&secret(1, Sighting::ListDone)).ready_now);
        // A watch listing twice before the others counts once.
        assert!(!readiness.take(&secret(1, Sighting::ListDone)).ready_now);
        let last = readiness.take(&account(1, Sighting::ListDone));
        assert!(last.ready_now && last.seen);
        assert!(
            !readiness.take(&account(1, Sighting::ListDone)).ready_now,
            "told once"
        );
        assert!(readiness.take(&secret(0, Sighting::Relisting)).reconnected);
        let failed = readiness.take(&News::Secret {
            decoy: 0,
            watched: Watched::Failed("gone".into()),
        });
        assert!(failed.failed && !failed.seen);
        assert!(
            failed.not_ready_now,
            "a failed watch: the source is not ready"
        );
        let again = readiness.take(&News::Secret {
            decoy: 0,
            watched: Watched::Failed("gone".into()),
        });
        assert!(again.failed && !again.not_ready_now, "told once");
        // Another watch listing does not make it ready; the failed one listing again does,
        // or bringing a change.
        assert!(!readiness.take(&account(1, Sighting::ListDone)).ready_now);
        readiness.take(&News::Secret {
            decoy: 0,
            watched: Watched::Failed("gone".into()),
        });
        assert!(
            readiness
                .take(&secret(0, Sighting::Applied(Mark::default())))
                .ready_now
        );
        assert!(
            readiness
                .take(&News::Secret {
                    decoy: 0,
                    watched: Watched::Failed("gone".into()),
                })
                .not_ready_now
        );
        assert!(readiness.take(&secret(0, Sighting::Relisting)).reconnected);
        assert!(readiness.take(&secret(0, Sighting::ListDone)).ready_now);
    }

    #[test]
    fn a_watch_failing_before_the_first_list_keeps_the_source_not_ready_without_telling() {
        let mut readiness = Readiness::new(1);
        let failed = readiness.take(&News::Account {
            decoy: 0,
            watched: Watched::Failed("forbidden".into()),
        });
        assert!(failed.failed && !failed.not_ready_now && !failed.ready_now);
        for news in [
            News::Secret {
                decoy: 0,
                watched: Watched::Sighting(Sighting::ListDone),
            },
            News::Account {
                decoy: 0,
                watched: Watched::Sighting(Sighting::Relisting),
            },
        ] {
            let health = readiness.take(&news);
            assert!(!health.ready_now && !health.reconnected);
        }
        assert!(
            readiness
                .take(&News::Account {
                    decoy: 0,
                    watched: Watched::Sighting(Sighting::ListDone),
                })
                .ready_now
        );
    }

    fn rearmed(outcome: Result<Rearmed, String>) -> News {
        News::Rearm {
            decoy: 0,
            outcome,
            forbidden: false,
        }
    }

    #[test]
    fn a_conflicting_re_arm_is_tried_again_with_the_latest_version_while_the_stamp_stays() {
        let mut tripwire = Tripwire::new(vec![decoy()], true, false);
        let mut book = DrillBook::new(None);
        let seen = at("2026-12-03T10:00:05Z");
        let now = Instant::now();
        started(&mut tripwire, &mut book, mark("u", "1", None));
        let step = tripwire.take(
            secret(Sighting::Applied(mark("u", "2", Some("2026-12-03")))),
            &mut book,
            seen,
            now,
        );
        assert_eq!(step.rearm, vec![(0, mark("u", "2", Some("2026-12-03")))]);
        // Someone labels the Secret: the re-arm of version 2 gets 409, the stamp stays.
        tripwire.take(
            secret(Sighting::Applied(mark("u", "3", Some("2026-12-03")))),
            &mut book,
            seen,
            now,
        );
        let mut at_time = now;
        for tries in 0..REARM_RETRIES {
            let step = tripwire.take(rearmed(Ok(Rearmed::Changed)), &mut book, seen, at_time);
            assert_eq!(step.rearmed, None, "tried again: not a failure yet");
            assert!(step.lines.is_empty(), "{:?}", step.lines);
            let wait = REARM_RETRY_AFTER * 2u32.pow(tries);
            assert_eq!(tripwire.next_deadline(), Some(at_time + wait));
            assert!(tripwire.due(at_time + wait / 2).is_empty());
            at_time += wait;
            assert_eq!(
                tripwire.due(at_time),
                vec![(0, mark("u", "3", Some("2026-12-03")))],
                "with the version seen last"
            );
        }
        let step = tripwire.take(rearmed(Ok(Rearmed::Changed)), &mut book, seen, at_time);
        assert_eq!(step.rearmed, Some(false));
        assert!(step.lines[0].contains("gave up"), "{:?}", step.lines);
        assert_eq!(tripwire.next_deadline(), None);

        // A re-arm that works starts the count over.
        tripwire.take(rearmed(Ok(Rearmed::Changed)), &mut book, seen, at_time);
        let step = tripwire.take(
            rearmed(Ok(Rearmed::Done(mark("u", "4", None)))),
            &mut book,
            seen,
            at_time,
        );
        assert_eq!(step.rearmed, Some(true));
    }

    #[test]
    fn a_conflict_after_the_stamp_is_gone_is_no_failure_and_not_tried_again() {
        let mut tripwire = Tripwire::new(vec![decoy()], true, false);
        let mut book = DrillBook::new(None);
        let seen = at("2026-12-03T10:00:05Z");
        let now = Instant::now();
        started(&mut tripwire, &mut book, mark("u", "1", None));
        tripwire.take(
            secret(Sighting::Applied(mark("u", "2", Some("2026-12-03")))),
            &mut book,
            seen,
            now,
        );
        tripwire.take(
            secret(Sighting::Applied(mark("u", "3", None))),
            &mut book,
            seen,
            now,
        );
        let step = tripwire.take(rearmed(Ok(Rearmed::Changed)), &mut book, seen, now);
        assert_eq!(step.rearmed, None);
        assert!(step.lines.is_empty());
        assert_eq!(tripwire.next_deadline(), None);
        for (outcome, counted) in [
            (Err("forbidden".to_string()), Some(false)),
            (Ok(Rearmed::NotStamped), None),
            (Ok(Rearmed::Gone), None),
        ] {
            let step = tripwire.take(rearmed(outcome), &mut book, seen, now);
            assert_eq!(step.rearmed, counted);
        }
    }

    #[test]
    fn a_deferred_drill_re_arm_removes_a_stamp_the_drill_left() {
        let key = Key::from_bytes([1; 32]);
        let mut tripwire = Tripwire::new(vec![decoy()], true, false);
        let mut book = DrillBook::new(Some(key.clone()));
        started(&mut tripwire, &mut book, mark("u", "1", None));
        let issued = at("2026-12-03T10:00:01Z");
        let notice = notice_for(
            "kube-system",
            "tiller-token-abcde",
            issued,
            Duration::from_secs(60),
        );
        book.accept(&serde_json::to_vec(&sign(&key, notice)).unwrap(), issued)
            .unwrap();
        let now = Instant::now();
        let step = tripwire.take(
            secret(Sighting::Applied(mark("u", "2", Some("2026-12-03")))),
            &mut book,
            at("2026-12-03T10:00:02Z"),
            now,
        );
        assert!(step.alerts[0].0.drill && step.rearm.is_empty());
        assert_eq!(
            tripwire.due(now + DRILL_REARM_AFTER),
            vec![(0, mark("u", "2", Some("2026-12-03")))]
        );
    }

    #[test]
    fn a_source_that_failed_is_ready_again_once_the_api_server_answers_the_bindings_look() {
        let mut readiness = Readiness::new(1);
        for news in [
            News::Secret {
                decoy: 0,
                watched: Watched::Sighting(Sighting::ListDone),
            },
            News::Account {
                decoy: 0,
                watched: Watched::Sighting(Sighting::ListDone),
            },
        ] {
            readiness.take(&news);
        }
        let failed = readiness.take(&News::Secret {
            decoy: 0,
            watched: Watched::Failed("connection refused".into()),
        });
        assert!(failed.not_ready_now);
        let unanswered = News::Bindings {
            decoy: 0,
            found: Err("connection refused".into()),
            forbidden: false,
        };
        assert!(!readiness.take(&unanswered).ready_now);
        let answered = News::Bindings {
            decoy: 0,
            found: Err("forbidden".into()),
            forbidden: true,
        };
        assert!(readiness.take(&answered).ready_now);
        assert!(!readiness.take(&answered).ready_now, "told once");
        // Where bindings may not be listed, a plain GET that the API server answered.
        assert!(
            readiness
                .take(&News::Account {
                    decoy: 0,
                    watched: Watched::Failed("connection refused".into()),
                })
                .not_ready_now
        );
        assert!(readiness.take(&News::Answered).ready_now);
    }
}
