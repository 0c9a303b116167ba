//! JSON arguments from the fuzzer, mapped onto the parameter types of a
//! fixed component ([`VALUES_WAT`]) and passed to it.

use serde_json::Value as Json;

use crate::exports::{ExportedFunc, list_functions};
use crate::invoke::call_json;
use crate::values::{json_to_val, val_to_json};
use crate::{Capabilities, ComponentError, Limits, Metering, Prepared, Runtime, RuntimeConfig};

/// The component the target calls: one no-op function per family of WIT
/// types (scalars, lists, a record, enum/variant/flags/result/option,
/// nesting, and more than 16 flat parameters).
pub const VALUES_WAT: &str = include_str!("values.wat");

/// The prepared [`VALUES_WAT`] component and its functions.
pub struct JsonValues {
    prepared: Prepared,
    functions: Vec<ExportedFunc>,
}

impl JsonValues {
    /// Prepares `component`: [`VALUES_WAT`] as binary (the fuzz target and
    /// the replay test convert it with the `wat` crate).
    pub fn new(component: &[u8]) -> Result<Self, ComponentError> {
        let runtime = Runtime::new(RuntimeConfig::default())?;
        // The component is the fixed VALUES_WAT of this crate, not user
        // input: compiled in-process (the fuzzer varies JSON, not code).
        let prepared = runtime.prepare_own(component, Metering::Off)?;
        let functions = list_functions(&prepared.compiled);
        if functions.is_empty() {
            return Err(ComponentError::NoSuchFunction {
                name: "any".into(),
                available: Vec::new(),
            });
        }
        Ok(Self {
            prepared,
            functions,
        })
    }

    /// `data`: one byte choosing the function, then a JSON array of its
    /// arguments. Panics when JSON written back from a mapped value does
    /// not map to the same JSON again, or when the component refuses
    /// arguments the mapping accepted.
    pub fn run(&self, data: &[u8]) {
        let Some((&pick, rest)) = data.split_first() else {
            return;
        };
        let func = &self.functions[usize::from(pick) % self.functions.len()];
        let Ok(Json::Array(args)) = serde_json::from_slice::<Json>(rest) else {
            return;
        };
        for (json, (name, ty)) in args.iter().zip(func.params()) {
            let Ok(val) = json_to_val(json, &ty, "$") else {
                continue;
            };
            let written = val_to_json(&val);
            let again = json_to_val(&written, &ty, "$").unwrap_or_else(|err| {
                panic!(
                    "{}: `{name}` written as {written} does not map back: {err}",
                    func.name
                )
            });
            assert_eq!(
                val_to_json(&again),
                written,
                "{}: `{name}` changes on a second round",
                func.name
            );
        }
        let limits = Limits::default();
        match call_json(
            &self.prepared,
            &func.name,
            &args,
            &limits,
            &Capabilities::default(),
            None,
        ) {
            Err(ComponentError::BadArguments(_)) => {}
            Err(other) => panic!("{}: the call could not start: {other}", func.name),
            Ok(invocation) => {
                if let Err(err) = invocation.outcome {
                    panic!(
                        "{}: the runtime refused arguments the mapping accepted: {err}",
                        func.name
                    );
                }
            }
        }
    }

    /// The type of parameter `index` of `function` (for tests of the
    /// mapping itself).
    #[cfg(test)]
    pub(crate) fn param_type(
        &self,
        function: &str,
        index: usize,
    ) -> wasmtime::component::types::Type {
        let func = self
            .functions
            .iter()
            .find(|f| f.name == function)
            .unwrap_or_else(|| panic!("values.wat has no `{function}`"));
        func.params().swap_remove(index).1
    }
}
