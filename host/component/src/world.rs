//! Warden's worlds, and checking a component against them.
//!
//! The expected export signatures are written as the same WIT-like text
//! [`wit_text`](crate::wit_text) renders, so a mismatch can be
//! shown to the user as "expected X, found Y" with no translation. They
//! mirror `wit/warden.wit`; the `bindgen!` in `bindings.rs` type-checks the
//! same contract again at link time, so the two cannot drift silently.
//!
//! [`inspect`] reports all of it for `warden inspect`, with the component's
//! own WIT, names and all, from [`component_wit`](crate::component_wit).

use serde::Serialize;
use wasmtime::component::types::ComponentItem;

use crate::component_wit::{ComponentWit, WasiPackage};
use crate::engine::Compiled;
use crate::error::{ComponentError, Mistyped};
use crate::wit_text::{func_signature, item_text};

/// The full name of the interface an actor exports (`init`, `handle`,
/// `snapshot`, `restore`), as a component's exports spell it.
pub const ACTOR_INTERFACE: &str = "warden:plugin/actor@0.1.0";
/// The full name of the interface an operation plugin exports.
const OPERATION_INTERFACE: &str = "warden:plugin/operation@0.1.0";

const ACTOR_FUNCS: &[(&str, &str)] = &[
    ("init", "func(config: string) -> result<_, string>"),
    (
        "handle",
        "func(message: list<u8>) -> result<list<u8>, string>",
    ),
    ("snapshot", "func() -> result<list<u8>, string>"),
    ("restore", "func(state: list<u8>) -> result<_, string>"),
];

const OPERATION_FUNCS: &[(&str, &str)] = &[
    (
        "describe",
        "func() -> list<record { name: string, summary: string, params-schema: string }>",
    ),
    (
        "execute",
        "func(name: string, params: string) -> result<string, string>",
    ),
];

/// A world a Warden plugin can target.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum World {
    /// A supervised, stateful child: exports `actor`.
    ActorPlugin,
    /// A provider of custom operations: exports `operation`.
    OperationPlugin,
    /// Both at once: exports `actor` and `operation`.
    Plugin,
}

impl World {
    /// Every world, in the order `warden inspect` lists them.
    pub const ALL: [World; 3] = [World::ActorPlugin, World::OperationPlugin, World::Plugin];

    /// The world's name in `wit/warden.wit` (`actor-plugin`), which is
    /// also how config and messages spell it.
    pub fn name(self) -> &'static str {
        match self {
            World::ActorPlugin => "actor-plugin",
            World::OperationPlugin => "operation-plugin",
            World::Plugin => "plugin",
        }
    }

    fn interfaces(self) -> &'static [(&'static str, &'static [(&'static str, &'static str)])] {
        match self {
            World::ActorPlugin => &[(ACTOR_INTERFACE, ACTOR_FUNCS)],
            World::OperationPlugin => &[(OPERATION_INTERFACE, OPERATION_FUNCS)],
            World::Plugin => &[
                (ACTOR_INTERFACE, ACTOR_FUNCS),
                (OPERATION_INTERFACE, OPERATION_FUNCS),
            ],
        }
    }
}

