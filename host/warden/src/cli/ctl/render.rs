//! Human output of `warden ctl`: the JSON results of operations as an
//! indented tree, aligned tables, summaries and one-line events.
//!
//! Every renderer reads the result leniently (a missing field shows as
//! `-`), so a host that adds fields, or an older one that lacks some,
//! still prints; `--json` is the exact form.

use serde_json::Value;

/// A JSON value as a word: strings bare, `null` as `-`, the rest as JSON.
pub(super) fn scalar(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        Value::Null => "-".to_string(),
        other => other.to_string(),
    }
}

pub(super) fn field(value: &Value, key: &str) -> String {
    value
        .get(key)
        .map(scalar)
        .unwrap_or_else(|| "-".to_string())
}

/// An exit reason (`{"reason": "abnormal", "kind": "killed", …}`) in a word.
fn exit_word(exit: &Value) -> Option<String> {
    match exit {
        Value::Null => None,
        Value::String(s) => Some(s.clone()),
        Value::Object(map) => {
            let reason = map.get("reason").and_then(Value::as_str);
            let kind = map.get("kind").and_then(Value::as_str);
            Some(match (reason, kind) {
                (Some("abnormal") | None, Some(kind)) => kind.to_string(),
                (Some(reason), _) => reason.to_string(),
                (None, None) => exit.to_string(),
            })
        }
        other => Some(other.to_string()),
    }
}

/// Rows under a header, columns padded to their widest cell; the last
/// column is not padded.
pub(super) fn table(headers: &[&str], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = headers.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let line = |cells: Vec<&str>| {
        let last = cells.len().saturating_sub(1);
        let mut text = String::new();
        for (i, cell) in cells.into_iter().enumerate() {
            if i == last {
                text.push_str(cell);
            } else {
                text.push_str(&format!("{cell:<width$}  ", width = widths[i]));
            }
        }
        text.trim_end().to_string() + "\n"
    };
    let mut out = line(headers.to_vec());
    for row in rows {
        out.push_str(&line(row.iter().map(String::as_str).collect()));
    }
    out
}

/// `root (one_for_one)` and below it every child, one line each.
pub(super) fn render_tree(tree: &Value) -> String {
    let mut out = format!("{} ({})\n", field(tree, "path"), field(tree, "strategy"));
    render_children(tree, "", &mut out);
    out
}

fn render_children(node: &Value, indent: &str, out: &mut String) {
    let children = node
        .get("children")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or_default();
    let id_width = children
        .iter()
        .map(|c| field(c, "id").chars().count())
        .max()
        .unwrap_or(0);
    for (i, child) in children.iter().enumerate() {
        let last = i + 1 == children.len();
        let kind = match child.get("type").and_then(Value::as_str) {
            Some("supervisor") => format!("supervisor ({})", field(child, "strategy")),
            Some(other) => other.to_string(),
            None => "-".to_string(),
        };
        let mut line = format!(
            "{indent}{} {:<id_width$}  {kind}  {}  gen {}  restarts {}",
            if last { "└─" } else { "├─" },
            field(child, "id"),
            field(child, "status"),
            field(child, "generation"),
            field(child, "restarts"),
        );
        if let Some(exit) = child.get("last_exit").and_then(exit_word) {
            line.push_str(&format!("  last exit {exit}"));
        }
        out.push_str(&line);
        out.push('\n');
        let deeper = format!("{indent}{}", if last { "   " } else { "│  " });
        render_children(child, &deeper, out);
    }
}

/// Worker incarnations as a table (`warden ps` prints with it too).
pub(in crate::cli) fn render_ps(rows: &Value) -> String {
    let rows = rows.as_array().map(Vec::as_slice).unwrap_or_default();
    if rows.is_empty() {
        return "no worker incarnations match\n".to_string();
    }
    let cells: Vec<Vec<String>> = rows
        .iter()
        .map(|r| {
            vec![
                field(r, "child"),
                field(r, "pid"),
                field(r, "status"),
                field(r, "restart_count"),
                r.get("peak_memory_bytes")
                    .and_then(Value::as_u64)
                    .map_or("-".to_string(), |b| format!("{:.1}", b as f64 / 1048576.0)),
                field(r, "health"),
                field(r, "exit_reason"),
                field(r, "command"),
            ]
        })
        .collect();
    table(
        &[
            "CHILD", "PID", "STATUS", "RESTARTS", "PEAK_MB", "HEALTH", "EXIT", "COMMAND",
        ],
        &cells,
    )
}

