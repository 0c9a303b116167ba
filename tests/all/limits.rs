//! Limits that hold for the whole guest: every linear memory and table of
//! an instance counts against one memory limit (at instantiation and when
//! the guest grows them), through the library, `warden call`, `warden
//! grade` and a supervised child; and a child's fuel budget holds when a
//! sibling without one shares its file.
//!
//! The hostile components are WAT generated here.

use std::io::Read;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value as Json, json};
use warden::component::Val;
use warden::component::exports::find_function;
use warden::component::{
    Capabilities, ComponentError, Held, HostContext, Limits, MAX_CORE_INSTANCES, MAX_MEMORIES,
    Metering, Prepared, Refusal, Sandbox, TABLE_ELEMENT_BYTES,
};
use warden::config;
use warden::events::EventBus;
use warden::host::{Host, SendError};

use crate::grade_exercises::exercise_dir;
use crate::support::{config_file, runtime, stderr, warden_cmd};

const PAGE: usize = 64 << 10;
const MIB: usize = 1 << 20;

fn limits(memory_bytes: usize) -> Limits {
    Limits {
        memory_bytes,
        timeout: Some(Duration::from_secs(10)),
        ..Limits::default()
    }
}

fn prepare(wat: &str) -> Prepared {
    let bytes = wat::parse_str(wat).expect("valid WAT");
    runtime()
        .prepare(&bytes, Metering::Off)
        .expect("compiles and links")
}

fn sandbox(prepared: &Prepared, memory_bytes: usize) -> Result<Sandbox, ComponentError> {
    Sandbox::new(
        prepared,
        &limits(memory_bytes),
        &Capabilities::default(),
        HostContext::isolated("hostile"),
    )
}

/// The refusal inside a memory-limit error; panics on any other error.
fn refusal(err: ComponentError, limit: usize) -> Refusal {
    match err {
        ComponentError::MemoryLimit {
            limit_bytes,
            refused,
        } => {
            assert_eq!(limit_bytes, limit);
            refused
        }
        other => panic!("expected a memory-limit error, got {other:?}"),
    }
}

/// Stores one byte in every 4 KiB page of memory `mem` (`bytes` long), so
/// the host really commits it.
fn touch(mem: usize, bytes: usize) -> String {
    format!(
        "(local.set $p (i32.const 0))
         (loop $l{mem}
           (i32.store8 {mem} (local.get $p) (i32.const 1))
           (local.set $p (i32.add (local.get $p) (i32.const 4096)))
           (br_if $l{mem} (i32.lt_u (local.get $p) (i32.const {bytes}))))"
    )
}

/// `instances` core instances of one module with a memory of `pages`
/// pages (each page touched when `touch_pages`), and `run: func() -> u32`.
fn memory_per_instance(instances: usize, pages: usize, touch_pages: bool) -> String {
    let start = if touch_pages {
        format!(
            "(func $touch (local $p i32) {}) (start $touch)",
            touch(0, pages * PAGE)
        )
    } else {
        String::new()
    };
    let mut wat = format!("(component (core module $m (memory {pages}) {start})\n");
    for i in 0..instances {
        wat.push_str(&format!("(core instance $i{i} (instantiate $m))\n"));
    }
    wat.push_str(RUN);
    wat
}

/// The `run: func() -> u32` every generated component exports (returns 7).
const RUN: &str = r#"
  (core module $run (func (export "run") (result i32) (i32.const 7)))
  (core instance $run (instantiate $run))
  (func (export "run") (result u32) (canon lift (core func $run "run"))))
"#;

/// One module defining `memories` memories of `pages` pages each, every
/// page touched by its start function.
fn memories_in_one_module(memories: usize, pages: usize) -> String {
    let mut module = String::from("(core module $m\n");
    for _ in 0..memories {
        module.push_str(&format!("(memory {pages})\n"));
    }
    module.push_str("(func $touch (local $p i32)\n");
    for mem in 0..memories {
        module.push_str(&touch(mem, pages * PAGE));
    }
    module.push_str(") (start $touch))\n");
    format!("(component {module} (core instance $i (instantiate $m)) {RUN}")
}

