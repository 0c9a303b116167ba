//! Finding a component's exported functions by the names people type.
//!
//! A function is exported either at the top level of the component
//! (`leap-year`) or inside an exported interface
//! (`warden:plugin/actor@0.1.0` → `handle`). Users may write the full
//! `interface#func`, the interface's short name (`actor.handle`,
//! `actor#handle`), or just `handle` when exactly one interface has it.
//! Lookups resolve to a [`ComponentExportIndex`] once per component, which
//! every instance of it can use without string lookups.

use wasmtime::component::ComponentExportIndex;
use wasmtime::component::types::{ComponentFunc, ComponentItem};

use crate::engine::Compiled;
use crate::error::ComponentError;
use crate::values::kebab_case;

/// One exported function with its type.
#[derive(Clone)]
pub struct ExportedFunc {
    /// `func` or `interface#func`.
    pub name: String,
    /// The function's own name (`handle`).
    pub func: String,
    /// The exporting interface, when not top level.
    pub interface: Option<String>,
    /// Where the function sits in the component, resolved once: valid
    /// for every instance of the same component, for [`Sandbox::call`].
    ///
    /// [`Sandbox::call`]: crate::Sandbox::call
    pub index: ComponentExportIndex,
    /// Its parameter and result types.
    pub ty: ComponentFunc,
}

impl ExportedFunc {
    /// Parameter names and types, in order: what JSON arguments are
    /// converted against ([`crate::values`]).
    pub fn params(&self) -> Vec<(String, wasmtime::component::types::Type)> {
        self.ty.params().map(|(n, t)| (n.to_string(), t)).collect()
    }

    /// How many values a call returns (0 or 1 for WIT functions): the
    /// length of the results buffer [`Sandbox::call`] fills.
    ///
    /// [`Sandbox::call`]: crate::Sandbox::call
    pub fn result_count(&self) -> usize {
        self.ty.results().len()
    }
}

/// Every exported function, top level first, in export order.
pub fn list_functions(compiled: &Compiled) -> Vec<ExportedFunc> {
    let engine = compiled.engine();
    let component = &compiled.component;
    let ty = component.component_type();
    let mut out = Vec::new();
    let mut nested = Vec::new();
    for (name, ext) in ty.exports(engine) {
        match ext.ty {
            ComponentItem::ComponentFunc(func) => {
                if let Some(index) = component.get_export_index(None, name) {
                    out.push(ExportedFunc {
                        name: name.to_string(),
                        func: name.to_string(),
                        interface: None,
                        index,
                        ty: func,
                    });
                }
            }
            ComponentItem::ComponentInstance(inst) => {
                let Some(inst_index) = component.get_export_index(None, name) else {
                    continue;
                };
                for (fname, fext) in inst.exports(engine) {
                    if let ComponentItem::ComponentFunc(func) = fext.ty
                        && let Some(index) = component.get_export_index(Some(&inst_index), fname)
                    {
                        nested.push(ExportedFunc {
                            name: format!("{name}#{fname}"),
                            func: fname.to_string(),
                            interface: Some(name.to_string()),
                            index,
                            ty: func,
                        });
                    }
                }
            }
            _ => {}
        }
    }
    out.extend(nested);
    out
}

/// Finds the function a user named (see the module docs for spellings).
pub fn find_function(compiled: &Compiled, wanted: &str) -> Result<ExportedFunc, ComponentError> {
    let all = list_functions(compiled);
    let (iface_part, func_part) = match wanted.rsplit_once(['#', '.']) {
        // `1.0#f` must not split inside a version: only split when what is
        // left of the separator looks like a name.
        Some((i, f))
            if !i.is_empty() && !f.is_empty() && !f.chars().all(|c| c.is_ascii_digit()) =>
        {
            (Some(i), f)
        }
        _ => (None, wanted),
    };
    let func_kebab = kebab_case(func_part);
    let candidates: Vec<&ExportedFunc> = all
        .iter()
        .filter(|f| f.name == wanted || f.func == func_part || f.func == func_kebab)
        .filter(|f| match (iface_part, &f.interface) {
            _ if f.name == wanted => true,
            (None, _) => true,
            (Some(i), Some(full)) => full == i || short_interface_name(full) == i,
            (Some(_), None) => false,
        })
        .collect();
    let top_level: Vec<&&ExportedFunc> = candidates
        .iter()
        .filter(|f| f.interface.is_none())
        .collect();
    match (candidates.as_slice(), top_level.as_slice()) {
        ([one], _) => Ok((*one).clone()),
        (_, [one]) => Ok((**one).clone()),
        _ => Err(ComponentError::NoSuchFunction {
            name: if candidates.len() > 1 {
                format!(
                    "{wanted}` is ambiguous; name the interface, e.g. `{}",
                    candidates[0].name
                )
            } else {
                wanted.to_string()
            },
            available: all.iter().map(|f| f.name.clone()).collect(),
        }),
    }
}

/// `warden:plugin/actor@0.1.0` → `actor`.
pub fn short_interface_name(full: &str) -> &str {
    let without_version = full.split('@').next().unwrap_or(full);
    without_version
        .rsplit('/')
        .next()
        .unwrap_or(without_version)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_names_drop_package_and_version() {
        assert_eq!(short_interface_name("warden:plugin/actor@0.1.0"), "actor");
        assert_eq!(short_interface_name("local"), "local");
    }
}