/// Audit rows (`audit.recent`) as a table, newest first as they come.
pub(super) fn render_audit(rows: &Value) -> String {
    let rows = rows.as_array().map(Vec::as_slice).unwrap_or_default();
    if rows.is_empty() {
        return "no audited calls match\n".to_string();
    }
    let cells: Vec<Vec<String>> = rows
        .iter()
        .map(|r| {
            vec![
                r.get("at_ms")
                    .and_then(Value::as_i64)
                    .map_or("-".to_string(), warden::process::rfc3339),
                field(r, "token"),
                field(r, "op"),
                field(r, "status"),
                field(r, "outcome"),
                r.get("duration_us")
                    .and_then(Value::as_u64)
                    .map_or("-".to_string(), |us| format!("{:.3}", us as f64 / 1000.0)),
                // The first 12 hex digits tell calls apart; --json has all.
                r.get("params_sha256")
                    .and_then(Value::as_str)
                    .map_or("-".to_string(), |h| h.chars().take(12).collect()),
            ]
        })
        .collect();
    table(
        &[
            "TIME",
            "TOKEN",
            "OP",
            "STATUS",
            "OUTCOME",
            "MS",
            "PARAMS_SHA256",
        ],
        &cells,
    )
}

/// `child.info`: the child's state first, then its details (nested ones
/// dotted), one `key  value` line each.
pub(super) fn render_info(info: &Value) -> String {
    const FIRST: [&str; 7] = [
        "id",
        "type",
        "status",
        "generation",
        "restarts",
        "restart",
        "last_exit",
    ];
    let Some(map) = info.as_object() else {
        return render_value(info);
    };
    let mut lines = Vec::new();
    for key in FIRST {
        if let Some(value) = map.get(key) {
            let text = match key {
                "last_exit" => exit_word(value).unwrap_or_else(|| "-".to_string()),
                _ => scalar(value),
            };
            lines.push((key.to_string(), text));
        }
    }
    for (key, value) in map {
        match key.as_str() {
            "path" => {}
            "version" => lines.push(("version".to_string(), version_word(value))),
            key if FIRST.contains(&key) => {}
            _ => flatten(key, value, &mut lines),
        }
    }
    let width = lines.iter().map(|(k, _)| k.len()).max().unwrap_or(0);
    let mut out = format!("{}\n", field(info, "path"));
    for (key, value) in lines {
        out.push_str(&format!("  {key:<width$}  {value}\n"));
    }
    out
}

/// `{"current": 2, "records": [..]}` as `2 (of 3 recorded)`.
fn version_word(version: &Value) -> String {
    match version.get("records").and_then(Value::as_array) {
        Some(records) => format!(
            "{} (of {} recorded)",
            field(version, "current"),
            records.len()
        ),
        None => scalar(version),
    }
}

fn flatten(prefix: &str, value: &Value, out: &mut Vec<(String, String)>) {
    match value {
        Value::Object(map) if !map.is_empty() => {
            for (key, inner) in map {
                flatten(&format!("{prefix}.{key}"), inner, out);
            }
        }
        other => out.push((prefix.to_string(), scalar(other))),
    }
}