#[test]
fn sixty_four_memories_of_60_mib_are_refused_under_64_mib() {
    let prepared = prepare(&memories_in_one_module(64, 960));
    let err = sandbox(&prepared, 64 * MIB)
        .err()
        .expect("64 × 60 MiB cannot fit in 64 MiB");
    assert_eq!(
        refusal(err, 64 * MIB),
        Refusal::Count {
            what: Held::Memory,
            count: 64,
            max: MAX_MEMORIES
        },
        "refused before any memory is allocated"
    );

    // The same spread over 64 core instances: still 64 memories.
    let prepared = prepare(&memory_per_instance(64, 960, false));
    let err = sandbox(&prepared, 64 * MIB).err().expect("refused");
    assert_eq!(
        refusal(err, 64 * MIB),
        Refusal::Count {
            what: Held::Memory,
            count: 64,
            max: MAX_MEMORIES
        }
    );

    // As many as an instance may have: the second 60 MiB memory already
    // does not fit beside the first.
    let prepared = prepare(&memory_per_instance(MAX_MEMORIES, 960, false));
    let err = sandbox(&prepared, 64 * MIB).err().expect("refused");
    assert_eq!(
        refusal(err, 64 * MIB),
        Refusal::Bytes {
            what: Held::Memory,
            requested: 60 * MIB,
            in_use: 60 * MIB,
            at_instantiation: true,
        }
    );
}

#[test]
fn sixteen_core_instances_with_a_memory_each_share_the_limit() {
    // Each memory is exactly the limit: fine alone, never two of them.
    let prepared = prepare(&memory_per_instance(16, 1024, false));
    let err = sandbox(&prepared, 64 * MIB).err().expect("refused");
    let refused = refusal(err, 64 * MIB);
    assert!(
        matches!(
            refused,
            Refusal::Bytes {
                what: Held::Memory,
                at_instantiation: true,
                ..
            }
        ),
        "{refused:?}"
    );
    // Under a limit that holds them all, the same component runs, and
    // its usage is the sum of its memories.
    let mut ok = sandbox(&prepared, 16 * 64 * MIB).expect("fits in 1 GiB");
    assert_eq!(ok.memory_bytes(), 16 * 64 * MIB);
    assert_eq!(ok.memory_refusals(), 0);
    let run = find_function(&prepared.compiled, "run").unwrap();
    let (outcome, _) = ok.call(&run.index, &[], 1);
    assert_eq!(outcome.unwrap(), vec![Val::U32(7)]);
}

#[test]
fn ninety_nine_tables_of_a_million_entries_are_refused_under_a_small_limit() {
    let mut module = String::from("(core module $m\n");
    for _ in 0..99 {
        module.push_str("(table 1048576 funcref)\n");
    }
    module.push(')');
    let wat = format!("(component {module} (core instance $i (instantiate $m)) {RUN}");
    let prepared = prepare(&wat);
    let err = sandbox(&prepared, 16 * MIB).err().expect("refused");
    assert_eq!(
        refusal(err, 16 * MIB),
        Refusal::Bytes {
            what: Held::Table,
            requested: (1 << 20) * TABLE_ELEMENT_BYTES,
            in_use: 2 * (1 << 20) * TABLE_ELEMENT_BYTES,
            at_instantiation: true,
        },
        "two 8 MiB tables fill 16 MiB; the third is refused"
    );
}

