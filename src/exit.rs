//! Exit codes, documented in the README ("Exit codes"). Scripts depend on them: never
//! renumber one, only add.

use std::process::ExitCode;

/// Success: the command did what was asked.
pub const OK: u8 = 0;
/// The command could not do what was asked (connection, permission, conflict, timeout, a
/// command not available in this version). The message on stderr says why.
pub const FAILED: u8 = 1;
/// The command line was not understood (clap's own code for usage errors).
pub const USAGE: u8 = 2;

/// How a command that ran to completion ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Success,
}

impl Outcome {
    pub fn exit_code(self) -> ExitCode {
        match self {
            Outcome::Success => ExitCode::from(OK),
        }
    }
}
