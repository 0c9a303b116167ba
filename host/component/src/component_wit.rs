//! A component's WIT, decoded from its bytes with its names.
//!
//! Owns: turning a component's binary type information back into WIT text,
//! the way `wasm-tools component wit` prints it (`record person { … }`,
//! `own<descriptor>` spelled `descriptor`), and the short form `warden
//! inspect` shows by default, where WASI imports are one comment line per
//! WASI package instead of screens of interfaces every Rust guest imports.
//!
//! Never: compiles or runs anything. The type information wasmtime keeps
//! after a compile is structural (names of records and resources are gone),
//! which is why this reads the bytes with wit-parser's decoder instead;
//! callers validate a file by compiling it first, so their error messages
//! for a bad file stay those of the compile.

use wit_component::WitPrinter;
use wit_parser::decoding::{DecodedWasm, decode};
use wit_parser::{PackageId, Resolve, WorldId, WorldItem, WorldKey};

use crate::error::ComponentError;

/// The namespace whose imports the short form summarises.
const WASI: &str = "wasi";

/// A component's world and every package it names, decoded.
pub struct ComponentWit {
    resolve: Resolve,
    world: WorldId,
}

/// One WASI package a component imports from, for the summary line.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct WasiPackage {
    /// `wasi:cli@0.2.6`
    pub package: String,
    /// The interfaces imported from it, in the component's order
    /// (`environment`, `exit`, …).
    pub interfaces: Vec<String>,
}

impl ComponentWit {
    /// Decodes a component's bytes. A core module or a WIT package (a
    /// component that only encodes types) is refused as not a component.
    pub fn decode(bytes: &[u8]) -> Result<Self, ComponentError> {
        // wit-parser reads a core module as a component with an empty
        // world; the preamble's layer field (bytes 6..8, 1 for a
        // component) tells them apart.
        if bytes.get(..4) != Some(b"\0asm".as_slice()) || bytes.get(6..8) != Some([1, 0].as_slice())
        {
            return Err(ComponentError::Malformed {
                reason: "not a component (no component preamble)".to_string(),
            });
        }
        match decode(bytes) {
            Ok(DecodedWasm::Component(resolve, world)) => Ok(Self { resolve, world }),
            Ok(DecodedWasm::WitPackage(..)) => Err(ComponentError::Malformed {
                reason: "a WIT package (types only), not a component".to_string(),
            }),
            // `{:#}` keeps the decoder's context chain on one line.
            Err(err) => Err(ComponentError::Malformed {
                reason: format!("cannot decode its WIT: {err:#}"),
            }),
        }
    }

    /// The whole WIT, as `wasm-tools component wit` prints it: the
    /// component's own world first, then every package it names.
    pub fn full_text(&self) -> Result<String, ComponentError> {
        print(&self.resolve, self.world, |_| true)
    }

    /// The WIT with WASI imports summarised: the world lists them as one
    /// comment line per WASI package, and WASI packages are printed only
    /// for interfaces the component exports (a `wasi:cli/run` command).
    pub fn short_text(&self) -> Result<String, ComponentError> {
        let wasi = self.wasi_imports();
        if wasi.is_empty() {
            return self.full_text();
        }
        let mut resolve = self.resolve.clone();
        let world = &mut resolve.worlds[self.world];
        world
            .imports
            .retain(|key, item| !is_wasi_interface(&self.resolve, key, item));
        let exported: Vec<_> = world
            .exports
            .iter()
            .filter_map(|(_, item)| match item {
                WorldItem::Interface { id, .. } => Some(*id),
                _ => None,
            })
            .collect();
        for (_, package) in resolve.packages.iter_mut() {
            if package.name.namespace == WASI {
                package.interfaces.retain(|_, id| exported.contains(id));
            }
        }
        let text = print(&resolve, self.world, |pkg| {
            resolve.packages[pkg].name.namespace != WASI
                || !resolve.packages[pkg].interfaces.is_empty()
        })?;
        Ok(insert_in_world(&text, &summary_lines(&wasi)))
    }