/// Two core instances, each with a one-page memory, and a table of one
/// element: `grow(pages)` grows both memories by `pages` and answers how
/// many grew; `grow-table(n)` grows the table, answering its old size or
/// -1.
const GROWER: &str = r#"
(component
  (core module $other
    (memory 1)
    (table 1 funcref)
    (func (export "grow") (param i32) (result i32) (memory.grow (local.get 0)))
    (func (export "grow-table") (param i32) (result i32)
      (table.grow (ref.null func) (local.get 0))))
  (core instance $other (instantiate $other))
  (core module $main
    (import "other" "grow" (func $grow_other (param i32) (result i32)))
    (memory 1)
    (func (export "grow") (param i32) (result i32)
      (i32.add
        (i32.ne (memory.grow (local.get 0)) (i32.const -1))
        (i32.ne (call $grow_other (local.get 0)) (i32.const -1)))))
  (core instance $main (instantiate $main (with "other" (instance $other))))
  (func (export "grow") (param "pages" u32) (result u32)
    (canon lift (core func $main "grow")))
  (func (export "grow-table") (param "elements" u32) (result s32)
    (canon lift (core func $other "grow-table"))))
"#;

#[test]
fn growth_in_any_memory_or_table_counts_against_one_limit() {
    let prepared = prepare(GROWER);
    let grow = find_function(&prepared.compiled, "grow").unwrap();
    let grow_table = find_function(&prepared.compiled, "grow-table").unwrap();
    let mut sb = sandbox(&prepared, 8 * MIB).expect("two pages and a table fit");
    let start = 2 * PAGE + TABLE_ELEMENT_BYTES;
    assert_eq!(sb.memory_bytes(), start, "initial sizes are counted");

    // 4 MiB more in each memory: the first fits, the second does not.
    let (grown, _) = sb.call(&grow.index, &[Val::U32(64)], 1);
    assert_eq!(grown.unwrap(), vec![Val::U32(1)], "only one memory grew");
    assert_eq!(sb.memory_bytes(), start + 4 * MIB);
    assert_eq!(sb.memory_refusals(), 1);

    // Tables are counted at their host cost per element.
    let room = 8 * MIB - sb.memory_bytes();
    let fits = room / TABLE_ELEMENT_BYTES;
    let (grown, _) = sb.call(&grow_table.index, &[Val::U32(fits as u32)], 1);
    assert_eq!(grown.unwrap(), vec![Val::S32(1)], "old size: grew");
    let (grown, _) = sb.call(&grow_table.index, &[Val::U32(1)], 1);
    assert_eq!(grown.unwrap(), vec![Val::S32(-1)], "not one element more");
    assert!(sb.memory_bytes() <= 8 * MIB);
    assert_eq!(
        sb.memory_bytes(),
        start + 4 * MIB + fits * TABLE_ELEMENT_BYTES
    );
    assert_eq!(sb.memory_refusals(), 2);
}

#[test]
fn counts_of_memories_and_core_instances_are_bounded() {
    // Seventeen one-page memories: tiny, but more than an instance may have.
    let mut module = String::from("(core module $m\n");
    for _ in 0..=MAX_MEMORIES {
        module.push_str("(memory 1)\n");
    }
    module.push(')');
    let wat = format!("(component {module} (core instance $i (instantiate $m)) {RUN}");
    let err = sandbox(&prepare(&wat), 64 * MIB)
        .err()
        .expect("too many memories");
    assert_eq!(
        refusal(err, 64 * MIB),
        Refusal::Count {
            what: Held::Memory,
            count: MAX_MEMORIES + 1,
            max: MAX_MEMORIES
        }
    );

    // Core instances without any memory: wasmtime stops the store.
    let mut wat = String::from("(component (core module $m)\n");
    for i in 0..MAX_CORE_INSTANCES {
        wat.push_str(&format!("(core instance $i{i} (instantiate $m))\n"));
    }
    wat.push_str(RUN);
    match sandbox(&prepare(&wat), 64 * MIB) {
        Err(ComponentError::Instantiation { reason }) => {
            assert!(reason.contains("instance count too high"), "{reason}")
        }
        Err(other) => panic!("expected an instantiation error, got {other:?}"),
        Ok(_) => panic!("{} core instances were allowed", MAX_CORE_INSTANCES + 1),
    }
}

