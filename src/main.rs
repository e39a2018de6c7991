use std::process::ExitCode;

use clap::Parser;
use kubectl_honeytoken::{Cli, run};

#[tokio::main]
async fn main() -> ExitCode {
    // Like other command-line tools, end quietly when the reader of our output goes away
    // (`| head`), instead of failing on the write.
    #[cfg(unix)]
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
    let cli = Cli::parse();
    match run(cli).await {
        Ok(outcome) => outcome.exit_code(),
        Err(error) => {
            eprintln!("error: {error}");
            error.exit_code()
        }
    }
}