/// A reload's outcome in a sentence.
pub(super) fn render_reload(path: &str, outcome: &Value) -> String {
    let version = field(outcome, "version");
    match outcome.get("outcome").and_then(Value::as_str) {
        Some("unchanged") => format!("{path}: unchanged, still version {version}\n"),
        Some("reloaded") => {
            let mut line = format!("{path}: reloaded to version {version}");
            if let Some(ms) = outcome.get("duration_ms") {
                line.push_str(&format!(" in {} ms", scalar(ms)));
            }
            if let Some(origin) = outcome.get("origin") {
                line.push_str(&format!(" ({})", scalar(origin)));
            }
            if let Some(tier) = outcome.get("tier") {
                line.push_str(&format!(", {} code", scalar(tier)));
            }
            line + "\n"
        }
        Some("failed") => format!(
            "{path}: version {version} failed at {}: {}\n",
            field(outcome, "stage"),
            field(outcome, "reason")
        ),
        _ => render_value(outcome),
    }
}

/// A version history as a table, the current version marked `*`.
pub(super) fn render_versions(versions: &Value) -> String {
    let current = versions.get("current").and_then(Value::as_u64);
    let records = versions
        .get("records")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or_default();
    let rows: Vec<Vec<String>> = records
        .iter()
        .map(|r| {
            let version = r.get("version").and_then(Value::as_u64);
            // `{"outcome": "failed", "stage": …}`, nested or flattened.
            let outcome = match r.get("outcome") {
                Some(Value::Object(o)) => Value::Object(o.clone()),
                _ => r.clone(),
            };
            let outcome = match outcome.get("outcome").and_then(Value::as_str) {
                Some("failed") => format!("failed at {}", field(&outcome, "stage")),
                Some(other) => other.to_string(),
                None => "-".to_string(),
            };
            let hash = field(r, "hash");
            vec![
                if version.is_some() && version == current {
                    "*"
                } else {
                    ""
                }
                .to_string(),
                version.map_or("-".to_string(), |v| v.to_string()),
                outcome,
                format!("{} ms", field(r, "duration_ms")),
                hash.chars().take(12).collect(),
                field(r, "source"),
            ]
        })
        .collect();
    table(
        &["", "VERSION", "OUTCOME", "DURATION", "HASH", "SOURCE"],
        &rows,
    )
}

/// A config reload's plan: whether it was applied, then one line per
/// non-empty list (the unchanged children counted, not listed).
pub(super) fn render_plan(plan: &Value) -> String {
    let list = |v: Option<&Value>| -> Vec<String> {
        v.and_then(Value::as_array)
            .map(|a| a.iter().map(scalar).collect())
            .unwrap_or_default()
    };
    let applied = plan.get("applied").and_then(Value::as_bool) == Some(true);
    let mut out = String::from(if applied {
        "config reloaded\n"
    } else {
        "dry run, nothing changed\n"
    });
    let mut any = false;
    let operations = plan.get("operations");
    for (label, items) in [
        ("added", list(plan.get("added"))),
        ("removed", list(plan.get("removed"))),
        ("changed (restarted)", list(plan.get("changed"))),
        ("supervisors changed", list(plan.get("supervisors_changed"))),
        (
            "operation plugins added",
            list(operations.and_then(|o| o.get("added"))),
        ),
        (
            "operation plugins removed",
            list(operations.and_then(|o| o.get("removed"))),
        ),
        (
            "operation plugins changed",
            list(operations.and_then(|o| o.get("changed"))),
        ),
    ] {
        if !items.is_empty() {
            any = true;
            out.push_str(&format!("  {label}: {}\n", items.join(", ")));
        }
    }
    if !any {
        out.push_str("  the file holds the running config: nothing to do\n");
    }
    out.push_str(&format!(
        "  unchanged: {} children\n",
        list(plan.get("unchanged")).len()
    ));
    out
}

