//! The `themescope` command: a thin layer of argument parsing and output over the library.

mod cli;

use std::process::ExitCode;

fn main() -> ExitCode {
    cli::main()
}
