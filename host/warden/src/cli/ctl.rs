//! `warden ctl …`: talk to a running host over its HTTP API.
//!
//! Every subcommand is one operation of the host's registry (`POST
//! /ops/{name}`), called through [`ApiClient`]; `events` follows the SSE
//! stream (`GET /events`), `logs -f` follows a child's log (`GET
//! /logs/{path}?follow=1`) after `logs.tail` checked the path, and `whoami` asks `GET /whoami`; `upload` and
//! `components` use the component store's routes (`POST /components`,
//! `GET /components[/{id}]`, `DELETE /components/{id}`); `snapshot`,
//! `snapshots` and `restore` call `child.snapshot`, `snapshot.*` and
//! `child.restore {snapshot}`; `repl` is [`repl`]'s; `groups`, `group`, `rollouts`,
//! `rollout`, `storm` and `chaos` (`group.*`, `rollout.*`, `supervisor.storm`,
//! `chaos.run`) are [`control`]'s. This file only turns arguments into params and
//! results into text: it adds no behaviour an operation lacks.
//!
//! Output: human text by default (the tree indented, tables aligned, a
//! health summary), or with `--json` the operation's JSON result as the
//! host sent it (`events --json`: one event object per line).
//!
//! Errors: `warden ctl: <message>` on stderr, each schema violation on a
//! line of its own. Exit status: 0 ok; 2 when the host answers 4xx (bad
//! params, unknown child or operation, a missing or wrong token) or the
//! arguments are bad; 1 when it answers 5xx, a reload or strategy change
//! did not take, or the host cannot be reached (the message names the
//! address tried, every place it looked for it and what it found there).
//!
//! Address ([`Connection::locate`]): `--addr`, else `--state-dir DIR` (reads
//! `DIR/api.addr`, which `warden run` writes), else `$WARDEN_ADDR`, else the
//! `api.addr` in the state dir of `--config C` or `./warden.toml`, else
//! `http://127.0.0.1:7878`. A flag beats the variable; the variable beats
//! the config file that happens to be in the current directory.
//!
//! A path the host does not know (a 404) is answered with the closest path
//! of the host's `tree` (see [`suggest`]), for every command taking one.
//!
//! The human text of each result is [`render`]'s.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::anyhow;
use base64::Engine as _;
use serde_json::{Map, Value, json};
use warden::api::client::{ApiClient, ClientError};

use super::Failure;
use super::out::errln;

mod control;
mod nats;
mod render;
mod repl;
mod suggest;

pub(super) use render::render_ps;

use render::{
    field, render_audit, render_component, render_components, render_event, render_health,
    render_info, render_log, render_log_line, render_plan, render_reload, render_snapshot,
    render_snapshot_diff, render_snapshots, render_strategy, render_trace_record, render_tree,
    render_upload, render_value, render_versions, scalar,
};

use super::ps::PsFilter;

/// Where a host listens when nothing says otherwise.
const DEFAULT_ADDR: &str = "http://127.0.0.1:7878";

/// The config file looked at when `--config` is not given.
const DEFAULT_CONFIG: &str = "./warden.toml";

/// The hint for a 401.
const TOKEN_HINT: &str = "the host wants a token: --token or WARDEN_TOKEN";

#[derive(clap::Args)]
pub struct Args {
    #[command(flatten)]
    conn: Connection,
    /// Print the operation's JSON result as is (`events`: one event per line).
    #[arg(long, global = true)]
    json: bool,
    #[command(subcommand)]
    command: CtlCommand,
}

/// How to reach the host.
#[derive(clap::Args)]
struct Connection {
    /// The host's API, e.g. `http://127.0.0.1:7878` (default: --state-dir's
    /// `api.addr`, else $WARDEN_ADDR, else the `api.addr` in the state dir
    /// of --config or ./warden.toml, else http://127.0.0.1:7878).
    #[arg(long, global = true, conflicts_with_all = ["state_dir", "config"])]
    addr: Option<String>,
    /// A running host's state dir: its address is read from `DIR/api.addr`.
    #[arg(long, global = true, value_name = "DIR", conflicts_with = "config")]
    state_dir: Option<PathBuf>,
    /// The host's config file: its address is read from `api.addr` in the
    /// config's state dir (default ./warden.toml, when there is one).
    #[arg(long, global = true, value_name = "CONFIG")]
    config: Option<PathBuf>,
    /// Bearer token for a host that has one set.
    #[arg(long, global = true, env = "WARDEN_TOKEN", hide_env_values = true)]
    token: Option<String>,
    /// A fleet's NATS server, e.g. `nats://127.0.0.1:4222`: `op` reaches
    /// whichever host serves the operation, `hosts` lists the hosts.
    #[arg(long, global = true, value_name = "URL", conflicts_with_all = ["addr", "state_dir", "config"])]
    nats: Option<String>,
    /// The NATS user (with --nats).
    #[arg(long, global = true, value_name = "USER", requires = "nats")]
    nats_user: Option<String>,
    /// The NATS user's password (with --nats).
    #[arg(
        long,
        global = true,
        env = "WARDEN_NATS_PASSWORD",
        hide_env_values = true
    )]
    nats_password: Option<String>,
    /// With --nats: call on this role's subjects (`warden.op.ROLE.OP`)
    /// rather than those of the role the operation needs.
    #[arg(long, global = true, value_name = "ROLE", requires = "nats")]
    role: Option<warden::ops::Role>,
}

