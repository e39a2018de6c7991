use std::process::ExitCode;

use clap::{CommandFactory, FromArgMatches};
use kubectl_honeytoken::{COMPLETE_WORD, Cli, KUBECTL_COMPLETE_NAME, complete, run};

#[tokio::main]
async fn main() -> ExitCode {
    // Like other command-line tools, end quietly when the reader of our output goes away
    // (`| head`), instead of failing on the write.
    #[cfg(unix)]
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
    // Completion: `kubectl-honeytoken __complete WORDS…`, or this executable run under the
    // name kubectl looks for (a link named kubectl_complete-honeytoken).
    let mut args: Vec<String> = std::env::args_os()
        .map(|a| a.to_string_lossy().into_owned())
        .collect();
    let called_as_completer = args.first().is_some_and(|first| {
        std::path::Path::new(first)
            .file_name()
            .is_some_and(|name| name == KUBECTL_COMPLETE_NAME)
    });
    if called_as_completer || args.get(1).map(String::as_str) == Some(COMPLETE_WORD) {
        let words = args.split_off(if called_as_completer { 1 } else { 2 });
        print!("{}", complete(&words));
        return ExitCode::SUCCESS;
    }
    let matches = Cli::command().get_matches();
    let mut cli = Cli::from_arg_matches(&matches).unwrap_or_else(|e| e.exit());
    cli.global.output_given =
        matches.value_source("output") == Some(clap::parser::ValueSource::CommandLine);
    match run(cli).await {
        Ok(outcome) => outcome.exit_code(),
        Err(error) => {
            eprintln!("error: {error}");
            error.exit_code()
        }
    }
}
