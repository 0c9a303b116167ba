//! `warden new plugin NAME [--operation] [--sdk PATH | --sdk-git URL] [--dir DIR]`
//! and `warden new exercise NAME [--dir DIR]`.
//!
//! Owns the templates of a new plugin crate and a new exercise folder, and
//! writing them into a directory that is absent or empty. It never builds,
//! runs or grades what it writes, and never overwrites a file: a directory
//! that already holds anything is refused before a byte is written.

use std::path::{Path, PathBuf};

use super::out::outln;
use super::{CmdResult, Failure};

#[derive(clap::Args)]
pub struct Args {
    #[command(subcommand)]
    what: What,
}

#[derive(clap::Subcommand)]
enum What {
    /// A plugin crate: Cargo.toml on the SDK, the 64 KiB guest stack, a
    /// small release profile, an actor (or operations), a README and a test.
    Plugin(PluginArgs),
    /// An exercise folder for `warden grade`: exercise.wit,
    /// canonical-data.json, grading.toml and a README.
    Exercise(ExerciseArgs),
}

#[derive(clap::Args)]
struct PluginArgs {
    /// The crate's name: lowercase letters, digits, `-` and `_`, starting
    /// with a letter (the component is `<name with _ for ->.wasm`).
    name: String,
    /// An operation plugin (`export_operations!`) instead of an actor.
    #[arg(long)]
    operation: bool,
    /// Depend on the SDK at this path (the `sdk/` folder of a Warden
    /// checkout). Default: the `sdk/` of the checkout this `warden` was
    /// built from, when it is still there.
    #[arg(long, value_name = "PATH", conflicts_with = "sdk_git")]
    sdk: Option<PathBuf>,
    /// Depend on the SDK from this git repository (a Warden repository).
    #[arg(long, value_name = "URL")]
    sdk_git: Option<String>,
    /// The directory to write (default: ./NAME); must be absent or empty.
    #[arg(long, value_name = "DIR")]
    dir: Option<PathBuf>,
}

#[derive(clap::Args)]
struct ExerciseArgs {
    /// The exercise's name, kebab-case (`count-vowels`): it names the WIT
    /// package `exercise:NAME`.
    name: String,
    /// The directory to write (default: ./NAME); must be absent or empty.
    #[arg(long, value_name = "DIR")]
    dir: Option<PathBuf>,
}

pub fn run(args: Args) -> CmdResult {
    let (dir, files) = match args.what {
        What::Plugin(args) => plugin(args)?,
        What::Exercise(args) => exercise(args)?,
    };
    write_all(&dir, &files)?;
    outln!("wrote {}", dir.display())?;
    for (path, _) in &files {
        outln!("  {path}")?;
    }
    Ok(())
}

/// Files to write: a path relative to the new directory, and its text.
type Files = Vec<(&'static str, String)>;

fn plugin(args: PluginArgs) -> Result<(PathBuf, Files), Failure> {
    check_crate_name(&args.name).map_err(Failure::bad_input)?;
    let sdk_dep = match (&args.sdk, &args.sdk_git) {
        (Some(path), _) => sdk_path_dep(path)?,
        (None, Some(url)) => {
            if url.trim().is_empty() {
                return Err(Failure::bad_input(anyhow::anyhow!(
                    "--sdk-git: the URL is empty"
                )));
            }
            format!("{{ git = {} }}", toml_string(url))
        }
        (None, None) => sdk_path_dep(&built_from_sdk().ok_or_else(|| {
            Failure::bad_input(anyhow::anyhow!(
                "cannot find the SDK this warden was built from ({}); \
                 say where it is with --sdk PATH or --sdk-git URL",
                built_from_sdk_path().display()
            ))
        })?)?,
    };
    let dir = args.dir.unwrap_or_else(|| PathBuf::from(&args.name));
    let crate_name = args.name.replace('-', "_");
    let fill = |template: &str| {
        template
            .replace("{{name}}", &args.name)
            .replace("{{crate_name}}", &crate_name)
            .replace("{{sdk_dep}}", &sdk_dep)
    };
    let (lib, readme) = if args.operation {
        (OPERATION_LIB, OPERATION_README)
    } else {
        (ACTOR_LIB, ACTOR_README)
    };
    let files = vec![
        ("Cargo.toml", fill(PLUGIN_CARGO_TOML)),
        (".cargo/config.toml", PLUGIN_CARGO_CONFIG.to_owned()),
        (".gitignore", "/target\n".to_owned()),
        ("src/lib.rs", fill(lib)),
        ("README.md", fill(readme)),
    ];
    Ok((dir, files))
}

fn exercise(args: ExerciseArgs) -> Result<(PathBuf, Files), Failure> {
    check_exercise_name(&args.name).map_err(Failure::bad_input)?;
    let dir = args.dir.unwrap_or_else(|| PathBuf::from(&args.name));
    let fill = |template: &str| template.replace("{{name}}", &args.name);
    let files = vec![
        ("exercise.wit", fill(EXERCISE_WIT)),
        ("canonical-data.json", fill(EXERCISE_DATA)),
        ("grading.toml", EXERCISE_GRADING.to_owned()),
        ("README.md", fill(EXERCISE_README)),
    ];
    Ok((dir, files))
}

/// Where the SDK was when this binary was built: `sdk/` at the root of
/// the checkout, two levels above this crate's manifest.
fn built_from_sdk_path() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../sdk")
}