#[derive(clap::Subcommand)]
enum CtlCommand {
    /// The supervision trees: every child with status, generation and restarts.
    Tree,
    /// Native worker incarnations from the host's registry.
    Ps {
        #[command(flatten)]
        filter: PsFilter,
    },
    /// Follow the host's events, one line per event, until the host stops
    /// (or `--count` events were shown).
    Events {
        /// Only events of this child or supervisor and everything below it.
        #[arg(long)]
        child: Option<String>,
        /// Only events of these kinds (e.g. `child_exited,child_restarted`).
        #[arg(long, value_delimiter = ',', value_parser = event_kind())]
        kind: Vec<String>,
        /// Stop after this many events.
        #[arg(long)]
        count: Option<u64>,
    },
    /// A child's log: a worker's stdout and stderr, a component's
    /// `host::log` lines, as `TIME STREAM LINE`; `-f` keeps printing new
    /// lines until Ctrl-C (or the host stops).
    Logs {
        /// The child's path, e.g. `root/web`.
        path: String,
        /// How many of the last lines to print first.
        #[arg(short = 'n', long, default_value_t = 100, value_parser = clap::value_parser!(u32).range(0..=10_000))]
        lines: u32,
        /// Follow: print new lines as they come.
        #[arg(short = 'f', long)]
        follow: bool,
    },
    /// Trace the messages a component child handles: start a trace,
    /// print each record as it comes (time, kind, sizes, outcome, latency,
    /// previews), and end when the trace does.
    Trace {
        /// The component child's path, e.g. `root/counter`.
        path: String,
        /// End after this long.
        #[arg(long, default_value_t = 10_000, value_parser = clap::value_parser!(u64).range(1..=600_000))]
        duration_ms: u64,
        /// End after this many messages.
        #[arg(long = "max", default_value_t = 1_000, value_parser = clap::value_parser!(u64).range(1..=100_000))]
        max_messages: u64,
    },
    /// Everything about one child: state, generation, restarts, limits,
    /// resource use, health, version.
    Info {
        /// The child's path, e.g. `root/counter`.
        path: String,
    },
    /// Start a stopped child.
    Start {
        /// The child's path.
        path: String,
    },
    /// Stop a child (it stays stopped until started or restarted).
    Terminate {
        /// The child's path.
        path: String,
    },
    /// Terminate and start a child.
    Restart {
        /// The child's path.
        path: String,
    },
    /// Kill a child's running incarnation; its supervisor restarts it per policy.
    Kill {
        /// The child's path.
        path: String,
    },
    /// Hot-reload a component child from its file, state kept; or, with
    /// `--rollback`, go back to an earlier version.
    Reload {
        /// The child's path.
        path: String,
        /// Roll back instead: to VERSION, or to the version before the current one.
        #[arg(long, value_name = "VERSION", num_args = 0..=1)]
        rollback: Option<Option<u64>>,
    },
    /// A component child's version history.
    Versions {
        /// The child's path.
        path: String,
    },
    /// Change a supervisor's restart strategy (rolled back if the tree does
    /// not settle).
    Strategy {
        /// The supervisor's path, e.g. `root`.
        supervisor: String,
        /// The new strategy.
        #[arg(value_enum)]
        strategy: Strategy,
        /// Only show which children would change coupling.
        #[arg(long)]
        dry_run: bool,
    },
    /// Send a text message to a child and print its reply.
    Send {
        /// The child's path.
        path: String,
        /// The message.
        message: String,
    },
    /// A line-by-line session with a component child: each line is sent
    /// as a message; `:state` shows its decoded state, `:restore FILE`
    /// puts an edited one back (all through the audited operations).
    /// With `--json`: no prompt, one JSON object per line in (for scripts).
    Repl {
        /// The child's path.
        path: String,
    },
    /// Call any operation (built-in or plugin) with JSON params.
    Op {
        /// The operation's name, e.g. `child.info` or `wordcount.count`.
        name: String,
        /// Its params as a JSON object (default `{}`).
        params: Option<String>,
    },
    /// The hosts of a fleet (with --nats): name, version, endpoints,
    /// requests, errors and processing time, from `$SRV.INFO` and
    /// `$SRV.STATS`.
    Hosts,
    /// Health of every supervisor, or of one.
    Health {
        /// Only this supervisor.
        supervisor: Option<String>,
    },
    /// Whose token this is, and its role (`read`, `operate` or `admin`):
    /// what the host will let it call.
    Whoami,
    /// The API's audit log, newest first: every call that may change
    /// something, and every call refused for its token's role (needs an
    /// `admin` token).
    Audit {
        /// Only calls since then: a duration back from now (`90s`, `15m`,
        /// `2h`, `7d`) or a Unix time in milliseconds.
        #[arg(long, value_name = "DURATION_OR_TIMESTAMP", value_parser = parse_since)]
        since: Option<Since>,
        /// At most this many rows, newest first.
        #[arg(long, default_value_t = 100, value_parser = clap::value_parser!(u32).range(1..=10_000))]
        limit: u32,
        /// Only calls of this operation (e.g. `child.restart`).
        #[arg(long)]
        op: Option<String>,
        /// Only calls made with this token name.
        #[arg(long, value_name = "TOKEN_NAME")]
        caller: Option<String>,
    },
    /// The host's config file.
    #[command(subcommand)]
    Config(ConfigCommand),
    /// Store a component on the host (`POST /components`): it is compiled
    /// there under the host's compile limits first. Prints its id (the
    /// SHA-256 of the file) and whether it was new.
    Upload {
        /// The component's `.wasm` file.
        file: PathBuf,
    },
    /// Take a component child's snapshot and store it on the host: prints
    /// its id. `diff A B` shows what changed between two stored
    /// snapshots, `show ID` one's decoded state, `rm ID` removes one.
    #[command(args_conflicts_with_subcommands = true, subcommand_negates_reqs = true)]
    Snapshot {
        /// The child's path, e.g. `root/counter`.
        #[arg(required = true)]
        path: Option<String>,
        #[command(subcommand)]
        action: Option<SnapshotAction>,
    },
    /// The snapshots stored on the host, oldest first; only one child's
    /// with PATH.
    Snapshots {
        /// Only this child's snapshots.
        path: Option<String>,
    },
    /// Put a stored snapshot back into a component child (its restore
    /// export).
    Restore {
        /// The child's path.
        path: String,
        /// The stored snapshot's id (`warden ctl snapshots` lists them).
        #[arg(long, value_name = "ID")]
        snapshot: String,
    },
    /// The components stored on the host; `show ID` describes one (its
    /// worlds and WIT), `rm ID` removes one nobody uses.
    Components {
        #[command(subcommand)]
        action: Option<ComponentsAction>,
    },
    /// Every process group with its member count (`group.list`).
    Groups,
    /// A group's health and members (`group.health`); `broadcast MESSAGE`
    /// sends to every component member, `join PATH` / `leave PATH` change
    /// its members.
    Group {
        /// The group's name.
        name: String,
        #[command(subcommand)]
        action: Option<control::GroupAction>,
    },
    /// The running and kept rollouts, oldest first (`rollout.list`).
    Rollouts,
    /// `start …` a rollout; `ID` shows its status, `ID abort` stops it and
    /// puts back the members it changed.
    #[command(args_conflicts_with_subcommands = true, subcommand_negates_reqs = true)]
    Rollout {
        /// The rollout's id (`r1`).
        #[arg(required = true)]
        id: Option<String>,
        /// `abort`: stop it.
        #[arg(value_parser = ["abort"])]
        abort: Option<String>,
        #[command(subcommand)]
        start: Option<control::RolloutCommand>,
    },
    /// Change a supervisor's (or one child's) restart-storm protection at
    /// run time (`supervisor.storm`).
    Storm(control::StormArgs),
    /// Run a bounded failure experiment and print what happened
    /// (`chaos.run`; needs `[chaos] enabled = true` and an admin token when
    /// the host has tokens).
    Chaos(control::ChaosArgs),
}

