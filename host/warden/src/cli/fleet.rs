//! `warden fleet permissions`: what a fleet's NATS server needs to give
//! each role exactly its operations (see `warden::fleet::ops` for the
//! subjects). Prints; never talks to a server.

use warden::fleet::ops::permissions;

use super::CmdResult;
use super::out;

#[derive(clap::Args)]
pub struct Args {
    #[command(subcommand)]
    command: FleetCommand,
}

#[derive(clap::Subcommand)]
enum FleetCommand {
    /// Print a nats-server `authorization` block with one user per role
    /// (read, operate, admin) allowed only its operations' subjects, and a
    /// `host` user for `warden run`; replace the passwords.
    Permissions,
}

pub fn run(args: Args) -> CmdResult {
    match args.command {
        FleetCommand::Permissions => out::stdout(format_args!("{}", permissions())),
    }
}
