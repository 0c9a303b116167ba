//! `warden ctl groups | group | rollouts | rollout | storm | chaos`: the
//! supervisor-control operations (`group.*`, `rollout.*`,
//! `supervisor.storm`, `chaos.run`) from the command line.
//!
//! Owns: their arguments, the params built from them, and the human text of
//! their results. Never does: decide anything an operation does not (the
//! batches, the gates, the rollback and the storm defaults are the host's);
//! a flag left out is left out of the params, so the host's default holds.

use anyhow::anyhow;
use serde_json::{Map, Value, json};

use super::render::{field, scalar, table};
use super::{Failure, Host, insert_some, output};

/// `ctl group NAME …`: what to do with the group besides showing it.
#[derive(clap::Subcommand)]
pub(super) enum GroupAction {
    /// Send MESSAGE to every component member; prints each member's reply
    /// or error (exit 1 when any member failed).
    Broadcast {
        /// The message, as text.
        message: String,
        /// How long each member's reply is waited for.
        #[arg(long)]
        timeout_ms: Option<u64>,
    },
    /// Add the child at PATH (any kind) to the group, creating it.
    Join {
        /// The child's full path, e.g. `root/counter`.
        path: String,
    },
    /// Remove the member at PATH from the group.
    Leave {
        /// The member's path.
        path: String,
    },
}

/// `ctl rollout start …`.
#[derive(clap::Subcommand)]
pub(super) enum RolloutCommand {
    /// Start a rollout over a group's members or a list of paths, batch by
    /// batch, each batch gated on its members staying healthy for
    /// --settle-ms; prints its id (or, with --dry-run, its batches).
    Start(RolloutStart),
}

#[derive(clap::Args)]
#[command(group(clap::ArgGroup::new("members").required(true).args(["group", "paths"])))]
pub(super) struct RolloutStart {
    /// The group whose members it takes, sorted by path.
    #[arg(long)]
    group: Option<String>,
    /// Children's paths, in the order the batches take them
    /// (`root/a,root/b`).
    #[arg(long, value_delimiter = ',', num_args = 1..)]
    paths: Vec<String>,
    /// What is done to each member.
    #[arg(long, value_enum)]
    action: RolloutAction,
    /// reload of sandboxes only: the store id (64 hex digits) to reload to.
    #[arg(long)]
    component: Option<String>,
    /// strategy only: the new strategy.
    #[arg(long, value_parser = ["one_for_one", "one_for_all", "rest_for_one"])]
    strategy: Option<String>,
    /// Members changed together (host default 1).
    #[arg(long)]
    batch_size: Option<u64>,
    /// How many members may be down at once (host default 1).
    #[arg(long)]
    max_unavailable: Option<u64>,
    /// How long each batch's members must stay healthy.
    #[arg(long)]
    settle_ms: Option<u64>,
    /// Only show the batches.
    #[arg(long)]
    dry_run: bool,
}

#[derive(clap::ValueEnum, Clone, Copy)]
#[value(rename_all = "snake_case")]
pub(super) enum RolloutAction {
    /// Terminate and start each member.
    Restart,
    /// Hot-reload each component member.
    Reload,
    /// Change each supervisor member's strategy.
    Strategy,
}

impl RolloutAction {
    fn as_str(self) -> &'static str {
        match self {
            Self::Restart => "restart",
            Self::Reload => "reload",
            Self::Strategy => "strategy",
        }
    }
}

/// `ctl storm PATH …`: the flags of `supervisor.storm`.
#[derive(clap::Args)]
pub(super) struct StormArgs {
    /// The supervisor's path, e.g. `root`.
    path: String,
    /// Only this child (its id); every child of the supervisor otherwise.
    #[arg(long)]
    child: Option<String>,
    /// Turn the detector off (no other setting may be given).
    #[arg(long, conflicts_with_all = ["per_minute", "per_hour", "action", "cooldown_ms", "escalate_after"])]
    off: bool,
    /// A storm is more restarts than this within a minute.
    #[arg(long)]
    per_minute: Option<u64>,
    /// … or within an hour.
    #[arg(long)]
    per_hour: Option<u64>,
    /// What a storm does.
    #[arg(long, value_parser = ["tiered", "log", "pause", "escalate"])]
    action: Option<String>,
    /// How long a pause holds the restart (required for `pause`).
    #[arg(long)]
    cooldown_ms: Option<u64>,
    /// With `tiered`: the storm within an hour that escalates.
    #[arg(long)]
    escalate_after: Option<u64>,
}