fn built_from_sdk() -> Option<PathBuf> {
    let path = built_from_sdk_path();
    path.join("Cargo.toml").is_file().then_some(path)
}

/// `{ path = "/abs/sdk" }` for an SDK folder, checked to be one: a path
/// written as given would break as soon as the crate is built from
/// anywhere but here.
fn sdk_path_dep(path: &Path) -> Result<String, Failure> {
    let bad = |why: String| Failure::bad_input(anyhow::anyhow!("--sdk {}: {why}", path.display()));
    let abs = std::fs::canonicalize(path).map_err(|e| bad(e.to_string()))?;
    let manifest = std::fs::read_to_string(abs.join("Cargo.toml"))
        .map_err(|e| bad(format!("no readable Cargo.toml ({e})")))?;
    let is_sdk = manifest
        .parse::<toml::Table>()
        .ok()
        .and_then(|t| {
            t.get("package")?
                .get("name")?
                .as_str()
                .map(|n| n == "warden-sdk")
        })
        .unwrap_or(false);
    if !is_sdk {
        return Err(bad(
            "its Cargo.toml is not the `warden-sdk` package (give the sdk/ folder of a Warden checkout)"
                .into(),
        ));
    }
    let text = abs
        .to_str()
        .ok_or_else(|| bad("the path is not UTF-8".into()))?;
    Ok(format!("{{ path = {} }}", toml_string(text)))
}

/// A TOML basic string (quotes and backslashes escaped).
fn toml_string(text: &str) -> String {
    toml::Value::String(text.to_owned()).to_string()
}

/// Names cargo accepts for a package whose library is a `cdylib`, kept to
/// the portable subset.
fn check_crate_name(name: &str) -> Result<(), anyhow::Error> {
    let bad = |why: &str| anyhow::anyhow!("bad plugin name {name:?}: {why}");
    let mut chars = name.chars();
    match chars.next() {
        None => return Err(bad("it is empty")),
        Some(c) if !c.is_ascii_lowercase() => {
            return Err(bad("it must start with a lowercase ASCII letter"));
        }
        Some(_) => {}
    }
    if let Some(c) =
        chars.find(|c| !(c.is_ascii_lowercase() || c.is_ascii_digit() || "-_".contains(*c)))
    {
        return Err(bad(&format!(
            "{c:?} is not allowed (lowercase letters, digits, `-` and `_` only)"
        )));
    }
    if name.len() > 64 {
        return Err(bad("it is longer than 64 characters"));
    }
    // The library's name is the package's with `_` for `-`; these would
    // shadow a standard crate or be a keyword.
    const RESERVED: &[&str] = &[
        "std",
        "core",
        "alloc",
        "test",
        "proc_macro",
        "self",
        "super",
        "crate",
        "fn",
        "mod",
        "struct",
        "enum",
        "impl",
        "trait",
        "type",
        "use",
        "let",
        "loop",
        "match",
        "if",
        "else",
        "while",
        "for",
        "in",
        "return",
        "break",
        "continue",
        "const",
        "static",
        "pub",
        "ref",
        "mut",
        "move",
        "unsafe",
        "where",
        "async",
        "await",
        "dyn",
        "extern",
        "true",
        "false",
        "as",
    ];
    if RESERVED.contains(&name.replace('-', "_").as_str()) {
        return Err(bad("it is a Rust keyword or a standard crate's name"));
    }
    Ok(())
}

