//! `warden completions SHELL` and `warden man [--dir DIR]`: the shell
//! completion scripts and man pages, written from the same clap definition
//! that parses the command line, so they cannot drift from it.
//!
//! Owns only the writing out. Never installs anything: where a script or
//! page goes is the user's (or a package's) choice; the README says where.

use std::path::PathBuf;

use anyhow::Context as _;
use clap_complete::Shell;

use super::out::{out, outln};
use super::{CmdResult, Failure};

#[derive(clap::Args)]
pub struct CompletionArgs {
    /// The shell to complete for.
    #[arg(value_enum)]
    shell: Shell,
}

#[derive(clap::Args)]
pub struct ManArgs {
    /// Write warden.1 and one page per command (warden-ctl.1,
    /// warden-ctl-tree.1 …) into this directory instead of printing
    /// warden(1).
    #[arg(long, value_name = "DIR")]
    dir: Option<PathBuf>,
}

/// The command line without its hidden commands (the compile child):
/// clap_complete would offer them, and no user should type them.
fn public(cli: clap::Command) -> clap::Command {
    let mut public = clap::Command::new("warden")
        .version(env!("CARGO_PKG_VERSION"))
        .args(cli.get_arguments().cloned())
        .subcommands(cli.get_subcommands().filter(|c| !c.is_hide_set()).cloned());
    if let Some(about) = cli.get_about() {
        public = public.about(about.clone());
    }
    public
}

pub fn completions(args: CompletionArgs, cli: clap::Command) -> CmdResult {
    let mut script = Vec::new();
    clap_complete::generate(args.shell, &mut public(cli), "warden", &mut script);
    out!("{}", String::from_utf8_lossy(&script))
}

pub fn man(args: ManArgs, cli: clap::Command) -> CmdResult {
    match args.dir {
        None => {
            let mut page = Vec::new();
            clap_mangen::Man::new(public(cli))
                .render(&mut page)
                .map_err(Failure::failed)?;
            out!("{}", String::from_utf8_lossy(&page))
        }
        Some(dir) => {
            std::fs::create_dir_all(&dir)
                .with_context(|| format!("{}: cannot create", dir.display()))
                .map_err(Failure::failed)?;
            clap_mangen::generate_to(public(cli), &dir)
                .with_context(|| format!("{}: cannot write the man pages", dir.display()))
                .map_err(Failure::failed)?;
            outln!("man pages written to {}", dir.display())
        }
    }
}