#[derive(clap::Subcommand)]
enum ConfigCommand {
    /// Re-read the host's config file and apply the difference without a
    /// restart: children added, removed or changed (only those restart),
    /// supervisors' flags, operation plugins. Prints the plan; an invalid
    /// file changes nothing and exits 2 with the file and the key.
    Reload {
        /// Only print the plan (the file and every new component are still
        /// checked); change nothing.
        #[arg(long)]
        dry_run: bool,
    },
}

/// `--since`: how far back, or from when.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Since {
    /// This long before now.
    Ago(std::time::Duration),
    /// This Unix time, in milliseconds.
    At(i64),
}

impl Since {
    /// The Unix millisecond it means, `now_ms` being now.
    fn as_unix_ms(self, now_ms: i64) -> i64 {
        match self {
            Self::At(ms) => ms,
            Self::Ago(d) => now_ms.saturating_sub(i64::try_from(d.as_millis()).unwrap_or(i64::MAX)),
        }
    }
}

/// `90s`, `15m`, `2h`, `7d`, `500ms`, or a Unix time in milliseconds.
fn parse_since(text: &str) -> Result<Since, String> {
    let text = text.trim();
    if let Ok(ms) = text.parse::<i64>() {
        return if ms >= 0 {
            Ok(Since::At(ms))
        } else {
            Err("a timestamp is Unix milliseconds, 0 or more".to_string())
        };
    }
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let bad = || {
        format!(
            "`{text}` is neither a duration (`90s`, `15m`, `2h`, `7d`, `500ms`) nor a Unix time in milliseconds"
        )
    };
    let n: u64 = number.parse().map_err(|_| bad())?;
    let ms_per = match unit {
        "ms" => 1,
        "s" => 1_000,
        "m" => 60_000,
        "h" => 3_600_000,
        "d" => 86_400_000,
        _ => return Err(bad()),
    };
    let ms = n.checked_mul(ms_per).ok_or_else(bad)?;
    Ok(Since::Ago(std::time::Duration::from_millis(ms)))
}

/// What `warden ctl components` does besides listing.
#[derive(clap::Subcommand)]
enum ComponentsAction {
    /// One component: size, users, the worlds it fits, its WIT.
    Show {
        /// Its id (64 hex digits).
        id: String,
    },
    /// Remove a component (refused while a sandbox or a call uses it).
    Rm {
        /// Its id (64 hex digits).
        id: String,
    },
}

/// What `warden ctl snapshot` does besides taking one.
#[derive(clap::Subcommand)]
enum SnapshotAction {
    /// What changed from snapshot A to snapshot B, by JSON pointer.
    Diff {
        /// The earlier snapshot's id.
        a: String,
        /// The later snapshot's id.
        b: String,
    },
    /// One stored snapshot: its child, time, size, version and decoded state.
    Show {
        /// Its id.
        id: String,
    },
    /// Remove a stored snapshot.
    Rm {
        /// Its id.
        id: String,
    },
    /// Write a stored snapshot's state, its raw bytes, to FILE (`GET
    /// /snapshots/ID`, streamed: for states of any size).
    Export {
        /// Its id.
        id: String,
        /// Where the bytes go (`-`: standard output).
        file: PathBuf,
    },
    /// Store FILE's bytes as a snapshot of the component child at PATH
    /// (`POST /snapshots?path=PATH`, for states of any size up to
    /// `[snapshots] max_upload_bytes`); prints the id for `warden ctl
    /// restore PATH --snapshot ID`.
    Import {
        /// The component child's path.
        path: String,
        /// The state's bytes, as `export` wrote them.
        file: PathBuf,
    },
}

/// A supervisor's restart strategy, as the `supervisor.strategy` operation
/// names it.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
#[value(rename_all = "snake_case")]
enum Strategy {
    /// A child that exits is restarted alone.
    OneForOne,
    /// A child that exits takes all its siblings down and up with it.
    OneForAll,
    /// A child that exits takes the siblings started after it along.
    RestForOne,
    /// Children are started on demand from one template.
    SimpleOneForOne,
}

impl Strategy {
    fn as_str(self) -> &'static str {
        match self {
            Self::OneForOne => "one_for_one",
            Self::OneForAll => "one_for_all",
            Self::RestForOne => "rest_for_one",
            Self::SimpleOneForOne => "simple_one_for_one",
        }
    }
}

impl std::fmt::Display for Strategy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// `--kind`'s values: every event name the stream can carry, from the
/// event enums themselves (`warden_events::EventKind::names`), so a
/// misspelt kind is refused with the list instead of filtering out every
/// event, and a new event is accepted the day it exists.
fn event_kind() -> clap::builder::PossibleValuesParser {
    clap::builder::PossibleValuesParser::new(warden::events::EventKind::names())
}

/// Runs `warden ctl` and prints its errors itself: a violation list needs
/// more than the one line the other commands' errors get.
pub fn run(args: Args) -> ExitCode {
    let result = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(Failure::failed)
        .and_then(|runtime| runtime.block_on(execute(args)));
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(Failure::BadInput(err)) => {
            errln!("warden ctl: {err:#}");
            ExitCode::from(2)
        }
        Err(Failure::Failed(err)) => {
            errln!("warden ctl: {err:#}");
            ExitCode::from(1)
        }
        Err(Failure::Told(code)) => ExitCode::from(code),
        Err(Failure::OutputClosed) => ExitCode::SUCCESS,
    }
}

