//! `misbehave`: a component that misbehaves on request, to test the host's
//! sandbox, resource limits and supervision.
//!
//! Its world (`wit/misbehave.wit`) includes `warden:plugin/actor-plugin`
//! and adds free functions, each one fault: an endless loop, an endless
//! sleep, unbounded allocation, a trap, a stack overflow, reads outside the granted
//! directories, and a flood of output. `add` is the one well-behaved
//! function. The actor's `handle` runs the same faults by name so that a
//! supervised child can be made to misbehave, and its operations (`loop`,
//! `ok`) do the same for an operation plugin.
//!
//! It uses `wit-bindgen` directly rather than `warden-sdk`, because its
//! world is not one of the SDK's.

use std::hint::black_box;
use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};

use exports::warden::plugin::{actor, operation};

wit_bindgen::generate!({
    path: ["../../wit", "wit"],
    world: "warden:misbehave/misbehave",
    generate_all,
});

struct Misbehave;

/// Set by the message `refuse-snapshot`: `snapshot` refuses from then on.
static REFUSE_SNAPSHOT: AtomicBool = AtomicBool::new(false);

/// Set by the message `unrestorable`: `snapshot` gives
/// [`UNRESTORABLE_STATE`], which `restore` refuses.
static UNRESTORABLE: AtomicBool = AtomicBool::new(false);

/// A state this plugin's own `restore` refuses.
const UNRESTORABLE_STATE: &[u8] = b"unrestorable";

/// Set by the message `endless-restore`: `snapshot` gives
/// [`ENDLESS_RESTORE_STATE`], whose `restore` never returns.
static ENDLESS_RESTORE: AtomicBool = AtomicBool::new(false);

/// A state this plugin's own `restore` spins on forever.
const ENDLESS_RESTORE_STATE: &[u8] = b"endless-restore";

/// Bytes in a mebibyte; also the size of each allocation of
/// `allocate-forever` and of each `flood-stdout` chunk.
const MIB: usize = 1 << 20;

fn loop_forever() -> ! {
    let mut spins: u64 = 0;
    loop {
        spins = black_box(spins.wrapping_add(1));
    }
}

fn allocate_forever() -> ! {
    let mut blocks: Vec<Vec<u8>> = Vec::new();
    loop {
        let mut block = Vec::new();
        if block.try_reserve_exact(MIB).is_err() || blocks.try_reserve(1).is_err() {
            panic!("misbehave: out of memory after {} MiB", blocks.len());
        }
        block.resize(MIB, 0);
        // Touch every page so the memory is really committed.
        for page in block.chunks_mut(4096) {
            page[0] = 1;
        }
        blocks.push(black_box(block));
    }
}

fn trap() -> ! {
    panic!("misbehave: deliberate trap");
}

/// One frame of the unbounded recursion.
///
/// The frame keeps `depth` for the addition after the call, so the call is
/// not a tail call, and `black_box` hides the arithmetic from the
/// optimiser, so it cannot turn the recursion into a loop either. Nothing
/// lives in the guest's shadow stack (linear memory) but what `black_box`
/// needs, so the engine's own stack limit is hit first: the trap is a wasm
/// stack overflow, not an out-of-bounds memory access.
#[inline(never)]
#[expect(unconditional_recursion, reason = "the stack overflow is the point")]
fn recurse(depth: u64) -> u64 {
    let deeper = recurse(black_box(depth.wrapping_add(1)));
    black_box(deeper).wrapping_add(depth)
}

fn read_passwd() -> Result<String, String> {
    std::fs::read_to_string("/etc/passwd").map_err(|e| format!("/etc/passwd: {e}"))
}

fn escape_dir() -> Result<String, String> {
    let mut errors = Vec::new();
    for path in ["../secret.txt", "/data/../../secret.txt"] {
        match std::fs::read_to_string(path) {
            Ok(contents) => return Ok(contents),
            Err(e) => errors.push(format!("{path}: {e}")),
        }
    }
    Err(errors.join("; "))
}