impl std::fmt::Display for World {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// How well a component fits one world.
#[derive(Debug, Clone, Serialize)]
pub struct WorldFit {
    /// The world compared against.
    pub world: World,
    /// True when nothing is missing or mistyped.
    pub fits: bool,
    /// Exports the world requires that the component lacks.
    pub missing: Vec<String>,
    /// Exports present with the wrong type.
    pub mistyped: Vec<Mistyped>,
}

/// Compares a component's exports with a world's requirements.
pub fn fit(compiled: &Compiled, world: World) -> WorldFit {
    let engine = compiled.engine();
    let ty = compiled.component.component_type();
    let mut missing = Vec::new();
    let mut mistyped = Vec::new();
    for (iface, funcs) in world.interfaces() {
        let Some(ext) = ty.get_export(engine, iface) else {
            missing.push(format!("export `{iface}`"));
            continue;
        };
        let ComponentItem::ComponentInstance(inst) = ext.ty else {
            mistyped.push(Mistyped {
                name: iface.to_string(),
                expected: "an interface".into(),
                found: item_text(engine, &ext.ty),
            });
            continue;
        };
        for (fname, expected) in *funcs {
            match inst.get_export(engine, fname).map(|e| e.ty) {
                None => missing.push(format!("`{iface}#{fname}`")),
                Some(ComponentItem::ComponentFunc(f)) => {
                    let found = func_signature(&f);
                    if found != *expected {
                        mistyped.push(Mistyped {
                            name: format!("{iface}#{fname}"),
                            expected: expected.to_string(),
                            found,
                        });
                    }
                }
                Some(other) => mistyped.push(Mistyped {
                    name: format!("{iface}#{fname}"),
                    expected: expected.to_string(),
                    found: item_text(engine, &other),
                }),
            }
        }
    }
    WorldFit {
        world,
        fits: missing.is_empty() && mistyped.is_empty(),
        missing,
        mistyped,
    }
}

/// `Ok` when the component fits `world`, else a `WorldMismatch` naming
/// every missing and mistyped export.
pub fn check(compiled: &Compiled, world: World) -> Result<(), ComponentError> {
    let report = fit(compiled, world);
    if report.fits {
        Ok(())
    } else {
        Err(ComponentError::WorldMismatch {
            world: world.name().to_string(),
            missing: report.missing,
            mistyped: report.mistyped,
        })
    }
}

/// One import or export, for `warden inspect`.
#[derive(Debug, Clone, Serialize)]
pub struct Item {
    /// The import or export name (`wasi:cli/stdout@0.2.0`, `handle`).
    pub name: String,
    /// The item's WIT type (for an interface, the list of its names).
    pub wit: String,
    /// For an interface: its functions and types.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub items: Vec<Item>,
}

/// Everything `warden inspect` shows about a component.
#[derive(Debug, Clone, Serialize)]
pub struct Inspection {
    /// SHA-256 of the component's bytes, hex.
    pub hash: String,
    /// The component's WIT with its type names, every package it names
    /// included, as `wasm-tools component wit` prints it.
    pub wit: String,
    /// The WASI interfaces it imports, by package.
    pub wasi_imports: Vec<WasiPackage>,
    /// [`wit`](Self::wit) with WASI imports summarised (what the text
    /// form shows without `--all`).
    #[serde(skip)]
    pub short_wit: String,
    /// What the component needs from its host, in the component's order
    /// (types structural, as the world checks compare them).
    pub imports: Vec<Item>,
    /// What it offers, in the component's order.
    pub exports: Vec<Item>,
    /// How it fits each of [`World::ALL`], in that order.
    pub worlds: Vec<WorldFit>,
}

/// Lists imports and exports with their types, the component's WIT decoded
/// from `bytes` (the bytes `compiled` was compiled from) and the worlds
/// satisfied.
pub fn inspect(compiled: &Compiled, bytes: &[u8]) -> Result<Inspection, ComponentError> {
    let engine = compiled.engine();
    let ty = compiled.component.component_type();
    let describe = |name: &str, item: &ComponentItem| -> Item {
        let items = match item {
            ComponentItem::ComponentInstance(inst) => inst
                .exports(engine)
                .map(|(n, e)| Item {
                    name: n.to_string(),
                    wit: item_text(engine, &e.ty),
                    items: Vec::new(),
                })
                .collect(),
            _ => Vec::new(),
        };
        Item {
            name: name.to_string(),
            wit: match item {
                ComponentItem::ComponentInstance(_) => "interface".to_string(),
                other => item_text(engine, other),
            },
            items,
        }
    };
    let decoded = ComponentWit::decode(bytes)?;
    Ok(Inspection {
        hash: compiled.hash.clone(),
        wit: decoded.full_text()?,
        wasi_imports: decoded.wasi_imports(),
        short_wit: decoded.short_text()?,
        imports: ty
            .imports(engine)
            .map(|(n, e)| describe(n, &e.ty))
            .collect(),
        exports: ty
            .exports(engine)
            .map(|(n, e)| describe(n, &e.ty))
            .collect(),
        worlds: World::ALL.iter().map(|w| fit(compiled, *w)).collect(),
    })
}

impl Inspection {
    /// The text `warden inspect` prints: the hash, the WIT (WASI imports
    /// summarised unless `all`), and how the component fits each world.
    pub fn render(&self, all: bool) -> String {
        let mut out = format!("sha256 {}\n\n", self.hash);
        out.push_str(if all { &self.wit } else { &self.short_wit });
        if !out.ends_with('\n') {
            out.push('\n');
        }
        out.push('\n');
        out.push_str(&self.worlds_text());
        out
    }

    fn worlds_text(&self) -> String {
        use std::fmt::Write;
        let mut f = String::from("worlds:\n");
        for w in &self.worlds {
            if w.fits {
                let _ = writeln!(f, "  {}: yes", w.world);
            } else {
                let _ = writeln!(f, "  {}: no", w.world);
                for m in &w.missing {
                    let _ = writeln!(f, "    missing {m}");
                }
                for m in &w.mistyped {
                    let _ = writeln!(
                        f,
                        "    `{}` is `{}`, expected `{}`",
                        m.name, m.found, m.expected
                    );
                }
            }
        }
        f
    }
}

impl std::fmt::Display for Inspection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.render(false))
    }
}