/// A strategy change: from → to, what it did, and each coupling change.
pub(super) fn render_strategy(report: &Value) -> String {
    let outcome = report.get("outcome").cloned().unwrap_or(Value::Null);
    let what = match outcome.get("outcome").and_then(Value::as_str) {
        Some("dry_run") => "dry run, nothing changed".to_string(),
        Some("applied") => "applied".to_string(),
        Some("rolled_back") => format!(
            "rolled back: {} restarts while settling",
            field(&outcome, "restarts")
        ),
        _ => scalar(&outcome),
    };
    let mut out = format!(
        "{}: {} -> {} ({what})\n",
        field(report, "supervisor"),
        field(report, "from"),
        field(report, "to")
    );
    let changes = report
        .get("changes")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or_default();
    if changes.is_empty() {
        out.push_str("  no child changes coupling\n");
    }
    let ids = |v: Option<&Value>| {
        let list: Vec<String> = v
            .and_then(Value::as_array)
            .map(|a| a.iter().map(scalar).collect())
            .unwrap_or_default();
        if list.is_empty() {
            "none".to_string()
        } else {
            list.join(", ")
        }
    };
    for change in changes {
        out.push_str(&format!(
            "  {}: fails with {} (before: {})\n",
            field(change, "child"),
            ids(change.get("after")),
            ids(change.get("before"))
        ));
    }
    out
}

/// Health reports: per supervisor, its window, counts, children and advice.
pub(super) fn render_health(reports: &Value) -> String {
    let reports = match reports {
        Value::Array(list) => list.clone(),
        other => vec![other.clone()],
    };
    let mut out = String::new();
    for report in &reports {
        out.push_str(&format!(
            "{}  {}  intensity {} per {} ms\n",
            field(report, "supervisor"),
            field(report, "strategy"),
            field(report, "intensity"),
            field(report, "period_ms")
        ));
        out.push_str(&format!(
            "  restarts: {} in the period, {} in the last hour, {} in total\n",
            field(report, "restarts_in_period"),
            field(report, "restarts_last_hour"),
            field(report, "restarts_total")
        ));
        if let Some(score) = report.get("score") {
            out.push_str(&format!(
                "  health: {}, score {}{}\n",
                field(report, "level"),
                scalar(score),
                report
                    .get("reasons")
                    .and_then(Value::as_array)
                    .filter(|r| !r.is_empty())
                    .map(|r| format!(" ({})", r.iter().map(scalar).collect::<Vec<_>>().join("; ")))
                    .unwrap_or_default()
            ));
        }
        if let Some(counts) = report.get("counts") {
            out.push_str(&format!(
                "  children: {} specs, {} active ({} workers, {} supervisors)\n",
                field(counts, "specs"),
                field(counts, "active"),
                field(counts, "workers"),
                field(counts, "supervisors")
            ));
        }
        let children = report
            .get("children")
            .and_then(Value::as_array)
            .map(Vec::as_slice)
            .unwrap_or_default();
        let rows: Vec<Vec<String>> = children
            .iter()
            .map(|c| {
                vec![
                    format!("  {}", field(c, "id")),
                    field(c, "status"),
                    field(c, "generation"),
                    c.get("uptime_ms")
                        .and_then(Value::as_u64)
                        .map_or("-".to_string(), |ms| format!("{:.1}s", ms as f64 / 1000.0)),
                    field(c, "restarts_total"),
                    field(c, "restarts_last_hour"),
                    c.get("last_exit")
                        .and_then(exit_word)
                        .unwrap_or_else(|| "-".to_string()),
                ]
            })
            .collect();
        if !rows.is_empty() {
            out.push_str(&table(
                &[
                    "  CHILD",
                    "STATUS",
                    "GEN",
                    "UPTIME",
                    "RESTARTS",
                    "LAST_HOUR",
                    "LAST_EXIT",
                ],
                &rows,
            ));
        }
        let advice = report
            .get("recommendations")
            .and_then(Value::as_array)
            .map(Vec::as_slice)
            .unwrap_or_default();
        if advice.is_empty() {
            out.push_str("  no recommendations\n");
        }
        for rec in advice {
            out.push_str(&format!("  advice: {}\n", field(rec, "message")));
        }
    }
    if reports.is_empty() {
        out.push_str("no supervisors\n");
    }
    out
}

