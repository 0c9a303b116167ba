//! The `warden` binary: parses the command line and maps results to exit
//! codes. Everything it does is a library call; see `cli/`.

mod cli;

use std::process::ExitCode;

fn main() -> ExitCode {
    cli::run()
}
