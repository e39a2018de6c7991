//! Detection: grouping decoy events into alerts, the sinks alerts go to (and the shapes
//! Alertmanager and Falcosidekick take them in), the audit webhook
//! receiver, the drill that proves the path from a request to an alert, and the watcher's
//! own health (metrics and probes).

pub(crate) mod alert;
pub(crate) mod alertmanager;
pub mod drill;
pub(crate) mod falco;
pub mod metrics;
pub mod notice;
pub(crate) mod notify;
pub mod tripwatch;
pub(crate) mod webhook;
