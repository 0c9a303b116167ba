//! The exercise's contract: the functions `exercise.wit` says a solution
//! exports, and checking a submission against it.
//!
//! `exercise.wit` is parsed with `wit-parser` and every expected signature
//! is rendered in exactly the text [`func_signature`] produces for a
//! compiled component, so the check is a comparison of two strings and a
//! mismatch reads "expected X, found Y" with no translation. Two equal
//! texts mean equal types: the text spells out every structural detail
//! (field names, enum cases, nesting) the component model compares.
//!
//! Exports inside an interface (`export api;`) are supported as well as
//! top-level functions; extra exports of a submission are ignored.

use std::collections::HashMap;
use std::fmt::Write;
use std::path::Path;

use serde::Serialize;
use wit_parser::{
    Function, FunctionKind, Handle, LiftLowerAbi, ManglingAndAbi, Resolve, Type, TypeDefKind,
    WorldId, WorldItem,
};

use warden_component::Compiled;
use warden_component::Mistyped;
use warden_component::exports::{ExportedFunc, list_functions};
use warden_component::wit_text::func_signature;

use crate::error::ExerciseError;

/// One function a solution must export.
#[derive(Debug, Clone, Serialize)]
pub struct ContractFunc {
    /// How reports name it: `leap-year`, or `api#leap-year` inside an
    /// interface.
    pub key: String,
    /// The function's own name (`leap-year`).
    pub name: String,
    /// The exporting interface (`exercise:leap/api`), if not top level.
    pub interface: Option<String>,
    /// Parameter names in order.
    pub params: Vec<String>,
    /// Which parameters are `option<…>` (a test case may leave them out).
    pub optional: Vec<bool>,
    /// The expected signature, as [`func_signature`] renders it.
    pub signature: String,
}

/// Every function `exercise.wit`'s world exports.
#[derive(Debug, Clone, Serialize)]
pub struct Contract {
    /// The world's name (`solution`, or the package's only world).
    pub world: String,
    /// Every function the world exports, top-level ones and those of its
    /// exported interfaces, in the file's order; never empty.
    pub functions: Vec<ContractFunc>,
}

impl Contract {
    /// Parses the text of `exercise.wit` (`path` names it in errors). The
    /// world is the one named `solution`, or the package's only world.
    /// Errors are wit-parser's messages without the source line it can
    /// show: they quote no more of `text` than the token at fault.
    pub fn parse(path: &Path, text: &str) -> Result<Self, ExerciseError> {
        let (resolve, world_id) = solution_world(path, text)?;
        let wit_err = |message: String| ExerciseError::Wit {
            path: path.to_path_buf(),
            message,
        };
        let world = &resolve.worlds[world_id];
        let mut functions = Vec::new();
        for (key, item) in &world.exports {
            match item {
                WorldItem::Function(f) => functions.push(contract_func(&resolve, f, None)),
                WorldItem::Interface { id, .. } => {
                    let iface = resolve.name_world_key(key);
                    for f in resolve.interfaces[*id].functions.values() {
                        functions.push(contract_func(&resolve, f, Some(iface.clone())));
                    }
                }
                WorldItem::Type { .. } => {}
            }
        }
        if functions.is_empty() {
            return Err(wit_err(format!(
                "world `{}` exports no functions",
                world.name
            )));
        }
        Ok(Self {
            world: world.name.clone(),
            functions,
        })
    }

    /// The function a test case's `property` names (lowerCamelCase or
    /// kebab-case), if exactly one matches.
    pub fn find(&self, property: &str) -> Result<&ContractFunc, String> {
        let wanted = warden_component::values::kebab_case(property);
        let found: Vec<&ContractFunc> = self
            .functions
            .iter()
            .filter(|f| f.name == wanted || f.key == property)
            .collect();
        match found.as_slice() {
            [one] => Ok(one),
            [] => Err(format!(
                "property `{property}` names no function of the world (looked for `{wanted}`; it exports {})",
                self.functions
                    .iter()
                    .map(|f| format!("`{}`", f.key))
                    .collect::<Vec<_>>()
                    .join(", ")
            )),
            _ => Err(format!(
                "property `{property}` is ambiguous: several interfaces export `{wanted}`"
            )),
        }
    }

