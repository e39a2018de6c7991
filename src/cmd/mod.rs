//! One module per command: each parses its flags into a plan, acts through the wings below,
//! and shows the result. Nothing outside `lib.rs` imports a command.

pub(crate) mod completion;
pub(crate) mod kubeconfig;
pub(crate) mod plant;
pub(crate) mod rbac;
pub(crate) mod remove;
pub(crate) mod rules;
pub mod scan;
pub(crate) mod status;
pub(crate) mod trigger;
pub(crate) mod verify;
pub(crate) mod version;
pub(crate) mod watch;