/// `ctl chaos SCENARIO …`: the params of `chaos.run`.
#[derive(clap::Args)]
pub(super) struct ChaosArgs {
    /// The experiment.
    #[arg(value_parser = ["kill_random", "cascade", "hang", "memory_pressure"])]
    scenario: String,
    /// Paths of worker children (`root/a,root/b`).
    #[arg(long, value_delimiter = ',', num_args = 1.., required = true)]
    targets: Vec<String>,
    /// How long faults are injected.
    #[arg(long)]
    duration_ms: u64,
    /// kill_random, cascade: kills per second.
    #[arg(long)]
    rate: Option<f64>,
    /// kill_random: the random sequence.
    #[arg(long)]
    seed: Option<u64>,
    /// memory_pressure: the lowered memory limit.
    #[arg(long)]
    limit_mb: Option<u64>,
}

/// `ctl groups`.
pub(super) async fn groups(host: &Host, json: bool) -> Result<(), Failure> {
    let list = host.call("group.list", json!({})).await?;
    output(json, &list, render_groups)
}

/// `ctl group NAME [broadcast MESSAGE | join PATH | leave PATH]`.
pub(super) async fn group(
    host: &Host,
    json: bool,
    name: String,
    action: Option<GroupAction>,
) -> Result<(), Failure> {
    match action {
        None => {
            let health = host.call("group.health", json!({ "group": name })).await?;
            output(json, &health, render_group_health)
        }
        Some(GroupAction::Broadcast {
            message,
            timeout_ms,
        }) => {
            let mut params = json!({ "group": name, "message": message });
            if let Some(ms) = timeout_ms {
                params["timeout_ms"] = ms.into();
            }
            let result = host.call("group.broadcast", params).await?;
            output(json, &result, render_broadcast)?;
            let failed = result["answers"]
                .as_array()
                .map_or(0, |a| a.iter().filter(|m| m["ok"] != true).count());
            if failed > 0 {
                return Err(Failure::failed(anyhow!(
                    "group `{name}`: {failed} member(s) did not answer"
                )));
            }
            Ok(())
        }
        Some(GroupAction::Join { path }) => {
            let result = host
                .call("group.join", json!({ "group": name, "path": path }))
                .await?;
            output(json, &result, |v| {
                let word = if v["joined"] == true {
                    "joined"
                } else {
                    "was already a member of"
                };
                format!("{} {word} group {}\n", field(v, "path"), field(v, "group"))
            })
        }
        Some(GroupAction::Leave { path }) => {
            let result = host
                .call("group.leave", json!({ "group": name, "path": path }))
                .await?;
            output(json, &result, |v| {
                format!("{} left group {}\n", field(v, "path"), field(v, "group"))
            })
        }
    }
}

/// `ctl rollouts`.
pub(super) async fn rollouts(host: &Host, json: bool) -> Result<(), Failure> {
    let list = host.call("rollout.list", json!({})).await?;
    output(json, &list, render_rollouts)
}

/// `ctl rollout start … | ID [abort]`.
pub(super) async fn rollout(
    host: &Host,
    json: bool,
    id: Option<String>,
    abort: bool,
    start: Option<RolloutCommand>,
) -> Result<(), Failure> {
    match (start, id) {
        (Some(RolloutCommand::Start(args)), _) => rollout_start(host, json, args).await,
        (None, Some(id)) => {
            let op = if abort {
                "rollout.abort"
            } else {
                "rollout.status"
            };
            let view = host.call(op, json!({ "id": id })).await?;
            output(json, &view, render_rollout)
        }
        (None, None) => Err(Failure::bad_input(anyhow!(
            "give a rollout id (`warden ctl rollouts` lists them) or `start`"
        ))),
    }
}

