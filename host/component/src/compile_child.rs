//! The compiler process: what `warden __compile REQUEST` runs.
//!
//! The parent side is the crate's private `compiler` module; this is the
//! other end of the same protocol, kept beside it so both change together:
//! - argument: one JSON `Request` (the parent's whole [`RuntimeConfig`],
//!   the metering flavor and compiler, the engine id the artifact must
//!   match, the parent's pid);
//! - stdin: the path of the output file on one line, then the component's
//!   bytes to the end, at most `max_bytes`;
//! - output: `Component::serialize` written into that file, then [`DONE`]
//!   on stdout once the file is complete and closed. The parent takes the
//!   artifact then, without waiting for the exit, whose teardown of the
//!   compiler's memory takes a millisecond or more; it kills and reaps
//!   the process after;
//! - exit status: one of the `exit` codes, or a signal when a limit struck
//!   (what the parent reads when no [`DONE`] came).
//!
//! Everything that does not depend on the job (starting the process,
//! building and checking the engine) happens before stdin is read, so a
//! child the parent started ahead of need (a standby, see the `compiler`
//! module) has it done when the job arrives.
//!
//! The process asks to be killed when its parent dies, so a compile never
//! outlives a host that was killed itself.
//!
//! Must never: compile anything but a binary component (no WAT text, no
//! core module), or write anywhere but the file it was handed.

use std::io::{BufRead, Read, Write};
use std::os::unix::ffi::OsStringExt;
use std::path::PathBuf;

use crate::engine::{Metering, RuntimeConfig, Tier, compile_engine};

/// The hidden subcommand of the `warden` binary.
pub const SUBCOMMAND: &str = "__compile";

/// What the child writes on stdout once the artifact is written.
pub(crate) const DONE: &[u8] = b"done\n";

/// Exit statuses of the compiler process.
pub(crate) mod exit {
    /// The artifact is written.
    pub const OK: i32 = 0;
    /// The request or the input could not be read (sysexits' EX_USAGE).
    pub const USAGE: i32 = 64;
    /// The bytes are not a valid component; stderr says why (EX_DATAERR).
    pub const INVALID: i32 = 65;
    /// The compile ran out of memory in a way wasmtime reported as an error
    /// (an allocation failure that aborts shows as `SIGABRT` instead).
    pub const OUT_OF_MEMORY: i32 = 71;
    /// This process's engine differs from the parent's: its artifact could
    /// not be loaded there (EX_SOFTWARE).
    pub const ENGINE_MISMATCH: i32 = 70;
    /// The artifact could not be written (EX_IOERR).
    pub const IO: i32 = 74;
}

/// What the parent asks for.
#[derive(Debug, serde::Serialize, serde::Deserialize)]
pub(crate) struct Request {
    /// The parent's runtime config (without its cache dir): the engine is
    /// built from it exactly as the parent builds its own.
    pub config: RuntimeConfig,
    /// Whether to build the fuel-metered engine.
    pub fuel: bool,
    /// The compiler: Winch for the first step of a tiered reload.
    pub tier: Tier,
    /// The id the engine must have (see [`super::cache::engine_id`]).
    pub engine_id: String,
    /// The parent's pid: the compile stops when it is gone.
    pub parent: u32,
}

/// Longest output path the parent may send (Linux's `PATH_MAX`).
const MAX_PATH_LINE: u64 = 4096;

/// Runs one compile request; returns the process exit status.
pub fn main(request: &str) -> i32 {
    match serve(request) {
        Ok(()) => {
            let mut stdout = std::io::stdout().lock();
            // A parent that misses the line waits for the exit instead.
            let _ = stdout.write_all(DONE).and_then(|()| stdout.flush());
            exit::OK
        }
        Err((code, message)) => {
            // The parent keeps the first lines of stderr as the reason.
            let _ = writeln!(std::io::stderr(), "{message}");
            code
        }
    }
}

fn serve(request: &str) -> Result<(), (i32, String)> {
    let request: Request = serde_json::from_str(request)
        .map_err(|e| (exit::USAGE, format!("bad compile request: {e}")))?;
    die_with_parent(request.parent)?;
    let metering = if request.fuel {
        Metering::Fuel
    } else {
        Metering::Off
    };
    let engine = compile_engine(&request.config, metering, request.tier)
        .map_err(|e| (exit::ENGINE_MISMATCH, e.to_string()))?;
    let id = crate::cache::engine_id(&engine);
    if id != request.engine_id {
        return Err((
            exit::ENGINE_MISMATCH,
            format!(
                "the compiler built engine {id}, the host expects {}",
                request.engine_id
            ),
        ));
    }
    // Ready: what follows is the job.
    let mut stdin = std::io::stdin().lock();
    let out = read_out_path(&mut stdin)?;
    let max = request.config.compile.max_bytes;
    let mut bytes = Vec::new();
    stdin
        .take(max.saturating_add(1))
        .read_to_end(&mut bytes)
        .map_err(|e| (exit::USAGE, format!("cannot read the component: {e}")))?;
    if bytes.len() as u64 > max {
        return Err((exit::USAGE, format!("more than {max} bytes on stdin")));
    }
    let component = wasmtime::component::Component::from_binary(&engine, &bytes)
        .map_err(|err| compile_failure(&err))?;
    let artifact = component
        .serialize()
        .map_err(|e| (exit::IO, format!("cannot serialize: {e}")))?;
    let written = std::fs::OpenOptions::new()
        .write(true)
        .truncate(true)
        .open(&out)
        .and_then(|mut f| f.write_all(&artifact))
        .map_err(|e| (exit::IO, format!("{}: {e}", out.display())));
    // The process exits next and the kernel frees it all at once: freeing
    // the compiler's structures one by one first would only make the host
    // wait longer for the exit.
    std::mem::forget((component, engine, bytes, artifact));
    written
}