    /// Compares a submission's exports with the contract.
    pub(crate) fn check(&self, compiled: &Compiled) -> ContractCheck {
        let exported = list_functions(compiled);
        let mut check = ContractCheck::default();
        for want in &self.functions {
            let found = exported
                .iter()
                .find(|e| e.func == want.name && e.interface == want.interface);
            match found {
                None => check
                    .missing
                    .push(format!("{}: {}", want.key, want.signature)),
                Some(e) => {
                    let signature = func_signature(&e.ty);
                    if signature == want.signature {
                        check.resolved.insert(want.key.clone(), e.clone());
                    } else {
                        check.mistyped.push(Mistyped {
                            name: want.key.clone(),
                            expected: want.signature.clone(),
                            found: signature,
                        });
                    }
                }
            }
        }
        check
    }
}

/// `exercise.wit` resolved, and the world a solution exports: the one
/// named `solution`, or the package's only world.
fn solution_world(path: &Path, text: &str) -> Result<(Resolve, WorldId), ExerciseError> {
    let wit_err = |message: String| ExerciseError::Wit {
        path: path.to_path_buf(),
        message,
    };
    let mut resolve = Resolve::new();
    let pkg = resolve
        .push_str(path, text)
        .map_err(|e| wit_err(format!("{e:#}")))?;
    let worlds = &resolve.packages[pkg].worlds;
    let world_id = match (worlds.get("solution"), worlds.len()) {
        (Some(id), _) => *id,
        (None, 1) => match worlds.values().next() {
            Some(id) => *id,
            None => return Err(wit_err("declares no world".into())),
        },
        (None, 0) => return Err(wit_err("declares no world".into())),
        (None, _) => {
            let names: Vec<&str> = worlds.keys().map(String::as_str).collect();
            return Err(wit_err(format!(
                "declares several worlds ({}) and none is named `solution`",
                names.join(", ")
            )));
        }
    };
    Ok((resolve, world_id))
}

/// A component of `exercise.wit`'s world whose functions do nothing
/// (wit-component's dummy module): compiled, it has exactly the export
/// types a solution must have, so test data can be checked against them
/// with no submission at hand. `text` must be a WIT that
/// [`Contract::parse`] accepted.
pub(crate) fn stand_in(path: &Path, text: &str) -> Result<Vec<u8>, String> {
    let (resolve, world) = solution_world(path, text).map_err(|e| e.to_string())?;
    let mut module =
        wit_component::dummy_module(&resolve, world, ManglingAndAbi::Legacy(LiftLowerAbi::Sync));
    wit_component::embed_component_metadata(
        &mut module,
        &resolve,
        world,
        wit_component::StringEncoding::UTF8,
    )
    .map_err(|e| format!("{e:#}"))?;
    wit_component::ComponentEncoder::default()
        .module(&module)
        .and_then(|encoder| encoder.validate(true).encode())
        .map_err(|e| format!("{e:#}"))
}

/// How a submission's exports compare with the contract.
#[derive(Default, Clone)]
pub(crate) struct ContractCheck {
    /// Missing functions, as `name: expected signature`.
    pub missing: Vec<String>,
    /// Functions exported with another signature.
    pub mistyped: Vec<Mistyped>,
    /// Functions present with the right type, by [`ContractFunc::key`].
    pub resolved: HashMap<String, ExportedFunc>,
}

impl ContractCheck {
    /// True when nothing is missing or mistyped.
    pub fn fits(&self) -> bool {
        self.missing.is_empty() && self.mistyped.is_empty()
    }

    /// One message for the whole submission, like a compiler's.
    pub fn message(&self) -> Option<String> {
        if self.fits() {
            return None;
        }
        let mut parts: Vec<String> = self
            .missing
            .iter()
            .map(|m| format!("missing export `{m}`"))
            .collect();
        parts.extend(self.mistyped.iter().map(mistyped_text));
        Some(format!(
            "the solution does not match exercise.wit: {}",
            parts.join("; ")
        ))
    }

    /// Whether the cases of function `key` can run: it is exported with
    /// the contract's type.
    pub fn runs(&self, key: &str) -> bool {
        self.resolved.contains_key(key)
    }
}

