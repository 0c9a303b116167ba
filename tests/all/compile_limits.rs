//! Compiling untrusted bytes is bounded (issue 11, item 7) and component
//! files are read safely (item 8): a compile bomb generated here is stopped
//! by each compile limit through `warden call` (exit 2) and through the API
//! (422, the host serving on); files over `max_bytes`, FIFOs, devices and a
//! lone magic number are refused before anything is read or compiled; a
//! component whose imports the host lacks is bad input (exit 2).

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::json;
use warden::api::client::ClientError;

use crate::support::{
    HostProcess, demo_tree, plugin, stderr, use_warden_as_compiler, warden, warden_cmd,
};

/// A component holding one core module with one function of `ops` blocks
/// of `local.get a; local.get b; i32.add; local.set c` over 64 locals,
/// picked pseudo-randomly: cheap to generate and to validate, costly for
/// Cranelift (long live ranges everywhere). 200k blocks (1.4 MB) take ~3 s
/// of CPU and more than 128 MiB to compile here.
pub(crate) fn compile_bomb(ops: usize) -> Vec<u8> {
    const LOCALS: u64 = 64;
    let mut code = Vec::with_capacity(ops * 9 + 8);
    let mut state: u64 = 0x2545_f491_4f6c_dd1d;
    let mut next = |modulo: u64| {
        // xorshift64: deterministic, no dependency.
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state % modulo
    };
    for _ in 0..ops {
        let (a, b, c) = (next(LOCALS + 1), next(LOCALS + 1), 1 + next(LOCALS));
        code.push(0x20);
        leb(&mut code, a);
        code.push(0x20);
        leb(&mut code, b);
        code.push(0x6a);
        code.push(0x21);
        leb(&mut code, c);
    }
    code.extend([0x20, 0x01, 0x0b]);
    let mut body = Vec::new();
    leb(&mut body, 1);
    leb(&mut body, LOCALS);
    body.push(0x7f);
    body.extend(code);
    let mut module = b"\0asm\x01\0\0\0".to_vec();
    section(&mut module, 1, &[1, 0x60, 1, 0x7f, 1, 0x7f]); // (i32) -> i32
    section(&mut module, 3, &[1, 0]); // one function of type 0
    let mut code_section = vec![1];
    leb(&mut code_section, body.len() as u64);
    code_section.extend(body);
    section(&mut module, 10, &code_section);
    let mut component = b"\0asm\x0d\0\x01\0".to_vec();
    section(&mut component, 1, &module); // a core module section
    component
}

fn leb(out: &mut Vec<u8>, mut n: u64) {
    loop {
        let byte = (n & 0x7f) as u8;
        n >>= 7;
        if n == 0 {
            out.push(byte);
            return;
        }
        out.push(byte | 0x80);
    }
}

fn section(out: &mut Vec<u8>, id: u8, body: &[u8]) {
    out.push(id);
    leb(out, body.len() as u64);
    out.extend_from_slice(body);
}

fn write(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, bytes).expect("write component");
    path
}