#[test]
fn a_fuel_budget_is_refused_for_unmetered_code() {
    let prepared = prepare(GROWER);
    let metered = Limits {
        fuel: Some(1_000),
        ..limits(8 * MIB)
    };
    let err = Sandbox::new(
        &prepared,
        &metered,
        &Capabilities::default(),
        HostContext::isolated("unmetered"),
    )
    .err()
    .expect("a budget that cannot apply is an error, never ignored");
    assert!(err.to_string().contains("fuel metering"), "{err}");
}

/// Runs `cmd` to its end: exit code, stderr, and the peak RSS of that one
/// process in bytes (from `wait4`, so no other test's process counts).
#[expect(
    clippy::zombie_processes,
    reason = "reaped by wait4 below: std's wait would drop the child's rusage"
)]
fn run_measured(cmd: &mut Command) -> (Option<i32>, String, u64) {
    let mut child = cmd
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    let mut err = String::new();
    child
        .stderr
        .take()
        .expect("piped stderr")
        .read_to_string(&mut err)
        .expect("read stderr");
    let pid = libc::pid_t::try_from(child.id()).expect("pid fits");
    let mut status = 0;
    // SAFETY: `rusage` is plain old data; all zeroes is a valid value.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    loop {
        // SAFETY: `pid` is our own child, not reaped yet (std's `Child`
        // never waited for it); both pointers are to live locals.
        let reaped = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
        if reaped == pid {
            break;
        }
        let e = std::io::Error::last_os_error();
        assert_eq!(e.kind(), std::io::ErrorKind::Interrupted, "wait4: {e}");
    }
    let code = libc::WIFEXITED(status).then(|| libc::WEXITSTATUS(status));
    let peak = u64::try_from(usage.ru_maxrss).expect("non-negative") * 1024;
    (code, err, peak)
}

#[test]
fn warden_call_refuses_64_memories_of_60_mib_under_64_mib_and_stays_small() {
    let dir = tempfile::tempdir().unwrap();
    // Every page of every memory is touched at instantiation: whatever
    // memory the host grants is really committed. 64 memories in one
    // module, then as many core instances of a one-memory module as an
    // instance may have (refused by bytes, after the first is filled).
    for (name, wat, refusal) in [
        (
            "one-module",
            memories_in_one_module(64, 960),
            "the component defines 64 linear memories",
        ),
        (
            "instances",
            memory_per_instance(MAX_MEMORIES, 960, true),
            "instantiating it needs a linear memory of 60.0 MiB with 60.0 MiB already in use",
        ),
    ] {
        let file = dir.path().join(format!("{name}.wasm"));
        std::fs::write(&file, wat::parse_str(&wat).unwrap()).unwrap();
        let (code, err, peak) = run_measured(&mut warden_cmd(&[
            "call",
            file.to_str().unwrap(),
            "run",
            "--memory-mb",
            "64",
        ]));
        assert_eq!(code, Some(1), "{name}: {err}");
        assert!(
            err.contains("memory limit of 67108864 bytes reached"),
            "{name}: {err}"
        );
        assert!(err.contains(refusal), "{name}: {err}");
        // At most the first 60 MiB memory is granted and filled, beside
        // the host's own ~30 MiB (measured: 28 and 86 MiB); granting
        // them all would commit 3.75 GiB or 960 MiB.
        assert!(peak < 256 << 20, "{name}: peak RSS {} MiB", peak >> 20);
    }
}

/// `run` grows the memory one page at a time until refused; answers how
/// many pages it added.
const GROW_BY_PAGES: &str = r#"
(component
  (core module $m (memory 1)
    (func (export "run") (result i32) (local $n i32)
      (block $done (loop $l
        (br_if $done (i32.eq (memory.grow (i32.const 1)) (i32.const -1)))
        (local.set $n (i32.add (local.get $n) (i32.const 1)))
        (br $l)))
      (local.get $n)))
  (core instance $i (instantiate $m))
  (func (export "run") (result u32) (canon lift (core func $i "run"))))