async fn execute(args: Args) -> Result<(), Failure> {
    if let Some(url) = &args.conn.nats {
        let mut bus = nats::Bus::connect(
            url,
            args.conn.nats_user.clone(),
            args.conn.nats_password.clone(),
        )
        .await?;
        return match args.command {
            CtlCommand::Op { name, params } => {
                bus.op(&name, parse_params(params)?, args.conn.role, args.json)
                    .await
            }
            CtlCommand::Hosts => bus.hosts(args.json).await,
            _ => Err(Failure::bad_input(anyhow!(
                "with --nats, ctl offers `op` and `hosts`; other commands talk to one host's API (--addr)"
            ))),
        };
    }
    let host = Host::connect(&args.conn, args.json)?;
    let json = args.json;
    match args.command {
        CtlCommand::Tree => {
            let tree = host.call("tree", json!({})).await?;
            output(json, &tree, render_tree)
        }
        CtlCommand::Ps { filter } => {
            let mut params = Map::new();
            insert_some(&mut params, "child", filter.child.clone().map(Value::from));
            // The operation's own name for the status filter is `state`.
            insert_some(
                &mut params,
                "state",
                filter.status.map(|s| Value::from(s.incarnation().as_str())),
            );
            params.insert("limit".to_string(), filter.limit.into());
            let rows = host.call("ps", Value::Object(params)).await?;
            if let Some(child) = &filter.child
                && rows.as_array().is_some_and(Vec::is_empty)
            {
                // No rows for a child the tree does not have is a typo more
                // often than a worker that never ran.
                host.check_path(child).await?;
            }
            output(json, &rows, render_ps)
        }
        CtlCommand::Events { child, kind, count } => {
            if let Some(child) = &child {
                // A stream filtered on a path that does not exist would
                // wait for ever.
                host.check_path(child).await?;
            }
            let kinds = kind;
            host.follow_events(child, kinds, count, json).await
        }
        CtlCommand::Logs {
            path,
            lines,
            follow,
        } => {
            let tail = host
                .call("logs.tail", json!({ "path": path, "lines": lines }))
                .await?;
            if !follow {
                return output(json, &tail, render_log);
            }
            host.follow_log(&path, lines, json).await
        }
        CtlCommand::Trace {
            path,
            duration_ms,
            max_messages,
        } => {
            let started = host
                .call(
                    "trace.start",
                    json!({ "path": path, "duration_ms": duration_ms, "max_messages": max_messages }),
                )
                .await?;
            let id = field(&started, "id");
            host.follow_trace(&id, json).await
        }
        CtlCommand::Info { path } => {
            let info = host.call("child.info", json!({ "path": path })).await?;
            output(json, &info, render_info)
        }
        CtlCommand::Start { path } => {
            child_action(&host, json, "child.start", "started", path).await
        }
        CtlCommand::Terminate { path } => {
            child_action(&host, json, "child.terminate", "terminated", path).await
        }
        CtlCommand::Restart { path } => {
            child_action(&host, json, "child.restart", "restarted", path).await
        }
        CtlCommand::Kill { path } => {
            let result = host.call("child.kill", json!({ "path": path })).await?;
            output(json, &result, |v| {
                format!(
                    "{path}: killed generation {}; its supervisor restarts it per its policy\n",
                    field(v, "generation")
                )
            })
        }
        CtlCommand::Reload {
            path,
            rollback: None,
        } => {
            let outcome = host.call("child.reload", json!({ "path": path })).await?;
            output(json, &outcome, |v| render_reload(&path, v))?;
            if outcome.get("outcome").and_then(Value::as_str) == Some("failed") {
                return Err(Failure::failed(anyhow!(
                    "{path}: the reload failed; the old version keeps serving"
                )));
            }
            Ok(())
        }
        CtlCommand::Reload {
            path,
            rollback: Some(version),
        } => {
            let mut params = json!({ "path": path });
            if let Some(v) = version {
                params["version"] = v.into();
            }
            let result = host.call("child.rollback", params).await?;
            output(json, &result, |v| match v.get("version") {
                Some(version) => format!("{path}: rolled back to version {}\n", scalar(version)),
                None => format!("{path}: rolled back\n"),
            })
        }
        CtlCommand::Versions { path } => {
            let versions = host.call("child.versions", json!({ "path": path })).await?;
            output(json, &versions, render_versions)
        }
        CtlCommand::Strategy {
            supervisor,
            strategy,
            dry_run,
        } => {
            let params =
                json!({ "path": supervisor, "strategy": strategy.as_str(), "dry_run": dry_run });
            let report = host.call("supervisor.strategy", params).await?;
            output(json, &report, render_strategy)?;
            if report
                .get("outcome")
                .and_then(|o| o.get("outcome"))
                .and_then(Value::as_str)
                == Some("rolled_back")
            {
                return Err(Failure::failed(anyhow!(
                    "{supervisor}: the tree did not settle under {strategy}; the old strategy is back"
                )));
            }
            Ok(())
        }
        CtlCommand::Send { path, message } => {
            let params = json!({ "path": path, "message": message });
            let reply = host.call("child.send", params).await?;
            if json {
                return print_json(&reply);
            }
            write_reply(&reply)
        }
        CtlCommand::Repl { path } => repl::run(&host, &path, json).await,
        CtlCommand::Op { name, params } => {
            let result = host.call(&name, parse_params(params)?).await?;
            output(json, &result, render_value)
        }
        CtlCommand::Hosts => Err(Failure::bad_input(anyhow!(
            "`hosts` lists a fleet's hosts: give its server with --nats URL"
        ))),
        CtlCommand::Health { supervisor } => {
            let params = match supervisor {
                Some(path) => json!({ "path": path }),
                None => json!({}),
            };
            let reports = host.call("health", params).await?;
            output(json, &reports, render_health)
        }
        CtlCommand::Config(ConfigCommand::Reload { dry_run }) => {
            let plan = host
                .call("config.reload", json!({ "dry_run": dry_run }))
                .await?;
            output(json, &plan, render_plan)
        }
        CtlCommand::Whoami => {
            let me = host
                .client
                .get_json("/whoami")
                .await
                .map_err(|e| host.failure(None, e))?;
            output(json, &me, |v| {
                format!("{} ({})\n", field(v, "name"), field(v, "role"))
            })
        }
        CtlCommand::Audit {
            since,
            limit,
            op,
            caller,
        } => {
            let mut params = Map::new();
            insert_some(
                &mut params,
                "since",
                since.map(|s| Value::from(s.as_unix_ms(warden::process::now_ms()))),
            );
            params.insert("limit".to_string(), limit.into());
            insert_some(&mut params, "op", op.map(Value::from));
            insert_some(&mut params, "token", caller.map(Value::from));
            let rows = host.call("audit.recent", Value::Object(params)).await?;
            output(json, &rows, render_audit)
        }
        CtlCommand::Upload { file } => {
            // Only a regular file (a FIFO or a device is refused, not
            // read); the host holds it to its own size limit.
            let bytes = warden::component::read_component_file(&file, u64::MAX)
                .map_err(|e| Failure::bad_input(anyhow!("cannot read {}: {e}", file.display())))?;
            let (status, mut upload) = host
                .client
                .upload(bytes)
                .await
                .map_err(|e| host.failure(None, e))?;
            let created = status == 201;
            upload["created"] = created.into();
            output(json, &upload, |v| render_upload(created, v))
        }
        CtlCommand::Snapshot { path, action } => snapshot(&host, json, path, action).await,
        CtlCommand::Snapshots { path } => {
            let params = match &path {
                Some(path) => json!({ "path": path }),
                None => json!({}),
            };
            let list = host.call("snapshot.list", params).await?;
            if let Some(path) = &path
                && list.as_array().is_some_and(Vec::is_empty)
            {
                // As with `ps`: nothing stored for a path the tree does
                // not have is more often a typo.
                host.check_path(path).await?;
            }
            output(json, &list, render_snapshots)
        }
        CtlCommand::Restore { path, snapshot } => {
            let params = json!({ "path": path, "snapshot": snapshot });
            let result = host.call("child.restore", params).await?;
            output(json, &result, |_| {
                format!("{path}: restored from snapshot {snapshot}\n")
            })
        }
        CtlCommand::Components { action: None } => {
            let list = host
                .client
                .get_json("/components")
                .await
                .map_err(|e| host.failure(None, e))?;
            output(json, &list, render_components)
        }
        CtlCommand::Components {
            action: Some(ComponentsAction::Show { id }),
        } => {
            let component = host
                .client
                .get_json(&format!("/components/{}", percent_encode(&id)))
                .await
                .map_err(|e| host.failure(None, e))?;
            output(json, &component, render_component)
        }
        CtlCommand::Components {
            action: Some(ComponentsAction::Rm { id }),
        } => {
            host.client
                .delete(&format!("/components/{}", percent_encode(&id)))
                .await
                .map_err(|e| host.failure(None, e))?;
            let removed = json!({ "id": id, "removed": true });
            output(json, &removed, |_| format!("{id}: removed\n"))
        }
        CtlCommand::Groups => control::groups(&host, json).await,
        CtlCommand::Group { name, action } => control::group(&host, json, name, action).await,
        CtlCommand::Rollouts => control::rollouts(&host, json).await,
        CtlCommand::Rollout { id, abort, start } => {
            control::rollout(&host, json, id, abort.is_some(), start).await
        }
        CtlCommand::Storm(args) => control::storm(&host, json, args).await,
        CtlCommand::Chaos(args) => control::chaos(&host, json, args).await,
    }
}