/// Runs `cmd` with stdout and stderr captured; `None` if it had not exited
/// after `limit` (it is then killed).
fn output_within(mut cmd: Command, limit: Duration) -> Option<Output> {
    let mut child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn warden");
    let deadline = Instant::now() + limit;
    while Instant::now() < deadline {
        if child.try_wait().expect("try_wait").is_some() {
            return Some(child.wait_with_output().expect("collect output"));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let _ = child.kill();
    let _ = child.wait();
    None
}

/// `warden call BOMB f 1 --no-cache FLAGS…`, which must stop on a compile
/// limit: exit 2 and the limit named.
fn call_bomb(flags: &[&str], expect: &str) -> Duration {
    let dir = tempfile::tempdir().unwrap();
    let bomb = write(dir.path(), "bomb.wasm", &compile_bomb(400_000));
    let mut args = vec!["call", bomb.to_str().unwrap(), "f", "1", "--no-cache"];
    args.extend(flags);
    let started = Instant::now();
    let out = output_within(warden_cmd(&args), Duration::from_secs(120))
        .expect("warden call on a compile bomb did not end");
    let took = started.elapsed();
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("compile limit") && err.contains(expect),
        "{err}"
    );
    assert!(err.contains("bomb.wasm"), "the file is named: {err}");
    took
}

#[test]
fn a_compile_bomb_over_the_cpu_limit_exits_2() {
    call_bomb(&["--compile-cpu-secs", "1"], "CPU time");
}

#[test]
fn a_compile_bomb_over_the_memory_limit_exits_2() {
    call_bomb(&["--compile-memory-mb", "64"], "64 MiB of memory");
}

#[test]
fn a_compile_bomb_over_the_wall_clock_limit_exits_2_promptly() {
    let took = call_bomb(
        &["--compile-timeout-ms", "300", "--compile-cpu-secs", "600"],
        "longer than 300 ms",
    );
    // The bomb alone compiles for several seconds of CPU; the limit ends
    // it at 300 ms (room for a busy machine: starting two processes).
    assert!(took < Duration::from_secs(60), "{took:?}");
}

#[test]
fn a_component_over_max_bytes_is_refused_before_it_is_read() {
    let dir = tempfile::tempdir().unwrap();
    // 256 MiB, sparse: reading it would take memory and time; only its
    // size is looked at.
    let big = dir.path().join("big.wasm");
    let file = std::fs::File::create(&big).unwrap();
    std::io::Write::write_all(&mut &file, b"\0asm\x0d\0\x01\0").unwrap();
    file.set_len(256 << 20).unwrap();
    let out = warden(&["inspect", big.to_str().unwrap(), "--no-cache"]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("268435456 bytes is over the size limit of 67108864 bytes"),
        "{err}"
    );

    // And a chosen limit, on a real plugin.
    let counter = plugin("counter");
    let out = warden(&[
        "call",
        counter.to_str().unwrap(),
        "handle",
        "get",
        "--max-bytes",
        "1000",
    ]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("over the size limit of 1000 bytes"), "{err}");
}

#[test]
fn a_fifo_is_refused_without_blocking() {
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("plugin.wasm");
    let made = Command::new("mkfifo").arg(&fifo).status().unwrap();
    assert!(made.success());
    for command in ["inspect", "call"] {
        let mut args = vec![command, fifo.to_str().unwrap()];
        if command == "call" {
            args.push("f");
        }
        // Nobody writes to the FIFO: reading it would block forever.
        let out = output_within(warden_cmd(&args), Duration::from_secs(30))
            .unwrap_or_else(|| panic!("warden {command} blocked on a FIFO"));
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(2), "{command}: {err}");
        assert!(err.contains("not a regular file but a FIFO"), "{err}");
    }
}

#[test]
fn a_device_is_refused_instead_of_read_until_memory_runs_out() {
    // The data limit keeps a warden that would read /dev/zero from eating
    // the machine's memory before the test can fail.
    let mut cmd = Command::new("prlimit");
    cmd.arg("--data=1073741824")
        .arg(env!("CARGO_BIN_EXE_warden"))
        .args(["inspect", "/dev/zero", "--no-cache"]);
    let out = output_within(cmd, Duration::from_secs(30)).expect("warden inspect /dev/zero ended");
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("/dev/zero: not a regular file but a character device"),
        "{err}"
    );
}

#[test]
fn a_file_of_only_the_magic_bytes_is_called_truncated() {
    let dir = tempfile::tempdir().unwrap();
    let magic = write(dir.path(), "magic.wasm", b"\0asm");
    let out = warden(&["call", magic.to_str().unwrap(), "f"]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("truncated: 4 bytes"), "{err}");
    assert!(!err.contains("does not start with"), "{err}");
}