/// One event: time (UTC), path, kind, then its fields as `key=value`.
pub(super) fn render_event(kind: &str, event: &Value) -> String {
    if kind == "missed" {
        return format!(
            "… {} events missed (the reader was too slow)",
            field(event, "missed")
        );
    }
    let time =
        event
            .get("at_ms")
            .and_then(Value::as_u64)
            .map_or("--:--:--.---".to_string(), |ms| {
                let day_ms = ms % 86_400_000;
                format!(
                    "{:02}:{:02}:{:02}.{:03}",
                    day_ms / 3_600_000,
                    day_ms / 60_000 % 60,
                    day_ms / 1000 % 60,
                    day_ms % 1000
                )
            });
    let mut line = format!("{time}  {}  {kind}", field(event, "path"));
    for (key, value) in event.as_object().into_iter().flatten() {
        if matches!(key.as_str(), "at_ms" | "path" | "event" | "seq") {
            continue;
        }
        let text = match value {
            Value::String(s) if !s.is_empty() && !s.contains(char::is_whitespace) => s.clone(),
            other => other.to_string(),
        };
        line.push_str(&format!(" {key}={text}"));
    }
    line
}

/// A child's log lines, one a line: `TIME STREAM LINE` (the stream of a
/// worker's line, the level of a component's), time in UTC.
pub(super) fn render_log(tail: &Value) -> String {
    let mut out = String::new();
    for line in tail["lines"].as_array().into_iter().flatten() {
        out.push_str(&render_log_line(line));
        out.push('\n');
    }
    out
}

/// One log line (see [`render_log`]).
pub(super) fn render_log_line(line: &Value) -> String {
    let time = line["at_ms"].as_u64().map_or("-".to_string(), utc_time);
    let source = line
        .get("stream")
        .or_else(|| line.get("level"))
        .and_then(Value::as_str)
        .unwrap_or("-");
    format!("{time} {source:<6} {}", field(line, "line"))
}

/// One trace record: `TIME #SEQ KIND[ from SENDER] IN_SIZE → OUTCOME
/// OUT_SIZE LATENCY µs  PREVIEW → PREVIEW`.
pub(super) fn render_trace_record(record: &Value) -> String {
    let time = record["at_ms"].as_u64().map_or("-".to_string(), utc_time);
    let kind = match record.get("from").and_then(Value::as_str) {
        Some(from) => format!("{} from {from}", field(record, "kind")),
        None => field(record, "kind"),
    };
    let preview = |p: &Value| {
        let text = field(p, "preview");
        let text = if p["encoding"] == "hex" {
            format!("hex:{text}")
        } else {
            format!("{text:?}")
        };
        if p["truncated"] == true {
            format!("{text}…")
        } else {
            text
        }
    };
    format!(
        "{time} #{} {kind} {}B → {} {}B {}µs  {} → {}",
        field(record, "seq"),
        field(&record["message"], "size"),
        field(record, "outcome"),
        field(&record["reply"], "size"),
        field(record, "latency_us"),
        preview(&record["message"]),
        preview(&record["reply"]),
    )
}

/// The Warden worlds a component fits, comma-separated (`-` for none).
fn fitting_worlds(worlds: &Value) -> String {
    let fits: Vec<&str> = worlds
        .as_object()
        .into_iter()
        .flatten()
        .filter(|(_, fits)| fits.as_bool() == Some(true))
        .map(|(name, _)| name.as_str())
        .collect();
    if fits.is_empty() {
        "-".to_string()
    } else {
        fits.join(", ")
    }
}

/// An upload's answer: the id first (for `cut`), then whether it was new.
pub(super) fn render_upload(created: bool, upload: &Value) -> String {
    format!(
        "{} {} ({} bytes; worlds: {})\n",
        field(upload, "id"),
        if created { "stored" } else { "already stored" },
        field(upload, "size"),
        fitting_worlds(&upload["worlds"])
    )
}

/// `GET /components`: one row per component.
pub(super) fn render_components(list: &Value) -> String {
    let rows: Vec<Vec<String>> = list
        .as_array()
        .into_iter()
        .flatten()
        .map(|c| {
            let users: Vec<String> = c["users"]
                .as_array()
                .into_iter()
                .flatten()
                .map(scalar)
                .collect();
            vec![
                field(c, "id"),
                field(c, "size"),
                c["stored_at_ms"].as_u64().map_or("-".to_string(), utc_time),
                if users.is_empty() {
                    "-".to_string()
                } else {
                    users.join(",")
                },
            ]
        })
        .collect();
    if rows.is_empty() {
        return "no components stored\n".to_string();
    }
    table(&["ID", "SIZE", "STORED", "USERS"], &rows)
}