/// `warden ctl snapshot PATH | diff A B | show ID | rm ID`.
async fn snapshot(
    host: &Host,
    json: bool,
    path: Option<String>,
    action: Option<SnapshotAction>,
) -> Result<(), Failure> {
    match (path, action) {
        (_, Some(SnapshotAction::Diff { a, b })) => {
            let diff = host
                .call("snapshot.diff", json!({ "a": a, "b": b }))
                .await?;
            output(json, &diff, render_snapshot_diff)
        }
        (_, Some(SnapshotAction::Show { id })) => {
            let got = host.call("snapshot.get", json!({ "id": id })).await?;
            output(json, &got, render_snapshot)
        }
        (_, Some(SnapshotAction::Rm { id })) => {
            let removed = host.call("snapshot.delete", json!({ "id": id })).await?;
            output(json, &removed, |v| format!("{}: removed\n", field(v, "id")))
        }
        (_, Some(SnapshotAction::Export { id, file })) => {
            let bytes = host
                .client
                .get_bytes(&format!("/snapshots/{}", percent_encode(&id)))
                .await
                .map_err(|e| host.failure(None, e))?;
            let size = bytes.len();
            if file.as_os_str() == "-" {
                use std::io::Write as _;
                let mut out = std::io::stdout().lock();
                return match out.write_all(&bytes).and_then(|()| out.flush()) {
                    Ok(()) => Ok(()),
                    Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => {
                        Err(Failure::OutputClosed)
                    }
                    Err(e) => Err(Failure::failed(anyhow!("cannot write the state: {e}"))),
                };
            }
            std::fs::write(&file, &bytes)
                .map_err(|e| Failure::failed(anyhow!("cannot write {}: {e}", file.display())))?;
            let written = json!({ "id": id, "file": file.display().to_string(), "size": size });
            output(json, &written, |v| {
                format!(
                    "{}: {} bytes written to {}\n",
                    field(v, "id"),
                    scalar(&v["size"]),
                    field(v, "file")
                )
            })
        }
        (_, Some(SnapshotAction::Import { path, file })) => {
            let bytes = std::fs::read(&file)
                .map_err(|e| Failure::bad_input(anyhow!("cannot read {}: {e}", file.display())))?;
            let (_, stored) = host
                .client
                .post_bytes(
                    &format!("/snapshots?path={}", percent_encode(&path)),
                    bytes,
                    "application/octet-stream",
                )
                .await
                .map_err(|e| host.failure(None, e))?;
            output(json, &stored, |v| format!("{}\n", field(v, "id")))
        }
        (Some(path), None) => {
            let taken = host.call("child.snapshot", json!({ "path": path })).await?;
            output(json, &taken, |v| format!("{}\n", field(v, "id")))
        }
        (None, None) => Err(Failure::bad_input(anyhow!(
            "snapshot needs a child's PATH, or diff/show/rm"
        ))),
    }
}

/// Start, terminate or restart one child.
async fn child_action(
    host: &Host,
    json: bool,
    op: &str,
    done: &str,
    path: String,
) -> Result<(), Failure> {
    let result = host.call(op, json!({ "path": path })).await?;
    output(json, &result, |v| match v.get("generation") {
        Some(generation) if !generation.is_null() => {
            format!("{path}: {done} (generation {})\n", scalar(generation))
        }
        _ => format!("{path}: {done}\n"),
    })
}

/// A connection to one host, and what to say when it fails.
struct Host {
    client: ApiClient,
    base_url: String,
    /// Every place the address was looked for, and what was there.
    looked: Vec<String>,
    has_token: bool,
    json: bool,
}

impl Host {
    fn connect(conn: &Connection, json: bool) -> Result<Self, Failure> {
        let located = conn.locate(|name| std::env::var(name).ok())?;
        let base_url = located.base_url;
        let client = ApiClient::new(&base_url, conn.token.clone()).map_err(Failure::bad_input)?;
        Ok(Host {
            client,
            base_url,
            looked: located.looked,
            has_token: conn.token.is_some(),
            json,
        })
    }

    async fn call(&self, op: &str, params: Value) -> Result<Value, Failure> {
        // The path the call names, for a suggestion if the host knows none.
        let path = params
            .get("path")
            .and_then(Value::as_str)
            .map(str::to_string);
        match (self.client.call(op, params).await, path) {
            (Ok(value), _) => Ok(value),
            (Err(ClientError::Status { status: 404, body }), Some(path))
                if error_kind(&body) == Some("not_found") =>
            {
                let failure = self.failure(Some(op), ClientError::Status { status: 404, body });
                Err(self.with_suggestion(failure, &path).await)
            }
            (Err(other), _) => Err(self.failure(Some(op), other)),
        }
    }

    /// Fails with a suggestion when the host's tree has no `path`.
    async fn check_path(&self, path: &str) -> Result<(), Failure> {
        let tree = self.call("tree", json!({})).await?;
        let paths = suggest::tree_paths(&tree);
        if paths.iter().any(|p| p == path) {
            return Ok(());
        }
        Err(Failure::bad_input(anyhow!(
            "no child `{path}` in the tree{}",
            suggest::hint(path, &paths)
        )))
    }