/// A WIT package name: kebab-case words, each starting with a letter.
fn check_exercise_name(name: &str) -> Result<(), anyhow::Error> {
    let bad = |why: &str| {
        anyhow::anyhow!("bad exercise name {name:?}: {why} (kebab-case, like `count-vowels`)")
    };
    if name.is_empty() {
        return Err(bad("it is empty"));
    }
    for word in name.split('-') {
        let mut chars = word.chars();
        match chars.next() {
            None => return Err(bad("it has an empty word")),
            Some(c) if !c.is_ascii_lowercase() => {
                return Err(bad("each word must start with a lowercase ASCII letter"));
            }
            Some(_) => {}
        }
        if let Some(c) = chars.find(|c| !(c.is_ascii_lowercase() || c.is_ascii_digit())) {
            return Err(bad(&format!("{c:?} is not allowed")));
        }
    }
    if name.len() > 64 {
        return Err(bad("it is longer than 64 characters"));
    }
    Ok(())
}

/// Writes `files` into `dir`, which must be absent or an empty directory.
fn write_all(dir: &Path, files: &Files) -> CmdResult {
    let bad = |why: String| Failure::bad_input(anyhow::anyhow!("{}: {why}", dir.display()));
    match std::fs::read_dir(dir) {
        Ok(mut entries) => {
            if entries.next().is_some() {
                return Err(bad(
                    "the directory exists and is not empty; refusing to overwrite it".into(),
                ));
            }
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) if dir.exists() && !dir.is_dir() => {
            return Err(bad(format!("exists and is not a directory ({e})")));
        }
        Err(e) => return Err(bad(e.to_string())),
    }
    for (rel, text) in files {
        let path = dir.join(rel);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(|e| {
                Failure::failed(anyhow::anyhow!("cannot create {}: {e}", parent.display()))
            })?;
        }
        std::fs::write(&path, text).map_err(|e| {
            Failure::failed(anyhow::anyhow!("cannot write {}: {e}", path.display()))
        })?;
    }
    Ok(())
}

const PLUGIN_CARGO_TOML: &str = r#"[package]
name = "{{name}}"
version = "0.1.0"
edition = "2024"
publish = false

[lib]
crate-type = ["cdylib"]

[dependencies]
warden-sdk = {{sdk_dep}}
serde = { version = "1", features = ["derive"] }

# A workspace of its own, so the crate builds the same wherever it lies.
[workspace]

# Small and quick to compile for the host: without this profile a plugin
# came out at 216 KB instead of 120 KB, and each hot-reload compile took
# 367-614 ms instead of 163-174 ms.
[profile.release]
opt-level = "s"
lto = true
strip = true
codegen-units = 1
"#;

const PLUGIN_CARGO_CONFIG: &str = r#"# Rust links wasm with a 1 MiB shadow stack at the bottom of linear memory,
# so every instance starts with at least 1 MiB that the host resets when the
# instance is dropped: most of the cost of a fresh-instance call. 64 KiB is
# wasm-ld's own default for C; overflowing it is a clean trap.
[target.wasm32-wasip2]
rustflags = ["-C", "link-arg=-zstack-size=65536"]
"#;

const ACTOR_LIB: &str = r#"//! `{{name}}`: a Warden actor plugin.
//!
//! State: `{"count": u64}`. Messages and replies are UTF-8 text:
//! `inc` adds one and replies with the new count, `get` replies with the
//! count; anything else is an error. `init` takes the starting count as its
//! config (empty: 0).

use serde::{Deserialize, Serialize};
use warden_sdk::Actor;

#[derive(Default, Serialize, Deserialize)]
struct State {
    count: u64,
}

impl Actor for State {
    fn init(config: &str) -> Result<Self, String> {
        let count = match config.trim() {
            "" => 0,
            n => n
                .parse()
                .map_err(|e| format!("config: not a starting count {n:?}: {e}"))?,
        };
        Ok(State { count })
    }

    fn handle(&mut self, message: &[u8]) -> Result<Vec<u8>, String> {
        let text =
            std::str::from_utf8(message).map_err(|e| format!("message is not UTF-8 text: {e}"))?;
        match text {
            "inc" => {
                self.count = self.count.checked_add(1).ok_or("count overflow")?;
                Ok(self.count.to_string().into_bytes())
            }
            "get" => Ok(self.count.to_string().into_bytes()),
            _ => Err(format!("unknown command: {text}")),
        }
    }
}

warden_sdk::export_actor!(State);