"#;

#[test]
fn a_memory_grows_to_a_large_limit_without_being_copied_on_each_grow() {
    // A memory that outgrows the address space reserved for it is moved,
    // copying all of it; with room for 1 MiB more after each move, growing
    // to 256 MiB page by page copied gigabytes. The runtime now reserves
    // the limit: nothing moves.
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("grow.wasm");
    std::fs::write(&file, wat::parse_str(GROW_BY_PAGES).unwrap()).unwrap();
    let started = Instant::now();
    let out = warden_cmd(&[
        "call",
        file.to_str().unwrap(),
        "run",
        "--memory-mb",
        "256",
        "--timeout-ms",
        "20000",
    ])
    .output()
    .unwrap();
    let took = started.elapsed();
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        ((256 * MIB / PAGE) - 1).to_string(),
        "grew to exactly the limit"
    );
    assert!(took < Duration::from_secs(10), "{took:?}");
}

/// `leap-year` that first grows its two memories (one per core instance)
/// by 3 MiB each, trapping if either growth is refused, then answers
/// correctly.
const LEAP_SPREAD: &str = r#"
(component
  (core module $other
    (memory 1)
    (func (export "grow") (param i32) (result i32) (memory.grow (local.get 0))))
  (core instance $other (instantiate $other))
  (core module $main
    (import "other" "grow" (func $grow_other (param i32) (result i32)))
    (memory 1)
    (func (export "leap") (param $y i32) (result i32)
      (if (i32.eq (memory.grow (i32.const 48)) (i32.const -1)) (then unreachable))
      (if (i32.eq (call $grow_other (i32.const 48)) (i32.const -1)) (then unreachable))
      (i32.or
        (i32.and
          (i32.eqz (i32.rem_u (local.get $y) (i32.const 4)))
          (i32.ne (i32.rem_u (local.get $y) (i32.const 100)) (i32.const 0)))
        (i32.eqz (i32.rem_u (local.get $y) (i32.const 400))))))
  (core instance $main (instantiate $main (with "other" (instance $other))))
  (func (export "leap-year") (param "year" u32) (result bool)
    (canon lift (core func $main "leap"))))
"#;

/// `leap-year` answering correctly from a component of eight core
/// instances with a 3 MiB memory each.
fn leap_wide() -> String {
    let mut wat = String::from("(component (core module $m (memory 48))\n");
    for i in 0..8 {
        wat.push_str(&format!("(core instance $i{i} (instantiate $m))\n"));
    }
    wat.push_str(
        r#"(core module $main
             (func (export "leap") (param $y i32) (result i32)
               (i32.or
                 (i32.and
                   (i32.eqz (i32.rem_u (local.get $y) (i32.const 4)))
                   (i32.ne (i32.rem_u (local.get $y) (i32.const 100)) (i32.const 0)))
                 (i32.eqz (i32.rem_u (local.get $y) (i32.const 400))))))
           (core instance $main (instantiate $main))
           (func (export "leap-year") (param "year" u32) (result bool)
             (canon lift (core func $main "leap"))))"#,
    );
    wat
}

#[test]
fn grading_under_4_mib_per_case_cannot_use_more_than_4_mib() {
    let dir = tempfile::tempdir().unwrap();
    for (name, wat) in [("spread", LEAP_SPREAD.to_string()), ("wide", leap_wide())] {
        let file = dir.path().join(format!("{name}.wasm"));
        std::fs::write(&file, wat::parse_str(&wat).unwrap()).unwrap();
        let leap = exercise_dir("leap");
        let out = warden_cmd(&[
            "grade",
            leap.to_str().unwrap(),
            file.to_str().unwrap(),
            "--format",
            "json",
        ])
        .output()
        .unwrap();
        let report: Json = serde_json::from_slice(&out.stdout)
            .unwrap_or_else(|e| panic!("{name}: {e}: {}", stderr(&out)));
        assert_eq!(report["limits"]["memory_bytes"], 4 << 20, "{name}");
        let tests = report["tests"].as_array().unwrap();
        assert!(!tests.is_empty());
        for t in tests {
            assert_eq!(t["verdict"], "memory_limit", "{name}: {t}");
            let message = t["message"].as_str().unwrap();
            assert!(
                message.starts_with("memory limit of 4194304 bytes reached"),
                "{name}: {message}"
            );
        }
    }
}

