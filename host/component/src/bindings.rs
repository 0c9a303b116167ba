//! Host-side bindings generated from `wit/warden.wit`.
//!
//! One `bindgen!` per world, sharing the `host` import interface, so an
//! actor-only plugin is checked against `actor-plugin` and never asked for
//! `operation` exports it does not have.

/// Bindings for the `actor-plugin` world; owns the `host` interface.
/// Its exports are called with `call_async`: an actor's calls run on a
/// fiber inside its child's task (see [`crate::actor`]). The `host`
/// imports stay plain functions, shared with `operation-plugin`.
pub mod actor {
    wasmtime::component::bindgen!({
        path: "../../wit",
        world: "actor-plugin",
        exports: { default: async },
    });
}

/// Bindings for the `operation-plugin` world.
pub mod operation {
    wasmtime::component::bindgen!({
        path: "../../wit",
        world: "operation-plugin",
        with: {
            "warden:plugin/host": super::actor::warden::plugin::host,
        },
    });
}

pub use actor::warden::plugin::host::{Host as HostImports, Level as LogLevel};