// The SDK builds for the build machine too: `cargo test` runs these there.
#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inc_counts_from_the_configured_start() {
        let mut state = State::init("41").expect("a number is a valid config");
        assert_eq!(state.handle(b"inc"), Ok(b"42".to_vec()));
        assert_eq!(state.handle(b"get"), Ok(b"42".to_vec()));
    }

    #[test]
    fn bad_input_is_an_error() {
        assert!(State::init("many").is_err());
        let mut state = State::init("").expect("empty config");
        assert_eq!(
            state.handle(b"dec"),
            Err("unknown command: dec".to_owned())
        );
    }

    #[test]
    fn state_survives_a_snapshot() {
        let mut state = State::init("").expect("empty config");
        state.handle(b"inc").expect("inc");
        let snapshot = warden_sdk::snapshot::encode(&state).expect("encode");
        let restored: State = warden_sdk::snapshot::decode(&snapshot).expect("decode");
        assert_eq!(restored.count, 1);
    }
}
"#;

const OPERATION_LIB: &str = r#"//! `{{name}}`: a Warden operation plugin with one operation, `greet`.
//!
//! `greet` takes `{"name": "..."}` and returns `{"greeting": "hello, NAME"}`.

use serde::Deserialize;
use warden_sdk::serde_json::{self, Value, json};
use warden_sdk::{OpInfo, Operations};

struct Plugin;

/// Params of `greet`; mirrors its JSON Schema in `describe`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct GreetParams {
    name: String,
}

impl Operations for Plugin {
    fn describe() -> Vec<OpInfo> {
        vec![OpInfo::new(
            "greet",
            "Says hello to someone",
            json!({
                "type": "object",
                "properties": {"name": {"type": "string", "minLength": 1}},
                "required": ["name"],
                "additionalProperties": false
            }),
        )]
    }

    fn execute(name: &str, params: Value) -> Result<Value, String> {
        match name {
            "greet" => {
                let params: GreetParams = serde_json::from_value(params)
                    .map_err(|e| format!("greet: invalid params: {e}"))?;
                Ok(json!({"greeting": format!("hello, {}", params.name)}))
            }
            _ => Err(format!("unknown operation: {name}")),
        }
    }
}

warden_sdk::export_operations!(Plugin);

// The SDK builds for the build machine too: `cargo test` runs these there.
#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn greet_greets() {
        let reply = Plugin::execute("greet", json!({"name": "Ada"}));
        assert_eq!(reply, Ok(json!({"greeting": "hello, Ada"})));
    }

    #[test]
    fn bad_params_and_unknown_operations_are_errors() {
        assert!(Plugin::execute("greet", json!({"who": "Ada"})).is_err());
        assert!(Plugin::execute("shout", json!({})).is_err());
        assert_eq!(Plugin::describe().len(), 1);
    }
}
"#;

const ACTOR_README: &str = r#"# {{name}}

A Warden actor plugin: a counter replying to `inc` and `get`.

Build the component (once: `rustup target add wasm32-wasip2`):

    cargo build --release --target wasm32-wasip2

It is written to `target/wasm32-wasip2/release/{{crate_name}}.wasm`. Try it:

    warden call target/wasm32-wasip2/release/{{crate_name}}.wasm handle inc --init 41

Run it supervised, in a `warden.toml`:

    [supervisor.root]
    strategy = "one_for_one"

    [[supervisor.root.children]]
    id = "{{name}}"
    kind = "component"
    path = "target/wasm32-wasip2/release/{{crate_name}}.wasm"

then `warden run warden.toml`, or `warden dev` to rebuild and hot-reload on save.

Test its logic on the build machine: `cargo test`.

`.cargo/config.toml` links the component with a 64 KiB stack (Rust's default
is 1 MiB, which every fresh instance would pay for), and `[profile.release]`
in `Cargo.toml` keeps it small and quick for the host to compile.
"#;

const OPERATION_README: &str = r#"# {{name}}

A Warden operation plugin with one operation, `greet`.

Build the component (once: `rustup target add wasm32-wasip2`):

    cargo build --release --target wasm32-wasip2

It is written to `target/wasm32-wasip2/release/{{crate_name}}.wasm`. Try it:

    warden call target/wasm32-wasip2/release/{{crate_name}}.wasm execute greet '"{\"name\":\"Ada\"}"'

Offer it over the host's HTTP API and `warden ctl`, in a `warden.toml`:

    [operations.{{name}}]
    path = "target/wasm32-wasip2/release/{{crate_name}}.wasm"

then `warden run warden.toml` and `warden ctl op {{name}}.greet '{"name": "Ada"}'`.

Test its logic on the build machine: `cargo test`.

