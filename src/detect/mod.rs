//! Detection: grouping decoy events into alerts, the sinks alerts go to, the audit webhook
//! receiver, and the drill that proves the path from a request to an alert.

pub(crate) mod alert;
pub mod drill;
pub mod notice;
pub(crate) mod notify;
pub mod tripwatch;
pub(crate) mod webhook;
