//! `warden repl COMPONENT.wasm`: one instance kept alive across lines.
//!
//! Unlike `warden call`, which runs each call in a fresh sandbox, the REPL
//! builds one [`Sandbox`] and calls into it line after line, so a guest's
//! state persists (an actor's `init` runs once, first). A line is a call in
//! the syntax of [`syntax`] or a `:command`. The limits are `warden
//! call`'s, applied to each call; a call that fails under them (trap,
//! fuel, memory, timeout) leaves the instance unusable, so the REPL says
//! what happened and offers a fresh one (`:reset`).
//!
//! Line editing, completion of export names into argument templates built
//! from the parameter types, and history (`$XDG_STATE_HOME/warden/
//! repl_history`, `~/.local/state/…`, or `--history`) are rustyline's.
//! This module never changes the component's file and never talks to a
//! running host (that is `warden ctl repl`).

pub mod syntax;

use std::borrow::Cow;
use std::path::{Path, PathBuf};

use anyhow::anyhow;
use rustyline::completion::{Completer, Pair};
use rustyline::error::ReadlineError;
use rustyline::highlight::Highlighter;
use rustyline::hint::Hinter;
use rustyline::history::DefaultHistory;
use rustyline::validate::Validator;
use rustyline::{Context, Editor, Helper};
use serde_json::Value;
use warden::component::exports::{
    ExportedFunc, find_function, list_functions, short_interface_name,
};
use warden::component::values::{json_to_val, val_to_json};
use warden::component::wit_text::func_signature;
use warden::component::{
    Capabilities, ComponentError, HostContext, Limits, Prepared, Runtime, Sandbox, Type, Val,
    World, world,
};

use super::call::{InstanceFlags, bytes_as_text, show_output};
use super::out::{errln, outln};
use super::{CacheArgs, CmdResult, Failure};

#[derive(clap::Args)]
pub struct Args {
    /// The component to load.
    plugin: PathBuf,
    #[command(flatten)]
    instance: InstanceFlags,
    /// The history file (default: $XDG_STATE_HOME/warden/repl_history, or
    /// ~/.local/state/warden/repl_history).
    #[arg(long, value_name = "FILE")]
    history: Option<PathBuf>,
    #[command(flatten)]
    cache: CacheArgs,
}