async fn rollout_start(host: &Host, json: bool, args: RolloutStart) -> Result<(), Failure> {
    let mut params = Map::new();
    insert_some(&mut params, "group", args.group.map(Value::from));
    if !args.paths.is_empty() {
        params.insert("paths".to_string(), args.paths.into());
    }
    params.insert("action".to_string(), args.action.as_str().into());
    insert_some(&mut params, "component", args.component.map(Value::from));
    insert_some(&mut params, "strategy", args.strategy.map(Value::from));
    insert_some(&mut params, "batch_size", args.batch_size.map(Value::from));
    insert_some(
        &mut params,
        "max_unavailable",
        args.max_unavailable.map(Value::from),
    );
    insert_some(&mut params, "settle_ms", args.settle_ms.map(Value::from));
    params.insert("dry_run".to_string(), args.dry_run.into());
    let started = host.call("rollout.start", Value::Object(params)).await?;
    output(json, &started, render_rollout_started)
}

/// `ctl storm PATH …`.
pub(super) async fn storm(host: &Host, json: bool, args: StormArgs) -> Result<(), Failure> {
    let mut params = Map::new();
    params.insert("path".to_string(), args.path.into());
    insert_some(&mut params, "child", args.child.map(Value::from));
    if args.off {
        params.insert("enabled".to_string(), false.into());
    }
    insert_some(&mut params, "per_minute", args.per_minute.map(Value::from));
    insert_some(&mut params, "per_hour", args.per_hour.map(Value::from));
    insert_some(&mut params, "action", args.action.map(Value::from));
    insert_some(
        &mut params,
        "cooldown_ms",
        args.cooldown_ms.map(Value::from),
    );
    insert_some(
        &mut params,
        "escalate_after",
        args.escalate_after.map(Value::from),
    );
    let result = host.call("supervisor.storm", Value::Object(params)).await?;
    output(json, &result, render_storm)
}

/// `ctl chaos SCENARIO …`: waits for the experiment's end (it is bounded).
pub(super) async fn chaos(host: &Host, json: bool, args: ChaosArgs) -> Result<(), Failure> {
    let mut params = Map::new();
    params.insert("scenario".to_string(), args.scenario.into());
    params.insert("targets".to_string(), args.targets.into());
    params.insert("duration_ms".to_string(), args.duration_ms.into());
    insert_some(&mut params, "rate", args.rate.map(Value::from));
    insert_some(&mut params, "seed", args.seed.map(Value::from));
    insert_some(&mut params, "limit_mb", args.limit_mb.map(Value::from));
    let report = host.call("chaos.run", Value::Object(params)).await?;
    output(json, &report, render_chaos)?;
    if report["recovered"] == false {
        return Err(Failure::failed(anyhow!(
            "the targets did not all run again after the experiment"
        )));
    }
    Ok(())
}

// ---------------------------------------------------------------- text

fn items(value: &Value) -> &[Value] {
    value.as_array().map(Vec::as_slice).unwrap_or_default()
}

fn render_groups(list: &Value) -> String {
    if items(list).is_empty() {
        return "no groups\n".to_string();
    }
    let rows: Vec<Vec<String>> = items(list)
        .iter()
        .map(|g| vec![field(g, "name"), field(g, "members")])
        .collect();
    table(&["GROUP", "MEMBERS"], &rows)
}

fn render_group_health(health: &Value) -> String {
    let mut out = format!(
        "group {}: {} ({} members: {} running, {} restarting, {} stopped, {} gone; {} restarts)\n",
        field(health, "group"),
        field(health, "level"),
        field(health, "members"),
        field(health, "running"),
        field(health, "restarting"),
        field(health, "stopped"),
        field(health, "gone"),
        field(health, "restarts"),
    );
    let rows: Vec<Vec<String>> = items(&health["states"])
        .iter()
        .map(|m| {
            vec![
                format!("  {}", field(m, "path")),
                field(m, "type"),
                field(m, "status"),
                field(m, "generation"),
                field(m, "restarts"),
                field(m, "source"),
            ]
        })
        .collect();
    if !rows.is_empty() {
        out.push_str(&table(
            &["  MEMBER", "TYPE", "STATUS", "GEN", "RESTARTS", "SOURCE"],
            &rows,
        ));
    }
    out
}