    /// The WASI interfaces the component imports, grouped by package in
    /// the order the component first names them.
    pub fn wasi_imports(&self) -> Vec<WasiPackage> {
        let mut groups: Vec<WasiPackage> = Vec::new();
        for (key, item) in &self.resolve.worlds[self.world].imports {
            if !is_wasi_interface(&self.resolve, key, item) {
                continue;
            }
            let WorldItem::Interface { id, .. } = item else {
                continue;
            };
            let iface = &self.resolve.interfaces[*id];
            let (Some(pkg), Some(name)) = (iface.package, &iface.name) else {
                continue;
            };
            let package = &self.resolve.packages[pkg].name;
            let mut label = format!("{}:{}", package.namespace, package.name);
            if let Some(version) = &package.version {
                label.push_str(&format!("@{version}"));
            }
            match groups.iter_mut().find(|g| g.package == label) {
                Some(group) => group.interfaces.push(name.clone()),
                None => groups.push(WasiPackage {
                    package: label,
                    interfaces: vec![name.clone()],
                }),
            }
        }
        groups
    }
}

/// True for an import of a whole interface of a `wasi:` package.
fn is_wasi_interface(resolve: &Resolve, key: &WorldKey, item: &WorldItem) -> bool {
    let (WorldKey::Interface(_), WorldItem::Interface { id, .. }) = (key, item) else {
        return false;
    };
    resolve.interfaces[*id]
        .package
        .is_some_and(|pkg| resolve.packages[pkg].name.namespace == WASI)
}

/// Prints `world`'s package, then the other packages `nested` keeps, in
/// dependency order (what a package uses is printed before it).
fn print(
    resolve: &Resolve,
    world: WorldId,
    nested: impl Fn(PackageId) -> bool,
) -> Result<String, ComponentError> {
    let malformed = |reason: String| ComponentError::Malformed { reason };
    let main = resolve.worlds[world]
        .package
        .ok_or_else(|| malformed("its world belongs to no package".to_string()))?;
    let others: Vec<PackageId> = resolve
        .topological_packages()
        .into_iter()
        .filter(|pkg| *pkg != main && nested(*pkg))
        .collect();
    let mut printer = WitPrinter::default();
    printer
        .print(resolve, main, &others)
        .map_err(|err| malformed(format!("cannot print its WIT: {err:#}")))?;
    Ok(printer.output.to_string())
}

fn summary_lines(wasi: &[WasiPackage]) -> Vec<String> {
    let count: usize = wasi.iter().map(|p| p.interfaces.len()).sum();
    let mut lines = vec![format!(
        "// imports {count} WASI interface{} (--all to show them):",
        if count == 1 { "" } else { "s" }
    )];
    for package in wasi {
        lines.push(format!(
            "//   {}: {}",
            package.package,
            package.interfaces.join(", ")
        ));
    }
    lines
}

/// Puts `lines` at the top of the first world's body, indented like it, so
/// the text stays WIT (the lines are comments).
fn insert_in_world(text: &str, lines: &[String]) -> String {
    let mut out =
        String::with_capacity(text.len() + lines.iter().map(|l| l.len() + 4).sum::<usize>());
    let mut done = false;
    for line in text.lines() {
        out.push_str(line);
        out.push('\n');
        if !done && line.starts_with("world ") && line.trim_end().ends_with('{') {
            for l in lines {
                out.push_str("  ");
                out.push_str(l);
                out.push('\n');
            }
            done = true;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn summary_counts_and_groups() {
        let lines = summary_lines(&[
            WasiPackage {
                package: "wasi:io@0.2.6".into(),
                interfaces: vec!["error".into(), "streams".into()],
            },
            WasiPackage {
                package: "wasi:cli@0.2.6".into(),
                interfaces: vec!["exit".into()],
            },
        ]);
        assert_eq!(
            lines,
            [
                "// imports 3 WASI interfaces (--all to show them):",
                "//   wasi:io@0.2.6: error, streams",
                "//   wasi:cli@0.2.6: exit",
            ]
        );
    }

    #[test]
    fn summary_goes_inside_the_world() {
        let text = "package root:component;\n\nworld root {\n  import a:b/c;\n}\n";
        let out = insert_in_world(text, &["// x".to_string()]);
        assert_eq!(
            out,
            "package root:component;\n\nworld root {\n  // x\n  import a:b/c;\n}\n"
        );
    }

    #[test]
    fn a_core_module_is_not_decoded_as_a_component() {
        let core = wat::parse_str("(module)").unwrap();
        match ComponentWit::decode(&core) {
            Err(ComponentError::Malformed { .. }) => {}
            Err(other) => panic!("{other}"),
            Ok(_) => panic!("decoded a core module"),
        }
    }
}