    /// Adds `did you mean …?` to a not-found error, from the host's tree.
    async fn with_suggestion(&self, failure: Failure, path: &str) -> Failure {
        let Failure::BadInput(err) = failure else {
            return failure;
        };
        // Without a tree there is nothing to suggest; the error stands.
        let Ok(tree) = self.client.call("tree", json!({})).await else {
            return Failure::BadInput(err);
        };
        let hint = suggest::hint(path, &suggest::tree_paths(&tree));
        Failure::bad_input(anyhow!("{err}{hint}"))
    }

    /// Prints events as they come until the stream ends or `count` were shown.
    async fn follow_events(
        &self,
        child: Option<String>,
        kinds: Vec<String>,
        count: Option<u64>,
        json: bool,
    ) -> Result<(), Failure> {
        let mut query = Vec::new();
        if let Some(child) = &child {
            query.push(format!("child={}", percent_encode(child)));
        }
        if !kinds.is_empty() {
            query.push(format!("kind={}", percent_encode(&kinds.join(","))));
        }
        let mut stream = self
            .client
            .events(&query.join("&"))
            .await
            .map_err(|e| self.failure(None, e))?;
        let mut shown = 0u64;
        while count.is_none_or(|n| shown < n) {
            let Some(item) = stream.next().await else {
                errln!("warden ctl: the host closed the event stream");
                return Ok(());
            };
            let event = match item {
                Ok(event) => event,
                Err(ClientError::Transport(reason)) => {
                    return Err(Failure::failed(anyhow!(
                        "the event stream from {} broke: {reason}",
                        self.base_url
                    )));
                }
                Err(other) => return Err(self.failure(None, other)),
            };
            let line = if json {
                serde_json::to_string(&event.data).map_err(Failure::failed)?
            } else {
                render_event(&event.kind, &event.data)
            };
            if !write_stdout(&format!("{line}\n"))? {
                return Ok(());
            }
            shown += 1;
        }
        Ok(())
    }

    /// Prints the last `lines` lines of the child at `path`, then each new
    /// one, until the stream ends (the host stops) or stdout goes away.
    async fn follow_log(&self, path: &str, lines: u32, json: bool) -> Result<(), Failure> {
        let route = format!(
            "/logs/{}?follow=1&lines={lines}",
            percent_encode(path.trim_matches('/'))
        );
        let mut stream = self
            .client
            .stream(&route)
            .await
            .map_err(|e| self.failure(None, e))?;
        while let Some(item) = stream.next().await {
            let event = match item {
                Ok(event) => event,
                Err(ClientError::Transport(reason)) => {
                    return Err(Failure::failed(anyhow!(
                        "the log stream from {} broke: {reason}",
                        self.base_url
                    )));
                }
                Err(other) => return Err(self.failure(None, other)),
            };
            let text = match event.kind.as_str() {
                "lagged" => {
                    errln!(
                        "warden ctl: … {} lines lost (the reader was too slow)",
                        field(&event.data, "lost")
                    );
                    continue;
                }
                _ if json => serde_json::to_string(&event.data).map_err(Failure::failed)?,
                _ => render_log_line(&event.data),
            };
            if !write_stdout(&format!("{text}\n"))? {
                return Ok(());
            }
        }
        errln!("warden ctl: the host closed the log stream");
        Ok(())
    }

    /// Prints the records of trace `id` as they come, polling `trace.get`
    /// (every 200 ms), until it ends or stdout goes away.
    async fn follow_trace(&self, id: &str, json: bool) -> Result<(), Failure> {
        errln!("warden ctl: trace {id} started");
        let mut printed = 0;
        loop {
            let trace = self.call("trace.get", json!({ "id": id })).await?;
            let records = trace["records"].as_array().map_or(&[][..], Vec::as_slice);
            for record in records.iter().skip(printed) {
                let text = if json {
                    serde_json::to_string(record).map_err(Failure::failed)?
                } else {
                    render_trace_record(record)
                };
                if !write_stdout(&format!("{text}\n"))? {
                    return Ok(());
                }
            }
            printed = printed.max(records.len());
            if trace["state"] == "ended" {
                errln!(
                    "warden ctl: trace {id} ended ({}) with {} records",
                    field(&trace, "reason"),
                    field(&trace, "recorded")
                );
                return Ok(());
            }
            tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        }
    }

    /// Sorts a client error by whose fault it is and words it. With
    /// `--json`, the host's error body also goes to stdout, for scripts.
    fn failure(&self, op: Option<&str>, err: ClientError) -> Failure {
        match err {
            ClientError::Status { status, body } => {
                if self.json && body.is_object() {
                    let _ = print_json(&body);
                }
                let message = error_message(status, &body, op);
                if status == 401 {
                    let hint = if self.has_token {
                        format!("the host refused the token ({message}); {TOKEN_HINT}")
                    } else {
                        format!("{message}\n{TOKEN_HINT}")
                    };
                    Failure::bad_input(anyhow!(hint))
                } else if (400..500).contains(&status) {
                    Failure::bad_input(anyhow!(message))
                } else {
                    Failure::failed(anyhow!(message))
                }
            }
            ClientError::Transport(reason) => {
                let mut message = format!("cannot reach the host at {}: {reason}", self.base_url);
                message.push_str("\nwhere the address was looked for:");
                for place in &self.looked {
                    message.push_str(&format!("\n  {place}"));
                }
                Failure::failed(anyhow!(message))
            }
            bad @ ClientError::BadUrl { .. } => Failure::bad_input(bad),
            bad @ ClientError::BadResponse(_) => {
                Failure::failed(anyhow!("{}: {bad}", self.base_url))
            }
        }
    }
}

/// The address found, and the trail that led to it.
struct Located {
    base_url: String,
    /// One line per place looked at: where, and what was there.
    looked: Vec<String>,
}

