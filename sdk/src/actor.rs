//! Supervised, stateful children: the [`Actor`] trait and the glue that
//! exports it as `warden:plugin/actor`.
//!
//! The plugin's actor lives in one guest-global slot, empty until the host
//! calls `init`. The exported functions behave as follows:
//!
//! | export | what the SDK does |
//! |---|---|
//! | `init(config)` | records `config` (see [`config`]), calls [`Actor::init`], and stores the actor, replacing any earlier one |
//! | `handle(message)` | calls [`Actor::handle`] on the stored actor |
//! | `snapshot()` | [`snapshot::encode`]s the stored actor |
//! | `restore(state)` | [`snapshot::decode`]s `state` (migrating it if needed) and stores the result; on error the current actor is kept unchanged |
//!
//! `handle` and `snapshot` before any `init` or `restore` return an error
//! ("actor is not initialised ..."): the WIT contract says the host calls
//! `init` first, and quietly inventing a state would hide a host bug.
//! `restore` needs no earlier `init`: it replaces the state wholesale.
//!
//! A panic in the actor ends the instance: std's report goes to stderr,
//! then the SDK exits through WASI's `exit` (see the `panic` module for
//! why not `unreachable`). The host reports a trap, `guest panicked: …`,
//! treats the child as crashed, and its supervisor decides what happens
//! next.

use std::any::Any;
use std::cell::RefCell;
use std::marker::PhantomData;

use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::bindings::actor_plugin::exports::warden::plugin::actor::Guest;
use crate::snapshot;

/// A supervised child's state and behaviour.
///
/// The state is the type itself; serde turns it into the snapshot that
/// carries it across a hot reload (see [`snapshot`]). Export the type with
/// [`export_actor!`](crate::export_actor) (or
/// [`export_plugin!`](crate::export_plugin) alongside [`Operations`](crate::Operations)).
pub trait Actor: Serialize + DeserializeOwned + 'static {
    /// Version of the state's shape, written into every snapshot.
    ///
    /// Raise it whenever a change to the type would stop an older snapshot
    /// from deserialising, and handle the older versions in
    /// [`migrate`](Actor::migrate). By default 1.
    const SCHEMA_VERSION: u32 = 1;

    /// Builds the initial state from the child's `config` string in
    /// warden.toml (empty when none is given).
    ///
    /// An error fails the child's start; the host reports the message.
    fn init(config: &str) -> Result<Self, String>;

    /// Handles one message and returns the reply.
    ///
    /// An error is delivered to the sender as a failed reply; the child
    /// keeps running with whatever state `handle` left behind.
    fn handle(&mut self, message: &[u8]) -> Result<Vec<u8>, String>;

    /// Builds the state from a snapshot written with another schema version
    /// (older, or newer when a reload is rolled back).
    ///
    /// `old_state` is the snapshot's `state` as a JSON value. An error
    /// aborts the reload and the old version of the plugin keeps serving.
    /// By default every migration fails with "cannot migrate state from
    /// schema version X to Y".
    fn migrate(from_version: u32, old_state: Value) -> Result<Self, String> {
        drop(old_state);
        Err(format!(
            "cannot migrate state from schema version {from_version} to {}",
            Self::SCHEMA_VERSION
        ))
    }
}

thread_local! {
    /// The plugin's actor, once `init` or `restore` has built one. Boxed as
    /// `Any` because a static cannot be generic; a component exports one
    /// actor type, so the downcast always finds the type that was stored.
    static ACTOR: RefCell<Option<Box<dyn Any>>> = const { RefCell::new(None) };

    /// The config string of the last `init`.
    static CONFIG: RefCell<String> = const { RefCell::new(String::new()) };
}

/// The `config` string the host passed to the last `init` (empty before it).
///
/// It is kept apart from the actor's state, so it is still there after a
/// `restore` replaced the state with one from another incarnation.
pub fn config() -> String {
    CONFIG.with_borrow(Clone::clone)
}

fn not_initialised(call: &str) -> String {
    format!("actor is not initialised: the host called `{call}` before `init`")
}

/// Implements the generated `actor` export trait for an [`Actor`].
///
/// Public only for [`export_actor!`](crate::export_actor); not part of the
/// API.
#[doc(hidden)]
pub struct ActorExport<A>(PhantomData<A>);