const HELP: &str = "\
A line calls an export of the instance, whose state persists between lines:
  add(1, 2)                      WIT-like values: \"text\", 1, -2.5, true, [1, 2],
  greet({name: \"Ada\", age: 36})  {field: v}, (tuple, v), none, some(x), ok(x),
  handle(\"inc\")                  err(x), an enum or variant case by name, case(x)
  add [1, 2]                     or the arguments as a JSON array
Tab completes an export's name into a template of its arguments.
Commands:
  :exports          every export with its WIT signature
  :snapshot [FILE]  (actor) the state: shown, or written to FILE
  :restore FILE     (actor) put a state read from FILE back (an SDK actor's
                    state may be given without its {schema, state} envelope)
  :reload           re-read the component file (an actor keeps its state)
  :reset            a fresh instance (after a trap)
  :limits           the limits of each call, and the memory in use
  :help             this text
  :quit             leave (also Ctrl-D)";

const COMMANDS: &[&str] = &[
    ":exports",
    ":snapshot",
    ":restore",
    ":reload",
    ":reset",
    ":limits",
    ":help",
    ":quit",
];

pub fn run(args: Args) -> CmdResult {
    let mut session = Session::start(args)?;
    let helper = ReplHelper {
        exports: session.completions(),
    };
    let mut editor: Editor<ReplHelper, DefaultHistory> =
        Editor::new().map_err(|e| Failure::failed(anyhow!("cannot set up the terminal: {e}")))?;
    editor.set_helper(Some(helper));
    let history = session.history_file();
    if let Some(file) = &history {
        // A first session has no file yet; anything else is worth a word.
        if file.exists()
            && let Err(e) = editor.load_history(file)
        {
            errln!("warden repl: cannot read history {}: {e}", file.display());
        }
    }
    outln!(
        "{} loaded{}; :help for help, Tab completes an export",
        session.args.plugin.display(),
        if session.actor {
            " (an actor: init ran)"
        } else {
            ""
        }
    )?;
    loop {
        let line = match editor.readline("warden> ") {
            Ok(line) => line,
            Err(ReadlineError::Interrupted) => continue,
            Err(ReadlineError::Eof) => return Ok(()),
            Err(e) => return Err(Failure::failed(anyhow!("cannot read a line: {e}"))),
        };
        let line = line.trim();
        if line.is_empty() {
            continue;
        }
        if editor.add_history_entry(line).unwrap_or(false)
            && let Some(file) = &history
        {
            save_history(&mut editor, file);
        }
        match session.line(line)? {
            Next::Continue => {}
            Next::Quit => return Ok(()),
            Next::Reloaded => {
                if let Some(helper) = editor.helper_mut() {
                    helper.exports = session.completions();
                }
            }
            Next::Trapped => {
                let answer = editor.readline("the instance is gone: start a fresh one? [Y/n] ");
                let fresh = match &answer {
                    Ok(a) => !a.trim().eq_ignore_ascii_case("n"),
                    Err(ReadlineError::Eof) => return Ok(()),
                    Err(_) => false,
                };
                if fresh {
                    session.reset()?;
                } else {
                    outln!("kept the broken instance: :reset starts a fresh one")?;
                }
            }
        }
    }
}

fn save_history(editor: &mut Editor<ReplHelper, DefaultHistory>, file: &Path) {
    if let Some(dir) = file.parent()
        && !dir.as_os_str().is_empty()
        && let Err(e) = std::fs::create_dir_all(dir)
    {
        errln!("warden repl: cannot create {}: {e}", dir.display());
        return;
    }
    if let Err(e) = editor.save_history(file) {
        errln!("warden repl: cannot write history {}: {e}", file.display());
    }
}

/// What the loop does after a line.
enum Next {
    Continue,
    Quit,
    /// The exports may have changed: completion must learn them again.
    Reloaded,
    /// The call failed in the guest: the instance must be replaced.
    Trapped,
}

struct Session {
    args: Args,
    runtime: Runtime,
    prepared: Prepared,
    limits: Limits,
    caps: Capabilities,
    sandbox: Sandbox,
    actor: bool,
}

impl Session {
    fn start(args: Args) -> Result<Self, Failure> {
        let runtime = args
            .cache
            .runtime_for_memory(args.instance.memory_bytes())?;
        let limits = args.instance.limits();
        let caps = args.instance.caps();
        let prepared = load(&runtime, &args)?;
        let actor = world::fit(&prepared.compiled, World::ActorPlugin).fits;
        let sandbox = instantiate(&prepared, &limits, &caps, actor, &args)
            .map_err(|e| Failure::failed(e.context(format!("{}", args.plugin.display()))))?;
        Ok(Self {
            args,
            runtime,
            prepared,
            limits,
            caps,
            sandbox,
            actor,
        })
    }

    fn history_file(&self) -> Option<PathBuf> {
        self.args.history.clone().or_else(|| {
            std::env::var_os("XDG_STATE_HOME")
                .filter(|d| !d.is_empty())
                .map(PathBuf::from)
                .or_else(|| std::env::var_os("HOME").map(|h| Path::new(&h).join(".local/state")))
                .map(|dir| dir.join("warden").join("repl_history"))
        })
    }

    /// Each export's shortest unambiguous name and its argument template.
    fn completions(&self) -> Vec<(String, String, String)> {
        let all = list_functions(&self.prepared.compiled);
        all.iter()
            .map(|f| {
                let name = typed_name(&all, f);
                let params: Vec<String> = f.ty.params().map(|(_, ty)| template(&ty, 0)).collect();
                let call = format!("{name}({})", params.join(", "));
                (name, call, func_signature(&f.ty))
            })
            .collect()
    }

    fn line(&mut self, line: &str) -> Result<Next, Failure> {
        let (command, rest) = line.split_once(' ').unwrap_or((line, ""));
        let rest = rest.trim();
        let shown = match command {
            ":quit" | ":q" | ":exit" => return Ok(Next::Quit),
            ":help" | ":h" => outln!("{HELP}"),
            ":exports" => self.exports(),
            ":limits" => self.show_limits(),
            ":reset" => self.reset(),
            ":snapshot" => self.snapshot(rest),
            ":restore" if rest.is_empty() => {
                outln!("error: :restore needs a FILE (as :snapshot FILE writes)")
            }
            ":restore" => self.restore_file(Path::new(rest)),
            ":reload" => return self.reload().map(|()| Next::Reloaded),
            c if c.starts_with(':') => outln!("error: no command {c}; :help lists them"),
            _ => return self.call(line),
        };
        shown.map(|()| Next::Continue)
    }

    fn exports(&self) -> CmdResult {
        let all = list_functions(&self.prepared.compiled);
        for f in &all {
            outln!("{}: {}", typed_name(&all, f), func_signature(&f.ty))?;
        }
        Ok(())
    }

    fn show_limits(&self) -> CmdResult {
        let fuel = self
            .limits
            .fuel
            .map_or("unmetered".to_string(), |f| f.to_string());
        let timeout = self
            .limits
            .timeout
            .map_or("none".to_string(), |t| format!("{} ms", t.as_millis()));
        outln!(
            "fuel per call: {fuel}\nmemory: {} of {} MiB in use\ntimeout per call: {timeout}",
            self.sandbox.memory_bytes().div_ceil(1 << 20),
            self.args.instance.memory_mb
        )
    }

    fn call(&mut self, line: &str) -> Result<Next, Failure> {
        let parsed = match syntax::parse_call(line) {
            Ok(parsed) => parsed,
            Err(e) => {
                outln!("error: {e}")?;
                return Ok(Next::Continue);
            }
        };
        let func = match find_function(&self.prepared.compiled, &parsed.function) {
            Ok(func) => func,
            Err(e) => {
                outln!("error: {e}")?;
                return Ok(Next::Continue);
            }
        };
        let vals = match args_to_vals(&func, &parsed.args) {
            Ok(vals) => vals,
            Err(message) => {
                outln!("error: {message}")?;
                return Ok(Next::Continue);
            }
        };
        if self.sandbox.is_poisoned() {
            outln!("error: the instance failed earlier: :reset starts a fresh one")?;
            return Ok(Next::Continue);
        }
        let (outcome, report) = self.sandbox.call(&func.index, &vals, func.result_count());
        show_output("stdout", &report.stdout);
        show_output("stderr", &report.stderr);
        match outcome {
            Ok(values) => {
                let mut shown = match values.as_slice() {
                    [] => Value::Null,
                    [one] => val_to_json(one),
                    many => Value::Array(many.iter().map(val_to_json).collect()),
                };
                let signature = func_signature(&func.ty);
                if let Some((_, result)) = signature.rsplit_once(") -> ") {
                    bytes_as_text(result, &mut shown);
                }
                outln!(
                    "{}",
                    serde_json::to_string(&shown).map_err(Failure::failed)?
                )?;
                Ok(Next::Continue)
            }
            Err(e) => {
                outln!("error ({}): {e}", e.kind())?;
                Ok(Next::Trapped)
            }
        }
    }

    fn reset(&mut self) -> CmdResult {
        match instantiate(
            &self.prepared,
            &self.limits,
            &self.caps,
            self.actor,
            &self.args,
        ) {
            Ok(sandbox) => {
                self.sandbox = sandbox;
                outln!(
                    "a fresh instance{}",
                    if self.actor { " (init ran)" } else { "" }
                )
            }
            Err(e) => outln!("error: no fresh instance: {e:#}"),
        }
    }

    /// The actor's state, from its `snapshot` export.
    fn take_snapshot(&mut self) -> Result<Vec<u8>, String> {
        if !self.actor {
            return Err("not an actor: it has no snapshot export".into());
        }
        let func = actor_func(&self.prepared, "snapshot")?;
        let (outcome, _) = self.sandbox.call(&func.index, &[], func.result_count());
        match outcome
            .map_err(|e| format!("snapshot failed ({}): {e}", e.kind()))?
            .first()
        {
            Some(Val::Result(Ok(Some(bytes)))) => {
                bytes_of(bytes).ok_or_else(|| "snapshot returned no bytes".into())
            }
            Some(Val::Result(Err(reason))) => Err(format!(
                "the actor refused the snapshot: {}",
                reason.as_deref().map_or(Value::Null, val_to_json)
            )),
            _ => Err("snapshot returned something else than result<list<u8>, string>".into()),
        }
    }

    fn restore_state(&mut self, state: &[u8]) -> Result<(), String> {
        if !self.actor {
            return Err("not an actor: it has no restore export".into());
        }
        let func = actor_func(&self.prepared, "restore")?;
        let arg = Val::List(state.iter().map(|b| Val::U8(*b)).collect());
        let (outcome, _) = self.sandbox.call(&func.index, &[arg], func.result_count());
        match outcome
            .map_err(|e| format!("restore failed ({}): {e}", e.kind()))?
            .first()
        {
            Some(Val::Result(Err(reason))) => Err(format!(
                "the actor refused the state: {}",
                reason.as_deref().map_or(Value::Null, val_to_json)
            )),
            _ => Ok(()),
        }
    }

    fn snapshot(&mut self, file: &str) -> CmdResult {
        let state = match self.take_snapshot() {
            Ok(state) => state,
            Err(e) => return outln!("error: {e}"),
        };
        if file.is_empty() {
            return outln!("{}", show_state(&state));
        }
        match std::fs::write(file, &state) {
            Ok(()) => outln!("{} bytes written to {file}", state.len()),
            Err(e) => outln!("error: cannot write {file}: {e}"),
        }
    }

    fn restore_file(&mut self, file: &Path) -> CmdResult {
        let state = match std::fs::read(file) {
            Ok(state) => state,
            Err(e) => return outln!("error: cannot read {}: {e}", file.display()),
        };
        // A state edited as `:snapshot` shows it inside the SDK's envelope
        // may be given bare: it goes back in with the current schema.
        let state = match serde_json::from_slice::<Value>(&state) {
            Ok(bare) if decode_envelope(&state).is_none() => {
                match self
                    .take_snapshot()
                    .ok()
                    .as_deref()
                    .and_then(decode_envelope)
                {
                    Some((schema, _)) => {
                        serde_json::to_vec(&serde_json::json!({"schema": schema, "state": bare}))
                            .map_err(Failure::failed)?
                    }
                    None => state,
                }
            }
            _ => state,
        };
        match self.restore_state(&state) {
            Ok(()) => outln!("restored from {}", file.display()),
            Err(e) => outln!("error: {e}"),
        }
    }

    /// Re-reads the file; an actor's state crosses by snapshot and restore.
    fn reload(&mut self) -> CmdResult {
        let state = if self.actor && !self.sandbox.is_poisoned() {
            match self.take_snapshot() {
                Ok(state) => Some(state),
                Err(e) => return outln!("error: not reloaded, the state cannot be kept: {e}"),
            }
        } else {
            None
        };
        let prepared = match load(&self.runtime, &self.args) {
            Ok(prepared) => prepared,
            Err(Failure::BadInput(e) | Failure::Failed(e)) => {
                return outln!("error: not reloaded: {e:#}");
            }
            Err(other) => return Err(other),
        };
        let actor = world::fit(&prepared.compiled, World::ActorPlugin).fits;
        let sandbox = match instantiate(&prepared, &self.limits, &self.caps, actor, &self.args) {
            Ok(sandbox) => sandbox,
            Err(e) => return outln!("error: not reloaded: {e:#}"),
        };
        let (old_prepared, old_sandbox, old_actor) = (
            std::mem::replace(&mut self.prepared, prepared),
            std::mem::replace(&mut self.sandbox, sandbox),
            std::mem::replace(&mut self.actor, actor),
        );
        if let Some(state) = state.filter(|_| actor)
            && let Err(e) = self.restore_state(&state)
        {
            // The new code cannot take the old state: keep the old
            // instance rather than lose it.
            self.prepared = old_prepared;
            self.sandbox = old_sandbox;
            self.actor = old_actor;
            return outln!("error: not reloaded, the new code refused the state: {e}");
        }
        outln!(
            "reloaded {}{}",
            self.args.plugin.display(),
            if self.actor { " (state kept)" } else { "" }
        )
    }
}

fn load(runtime: &Runtime, args: &Args) -> Result<Prepared, Failure> {
    runtime
        .compile_file(&args.plugin, args.instance.metering())
        .and_then(|c| c.prepare())
        .map_err(|e| Failure::from_component(e).with_file(&args.plugin))
}

/// A new instance; an actor's `init` runs in it (its refusal is an error).
fn instantiate(
    prepared: &Prepared,
    limits: &Limits,
    caps: &Capabilities,
    actor: bool,
    args: &Args,
) -> anyhow::Result<Sandbox> {
    let mut sandbox = Sandbox::new(prepared, limits, caps, HostContext::isolated("repl"))?;
    if actor && !args.instance.no_init {
        let init = actor_func(prepared, "init").map_err(|e| anyhow!(e))?;
        let (outcome, _) = sandbox.call(
            &init.index,
            &[Val::String(args.instance.init.clone())],
            init.result_count(),
        );
        if let Some(Val::Result(Err(reason))) = outcome?.first() {
            return Err(anyhow!(
                "init refused: {}",
                reason.as_deref().map_or(Value::Null, val_to_json)
            ));
        }
    }
    Ok(sandbox)
}

fn actor_func(prepared: &Prepared, name: &str) -> Result<ExportedFunc, String> {
    find_function(
        &prepared.compiled,
        &format!("{}#{name}", world::ACTOR_INTERFACE),
    )
    .map_err(|e: ComponentError| e.to_string())
}

fn bytes_of(val: &Val) -> Option<Vec<u8>> {
    match val {
        Val::List(items) => items
            .iter()
            .map(|v| match v {
                Val::U8(b) => Some(*b),
                _ => None,
            })
            .collect(),
        _ => None,
    }
}

/// The SDK's snapshot envelope (`{"schema": N, "state": …}`, JSON): its
/// schema and the state; `None` for other bytes.
pub(super) fn decode_envelope(bytes: &[u8]) -> Option<(Value, Value)> {
    match serde_json::from_slice::<Value>(bytes).ok()? {
        Value::Object(mut envelope)
            if envelope.len() == 2 && envelope.get("schema").is_some_and(Value::is_u64) =>
        {
            let state = envelope.remove("state")?;
            Some((envelope.remove("schema")?, state))
        }
        _ => None,
    }
}

/// A state as a person reads it: JSON pretty-printed, other text as it
/// is, bytes as a list of numbers.
fn show_state(state: &[u8]) -> String {
    if let Ok(json) = serde_json::from_slice::<Value>(state) {
        return serde_json::to_string_pretty(&json).unwrap_or_default();
    }
    match std::str::from_utf8(state) {
        Ok(text) => text.to_string(),
        Err(_) => format!("{state:?}"),
    }
}

fn args_to_vals(func: &ExportedFunc, args: &[Value]) -> Result<Vec<Val>, String> {
    let params = func.params();
    if params.len() != args.len() {
        return Err(format!(
            "{} takes {} argument(s), found {}: {}",
            func.name,
            params.len(),
            args.len(),
            func_signature(&func.ty)
        ));
    }
    args.iter()
        .zip(&params)
        .enumerate()
        .map(|(i, (json, (name, ty)))| {
            json_to_val(json, ty, &format!("$[{i}] ({name})")).map_err(|e| e.to_string())
        })
        .collect()
}

/// The shortest name `find_function` resolves to `f`: `handle`, else
/// `actor.handle`, else the full `interface#name`.
fn typed_name(all: &[ExportedFunc], f: &ExportedFunc) -> String {
    let same_func = all.iter().filter(|g| g.func == f.func).count();
    match &f.interface {
        None => f.name.clone(),
        Some(_) if same_func == 1 => f.func.clone(),
        Some(iface) => {
            let short = short_interface_name(iface);
            let clash = all
                .iter()
                .filter(|g| {
                    g.func == f.func
                        && g.interface.as_deref().map(short_interface_name) == Some(short)
                })
                .count();
            if clash == 1 {
                format!("{short}.{}", f.func)
            } else {
                f.name.clone()
            }
        }
    }
}

/// A value of `ty` in the line syntax, to be edited: zeros, empty text,
/// the first case.
fn template(ty: &Type, depth: usize) -> String {
    if depth > 8 {
        return "…".into();
    }
    match ty {
        Type::Bool => "false".into(),
        Type::S8
        | Type::U8
        | Type::S16
        | Type::U16
        | Type::S32
        | Type::U32
        | Type::S64
        | Type::U64 => "0".into(),
        Type::Float32 | Type::Float64 => "0.0".into(),
        Type::Char => "\"a\"".into(),
        Type::String => "\"\"".into(),
        // Bytes are written as text most of the time (an actor's message).
        Type::List(list) if list.ty() == Type::U8 => "\"\"".into(),
        Type::List(_) | Type::FixedLengthList(_) | Type::Map(_) | Type::Flags(_) => "[]".into(),
        Type::Tuple(tuple) => format!(
            "({})",
            tuple
                .types()
                .map(|t| template(&t, depth + 1))
                .collect::<Vec<_>>()
                .join(", ")
        ),
        Type::Record(record) => format!(
            "{{{}}}",
            record
                .fields()
                .map(|f| format!("{}: {}", f.name, template(&f.ty, depth + 1)))
                .collect::<Vec<_>>()
                .join(", ")
        ),
        Type::Enum(e) => e.names().next().unwrap_or("").to_string(),
        Type::Variant(v) => match v.cases().next() {
            Some(case) => match case.ty {
                Some(payload) => format!("{}({})", case.name, template(&payload, depth + 1)),
                None => case.name.to_string(),
            },
            None => String::new(),
        },
        Type::Option(_) => "none".into(),
        Type::Result(result) => match result.ok() {
            Some(ok) => format!("ok({})", template(&ok, depth + 1)),
            None => "ok".into(),
        },
        Type::Own(_) | Type::Borrow(_) | Type::Future(_) | Type::Stream(_) | Type::ErrorContext => {
            "…".into()
        }
    }
}

/// Completion of export names (into templates) and of `:commands`.
struct ReplHelper {
    /// Name, call template, signature of each export.
    exports: Vec<(String, String, String)>,
}

impl Completer for ReplHelper {
    type Candidate = Pair;

    fn complete(
        &self,
        line: &str,
        pos: usize,
        _ctx: &Context<'_>,
    ) -> rustyline::Result<(usize, Vec<Pair>)> {
        Ok(complete(&self.exports, line, pos))
    }
}

/// The start of the word completed and its candidates: only the first
/// word of a line is completed (an export or a command).
fn complete(exports: &[(String, String, String)], line: &str, pos: usize) -> (usize, Vec<Pair>) {
    let before = &line[..pos];
    let start = before.len() - before.trim_start().len();
    let word = &before[start..];
    if word.contains(|c: char| c.is_whitespace() || "([{".contains(c)) {
        return (pos, Vec::new());
    }
    let candidates = if word.starts_with(':') {
        COMMANDS
            .iter()
            .filter(|c| c.starts_with(word))
            .map(|c| Pair {
                display: c.to_string(),
                replacement: c.to_string(),
            })
            .collect()
    } else {
        exports
            .iter()
            .filter(|(name, _, _)| name.starts_with(word))
            .map(|(name, call, signature)| Pair {
                display: format!("{name}: {signature}"),
                replacement: call.clone(),
            })
            .collect()
    };
    (start, candidates)
}

impl Hinter for ReplHelper {
    type Hint = String;
}

impl Highlighter for ReplHelper {
    fn highlight<'l>(&self, line: &'l str, _pos: usize) -> Cow<'l, str> {
        Cow::Borrowed(line)
    }
}

impl Validator for ReplHelper {}

impl Helper for ReplHelper {}

#[cfg(test)]
mod tests {
    use super::{complete, decode_envelope};
    use serde_json::json;

    #[test]
    fn only_the_sdk_envelope_decodes() {
        assert_eq!(
            decode_envelope(br#"{"schema": 1, "state": {"count": 2}}"#),
            Some((json!(1), json!({"count": 2})))
        );
        assert_eq!(decode_envelope(br#"{"schema": "1", "state": 2}"#), None);
        assert_eq!(
            decode_envelope(br#"{"schema": 1, "state": 2, "x": 0}"#),
            None
        );
        assert_eq!(decode_envelope(br#"{"count": 2}"#), None);
        assert_eq!(decode_envelope(b"\xff"), None);
    }

    #[test]
    fn the_first_word_completes_to_a_template() {
        let exports = vec![
            (
                "greet".to_string(),
                "greet({name: \"\", age: 0})".to_string(),
                "func(p: person) -> string".to_string(),
            ),
            (
                "get".to_string(),
                "get()".to_string(),
                "func() -> u32".to_string(),
            ),
        ];
        let replacements = |line: &str| {
            let (start, pairs) = complete(&exports, line, line.len());
            (
                start,
                pairs.into_iter().map(|p| p.replacement).collect::<Vec<_>>(),
            )
        };
        assert_eq!(
            replacements("gre"),
            (0, vec!["greet({name: \"\", age: 0})".to_string()])
        );
        assert_eq!(replacements("  g").1.len(), 2);
        assert_eq!(replacements("  g").0, 2);
        assert!(replacements("greet(").1.is_empty());
        assert_eq!(replacements(":sn").1, vec![":snapshot".to_string()]);
        assert!(replacements("x").1.is_empty());
    }
}