/// The first line of stdin: the file the artifact goes into.
fn read_out_path(stdin: &mut impl BufRead) -> Result<PathBuf, (i32, String)> {
    let mut line = Vec::new();
    stdin
        .take(MAX_PATH_LINE + 1)
        .read_until(b'\n', &mut line)
        .map_err(|e| (exit::USAGE, format!("cannot read the output path: {e}")))?;
    if line.pop() != Some(b'\n') {
        return Err((
            exit::USAGE,
            "no output path line on stdin (at most 4096 bytes, ended by a newline)".into(),
        ));
    }
    if line.is_empty() {
        return Err((exit::USAGE, "the output path is empty".into()));
    }
    Ok(PathBuf::from(std::ffi::OsString::from_vec(line)))
}

/// Asks the kernel to kill this process when its parent dies, then checks
/// the parent did not die before the request took effect.
fn die_with_parent(parent: u32) -> Result<(), (i32, String)> {
    use rustix::process::{Signal, getppid, set_parent_process_death_signal};
    set_parent_process_death_signal(Some(Signal::KILL)).map_err(|e| {
        (
            exit::USAGE,
            format!("cannot set the parent-death signal: {e}"),
        )
    })?;
    let ppid = getppid().map_or(0, |p| p.as_raw_nonzero().get());
    if u32::try_from(ppid).ok() != Some(parent) {
        return Err((
            exit::USAGE,
            "the host that asked for this compile is gone".into(),
        ));
    }
    Ok(())
}

/// An invalid component, or a resource the limits took away.
fn compile_failure(err: &wasmtime::Error) -> (i32, String) {
    let out_of_memory = err.chain().any(|cause| {
        cause
            .downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.raw_os_error() == Some(rustix::io::Errno::NOMEM.raw_os_error()))
            || cause.downcast_ref::<wasmtime::OutOfMemory>().is_some()
    });
    if out_of_memory {
        (exit::OUT_OF_MEMORY, crate::engine::one_line(err))
    } else {
        (exit::INVALID, crate::engine::one_line(err))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::PoolingConfig;
    use crate::cache::engine_id;
    use crate::engine::host_engine;

    /// The child builds its engine from the request alone: every field of
    /// the config that shapes the engine must survive the trip, and its
    /// compile-only engine (no pool) must compile as the host's, or the
    /// parent could not load what the child compiled.
    #[test]
    fn a_request_rebuilds_the_parents_engine() {
        let pooled = RuntimeConfig {
            memory_reservation: 256 << 20,
            pooling: Some(PoolingConfig::new(4, 256 << 20)),
            ..RuntimeConfig::default()
        };
        for config in [RuntimeConfig::default(), pooled] {
            for metering in [Metering::Off, Metering::Fuel] {
                for tier in [Tier::Optimized, Tier::Baseline] {
                    let parent = engine_id(&host_engine(&config, metering, tier).unwrap());
                    let text = serde_json::to_string(&Request {
                        config: config.clone(),
                        fuel: metering == Metering::Fuel,
                        tier,
                        engine_id: parent.clone(),
                        parent: 1,
                    })
                    .unwrap();
                    let back: Request = serde_json::from_str(&text).unwrap();
                    let metering = if back.fuel {
                        Metering::Fuel
                    } else {
                        Metering::Off
                    };
                    let child =
                        engine_id(&compile_engine(&back.config, metering, back.tier).unwrap());
                    assert_eq!(child, parent, "{metering:?} {tier:?} {config:?}");
                }
            }
        }
    }

    #[test]
    fn every_metering_and_tier_has_its_own_engine() {
        let config = RuntimeConfig::default();
        let mut ids = std::collections::HashSet::new();
        for metering in [Metering::Off, Metering::Fuel] {
            for tier in [Tier::Optimized, Tier::Baseline] {
                ids.insert(engine_id(&compile_engine(&config, metering, tier).unwrap()));
            }
        }
        assert_eq!(ids.len(), 4, "{ids:?}");
    }

    #[test]
    fn a_bad_request_is_a_usage_error() {
        assert_eq!(main("{not json"), exit::USAGE);
    }

    #[test]
    fn the_output_path_is_one_bounded_line() {
        let mut input: &[u8] = b"/tmp/out.cwasm\n\0asm";
        assert_eq!(
            read_out_path(&mut input).unwrap(),
            PathBuf::from("/tmp/out.cwasm")
        );
        // The bytes after the line are left for the component.
        assert_eq!(input, b"\0asm");
        for bad in [&b"/tmp/out.cwasm"[..], b"\n"] {
            let mut input = bad;
            assert_eq!(read_out_path(&mut input).unwrap_err().0, exit::USAGE);
        }
        let long = [b'a'; 5000];
        assert_eq!(read_out_path(&mut &long[..]).unwrap_err().0, exit::USAGE);
    }
}