fn flood_stdout(megabytes: u32) {
    // 1023 characters and a newline: 1024 lines make a MiB.
    let line = "x".repeat(1023);
    for _ in 0..u64::from(megabytes) * (MIB as u64 / 1024) {
        println!("{line}");
    }
    let _ = std::io::stdout().flush();
    eprintln!("misbehave: wrote {megabytes} MiB to stdout");
}

impl Guest for Misbehave {
    fn loop_forever() {
        loop_forever()
    }

    fn sleep_forever() {
        std::thread::sleep(std::time::Duration::from_secs(365 * 24 * 3600));
    }

    fn allocate_forever() -> u64 {
        allocate_forever()
    }

    fn trap() {
        trap()
    }

    fn stack_overflow(depth: u64) -> u64 {
        recurse(depth)
    }

    fn read_passwd() -> Result<String, String> {
        read_passwd()
    }

    fn escape_dir() -> Result<String, String> {
        escape_dir()
    }

    fn flood_stdout(megabytes: u32) {
        flood_stdout(megabytes)
    }

    fn add(a: i32, b: i32) -> i32 {
        a.wrapping_add(b)
    }
}

impl actor::Guest for Misbehave {
    fn init(_config: String) -> Result<(), String> {
        Ok(())
    }

    fn handle(message: Vec<u8>) -> Result<Vec<u8>, String> {
        match message.as_slice() {
            b"loop" => loop_forever(),
            b"alloc" => allocate_forever(),
            b"trap" => trap(),
            b"overflow" => Ok(recurse(0).to_string().into_bytes()),
            b"ok" => Ok(b"ok".to_vec()),
            b"refuse-snapshot" => {
                REFUSE_SNAPSHOT.store(true, Ordering::Relaxed);
                Ok(b"ok".to_vec())
            }
            b"unrestorable" => {
                UNRESTORABLE.store(true, Ordering::Relaxed);
                Ok(b"ok".to_vec())
            }
            b"endless-restore" => {
                ENDLESS_RESTORE.store(true, Ordering::Relaxed);
                Ok(b"ok".to_vec())
            }
            _ => Err(format!(
                "unknown command: {}",
                String::from_utf8_lossy(&message)
            )),
        }
    }

    fn snapshot() -> Result<Vec<u8>, String> {
        if REFUSE_SNAPSHOT.load(Ordering::Relaxed) {
            return Err("misbehave: refusing my snapshot".to_string());
        }
        if UNRESTORABLE.load(Ordering::Relaxed) {
            return Ok(UNRESTORABLE_STATE.to_vec());
        }
        if ENDLESS_RESTORE.load(Ordering::Relaxed) {
            return Ok(ENDLESS_RESTORE_STATE.to_vec());
        }
        Ok(Vec::new())
    }

    fn restore(state: Vec<u8>) -> Result<(), String> {
        if state == UNRESTORABLE_STATE {
            return Err("misbehave: this state cannot be restored".to_string());
        }
        if state == ENDLESS_RESTORE_STATE {
            loop_forever();
        }
        Ok(())
    }
}

impl operation::Guest for Misbehave {
    fn describe() -> Vec<operation::OpInfo> {
        let any = r#"{"type": "object"}"#.to_string();
        vec![
            operation::OpInfo {
                name: "loop".into(),
                summary: "Spins forever".into(),
                params_schema: any.clone(),
            },
            operation::OpInfo {
                name: "ok".into(),
                summary: "Answers {}".into(),
                params_schema: any,
            },
        ]
    }

    fn execute(name: String, _params: String) -> Result<String, String> {
        match name.as_str() {
            "loop" => loop_forever(),
            "ok" => Ok("{}".into()),
            other => Err(format!("unknown operation: {other}")),
        }
    }
}

export!(Misbehave);