fn render_broadcast(result: &Value) -> String {
    let mut out = String::new();
    for answer in items(&result["answers"]) {
        let text = if answer["ok"] == true {
            answer.get("reply").map_or_else(|| "ok".to_string(), scalar)
        } else {
            let error = &answer["error"];
            format!("{}: {}", field(error, "kind"), field(error, "message"))
        };
        out.push_str(&format!("{}: {text}\n", field(answer, "path")));
    }
    if out.is_empty() {
        out = format!("group {} has no members\n", field(result, "group"));
    }
    out
}

fn batches_text(batches: &Value) -> String {
    items(batches)
        .iter()
        .enumerate()
        .map(|(i, b)| {
            let paths: Vec<String> = items(b).iter().map(scalar).collect();
            format!("  batch {}: {}\n", i + 1, paths.join(", "))
        })
        .collect()
}

fn render_rollout_started(started: &Value) -> String {
    let head = if started["dry_run"] == true {
        format!("dry run: {} in these batches\n", field(started, "action"))
    } else {
        format!(
            "rollout {} started: {} in these batches\n",
            field(started, "id"),
            field(started, "action")
        )
    };
    head + &batches_text(&started["batches"])
}

fn render_rollouts(list: &Value) -> String {
    if items(list).is_empty() {
        return "no rollouts\n".to_string();
    }
    let rows: Vec<Vec<String>> = items(list)
        .iter()
        .map(|r| {
            let batches = items(&r["batches"]);
            let done = batches.iter().filter(|b| b["state"] == "done").count();
            vec![
                field(r, "id"),
                field(r, "action"),
                field(r, "state"),
                format!("{done}/{}", batches.len()),
                r.get("group").map_or_else(|| "-".to_string(), scalar),
                field(r, "reason"),
            ]
        })
        .collect();
    table(
        &["ID", "ACTION", "STATE", "BATCHES", "GROUP", "REASON"],
        &rows,
    )
}

fn render_rollout(view: &Value) -> String {
    let mut out = format!(
        "rollout {}: {} {} (batch size {}, max unavailable {}, settle {} ms)\n",
        field(view, "id"),
        field(view, "action"),
        field(view, "state"),
        field(view, "batch_size"),
        field(view, "max_unavailable"),
        field(view, "settle_ms"),
    );
    if let Some(reason) = view.get("reason") {
        out.push_str(&format!("  reason: {}\n", scalar(reason)));
    }
    for batch in items(&view["batches"]) {
        out.push_str(&format!(
            "  batch {} {}\n",
            field(batch, "batch"),
            field(batch, "state")
        ));
        for m in items(&batch["members"]) {
            let detail = m
                .get("detail")
                .map_or_else(String::new, |d| format!(" ({})", scalar(d)));
            out.push_str(&format!(
                "    {} {}{detail}\n",
                field(m, "path"),
                field(m, "outcome")
            ));
        }
    }
    out
}

fn render_storm(result: &Value) -> String {
    let children: Vec<String> = items(&result["children"]).iter().map(scalar).collect();
    let storm = &result["storm"];
    let settings = if storm.is_null() {
        "off".to_string()
    } else {
        let parts: Vec<String> = storm
            .as_object()
            .into_iter()
            .flatten()
            .filter(|(_, v)| !v.is_null())
            .map(|(k, v)| format!("{k} {}", scalar(v)))
            .collect();
        parts.join(", ")
    };
    format!(
        "{}: storm protection {settings} for {}\n",
        field(result, "supervisor"),
        if children.is_empty() {
            "no child".to_string()
        } else {
            children.join(", ")
        }
    )
}

fn render_chaos(report: &Value) -> String {
    let targets: Vec<String> = items(&report["targets"]).iter().map(scalar).collect();
    let recovered = if report["recovered"] == true {
        format!("recovered in {} ms", field(report, "recovery_ms"))
    } else {
        "NOT recovered".to_string()
    };
    format!(
        "{} on {}: {} faults injected, {} restarts, {} escalations, {} released; {recovered}\n",
        field(report, "scenario"),
        targets.join(", "),
        field(report, "injected"),
        field(report, "restarts"),
        field(report, "escalations"),
        field(report, "released"),
    )
}
