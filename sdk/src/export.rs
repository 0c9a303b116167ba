//! The export macros: they turn a plugin's types into the component's
//! exports.
//!
//! Each expands, in the plugin crate, to the `wit-bindgen` export macro of
//! its world applied to the SDK's adapter type, plus the custom section that
//! tells the linker which interfaces the component exports. Invoke each at
//! most once per crate (a second invocation fails to link with duplicate
//! export names), and use [`export_plugin!`] rather than both of the others
//! for a plugin that is an actor and offers operations.

/// Exports `T: Actor` as the `warden:plugin/actor` interface
/// (world `actor-plugin`): `warden_sdk::export_actor!(Counter);`.
///
/// See the [crate example](crate#example).
#[macro_export]
macro_rules! export_actor {
    ($actor:ty $(,)?) => {
        const _: () = {
            const fn assert_actor<T: $crate::Actor>() {}
            assert_actor::<$actor>();

            type WardenActorExport = $crate::__private::ActorExport<$actor>;
            $crate::__export_actor_plugin_impl!(
                WardenActorExport with_types_in $crate::__private::actor_plugin
            );
        };
    };
}

/// Exports `T: Operations` as the `warden:plugin/operation` interface
/// (world `operation-plugin`): `warden_sdk::export_operations!(Greeter);`.
///
/// See the [crate example](crate#operations).
#[macro_export]
macro_rules! export_operations {
    ($ops:ty $(,)?) => {
        const _: () = {
            const fn assert_operations<T: $crate::Operations>() {}
            assert_operations::<$ops>();

            type WardenOperationsExport = $crate::__private::OperationsExport<$ops>;
            $crate::__export_operation_plugin_impl!(
                WardenOperationsExport with_types_in $crate::__private::operation_plugin
            );
        };
    };
}

/// Exports an `Actor` and an `Operations` type together (world `plugin`).
///
/// The two may be the same type. Operations are associated functions, so
/// they cannot see the actor's state; they are for work that needs none.
///
/// ```no_run
/// use serde::{Deserialize, Serialize};
/// use warden_sdk::serde_json::{Value, json};
/// use warden_sdk::{Actor, OpInfo, Operations};
///
/// #[derive(Serialize, Deserialize)]
/// struct Shout;
///
/// impl Actor for Shout {
///     fn init(_config: &str) -> Result<Self, String> {
///         Ok(Shout)
///     }
///     fn handle(&mut self, message: &[u8]) -> Result<Vec<u8>, String> {
///         Ok(message.to_ascii_uppercase())
///     }
/// }
///
/// impl Operations for Shout {
///     fn describe() -> Vec<OpInfo> {
///         vec![OpInfo::new("shout", "Upper-cases `text`", json!({"type": "object"}))]
///     }
///     fn execute(name: &str, params: Value) -> Result<Value, String> {
///         match (name, params["text"].as_str()) {
///             ("shout", Some(text)) => Ok(json!(text.to_uppercase())),
///             ("shout", None) => Err("`text` must be a string".to_owned()),
///             _ => Err(format!("unknown operation: {name}")),
///         }
///     }
/// }
///
/// warden_sdk::export_plugin!(Shout, Shout);
/// # fn main() {}
/// ```
#[macro_export]
macro_rules! export_plugin {
    ($actor:ty, $ops:ty $(,)?) => {
        $crate::export_actor!($actor);
        $crate::export_operations!($ops);
    };
}
