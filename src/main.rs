//! The `themescope` command: a thin layer of argument parsing and output over the library.

use std::process::ExitCode;

fn main() -> ExitCode {
    ExitCode::from(themescope::cli::run(std::env::args_os()))
}
