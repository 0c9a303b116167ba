//! What a panic in a plugin does: one report on stderr, then an exit.
//!
//! A panic in a guest must end the instance (the host then treats the
//! child as crashed), and the host must learn why: it reads the report on
//! stderr (`thread '…' panicked at FILE:LINE:COL:` then the message) into
//! one log line and the trap's reason. std's own hook writes that report
//! in pieces, looks up `RUST_BACKTRACE` first and adds a note about it
//! (no use in a guest, which cannot print a backtrace), and with
//! `panic=abort` then ends the instance with wasm's `unreachable`. That
//! instruction becomes a CPU fault the host has to catch as a signal:
//! 6.6 µs on a KVM guest (KVM intercepts the fault to emulate it first),
//! against 1.7 µs for a memory fault, measured with `ud2` in a C loop.
//!
//! The SDK's hook writes the same report in one write and leaves through
//! WASI's `exit`, an ordinary host call: no signal at all. The host reads
//! an exit after a panic report as the trap it is. `warden bench restart`
//! (a panic, then the next instance answering): p50 46 → 33 µs with the
//! exit, and 51 → 46 µs more with the single write, each in one run.
//!
//! Only inside a component: a plugin's own `cargo test` keeps std's hook,
//! where a panic must fail the test, not end the test binary.

/// Installs the hook once per instance; every export calls this first.
#[cfg(target_os = "wasi")]
pub(crate) fn exit_after_report() {
    static INSTALLED: std::sync::Once = std::sync::Once::new();
    INSTALLED.call_once(|| {
        std::panic::set_hook(Box::new(|info| {
            use std::io::Write;
            let _ = std::io::stderr().write_all(report(info).as_bytes());
            std::process::exit(PANIC_STATUS);
        }));
    });
}

/// Outside a component there is nothing to install.
#[cfg(not(target_os = "wasi"))]
pub(crate) fn exit_after_report() {}

/// std's report, header and message: a guest has one thread, unnamed.
#[cfg(target_os = "wasi")]
fn report(info: &std::panic::PanicHookInfo<'_>) -> String {
    let message = info.payload_as_str().unwrap_or("Box<dyn Any>");
    match info.location() {
        Some(at) => format!("thread '<unnamed>' panicked at {at}:\n{message}\n"),
        None => format!("thread '<unnamed>' panicked:\n{message}\n"),
    }
}

/// The status a panicking plugin exits with: std's own for a panic in a
/// native program (WASI 0.2 reports any non-zero status as failure).
#[cfg(target_os = "wasi")]
const PANIC_STATUS: i32 = 101;
