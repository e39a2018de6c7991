//! Detection: grouping decoy events into alerts, the sinks alerts go to, the audit webhook
//! receiver, and the drill that proves the path from a request to an alert.

pub mod alert;
pub mod drill;
pub mod notify;
pub mod webhook;