impl Connection {
    /// Finds the host's address (see the module docs for the order) and
    /// notes every place looked at, for the error when it is unreachable.
    /// `env` reads a variable (a parameter so tests need not set any).
    fn locate(&self, env: impl Fn(&str) -> Option<String>) -> Result<Located, Failure> {
        let mut looked = Vec::new();
        if let Some(addr) = &self.addr {
            let base_url = normalize_addr(addr);
            looked.push(format!("--addr: {base_url}"));
            return Ok(Located { base_url, looked });
        }
        if let Some(dir) = &self.state_dir {
            let base_url = read_addr_file(&dir.join("api.addr"), "--state-dir")?;
            looked.push(format!(
                "--state-dir: {} says {base_url}",
                dir.join("api.addr").display()
            ));
            return Ok(Located { base_url, looked });
        }
        if self.config.is_none() {
            match env("WARDEN_ADDR") {
                Some(addr) if !addr.trim().is_empty() => {
                    let base_url = normalize_addr(addr.trim());
                    looked.push(format!("$WARDEN_ADDR: {base_url}"));
                    return Ok(Located { base_url, looked });
                }
                Some(_) => looked.push("$WARDEN_ADDR: set but empty".to_string()),
                None => looked.push("$WARDEN_ADDR: not set".to_string()),
            }
        }
        let (config, explicit) = match &self.config {
            Some(path) => (path.clone(), true),
            None => (PathBuf::from(DEFAULT_CONFIG), false),
        };
        match config_addr(&config) {
            Ok((file, base_url)) => {
                looked.push(format!(
                    "{}: state dir file {} says {base_url}",
                    config.display(),
                    file.display()
                ));
                return Ok(Located { base_url, looked });
            }
            // A config named on the command line must lead to a host: a
            // file that is not there or not a config is bad usage, a
            // config without a running host a failure.
            Err(missing) if explicit => {
                let err = anyhow!("--config {}: {}", config.display(), missing.reason);
                return Err(if missing.bad_config {
                    Failure::bad_input(err)
                } else {
                    Failure::failed(err)
                });
            }
            Err(missing) => looked.push(format!("{}: {}", config.display(), missing.reason)),
        }
        looked.push(format!("the default: {DEFAULT_ADDR}"));
        Ok(Located {
            base_url: DEFAULT_ADDR.to_string(),
            looked,
        })
    }
}

/// Why a config gave no address.
struct NoAddr {
    reason: String,
    /// The config itself is missing or invalid (not just its host).
    bad_config: bool,
}

/// The address in the state dir of the config at `path`: the file read and
/// the address, or why there is none.
fn config_addr(path: &Path) -> Result<(PathBuf, String), NoAddr> {
    let bad = |reason: String| NoAddr {
        reason,
        bad_config: true,
    };
    let no_host = |reason: String| NoAddr {
        reason,
        bad_config: false,
    };
    if !path.exists() {
        return Err(bad("no such file".to_string()));
    }
    let config = warden::config::load(path).map_err(|e| {
        bad(format!(
            "cannot load it ({})",
            super::one_line(&anyhow::Error::from(e))
        ))
    })?;
    let file = config.host.state_dir.join("api.addr");
    match std::fs::read_to_string(&file) {
        Ok(text) if !text.trim().is_empty() => Ok((file, normalize_addr(text.trim()))),
        Ok(_) => Err(no_host(format!("{} is empty", file.display()))),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Err(no_host(format!(
            "no {} (no host is running with this config)",
            file.display()
        ))),
        Err(e) => Err(no_host(format!("cannot read {} ({e})", file.display()))),
    }
}

/// The address in an `api.addr` file that `flag` named the directory of.
fn read_addr_file(file: &Path, flag: &str) -> Result<String, Failure> {
    let text = std::fs::read_to_string(file).map_err(|e| {
        Failure::failed(anyhow!(
            "{flag}: {}: cannot read ({e}); is a host running with this state dir?",
            file.display()
        ))
    })?;
    let addr = text.trim();
    if addr.is_empty() {
        return Err(Failure::failed(anyhow!(
            "{flag}: {}: empty; is a host running with this state dir?",
            file.display()
        )));
    }
    Ok(normalize_addr(addr))
}

/// The `kind` of an error body (`not_found`, `invalid_params`…).
fn error_kind(body: &Value) -> Option<&str> {
    body.get("error")?.get("kind")?.as_str()
}

/// `127.0.0.1:7878` → `http://127.0.0.1:7878`; no trailing slash.
fn normalize_addr(addr: &str) -> String {
    let addr = addr.trim_end_matches('/');
    if addr.contains("://") {
        addr.to_string()
    } else {
        format!("http://{addr}")
    }
}

/// The message of an error body, then each violation on its own line
/// (the message of `invalid_params` lists them all on one line: `op`, the
/// operation called, replaces it).
fn error_message(status: u16, body: &Value, op: Option<&str>) -> String {
    let error = body.get("error");
    let mut message = error
        .and_then(|e| e.get("message"))
        .and_then(Value::as_str)
        .map(str::to_string)
        .unwrap_or_else(|| match body {
            Value::String(text) if !text.is_empty() => format!("HTTP {status}: {text}"),
            Value::Null => format!("HTTP {status}"),
            other => format!("HTTP {status}: {other}"),
        });
    let violations = error
        .and_then(|e| e.get("violations"))
        .and_then(Value::as_array)
        .filter(|v| !v.is_empty());
    if let Some(violations) = violations {
        if let Some(op) = op {
            message = format!("invalid params for `{op}`:");
        }
        for v in violations {
            let path = v.get("path").and_then(Value::as_str).unwrap_or("");
            let at = if path.is_empty() { "(root)" } else { path };
            message.push_str(&format!(
                "\n  {at}: expected {}, found {}",
                v.get("expected").map(scalar).unwrap_or_default(),
                v.get("found").map(scalar).unwrap_or_default()
            ));
        }
    }
    message
}

/// `%`-encodes a query value (keeps unreserved characters and `/`, `,`).
fn percent_encode(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for byte in value.bytes() {
        match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' | b'/' | b',' => {
                out.push(byte as char)
            }
            _ => out.push_str(&format!("%{byte:02X}")),
        }
    }
    out
}

fn insert_some(map: &mut Map<String, Value>, key: &str, value: Option<Value>) {
    if let Some(value) = value {
        map.insert(key.to_string(), value);
    }
}

// ---------------------------------------------------------------- output

/// The JSON as is with `--json`, else `render`'s text.
/// `op`'s params: a JSON text, `{}` when left out.
fn parse_params(params: Option<String>) -> Result<Value, Failure> {
    match params {
        None => Ok(json!({})),
        Some(text) => serde_json::from_str(&text)
            .map_err(|e| Failure::bad_input(anyhow!("PARAMS_JSON is not JSON: {e}"))),
    }
}

fn output(json: bool, value: &Value, render: impl FnOnce(&Value) -> String) -> Result<(), Failure> {
    if json {
        print_json(value)
    } else {
        write_stdout(&render(value)).map(drop)
    }
}

/// `value` as one line of JSON (JSON lines: `ctl repl --json`).
fn print_json_line(value: &Value) -> Result<(), Failure> {
    let text = serde_json::to_string(value).map_err(Failure::failed)?;
    if write_stdout(&format!("{text}\n"))? {
        Ok(())
    } else {
        Err(Failure::OutputClosed)
    }
}

