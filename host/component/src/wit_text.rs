//! Renders component types as WIT-like text.
//!
//! Component-model types are structural: a record has fields but no name
//! of its own once compiled, so records, variants, enums and flags are
//! printed inline (`record { a: u32 }`). The same text is what world checks
//! compare, so an expected signature is written exactly the way a mistyped
//! export is shown to the user. The component's own WIT, with the names,
//! is [`component_wit`](crate::component_wit)'s.

use std::fmt::Write;

use wasmtime::Engine;
use wasmtime::component::types::{ComponentFunc, ComponentItem, Type};

/// `func(a: u32, b: string) -> result<string, string>`
pub fn func_signature(func: &ComponentFunc) -> String {
    let mut out = String::from(if func.async_() {
        "async func("
    } else {
        "func("
    });
    for (i, (name, ty)) in func.params().enumerate() {
        if i > 0 {
            out.push_str(", ");
        }
        let _ = write!(out, "{name}: {}", type_text(&ty));
    }
    out.push(')');
    let results: Vec<Type> = func.results().collect();
    match results.as_slice() {
        [] => {}
        [one] => {
            let _ = write!(out, " -> {}", type_text(one));
        }
        many => {
            let parts: Vec<String> = many.iter().map(type_text).collect();
            let _ = write!(out, " -> ({})", parts.join(", "));
        }
    }
    out
}

/// One line describing an import or export item.
pub(crate) fn item_text(engine: &Engine, item: &ComponentItem) -> String {
    match item {
        ComponentItem::ComponentFunc(f) => func_signature(f),
        ComponentItem::ComponentInstance(inst) => {
            let names: Vec<&str> = inst.exports(engine).map(|(n, _)| n).collect();
            format!("instance {{ {} }}", names.join(", "))
        }
        ComponentItem::Type(t) => format!("type {}", type_text(t)),
        ComponentItem::Resource(_) => "resource".to_string(),
        ComponentItem::CoreFunc(_) => "core func".to_string(),
        ComponentItem::Module(_) => "core module".to_string(),
        ComponentItem::Component(_) => "component".to_string(),
    }
}

/// The WIT spelling of a value type.
pub fn type_text(ty: &Type) -> String {
    let mut out = String::new();
    write_type(&mut out, ty);
    out
}

fn write_type(out: &mut String, ty: &Type) {
    match ty {
        Type::Bool => out.push_str("bool"),
        Type::S8 => out.push_str("s8"),
        Type::U8 => out.push_str("u8"),
        Type::S16 => out.push_str("s16"),
        Type::U16 => out.push_str("u16"),
        Type::S32 => out.push_str("s32"),
        Type::U32 => out.push_str("u32"),
        Type::S64 => out.push_str("s64"),
        Type::U64 => out.push_str("u64"),
        Type::Float32 => out.push_str("f32"),
        Type::Float64 => out.push_str("f64"),
        Type::Char => out.push_str("char"),
        Type::String => out.push_str("string"),
        Type::List(l) => {
            out.push_str("list<");
            write_type(out, &l.ty());
            out.push('>');
        }
        Type::FixedLengthList(l) => {
            out.push_str("list<");
            write_type(out, &l.ty());
            let _ = write!(out, ", {}>", l.len());
        }
        Type::Map(m) => {
            out.push_str("map<");
            write_type(out, &m.key());
            out.push_str(", ");
            write_type(out, &m.value());
            out.push('>');
        }
        Type::Record(r) => {
            out.push_str("record { ");
            for (i, field) in r.fields().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                let _ = write!(out, "{}: ", field.name);
                write_type(out, &field.ty);
            }
            out.push_str(" }");
        }
        Type::Tuple(t) => {
            out.push_str("tuple<");
            for (i, ty) in t.types().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                write_type(out, &ty);
            }
            out.push('>');
        }
        Type::Variant(v) => {
            out.push_str("variant { ");
            for (i, case) in v.cases().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                out.push_str(case.name);
                if let Some(ty) = &case.ty {
                    out.push('(');
                    write_type(out, ty);
                    out.push(')');
                }
            }
            out.push_str(" }");
        }
        Type::Enum(e) => {
            let names: Vec<&str> = e.names().collect();
            let _ = write!(out, "enum {{ {} }}", names.join(", "));
        }
        Type::Flags(f) => {
            let names: Vec<&str> = f.names().collect();
            let _ = write!(out, "flags {{ {} }}", names.join(", "));
        }
        Type::Option(o) => {
            out.push_str("option<");
            write_type(out, &o.ty());
            out.push('>');
        }
        Type::Result(r) => match (r.ok(), r.err()) {
            (None, None) => out.push_str("result"),
            (Some(ok), None) => {
                out.push_str("result<");
                write_type(out, &ok);
                out.push('>');
            }
            (None, Some(err)) => {
                out.push_str("result<_, ");
                write_type(out, &err);
                out.push('>');
            }
            (Some(ok), Some(err)) => {
                out.push_str("result<");
                write_type(out, &ok);
                out.push_str(", ");
                write_type(out, &err);
                out.push('>');
            }
        },
        Type::Own(_) => out.push_str("own<resource>"),
        Type::Borrow(_) => out.push_str("borrow<resource>"),
        Type::Future(f) => match f.ty() {
            Some(t) => {
                out.push_str("future<");
                write_type(out, &t);
                out.push('>');
            }
            None => out.push_str("future"),
        },
        Type::Stream(s) => match s.ty() {
            Some(t) => {
                out.push_str("stream<");
                write_type(out, &t);
                out.push('>');
            }
            None => out.push_str("stream"),
        },
        Type::ErrorContext => out.push_str("error-context"),
    }
}