/// An actor with a second core instance holding a second memory:
/// `handle` grows its own memory and the other one by 40 MiB each and
/// replies one byte per memory, 1 if it grew.
const ACTOR_HOG: &str = r#"
(component
  (core module $other
    (memory 1)
    (func (export "grow") (param i32) (result i32) (memory.grow (local.get 0))))
  (core instance $other (instantiate $other))
  (core module $main
    (import "other" "grow" (func $grow_other (param i32) (result i32)))
    (memory (export "memory") 1)
    (global $next (mut i32) (i32.const 1024))
    (func (export "realloc") (param i32 i32 i32 i32) (result i32)
      (local $at i32)
      (local.set $at
        (i32.and
          (i32.add (global.get $next) (i32.sub (local.get 2) (i32.const 1)))
          (i32.sub (i32.const 0) (local.get 2))))
      (global.set $next (i32.add (local.get $at) (local.get 3)))
      (local.get $at))
    ;; `ok(ptr, len)` of a result<_, string> or result<list<u8>, string>.
    (func $ok (param i32 i32) (result i32)
      (i32.store8 (i32.const 16) (i32.const 0))
      (i32.store (i32.const 20) (local.get 0))
      (i32.store (i32.const 24) (local.get 1))
      (i32.const 16))
    (func (export "init") (param i32 i32) (result i32) (call $ok (i32.const 0) (i32.const 0)))
    (func (export "handle") (param i32 i32) (result i32)
      (i32.store8 (i32.const 32) (i32.ne (memory.grow (i32.const 640)) (i32.const -1)))
      (i32.store8 (i32.const 33) (i32.ne (call $grow_other (i32.const 640)) (i32.const -1)))
      (call $ok (i32.const 32) (i32.const 2)))
    (func (export "snapshot") (result i32) (call $ok (i32.const 32) (i32.const 0)))
    (func (export "restore") (param i32 i32) (result i32) (call $ok (i32.const 0) (i32.const 0))))
  (core instance $main (instantiate $main (with "other" (instance $other))))
  (func $init (param "config" string) (result (result (error string)))
    (canon lift (core func $main "init") (memory (core memory $main "memory")) (realloc (core func $main "realloc"))))
  (func $handle (param "message" (list u8)) (result (result (list u8) (error string)))
    (canon lift (core func $main "handle") (memory (core memory $main "memory")) (realloc (core func $main "realloc"))))
  (func $snapshot (result (result (list u8) (error string)))
    (canon lift (core func $main "snapshot") (memory (core memory $main "memory")) (realloc (core func $main "realloc"))))
  (func $restore (param "state" (list u8)) (result (result (error string)))
    (canon lift (core func $main "restore") (memory (core memory $main "memory")) (realloc (core func $main "realloc"))))
  (instance $actor
    (export "init" (func $init))
    (export "handle" (func $handle))
    (export "snapshot" (func $snapshot))
    (export "restore" (func $restore)))
  (export "warden:plugin/actor@0.1.0" (instance $actor)))
"#;

async fn start(body: &str, files: &[(&str, Vec<u8>)]) -> (tempfile::TempDir, Host) {
    let (dir, path) = config_file(body);
    for (name, bytes) in files {
        std::fs::write(dir.path().join(name), bytes).unwrap();
    }
    let config = config::load(&path).expect("valid config");
    let host = Host::start(&config, EventBus::default())
        .await
        .expect("host starts");
    (dir, host)
}