#[test]
fn a_component_whose_imports_the_host_lacks_exits_2() {
    let dir = tempfile::tempdir().unwrap();
    let wat = r#"(component
        (import "acme:missing/thing" (instance (export "poke" (func))))
        (core module $m (func (export "f") (result i32) i32.const 7))
        (core instance $i (instantiate $m))
        (func (export "f") (result s32) (canon lift (core func $i "f"))))"#;
    let path = write(dir.path(), "imports.wasm", &wat::parse_str(wat).unwrap());
    let out = warden(&["call", path.to_str().unwrap(), "f"]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("cannot link component") && err.contains("acme:missing/thing"),
        "{err}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_api_answers_a_compile_bomb_with_422_and_serves_on() {
    use_warden_as_compiler();
    let host = HostProcess::start_tree(&demo_tree("[host.compile]\ncpu_secs = 1\n"), &[]);
    let bomb = write(host.dir(), "bomb.wasm", &compile_bomb(400_000));
    let client = host.client(None);
    let started = Instant::now();
    let err = client
        .call(
            "component.call",
            json!({"component": bomb, "function": "f", "args": [1], "timeout_ms": 1}),
        )
        .await
        .unwrap_err();
    let ClientError::Status { status, body } = &err else {
        panic!("expected an HTTP error, got {err}");
    };
    assert_eq!(*status, 422, "{body}");
    assert_eq!(body["error"]["kind"], "compile_limit", "{body}");
    assert_eq!(body["error"]["limit"], "cpu", "{body}");
    assert!(started.elapsed() < Duration::from_secs(60));

    // Not a component at all: 422 too, as invalid_component.
    let junk = write(host.dir(), "junk.wasm", b"\0asm\x0d\0\x01\0junk");
    let err = client
        .call(
            "component.call",
            json!({"component": junk, "function": "f"}),
        )
        .await
        .unwrap_err();
    assert_eq!(
        (err.status(), err.kind()),
        (Some(422), Some("invalid_component")),
        "{err}"
    );

    // The host serves on: a real call and the tree still answer.
    let called = client
        .call(
            "component.call",
            json!({"component": plugin("counter"), "function": "handle", "args": ["add 3"]}),
        )
        .await
        .unwrap();
    assert_eq!(called["result"], json!({"ok": [51]}), "{called}");
    client.call("health", json!({})).await.unwrap();
}

/// Bytes of every artifact under a cache root.
fn cache_bytes(root: &Path) -> u64 {
    let mut total = 0;
    for engine in std::fs::read_dir(root).unwrap().flatten() {
        for file in std::fs::read_dir(engine.path()).unwrap().flatten() {
            total += file.metadata().unwrap().len();
        }
    }
    total
}

#[test]
fn compiled_code_stays_within_its_memory_and_disk_budgets_but_code_in_use_stays() {
    use warden::component::{CacheBudget, Metering, Runtime, RuntimeConfig};
    use_warden_as_compiler();
    let counter = std::fs::read(plugin("counter")).unwrap();
    let versions: Vec<Vec<u8>> = (0..4)
        .map(|i| crate::support::variant(&counter, &format!("v{i}")))
        .collect();
    // One version's size, measured on an unbounded runtime.
    let probe = Runtime::new(RuntimeConfig::default()).unwrap();
    let one = probe.compile_own(&versions[0], Metering::Off).unwrap();
    let (image, _) = probe.resident_usage();
    drop(one);

    let cache = tempfile::tempdir().unwrap();
    let artifact = {
        let sizing = Runtime::new(RuntimeConfig {
            cache_dir: Some(cache.path().join("sizing")),
            ..RuntimeConfig::default()
        })
        .unwrap();
        sizing.compile(&versions[0], Metering::Off).unwrap();
        cache_bytes(&cache.path().join("sizing"))
    };
    // Room for two of each.
    let runtime = Runtime::new(RuntimeConfig {
        cache_dir: Some(cache.path().join("bounded")),
        cache_budget: CacheBudget {
            memory_bytes: image * 2 + image / 2,
            disk_bytes: artifact * 2 + artifact / 2,
        },
        ..RuntimeConfig::default()
    })
    .unwrap();
    // Version 0 stays in use (as a running child's program would).
    let held = runtime
        .compile(&versions[0], Metering::Off)
        .unwrap()
        .prepare()
        .unwrap();
    for version in &versions[1..] {
        // Compiled in a child, written to the cache, then dropped.
        drop(runtime.compile(version, Metering::Off).unwrap());
    }
    let (bytes, count) = runtime.resident_usage();
    assert_eq!(count, 2, "the held version and the last one");
    assert!(bytes <= image * 2 + image / 2, "{bytes} > budget");
    assert!(cache_bytes(&cache.path().join("bounded")) <= artifact * 2 + artifact / 2);
    // The held version was never evicted: found in memory, not recompiled.
    let again = runtime.compile(&versions[0], Metering::Off).unwrap();
    assert_eq!(again.origin, warden::component::Origin::Memory);
    // The oldest unused one is gone from both: compiled again.
    let first_unused = runtime.compile(&versions[1], Metering::Off).unwrap();
    assert_eq!(first_unused.origin, warden::component::Origin::Compiled);
    drop(held);
}