/// `GET /components/{id}`: the summary, the worlds, then the WIT.
pub(super) fn render_component(component: &Value) -> String {
    let mut out = format!(
        "{}\nsize {} bytes, stored {}, users: {}\nworlds: {}\n\n",
        field(component, "id"),
        field(component, "size"),
        component["stored_at_ms"]
            .as_u64()
            .map_or("-".to_string(), utc_time),
        component["users"]
            .as_array()
            .filter(|u| !u.is_empty())
            .map_or("-".to_string(), |u| u
                .iter()
                .map(scalar)
                .collect::<Vec<_>>()
                .join(", ")),
        fitting_worlds(&component["worlds"])
    );
    out.push_str(component["wit"].as_str().unwrap_or_default());
    if !out.ends_with('\n') {
        out.push('\n');
    }
    out
}

/// `snapshot.list`: one row per stored snapshot.
pub(super) fn render_snapshots(list: &Value) -> String {
    let rows: Vec<Vec<String>> = list
        .as_array()
        .into_iter()
        .flatten()
        .map(|s| {
            vec![
                field(s, "id"),
                field(s, "path"),
                field(s, "size"),
                s["at_ms"].as_u64().map_or("-".to_string(), utc_time),
                s["version"]
                    .as_u64()
                    .map_or("-".to_string(), |v| v.to_string()),
                s["hash"]
                    .as_str()
                    .map_or("-".to_string(), |h| h.chars().take(12).collect()),
            ]
        })
        .collect();
    if rows.is_empty() {
        return "no snapshots stored\n".to_string();
    }
    table(
        &["ID", "PATH", "SIZE", "TAKEN", "VERSION", "COMPONENT"],
        &rows,
    )
}

/// `snapshot.get`: what is kept about it, then its state.
pub(super) fn render_snapshot(got: &Value) -> String {
    let state = match got["format"].as_str() {
        Some("json") => format!(
            "state (schema {}):\n{}",
            field(got, "schema"),
            serde_json::to_string_pretty(&got["state"]).unwrap_or_default()
        ),
        _ => format!("state (base64):\n{}", field(got, "state")),
    };
    format!(
        "{} of {}: {} bytes, taken {}, version {}\n{state}\n",
        field(got, "id"),
        field(got, "path"),
        field(got, "size"),
        got["at_ms"].as_u64().map_or("-".to_string(), utc_time),
        got["version"]
            .as_u64()
            .map_or("-".to_string(), |v| v.to_string()),
    )
}

/// `snapshot.diff`: one line per change, or that they are equal.
pub(super) fn render_snapshot_diff(diff: &Value) -> String {
    let (a, b) = (field(&diff["a"], "id"), field(&diff["b"], "id"));
    if diff["equal"].as_bool() == Some(true) {
        return format!("{a} and {b}: equal states\n");
    }
    if diff["format"] == "base64" {
        return format!("{a} and {b}: the states differ (not JSON: no details)\n");
    }
    let mut out = format!("{a} → {b}:\n");
    for change in diff["changes"].as_array().into_iter().flatten() {
        let path = field(change, "path");
        let line = match change["op"].as_str() {
            Some("added") => format!("  + {path}: {}\n", change["to"]),
            Some("removed") => format!("  - {path}: {}\n", change["from"]),
            _ => format!("  ~ {path}: {} → {}\n", change["from"], change["to"]),
        };
        out.push_str(&line);
    }
    out
}

/// Milliseconds since the epoch as RFC 3339 (UTC).
fn utc_time(ms: u64) -> String {
    let mut text = String::new();
    warden::process::write_rfc3339(i64::try_from(ms).unwrap_or(i64::MAX), &mut text);
    text
}