async fn info(host: &Host, path: &str) -> Json {
    host.operations
        .call("child.info", json!({"path": path}))
        .await
        .unwrap_or_else(|e| panic!("child.info {path}: {e}"))
}

/// One component child, `hog.wasm`, under a 64 MiB limit.
const HOG_TREE: &str = r#"
[supervisor.root]
strategy = "one_for_one"
[[supervisor.root.children]]
id = "hog"
kind = "component"
path = "{dir}/hog.wasm"
limits = { memory_mb = 64 }
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_supervised_child_cannot_hold_more_than_its_limit_and_info_says_so() {
    let body = HOG_TREE;
    let (_dir, host) = start(body, &[("hog.wasm", wat::parse_str(ACTOR_HOG).unwrap())]).await;
    let before = info(&host, "root/hog").await;
    assert_eq!(before["info"]["memory_bytes"], 2 * PAGE, "{before}");
    assert_eq!(before["info"]["limit_breaches"], 0, "{before}");

    let reply = host
        .router
        .call("root/hog", b"grow".to_vec())
        .await
        .unwrap();
    assert_eq!(
        reply,
        [1, 0],
        "the second memory may not grow past the total"
    );
    let after = info(&host, "root/hog").await;
    assert_eq!(
        after["info"]["memory_bytes"],
        2 * PAGE + 640 * PAGE,
        "the true total of both memories: {after}"
    );
    assert_eq!(after["info"]["limit_breaches"], 1, "{after}");

    let reply = host
        .router
        .call("root/hog", b"grow".to_vec())
        .await
        .unwrap();
    assert_eq!(reply, [0, 0]);
    let last = info(&host, "root/hog").await;
    assert_eq!(last["info"]["memory_bytes"], 2 * PAGE + 640 * PAGE);
    assert_eq!(last["info"]["limit_breaches"], 3, "{last}");
    assert_eq!(last["generation"], before["generation"], "it handled both");
    host.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_child_that_cannot_fit_at_instantiation_never_starts() {
    let body = HOG_TREE;
    // The hog's own two pages plus one more 64 MiB core instance.
    let hog = ACTOR_HOG.replace(
        "(core instance $other (instantiate $other))",
        "(core instance $other (instantiate $other))
         (core module $big (memory 1024))
         (core instance $big (instantiate $big))",
    );
    let (dir, path) = config_file(body);
    std::fs::write(dir.path().join("hog.wasm"), wat::parse_str(&hog).unwrap()).unwrap();
    let config = config::load(&path).unwrap();
    let err = Host::start(&config, EventBus::default())
        .await
        .err()
        .expect("refused");
    assert!(
        err.to_string()
            .contains("memory limit of 67108864 bytes reached"),
        "{err}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fuel_budget_holds_when_a_sibling_without_one_shares_the_file() {
    // The child without fuel comes first, so its program is built first.
    let body = r#"
[supervisor.root]
strategy = "one_for_one"
intensity = 5
[[supervisor.root.children]]
id = "free"
kind = "component"
path = "{counter}"
[[supervisor.root.children]]
id = "metered"
kind = "component"
path = "{counter}"
limits = { fuel = 50000000, timeout_ms = 20000 }
"#;
    let (_dir, host) = start(body, &[]).await;
    let started = Instant::now();
    let err = host
        .router
        .call("root/metered", b"sleep-loop".to_vec())
        .await
        .unwrap_err();
    match &err {
        SendError::Failed { message, .. } => {
            assert!(message.contains("ran out of fuel"), "{message}")
        }
        other => panic!("expected a failure, got {other:?}"),
    }
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "{:?}: the wall-clock limit, not the fuel, stopped it",
        started.elapsed()
    );
    assert_eq!(
        host.router
            .call("root/free", b"inc".to_vec())
            .await
            .unwrap(),
        b"1"
    );
    host.stop().await;
}
