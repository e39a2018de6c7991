//! Errors the command line reports. Each message says what failed and on what object, so a
//! user can act on it without a debug dump.

use std::process::ExitCode;

use crate::exit;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(
        "`kubectl honeytoken {command}` is not available in this version yet; nothing was done"
    )]
    NotImplemented { command: &'static str },
}

impl Error {
    pub fn exit_code(&self) -> ExitCode {
        match self {
            Error::NotImplemented { .. } => ExitCode::from(exit::FAILED),
        }
    }
}