/// Any other result: strings as they are, the rest as pretty JSON.
pub(super) fn render_value(value: &Value) -> String {
    match value {
        Value::String(s) => format!("{s}\n"),
        other => format!(
            "{}\n",
            serde_json::to_string_pretty(other).unwrap_or_else(|_| other.to_string())
        ),
    }
}

#[cfg(test)]
mod tests {

    #[test]
    fn store_times_are_utc_dates_and_lists_show_users_and_worlds() {
        assert_eq!(utc_time(1_709_211_909_000), "2024-02-29T13:05:09.000Z");
        let upload = serde_json::json!({
            "id": "ab", "size": 3,
            "worlds": {"actor-plugin": true, "operation-plugin": false, "plugin": false}
        });
        assert_eq!(
            render_upload(true, &upload),
            "ab stored (3 bytes; worlds: actor-plugin)\n"
        );
        assert!(render_upload(false, &upload).starts_with("ab already stored"));
        let list = serde_json::json!([
            {"id": "ab", "size": 3, "stored_at_ms": 0, "users": ["component.call"]},
            {"id": "cd", "size": 4, "stored_at_ms": 0, "users": []}
        ]);
        let text = render_components(&list);
        assert!(text.starts_with("ID"), "{text}");
        assert!(
            text.contains("ab  3     1970-01-01T00:00:00.000Z  component.call"),
            "{text}"
        );
        assert!(text.lines().nth(2).unwrap().ends_with('-'), "{text}");
        assert_eq!(
            render_components(&serde_json::json!([])),
            "no components stored\n"
        );
    }
    use super::*;
    use serde_json::json;

    #[test]
    fn audit_rows_are_a_table_with_utc_times() {
        let rows = json!([{
            "id": 2, "at_ms": 1_700_000_000_123_i64, "token": "ops", "op": "child.restart",
            "params_sha256": "44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a",
            "status": 200, "outcome": "ok", "duration_us": 1500
        }, {
            "id": 1, "at_ms": 1_699_999_999_000_i64, "token": "viewer", "op": "child.kill",
            "params_sha256": null, "status": 403, "outcome": "forbidden_role", "duration_us": 20
        }]);
        let text = render_audit(&rows);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 3, "{text}");
        assert!(lines[0].starts_with("TIME "), "{text}");
        assert!(
            lines[1].starts_with("2023-11-14T22:13:20.123Z  ops "),
            "{text}"
        );
        assert!(
            lines[1].contains("child.restart") && lines[1].contains("1.500"),
            "{text}"
        );
        assert!(lines[1].ends_with("44136fa355b3"), "{text}");
        assert!(
            lines[2].contains("forbidden_role") && lines[2].ends_with('-'),
            "{text}"
        );
        assert_eq!(render_audit(&json!([])), "no audited calls match\n");
    }

    #[test]
    fn tables_align_columns_but_the_last() {
        let text = table(
            &["A", "BB", "C"],
            &[vec!["long".into(), "x".into(), "tail text".into()]],
        );
        assert_eq!(text, "A     BB  C\nlong  x   tail text\n");
    }

    #[test]
    fn log_lines_are_time_stream_text() {
        let tail = json!({"path": "root/web", "lines": [
            {"at_ms": 0, "stream": "stdout", "line": "hello world"},
            {"at_ms": 1_000, "level": "warn", "line": "careful"}
        ]});
        assert_eq!(
            render_log(&tail),
            "1970-01-01T00:00:00.000Z stdout hello world\n1970-01-01T00:00:01.000Z warn   careful\n"
        );
    }

    #[test]
    fn events_read_as_one_line() {
        let event = json!({
            "at_ms": 3_723_004u64, "path": "root/a", "event": "child_restarted",
            "generation": 2, "reason": "two words"
        });
        assert_eq!(
            render_event("child_restarted", &event),
            "01:02:03.004  root/a  child_restarted generation=2 reason=\"two words\""
        );
        assert_eq!(
            render_event("missed", &json!({"missed": 4})),
            "… 4 events missed (the reader was too slow)"
        );
    }
}
