//! One module per command: each parses its flags into a plan, acts through the wings below,
//! and shows the result. Nothing outside `lib.rs` imports a command.

pub mod plant;
pub mod remove;
pub mod rules;
pub mod scan;
pub mod status;
pub mod trigger;
pub mod verify;
pub mod watch;