fn mistyped_text(m: &Mistyped) -> String {
    format!(
        "`{}` has the wrong type: expected {}, found {}",
        m.name, m.expected, m.found
    )
}

fn contract_func(resolve: &Resolve, f: &Function, interface: Option<String>) -> ContractFunc {
    let mut signature = String::from(match f.kind {
        FunctionKind::AsyncFreestanding
        | FunctionKind::AsyncMethod(_)
        | FunctionKind::AsyncStatic(_) => "async func(",
        _ => "func(",
    });
    for (i, p) in f.params.iter().enumerate() {
        if i > 0 {
            signature.push_str(", ");
        }
        let _ = write!(signature, "{}: ", p.name);
        write_type(resolve, &mut signature, &p.ty);
    }
    signature.push(')');
    if let Some(result) = &f.result {
        signature.push_str(" -> ");
        write_type(resolve, &mut signature, result);
    }
    ContractFunc {
        key: match &interface {
            Some(i) => format!(
                "{}#{}",
                warden_component::exports::short_interface_name(i),
                f.name
            ),
            None => f.name.clone(),
        },
        name: f.name.clone(),
        interface,
        params: f.params.iter().map(|p| p.name.clone()).collect(),
        optional: f.params.iter().map(|p| is_option(resolve, &p.ty)).collect(),
        signature,
    }
}

fn is_option(resolve: &Resolve, ty: &Type) -> bool {
    match ty {
        Type::Id(id) => match &resolve.types[*id].kind {
            TypeDefKind::Option(_) => true,
            TypeDefKind::Type(inner) => is_option(resolve, inner),
            _ => false,
        },
        _ => false,
    }
}

/// Renders a wit-parser type exactly as `wit_text::type_text` renders the
/// compiled equivalent: named types are printed structurally, inline.
fn write_type(resolve: &Resolve, out: &mut String, ty: &Type) {
    let name = match ty {
        Type::Bool => "bool",
        Type::U8 => "u8",
        Type::U16 => "u16",
        Type::U32 => "u32",
        Type::U64 => "u64",
        Type::S8 => "s8",
        Type::S16 => "s16",
        Type::S32 => "s32",
        Type::S64 => "s64",
        Type::F32 => "f32",
        Type::F64 => "f64",
        Type::Char => "char",
        Type::String => "string",
        Type::ErrorContext => "error-context",
        Type::Id(id) => return write_def(resolve, out, &resolve.types[*id].kind),
    };
    out.push_str(name);
}

fn write_list(resolve: &Resolve, out: &mut String, types: &[Type]) {
    for (i, t) in types.iter().enumerate() {
        if i > 0 {
            out.push_str(", ");
        }
        write_type(resolve, out, t);
    }
}