/// A runtime whose compile program is a shell script with this `body`,
/// written into `dir`: a stand-in compiler to test the protocol with.
fn compiling_with_script(dir: &Path, body: &str) -> warden::component::Runtime {
    use std::os::unix::fs::PermissionsExt;
    use warden::component::{Runtime, RuntimeConfig};

    let script = dir.join("compiler.sh");
    std::fs::write(&script, format!("#!/bin/sh\n{body}")).unwrap();
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    Runtime::new(RuntimeConfig {
        compile_program: Some(script),
        ..RuntimeConfig::default()
    })
    .unwrap()
}

/// A compile ends when the child says its artifact is written, not when
/// the child has exited (the kernel freeing a large compiler heap at the
/// exit would add a millisecond or more to every hot reload), and the
/// child does not outlive the call. The compiler here is a script that
/// writes a one-byte "artifact", says `done`, then would sleep for 30 s:
/// the call returns at once, with the load's error, and the script is
/// killed.
#[test]
fn a_compile_ends_when_the_child_says_done_and_the_child_is_killed() {
    let dir = tempfile::tempdir().unwrap();
    let pid_file = dir.path().join("pid");
    let runtime = compiling_with_script(
        dir.path(),
        &format!(
            "echo $$ > {pid}\nread out\ncat > /dev/null\nprintf x > \"$out\"\n\
             echo done\nexec sleep 30\n",
            pid = pid_file.display()
        ),
    );
    let counter = std::fs::read(plugin("counter")).unwrap();

    let started = Instant::now();
    let err = runtime
        .compile(&counter, warden::component::Metering::Off)
        .err()
        .expect("a one-byte artifact does not load");
    let took = started.elapsed();
    assert!(
        took < Duration::from_secs(10),
        "waited {took:?} for the exit"
    );
    assert!(
        err.to_string()
            .contains("cannot load the compiled component"),
        "{err}"
    );
    let pid = std::fs::read_to_string(&pid_file).unwrap();
    let proc_dir = PathBuf::from(format!("/proc/{}", pid.trim()));
    let deadline = Instant::now() + Duration::from_secs(5);
    while proc_dir.exists() {
        assert!(
            Instant::now() < deadline,
            "the compiler {pid} outlived its compile"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// The compiler gets nothing from the host's environment (a token or a
/// config path would be there for the taking), only its malloc settings.
#[test]
fn the_compiler_runs_with_only_its_malloc_settings_in_its_environment() {
    let dir = tempfile::tempdir().unwrap();
    let seen = dir.path().join("environment");
    let runtime = compiling_with_script(
        dir.path(),
        &format!(
            "cat /proc/$$/environ > {seen}\nexit 70\n",
            seen = seen.display()
        ),
    );
    let counter = std::fs::read(plugin("counter")).unwrap();
    assert!(
        runtime
            .compile(&counter, warden::component::Metering::Off)
            .is_err()
    );
    let environment = std::fs::read(&seen).unwrap();
    let variables: Vec<&[u8]> = environment
        .split(|&b| b == 0)
        .filter(|v| !v.is_empty())
        .collect();
    assert_eq!(
        variables,
        [&b"GLIBC_TUNABLES=glibc.malloc.top_pad=16777216"[..]],
        "{}",
        String::from_utf8_lossy(&environment)
    );
}