fn print_json(value: &Value) -> Result<(), Failure> {
    let text = serde_json::to_string_pretty(value).map_err(Failure::failed)?;
    write_stdout(&format!("{text}\n")).map(drop)
}

/// Writes to stdout; `Ok(false)` when the reader went away (`| head`).
fn write_stdout(text: &str) -> Result<bool, Failure> {
    let mut out = std::io::stdout().lock();
    match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(false),
        Err(e) => Err(Failure::failed(anyhow!("cannot write to stdout: {e}"))),
    }
}

/// The reply of `child.send`, as text or (base64) raw bytes.
fn write_reply(reply: &Value) -> Result<(), Failure> {
    let Some(text) = reply.get("reply").and_then(Value::as_str) else {
        errln!("warden ctl: no reply");
        return Ok(());
    };
    let bytes = if reply.get("encoding").and_then(Value::as_str) == Some("base64") {
        base64::engine::general_purpose::STANDARD
            .decode(text)
            .map_err(|e| Failure::failed(anyhow!("the host's reply is not base64: {e}")))?
    } else {
        text.as_bytes().to_vec()
    };
    let mut out = std::io::stdout().lock();
    let written = out
        .write_all(&bytes)
        .and_then(|()| {
            if bytes.ends_with(b"\n") {
                Ok(())
            } else {
                out.write_all(b"\n")
            }
        })
        .and_then(|()| out.flush());
    match written {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => {
            Err(Failure::failed(anyhow!("cannot write to stdout: {e}")))
        }
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn since_is_a_duration_back_or_a_unix_millisecond() {
        let now = 10_000_000;
        let at = |text: &str| parse_since(text).map(|s| s.as_unix_ms(now));
        assert_eq!(at("90s"), Ok(now - 90_000));
        assert_eq!(at("15m"), Ok(now - 900_000));
        assert_eq!(at("2h"), Ok(now - 7_200_000));
        assert_eq!(at("1d"), Ok(now - 86_400_000));
        assert_eq!(at("500ms"), Ok(now - 500));
        assert_eq!(at("1700000000000"), Ok(1_700_000_000_000));
        for bad in ["", "h", "2w", "-5", "1.5h", "99999999999999999999d"] {
            let err = parse_since(bad).unwrap_err();
            assert!(
                err.contains("duration") || err.contains("0 or more"),
                "{bad}: {err}"
            );
        }
    }

    fn connection(addr: Option<&str>, config: Option<PathBuf>) -> Connection {
        Connection {
            addr: addr.map(str::to_string),
            state_dir: None,
            config,
            token: None,
            nats: None,
            nats_user: None,
            nats_password: None,
            role: None,
        }
    }

    #[test]
    fn the_address_search_notes_every_place_it_looked() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let config = dir.path().join("warden.toml");
        let no_env = |_: &str| None;

        // Nothing anywhere: the default, after the variable and the config.
        let located = connection(None, Some(config.clone()))
            .locate(no_env)
            .map(|l| l.looked);
        assert!(
            matches!(&located, Err(Failure::BadInput(e)) if e.to_string().ends_with("warden.toml: no such file")),
            "an explicit --config that is not there is bad usage"
        );
        std::fs::write(
            &config,
            "[host]\nstate_dir = \"st\"\n[supervisor.root]\nstrategy = \"one_for_one\"\n",
        )
        .unwrap_or_else(|e| panic!("{e}"));
        let err = connection(None, Some(config.clone())).locate(no_env);
        assert!(
            matches!(&err, Err(Failure::Failed(e)) if e.to_string().contains("no host is running with this config")),
            "a config without a host is a failure"
        );

        // Found in the config's state dir; the variable is not read then.
        std::fs::create_dir_all(dir.path().join("st")).unwrap_or_else(|e| panic!("{e}"));
        std::fs::write(dir.path().join("st/api.addr"), "127.0.0.1:9\n")
            .unwrap_or_else(|e| panic!("{e}"));
        let Ok(located) =
            connection(None, Some(config.clone())).locate(|_| Some("10.0.0.1:1".into()))
        else {
            panic!("the config's api.addr")
        };
        assert_eq!(located.base_url, "http://127.0.0.1:9");
        assert_eq!(located.looked.len(), 1, "{:?}", located.looked);
        assert!(located.looked[0].ends_with("api.addr says http://127.0.0.1:9"));

        // The variable, then --addr, win over the implicit config.
        let Ok(located) = connection(None, None).locate(|_| Some("10.0.0.1:1".into())) else {
            panic!("the variable")
        };
        assert_eq!(located.base_url, "http://10.0.0.1:1");
        assert_eq!(located.looked, ["$WARDEN_ADDR: http://10.0.0.1:1"]);
        let Ok(located) =
            connection(Some("10.0.0.2:2"), None).locate(|_| Some("10.0.0.1:1".into()))
        else {
            panic!("--addr")
        };
        assert_eq!(located.base_url, "http://10.0.0.2:2");
    }

    #[test]
    fn with_nothing_found_the_default_is_tried_and_the_trail_says_so() {
        // The crate's directory, where unit tests run, has no warden.toml.
        let Ok(located) = connection(None, None).locate(|_| None) else {
            panic!("the default")
        };
        assert_eq!(located.base_url, DEFAULT_ADDR);
        assert_eq!(
            located.looked,
            [
                "$WARDEN_ADDR: not set",
                "./warden.toml: no such file",
                "the default: http://127.0.0.1:7878"
            ]
        );
    }

    #[test]
    fn addresses_get_a_scheme_and_lose_a_trailing_slash() {
        assert_eq!(normalize_addr("127.0.0.1:7878"), "http://127.0.0.1:7878");
        assert_eq!(normalize_addr("http://[::1]:80/"), "http://[::1]:80");
    }

    #[test]
    fn query_values_are_percent_encoded() {
        assert_eq!(percent_encode("root/a-b_c.d"), "root/a-b_c.d");
        assert_eq!(percent_encode("a b&c=d,e"), "a%20b%26c%3Dd,e");
        assert_eq!(percent_encode("é"), "%C3%A9");
    }

    #[test]
    fn violations_get_a_line_each() {
        let body = json!({"error": {
            "kind": "invalid_params",
            "message": "invalid params for `ps`: /limit: expected integer, found string \"x\"; (root): x",
            "violations": [
                {"path": "/limit", "expected": "integer", "found": "string \"x\""},
                {"path": "", "expected": "an object", "found": "array"}
            ]
        }});
        assert_eq!(
            error_message(400, &body, Some("ps")),
            "invalid params for `ps`:\n  /limit: expected integer, found string \"x\"\n  (root): expected an object, found array"
        );
        assert_eq!(error_message(502, &json!(null), None), "HTTP 502");
    }
}