fn write_def(resolve: &Resolve, out: &mut String, kind: &TypeDefKind) {
    match kind {
        TypeDefKind::Type(t) => write_type(resolve, out, t),
        TypeDefKind::Record(r) => {
            out.push_str("record { ");
            for (i, field) in r.fields.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                let _ = write!(out, "{}: ", field.name);
                write_type(resolve, out, &field.ty);
            }
            out.push_str(" }");
        }
        TypeDefKind::Tuple(t) => {
            out.push_str("tuple<");
            write_list(resolve, out, &t.types);
            out.push('>');
        }
        TypeDefKind::Variant(v) => {
            out.push_str("variant { ");
            for (i, case) in v.cases.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                out.push_str(&case.name);
                if let Some(t) = &case.ty {
                    out.push('(');
                    write_type(resolve, out, t);
                    out.push(')');
                }
            }
            out.push_str(" }");
        }
        TypeDefKind::Enum(e) => {
            let names: Vec<&str> = e.cases.iter().map(|c| c.name.as_str()).collect();
            let _ = write!(out, "enum {{ {} }}", names.join(", "));
        }
        TypeDefKind::Flags(f) => {
            let names: Vec<&str> = f.flags.iter().map(|c| c.name.as_str()).collect();
            let _ = write!(out, "flags {{ {} }}", names.join(", "));
        }
        TypeDefKind::Option(t) => {
            out.push_str("option<");
            write_type(resolve, out, t);
            out.push('>');
        }
        TypeDefKind::Result(r) => match (&r.ok, &r.err) {
            (None, None) => out.push_str("result"),
            (Some(ok), None) => {
                out.push_str("result<");
                write_type(resolve, out, ok);
                out.push('>');
            }
            (None, Some(err)) => {
                out.push_str("result<_, ");
                write_type(resolve, out, err);
                out.push('>');
            }
            (Some(ok), Some(err)) => {
                out.push_str("result<");
                write_type(resolve, out, ok);
                out.push_str(", ");
                write_type(resolve, out, err);
                out.push('>');
            }
        },
        TypeDefKind::List(t) => {
            out.push_str("list<");
            write_type(resolve, out, t);
            out.push('>');
        }
        TypeDefKind::FixedLengthList(t, n) => {
            out.push_str("list<");
            write_type(resolve, out, t);
            let _ = write!(out, ", {n}>");
        }
        TypeDefKind::Map(k, v) => {
            out.push_str("map<");
            write_type(resolve, out, k);
            out.push_str(", ");
            write_type(resolve, out, v);
            out.push('>');
        }
        TypeDefKind::Handle(Handle::Own(_)) => out.push_str("own<resource>"),
        TypeDefKind::Handle(Handle::Borrow(_)) => out.push_str("borrow<resource>"),
        // A resource used directly as a value type means an owned handle.
        TypeDefKind::Resource => out.push_str("own<resource>"),
        TypeDefKind::Future(t) => match t {
            Some(t) => {
                out.push_str("future<");
                write_type(resolve, out, t);
                out.push('>');
            }
            None => out.push_str("future"),
        },
        TypeDefKind::Stream(t) => match t {
            Some(t) => {
                out.push_str("stream<");
                write_type(resolve, out, t);
                out.push('>');
            }
            None => out.push_str("stream"),
        },
        TypeDefKind::Unknown => out.push_str("unknown"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signatures_render_like_compiled_components() {
        let c = Contract::parse(
            Path::new("exercise.wit"),
            r#"
            package exercise:demo;
            world solution {
              enum planet { mercury, earth }
              record pair { left-side: u32, right: option<string> }
              type counts = list<tuple<string, u32>>;
              export age: func(planet: planet, seconds: u64) -> result<f64, string>;
              export check: func(p: pair, words: counts) -> result<_, string>;
              export nothing: func();
            }
            "#,
        )
        .unwrap();
        let sigs: Vec<&str> = c.functions.iter().map(|f| f.signature.as_str()).collect();
        assert_eq!(
            sigs,
            [
                "func(planet: enum { mercury, earth }, seconds: u64) -> result<f64, string>",
                "func(p: record { left-side: u32, right: option<string> }, words: list<tuple<string, u32>>) -> result<_, string>",
                "func()",
            ]
        );
        assert_eq!(c.functions[1].params, ["p", "words"]);
        assert_eq!(c.find("nothing").unwrap().key, "nothing");
        assert!(c.find("leapYear").is_err());
    }

    #[test]
    fn a_world_is_required() {
        let err = Contract::parse(Path::new("x.wit"), "package a:b;\ninterface i {}\n")
            .unwrap_err()
            .to_string();
        assert!(err.contains("no world"), "{err}");
        let err = Contract::parse(Path::new("x.wit"), "package a:b;\nworld w {\n")
            .unwrap_err()
            .to_string();
        assert!(err.contains("x.wit"), "{err}");
    }

    #[test]
    fn wit_errors_quote_only_the_token_at_fault() {
        // wit-parser can render an error with its source line; an
        // exercise's `exercise.wit` may be anyone's, so it must not.
        for text in [
            "package a:b;\nworld w { SECRET-MARKER export f: func(); }\n",
            "package a:b;\nworld w { export f: func() -> SECRETMARKER; } // SECRET-MARKER\n",
            "SECRET-MARKER:*:20228:0:99999:7:::\n",
        ] {
            let err = Contract::parse(Path::new("x.wit"), text)
                .unwrap_err()
                .to_string();
            assert!(!err.contains("SECRET-MARKER"), "{err}");
        }
    }
}