`.cargo/config.toml` links the component with a 64 KiB stack (Rust's default
is 1 MiB, which every fresh instance would pay for), and `[profile.release]`
in `Cargo.toml` keeps it small and quick for the host to compile.
"#;

const EXERCISE_WIT: &str = r#"package exercise:{{name}};

world solution {
  /// The number of vowels (a, e, i, o, u, in either case) in `text`.
  export count-vowels: func(text: string) -> u32;
}
"#;

const EXERCISE_DATA: &str = r#"{
  "exercise": "{{name}}",
  "cases": [
    {
      "uuid": "0b7c4d8e-5a36-4f0a-9a51-3f4a1c2e7d01",
      "description": "no vowels",
      "property": "countVowels",
      "input": {
        "text": "rhythm"
      },
      "expected": 0
    },
    {
      "uuid": "0b7c4d8e-5a36-4f0a-9a51-3f4a1c2e7d02",
      "description": "lowercase vowels",
      "property": "countVowels",
      "input": {
        "text": "banana"
      },
      "expected": 3
    },
    {
      "uuid": "0b7c4d8e-5a36-4f0a-9a51-3f4a1c2e7d03",
      "description": "uppercase vowels count too",
      "property": "countVowels",
      "input": {
        "text": "AEIOU and y"
      },
      "expected": 6
    },
    {
      "uuid": "0b7c4d8e-5a36-4f0a-9a51-3f4a1c2e7d04",
      "description": "empty text",
      "property": "countVowels",
      "input": {
        "text": ""
      },
      "expected": 0
    }
  ]
}
"#;

const EXERCISE_GRADING: &str = r#"# Grading options (all optional; read by `warden grade`).
#   float_tolerance    = absolute tolerance for comparing floats (f32/f64 results)
#   points_per_test    = points awarded for each passing case
#   hidden             = [uuid, ...] cases run but not shown to the student
#   output_limit_bytes = cap on captured stdout+stderr per case
#   [limits] fuel, memory_mb, timeout_ms = per-case resource limits
points_per_test = 1

[limits]
fuel = 100_000_000
memory_mb = 16
timeout_ms = 2000
"#;

const EXERCISE_README: &str = r#"# {{name}}

A Warden exercise: the contract is `exercise.wit` (world `solution`), the
test cases `canonical-data.json` (each case's `property` names a function,
lowerCamelCase for the WIT's kebab-case; `input` holds its arguments by
name), the limits and points `grading.toml`.

Grade submissions (components of the world `solution`):

    warden grade . path/to/solution.wasm

A Rust solution is a `cdylib` crate depending on
`wit-bindgen = { version = "0.60.0", default-features = false, features = ["macros", "realloc", "std"] }`
whose `src/lib.rs` is

    wit_bindgen::generate!({ path: "path/to/{{name}}/exercise.wit", world: "solution" });

    struct Solution;

    impl Guest for Solution {
        fn count_vowels(text: String) -> u32 {
            text.chars().filter(|c| "aeiouAEIOU".contains(*c)).count() as u32
        }
    }

    export!(Solution);

built with `cargo build --release --target wasm32-wasip2`.

To make it your own exercise, change the function in `exercise.wit` and the
cases in `canonical-data.json` (give each case a fresh `uuid`).
"#;

#[cfg(test)]
mod tests {
    use super::{check_crate_name, check_exercise_name};

    #[test]
    fn plugin_names() {
        for good in ["counter", "my-plugin", "my_plugin2"] {
            assert!(check_crate_name(good).is_ok(), "{good}");
        }
        for (bad, why) in [
            ("", "empty"),
            ("2fast", "start with"),
            ("My", "start with"),
            ("a b", "' ' is not allowed"),
            ("../x", "start with"),
            ("a/b", "'/' is not allowed"),
            ("std", "keyword"),
            ("self", "keyword"),
        ] {
            let err = check_crate_name(bad).expect_err(bad).to_string();
            assert!(err.contains(why), "{bad}: {err}");
        }
    }

    #[test]
    fn exercise_names() {
        for good in ["leap", "count-vowels", "two-fer2"] {
            assert!(check_exercise_name(good).is_ok(), "{good}");
        }
        for (bad, why) in [
            ("", "empty"),
            ("Leap", "start with"),
            ("two--fer", "empty word"),
            ("two_fer", "'_' is not allowed"),
            ("a-2b", "start with"),
            ("-a", "empty word"),
        ] {
            let err = check_exercise_name(bad).expect_err(bad).to_string();
            assert!(err.contains(why), "{bad}: {err}");
        }
    }
}