impl<A: Actor> Guest for ActorExport<A> {
    fn init(config: String) -> Result<(), String> {
        crate::panic::exit_after_report();
        CONFIG.set(config);
        let actor = CONFIG.with_borrow(|config| A::init(config))?;
        ACTOR.set(Some(Box::new(actor)));
        Ok(())
    }

    fn handle(message: Vec<u8>) -> Result<Vec<u8>, String> {
        crate::panic::exit_after_report();
        ACTOR.with_borrow_mut(|slot| {
            match slot.as_mut().and_then(|actor| actor.downcast_mut::<A>()) {
                Some(actor) => actor.handle(&message),
                None => Err(not_initialised("handle")),
            }
        })
    }

    fn snapshot() -> Result<Vec<u8>, String> {
        crate::panic::exit_after_report();
        ACTOR.with_borrow(
            |slot| match slot.as_ref().and_then(|actor| actor.downcast_ref::<A>()) {
                Some(actor) => snapshot::encode(actor),
                None => Err(not_initialised("snapshot")),
            },
        )
    }

    fn restore(state: Vec<u8>) -> Result<(), String> {
        crate::panic::exit_after_report();
        let actor: A = snapshot::decode(&state)?;
        ACTOR.set(Some(Box::new(actor)));
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use serde::{Deserialize, Serialize};

    use super::{ActorExport, Guest, config};
    use crate::Actor;

    /// Replies with its running total; `init` starts from the config.
    #[derive(Serialize, Deserialize)]
    struct Total {
        total: u64,
    }

    impl Actor for Total {
        fn init(config: &str) -> Result<Self, String> {
            if config == "fail" {
                return Err("refusing to start".to_owned());
            }
            Ok(Total {
                total: config.parse().unwrap_or(0),
            })
        }

        fn handle(&mut self, message: &[u8]) -> Result<Vec<u8>, String> {
            self.total += message.len() as u64;
            Ok(self.total.to_string().into_bytes())
        }
    }

    type Export = ActorExport<Total>;

    // Each test runs on its own thread, so each has its own actor slot.

    #[test]
    fn init_then_handle_keeps_state_between_messages() {
        Export::init("10".to_owned()).unwrap();
        assert_eq!(Export::handle(b"abc".to_vec()).unwrap(), b"13");
        assert_eq!(Export::handle(b"de".to_vec()).unwrap(), b"15");
        assert_eq!(config(), "10");
    }

    #[test]
    fn handle_and_snapshot_before_init_are_errors() {
        assert_eq!(
            Export::handle(b"x".to_vec()).unwrap_err(),
            "actor is not initialised: the host called `handle` before `init`"
        );
        assert_eq!(
            Export::snapshot().unwrap_err(),
            "actor is not initialised: the host called `snapshot` before `init`"
        );
    }

    #[test]
    fn failed_init_leaves_no_actor() {
        assert_eq!(
            Export::init("fail".to_owned()).unwrap_err(),
            "refusing to start"
        );
        assert!(Export::handle(Vec::new()).is_err());
    }

    #[test]
    fn snapshot_and_restore_carry_the_state_and_keep_the_config() {
        Export::init("5".to_owned()).unwrap();
        Export::handle(b"12".to_vec()).unwrap();
        let snapshot = Export::snapshot().unwrap();
        assert_eq!(snapshot, br#"{"schema":1,"state":{"total":7}}"#);

        Export::init("100".to_owned()).unwrap();
        Export::restore(snapshot).unwrap();
        assert_eq!(Export::handle(b"1".to_vec()).unwrap(), b"8");
        assert_eq!(config(), "100");
    }

    #[test]
    fn restore_works_without_init() {
        Export::restore(br#"{"schema":1,"state":{"total":3}}"#.to_vec()).unwrap();
        assert_eq!(Export::handle(b"1".to_vec()).unwrap(), b"4");
        assert_eq!(config(), "");
    }

    #[test]
    fn failed_restore_keeps_the_current_state() {
        Export::init("1".to_owned()).unwrap();
        let err = Export::restore(b"garbage".to_vec()).unwrap_err();
        assert!(err.starts_with("malformed snapshot"), "{err}");
        assert_eq!(Export::handle(b"1".to_vec()).unwrap(), b"2");
    }
}
