//! The command line: parse, run one command, report errors in one line.

mod args;
mod bench;
mod commands;
mod eval;
mod session;

use std::io::{self, Write};
use std::process::ExitCode;

use clap::Parser;

pub use args::Cli;

/// Exit codes (README "Errors and exit codes").
const EXIT_FAILURE: u8 = 1;
const EXIT_USAGE: u8 = 2;

/// An error the user caused by how the command was called (exit code 2).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct UsageError(pub String);

pub fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let code = if e.use_stderr() { EXIT_USAGE } else { 0 };
            let _ = e.print();
            return ExitCode::from(code);
        }
    };
    if let Some(threads) = cli.global.threads {
        // Read by rayon and candle when their thread pools start, which is later than this.
        std::env::set_var("RAYON_NUM_THREADS", threads.to_string());
    }
    let verbose = cli.global.verbose;
    match commands::run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) if is_broken_pipe(&e) => ExitCode::SUCCESS,
        Err(e) => {
            let mut stderr = io::stderr().lock();
            let _ = write!(stderr, "themescope: error: {e}");
            if verbose {
                for cause in e.chain().skip(1) {
                    let _ = write!(stderr, "\n  caused by: {cause}");
                }
            }
            let _ = writeln!(stderr);
            if e.downcast_ref::<UsageError>().is_some() {
                ExitCode::from(EXIT_USAGE)
            } else {
                ExitCode::from(EXIT_FAILURE)
            }
        }
    }
}

/// Output into a closed pipe (`| head`) ends the run quietly.
fn is_broken_pipe(e: &anyhow::Error) -> bool {
    e.chain().any(|cause| {
        let io_kind = cause
            .downcast_ref::<io::Error>()
            .map(io::Error::kind)
            .or_else(|| cause.downcast_ref::<serde_json::Error>()?.io_error_kind());
        io_kind == Some(io::ErrorKind::BrokenPipe)
    })
}
