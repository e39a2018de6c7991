//! Exit codes, documented in the README ("Exit codes"). Scripts depend on them: never
//! renumber one, only add.

use std::process::ExitCode;

/// Success: the command did what was asked; for `status`, every decoy is armed or drilled.
pub const OK: u8 = 0;
/// The command could not do what was asked (connection, permission, conflict, timeout,
/// drill events that never arrived, a command not available in this version). The message
/// on stderr says why.
pub const FAILED: u8 = 1;
/// The command line was not understood (clap's own code for usage errors: clap exits with
/// it itself, so it is named here only to keep the table whole).
#[allow(dead_code)]
pub const USAGE: u8 = 2;
/// `status`: a decoy's token was used on a day with no recorded drill; `scan`: a use that
/// is not a drill was found.
pub const TRIPPED: u8 = 3;
/// `status`: a decoy is broken or unsafe (missing, invalidated, granted permissions);
/// `test-trigger`: the decoy token was allowed to read Secrets.
pub const BROKEN: u8 = 4;
/// `verify`: a critical check failed or could not be checked.
pub const VERIFY_FAILED: u8 = 5;
/// `status`: no decoy of this key was found where it looked (and none is recorded there).
pub const NO_DECOYS: u8 = 6;
/// `plant` was interrupted by SIGINT (128 + 2, as shells report it); what it had made was
/// deleted again, or the message says what is left.
pub const INTERRUPTED: u8 = 130;
/// The same, by SIGTERM (128 + 15).
pub const TERMINATED: u8 = 143;

/// How a command that ran to completion ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Success,
    Tripped,
    Broken,
    VerifyFailed,
    /// `scan`: no real use found, but some input could not be read to its end.
    Incomplete,
    /// `status`: no decoy of this key where it looked.
    NoDecoys,
    /// A fleet: the most serious exit code of its contexts ([`crate::cluster::fleet::worst`]).
    Fleet(u8),
}

impl Outcome {
    pub fn code(self) -> u8 {
        match self {
            Outcome::Success => OK,
            Outcome::Tripped => TRIPPED,
            Outcome::Broken => BROKEN,
            Outcome::VerifyFailed => VERIFY_FAILED,
            Outcome::Incomplete => FAILED,
            Outcome::NoDecoys => NO_DECOYS,
            Outcome::Fleet(code) => code,
        }
    }

    pub fn exit_code(self) -> ExitCode {
        ExitCode::from(self.code())
    }
}
